//! Guest-physical page frames: handed out to user mappings and page tables,
//! with a ceiling on user pages (the policy's memory limit).

use thinvisor_kmod::PAGE_SIZE;

/// Frame allocator over `[first, end)` of guest-physical memory.
#[derive(Debug)]
pub struct FrameAllocator {
    next: u64,
    end: u64,
    free: Vec<u64>,
    user_pages: u64,
    user_limit_pages: u64,
    peak_pages: u64,
    table_pages: u64,
}

impl FrameAllocator {
    pub fn new(first: u64, end: u64, user_limit_bytes: u64) -> FrameAllocator {
        FrameAllocator {
            next: first,
            end,
            free: Vec::new(),
            user_pages: 0,
            user_limit_pages: user_limit_bytes / PAGE_SIZE,
            peak_pages: 0,
            table_pages: 0,
        }
    }

    fn take(&mut self) -> Option<u64> {
        if let Some(pa) = self.free.pop() {
            return Some(pa);
        }
        if self.next + PAGE_SIZE <= self.end {
            let pa = self.next;
            self.next += PAGE_SIZE;
            return Some(pa);
        }
        None
    }

    /// User pages that can still be allocated under the limit.
    pub fn user_pages_left(&self) -> u64 {
        self.user_limit_pages.saturating_sub(self.user_pages)
    }

    /// A zeroed frame for user memory, or None past the limit.
    pub fn alloc_user(&mut self) -> Option<u64> {
        if self.user_pages_left() == 0 {
            return None;
        }
        let pa = self.take()?;
        self.user_pages += 1;
        self.peak_pages = self.peak_pages.max(self.user_pages + self.table_pages);
        Some(pa)
    }

    /// A zeroed frame for a page table (not counted against the user limit,
    /// but reported in peak memory).
    pub fn alloc_table(&mut self) -> Option<u64> {
        let pa = self.take()?;
        self.table_pages += 1;
        self.peak_pages = self.peak_pages.max(self.user_pages + self.table_pages);
        Some(pa)
    }

    /// Returns a user frame. The caller has zeroed (discarded) it.
    pub fn free_user(&mut self, pa: u64) {
        self.user_pages = self.user_pages.saturating_sub(1);
        self.free.push(pa);
    }

    /// Highest number of pages in use at once (user pages plus page tables).
    pub fn peak_bytes(&self) -> u64 {
        self.peak_pages * PAGE_SIZE
    }

    /// First guest-physical address never handed out: every frame from here
    /// to the end of memory is untouched (the fuzzer's canary checks it).
    pub fn high_water(&self) -> u64 {
        self.next
    }

    /// User pages in use now.
    pub fn user_bytes(&self) -> u64 {
        self.user_pages * PAGE_SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_limit_is_enforced_and_frames_are_reused() {
        let mut f = FrameAllocator::new(0x1000, 0x100000, 2 * PAGE_SIZE);
        let a = f.alloc_user().expect("first");
        let _b = f.alloc_user().expect("second");
        assert!(f.alloc_user().is_none(), "limit of two pages");
        assert!(
            f.alloc_table().is_some(),
            "tables are outside the user limit"
        );
        f.free_user(a);
        assert_eq!(f.alloc_user(), Some(a));
        assert_eq!(f.peak_bytes(), 3 * PAGE_SIZE);
    }
}

//! Guest-physical page frames: handed out to user mappings and page tables,
//! with a ceiling on user pages (the policy's memory limit).
//!
//! 4 KiB frames come from the bottom of the free area upwards, 2 MiB blocks
//! (512 contiguous frames, 2 MiB aligned, for huge user pages) from the top
//! downwards, so each kind stays together and the host can back the blocks
//! with huge pages of its own.
//!
//! A frame that has been a page table is never made a page table again
//! (docs/architecture.md, "2 MiB pages"): the hypervisor may still hold a
//! shadow of it that a new table at the same frame would inherit. Such
//! frames are *retired* when the tables are copied away from, and serve as
//! user memory from then on.

use std::collections::HashSet;
use thinvisor_kmod::PAGE_SIZE;

/// Size of a huge page (a page-directory leaf).
pub const HUGE_SIZE: u64 = 2 << 20;
/// 4 KiB frames in one huge page.
pub const HUGE_PAGES: u64 = HUGE_SIZE / PAGE_SIZE;

/// Frame allocator over `[first, end)` of guest-physical memory.
#[derive(Debug)]
pub struct FrameAllocator {
    first: u64,
    /// Next never-used 4 KiB frame (bottom-up).
    next: u64,
    /// Start of the lowest 2 MiB block handed out so far (`end` before the
    /// first); blocks grow downwards from the end, 4 KiB frames stay below.
    huge_floor: u64,
    end: u64,
    /// Free frames that were never page tables.
    free: Vec<u64>,
    /// Free frames that were page tables once: user memory only.
    free_retired: Vec<u64>,
    /// Every frame ever retired from page-table use.
    retired: HashSet<u64>,
    /// Free 2 MiB blocks.
    free_huge: Vec<u64>,
    /// Page tables allocated since the guest last ran: no hypervisor can
    /// have seen them yet, so they may be restructured in place.
    fresh_tables: Vec<u64>,
    user_pages: u64,
    user_limit_pages: u64,
    peak_pages: u64,
    table_pages: u64,
    /// More than one vCPU runs on these tables ([`FrameAllocator::share`]).
    shared: bool,
    /// Frames freed or retired while shared, held back until every other
    /// vCPU has flushed ([`FrameAllocator::release_deferred`]).
    deferred: Vec<Deferred>,
}

/// A frame whose release waits for the other vCPUs' TLB flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deferred {
    /// A retired page table: zeroed on release, then user memory.
    Table(u64),
    User(u64),
    HugeBlock(u64),
}

impl FrameAllocator {
    pub fn new(first: u64, end: u64, user_limit_bytes: u64) -> FrameAllocator {
        FrameAllocator {
            first,
            next: first,
            huge_floor: end,
            end,
            free: Vec::new(),
            free_retired: Vec::new(),
            retired: HashSet::new(),
            free_huge: Vec::new(),
            fresh_tables: Vec::new(),
            user_pages: 0,
            user_limit_pages: user_limit_bytes / PAGE_SIZE,
            peak_pages: 0,
            table_pages: 0,
            shared: false,
            deferred: Vec::new(),
        }
    }

    /// Several vCPUs run on these tables from now on (the process has
    /// more than one thread): a frame freed or a table retired may still
    /// be reachable through another vCPU's TLB until that vCPU flushes, so
    /// it is held back until [`FrameAllocator::release_deferred`]; and no
    /// table counts as fresh, since another vCPU may walk a new table as
    /// soon as it is linked in.
    pub fn share(&mut self) {
        self.shared = true;
        self.fresh_tables.clear();
    }

    /// Whether [`FrameAllocator::share`] was called.
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// Takes the held-back frames (every other vCPU has flushed since they
    /// were freed); the caller zeroes retired tables ([`Deferred::Table`])
    /// and hands each to [`FrameAllocator::release`].
    pub fn take_deferred(&mut self) -> Vec<Deferred> {
        std::mem::take(&mut self.deferred)
    }

    /// Makes a held-back frame available again.
    pub fn release(&mut self, d: Deferred) {
        match d {
            Deferred::Table(pa) => self.free_retired.push(pa),
            Deferred::User(pa) => self.push_free(pa),
            Deferred::HugeBlock(block) => self.free_huge.push(block),
        }
    }

    fn push_free(&mut self, pa: u64) {
        if self.retired.contains(&pa) {
            self.free_retired.push(pa);
        } else {
            self.free.push(pa);
        }
    }

    /// A frame that was never a page table: free, never used, or broken
    /// out of a free 2 MiB block.
    fn take_clean(&mut self) -> Option<u64> {
        if let Some(pa) = self.free.pop() {
            return Some(pa);
        }
        if self.next + PAGE_SIZE <= self.huge_floor {
            let pa = self.next;
            self.next += PAGE_SIZE;
            return Some(pa);
        }
        let block = self.free_huge.pop()?;
        self.free
            .extend((1..HUGE_PAGES).rev().map(|i| block + i * PAGE_SIZE));
        Some(block)
    }

    fn note_peak(&mut self) {
        self.peak_pages = self.peak_pages.max(self.user_pages + self.table_pages);
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
        let pa = match self.free_retired.pop() {
            Some(pa) => pa,
            None => self.take_clean()?,
        };
        self.user_pages += 1;
        self.note_peak();
        Some(pa)
    }

    /// A zeroed, 2 MiB-aligned block of 512 user frames, or None past the
    /// limit or when no such block is free (the caller uses 4 KiB frames).
    pub fn alloc_huge(&mut self) -> Option<u64> {
        if self.user_pages_left() < HUGE_PAGES {
            return None;
        }
        let block = match self.free_huge.pop() {
            Some(b) => b,
            None => {
                let b = self.huge_floor.checked_sub(HUGE_SIZE)? & !(HUGE_SIZE - 1);
                if b < self.next {
                    return None;
                }
                self.huge_floor = b;
                b
            }
        };
        self.user_pages += HUGE_PAGES;
        self.note_peak();
        Some(block)
    }

    /// Returns a whole 2 MiB block. The caller has zeroed (discarded) it.
    pub fn free_huge(&mut self, block: u64) {
        self.user_pages = self.user_pages.saturating_sub(HUGE_PAGES);
        if self.shared {
            self.deferred.push(Deferred::HugeBlock(block));
        } else {
            self.free_huge.push(block);
        }
    }

    /// A zeroed frame for a page table (not counted against the user limit,
    /// but reported in peak memory). Never a frame that was a table before.
    pub fn alloc_table(&mut self) -> Option<u64> {
        let pa = self.take_clean()?;
        self.table_pages += 1;
        self.fresh_tables.push(pa);
        self.note_peak();
        Some(pa)
    }

    /// Whether `n` page tables can be allocated now.
    pub fn tables_available(&self, n: u64) -> bool {
        let bump = self.huge_floor.saturating_sub(self.next) / PAGE_SIZE;
        let have = self.free.len() as u64 + bump + self.free_huge.len() as u64 * HUGE_PAGES;
        have >= n
    }

    /// A page table the guest will no longer reach (it was copied): its
    /// frame becomes user memory. The caller has zeroed (discarded) it.
    /// Frames outside the allocator's area (the boot root) are left alone:
    /// false for those.
    /// Returns true when the caller must zero it now; while shared it is
    /// zeroed and freed later (`take_deferred`), as other vCPUs may still
    /// walk it.
    pub fn retire_table(&mut self, pa: u64) -> bool {
        if pa < self.first || pa >= self.end {
            return false;
        }
        self.table_pages = self.table_pages.saturating_sub(1);
        self.retired.insert(pa);
        if self.shared {
            self.deferred.push(Deferred::Table(pa));
            return false;
        }
        self.free_retired.push(pa);
        true
    }

    /// True when the table at `pa` was allocated after the guest last ran.
    pub fn is_fresh_table(&self, pa: u64) -> bool {
        !self.shared && self.fresh_tables.contains(&pa)
    }

    /// Counts `pa` (a table set up outside the allocator, before the first
    /// run) as fresh.
    pub fn mark_fresh_table(&mut self, pa: u64) {
        self.fresh_tables.push(pa);
    }

    /// The guest is about to run: every table is visible from now on.
    pub fn seal_tables(&mut self) {
        self.fresh_tables.clear();
    }

    /// Returns a user frame. The caller has zeroed (discarded) it.
    pub fn free_user(&mut self, pa: u64) {
        self.user_pages = self.user_pages.saturating_sub(1);
        if self.shared {
            self.deferred.push(Deferred::User(pa));
        } else {
            self.push_free(pa);
        }
    }

    /// Highest number of pages in use at once (user pages plus page tables).
    pub fn peak_bytes(&self) -> u64 {
        self.peak_pages * PAGE_SIZE
    }

    /// The never-allocated frames: `[start, end)` is untouched (the
    /// fuzzer's canary checks it). 2 MiB blocks are handed out above `end`.
    pub fn untouched(&self) -> (u64, u64) {
        (self.next, self.huge_floor)
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

    #[test]
    fn huge_blocks_come_from_the_top_aligned_and_count_512_pages() {
        let end = 8 * HUGE_SIZE + 0x5000;
        let mut f = FrameAllocator::new(0x1000, end, 4 * HUGE_SIZE);
        let b = f.alloc_huge().expect("block");
        assert_eq!(b, 7 * HUGE_SIZE, "the highest aligned block below the end");
        assert_eq!(f.user_bytes(), HUGE_SIZE);
        let small = f.alloc_user().expect("4 KiB");
        assert_eq!(small, 0x1000, "4 KiB frames from the bottom");
        assert_eq!(f.untouched(), (0x2000, 7 * HUGE_SIZE));
        f.free_huge(b);
        assert_eq!(f.alloc_huge(), Some(b), "a freed block is reused whole");
        // The limit counts the block's 512 pages.
        let mut g = FrameAllocator::new(0x1000, end, HUGE_SIZE + PAGE_SIZE);
        g.alloc_user().expect("one page");
        assert!(g.alloc_huge().is_some());
        assert!(g.alloc_huge().is_none(), "512 more pages exceed the limit");
    }

    #[test]
    fn the_two_ends_never_cross_and_free_blocks_feed_small_frames() {
        let mut f = FrameAllocator::new(0, 2 * HUGE_SIZE, 4 * HUGE_SIZE);
        let b = f.alloc_huge().expect("upper block");
        assert_eq!(b, HUGE_SIZE);
        for _ in 0..HUGE_PAGES {
            f.alloc_user().expect("lower block as 4 KiB frames");
        }
        assert!(f.alloc_huge().is_none(), "nothing aligned is left");
        assert!(
            f.alloc_user().is_none(),
            "the 4 KiB end stops at the blocks"
        );
        f.free_huge(b);
        assert_eq!(f.alloc_user(), Some(b), "a free block is broken up");
        assert_eq!(
            f.alloc_table(),
            Some(b + PAGE_SIZE),
            "the rest are clean frames"
        );
    }

    #[test]
    fn retired_tables_serve_only_as_user_memory() {
        let mut f = FrameAllocator::new(0x1000, 0x100000, 16 * PAGE_SIZE);
        let t = f.alloc_table().expect("table");
        assert!(f.is_fresh_table(t));
        f.seal_tables();
        assert!(!f.is_fresh_table(t), "sealed when the guest runs");
        assert!(f.retire_table(t));
        let u = f.alloc_user().expect("user");
        assert_eq!(u, t, "a retired table becomes user memory first");
        f.free_user(u);
        let t2 = f.alloc_table().expect("table");
        assert_ne!(t2, t, "never a table again");
        assert_eq!(f.alloc_user(), Some(t), "still user memory");
        assert!(!f.retire_table(0x0));
        assert_eq!(
            f.alloc_user(),
            Some(0x3000),
            "frames outside the area are not taken"
        );
    }
}

//! The VM's one pool of guest-physical frames, shared by every address
//! space of the VM (one per guest process): the free lists, the memory
//! limit (user pages of all processes together), the frames that were page
//! tables once, and the owners of frames that several address spaces map
//! after a fork.
//!
//! Only [`super::FrameAllocator`] (each address space's handle) reaches
//! it, under its mutex, for the length of one call: it is a leaf lock.

use super::{HUGE_PAGES, HUGE_SIZE};
use std::collections::{HashMap, HashSet};
use thinvisor_kmod::PAGE_SIZE;

/// Frames over `[first, end)` of guest-physical memory.
#[derive(Debug)]
pub(super) struct FramePool {
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
    /// User frames of every address space, each counted once however many
    /// map it.
    user_pages: u64,
    user_limit_pages: u64,
    peak_pages: u64,
    table_pages: u64,
    /// Owners beyond the first of each 4 KiB user frame that several
    /// address spaces map (after a fork): a frame mapped by n spaces has
    /// n - 1 here, and a frame only one space maps has no entry.
    extra_owners: HashMap<u64, u32>,
    /// Frames someone asked to hear about ([`super::FrameAllocator::track`]:
    /// the files' shared pages): when the last owner of one lets it go, it
    /// moves to `freed_tracked`.
    tracked: HashSet<u64>,
    freed_tracked: Vec<u64>,
}

impl FramePool {
    pub(super) fn new(first: u64, end: u64, user_limit_bytes: u64) -> FramePool {
        FramePool {
            first,
            next: first,
            huge_floor: end,
            end,
            free: Vec::new(),
            free_retired: Vec::new(),
            retired: HashSet::new(),
            free_huge: Vec::new(),
            user_pages: 0,
            user_limit_pages: user_limit_bytes / PAGE_SIZE,
            peak_pages: 0,
            table_pages: 0,
            extra_owners: HashMap::new(),
            tracked: HashSet::new(),
            freed_tracked: Vec::new(),
        }
    }

    /// Whether `pa` is one of the pool's frames (the boot root and the
    /// supervisor pages are not).
    pub(super) fn holds(&self, pa: u64) -> bool {
        pa >= self.first && pa < self.end
    }

    /// Makes a zeroed user frame available again.
    pub(super) fn push_free(&mut self, pa: u64) {
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

    pub(super) fn user_pages_left(&self) -> u64 {
        self.user_limit_pages.saturating_sub(self.user_pages)
    }

    /// A user frame. Frames that were page tables (`free_retired`) back
    /// program text and read-only data when `read_only` (the runner writes
    /// them, the program only reads or runs them), and other pages only
    /// when no other frame is left: kvm_pvm may still shadow such a frame
    /// as a page table of a root no vCPU loads any more, and then a guest
    /// write to it is emulated, which fails for AVX stores (an
    /// "InternalError" exit that kills the process). Reads are not.
    pub(super) fn alloc_user(&mut self, read_only: bool) -> Option<u64> {
        if self.user_pages_left() == 0 {
            return None;
        }
        let retired = if read_only {
            self.free_retired.pop()
        } else {
            None
        };
        let pa = match retired.or_else(|| self.take_clean()) {
            Some(pa) => pa,
            None => self.free_retired.pop()?,
        };
        self.user_pages += 1;
        self.note_peak();
        Some(pa)
    }

    pub(super) fn alloc_huge(&mut self) -> Option<u64> {
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

    /// A user frame stops counting against the limit (its reuse may still
    /// wait: [`FramePool::push_free`]).
    pub(super) fn uncount_user(&mut self, pages: u64) {
        self.user_pages = self.user_pages.saturating_sub(pages);
    }

    /// Makes a zeroed 2 MiB block available again.
    pub(super) fn push_free_huge(&mut self, block: u64) {
        self.free_huge.push(block);
    }

    pub(super) fn alloc_table(&mut self) -> Option<u64> {
        let pa = self.take_clean()?;
        self.table_pages += 1;
        self.note_peak();
        Some(pa)
    }

    pub(super) fn tables_available(&self, n: u64) -> bool {
        let bump = self.huge_floor.saturating_sub(self.next) / PAGE_SIZE;
        let have = self.free.len() as u64 + bump + self.free_huge.len() as u64 * HUGE_PAGES;
        have >= n
    }

    /// A table no hypervisor has seen goes back among the clean frames
    /// (the caller has zeroed it).
    pub(super) fn put_clean_table(&mut self, pa: u64) {
        self.table_pages = self.table_pages.saturating_sub(1);
        self.free.push(pa);
    }

    /// A table frame becomes a retired one: user memory only, from now on.
    pub(super) fn retire(&mut self, pa: u64) {
        self.table_pages = self.table_pages.saturating_sub(1);
        self.retired.insert(pa);
    }

    /// Makes a retired (and zeroed) table frame available as user memory.
    pub(super) fn push_free_retired(&mut self, pa: u64) {
        self.free_retired.push(pa);
    }

    /// One more address space maps the user frame `pa`.
    pub(super) fn add_owner(&mut self, pa: u64) {
        *self.extra_owners.entry(pa).or_insert(0) += 1;
    }

    /// Whether more than one address space maps the user frame `pa`.
    pub(super) fn is_shared(&self, pa: u64) -> bool {
        self.extra_owners.contains_key(&pa)
    }

    /// One address space stops mapping `pa`. True when it was the last
    /// (the caller frees the frame).
    pub(super) fn drop_owner(&mut self, pa: u64) -> bool {
        match self.extra_owners.get_mut(&pa) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => {
                self.extra_owners.remove(&pa);
                false
            }
            None => {
                if self.tracked.remove(&pa) {
                    self.freed_tracked.push(pa);
                }
                true
            }
        }
    }

    /// Reports when the user frame `pa` loses its last owner.
    pub(super) fn track(&mut self, pa: u64) {
        self.tracked.insert(pa);
    }

    /// The tracked frames that lost their last owner since the last call.
    pub(super) fn take_freed_tracked(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.freed_tracked)
    }

    pub(super) fn peak_bytes(&self) -> u64 {
        self.peak_pages * PAGE_SIZE
    }

    pub(super) fn untouched(&self) -> (u64, u64) {
        (self.next, self.huge_floor)
    }

    pub(super) fn user_bytes(&self) -> u64 {
        self.user_pages * PAGE_SIZE
    }

    /// Frames mapped by more than one address space now.
    pub(super) fn shared_frames(&self) -> usize {
        self.extra_owners.len()
    }
}

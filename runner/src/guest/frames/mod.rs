//! Guest-physical page frames: handed out to user mappings and page tables,
//! with a ceiling on user pages (the policy's memory limit).
//!
//! One pool serves the whole VM (`pool.rs`): every address space (one per
//! guest process) allocates from it through its own [`FrameAllocator`], so
//! the memory limit holds for all processes together, and a frame that
//! several address spaces map after a fork is counted once and freed only
//! when the last of them lets it go.
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
//!
//! Freeing goes through the allocator, which also discards (zeroes, on the
//! host) what it frees: a frame is zeroed exactly when no address space
//! maps it any more, never while another one does.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use thinvisor_kmod::{GuestMemory, KmodError, PAGE_SIZE};

mod pool;
mod runs;
#[cfg(test)]
mod tests;

use pool::FramePool;
pub use runs::FrameRuns;

/// Size of a huge page (a page-directory leaf).
pub const HUGE_SIZE: u64 = 2 << 20;
/// 4 KiB frames in one huge page.
pub const HUGE_PAGES: u64 = HUGE_SIZE / PAGE_SIZE;

/// The pool, locked for one call (a field borrow, so that the handle's
/// own fields stay usable meanwhile). A poisoned lock is taken as it is:
/// every pool operation leaves it consistent before anything can fail.
fn lock(pool: &Mutex<FramePool>) -> MutexGuard<'_, FramePool> {
    pool.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One address space's way to the VM's frames.
///
/// The pool is shared ([`FrameAllocator::sibling`] gives another address
/// space its own handle on it); what concerns one address space's page
/// tables stays here: which tables are fresh, and whether several vCPUs
/// run on those tables, with the frames held back until they have all
/// flushed. Both are per address space, not global: a vCPU walks only the
/// tables of the root it has loaded, so only the vCPUs of this address
/// space can have seen its tables or cached a translation of its pages.
#[derive(Debug)]
pub struct FrameAllocator {
    pool: Arc<Mutex<FramePool>>,
    /// Page tables allocated since the guest last ran on these tables: no
    /// hypervisor can have seen them yet, so they may be restructured in
    /// place.
    fresh_tables: Vec<u64>,
    /// More than one vCPU runs on these tables ([`FrameAllocator::share`]).
    shared: bool,
    /// What was freed or retired while shared, held back until every other
    /// vCPU has flushed ([`FrameAllocator::release_deferred`]).
    deferred: Vec<Deferred>,
    /// The next user frames back read-only program pages
    /// ([`FrameAllocator::begin_read_only`]).
    read_only_next: bool,
}

/// A release that waits for the other vCPUs' TLB flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deferred {
    /// A retired page table: zeroed on release, then user memory.
    Table(u64),
    /// A user frame already zeroed and uncounted: reused on release.
    User(u64),
    /// A 2 MiB block already zeroed and uncounted: reused on release.
    HugeBlock(u64),
    /// This address space's hold on a frame that others map too: dropped
    /// on release (so that until then the frame stays shared, and a write
    /// fault elsewhere copies it rather than writing what a stale
    /// translation here could still read).
    Owner(u64),
}

impl FrameAllocator {
    /// A new pool over `[first, end)` with at most `user_limit_bytes` of
    /// user pages, and the first address space's handle on it.
    pub fn new(first: u64, end: u64, user_limit_bytes: u64) -> FrameAllocator {
        FrameAllocator {
            pool: Arc::new(Mutex::new(FramePool::new(first, end, user_limit_bytes))),
            fresh_tables: Vec::new(),
            shared: false,
            deferred: Vec::new(),
            read_only_next: false,
        }
    }

    /// A handle on the same pool for another address space of the VM (a
    /// forked child, or a program after execve): no fresh tables, one
    /// vCPU, nothing held back.
    pub fn sibling(&self) -> FrameAllocator {
        FrameAllocator {
            pool: Arc::clone(&self.pool),
            fresh_tables: Vec::new(),
            shared: false,
            deferred: Vec::new(),
            read_only_next: false,
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

    /// Whether [`FrameAllocator::share`] was called (for this address
    /// space: the vCPUs of other processes are not counted).
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// Every other vCPU of this address space has flushed since the
    /// held-back frames were freed: they become available (retired tables
    /// zeroed first; a frame whose other owners have all gone since is
    /// zeroed and freed).
    pub fn release_deferred(&mut self, mem: &mut GuestMemory) -> Result<(), KmodError> {
        let deferred = std::mem::take(&mut self.deferred);
        let mut pool = lock(&self.pool);
        for d in deferred {
            match d {
                Deferred::Table(pa) => {
                    mem.discard(pa, PAGE_SIZE)?;
                    pool.push_free_retired(pa);
                }
                Deferred::User(pa) => pool.push_free(pa),
                Deferred::HugeBlock(block) => pool.push_free_huge(block),
                Deferred::Owner(pa) => {
                    if pool.drop_owner(pa) {
                        mem.discard(pa, PAGE_SIZE)?;
                        pool.uncount_user(1);
                        pool.push_free(pa);
                    }
                }
            }
        }
        Ok(())
    }

    /// The address space is being released and no vCPU will run on its
    /// tables again: what was held back is released now, and nothing is
    /// held back from here on.
    pub fn finish(&mut self, mem: &mut GuestMemory) -> Result<(), KmodError> {
        self.release_deferred(mem)?;
        self.shared = false;
        Ok(())
    }

    /// User pages that can still be allocated under the limit (by any
    /// address space of the VM).
    pub fn user_pages_left(&self) -> u64 {
        lock(&self.pool).user_pages_left()
    }

    /// A zeroed frame for user memory, or None past the limit.
    pub fn alloc_user(&mut self) -> Option<u64> {
        lock(&self.pool).alloc_user(self.read_only_next)
    }

    /// From now until [`FrameAllocator::end_read_only`], user frames back
    /// pages the program will only read or run (a program's text, as exec
    /// and boot lay it out): they may be frames that were page tables
    /// (`FramePool::alloc_user` says why other pages avoid them).
    pub fn begin_read_only(&mut self) {
        self.read_only_next = true;
    }

    /// Ends [`FrameAllocator::begin_read_only`].
    pub fn end_read_only(&mut self) {
        self.read_only_next = false;
    }

    /// A zeroed, 2 MiB-aligned block of 512 user frames, or None past the
    /// limit or when no such block is free (the caller uses 4 KiB frames).
    pub fn alloc_huge(&mut self) -> Option<u64> {
        lock(&self.pool).alloc_huge()
    }

    /// Returns a whole 2 MiB block (never shared: a fork splits 2 MiB
    /// pages first) and zeroes it.
    pub fn free_huge(&mut self, mem: &mut GuestMemory, block: u64) -> Result<(), KmodError> {
        let mut pool = lock(&self.pool);
        mem.discard(block, HUGE_SIZE)?;
        pool.uncount_user(HUGE_PAGES);
        if self.shared {
            self.deferred.push(Deferred::HugeBlock(block));
        } else {
            pool.push_free_huge(block);
        }
        Ok(())
    }

    /// A zeroed frame for a page table (not counted against the user limit,
    /// but reported in peak memory). Never a frame that was a table before.
    pub fn alloc_table(&mut self) -> Option<u64> {
        let pa = lock(&self.pool).alloc_table()?;
        self.fresh_tables.push(pa);
        Some(pa)
    }

    /// Whether `n` page tables can be allocated now.
    pub fn tables_available(&self, n: u64) -> bool {
        lock(&self.pool).tables_available(n)
    }

    /// A page table the guest will no longer reach (it was copied): its
    /// frame becomes user memory, zeroed now, or while shared later (other
    /// vCPUs may still walk it until they flush). Frames outside the pool
    /// (the boot root) are left alone.
    pub fn retire_table(&mut self, mem: &mut GuestMemory, pa: u64) -> Result<(), KmodError> {
        let mut pool = lock(&self.pool);
        if !pool.holds(pa) {
            return Ok(());
        }
        pool.retire(pa);
        if self.shared {
            self.deferred.push(Deferred::Table(pa));
            return Ok(());
        }
        mem.discard(pa, PAGE_SIZE)?;
        pool.push_free_retired(pa);
        Ok(())
    }

    /// A page table of an address space being released (or of a child
    /// whose fork failed): a table no vCPU has walked yet goes back, zeroed,
    /// among the frames that may be tables again; any other is retired.
    /// Frames outside the pool (the boot root) are left alone.
    pub fn free_table(&mut self, mem: &mut GuestMemory, pa: u64) -> Result<(), KmodError> {
        let fresh = self.is_fresh_table(pa);
        self.fresh_tables.retain(|&t| t != pa);
        if !fresh {
            return self.retire_table(mem, pa);
        }
        let mut pool = lock(&self.pool);
        if pool.holds(pa) {
            mem.discard(pa, PAGE_SIZE)?;
            pool.put_clean_table(pa);
        }
        Ok(())
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

    /// The guest is about to run on these tables: every one is visible
    /// from now on.
    pub fn seal_tables(&mut self) {
        self.fresh_tables.clear();
    }

    /// This address space stops mapping the user frame `pa`. When no other
    /// address space maps it, it is zeroed (discarded) and freed (its
    /// reuse held back while shared) and the result is true. When another
    /// one still maps it, nothing is zeroed and the result is false: the
    /// caller must `refresh` the frame, since discarding is what would
    /// otherwise have dropped the hypervisor's cached translations of it.
    pub fn free_user(&mut self, mem: &mut GuestMemory, pa: u64) -> Result<bool, KmodError> {
        let mut pool = lock(&self.pool);
        if self.shared && pool.is_shared(pa) {
            self.deferred.push(Deferred::Owner(pa));
            return Ok(false);
        }
        if !pool.drop_owner(pa) {
            return Ok(false);
        }
        mem.discard(pa, PAGE_SIZE)?;
        pool.uncount_user(1);
        if self.shared {
            self.deferred.push(Deferred::User(pa));
        } else {
            pool.push_free(pa);
        }
        Ok(true)
    }

    /// Each of `pas` is mapped by one more address space (a fork).
    pub fn add_owners(&mut self, pas: &[u64]) {
        let mut pool = lock(&self.pool);
        for &pa in pas {
            pool.add_owner(pa);
        }
    }

    /// Asks to hear when the user frame `pa` loses its last owner
    /// ([`FrameAllocator::take_freed_tracked`]): the files' shared pages
    /// (kernel/shared_file_pages.rs) forget a frame that is freed, without
    /// holding it themselves.
    pub fn track(&mut self, pa: u64) {
        lock(&self.pool).track(pa);
    }

    /// The tracked frames freed (their last owner gone) since the last
    /// call, by any address space of the VM.
    pub fn take_freed_tracked(&mut self) -> Vec<u64> {
        lock(&self.pool).take_freed_tracked()
    }

    /// Whether another address space maps the user frame `pa` too.
    pub fn is_shared_frame(&self, pa: u64) -> bool {
        lock(&self.pool).is_shared(pa)
    }

    /// How many frames more than one address space maps now.
    pub fn shared_frames(&self) -> usize {
        lock(&self.pool).shared_frames()
    }

    /// Highest number of pages in use at once (user pages plus page tables).
    pub fn peak_bytes(&self) -> u64 {
        lock(&self.pool).peak_bytes()
    }

    /// The never-allocated frames: `[start, end)` is untouched (the
    /// fuzzer's canary checks it). 2 MiB blocks are handed out above `end`.
    pub fn untouched(&self) -> (u64, u64) {
        lock(&self.pool).untouched()
    }

    /// User pages in use now, by every address space of the VM, each
    /// frame counted once.
    pub fn user_bytes(&self) -> u64 {
        lock(&self.pool).user_bytes()
    }
}

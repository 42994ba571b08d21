//! Linux `madvise` on the address space: MADV_DONTNEED zeroes the pages of
//! private mappings and keeps them mapped, and leaves those of shared
//! mappings as they are; other advice changes nothing.

use super::memory_calls::page_range;
use super::{AddressSpace, MapError};
use crate::guest::frames::FrameRuns;
use thinvisor_kmod::{GuestMemory, PAGE_SIZE};

impl AddressSpace {
    /// Linux `madvise`: MADV_DONTNEED (and DONTNEED_LOCKED) zero the pages
    /// (they stay mapped); every other known advice is accepted and has no
    /// effect. The range must be mapped.
    ///
    /// A frame shared with another address space (after a fork) is not
    /// zeroed, which would zero the other's memory too: the page gets a
    /// fresh zero frame of its own instead and the shared one loses an
    /// owner. That takes memory, so at the limit the call fails
    /// ([`MapError::NoMemory`]) before it changes anything.
    ///
    /// The pages of a shared mapping (MAP_SHARED) keep their frames and
    /// their bytes: on Linux, MADV_DONTNEED only drops them from this
    /// process's page tables, and the next touch maps the shared object's
    /// page again, with what the processes wrote there. Keeping the leaf
    /// is the same as that drop and that fault together.
    pub fn madvise_dontneed(
        &mut self,
        mem: &mut GuestMemory,
        start: u64,
        len: u64,
        dontneed: bool,
    ) -> Result<(), MapError> {
        let Some(end) = page_range(start, len)? else {
            return Ok(());
        };
        if !self.covered(start, end) {
            return Err(MapError::NoMemory);
        }
        if !dontneed {
            return Ok(());
        }
        self.check_unreserved(start, end)?;
        let mut own = FrameRuns::default();
        let mut shared: Vec<(u64, u64)> = Vec::new();
        let keep = self.shared_pieces(start, end);
        let mut va = start;
        while va < end {
            if let Some(&(_, hi)) = keep.iter().find(|&&(lo, hi)| lo <= va && va < hi) {
                va = hi;
                continue;
            }
            if let Some(pa) = self.tables.frame_of(mem, va) {
                if self.frames.is_shared_frame(pa) {
                    shared.push((va, pa));
                } else {
                    own.push_frame(pa);
                }
            }
            va += PAGE_SIZE;
        }
        if shared.len() as u64 > self.frames.user_pages_left() {
            return Err(MapError::NoMemory);
        }
        for (pa, len) in own.merged() {
            mem.discard(pa, len)?;
        }
        let mut kept = FrameRuns::default();
        for (va, old) in shared {
            let flags = self.vma_at(va).map_or(0, |(_, v)| v.prot.user_pte_flags());
            let new = self.frames.alloc_user().ok_or(MapError::NoMemory)?;
            if !self.tables.set_private(mem, va, new, flags)? {
                self.frames.free_user(mem, new)?;
                continue;
            }
            if !self.frames.free_user(mem, old)? {
                kept.push_frame(old);
            }
            self.needs_tlb_flush = true;
        }
        kept.refresh(mem)?;
        Ok(())
    }
}

//! The runner's own writes into a process's code, for the syscall ring
//! (ring/sites.rs): room for ring code near a site, and a write into a
//! private, present, executable page whatever its protection, with a
//! private copy first when fork shares the frame, so that no other process
//! sees the change.

use super::{AddressSpace, MapError};
use crate::guest::layout::MIN_USER_VA;
use crate::guest::page_table::{COPY_ON_WRITE, HUGE, PRESENT};
use thinvisor_kmod::{GuestMemory, PAGE_SIZE};

impl AddressSpace {
    /// A free page-aligned range of `len` bytes within `reach` of
    /// `target`, below `ceiling`: the closest one below `target` first
    /// (above the program lies its heap, which must stay free to grow),
    /// else the closest above the heap's reach.
    pub fn find_gap_near(&self, target: u64, len: u64, reach: u64, ceiling: u64) -> Option<u64> {
        let lo_bound = target.saturating_sub(reach).max(MIN_USER_VA);
        let hi_bound = target.saturating_add(reach).min(ceiling);
        let mut gaps = Vec::new();
        let mut prev_end = MIN_USER_VA;
        for (&s, v) in self.vmas.range(..ceiling) {
            if s > prev_end {
                gaps.push((prev_end, s));
            }
            prev_end = prev_end.max(v.end);
        }
        if prev_end < ceiling {
            gaps.push((prev_end, ceiling));
        }
        let below = gaps
            .iter()
            .filter_map(|&(lo, hi)| {
                let top = hi.min(target).min(hi_bound).checked_sub(len)? & !(PAGE_SIZE - 1);
                (top >= lo.max(lo_bound)).then_some(top)
            })
            .max();
        if below.is_some() {
            return below;
        }
        // Above: clear of the break's growth (a quarter of the reach).
        let floor = target.max(self.brk.saturating_add(reach / 4));
        gaps.iter()
            .filter_map(|&(lo, hi)| {
                let start = lo.max(floor).checked_add(PAGE_SIZE - 1)? & !(PAGE_SIZE - 1);
                (start.checked_add(len)? <= hi.min(hi_bound)).then_some(start)
            })
            .min()
    }

    /// Writes `bytes` at `va` for the runner into private, present,
    /// executable 4 KiB pages (ring code and patched sites), whatever their
    /// protection; a page fork shares gets a private copy first. False,
    /// with nothing written, when a page is not such a page.
    pub fn write_code(
        &mut self,
        mem: &mut GuestMemory,
        va: u64,
        bytes: &[u8],
    ) -> Result<bool, MapError> {
        let end = va
            .checked_add(bytes.len() as u64)
            .ok_or(MapError::Invalid)?;
        let first = va & !(PAGE_SIZE - 1);
        let mut page = first;
        while page < end {
            let private_code = self
                .vma_at(page)
                .is_some_and(|(_, v)| v.prot.exec && !v.shared);
            let leaf = self.tables.leaf(mem, page);
            if !private_code || leaf.is_none_or(|e| e & PRESENT == 0 || e & HUGE != 0) {
                return Ok(false);
            }
            page += PAGE_SIZE;
        }
        let mut page = first;
        while page < end {
            self.own_code_page(mem, page)?;
            page += PAGE_SIZE;
        }
        let mut done = 0usize;
        let mut at = va;
        while done < bytes.len() {
            let room = (PAGE_SIZE - (at & (PAGE_SIZE - 1))) as usize;
            let n = room.min(bytes.len() - done);
            let pa = self
                .tables
                .frame_of(mem, at)
                .ok_or(MapError::Internal("a code page lost its frame".into()))?
                + (at & (PAGE_SIZE - 1));
            mem.write(pa, &bytes[done..done + n])?;
            done += n;
            at += n as u64;
        }
        Ok(true)
    }

    /// Gives the code page at `page` a frame no other address space maps.
    fn own_code_page(&mut self, mem: &mut GuestMemory, page: u64) -> Result<(), MapError> {
        let Some(entry) = self.tables.leaf(mem, page) else {
            return Err(MapError::NotMapped);
        };
        if entry & COPY_ON_WRITE == 0 {
            return Ok(());
        }
        let Some((_, vma)) = self.vma_at(page) else {
            return Err(MapError::NotMapped);
        };
        let old = crate::guest::page_table::PageTables::leaf_frame(entry);
        let flags = vma.prot.user_pte_flags();
        if !self.frames.is_shared_frame(old) {
            self.tables.set_private(mem, page, old, flags)?;
            return Ok(());
        }
        let new = self.frames.alloc_user().ok_or(MapError::NoMemory)?;
        let mut copy = [0u8; PAGE_SIZE as usize];
        mem.read(old, &mut copy)?;
        mem.write(new, &copy)?;
        self.tables.set_private(mem, page, new, flags)?;
        if !self.frames.free_user(mem, old)? {
            mem.refresh(old, PAGE_SIZE)?;
        }
        self.needs_tlb_flush = true;
        Ok(())
    }
}

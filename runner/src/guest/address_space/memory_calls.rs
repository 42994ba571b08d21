//! The Linux memory calls on the address space: mmap of anonymous memory
//! (and MAP_FIXED), munmap, mprotect, brk and mremap (madvise is in
//! `madvise.rs`).
//!
//! After a fork some frames are shared with another address space
//! (copy-on-write): unmapping one drops this space's hold on it and
//! refreshes it rather than zeroing it, mprotect never makes such a leaf
//! writable (`page_table::keep_copy_on_write`), and a move keeps its
//! marker. The frames of a shared mapping (MAP_SHARED) are shared without
//! the marker; every call here keeps a mapping's sharing on the pieces it
//! makes, and a move or growth of a shared mapping stays shared.

use super::mappings::Kind;
use super::{page_up, AddressSpace, MapError, MmapFlags, Vma};
use crate::guest::frames::{FrameRuns, HUGE_SIZE};
use crate::guest::layout::{MIN_USER_VA, USER_END};
use crate::guest::page_table::{keep_copy_on_write, PageTables, Prot};
use thinvisor_kmod::{GuestMemory, PAGE_SIZE};

/// The end of the page range `[start, start + len)` that mprotect/madvise
/// act on: `start` page aligned, `len` rounded up to pages, the range in the
/// user half. None for an empty range (nothing to do, as on Linux).
pub fn page_range(start: u64, len: u64) -> Result<Option<u64>, MapError> {
    if !start.is_multiple_of(PAGE_SIZE) {
        return Err(MapError::Invalid);
    }
    let len = page_up(len).ok_or(MapError::Invalid)?;
    let end = start
        .checked_add(len)
        .filter(|&e| e <= USER_END)
        .ok_or(MapError::Invalid)?;
    Ok((len != 0).then_some(end))
}

impl AddressSpace {
    /// Maps `[start, start+len)` privately with fresh zeroed frames. Fails
    /// without changing anything when the range overlaps or memory runs out.
    pub fn map_fixed(
        &mut self,
        mem: &mut GuestMemory,
        start: u64,
        len: u64,
        prot: Prot,
    ) -> Result<(), MapError> {
        self.map_new(mem, start, len, prot, false)
    }

    /// [`AddressSpace::map_fixed`], shared (MAP_SHARED) when `shared` is
    /// set: then PROT_NONE pages get their frames too (a later fork shares
    /// frames, and a page without one would part the two processes at the
    /// first mprotect).
    fn map_new(
        &mut self,
        mem: &mut GuestMemory,
        start: u64,
        len: u64,
        prot: Prot,
        shared: bool,
    ) -> Result<(), MapError> {
        let len = page_up(len).ok_or(MapError::Invalid)?;
        let end = start.checked_add(len).ok_or(MapError::Invalid)?;
        if !start.is_multiple_of(PAGE_SIZE) || len == 0 || start < MIN_USER_VA || end > USER_END {
            return Err(MapError::Invalid);
        }
        if self.overlaps(start, end) {
            return Err(MapError::Exists);
        }
        if prot.is_none() && !shared {
            // Address space only (Go and JITs reserve hundreds of MiB this
            // way): no frame, no entry, nothing counted against the memory
            // limit until mprotect or mmap makes pages accessible.
            self.vmas.insert(start, Vma { end, prot, shared });
            self.generation += 1;
            return Ok(());
        }
        if len / PAGE_SIZE > self.frames.user_pages_left() {
            return Err(MapError::NoMemory);
        }
        let flags = prot.user_pte_flags();
        let mut va = start;
        while va < end {
            if self.huge_pages && va.is_multiple_of(HUGE_SIZE) && end - va >= HUGE_SIZE {
                if let Some(block) = self.frames.alloc_huge() {
                    match self
                        .tables
                        .map_huge(mem, &mut self.frames, va, block, flags)
                    {
                        Ok(true) => {
                            // Without the host's huge page KVM maps 4 KiB
                            // pieces: slower, still correct.
                            let _ = mem.advise_huge(block, HUGE_SIZE);
                            self.huge_counts.mapped += 1;
                            va += HUGE_SIZE;
                            continue;
                        }
                        Ok(false) => self.frames.free_huge(mem, block)?,
                        Err(e) => {
                            self.frames.free_huge(mem, block)?;
                            self.unmap_pages(mem, start, va)?;
                            return Err(e.into());
                        }
                    }
                }
            }
            let Some(pa) = self.frames.alloc_user() else {
                self.unmap_pages(mem, start, va)?;
                return Err(MapError::NoMemory);
            };
            if let Err(e) = self.tables.map(mem, &mut self.frames, va, pa, flags) {
                self.frames.free_user(mem, pa)?;
                self.unmap_pages(mem, start, va)?;
                return Err(e.into());
            }
            va += PAGE_SIZE;
        }
        self.vmas.insert(start, Vma { end, prot, shared });
        self.generation += 1;
        Ok(())
    }

    /// Removes page mappings in `[start, end)` and frees their frames.
    /// 2 MiB pages inside the range go whole; one it covers in part is
    /// split first. A frame another address space maps too is not freed
    /// (nor zeroed) but refreshed, which drops the translations of it that
    /// the hypervisor cached for this one.
    fn unmap_pages(&mut self, mem: &mut GuestMemory, start: u64, end: u64) -> Result<(), MapError> {
        let mut kept = FrameRuns::default();
        let mut va = start;
        while va < end {
            if va == start || va.is_multiple_of(HUGE_SIZE) {
                if let Some(block) = self.tables.huge_block(mem, va) {
                    let base = va & !(HUGE_SIZE - 1);
                    if base < start || base + HUGE_SIZE > end {
                        self.split_huge(mem, va)?;
                    } else {
                        self.tables.unmap_huge(mem, &mut self.frames, base)?;
                        self.frames.free_huge(mem, block)?;
                        self.needs_tlb_flush = true;
                        va = base + HUGE_SIZE;
                        continue;
                    }
                }
            }
            if let Some(pa) = self.tables.unmap(mem, va)? {
                if !self.frames.free_user(mem, pa)? {
                    kept.push_frame(pa);
                }
                self.needs_tlb_flush = true;
            }
            va += PAGE_SIZE;
        }
        kept.refresh(mem)?;
        Ok(())
    }

    /// Linux `mmap` of anonymous memory, placed as `flags` say, shared
    /// with later forks' children when `flags.shared`. Returns the
    /// address.
    pub fn mmap_anonymous(
        &mut self,
        mem: &mut GuestMemory,
        hint: u64,
        len: u64,
        prot: Prot,
        flags: MmapFlags,
    ) -> Result<u64, MapError> {
        let MmapFlags {
            fixed,
            noreplace,
            shared,
        } = flags;
        let len = page_up(len).filter(|&l| l > 0).ok_or(MapError::Invalid)?;
        // A private PROT_NONE mapping reserves address space only (map_new).
        let counted = shared || !prot.is_none();
        if len > USER_END || (counted && len / PAGE_SIZE > self.limit_pages()) {
            return Err(MapError::NoMemory);
        }
        if fixed || noreplace {
            if !hint.is_multiple_of(PAGE_SIZE) {
                return Err(MapError::Invalid);
            }
            let end = hint.checked_add(len).ok_or(MapError::Invalid)?;
            if self.overlaps(hint, end) {
                if noreplace {
                    return Err(MapError::Exists);
                }
                self.check_unreserved(hint, end)?;
                if counted
                    && len / PAGE_SIZE
                        > self.frames.user_pages_left() + self.mapped_pages_in(mem, hint, end)
                {
                    return Err(MapError::NoMemory);
                }
                self.munmap(mem, hint, len)?;
            }
            self.map_new(mem, hint, len, prot, shared)?;
            return Ok(hint);
        }
        if counted && len / PAGE_SIZE > self.frames.user_pages_left() {
            return Err(MapError::NoMemory);
        }
        let hinted = page_up(hint)
            .filter(|&h| h >= MIN_USER_VA)
            .and_then(|h| h.checked_add(len).map(|e| (h, e)))
            .filter(|&(h, e)| e <= USER_END && !self.overlaps(h, e))
            .map(|(h, _)| h);
        let addr = hinted
            .or_else(|| self.find_gap(len))
            .ok_or(MapError::NoMemory)?;
        self.map_new(mem, addr, len, prot, shared)?;
        Ok(addr)
    }

    /// Linux `munmap`.
    pub fn munmap(&mut self, mem: &mut GuestMemory, start: u64, len: u64) -> Result<(), MapError> {
        let len = page_up(len).filter(|&l| l > 0).ok_or(MapError::Invalid)?;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= USER_END)
            .ok_or(MapError::Invalid)?;
        if !start.is_multiple_of(PAGE_SIZE) {
            return Err(MapError::Invalid);
        }
        self.check_unreserved(start, end)?;
        self.prepare_huge_edit(mem, start, end, true)?;
        self.split_at(start);
        self.split_at(end);
        let inside: Vec<u64> = self.vmas.range(start..end).map(|(&s, _)| s).collect();
        self.generation += 1;
        for s in inside {
            if let Some(v) = self.vmas.remove(&s) {
                self.unmap_pages(mem, s, v.end)?;
            }
        }
        Ok(())
    }

    /// Linux `mprotect`: every page of the range must be mapped.
    pub fn mprotect(
        &mut self,
        mem: &mut GuestMemory,
        start: u64,
        len: u64,
        prot: Prot,
    ) -> Result<(), MapError> {
        let Some(end) = page_range(start, len)? else {
            return Ok(());
        };
        self.check_unreserved(start, end)?;
        // The whole range must be covered by mappings (else ENOMEM, as Linux).
        if !self.covered(start, end) {
            return Err(MapError::NoMemory);
        }
        // Pages of PROT_NONE reservations have no frame yet: they get one
        // now if the new protection allows access (and it fits the limit).
        let missing: Vec<u64> = if prot.is_none() {
            Vec::new()
        } else {
            (start..end)
                .step_by(PAGE_SIZE as usize)
                .filter(|&va| self.tables.frame_of(mem, va).is_none())
                .collect()
        };
        if missing.len() as u64 > self.frames.user_pages_left() {
            return Err(MapError::NoMemory);
        }
        self.prepare_huge_edit(mem, start, end, false)?;
        self.split_at(start);
        self.split_at(end);
        self.generation += 1;
        let inside: Vec<u64> = self.vmas.range(start..end).map(|(&s, _)| s).collect();
        let flags = prot.user_pte_flags();
        for &va in &missing {
            let pa = self.frames.alloc_user().ok_or(MapError::NoMemory)?;
            if let Err(e) = self.tables.map(mem, &mut self.frames, va, pa, flags) {
                self.frames.free_user(mem, pa)?;
                return Err(e.into());
            }
        }
        let mut downgraded = FrameRuns::default();
        for s in inside {
            let Some(v) = self.vmas.get_mut(&s) else {
                continue;
            };
            let old = v.prot;
            v.prot = prot;
            let vend = v.end;
            let downgrade =
                (old.read && !prot.read) || (old.write && !prot.write) || (old.exec && !prot.exec);
            let mut va = s;
            while va < vend {
                if va == s || va.is_multiple_of(HUGE_SIZE) {
                    // Whole (prepare_huge_edit split the partial ones): the
                    // directory entry changes its flags in place.
                    if let Some(block) = self.tables.huge_block(mem, va) {
                        if downgrade {
                            downgraded.push(block, HUGE_SIZE);
                        }
                        self.tables.set_huge_flags(mem, va, flags)?;
                        va = (va & !(HUGE_SIZE - 1)) + HUGE_SIZE;
                        continue;
                    }
                }
                if downgrade {
                    if let Some(t) = self.tables.translate(mem, va) {
                        downgraded.push_frame(t.pa);
                    }
                }
                self.tables.set_flags(mem, va, flags)?;
                va += PAGE_SIZE;
            }
        }
        // The guest TLB is flushed on return; the hypervisor's own cached
        // translations (shadow pages on kvm_pvm) must be dropped as well.
        self.refresh(mem, &downgraded)?;
        self.needs_tlb_flush = true;
        Ok(())
    }

    /// Linux `brk`: returns the new break (the old one on failure). Pages
    /// above the old mapped end are fresh (zero); pages below a lowered
    /// break are unmapped. With `brk_headroom`, fresh headroom is mapped
    /// above the new break afterwards.
    pub fn brk(&mut self, mem: &mut GuestMemory, requested: u64) -> u64 {
        if requested < self.brk_start {
            return self.brk;
        }
        let Some(new_top) = page_up(requested) else {
            return self.brk;
        };
        let mapped = self.heap_end;
        if new_top > mapped {
            if self
                .map_fixed(mem, mapped, new_top - mapped, Prot::RW)
                .is_err()
            {
                return self.brk;
            }
        } else if new_top < mapped && self.munmap(mem, new_top, mapped - new_top).is_err() {
            return self.brk;
        }
        self.brk = requested;
        self.heap_end = new_top;
        self.grant_heap_headroom(mem);
        self.brk
    }

    /// Moves the frames of `[src, src+len)` to `[dst, dst+len)` (page-table
    /// edits only, no copy) and the VMA with them. Every destination entry is
    /// created before any source entry is removed, so running out of
    /// page-table frames leaves the source intact. The mapping at `dst`
    /// is of `kind` (a shared one stays shared: its frames, and their
    /// other owners, go with it).
    fn move_pages(
        &mut self,
        mem: &mut GuestMemory,
        src: u64,
        len: u64,
        dst: u64,
        kind: Kind,
    ) -> Result<(), MapError> {
        let flags = kind.prot.user_pte_flags();
        // Pages move one by one: 2 MiB pages are split first (an error here
        // leaves the mapping where it was).
        if self.may_have_huge() {
            self.prepare_huge_edit(mem, src, src + len, false)?;
            for a in self.huge_candidates(src, src + len) {
                self.split_huge(mem, a)?;
            }
        }
        let mut moved: Vec<(u64, u64)> = Vec::new();
        let mut off = 0;
        while off < len {
            if let Some(entry) = self.tables.leaf(mem, src + off) {
                let pa = PageTables::leaf_frame(entry);
                let flags = keep_copy_on_write(entry, flags);
                if let Err(e) = self.tables.map(mem, &mut self.frames, dst + off, pa, flags) {
                    for &(o, _) in &moved {
                        self.tables.unmap(mem, dst + o)?;
                    }
                    return Err(e.into());
                }
                moved.push((off, pa));
            }
            off += PAGE_SIZE;
        }
        for &(o, _) in &moved {
            self.tables.unmap(mem, src + o)?;
        }
        self.forget_range(src, src + len);
        self.vmas.insert(
            dst,
            Vma {
                end: dst + len,
                prot: kind.prot,
                shared: kind.shared,
            },
        );
        // The old addresses must not stay reachable through translations the
        // guest TLB or the hypervisor cached (frames are kept, not discarded).
        let mut runs = FrameRuns::default();
        for &(_, pa) in &moved {
            runs.push_frame(pa);
        }
        self.refresh(mem, &runs)?;
        self.needs_tlb_flush = true;
        Ok(())
    }

    /// Linux `mremap` of anonymous memory: shrink in place, grow in place
    /// when the pages after the mapping are free, else move (with
    /// `may_move`), or move to `fixed` (MREMAP_FIXED). Pages are moved, never
    /// copied; a shared mapping stays shared, what it grows by too. The
    /// range must be one kind of mapping (one protection, one sharing).
    /// Returns the new address.
    pub fn mremap(
        &mut self,
        mem: &mut GuestMemory,
        old: u64,
        old_len: u64,
        new_len: u64,
        may_move: bool,
        fixed: Option<u64>,
    ) -> Result<u64, MapError> {
        if !old.is_multiple_of(PAGE_SIZE) || (fixed.is_some() && !may_move) {
            return Err(MapError::Invalid);
        }
        let old_len = page_up(old_len).ok_or(MapError::Invalid)?;
        let new_len = page_up(new_len)
            .filter(|&l| l > 0)
            .ok_or(MapError::Invalid)?;
        if old_len == 0 {
            // Duplicating a mapping only exists for shared memory, and is
            // not done here.
            return Err(MapError::Invalid);
        }
        let old_end = old
            .checked_add(old_len)
            .filter(|&e| e <= USER_END)
            .ok_or(MapError::NotMapped)?;
        self.check_unreserved(old, old_end)?;
        let kind = self
            .uniform(old, old_end, true)
            .ok_or(MapError::NotMapped)?;
        if new_len / PAGE_SIZE > self.limit_pages() {
            return Err(MapError::NoMemory);
        }
        if let Some(dst) = fixed {
            let dst_end = dst
                .checked_add(new_len)
                .filter(|&e| e <= USER_END)
                .ok_or(MapError::Invalid)?;
            if dst % PAGE_SIZE != 0 || dst < MIN_USER_VA || (dst < old_end && old < dst_end) {
                return Err(MapError::Invalid);
            }
            self.check_unreserved(dst, dst_end)?;
            let grow = new_len.saturating_sub(old_len) / PAGE_SIZE;
            let freed = self.mapped_pages_in(mem, dst, dst_end);
            if grow > self.frames.user_pages_left() + freed {
                return Err(MapError::NoMemory);
            }
            if self.overlaps(dst, dst_end) {
                self.munmap(mem, dst, new_len)?;
            }
            return self.move_and_resize(mem, old, old_len, new_len, dst, kind);
        }
        if new_len <= old_len {
            if new_len < old_len {
                self.munmap(mem, old + new_len, old_len - new_len)?;
            }
            return Ok(old);
        }
        let grow = new_len - old_len;
        let in_place = old
            .checked_add(new_len)
            .filter(|&e| e <= USER_END && !self.overlaps(old_end, e));
        if in_place.is_some() {
            self.map_new(mem, old_end, grow, kind.prot, kind.shared)?;
            return Ok(old);
        }
        if !may_move {
            return Err(MapError::NoMemory);
        }
        if grow / PAGE_SIZE > self.frames.user_pages_left() {
            return Err(MapError::NoMemory);
        }
        let dst = self.find_gap(new_len).ok_or(MapError::NoMemory)?;
        self.move_and_resize(mem, old, old_len, new_len, dst, kind)
    }

    fn move_and_resize(
        &mut self,
        mem: &mut GuestMemory,
        old: u64,
        old_len: u64,
        new_len: u64,
        dst: u64,
        kind: Kind,
    ) -> Result<u64, MapError> {
        if new_len < old_len {
            self.munmap(mem, old + new_len, old_len - new_len)?;
        }
        let keep = old_len.min(new_len);
        self.move_pages(mem, old, keep, dst, kind)?;
        if new_len > keep {
            let grown = self.map_new(mem, dst + keep, new_len - keep, kind.prot, kind.shared);
            if let Err(e) = grown {
                // Put things back as they were as far as possible.
                let _ = self.move_pages(mem, dst, keep, old, kind);
                return Err(e);
            }
        }
        Ok(dst)
    }
}

//! The guest's user address space: mappings (VMAs) with their protections,
//! backed by frames, and the Linux memory calls on top (mmap, munmap,
//! mprotect, brk).

use super::frames::FrameAllocator;
use super::layout::{MIN_USER_VA, MMAP_TOP, USER_END};
use super::page_table::{PageTableError, PageTables, Prot, Translation};
use std::collections::BTreeMap;
use thinvisor_kmod::{GuestMemory, PAGE_SIZE};

/// One mapping: `[start, end)` with one protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vma {
    pub end: u64,
    pub prot: Prot,
}

/// Why a memory call failed; maps onto a Linux errno.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MapError {
    #[error("out of memory (limit reached)")]
    NoMemory,
    #[error("invalid argument")]
    Invalid,
    #[error("address already mapped")]
    Exists,
    #[error("internal page-table error: {0}")]
    Internal(String),
}

impl From<PageTableError> for MapError {
    fn from(e: PageTableError) -> Self {
        match e {
            PageTableError::OutOfTables => MapError::NoMemory,
            PageTableError::Memory(e) => MapError::Internal(e.to_string()),
        }
    }
}

/// The address space and its bookkeeping.
#[derive(Debug)]
pub struct AddressSpace {
    pub tables: PageTables,
    pub frames: FrameAllocator,
    vmas: BTreeMap<u64, Vma>,
    brk_start: u64,
    brk: u64,
    /// A mapping was removed or downgraded since the last guest entry: the
    /// guest's TLB must be flushed before it runs again.
    pub needs_tlb_flush: bool,
}

fn page_up(x: u64) -> Option<u64> {
    x.checked_add(PAGE_SIZE - 1).map(|v| v & !(PAGE_SIZE - 1))
}

impl AddressSpace {
    pub fn new(tables: PageTables, frames: FrameAllocator) -> AddressSpace {
        AddressSpace {
            tables,
            frames,
            vmas: BTreeMap::new(),
            brk_start: 0,
            brk: 0,
            needs_tlb_flush: false,
        }
    }

    /// Sets where the heap starts (just after the loaded image).
    pub fn set_brk_start(&mut self, addr: u64) {
        let a = page_up(addr).unwrap_or(addr);
        self.brk_start = a;
        self.brk = a;
    }

    /// Walks the page tables for one user address.
    pub fn translate(&self, mem: &GuestMemory, va: u64) -> Option<Translation> {
        if va >= USER_END {
            return None;
        }
        self.tables.translate(mem, va)
    }

    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.vmas
            .range(..end)
            .next_back()
            .is_some_and(|(&s, v)| s < end && v.end > start)
    }

    /// Maps `[start, start+len)` with fresh zeroed frames. Fails without
    /// changing anything when the range overlaps or memory runs out.
    pub fn map_fixed(
        &mut self,
        mem: &mut GuestMemory,
        start: u64,
        len: u64,
        prot: Prot,
    ) -> Result<(), MapError> {
        let len = page_up(len).ok_or(MapError::Invalid)?;
        let end = start.checked_add(len).ok_or(MapError::Invalid)?;
        if start % PAGE_SIZE != 0 || len == 0 || start < MIN_USER_VA || end > USER_END {
            return Err(MapError::Invalid);
        }
        if self.overlaps(start, end) {
            return Err(MapError::Exists);
        }
        if len / PAGE_SIZE > self.frames.user_pages_left() {
            return Err(MapError::NoMemory);
        }
        let flags = prot.user_pte_flags();
        let mut va = start;
        while va < end {
            let Some(pa) = self.frames.alloc_user() else {
                self.unmap_pages(mem, start, va)?;
                return Err(MapError::NoMemory);
            };
            if let Err(e) = self.tables.map(mem, &mut self.frames, va, pa, flags) {
                self.frames.free_user(pa);
                self.unmap_pages(mem, start, va)?;
                return Err(e.into());
            }
            va += PAGE_SIZE;
        }
        self.vmas.insert(start, Vma { end, prot });
        Ok(())
    }

    /// Removes page mappings in `[start, end)` and frees their frames.
    fn unmap_pages(&mut self, mem: &mut GuestMemory, start: u64, end: u64) -> Result<(), MapError> {
        let mut va = start;
        while va < end {
            if let Some(pa) = self.tables.unmap(mem, va)? {
                mem.discard(pa, PAGE_SIZE)
                    .map_err(|e| MapError::Internal(e.to_string()))?;
                self.frames.free_user(pa);
                self.needs_tlb_flush = true;
            }
            va += PAGE_SIZE;
        }
        Ok(())
    }

    /// Splits VMAs so that `addr` is a boundary.
    fn split_at(&mut self, addr: u64) {
        let found = self.vmas.range(..addr).next_back().map(|(&s, &v)| (s, v));
        if let Some((s, v)) = found {
            if s < addr && v.end > addr {
                self.vmas.insert(
                    s,
                    Vma {
                        end: addr,
                        prot: v.prot,
                    },
                );
                self.vmas.insert(addr, v);
            }
        }
    }

    /// Finds a free range of `len` bytes, top-down below `MMAP_TOP`.
    fn find_gap(&self, len: u64) -> Option<u64> {
        let mut top = MMAP_TOP;
        for (&s, v) in self.vmas.range(..MMAP_TOP).rev() {
            if v.end <= top && top - v.end >= len {
                return Some(top - len);
            }
            top = top.min(s);
        }
        top.checked_sub(len).filter(|&a| a >= MIN_USER_VA)
    }

    /// Linux `mmap` of anonymous memory. `fixed`: MAP_FIXED (replace),
    /// `noreplace`: MAP_FIXED_NOREPLACE. Returns the address.
    pub fn mmap_anonymous(
        &mut self,
        mem: &mut GuestMemory,
        hint: u64,
        len: u64,
        prot: Prot,
        fixed: bool,
        noreplace: bool,
    ) -> Result<u64, MapError> {
        let len = page_up(len).filter(|&l| l > 0).ok_or(MapError::Invalid)?;
        if len > USER_END {
            return Err(MapError::NoMemory);
        }
        if fixed || noreplace {
            if hint % PAGE_SIZE != 0 {
                return Err(MapError::Invalid);
            }
            let end = hint.checked_add(len).ok_or(MapError::Invalid)?;
            if self.overlaps(hint, end) {
                if noreplace {
                    return Err(MapError::Exists);
                }
                if len / PAGE_SIZE > self.frames.user_pages_left() + self.mapped_pages_in(hint, end)
                {
                    return Err(MapError::NoMemory);
                }
                self.munmap(mem, hint, len)?;
            }
            self.map_fixed(mem, hint, len, prot)?;
            return Ok(hint);
        }
        if len / PAGE_SIZE > self.frames.user_pages_left() {
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
        self.map_fixed(mem, addr, len, prot)?;
        Ok(addr)
    }

    /// Pages of `[start, end)` covered by mappings (each owns a frame that
    /// replacing it gives back). Counted from the mappings, not page by
    /// page: the range's length is the guest's choice and may be 2^47.
    fn mapped_pages_in(&self, start: u64, end: u64) -> u64 {
        self.vmas
            .range(..end)
            .filter(|(_, v)| v.end > start)
            .map(|(&s, v)| (v.end.min(end) - s.max(start)) / PAGE_SIZE)
            .sum()
    }

    /// Linux `munmap`.
    pub fn munmap(&mut self, mem: &mut GuestMemory, start: u64, len: u64) -> Result<(), MapError> {
        let len = page_up(len).filter(|&l| l > 0).ok_or(MapError::Invalid)?;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= USER_END)
            .ok_or(MapError::Invalid)?;
        if start % PAGE_SIZE != 0 {
            return Err(MapError::Invalid);
        }
        self.split_at(start);
        self.split_at(end);
        let inside: Vec<u64> = self.vmas.range(start..end).map(|(&s, _)| s).collect();
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
        if start % PAGE_SIZE != 0 {
            return Err(MapError::Invalid);
        }
        let len = page_up(len).ok_or(MapError::Invalid)?;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= USER_END)
            .ok_or(MapError::Invalid)?;
        if len == 0 {
            return Ok(());
        }
        // The whole range must be covered by mappings (else ENOMEM, as Linux).
        let mut cursor = start;
        for (&s, v) in self.vmas.range(..end) {
            if v.end <= cursor {
                continue;
            }
            if s > cursor {
                return Err(MapError::NoMemory);
            }
            cursor = v.end;
            if cursor >= end {
                break;
            }
        }
        if cursor < end {
            return Err(MapError::NoMemory);
        }
        self.split_at(start);
        self.split_at(end);
        let inside: Vec<u64> = self.vmas.range(start..end).map(|(&s, _)| s).collect();
        let flags = prot.user_pte_flags();
        let mut downgraded: Vec<(u64, u64)> = Vec::new();
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
                if downgrade {
                    if let Some(t) = self.tables.translate(mem, va) {
                        match downgraded.last_mut() {
                            Some((pa, len)) if *pa + *len == t.pa => *len += PAGE_SIZE,
                            _ => downgraded.push((t.pa, PAGE_SIZE)),
                        }
                    }
                }
                self.tables.set_flags(mem, va, flags)?;
                va += PAGE_SIZE;
            }
        }
        // The guest TLB is flushed on return; the hypervisor's own cached
        // translations (shadow pages on kvm_pvm) must be dropped as well.
        for (pa, len) in downgraded {
            mem.refresh(pa, len)
                .map_err(|e| MapError::Internal(e.to_string()))?;
        }
        self.needs_tlb_flush = true;
        Ok(())
    }

    /// Linux `brk`: returns the new break (the old one on failure).
    pub fn brk(&mut self, mem: &mut GuestMemory, requested: u64) -> u64 {
        if requested < self.brk_start {
            return self.brk;
        }
        let (Some(old_top), Some(new_top)) = (page_up(self.brk), page_up(requested)) else {
            return self.brk;
        };
        if new_top > old_top {
            if self
                .map_fixed(mem, old_top, new_top - old_top, Prot::RW)
                .is_err()
            {
                return self.brk;
            }
        } else if new_top < old_top && self.munmap(mem, new_top, old_top - new_top).is_err() {
            return self.brk;
        }
        self.brk = requested;
        self.brk
    }

    /// Peak memory the guest used: user pages plus page tables.
    pub fn peak_bytes(&self) -> u64 {
        self.frames.peak_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::layout::{physical_size, FIRST_FREE_PA, PML4_PA};
    use std::time::{Duration, Instant};

    fn space(limit: u64) -> (GuestMemory, AddressSpace) {
        let phys = physical_size(limit);
        let mem = GuestMemory::new(phys as usize).expect("memory");
        let frames = FrameAllocator::new(FIRST_FREE_PA, phys, limit);
        (mem, AddressSpace::new(PageTables { root: PML4_PA }, frames))
    }

    #[test]
    fn huge_fixed_mmap_over_a_mapping_is_refused_at_once() {
        // The memory check before replacing used to walk every page of the
        // requested range: 2^34 page walks for a 64 TiB MAP_FIXED, a
        // guest-triggered hang of the runner beyond any time limit.
        let (mut mem, mut a) = space(1 << 20);
        a.map_fixed(&mut mem, 0x40_0000, 0x2000, Prot::RW)
            .expect("map");
        let t = Instant::now();
        let r = a.mmap_anonymous(&mut mem, 0x40_0000, 1 << 46, Prot::RW, true, false);
        assert_eq!(r, Err(MapError::NoMemory));
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "took {:?}",
            t.elapsed()
        );
        // Replacing within the limit still works and reuses the frames.
        let before = a.frames.user_bytes();
        let r = a.mmap_anonymous(&mut mem, 0x40_0000, 0x2000, Prot::RX, true, false);
        assert_eq!(r, Ok(0x40_0000));
        assert_eq!(a.frames.user_bytes(), before);
    }
}

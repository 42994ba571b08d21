//! The guest's user address space: mappings (VMAs) with their protections,
//! backed by frames, and the Linux memory calls on top (mmap, munmap,
//! mprotect, brk).

use super::frames::FrameAllocator;
use super::layout::{MIN_USER_VA, MMAP_TOP, USER_END};
use super::page_table::{PageTableError, PageTables, Prot, Translation};
use sandbox_policy::Op;
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
    /// End of the heap pages mapped (page aligned, >= page_up(brk)). Beyond
    /// page_up(brk) lies the pre-granted headroom the in-VM monitor may hand
    /// out without an exit.
    heap_end: u64,
    /// Headroom to keep mapped above the break (0: none, without a monitor).
    pub brk_headroom: u64,
    /// Bumped on every change of the mappings (the monitor's range tables
    /// are rebuilt when it moves).
    pub generation: u64,
    /// A mapping was removed or downgraded since the last guest entry: the
    /// guest's TLB must be flushed before it runs again.
    pub needs_tlb_flush: bool,
    /// The policy's tunnel table: guest ranges syscall buffers may use, and
    /// for what (empty: anywhere the page tables allow).
    pub buffer_table: sandbox_policy::Tunnel,
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
            heap_end: 0,
            brk_headroom: 0,
            generation: 0,
            needs_tlb_flush: false,
            buffer_table: sandbox_policy::Tunnel::default(),
        }
    }

    /// Sets where the heap starts (just after the loaded image).
    pub fn set_brk_start(&mut self, addr: u64) {
        let a = page_up(addr).unwrap_or(addr);
        self.brk_start = a;
        self.brk = a;
        self.heap_end = a;
    }

    /// Where the heap starts, the current break, and the end of the mapped
    /// heap pages (headroom included).
    pub fn heap(&self) -> (u64, u64, u64) {
        (self.brk_start, self.brk, self.heap_end)
    }

    /// Takes a break the in-VM monitor moved without an exit. Only values
    /// inside the mapped heap are accepted (the monitor never goes beyond
    /// it); returns false for anything else.
    pub fn set_brk_from_monitor(&mut self, brk: u64) -> bool {
        if brk < self.brk_start || brk > self.heap_end {
            return false;
        }
        self.brk = brk;
        true
    }

    /// Maps up to `brk_headroom` bytes above the heap, as far as the memory
    /// limit leaves room (at most a quarter of what is left) and nothing else
    /// is mapped there.
    pub fn grant_heap_headroom(&mut self, mem: &mut GuestMemory) {
        let left = self.frames.user_pages_left() / 4 * PAGE_SIZE;
        let want = self.brk_headroom.min(left);
        if want == 0 || self.heap_end == 0 {
            return;
        }
        if self.map_fixed(mem, self.heap_end, want, Prot::RW).is_ok() {
            self.heap_end += want;
        }
    }

    /// Gives the headroom above the break back (under memory pressure).
    /// True when something was released.
    pub fn release_heap_headroom(&mut self, mem: &mut GuestMemory) -> bool {
        let Some(top) = page_up(self.brk) else {
            return false;
        };
        if self.heap_end <= top {
            return false;
        }
        if self.munmap(mem, top, self.heap_end - top).is_err() {
            return false;
        }
        self.heap_end = top;
        true
    }

    /// The user ranges the program can read (`write == false`) or write,
    /// merged, and cut down to what the policy's tunnel table allows for
    /// that access. Every page in them is mapped with that right.
    pub fn accessible_ranges(&self, write: bool) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        let mut push = |start: u64, end: u64| match out.last_mut() {
            Some(last) if last.1 == start => last.1 = end,
            _ => out.push((start, end)),
        };
        let op = if write { Op::Write } else { Op::Read };
        for (&start, v) in &self.vmas {
            let ok = if write {
                v.prot.write
            } else {
                v.prot.read || v.prot.write || v.prot.exec
            };
            if !ok {
                continue;
            }
            if self.buffer_table.is_empty() {
                push(start, v.end);
                continue;
            }
            for r in self.buffer_table.ranges() {
                let (s, e) = (start.max(r.start), v.end.min(r.end));
                if s < e && r.perms.allows(op) {
                    push(s, e);
                }
            }
        }
        out
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
        self.generation += 1;
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
                if len / PAGE_SIZE
                    > self.frames.user_pages_left() + self.mapped_pages_in(mem, hint, end)
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

    fn mapped_pages_in(&self, mem: &GuestMemory, start: u64, end: u64) -> u64 {
        let mut n = 0;
        let mut va = start;
        while va < end {
            if self.tables.translate(mem, va).is_some() {
                n += 1;
            }
            va += PAGE_SIZE;
        }
        n
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
        self.generation += 1;
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

    /// Peak memory the guest used: user pages plus page tables.
    pub fn peak_bytes(&self) -> u64 {
        self.frames.peak_bytes()
    }
}

//! The guest's user address space: mappings (VMAs) with their protections,
//! backed by frames, and the Linux memory calls on top (mmap, munmap,
//! mprotect, brk).
//!
//! With `huge_pages` set, every whole, 2 MiB-aligned 2 MiB of a new
//! anonymous mapping is one 2 MiB page (a block of 512 frames the host backs
//! with a huge page of its own): on a shadow-paging hypervisor one fault then
//! maps what took 512. A call that changes part of such a page splits it
//! into 4 KiB pages first (page_table.rs); a 2 MiB page never straddles two
//! VMAs.

use super::frames::{FrameAllocator, HUGE_SIZE};
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
    #[error("range not mapped")]
    NotMapped,
    #[error("the range holds the vDSO, whose pages are not the program's")]
    Reserved,
    #[error("internal page-table error: {0}")]
    Internal(String),
}

impl From<PageTableError> for MapError {
    fn from(e: PageTableError) -> Self {
        match e {
            PageTableError::OutOfTables => MapError::NoMemory,
            PageTableError::Memory(e) => MapError::Internal(e.to_string()),
            e @ PageTableError::Huge(_) => MapError::Internal(e.to_string()),
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
    pub buffer_table: sandbox_policy::TunnelRanges,
    /// Mappings of frames the runner owns (the vDSO): readable like any
    /// other, but never unmapped, moved, reprotected or replaced.
    reserved: Vec<(u64, u64)>,
    /// Map whole aligned 2 MiB of new mappings as 2 MiB pages. Never with
    /// the in-VM monitor, whose root shares the tables and cannot move.
    pub huge_pages: bool,
    /// The root the vCPU's CR3 holds (`tables.root` moves when a 2 MiB
    /// page is split or removed).
    loaded_root: u64,
    /// What the 2 MiB pages did, for `--stats`.
    pub huge_counts: HugeCounts,
}

/// Counters of 2 MiB pages over a run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HugeCounts {
    /// 2 MiB pages mapped.
    pub mapped: u64,
    /// 2 MiB pages split into 4 KiB pages.
    pub split: u64,
    /// Switches of the guest to a new page-table root.
    pub root_switches: u64,
}

fn page_up(x: u64) -> Option<u64> {
    x.checked_add(PAGE_SIZE - 1).map(|v| v & !(PAGE_SIZE - 1))
}

/// The end of the page range `[start, start + len)` that mprotect/madvise
/// act on: `start` page aligned, `len` rounded up to pages, the range in the
/// user half. None for an empty range (nothing to do, as on Linux).
fn page_range(start: u64, len: u64) -> Result<Option<u64>, MapError> {
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
    pub fn new(tables: PageTables, mut frames: FrameAllocator) -> AddressSpace {
        // The root is set up before the guest first runs.
        frames.mark_fresh_table(tables.root);
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
            buffer_table: sandbox_policy::TunnelRanges::default(),
            reserved: Vec::new(),
            huge_pages: false,
            loaded_root: tables.root,
            huge_counts: HugeCounts::default(),
        }
    }

    /// The guest is about to run: every page table becomes one it may have
    /// used. Returns the new root when it moved since the guest last ran;
    /// the caller loads it into CR3.
    pub fn before_entry(&mut self) -> Option<u64> {
        self.frames.seal_tables();
        if self.tables.root == self.loaded_root {
            return None;
        }
        self.loaded_root = self.tables.root;
        self.huge_counts.root_switches += 1;
        Some(self.loaded_root)
    }

    /// Maps the runner's own frames `pas` at `start` onwards with `prot`,
    /// for good: the program's memory calls refuse to touch them
    /// ([`MapError::Reserved`]), and they do not count against its limit.
    pub fn map_reserved(
        &mut self,
        mem: &mut GuestMemory,
        start: u64,
        pas: &[u64],
        prot: Prot,
    ) -> Result<(), MapError> {
        let end = start + pas.len() as u64 * PAGE_SIZE;
        if start & (PAGE_SIZE - 1) != 0 || start < MIN_USER_VA || end > USER_END {
            return Err(MapError::Invalid);
        }
        if self.overlaps(start, end) {
            return Err(MapError::Exists);
        }
        let flags = prot.user_pte_flags();
        for (i, &pa) in pas.iter().enumerate() {
            let va = start + i as u64 * PAGE_SIZE;
            self.tables.map(mem, &mut self.frames, va, pa, flags)?;
        }
        self.vmas.insert(start, Vma { end, prot });
        self.reserved.push((start, end));
        self.generation += 1;
        Ok(())
    }

    /// Refuses a change to `[start, end)` that would touch a reserved page.
    fn check_unreserved(&self, start: u64, end: u64) -> Result<(), MapError> {
        if self.reserved.iter().any(|&(s, e)| s < end && start < e) {
            return Err(MapError::Reserved);
        }
        Ok(())
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
        if !start.is_multiple_of(PAGE_SIZE) || len == 0 || start < MIN_USER_VA || end > USER_END {
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
                        Ok(false) => self.frames.free_huge(block),
                        Err(e) => {
                            self.frames.free_huge(block);
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
    /// 2 MiB pages inside the range go whole; one it covers in part is
    /// split first.
    fn unmap_pages(&mut self, mem: &mut GuestMemory, start: u64, end: u64) -> Result<(), MapError> {
        let mut va = start;
        while va < end {
            if va == start || va.is_multiple_of(HUGE_SIZE) {
                if let Some(block) = self.tables.huge_block(mem, va) {
                    let base = va & !(HUGE_SIZE - 1);
                    if base < start || base + HUGE_SIZE > end {
                        self.split_huge(mem, va)?;
                    } else {
                        self.tables.unmap_huge(mem, &mut self.frames, base)?;
                        mem.discard(block, HUGE_SIZE)
                            .map_err(|e| MapError::Internal(e.to_string()))?;
                        self.frames.free_huge(block);
                        self.needs_tlb_flush = true;
                        va = base + HUGE_SIZE;
                        continue;
                    }
                }
            }
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

    fn split_huge(&mut self, mem: &mut GuestMemory, va: u64) -> Result<(), MapError> {
        if self.tables.split_huge(mem, &mut self.frames, va)? {
            self.huge_counts.split += 1;
        }
        Ok(())
    }

    /// The 2 MiB-aligned addresses in `[start, end)` whose whole 2 MiB lies
    /// in one mapping and the range (where 2 MiB pages can be). Found over
    /// the VMAs, so an enormous range of little mapped memory costs little.
    fn huge_candidates(&self, start: u64, end: u64) -> Vec<u64> {
        let first = self
            .vmas
            .range(..=start)
            .next_back()
            .map_or(start, |(&s, _)| s);
        let mut out = Vec::new();
        for (&s, v) in self.vmas.range(first..end) {
            let hi = v.end.min(end);
            let Some(mut a) = s.max(start).checked_next_multiple_of(HUGE_SIZE) else {
                continue;
            };
            while a.checked_add(HUGE_SIZE).is_some_and(|e| e <= hi) {
                out.push(a);
                a += HUGE_SIZE;
            }
        }
        out
    }

    /// Prepares `[start, end)` for a change of exactly that range: splits
    /// the 2 MiB pages it covers only in part and, with `removing`, gives
    /// the pages it covers whole private page directories. Afterwards the
    /// change itself cannot run out of page tables. Every step keeps what
    /// the guest sees, so an error here leaves the mappings as they were.
    fn prepare_huge_edit(
        &mut self,
        mem: &mut GuestMemory,
        start: u64,
        end: u64,
        removing: bool,
    ) -> Result<(), MapError> {
        if !self.huge_pages {
            return Ok(());
        }
        for addr in [start, end - 1] {
            let base = addr & !(HUGE_SIZE - 1);
            if (base < start || base + HUGE_SIZE > end)
                && self.tables.huge_block(mem, addr).is_some()
            {
                self.split_huge(mem, addr)?;
            }
        }
        if removing {
            for a in self.huge_candidates(start, end) {
                if self.tables.huge_block(mem, a).is_some() {
                    self.tables.make_private(mem, &mut self.frames, a)?;
                }
            }
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

    /// Finds a free range of `len` bytes, top-down below `MMAP_TOP`. With
    /// 2 MiB pages, a range of 2 MiB or more starts 2 MiB aligned (as Linux
    /// places anonymous mappings for its own huge pages), so whole 2 MiB of
    /// it can be 2 MiB pages.
    fn find_gap(&self, len: u64) -> Option<u64> {
        let align = if self.huge_pages && len >= HUGE_SIZE {
            HUGE_SIZE
        } else {
            PAGE_SIZE
        };
        let fit = |low: u64, top: u64| {
            top.checked_sub(len)
                .map(|a| a & !(align - 1))
                .filter(|&a| a >= low)
        };
        let mut top = MMAP_TOP;
        for (&s, v) in self.vmas.range(..MMAP_TOP).rev() {
            if v.end <= top {
                if let Some(a) = fit(v.end, top) {
                    return Some(a);
                }
            }
            top = top.min(s);
        }
        fit(MIN_USER_VA, top)
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
        if len > USER_END || len / PAGE_SIZE > self.limit_pages() {
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

    /// Pages mapped in `[start, end)`: every VMA page owns a frame (PROT_NONE
    /// ones too). Counted over the VMAs, never page by page, so a huge range
    /// costs nothing.
    fn mapped_pages_in(&self, _mem: &GuestMemory, start: u64, end: u64) -> u64 {
        let first = self
            .vmas
            .range(..=start)
            .next_back()
            .map_or(start, |(&s, _)| s);
        self.vmas
            .range(first..end)
            .map(|(&s, v)| {
                let lo = s.max(start);
                let hi = v.end.min(end);
                hi.saturating_sub(lo) / PAGE_SIZE
            })
            .sum()
    }

    /// The most user pages the memory limit allows in all.
    fn limit_pages(&self) -> u64 {
        self.frames.user_pages_left() + self.frames.user_bytes() / PAGE_SIZE
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
        self.prepare_huge_edit(mem, start, end, false)?;
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
                if va == s || va.is_multiple_of(HUGE_SIZE) {
                    // Whole (prepare_huge_edit split the partial ones): the
                    // directory entry changes its flags in place.
                    if let Some(block) = self.tables.huge_block(mem, va) {
                        if downgrade {
                            downgraded.push((block, HUGE_SIZE));
                        }
                        self.tables.set_huge_flags(mem, va, flags)?;
                        va = (va & !(HUGE_SIZE - 1)) + HUGE_SIZE;
                        continue;
                    }
                }
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

    /// True when `[start, end)` is entirely covered by mappings.
    fn covered(&self, start: u64, end: u64) -> bool {
        self.uniform_prot(start, end, false).is_some()
    }

    /// The protection of `[start, end)` when contiguous mappings cover it
    /// (with one protection when `same` is set; else the first one's).
    fn uniform_prot(&self, start: u64, end: u64, same: bool) -> Option<Prot> {
        let mut cursor = start;
        let mut prot: Option<Prot> = None;
        let first = self
            .vmas
            .range(..=start)
            .next_back()
            .map_or(start, |(&s, _)| s);
        for (&s, v) in self.vmas.range(first..end) {
            if v.end <= cursor {
                continue;
            }
            if s > cursor {
                return None;
            }
            match prot {
                None => prot = Some(v.prot),
                Some(p) if same && p != v.prot => return None,
                _ => {}
            }
            cursor = v.end;
            if cursor >= end {
                break;
            }
        }
        if cursor >= end {
            prot
        } else {
            None
        }
    }

    /// Removes the VMAs of `[start, end)` without touching their pages.
    fn forget_range(&mut self, start: u64, end: u64) {
        self.split_at(start);
        self.split_at(end);
        let inside: Vec<u64> = self.vmas.range(start..end).map(|(&s, _)| s).collect();
        for s in inside {
            self.vmas.remove(&s);
        }
    }

    /// Moves the frames of `[src, src+len)` to `[dst, dst+len)` (page-table
    /// edits only, no copy) and the VMA with them. Every destination entry is
    /// created before any source entry is removed, so running out of
    /// page-table frames leaves the source intact.
    fn move_pages(
        &mut self,
        mem: &mut GuestMemory,
        src: u64,
        len: u64,
        dst: u64,
        prot: Prot,
    ) -> Result<(), MapError> {
        let flags = prot.user_pte_flags();
        // Pages move one by one: 2 MiB pages are split first (an error here
        // leaves the mapping where it was).
        if self.huge_pages {
            self.prepare_huge_edit(mem, src, src + len, false)?;
            for a in self.huge_candidates(src, src + len) {
                self.split_huge(mem, a)?;
            }
        }
        let mut moved: Vec<(u64, u64)> = Vec::new();
        let mut off = 0;
        while off < len {
            if let Some(pa) = self.tables.frame_of(mem, src + off) {
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
                prot,
            },
        );
        // The old addresses must not stay reachable through translations the
        // guest TLB or the hypervisor cached (frames are kept, not discarded).
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for &(_, pa) in &moved {
            match runs.last_mut() {
                Some((start, l)) if *start + *l == pa => *l += PAGE_SIZE,
                _ => runs.push((pa, PAGE_SIZE)),
            }
        }
        for (pa, l) in runs {
            mem.refresh(pa, l)
                .map_err(|e| MapError::Internal(e.to_string()))?;
        }
        self.needs_tlb_flush = true;
        Ok(())
    }

    /// Linux `mremap` of anonymous memory: shrink in place, grow in place
    /// when the pages after the mapping are free, else move (with
    /// `may_move`), or move to `fixed` (MREMAP_FIXED). Pages are moved, never
    /// copied. Returns the new address.
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
            // Duplicating a mapping only exists for shared memory.
            return Err(MapError::Invalid);
        }
        let old_end = old
            .checked_add(old_len)
            .filter(|&e| e <= USER_END)
            .ok_or(MapError::NotMapped)?;
        self.check_unreserved(old, old_end)?;
        let prot = self
            .uniform_prot(old, old_end, true)
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
            return self.move_and_resize(mem, old, old_len, new_len, dst, prot);
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
            self.map_fixed(mem, old_end, grow, prot)?;
            return Ok(old);
        }
        if !may_move {
            return Err(MapError::NoMemory);
        }
        if grow / PAGE_SIZE > self.frames.user_pages_left() {
            return Err(MapError::NoMemory);
        }
        let dst = self.find_gap(new_len).ok_or(MapError::NoMemory)?;
        self.move_and_resize(mem, old, old_len, new_len, dst, prot)
    }

    fn move_and_resize(
        &mut self,
        mem: &mut GuestMemory,
        old: u64,
        old_len: u64,
        new_len: u64,
        dst: u64,
        prot: Prot,
    ) -> Result<u64, MapError> {
        if new_len < old_len {
            self.munmap(mem, old + new_len, old_len - new_len)?;
        }
        let keep = old_len.min(new_len);
        self.move_pages(mem, old, keep, dst, prot)?;
        if new_len > keep {
            if let Err(e) = self.map_fixed(mem, dst + keep, new_len - keep, prot) {
                // Put things back as they were as far as possible.
                let _ = self.move_pages(mem, dst, keep, old, prot);
                return Err(e);
            }
        }
        Ok(dst)
    }

    /// Linux `madvise`: MADV_DONTNEED (and DONTNEED_LOCKED) zero the pages
    /// (they stay mapped); every other known advice is accepted and has no
    /// effect. The range must be mapped.
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
        if dontneed {
            self.check_unreserved(start, end)?;
            let mut runs: Vec<(u64, u64)> = Vec::new();
            let mut va = start;
            while va < end {
                if let Some(pa) = self.tables.frame_of(mem, va) {
                    match runs.last_mut() {
                        Some((s, l)) if *s + *l == pa => *l += PAGE_SIZE,
                        _ => runs.push((pa, PAGE_SIZE)),
                    }
                }
                va += PAGE_SIZE;
            }
            for (pa, len) in runs {
                mem.discard(pa, len)
                    .map_err(|e| MapError::Internal(e.to_string()))?;
            }
        }
        Ok(())
    }

    /// Bytes of user memory mapped now.
    pub fn user_bytes(&self) -> u64 {
        self.frames.user_bytes()
    }

    /// Peak memory the guest used: user pages plus page tables.
    pub fn peak_bytes(&self) -> u64 {
        self.frames.peak_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::page_table::NO_EXECUTE;
    use crate::guest::user_memory::{read_virt, write_virt};

    const MIB: u64 = 1 << 20;

    fn space(limit: u64) -> (AddressSpace, GuestMemory) {
        let phys = crate::guest::layout::physical_size(limit);
        let mem = GuestMemory::new(phys as usize).expect("guest memory");
        let frames = FrameAllocator::new(0x11000, phys, limit);
        let tables = PageTables::new(0x10000);
        (AddressSpace::new(tables, frames), mem)
    }

    fn fill(a: &AddressSpace, m: &mut GuestMemory, at: u64, len: usize, seed: u8) {
        let data: Vec<u8> = (0..len).map(|i| seed.wrapping_add(i as u8)).collect();
        write_virt(a, m, at, &data).expect("write");
    }

    fn same(a: &AddressSpace, m: &GuestMemory, at: u64, len: usize, seed: u8) -> bool {
        let mut buf = vec![0u8; len];
        read_virt(a, m, at, &mut buf).is_ok()
            && buf
                .iter()
                .enumerate()
                .all(|(i, &b)| b == seed.wrapping_add(i as u8))
    }

    #[test]
    fn mremap_grows_in_place_moves_and_shrinks_keeping_contents() {
        let (mut a, mut m) = space(16 * MIB);
        let p = a
            .mmap_anonymous(&mut m, 0, 2 * PAGE_SIZE, Prot::RW, false, false)
            .expect("mmap");
        fill(&a, &mut m, p, 2 * PAGE_SIZE as usize, 7);
        // Occupy the page right after it, so growing must move.
        let blocker = p + 2 * PAGE_SIZE;
        a.mmap_anonymous(&mut m, blocker, PAGE_SIZE, Prot::RW, true, false)
            .expect("blocker");
        assert_eq!(
            a.mremap(&mut m, p, 2 * PAGE_SIZE, 8 * PAGE_SIZE, false, None),
            Err(MapError::NoMemory),
            "cannot grow in place and may not move"
        );
        let q = a
            .mremap(&mut m, p, 2 * PAGE_SIZE, 8 * PAGE_SIZE, true, None)
            .expect("moved");
        assert_ne!(q, p);
        assert!(same(&a, &m, q, 2 * PAGE_SIZE as usize, 7), "contents moved");
        let mut zero = vec![1u8; 6 * PAGE_SIZE as usize];
        read_virt(&a, &m, q + 2 * PAGE_SIZE, &mut zero).expect("tail mapped");
        assert!(zero.iter().all(|&b| b == 0), "the new tail is zero");
        assert!(a.translate(&m, p).is_none(), "the old range is gone");
        assert!(a.needs_tlb_flush);
        // Shrink in place.
        assert_eq!(
            a.mremap(&mut m, q, 8 * PAGE_SIZE, PAGE_SIZE, false, None),
            Ok(q)
        );
        assert!(a.translate(&m, q + PAGE_SIZE).is_none());
        // Grow in place when free.
        assert_eq!(
            a.mremap(&mut m, q, PAGE_SIZE, 3 * PAGE_SIZE, false, None),
            Ok(q)
        );
        assert!(same(&a, &m, q, PAGE_SIZE as usize, 7));
        // Fixed destination.
        let dst = 0x3000_0000;
        assert_eq!(
            a.mremap(&mut m, q, 3 * PAGE_SIZE, 3 * PAGE_SIZE, true, Some(dst)),
            Ok(dst)
        );
        assert!(same(&a, &m, dst, PAGE_SIZE as usize, 7));
        // Errors.
        assert_eq!(
            a.mremap(&mut m, 0x5000_0000, PAGE_SIZE, 2 * PAGE_SIZE, true, None),
            Err(MapError::NotMapped)
        );
        assert_eq!(
            a.mremap(&mut m, dst + 1, PAGE_SIZE, 2 * PAGE_SIZE, true, None),
            Err(MapError::Invalid)
        );
        assert_eq!(
            a.mremap(&mut m, dst, PAGE_SIZE, 0, true, None),
            Err(MapError::Invalid)
        );
        assert_eq!(
            a.mremap(
                &mut m,
                dst,
                PAGE_SIZE,
                2 * PAGE_SIZE,
                false,
                Some(0x6000_0000)
            ),
            Err(MapError::Invalid),
            "MREMAP_FIXED needs MREMAP_MAYMOVE"
        );
        assert_eq!(
            a.mremap(&mut m, dst, PAGE_SIZE, 1 << 40, true, None),
            Err(MapError::NoMemory),
            "more than the limit"
        );
    }

    #[test]
    fn huge_requests_fail_at_once() {
        let (mut a, mut m) = space(4 * MIB);
        let p = a
            .mmap_anonymous(&mut m, 0x1000_0000, PAGE_SIZE, Prot::RW, true, false)
            .expect("mmap");
        let start = std::time::Instant::now();
        // Overlapping MAP_FIXED and mremap of 64 TiB: refused without
        // walking 2^34 pages.
        assert_eq!(
            a.mmap_anonymous(&mut m, 0x1000_0000, 1 << 46, Prot::RW, true, false),
            Err(MapError::NoMemory)
        );
        assert_eq!(
            a.mremap(&mut m, p, PAGE_SIZE, 1 << 46, true, Some(0x2000_0000)),
            Err(MapError::NoMemory)
        );
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
        assert!(a.translate(&m, p).is_some(), "nothing changed");
    }

    #[test]
    fn mremap_refuses_ranges_with_mixed_protections() {
        let (mut a, mut m) = space(4 * MIB);
        let p = a
            .mmap_anonymous(&mut m, 0, 2 * PAGE_SIZE, Prot::RW, false, false)
            .expect("mmap");
        a.mprotect(&mut m, p + PAGE_SIZE, PAGE_SIZE, Prot::RX)
            .expect("mprotect");
        assert_eq!(
            a.mremap(&mut m, p, 2 * PAGE_SIZE, 4 * PAGE_SIZE, true, None),
            Err(MapError::NotMapped)
        );
        // One part of it is fine.
        assert!(a
            .mremap(&mut m, p, PAGE_SIZE, 4 * PAGE_SIZE, true, None)
            .is_ok());
    }

    #[test]
    fn madvise_dontneed_zeroes_and_keeps_the_mapping() {
        let (mut a, mut m) = space(4 * MIB);
        let p = a
            .mmap_anonymous(&mut m, 0, 4 * PAGE_SIZE, Prot::RW, false, false)
            .expect("mmap");
        fill(&a, &mut m, p, 4 * PAGE_SIZE as usize, 1);
        a.madvise_dontneed(&mut m, p + PAGE_SIZE, 2 * PAGE_SIZE, true)
            .expect("madvise");
        assert!(same(&a, &m, p, PAGE_SIZE as usize, 1));
        let mut mid = vec![1u8; 2 * PAGE_SIZE as usize];
        read_virt(&a, &m, p + PAGE_SIZE, &mut mid).expect("still mapped");
        assert!(mid.iter().all(|&b| b == 0));
        assert!(same(
            &a,
            &m,
            p + 3 * PAGE_SIZE,
            PAGE_SIZE as usize,
            1u8.wrapping_add((3 * PAGE_SIZE) as u8)
        ));
        // Other advice leaves data alone; unmapped ranges are ENOMEM.
        a.madvise_dontneed(&mut m, p, PAGE_SIZE, false)
            .expect("advice");
        assert!(same(&a, &m, p, PAGE_SIZE as usize, 1));
        assert_eq!(
            a.madvise_dontneed(&mut m, 0x5000_0000, PAGE_SIZE, true),
            Err(MapError::NoMemory)
        );
        assert_eq!(
            a.madvise_dontneed(&mut m, p + 1, PAGE_SIZE, true),
            Err(MapError::Invalid)
        );
    }

    #[test]
    fn reserved_pages_cannot_be_changed() {
        let (mut a, mut m) = space(4 * MIB);
        let (vvar, text) = (0x7000_0000, 0x7000_1000);
        let (vvar_pa, text_pa) = (0x3000, 0x4000);
        a.map_reserved(&mut m, vvar, &[vvar_pa], Prot::R)
            .expect("vvar");
        a.map_reserved(&mut m, text, &[text_pa], Prot::RX)
            .expect("text");
        let before = a.user_bytes();
        let t = a.translate(&m, vvar).expect("mapped");
        assert_eq!(t.pa, vvar_pa);
        assert!(t.user_readable() && !t.user_writable());
        assert!(a
            .translate(&m, text)
            .is_some_and(|t| t.flags & NO_EXECUTE == 0));
        let page = PAGE_SIZE;
        // Every way the program could unmap, move, reprotect or replace them.
        assert_eq!(a.munmap(&mut m, vvar, page), Err(MapError::Reserved));
        assert_eq!(
            a.munmap(&mut m, vvar - 16 * page, 64 * page),
            Err(MapError::Reserved),
            "a larger range around it"
        );
        assert_eq!(
            a.mprotect(&mut m, vvar, page, Prot::RW),
            Err(MapError::Reserved)
        );
        assert_eq!(
            a.mprotect(&mut m, text, page, Prot::RWX),
            Err(MapError::Reserved)
        );
        assert_eq!(
            a.mmap_anonymous(&mut m, vvar, page, Prot::RW, true, false),
            Err(MapError::Reserved)
        );
        assert_eq!(
            a.mmap_anonymous(&mut m, vvar, page, Prot::RW, false, true),
            Err(MapError::Exists)
        );
        assert_eq!(
            a.mremap(&mut m, vvar, page, 2 * page, true, None),
            Err(MapError::Reserved)
        );
        let p = a
            .mmap_anonymous(&mut m, 0, page, Prot::RW, false, false)
            .expect("mmap");
        assert_eq!(
            a.mremap(&mut m, p, page, page, true, Some(text)),
            Err(MapError::Reserved)
        );
        assert_eq!(
            a.madvise_dontneed(&mut m, vvar, page, true),
            Err(MapError::Reserved)
        );
        a.madvise_dontneed(&mut m, vvar, page, false)
            .expect("advice without effect is fine");
        // A hint there is moved elsewhere, as for any mapped range.
        let q = a
            .mmap_anonymous(&mut m, vvar, page, Prot::RW, false, false)
            .expect("hinted mmap");
        assert_ne!(q, vvar);
        // Still mapped as before; they never counted as the program's.
        assert_eq!(a.translate(&m, vvar).map(|t| t.pa), Some(vvar_pa));
        assert_eq!(a.translate(&m, text).map(|t| t.pa), Some(text_pa));
        assert_eq!(a.user_bytes(), before + 2 * page);
        // Readable for syscall buffers, never writable.
        assert!(a.accessible_ranges(false).contains(&(vvar, text + page)));
        assert!(!a
            .accessible_ranges(true)
            .iter()
            .any(|&(s, e)| s < text + page && vvar < e));
    }

    #[test]
    fn huge_fixed_mmap_over_a_mapping_is_refused_at_once() {
        // The memory check before replacing used to walk every page of the
        // requested range: 2^34 page walks for a 64 TiB MAP_FIXED, a
        // guest-triggered hang of the runner beyond any time limit.
        let (mut a, mut mem) = space(1 << 20);
        a.map_fixed(&mut mem, 0x40_0000, 0x2000, Prot::RW)
            .expect("map");
        let t = std::time::Instant::now();
        let r = a.mmap_anonymous(&mut mem, 0x40_0000, 1 << 46, Prot::RW, true, false);
        assert_eq!(r, Err(MapError::NoMemory));
        assert!(
            t.elapsed() < std::time::Duration::from_secs(1),
            "took {:?}",
            t.elapsed()
        );
        // Replacing within the limit still works and reuses the frames.
        let before = a.frames.user_bytes();
        let r = a.mmap_anonymous(&mut mem, 0x40_0000, 0x2000, Prot::RX, true, false);
        assert_eq!(r, Ok(0x40_0000));
        assert_eq!(a.frames.user_bytes(), before);
    }

    const AT: u64 = 0x4000_0000;

    /// An address space with 2 MiB pages and `len` bytes mapped RW at `AT`,
    /// filled, with the guest having "run" once since (every table sealed).
    fn huge_space(len: u64) -> (AddressSpace, GuestMemory) {
        let (mut a, mut m) = space(32 * MIB);
        a.huge_pages = true;
        a.mmap_anonymous(&mut m, AT, len, Prot::RW, true, false)
            .expect("mmap");
        fill(&a, &mut m, AT, len as usize, 3);
        assert_eq!(a.before_entry(), None, "nothing moved the root yet");
        (a, m)
    }

    #[test]
    fn whole_aligned_2_mib_become_huge_pages_and_the_rest_4_kib() {
        let (a, m) = huge_space(4 * MIB + 2 * PAGE_SIZE);
        assert_eq!(a.huge_counts.mapped, 2);
        let block = a.tables.huge_block(&m, AT).expect("2 MiB page at AT");
        assert_eq!(block % HUGE_SIZE, 0);
        assert!(a.tables.huge_block(&m, AT + 2 * MIB).is_some());
        assert!(
            a.tables.huge_block(&m, AT + 4 * MIB).is_none(),
            "tail in 4 KiB"
        );
        let t = a.translate(&m, AT + 0x12_3000).expect("mapped");
        assert_eq!(t.pa, block + 0x12_3000, "the 4 KiB frame inside the block");
        assert!(t.user_writable());
        assert_eq!(
            a.tables.frame_of(&m, AT + 0x12_3000),
            Some(block + 0x12_3000)
        );
        assert_eq!(a.frames.user_bytes(), 4 * MIB + 2 * PAGE_SIZE);
        assert!(same(&a, &m, AT, (4 * MIB + 2 * PAGE_SIZE) as usize, 3));
        // Unaligned or short mappings and spaces without the flag: 4 KiB.
        let (mut b, mut n) = space(32 * MIB);
        b.mmap_anonymous(&mut n, AT, 4 * MIB, Prot::RW, true, false)
            .expect("mmap");
        assert_eq!(b.huge_counts.mapped, 0);
        assert!(b.tables.huge_block(&n, AT).is_none());
    }

    #[test]
    fn a_hole_splits_the_page_in_copied_tables_and_moves_the_root_once() {
        let (mut a, mut m) = huge_space(4 * MIB);
        let old_root = a.tables.root;
        a.munmap(&mut m, AT + 5 * PAGE_SIZE, PAGE_SIZE)
            .expect("hole");
        assert_eq!(a.huge_counts.split, 1);
        assert!(a.tables.huge_block(&m, AT).is_none(), "split");
        assert!(
            a.tables.huge_block(&m, AT + 2 * MIB).is_some(),
            "neighbour kept"
        );
        assert!(a.translate(&m, AT + 5 * PAGE_SIZE).is_none());
        assert!(same(&a, &m, AT, 5 * PAGE_SIZE as usize, 3));
        let rest = AT + 6 * PAGE_SIZE;
        let mut buf = vec![0u8; (4 * MIB - 6 * PAGE_SIZE) as usize];
        read_virt(&a, &m, rest, &mut buf).expect("rest mapped");
        assert!(buf
            .iter()
            .enumerate()
            .all(|(i, &b)| b == 3u8.wrapping_add((i + 6 * PAGE_SIZE as usize) as u8)));
        assert_ne!(a.tables.root, old_root, "a new root");
        // A second change before the guest runs again edits the fresh copies.
        let new_root = a.tables.root;
        a.munmap(&mut m, AT + 2 * MIB + 9 * PAGE_SIZE, PAGE_SIZE)
            .expect("second hole");
        assert_eq!(a.tables.root, new_root, "the copies are still private");
        assert_eq!(a.before_entry(), Some(new_root));
        assert_eq!(a.before_entry(), None);
        assert_eq!(a.huge_counts.root_switches, 1);
        assert_eq!(a.frames.user_bytes(), 4 * MIB - 2 * PAGE_SIZE);
    }

    #[test]
    fn removing_a_whole_page_frees_its_block_and_old_tables_become_user_memory() {
        let (mut a, mut m) = huge_space(4 * MIB);
        let block = a.tables.huge_block(&m, AT).expect("huge");
        let old = a.tables.path(&m, AT);
        a.munmap(&mut m, AT, 2 * MIB).expect("munmap");
        assert_eq!(a.huge_counts.split, 0, "removed whole, not split");
        assert!(a.translate(&m, AT).is_none());
        assert!(same(&a, &m, AT + 2 * MIB, (2 * MIB) as usize, 3));
        assert_eq!(a.frames.user_bytes(), 2 * MIB);
        let new = a.tables.path(&m, AT + 2 * MIB);
        for (o, n) in old.iter().zip(new.iter()) {
            assert_ne!(o, n, "every table on the path was copied");
        }
        // The old directory and PDPT (the boot root is outside the
        // allocator) serve as user memory, zeroed, and never as tables.
        let u1 = a.frames.alloc_user().expect("user");
        let u2 = a.frames.alloc_user().expect("user");
        let mut reused = [u1, u2];
        reused.sort_unstable();
        let mut retired = [old[1], old[2]];
        retired.sort_unstable();
        assert_eq!(reused, retired);
        assert!(m
            .slice(u1, PAGE_SIZE)
            .expect("frame")
            .iter()
            .all(|&b| b == 0));
        for _ in 0..64 {
            let t = a.frames.alloc_table().expect("table");
            assert!(!retired.contains(&t));
        }
        // Mapped again: a 2 MiB page again (the freed block), zero.
        a.mmap_anonymous(&mut m, AT, 2 * MIB, Prot::RW, true, false)
            .expect("again");
        assert_eq!(a.tables.huge_block(&m, AT), Some(block));
        let mut buf = vec![1u8; (2 * MIB) as usize];
        read_virt(&a, &m, AT, &mut buf).expect("mapped");
        assert!(buf.iter().all(|&b| b == 0));
    }

    #[test]
    fn mprotect_of_whole_pages_changes_flags_in_place_and_of_part_splits() {
        let (mut a, mut m) = huge_space(4 * MIB);
        let root = a.tables.root;
        a.mprotect(&mut m, AT, 2 * MIB, Prot::R).expect("whole");
        assert_eq!(a.huge_counts.split, 0);
        assert_eq!(a.tables.root, root, "flags change in place");
        assert!(a.tables.huge_block(&m, AT).is_some());
        assert!(!a
            .translate(&m, AT + 0x1000)
            .expect("mapped")
            .user_writable());
        assert!(a.needs_tlb_flush);
        a.mprotect(&mut m, AT, 2 * MIB, Prot::NONE).expect("none");
        assert!(a.translate(&m, AT).is_none(), "PROT_NONE");
        assert!(a.tables.frame_of(&m, AT).is_some(), "the block is kept");
        a.mprotect(&mut m, AT, 2 * MIB, Prot::RW).expect("back");
        assert!(same(&a, &m, AT, (4 * MIB) as usize, 3));
        // Part of the second page: split, the rest keeps its protection.
        a.mprotect(&mut m, AT + 2 * MIB + PAGE_SIZE, PAGE_SIZE, Prot::R)
            .expect("part");
        assert_eq!(a.huge_counts.split, 1);
        assert!(!a
            .translate(&m, AT + 2 * MIB + PAGE_SIZE)
            .expect("mapped")
            .user_writable());
        assert!(a
            .translate(&m, AT + 2 * MIB)
            .expect("mapped")
            .user_writable());
        assert!(a
            .translate(&m, AT + 2 * MIB + 2 * PAGE_SIZE)
            .expect("mapped")
            .user_writable());
        assert!(same(&a, &m, AT, (4 * MIB) as usize, 3));
    }

    #[test]
    fn mremap_and_madvise_work_on_huge_pages() {
        let (mut a, mut m) = huge_space(4 * MIB);
        a.madvise_dontneed(&mut m, AT + 3 * PAGE_SIZE, PAGE_SIZE, true)
            .expect("madvise");
        let mut page = vec![1u8; PAGE_SIZE as usize];
        read_virt(&a, &m, AT + 3 * PAGE_SIZE, &mut page).expect("mapped");
        assert!(page.iter().all(|&b| b == 0), "zeroed");
        assert!(same(&a, &m, AT, 3 * PAGE_SIZE as usize, 3));
        fill(&a, &mut m, AT, (4 * MIB) as usize, 4);
        let dst = 0x5000_0000;
        let q = a
            .mremap(&mut m, AT, 4 * MIB, 4 * MIB, true, Some(dst))
            .expect("moved");
        assert_eq!(q, dst);
        assert!(same(&a, &m, dst, (4 * MIB) as usize, 4));
        assert!(a.translate(&m, AT).is_none());
        assert_eq!(a.frames.user_bytes(), 4 * MIB);
    }

    #[test]
    fn running_out_of_page_tables_leaves_the_mapping_intact() {
        let (mut a, mut m) = huge_space(4 * MIB);
        while a.frames.alloc_table().is_some() {}
        a.before_entry();
        let root = a.tables.root;
        assert_eq!(
            a.munmap(&mut m, AT + PAGE_SIZE, PAGE_SIZE),
            Err(MapError::NoMemory)
        );
        assert_eq!(
            a.mprotect(&mut m, AT + PAGE_SIZE, PAGE_SIZE, Prot::R),
            Err(MapError::NoMemory)
        );
        assert_eq!(a.munmap(&mut m, AT, 2 * MIB), Err(MapError::NoMemory));
        assert_eq!(a.tables.root, root);
        assert!(a.tables.huge_block(&m, AT).is_some());
        assert!(a
            .translate(&m, AT + PAGE_SIZE)
            .expect("mapped")
            .user_writable());
        assert!(same(&a, &m, AT, (4 * MIB) as usize, 3));
        assert_eq!(a.frames.user_bytes(), 4 * MIB);
        assert!(a.covered(AT, AT + 4 * MIB), "the mappings are all there");
    }
}

//! Copy-on-write: what a write to a page whose frame a fork shared does.
//! The program's write faults (`resolve_cow`, called by the run loop for a
//! user-mode write fault on a present page); the runner's own write into
//! the program's memory (a syscall's result, through the tunnel) does the
//! same first (`prepare_write`), so a buffer never lands in a frame that
//! another process still maps.

use super::{AddressSpace, MapError};
use crate::guest::layout::USER_END;
use crate::guest::page_table::{PageTables, COPY_ON_WRITE, PRESENT};
use thinvisor_kmod::{GuestMemory, PAGE_SIZE};

impl AddressSpace {
    /// Whether a mapping holds `va` and allows writing.
    pub fn writable_at(&self, va: u64) -> bool {
        self.vma_at(va).is_some_and(|(_, v)| v.prot.write)
    }

    /// A user-mode write fault at `va` on a present page. When `va` lies in
    /// a writable mapping and its leaf is copy-on-write, the page becomes
    /// writable: in place when no other address space maps the frame any
    /// more, else with a private copy of the 4 KiB (a new frame, counted
    /// against the limit: [`MapError::NoMemory`] past it). The old frame
    /// loses one owner and is refreshed, and `needs_tlb_flush` is set, so
    /// that neither this vCPU, the others of this space, nor the
    /// hypervisor keeps the translation to the frame left behind.
    ///
    /// Ok(true): retry the faulting instruction. That includes a page that
    /// is writable already (another vCPU of this space resolved the same
    /// fault first; this one faulted on a stale translation). Ok(false):
    /// not a copy-on-write fault; the caller delivers SIGSEGV.
    pub fn resolve_cow(&mut self, mem: &mut GuestMemory, va: u64) -> Result<bool, MapError> {
        if va >= USER_END {
            return Ok(false);
        }
        let page = va & !(PAGE_SIZE - 1);
        let Some((_, vma)) = self.vma_at(page).filter(|(_, v)| v.prot.write) else {
            return Ok(false);
        };
        let Some(entry) = self.tables.leaf(mem, page) else {
            return Ok(false);
        };
        if entry & COPY_ON_WRITE == 0 || entry & PRESENT == 0 {
            return Ok(self
                .tables
                .translate(mem, page)
                .is_some_and(|t| t.user_writable()));
        }
        let old = PageTables::leaf_frame(entry);
        let flags = vma.prot.user_pte_flags();
        if !self.frames.is_shared_frame(old) {
            // The last owner: no copy, and nothing to drop (W is added).
            self.tables.set_private(mem, page, old, flags)?;
            return Ok(true);
        }
        let new = self.frames.alloc_user().ok_or(MapError::NoMemory)?;
        let mut bytes = [0u8; PAGE_SIZE as usize];
        mem.read(old, &mut bytes)?;
        mem.write(new, &bytes)?;
        self.tables.set_private(mem, page, new, flags)?;
        if !self.frames.free_user(mem, old)? {
            mem.refresh(old, PAGE_SIZE)?;
        }
        self.needs_tlb_flush = true;
        Ok(true)
    }

    /// Makes every present page of the mappings that are both writable
    /// and executable fault on its next write by the program, once:
    /// `resolve_cow` then makes it writable in place (its frame is this
    /// space's alone), and the run loop, seeing a write fault resolved in
    /// executable memory, knows the program wrote to its code (an audited
    /// run, `--verdict`). Returns how many pages are watched.
    pub fn watch_code_writes(&mut self, mem: &mut GuestMemory) -> Result<u64, MapError> {
        let code: Vec<(u64, u64)> = self
            .vmas
            .iter()
            .filter(|(_, v)| v.prot.write && v.prot.exec)
            .map(|(&s, v)| (s, v.end))
            .collect();
        let mut watched = 0;
        for (start, end) in code {
            let mut va = start;
            while va < end {
                if self.tables.watch_writes(mem, va)? {
                    watched += 1;
                }
                va += PAGE_SIZE;
            }
        }
        if watched > 0 {
            self.needs_tlb_flush = true;
        }
        Ok(watched)
    }

    /// The runs of pages in `[start, end)` that have been written since
    /// they were mapped (D bits), as (address, length), in order.
    pub fn dirty_runs(&self, mem: &GuestMemory, start: u64, end: u64) -> Vec<(u64, u64)> {
        let mut runs: Vec<(u64, u64)> = Vec::new();
        let mut page = start & !(PAGE_SIZE - 1);
        while page < end {
            if self.tables.is_dirty(mem, page) {
                match runs.last_mut() {
                    Some((s, l)) if *s + *l == page => *l += PAGE_SIZE,
                    _ => runs.push((page, PAGE_SIZE)),
                }
            }
            page += PAGE_SIZE;
        }
        runs
    }

    /// Clears the D bits of `[start, end)`: pages the runner just filled
    /// for a mapping no vCPU has used yet, which are not dirty.
    pub fn clear_dirty(
        &mut self,
        mem: &mut GuestMemory,
        start: u64,
        end: u64,
    ) -> Result<(), MapError> {
        let mut page = start & !(PAGE_SIZE - 1);
        while page < end {
            self.tables.set_dirty(mem, page, false)?;
            page += PAGE_SIZE;
        }
        Ok(())
    }

    /// Before the runner writes `[va, va + len)` for the program: every
    /// copy-on-write page of it in a writable mapping gets a frame of its
    /// own ([`AddressSpace::resolve_cow`]), as the program's own write
    /// would. Pages that are not copy-on-write are left for the caller's
    /// check (the tunnel's walk) to accept or refuse.
    pub fn prepare_write(
        &mut self,
        mem: &mut GuestMemory,
        va: u64,
        len: u64,
    ) -> Result<(), MapError> {
        if len == 0 {
            return Ok(());
        }
        let end = va.checked_add(len).ok_or(MapError::Invalid)?;
        let mut page = va & !(PAGE_SIZE - 1);
        while page < end {
            let marked = self
                .tables
                .leaf(mem, page)
                .is_some_and(|e| e & COPY_ON_WRITE != 0);
            if marked && self.writable_at(page) {
                self.resolve_cow(mem, page)?;
            }
            // The runner's write is the program's: a page of a shared
            // mapping it writes must be written back like one the program
            // wrote itself (kernel/file_maps.rs).
            if self.shared_at(page) && self.writable_at(page) {
                self.tables.set_dirty(mem, page, true)?;
            }
            page = match page.checked_add(PAGE_SIZE) {
                Some(p) => p,
                None => break,
            };
        }
        Ok(())
    }
}

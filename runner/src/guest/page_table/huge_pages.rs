//! 2 MiB pages in the tables: mapping one into an empty directory entry,
//! changing its flags in place, and splitting or removing one in private
//! copies of the tables on the path from the root (the root moves).

use super::{index, is_huge_leaf, PageTableError, PageTables};
use super::{ADDR_MASK, HUGE, HUGE_ADDR_MASK, PRESENT, TABLE_FLAGS};
use crate::guest::frames::{FrameAllocator, HUGE_PAGES, HUGE_SIZE};
use thinvisor_kmod::{GuestMemory, PAGE_SIZE};

impl PageTables {
    /// The 2 MiB page that holds `va`: its block's guest-physical base, or
    /// None when `va` is mapped with 4 KiB pages or not at all.
    pub fn huge_block(&self, mem: &GuestMemory, va: u64) -> Option<u64> {
        self.pd_entry(mem, va)
            .filter(|&(_, e)| is_huge_leaf(e))
            .map(|(_, e)| e & HUGE_ADDR_MASK)
    }

    /// Maps the 2 MiB block `block` at `va` (2 MiB aligned) with one
    /// page-directory entry. Only into an empty entry: false (nothing
    /// changed) when the directory already has a table or page there.
    pub fn map_huge(
        &self,
        mem: &mut GuestMemory,
        frames: &mut FrameAllocator,
        va: u64,
        block: u64,
        flags: u64,
    ) -> Result<bool, PageTableError> {
        debug_assert!(va.is_multiple_of(HUGE_SIZE) && block.is_multiple_of(HUGE_SIZE));
        let at = self
            .entry_at(mem, va, 1, Some(frames))?
            .ok_or(PageTableError::OutOfTables)?;
        if mem.read_u64(at)? != 0 {
            return Ok(false);
        }
        mem.write_u64(at, (block & HUGE_ADDR_MASK) | flags | HUGE)?;
        Ok(true)
    }

    /// Changes the flags of the 2 MiB page at `va`, keeping its block.
    pub fn set_huge_flags(
        &self,
        mem: &mut GuestMemory,
        va: u64,
        flags: u64,
    ) -> Result<bool, PageTableError> {
        let Some((at, entry)) = self.pd_entry(mem, va).filter(|&(_, e)| is_huge_leaf(e)) else {
            return Ok(false);
        };
        let kept = entry & (super::ACCESSED | super::DIRTY);
        mem.write_u64(at, (entry & HUGE_ADDR_MASK) | flags | kept | HUGE)?;
        Ok(true)
    }

    /// Tables on the path to `va`'s page directory (root, PDPT, PD) that
    /// the guest may have used, and so must be copied before a structural
    /// edit there.
    fn copies_needed(&self, mem: &GuestMemory, frames: &FrameAllocator, va: u64) -> u64 {
        let mut n = u64::from(!frames.is_fresh_table(self.root));
        let mut table = self.root;
        for level in [3, 2] {
            let Ok(entry) = mem.read_u64(table + index(va, level) * 8) else {
                return n;
            };
            table = entry & ADDR_MASK;
            n += u64::from(!frames.is_fresh_table(table));
        }
        n
    }

    /// A fresh copy of the table at `src`; the old frame is retired.
    fn copy_table(
        mem: &mut GuestMemory,
        frames: &mut FrameAllocator,
        src: u64,
    ) -> Result<u64, PageTableError> {
        let new = frames.alloc_table().ok_or(PageTableError::OutOfTables)?;
        let content = mem.slice(src, PAGE_SIZE)?.to_vec();
        mem.write(new, &content)?;
        frames.retire_table(mem, src)?;
        Ok(new)
    }

    /// Makes the page directory for `va` one the guest has never used, by
    /// copying every table on the path from the root that it may have used
    /// (the root included: `self.root` moves). Returns the directory. The
    /// caller has checked that the copies can be allocated.
    fn private_directory(
        &mut self,
        mem: &mut GuestMemory,
        frames: &mut FrameAllocator,
        va: u64,
    ) -> Result<u64, PageTableError> {
        if self.mirror.is_some() {
            // The monitor's root shares these tables and cannot move:
            // 2 MiB pages are never built for a run with the monitor.
            return Err(PageTableError::Huge(va));
        }
        if !frames.is_fresh_table(self.root) {
            self.root = Self::copy_table(mem, frames, self.root)?;
        }
        let mut table = self.root;
        for level in [3, 2] {
            let slot = table + index(va, level) * 8;
            let entry = mem.read_u64(slot)?;
            if entry & PRESENT == 0 {
                return Err(PageTableError::Huge(va));
            }
            let mut child = entry & ADDR_MASK;
            if !frames.is_fresh_table(child) {
                child = Self::copy_table(mem, frames, child)?;
                mem.write_u64(slot, (entry & !ADDR_MASK) | child)?;
            }
            table = child;
        }
        Ok(table)
    }

    /// Gives `va`'s page directory (and the tables above it) private
    /// copies where the guest may have used them, so that a 2 MiB page
    /// there can be removed without allocating. Nothing changes on error.
    pub fn make_private(
        &mut self,
        mem: &mut GuestMemory,
        frames: &mut FrameAllocator,
        va: u64,
    ) -> Result<(), PageTableError> {
        if !frames.tables_available(self.copies_needed(mem, frames, va)) {
            return Err(PageTableError::OutOfTables);
        }
        self.private_directory(mem, frames, va).map(|_| ())
    }

    /// Replaces the 2 MiB page holding `va` by a table of 512 4 KiB entries
    /// with the same frames and flags (in a private copy of the directory).
    /// False when `va` is not in a 2 MiB page. Nothing changes on error.
    pub fn split_huge(
        &mut self,
        mem: &mut GuestMemory,
        frames: &mut FrameAllocator,
        va: u64,
    ) -> Result<bool, PageTableError> {
        if self.huge_block(mem, va).is_none() {
            return Ok(false);
        }
        if !frames.tables_available(self.copies_needed(mem, frames, va) + 1) {
            return Err(PageTableError::OutOfTables);
        }
        let directory = self.private_directory(mem, frames, va)?;
        let at = directory + index(va, 1) * 8;
        let entry = mem.read_u64(at)?;
        let table = frames.alloc_table().ok_or(PageTableError::OutOfTables)?;
        let flags = entry & !HUGE_ADDR_MASK & !HUGE;
        let base = entry & HUGE_ADDR_MASK;
        let mut entries = Vec::with_capacity(PAGE_SIZE as usize);
        for i in 0..HUGE_PAGES {
            entries.extend_from_slice(&((base + i * PAGE_SIZE) | flags).to_le_bytes());
        }
        mem.write(table, &entries)?;
        mem.write_u64(at, table | TABLE_FLAGS)?;
        Ok(true)
    }

    /// Removes the 2 MiB page holding `va` (in a private copy of the
    /// directory); returns its block. Nothing changes on error.
    pub fn unmap_huge(
        &mut self,
        mem: &mut GuestMemory,
        frames: &mut FrameAllocator,
        va: u64,
    ) -> Result<Option<u64>, PageTableError> {
        let Some(block) = self.huge_block(mem, va) else {
            return Ok(None);
        };
        if !frames.tables_available(self.copies_needed(mem, frames, va)) {
            return Err(PageTableError::OutOfTables);
        }
        let directory = self.private_directory(mem, frames, va)?;
        mem.write_u64(directory + index(va, 1) * 8, 0)?;
        Ok(Some(block))
    }

    /// The tables on the path to `va`'s page directory: root, PDPT, PD.
    #[cfg(test)]
    pub fn path(&self, mem: &GuestMemory, va: u64) -> [u64; 3] {
        let pdpt = mem.read_u64(self.root + index(va, 3) * 8).expect("PML4E") & ADDR_MASK;
        let pd = mem.read_u64(pdpt + index(va, 2) * 8).expect("PDPTE") & ADDR_MASK;
        [self.root, pdpt, pd]
    }
}

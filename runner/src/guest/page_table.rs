//! 4-level x86-64 page tables kept in guest memory and edited by the runner.
//! The page-table frames are never mapped into the guest's address space, so
//! the walk the runner does here is authoritative for what the guest can reach.
//!
//! Leaves are 4 KiB page-table entries or 2 MiB page-directory entries
//! (PS=1). The runner writes the tables through host memory, which a
//! shadow-paging hypervisor (kvm_pvm) does not see, so every edit keeps to
//! what such a hypervisor tolerates (docs/architecture.md, "2 MiB pages"):
//! an entry the guest may have used is only ever made present where it was
//! empty, or changed in its flags or (4 KiB leaves) its frame, with the
//! caller dropping cached translations of downgraded frames. Anything else
//! (removing or splitting a 2 MiB page) happens in copies of the tables on
//! the path from the root, and the guest is switched to the new root.

use super::frames::{FrameAllocator, HUGE_PAGES, HUGE_SIZE};
use thinvisor_kmod::{GuestMemory, KmodError, PAGE_SIZE};

pub const PRESENT: u64 = 1 << 0;
pub const WRITABLE: u64 = 1 << 1;
pub const USER: u64 = 1 << 2;
/// Software bit: the entry owns a frame even while not present (PROT_NONE).
pub const BACKED: u64 = 1 << 9;
/// PS in a page-directory entry: the entry maps a 2 MiB page itself.
pub const HUGE: u64 = 1 << 7;
pub const NO_EXECUTE: u64 = 1 << 63;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
const HUGE_ADDR_MASK: u64 = 0x000f_ffff_ffe0_0000;
/// Flags of intermediate tables: the leaf decides the real permissions.
const TABLE_FLAGS: u64 = PRESENT | WRITABLE | USER;

/// Protection of one page, as the guest asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prot {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

impl Prot {
    #[cfg(test)]
    pub const NONE: Prot = Prot {
        read: false,
        write: false,
        exec: false,
    };
    pub const R: Prot = Prot {
        read: true,
        write: false,
        exec: false,
    };
    pub const RW: Prot = Prot {
        read: true,
        write: true,
        exec: false,
    };
    pub const RX: Prot = Prot {
        read: true,
        write: false,
        exec: true,
    };
    pub const RWX: Prot = Prot {
        read: true,
        write: true,
        exec: true,
    };

    /// From mmap/mprotect PROT_* bits.
    pub fn from_linux(prot: u64) -> Prot {
        Prot {
            read: prot & 1 != 0,
            write: prot & 2 != 0,
            exec: prot & 4 != 0,
        }
    }

    /// Leaf-entry flags for a user page with this protection. x86 cannot
    /// express write-only or exec-only: they imply read, as on Linux.
    pub fn user_pte_flags(self) -> u64 {
        if !(self.read || self.write || self.exec) {
            return BACKED;
        }
        let mut f = PRESENT | USER | BACKED;
        if self.write {
            f |= WRITABLE;
        }
        if !self.exec {
            f |= NO_EXECUTE;
        }
        f
    }
}

/// What a walk found for one virtual page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translation {
    pub pa: u64,
    pub flags: u64,
}

impl Translation {
    pub fn user_readable(&self) -> bool {
        self.flags & (PRESENT | USER) == PRESENT | USER
    }
    pub fn user_writable(&self) -> bool {
        self.user_readable() && self.flags & WRITABLE != 0
    }
}

/// Errors of page-table edits.
#[derive(Debug, thiserror::Error)]
pub enum PageTableError {
    #[error("out of guest memory for page tables")]
    OutOfTables,
    #[error("internal: the 2 MiB page at {0:#x} must be split before a 4 KiB edit")]
    Huge(u64),
    #[error(transparent)]
    Memory(#[from] KmodError),
}

fn index(va: u64, level: u32) -> u64 {
    (va >> (12 + 9 * level)) & 0x1ff
}

/// A page-directory entry that maps a 2 MiB page (present or PROT_NONE).
fn is_huge_leaf(entry: u64) -> bool {
    entry & HUGE != 0 && entry & (PRESENT | BACKED) != 0
}

/// The 4 KiB frame of `va` inside the 2 MiB page of `entry`.
fn frame_in_huge(entry: u64, va: u64) -> u64 {
    (entry & HUGE_ADDR_MASK) + (va & (HUGE_SIZE - 1) & !(PAGE_SIZE - 1))
}

/// The page tables rooted at `root` (a guest-physical address). The root
/// moves when a 2 MiB page is removed or split (the caller loads the new
/// one into CR3 before the guest runs again).
///
/// `mirror`, when set, is a second root (the in-VM monitor's, M) that
/// shares every user-half table below the PML4 with `root`: each user-half
/// PML4 entry created here is copied into it with NX set, so M sees all of
/// the program's memory but can never execute it (docs/monitor.md).
#[derive(Debug, Clone, Copy)]
pub struct PageTables {
    pub root: u64,
    pub mirror: Option<u64>,
}

/// PML4 slots of the user half (0..256).
const USER_PML4_SLOTS: u64 = 256;

impl PageTables {
    /// Tables rooted at `root`, without a mirror.
    pub fn new(root: u64) -> PageTables {
        PageTables { root, mirror: None }
    }

    /// Copies every present user-half PML4 entry of `root` into `mirror`
    /// with NX set (used once when the mirror is attached).
    pub fn sync_mirror(&self, mem: &mut GuestMemory) -> Result<(), PageTableError> {
        let Some(mirror) = self.mirror else {
            return Ok(());
        };
        for slot in 0..USER_PML4_SLOTS {
            let entry = mem.read_u64(self.root + slot * 8)?;
            let copy = if entry & PRESENT != 0 {
                entry | NO_EXECUTE
            } else {
                0
            };
            mem.write_u64(mirror + slot * 8, copy)?;
        }
        Ok(())
    }

    /// Address of the entry for `va` at `stop` (0: the 4 KiB leaf, 1: the
    /// page-directory entry), creating missing tables when `alloc` is given.
    /// A 2 MiB page on the way to a 4 KiB leaf is an error: split it first.
    fn entry_at(
        &self,
        mem: &mut GuestMemory,
        va: u64,
        stop: u32,
        mut alloc: Option<&mut FrameAllocator>,
    ) -> Result<Option<u64>, PageTableError> {
        let mut table = self.root;
        for level in (stop + 1..=3).rev() {
            let entry_pa = table + index(va, level) * 8;
            let entry = mem.read_u64(entry_pa)?;
            if level == 1 && is_huge_leaf(entry) {
                return Err(PageTableError::Huge(va));
            }
            if entry & PRESENT == 0 {
                let Some(frames) = alloc.as_deref_mut() else {
                    return Ok(None);
                };
                let new = frames.alloc_table().ok_or(PageTableError::OutOfTables)?;
                mem.zero(new, PAGE_SIZE)?;
                mem.write_u64(entry_pa, new | TABLE_FLAGS)?;
                if level == 3 && index(va, 3) < USER_PML4_SLOTS {
                    if let Some(mirror) = self.mirror {
                        let slot = mirror + index(va, 3) * 8;
                        mem.write_u64(slot, new | TABLE_FLAGS | NO_EXECUTE)?;
                    }
                }
                table = new;
            } else {
                table = entry & ADDR_MASK;
            }
        }
        Ok(Some(table + index(va, stop) * 8))
    }

    /// Address of the 4 KiB leaf entry for `va`.
    fn leaf_entry(
        &self,
        mem: &mut GuestMemory,
        va: u64,
        alloc: Option<&mut FrameAllocator>,
    ) -> Result<Option<u64>, PageTableError> {
        self.entry_at(mem, va, 0, alloc)
    }

    /// The page-directory entry for `va` (its address and value), without
    /// creating anything.
    fn pd_entry(&self, mem: &GuestMemory, va: u64) -> Option<(u64, u64)> {
        let mut table = self.root;
        for level in [3, 2] {
            let entry = mem.read_u64(table + index(va, level) * 8).ok()?;
            if entry & PRESENT == 0 {
                return None;
            }
            table = entry & ADDR_MASK;
        }
        let at = table + index(va, 1) * 8;
        Some((at, mem.read_u64(at).ok()?))
    }

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
        mem.write_u64(at, (entry & HUGE_ADDR_MASK) | flags | HUGE)?;
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
        if frames.retire_table(src) {
            mem.discard(src, PAGE_SIZE)?;
        }
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

    /// Maps one 4 KiB page (user or supervisor, as `flags` say).
    pub fn map(
        &self,
        mem: &mut GuestMemory,
        frames: &mut FrameAllocator,
        va: u64,
        pa: u64,
        flags: u64,
    ) -> Result<(), PageTableError> {
        let entry = self
            .leaf_entry(mem, va, Some(frames))?
            .ok_or(PageTableError::OutOfTables)?;
        mem.write_u64(entry, (pa & ADDR_MASK) | flags)?;
        Ok(())
    }

    /// Removes the mapping of a page; returns the frame it had, if any.
    pub fn unmap(&self, mem: &mut GuestMemory, va: u64) -> Result<Option<u64>, PageTableError> {
        let Some(entry_pa) = self.leaf_entry(mem, va, None)? else {
            return Ok(None);
        };
        let entry = mem.read_u64(entry_pa)?;
        mem.write_u64(entry_pa, 0)?;
        Ok((entry & (PRESENT | BACKED) != 0).then_some(entry & ADDR_MASK))
    }

    /// Changes the flags of a mapped page, keeping its frame. Returns false
    /// when the page has no frame.
    pub fn set_flags(
        &self,
        mem: &mut GuestMemory,
        va: u64,
        flags: u64,
    ) -> Result<bool, PageTableError> {
        let Some(entry_pa) = self.leaf_entry(mem, va, None)? else {
            return Ok(false);
        };
        let entry = mem.read_u64(entry_pa)?;
        if entry & (PRESENT | BACKED) == 0 {
            return Ok(false);
        }
        mem.write_u64(entry_pa, (entry & ADDR_MASK) | flags)?;
        Ok(true)
    }

    /// The frame a user page owns, present or not (PROT_NONE pages keep
    /// theirs with the BACKED bit). None when the page has no frame.
    pub fn frame_of(&self, mem: &GuestMemory, va: u64) -> Option<u64> {
        let mut table = self.root;
        for level in (1..=3).rev() {
            let entry = mem.read_u64(table + index(va, level) * 8).ok()?;
            if level == 1 && is_huge_leaf(entry) {
                return Some(frame_in_huge(entry, va));
            }
            if entry & PRESENT == 0 || entry & HUGE != 0 {
                return None;
            }
            table = entry & ADDR_MASK;
        }
        let entry = mem.read_u64(table + index(va, 0) * 8).ok()?;
        (entry & (PRESENT | BACKED) != 0).then_some(entry & ADDR_MASK)
    }

    /// Walks the tables for `va` as the CPU would, combining the permission
    /// bits of every level. None when not present at some level.
    pub fn translate(&self, mem: &GuestMemory, va: u64) -> Option<Translation> {
        let mut table = self.root;
        let mut user_and_write = USER | WRITABLE;
        let mut nx = 0;
        for level in (0..=3).rev() {
            let entry = mem.read_u64(table + index(va, level) * 8).ok()?;
            if entry & PRESENT == 0 {
                return None;
            }
            user_and_write &= entry;
            nx |= entry & NO_EXECUTE;
            if level == 1 && entry & HUGE != 0 {
                return Some(Translation {
                    pa: frame_in_huge(entry, va),
                    flags: PRESENT | user_and_write | nx,
                });
            }
            // This runner never builds 1 GiB pages; refuse to interpret one.
            if level > 1 && entry & HUGE != 0 {
                return None;
            }
            table = entry & ADDR_MASK;
        }
        Some(Translation {
            pa: table,
            flags: PRESENT | user_and_write | nx,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_translate_protect_unmap() {
        let mut mem = GuestMemory::new(0x40000).expect("mem");
        let mut frames = FrameAllocator::new(0x2000, 0x40000, 0x10000);
        let pt = PageTables::new(0x1000);
        let frame = frames.alloc_user().expect("frame");
        pt.map(
            &mut mem,
            &mut frames,
            0x40_0000,
            frame,
            Prot::RW.user_pte_flags(),
        )
        .expect("map");
        let t = pt.translate(&mem, 0x40_0000).expect("mapped");
        assert_eq!(t.pa, frame);
        assert!(t.user_writable());
        assert!(pt.translate(&mem, 0x40_1000).is_none());
        assert!(pt
            .set_flags(&mut mem, 0x40_0000, Prot::from_linux(1).user_pte_flags())
            .expect("prot"));
        assert!(!pt
            .translate(&mem, 0x40_0000)
            .expect("still mapped")
            .user_writable());
        assert!(pt
            .set_flags(&mut mem, 0x40_0000, Prot::NONE.user_pte_flags())
            .expect("none"));
        assert!(pt.translate(&mem, 0x40_0000).is_none());
        assert_eq!(pt.unmap(&mut mem, 0x40_0000).expect("unmap"), Some(frame));
        assert_eq!(pt.unmap(&mut mem, 0x40_0000).expect("unmap twice"), None);
    }

    #[test]
    fn user_half_pml4_entries_are_mirrored_with_nx() {
        let mut mem = GuestMemory::new(0x40000).expect("mem");
        let mut frames = FrameAllocator::new(0x3000, 0x40000, 0x10000);
        let pt = PageTables {
            root: 0x1000,
            mirror: Some(0x2000),
        };
        let frame = frames.alloc_user().expect("frame");
        pt.map(
            &mut mem,
            &mut frames,
            0x40_0000,
            frame,
            Prot::RWX.user_pte_flags(),
        )
        .expect("map");
        let u = mem.read_u64(0x1000).expect("U slot 0");
        let m = mem.read_u64(0x2000).expect("M slot 0");
        assert_eq!(m, u | NO_EXECUTE, "same PDPT, NX in M");
        // The monitor's walk sees the page, never executable.
        let seen = PageTables::new(0x2000)
            .translate(&mem, 0x40_0000)
            .expect("mapped in M");
        assert_eq!(seen.pa, frame);
        assert_ne!(seen.flags & NO_EXECUTE, 0);
        // A second slot created later is mirrored too; kernel-half slots never.
        let f2 = frames.alloc_user().expect("frame");
        pt.map(
            &mut mem,
            &mut frames,
            0x7fff_0000_0000,
            f2,
            Prot::RW.user_pte_flags(),
        )
        .expect("map high");
        assert_eq!(
            mem.read_u64(0x2000 + 255 * 8).expect("M slot 255"),
            mem.read_u64(0x1000 + 255 * 8).expect("U slot 255") | NO_EXECUTE
        );
        pt.map(
            &mut mem,
            &mut frames,
            0xffff_ffff_8000_0000,
            0x3000,
            PRESENT,
        )
        .expect("map kernel");
        assert_eq!(mem.read_u64(0x2000 + 511 * 8).expect("M slot 511"), 0);
    }
}

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
//!
//! 2 MiB pages, and the copies on the path from the root their removal and
//! splitting need, are in `huge_pages.rs`; copying the user half for a
//! forked address space in `fork.rs`, and freeing it in `teardown.rs`.

use super::frames::{FrameAllocator, HUGE_SIZE};
use crate::abi::constants::{PROT_EXEC, PROT_READ, PROT_WRITE};
use thinvisor_kmod::{GuestMemory, KmodError, PAGE_SIZE};

mod fork;
mod huge_pages;
mod teardown;
#[cfg(test)]
mod tests;

pub use fork::LeafSharing;

pub const PRESENT: u64 = 1 << 0;
pub const WRITABLE: u64 = 1 << 1;
pub const USER: u64 = 1 << 2;
/// Software bit: the entry owns a frame even while not present (PROT_NONE).
pub const BACKED: u64 = 1 << 9;
/// Software bit of a 4 KiB leaf: copy-on-write. Its frame may be mapped by
/// another address space too (a fork shared it), so the leaf stays
/// without W whatever the protection says until the address space has a
/// frame of its own (`AddressSpace::resolve_cow`). Every leaf whose frame
/// a fork shared carries it, read-only mappings included, so that a later
/// mprotect cannot make a shared frame writable ([`PageTables::set_flags`]
/// keeps it); except the leaves of shared mappings (MAP_SHARED), whose
/// frames are meant to be written by every process that maps them. Bit 10 is free for software in every paging mode and used
/// nowhere else in the runner or the monitor.
pub const COPY_ON_WRITE: u64 = 1 << 10;
/// Set by the CPU when a page is accessed, and written: kept by every
/// change of flags ([`PageTables::set_flags`]), since a page written
/// through a shared file mapping must be written back to the file.
pub const ACCESSED: u64 = 1 << 5;
pub const DIRTY: u64 = 1 << 6;
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
    pub const NONE: Prot = Prot {
        read: false,
        write: false,
        exec: false,
    };
    /// PROT_NONE: no access at all.
    pub fn is_none(self) -> bool {
        !(self.read || self.write || self.exec)
    }

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
            read: prot & PROT_READ != 0,
            write: prot & PROT_WRITE != 0,
            exec: prot & PROT_EXEC != 0,
        }
    }

    /// Leaf-entry flags for a user page with this protection. x86 cannot
    /// express write-only or exec-only: they imply read, as on Linux.
    pub const fn user_pte_flags(self) -> u64 {
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
    /// The 4 KiB leaf is copy-on-write ([`COPY_ON_WRITE`]).
    pub fn copy_on_write(&self) -> bool {
        self.flags & COPY_ON_WRITE != 0
    }
}

/// `flags` for a leaf that was `old`: without W and with the marker when
/// `old` is copy-on-write (a shared frame never becomes writable through a
/// change of protection or a move).
pub fn keep_copy_on_write(old: u64, flags: u64) -> u64 {
    if old & COPY_ON_WRITE != 0 {
        (flags & !WRITABLE) | COPY_ON_WRITE
    } else {
        flags
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

    /// Changes the flags of a mapped page, keeping its frame and its
    /// copy-on-write marker ([`keep_copy_on_write`]). Returns false when
    /// the page has no frame.
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
        let flags = keep_copy_on_write(entry, flags) | (entry & (ACCESSED | DIRTY));
        mem.write_u64(entry_pa, (entry & ADDR_MASK) | flags)?;
        Ok(true)
    }

    /// Whether the page of `va` has been written (the D bit of its 4 KiB
    /// leaf, or of its 2 MiB page), by the program or by the runner for it
    /// ([`PageTables::mark_dirty`]).
    pub fn is_dirty(&self, mem: &GuestMemory, va: u64) -> bool {
        match self.pd_entry(mem, va) {
            Some((_, pde)) if is_huge_leaf(pde) => pde & DIRTY != 0,
            _ => self.leaf_at(mem, va).is_some_and(|(_, e)| e & DIRTY != 0),
        }
    }

    /// For each of the `count` pages from `start` (page-aligned), 1 when
    /// it is mapped and has been used: read or written by the program (the
    /// A or D bit of its leaf, or of its 2 MiB page), or written by the
    /// runner for it (mincore's "in memory"), else 0. A table that is not
    /// there answers for its whole span at once, so a range the page
    /// tables barely cover costs what they hold, not its length.
    pub fn used_pages(&self, mem: &GuestMemory, start: u64, count: u64) -> Vec<u8> {
        let end = start.saturating_add(count.saturating_mul(PAGE_SIZE));
        let mut out = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        let mut va = start;
        while va < end {
            let (span, used) = self.use_at(mem, va);
            let next = (va / span).saturating_add(1).saturating_mul(span).min(end);
            out.resize(out.len() + ((next - va) / PAGE_SIZE) as usize, used);
            va = next;
        }
        out
    }

    /// The span of the smallest table entry that decides `va`'s use, and
    /// the answer for every page in it (see [`PageTables::used_pages`]).
    fn use_at(&self, mem: &GuestMemory, va: u64) -> (u64, u8) {
        let used = |e: u64| u8::from(e & PRESENT != 0 && e & (ACCESSED | DIRTY) != 0);
        let mut table = self.root;
        for level in [3u32, 2] {
            match mem.read_u64(table + index(va, level) * 8) {
                Ok(entry) if entry & PRESENT != 0 => table = entry & ADDR_MASK,
                _ => return (1 << (12 + 9 * level), 0),
            }
        }
        let Ok(pde) = mem.read_u64(table + index(va, 1) * 8) else {
            return (HUGE_SIZE, 0);
        };
        if is_huge_leaf(pde) {
            return (HUGE_SIZE, used(pde));
        }
        if pde & PRESENT == 0 {
            return (HUGE_SIZE, 0);
        }
        let pte = mem
            .read_u64((pde & ADDR_MASK) + index(va, 0) * 8)
            .unwrap_or(0);
        (PAGE_SIZE, used(pte))
    }

    /// Sets (`dirty`) or clears the D bit of the page of `va`. Setting it
    /// is what the CPU does at a write, so it needs no flush; clearing it
    /// is only for pages no vCPU has used yet (a mapping being made).
    pub fn set_dirty(
        &self,
        mem: &mut GuestMemory,
        va: u64,
        dirty: bool,
    ) -> Result<(), PageTableError> {
        let at = match self.pd_entry(mem, va) {
            Some((at, pde)) if is_huge_leaf(pde) => Some((at, pde)),
            _ => self.leaf_at(mem, va),
        };
        if let Some((at, entry)) = at {
            let new = if dirty { entry | DIRTY } else { entry & !DIRTY };
            if new != entry {
                mem.write_u64(at, new)?;
            }
        }
        Ok(())
    }

    /// The 4 KiB leaf entry for `va` (its address and value) when it owns
    /// a frame; None when it has none or `va` is in a 2 MiB page.
    fn leaf_at(&self, mem: &GuestMemory, va: u64) -> Option<(u64, u64)> {
        let (_, pde) = self.pd_entry(mem, va)?;
        if pde & PRESENT == 0 || pde & HUGE != 0 {
            return None;
        }
        let at = (pde & ADDR_MASK) + index(va, 0) * 8;
        let entry = mem.read_u64(at).ok()?;
        (entry & (PRESENT | BACKED) != 0).then_some((at, entry))
    }

    /// The 4 KiB leaf for `va` as it is (flags and frame), when it owns a
    /// frame; None when it has none or `va` is in a 2 MiB page.
    pub fn leaf(&self, mem: &GuestMemory, va: u64) -> Option<u64> {
        self.leaf_at(mem, va).map(|(_, e)| e)
    }

    /// Makes the 4 KiB leaf of `va` fault on the next write, as a
    /// copy-on-write leaf does (W cleared, the marker set), when it is
    /// writable now. True when it was changed.
    pub fn watch_writes(&self, mem: &mut GuestMemory, va: u64) -> Result<bool, PageTableError> {
        let Some((at, entry)) = self.leaf_at(mem, va) else {
            return Ok(false);
        };
        if entry & WRITABLE == 0 || entry & PRESENT == 0 {
            return Ok(false);
        }
        mem.write_u64(at, (entry & !WRITABLE) | COPY_ON_WRITE)?;
        Ok(true)
    }

    /// The frame of a leaf entry.
    pub fn leaf_frame(entry: u64) -> u64 {
        entry & ADDR_MASK
    }

    /// Points the 4 KiB leaf of `va` at `pa` with exactly `flags`: the
    /// copy-on-write marker goes (the page has a frame of its own now).
    /// False when `va` has no 4 KiB leaf with a frame.
    pub fn set_private(
        &self,
        mem: &mut GuestMemory,
        va: u64,
        pa: u64,
        flags: u64,
    ) -> Result<bool, PageTableError> {
        let Some((at, _)) = self.leaf_at(mem, va) else {
            return Ok(false);
        };
        mem.write_u64(at, (pa & ADDR_MASK) | (flags & !COPY_ON_WRITE))?;
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
    /// bits of every level (and the 4 KiB leaf's copy-on-write marker).
    /// None when not present at some level.
    pub fn translate(&self, mem: &GuestMemory, va: u64) -> Option<Translation> {
        let mut table = self.root;
        let mut user_and_write = USER | WRITABLE;
        let mut nx = 0;
        let mut cow = 0;
        for level in (0..=3).rev() {
            let entry = mem.read_u64(table + index(va, level) * 8).ok()?;
            if entry & PRESENT == 0 {
                return None;
            }
            if level == 0 {
                cow = entry & COPY_ON_WRITE;
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
            flags: PRESENT | user_and_write | nx | cow,
        })
    }
}

//! The guest's user address space: mappings (VMAs) with their protections,
//! backed by frames, and the Linux memory calls on top (mmap, munmap,
//! mprotect, brk).
//!
//! With `huge_pages` set, every whole, 2 MiB-aligned 2 MiB of a new
//! anonymous mapping is one 2 MiB page (a block of 512 frames the host backs
//! with a huge page of its own): on a shadow-paging hypervisor one fault then
//! maps what took 512. A call that changes part of such a page splits it
//! into 4 KiB pages first (page_table/huge_pages.rs); a 2 MiB page never
//! straddles two VMAs.
//!
//! A VM has one address space per guest process, all allocating from one
//! pool of frames (`frames/`). `fork` gives a child the same mappings with
//! every frame shared copy-on-write; a write fault (`resolve_cow`), or a
//! write by the runner through the tunnel (`prepare_write`), gives the
//! writer a frame of its own. Pages of a shared mapping (MAP_SHARED
//! anonymous memory, [`Vma::shared`]) are the exception: a fork shares
//! them writable, so parent and child go on seeing each other's writes, as
//! on Linux.
//!
//! Its jobs lie in files of their own: `mappings.rs` (the VMA list and the
//! runner's reserved ranges), `memory_calls.rs` (mmap, munmap, mprotect,
//! brk, mremap), `madvise.rs`, `huge_pages.rs` (placing and splitting 2 MiB
//! pages), `heap.rs` (the heap and the in-VM monitor's headroom),
//! `fork.rs` (fork, a fresh space for execve, the release of a space) and
//! `cow.rs` (copy-on-write faults and the runner's writes).

use super::frames::{FrameAllocator, FrameRuns};
use super::layout::USER_END;
use super::page_table::{PageTableError, PageTables, Prot, Translation};
use std::collections::BTreeMap;
use thinvisor_kmod::{GuestMemory, KmodError, PAGE_SIZE};

mod code_patch;
mod cow;
mod file_pages;
mod fork;
#[cfg(test)]
mod fork_tests;
mod heap;
mod huge_pages;
mod madvise;
mod mappings;
mod memory_calls;
#[cfg(test)]
mod shared_tests;
#[cfg(test)]
mod tests;

pub use huge_pages::HugeCounts;
pub use memory_calls::page_range;

/// One mapping: `[start, end)` with one protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vma {
    pub end: u64,
    pub prot: Prot,
    /// MAP_SHARED anonymous memory: every page has a frame from the mmap
    /// on (PROT_NONE ones too), so that a fork always finds the frames to
    /// share, and a fork shares them writable rather than copy-on-write.
    /// Kept by every piece a split, mprotect or mremap makes.
    pub shared: bool,
}

/// How mmap places a new anonymous mapping, and whether it is shared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MmapFlags {
    /// MAP_FIXED: at the hint, replacing what is there.
    pub fixed: bool,
    /// MAP_FIXED_NOREPLACE: at the hint, EEXIST if anything is there.
    pub noreplace: bool,
    /// MAP_SHARED: the pages stay shared with the children of later forks.
    pub shared: bool,
}

impl MmapFlags {
    /// MAP_FIXED, private.
    pub const FIXED: MmapFlags = MmapFlags {
        fixed: true,
        noreplace: false,
        shared: false,
    };
    /// MAP_FIXED_NOREPLACE, private.
    pub const NOREPLACE: MmapFlags = MmapFlags {
        fixed: false,
        noreplace: true,
        shared: false,
    };

    /// The same placement, MAP_SHARED.
    pub fn shared(self) -> MmapFlags {
        MmapFlags {
            shared: true,
            ..self
        }
    }
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

impl From<KmodError> for MapError {
    fn from(e: KmodError) -> Self {
        MapError::Internal(e.to_string())
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
    /// Frames whose hypervisor translations must be dropped once every
    /// other vCPU is out of the guest ([`AddressSpace::refresh_deferred`]).
    refresh_pending: FrameRuns,
    /// Mappings of frames the runner owns (the vDSO): readable like any
    /// other, but never unmapped, moved, reprotected or replaced.
    reserved: Vec<(u64, u64)>,
    /// Ordinary private mappings the runner made for itself (the syscall
    /// ring's slots): like `reserved` for the program's memory calls,
    /// which refuse to touch them, but copied by a fork like any other
    /// page; a fork's child starts without the guard.
    guarded: Vec<(u64, u64)>,
    /// Map whole aligned 2 MiB of new mappings as 2 MiB pages. Never with
    /// the in-VM monitor, whose root shares the tables and cannot move.
    pub huge_pages: bool,
    /// The root the vCPU's CR3 holds (`tables.root` moves when a 2 MiB
    /// page is split or removed).
    loaded_root: u64,
    /// What the 2 MiB pages did, for `--stats`.
    pub huge_counts: HugeCounts,
}

fn page_up(x: u64) -> Option<u64> {
    x.checked_add(PAGE_SIZE - 1).map(|v| v & !(PAGE_SIZE - 1))
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
            refresh_pending: FrameRuns::default(),
            reserved: Vec::new(),
            guarded: Vec::new(),
            huge_pages: false,
            loaded_root: tables.root,
            huge_counts: HugeCounts::default(),
        }
    }

    /// Several threads (vCPUs) run in this address space from now on: no
    /// new 2 MiB pages (an existing one is split or removed in copies as
    /// before), and freed frames and retired tables are held back until
    /// every other vCPU has flushed ([`AddressSpace::release_deferred`]).
    pub fn share(&mut self) {
        self.huge_pages = false;
        self.frames.share();
    }

    /// Makes the hypervisor drop what it cached of the frames in `runs`
    /// after their mapping in this space was downgraded or moved
    /// (`GuestMemory::refresh`): at once while one vCPU runs here; with
    /// several, once the others are out of the guest
    /// ([`AddressSpace::refresh_deferred`]). The refresh briefly makes the
    /// host pages read-only, and a vCPU that writes them meanwhile has its
    /// KVM_RUN fail (EFAULT) or exit as an MMIO write. Only this space's
    /// vCPUs can be writing them: a frame another space maps too is
    /// copy-on-write, read-only, everywhere.
    pub(super) fn refresh(
        &mut self,
        mem: &mut GuestMemory,
        runs: &FrameRuns,
    ) -> Result<(), MapError> {
        if self.frames.is_shared() {
            for (pa, len) in runs.merged() {
                self.refresh_pending.push(pa, len);
            }
            return Ok(());
        }
        Ok(runs.refresh(mem)?)
    }

    /// Every other vCPU of this space is out of the guest and cannot
    /// enter it again before the caller lets the kernel lock go
    /// (run/tlb.rs): the refreshes held back since the last call are done.
    pub fn refresh_deferred(&mut self, mem: &mut GuestMemory) -> Result<(), KmodError> {
        std::mem::take(&mut self.refresh_pending).refresh(mem)
    }

    /// Every other vCPU has flushed its TLB (run/tlb.rs): the frames freed
    /// and tables retired since the last call become available; retired
    /// tables are zeroed first.
    pub fn release_deferred(&mut self, mem: &mut GuestMemory) -> Result<(), KmodError> {
        self.frames.release_deferred(mem)
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

    /// The mappings the program can read (`write == false`: readable,
    /// writable or executable) or write, one `(start, end)` per VMA, in
    /// address order (the tunnel cuts them down to the policy's table:
    /// `tunnel::accessible_ranges`).
    pub fn mappings_with(&self, write: bool) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.vmas.iter().filter_map(move |(&start, v)| {
            let ok = if write {
                v.prot.write
            } else {
                v.prot.read || v.prot.write || v.prot.exec
            };
            ok.then_some((start, v.end))
        })
    }

    /// Whether a mapping holds `addr`, whatever its protection (Linux's
    /// `find_vma`: a fault there is SEGV_ACCERR, elsewhere SEGV_MAPERR).
    /// Every mapping: start, end, protection, shared (MAP_SHARED), in
    /// address order (`/proc/self/maps`).
    pub fn regions(&self) -> impl Iterator<Item = (u64, u64, Prot, bool)> + '_ {
        self.vmas.iter().map(|(&s, v)| (s, v.end, v.prot, v.shared))
    }

    /// The protection of the mapping `va` lies in, if any.
    pub fn prot_at(&self, va: u64) -> Option<Prot> {
        self.vma_at(va & !(PAGE_SIZE - 1)).map(|(_, v)| v.prot)
    }

    pub fn is_mapped(&self, addr: u64) -> bool {
        self.overlaps(addr, addr.saturating_add(1))
    }

    /// Walks the page tables for one user address (the tunnel's walk,
    /// `tunnel/translate.rs`, goes through this).
    /// For each of `count` pages from `start`, whether it has been used
    /// since it was mapped (the CPU's A and D bits): what mincore calls in
    /// memory. Pages past user space are never used.
    pub fn used_pages(&self, mem: &GuestMemory, start: u64, count: u64) -> Vec<u8> {
        let mut out = self.tables.used_pages(mem, start, count);
        for (i, b) in out.iter_mut().enumerate() {
            if start.saturating_add(i as u64 * PAGE_SIZE) >= USER_END {
                *b = 0;
            }
        }
        out
    }

    pub fn translate(&self, mem: &GuestMemory, va: u64) -> Option<Translation> {
        if va >= USER_END {
            return None;
        }
        self.tables.translate(mem, va)
    }

    /// Bytes of user memory mapped now, by every address space of the VM
    /// (a frame shared after a fork counts once).
    pub fn user_bytes(&self) -> u64 {
        self.frames.user_bytes()
    }

    /// Peak memory the guest used: user pages plus page tables.
    pub fn peak_bytes(&self) -> u64 {
        self.frames.peak_bytes()
    }
}

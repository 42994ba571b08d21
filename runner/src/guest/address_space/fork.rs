//! Address spaces beyond the first: a fork's child (the same mappings,
//! every frame shared: copy-on-write, or writable in shared mappings), an
//! empty one for execve, and the release of one that no vCPU will use
//! again.
//!
//! All of them share the VM's frame pool and the kernel half of the page
//! tables; each has its own root. Only the user half is ever copied or
//! freed here.

use super::{AddressSpace, MapError};
use crate::guest::frames::FrameRuns;
use crate::guest::page_table::LeafSharing;
use thinvisor_kmod::GuestMemory;

impl AddressSpace {
    /// A fresh address space for execve: a new root with this one's kernel
    /// half, no user mappings (the caller maps the vDSO again, and the
    /// program), the same frame pool, no 2 MiB pages unless the caller
    /// turns them on. Refused ([`MapError::Invalid`]) with the in-VM
    /// monitor, whose gates hold the one root it knows.
    pub fn new_empty(&self, mem: &mut GuestMemory) -> Result<AddressSpace, MapError> {
        if self.tables.mirror.is_some() {
            return Err(MapError::Invalid);
        }
        let mut frames = self.frames.sibling();
        let tables = self.tables.new_root(mem, &mut frames)?;
        Ok(AddressSpace::new(tables, frames))
    }

    /// The child of a fork: the same mappings, heap and reserved ranges, a
    /// new root (kernel half shared), and a copy of the user-half tables in
    /// which every 4 KiB page shares its frame with this space,
    /// copy-on-write in both (`cow.rs`), except the pages of shared
    /// mappings (MAP_SHARED), which stay writable in both: a write by
    /// either is seen by the other, and their leaves here do not change
    /// (every page of a shared mapping has a frame from its mmap on, so
    /// there is always one to share). 2 MiB pages are split first (in
    /// this space, as any partial change would), so that the child shares
    /// their frames one by one rather than copying 2 MiB at a time.
    ///
    /// This space's leaves that lose W are refreshed (in runs of contiguous
    /// frames; while several vCPUs run here, once the caller's flush has
    /// them out of the guest: [`AddressSpace::refresh_deferred`]) and
    /// `needs_tlb_flush` is set: the caller flushes every vCPU of this
    /// space before the child's first instruction, or a stale writable
    /// translation here could write into the child's memory.
    ///
    /// Running out of page tables fails with [`MapError::NoMemory`]
    /// without a leak: the child's partial tables are released (this space
    /// may keep some pages split and some marked copy-on-write, which
    /// changes nothing it can see). Refused ([`MapError::Invalid`]) with
    /// the in-VM monitor.
    pub fn fork(&mut self, mem: &mut GuestMemory) -> Result<AddressSpace, MapError> {
        if self.tables.mirror.is_some() {
            return Err(MapError::Invalid);
        }
        for va in self.tables.huge_pages(mem)? {
            self.split_huge(mem, va)?;
        }
        if !self.frames.tables_available(self.tables.user_tables(mem)?) {
            return Err(MapError::NoMemory);
        }
        self.fork_unchecked(mem)
    }

    /// [`AddressSpace::fork`] after its checks: the copy itself, undone on
    /// failure.
    pub(super) fn fork_unchecked(
        &mut self,
        mem: &mut GuestMemory,
    ) -> Result<AddressSpace, MapError> {
        let mut child = self.new_empty(mem)?;
        child.vmas = self.vmas.clone();
        child.brk_start = self.brk_start;
        child.brk = self.brk;
        child.heap_end = self.heap_end;
        child.brk_headroom = self.brk_headroom;
        child.reserved = self.reserved.clone();
        child.huge_pages = self.huge_pages;
        let reserved = self.reserved.clone();
        let shared = self.shared_pieces(0, u64::MAX);
        let within =
            |ranges: &[(u64, u64)], va: u64| ranges.iter().any(|&(s, e)| s <= va && va < e);
        let sharing = move |va: u64| {
            if within(&reserved, va) {
                LeafSharing::RunnerOwned
            } else if within(&shared, va) {
                LeafSharing::Shared
            } else {
                LeafSharing::CopyOnWrite
            }
        };
        let mut downgraded = FrameRuns::default();
        let copied = self.tables.share_user_half(
            mem,
            &child.tables,
            &mut child.frames,
            &sharing,
            &mut downgraded,
        );
        if !downgraded.is_empty() {
            self.needs_tlb_flush = true;
            self.generation += 1;
            // The parent's other threads may be writing these frames:
            // deferred until they are out of the guest.
            self.refresh(mem, &downgraded)?;
        }
        if let Err(e) = copied {
            child.release(mem)?;
            return Err(e.into());
        }
        Ok(child)
    }

    /// Ends this address space: every user frame it holds is let go (one
    /// owner fewer for a shared one, zeroed and freed when none is left),
    /// every user-half table and the root freed (retired if a vCPU may have
    /// walked them), the runner's own frames (the vDSO) left alone. The
    /// caller guarantees that no vCPU uses this root again without loading
    /// another first, so nothing is held back for other vCPUs' flushes.
    pub fn release(mut self, mem: &mut GuestMemory) -> Result<(), MapError> {
        self.frames.finish(mem)?;
        let reserved = std::mem::take(&mut self.reserved);
        let runner_owned = move |va: u64| reserved.iter().any(|&(s, e)| s <= va && va < e);
        self.tables
            .release_user_half(mem, &mut self.frames, &runner_owned)?;
        Ok(())
    }
}

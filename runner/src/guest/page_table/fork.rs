//! Page tables for another address space of the VM: a new root that shares
//! the kernel half, and (for a fork) a copy of the user half whose 4 KiB
//! leaves share their frames copy-on-write, or writable for the pages of
//! shared mappings ([`LeafSharing`]).
//!
//! The child's tables are all new, so no hypervisor has seen them; the
//! parent's change only in the flags of 4 KiB leaves (W cleared, the
//! marker set), an edit a shadow MMU tolerates once the caller refreshes
//! the downgraded frames (docs/architecture.md, "Page-table edits"). The
//! leaves of shared mappings do not change at all in the parent.

use super::{is_huge_leaf, PageTableError, PageTables, USER_PML4_SLOTS};
use super::{ADDR_MASK, BACKED, COPY_ON_WRITE, PRESENT, WRITABLE};
use crate::guest::frames::{FrameAllocator, FrameRuns};
use thinvisor_kmod::{GuestMemory, PAGE_SIZE};

/// What a fork does with one user leaf that owns a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeafSharing {
    /// The runner's own frame (the vDSO's), nobody's to free: copied as
    /// it is, no owner added.
    RunnerOwned,
    /// A page of a shared mapping (MAP_SHARED): copied as it is (W kept,
    /// no marker), so both processes write the one frame; one more owner,
    /// so neither frees it while the other maps it.
    Shared,
    /// Any other page: copy-on-write in both spaces, one more owner.
    CopyOnWrite,
}

/// Entries in one table.
pub(super) const ENTRIES: u64 = 512;

/// The 512 entries of the table at `table`.
pub(super) fn read_table(mem: &GuestMemory, table: u64) -> Result<Vec<u64>, PageTableError> {
    let bytes = mem.slice(table, PAGE_SIZE)?;
    Ok(bytes
        .chunks_exact(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            u64::from_le_bytes(b)
        })
        .collect())
}

fn write_table(mem: &mut GuestMemory, table: u64, entries: &[u64]) -> Result<(), PageTableError> {
    let bytes: Vec<u8> = entries.iter().flat_map(|e| e.to_le_bytes()).collect();
    mem.write(table, &bytes)?;
    Ok(())
}

/// The user-half virtual address of the entry `i` of a table at `level`
/// under `base`.
pub(super) fn va_of(base: u64, level: u32, i: u64) -> u64 {
    base | (i << (12 + 9 * level))
}

/// A new, zeroed table of `frames`.
fn new_table(mem: &mut GuestMemory, frames: &mut FrameAllocator) -> Result<u64, PageTableError> {
    let t = frames.alloc_table().ok_or(PageTableError::OutOfTables)?;
    mem.zero(t, PAGE_SIZE)?;
    Ok(t)
}

impl PageTables {
    /// Calls `f(va, table, entry)` for every present (or PROT_NONE 2 MiB)
    /// page-directory entry of the user half.
    fn each_directory_entry(
        &self,
        mem: &GuestMemory,
        mut f: impl FnMut(u64, u64) -> Result<(), PageTableError>,
    ) -> Result<(), PageTableError> {
        for slot in 0..USER_PML4_SLOTS {
            let e3 = mem.read_u64(self.root + slot * 8)?;
            if e3 & PRESENT == 0 {
                continue;
            }
            let pdpt = read_table(mem, e3 & ADDR_MASK)?;
            for (i2, &e2) in (0..).zip(pdpt.iter()) {
                if e2 & PRESENT == 0 {
                    continue;
                }
                let base = va_of(va_of(0, 3, slot), 2, i2);
                let pd = read_table(mem, e2 & ADDR_MASK)?;
                for (i1, &e1) in (0..).zip(pd.iter()) {
                    if e1 & PRESENT != 0 || is_huge_leaf(e1) {
                        f(va_of(base, 1, i1), e1)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The addresses of the user half's 2 MiB pages, found in the tables
    /// (not over the mappings: a reservation of terabytes costs nothing).
    pub fn huge_pages(&self, mem: &GuestMemory) -> Result<Vec<u64>, PageTableError> {
        let mut out = Vec::new();
        self.each_directory_entry(mem, |va, e| {
            if is_huge_leaf(e) {
                out.push(va);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// The tables a copy of the user half needs: a root, and one for every
    /// table below it.
    pub fn user_tables(&self, mem: &GuestMemory) -> Result<u64, PageTableError> {
        let mut n = 1;
        for slot in 0..USER_PML4_SLOTS {
            let e3 = mem.read_u64(self.root + slot * 8)?;
            if e3 & PRESENT == 0 {
                continue;
            }
            n += 1;
            let pdpt = read_table(mem, e3 & ADDR_MASK)?;
            n += pdpt.iter().filter(|&&e| e & PRESENT != 0).count() as u64;
        }
        self.each_directory_entry(mem, |_, e| {
            if !is_huge_leaf(e) {
                n += 1;
            }
            Ok(())
        })?;
        Ok(n)
    }

    /// A new root from `frames` with this root's kernel half (PML4 entries
    /// 256..512: the same supervisor tables, so what is mapped there later,
    /// such as a new vCPU's CPU page, appears under every root) and an
    /// empty user half. No mirror: the in-VM monitor has one root.
    pub fn new_root(
        &self,
        mem: &mut GuestMemory,
        frames: &mut FrameAllocator,
    ) -> Result<PageTables, PageTableError> {
        let root = new_table(mem, frames)?;
        for slot in USER_PML4_SLOTS..ENTRIES {
            let entry = mem.read_u64(self.root + slot * 8)?;
            mem.write_u64(root + slot * 8, entry)?;
        }
        Ok(PageTables::new(root))
    }

    /// Copies the user half into `child` (a root from
    /// [`PageTables::new_root`]) with new tables from `child_frames`. Every
    /// 4 KiB leaf that owns a frame is shared as `sharing` says for its
    /// address: copy-on-write (it loses W and gets the marker here and in
    /// the child, and its frame one more owner), writable (a shared
    /// mapping's: the same entry in the child, one more owner) or as it is
    /// (the runner's own frames). The frames that lost W are added to
    /// `downgraded`: the caller refreshes them and flushes the TLB.
    ///
    /// There must be no 2 MiB page (the caller splits them first). On error
    /// the child holds what was copied so far, every table linked and every
    /// frame it maps owned, so releasing it undoes everything but the
    /// parent's downgrades, which are harmless (a write fault on a frame
    /// without another owner just gives W back).
    pub fn share_user_half(
        &self,
        mem: &mut GuestMemory,
        child: &PageTables,
        child_frames: &mut FrameAllocator,
        sharing: &dyn Fn(u64) -> LeafSharing,
        downgraded: &mut FrameRuns,
    ) -> Result<(), PageTableError> {
        for slot in 0..USER_PML4_SLOTS {
            let e3 = mem.read_u64(self.root + slot * 8)?;
            if e3 & PRESENT == 0 {
                continue;
            }
            let c3 = new_table(mem, child_frames)?;
            mem.write_u64(child.root + slot * 8, c3 | (e3 & !ADDR_MASK))?;
            let pdpt = read_table(mem, e3 & ADDR_MASK)?;
            for (i2, &e2) in (0..).zip(pdpt.iter()) {
                if e2 & PRESENT == 0 {
                    continue;
                }
                let c2 = new_table(mem, child_frames)?;
                mem.write_u64(c3 + i2 * 8, c2 | (e2 & !ADDR_MASK))?;
                let base = va_of(va_of(0, 3, slot), 2, i2);
                let pd = read_table(mem, e2 & ADDR_MASK)?;
                for (i1, &e1) in (0..).zip(pd.iter()) {
                    let va = va_of(base, 1, i1);
                    if is_huge_leaf(e1) {
                        return Err(PageTableError::Huge(va));
                    }
                    if e1 & PRESENT == 0 {
                        continue;
                    }
                    let share = Share {
                        parent_pt: e1 & ADDR_MASK,
                        child_slot: c2 + i1 * 8,
                        link_flags: e1 & !ADDR_MASK,
                        va,
                    };
                    share.run(mem, child_frames, sharing, downgraded)?;
                }
            }
        }
        Ok(())
    }
}

/// One page table of the parent, shared into the child.
struct Share {
    parent_pt: u64,
    /// The child's page-directory entry that will point at the copy.
    child_slot: u64,
    link_flags: u64,
    /// The address the table maps from.
    va: u64,
}

impl Share {
    /// Makes the child's copy of the table (linked, its frames owned),
    /// then downgrades the parent's leaves. Fails only for want of a table,
    /// before anything changed.
    fn run(
        &self,
        mem: &mut GuestMemory,
        child_frames: &mut FrameAllocator,
        sharing: &dyn Fn(u64) -> LeafSharing,
        downgraded: &mut FrameRuns,
    ) -> Result<(), PageTableError> {
        let old = read_table(mem, self.parent_pt)?;
        let copy = child_frames
            .alloc_table()
            .ok_or(PageTableError::OutOfTables)?;
        let mut shared = old.clone();
        let mut owners = Vec::new();
        for (i, entry) in (0..).zip(shared.iter_mut()) {
            let e = *entry;
            if e & (PRESENT | BACKED) == 0 {
                *entry = 0;
                continue;
            }
            match sharing(va_of(self.va, 0, i)) {
                LeafSharing::RunnerOwned => continue,
                LeafSharing::Shared => {}
                LeafSharing::CopyOnWrite => {
                    if e & (PRESENT | WRITABLE) == PRESENT | WRITABLE {
                        downgraded.push_frame(e & ADDR_MASK);
                    }
                    *entry = (e & !WRITABLE) | COPY_ON_WRITE;
                }
            }
            owners.push(e & ADDR_MASK);
        }
        write_table(mem, copy, &shared)?;
        mem.write_u64(self.child_slot, copy | self.link_flags)?;
        child_frames.add_owners(&owners);
        // Leaves without a frame stay as they were in the parent.
        for (s, o) in shared.iter_mut().zip(old.iter()) {
            if o & (PRESENT | BACKED) == 0 {
                *s = *o;
            }
        }
        if shared != old {
            write_table(mem, self.parent_pt, &shared)?;
        }
        Ok(())
    }
}

//! The mappings' bookkeeping: the VMA list (overlap, split, removal,
//! coverage, free ranges) and the runner's reserved ranges in it.

use super::{AddressSpace, MapError, Vma};
use crate::guest::frames::HUGE_SIZE;
use crate::guest::layout::{MIN_USER_VA, MMAP_TOP, USER_END};
use crate::guest::page_table::Prot;
use thinvisor_kmod::{GuestMemory, PAGE_SIZE};

/// What a mapping is, apart from where it lies: its protection and
/// whether it is shared. A move or growth keeps both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Kind {
    pub prot: Prot,
    pub shared: bool,
}

impl Vma {
    pub(super) fn kind(&self) -> Kind {
        Kind {
            prot: self.prot,
            shared: self.shared,
        }
    }
}

impl AddressSpace {
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
        self.vmas.insert(
            start,
            Vma {
                end,
                prot,
                shared: false,
            },
        );
        self.reserved.push((start, end));
        self.generation += 1;
        Ok(())
    }

    /// Refuses a change to `[start, end)` that would touch a reserved or
    /// guarded page.
    pub(super) fn check_unreserved(&self, start: u64, end: u64) -> Result<(), MapError> {
        let hit = |&(s, e): &(u64, u64)| s < end && start < e;
        if self.reserved.iter().any(hit) || self.guarded.iter().any(hit) {
            return Err(MapError::Reserved);
        }
        Ok(())
    }

    /// From now on the program's memory calls refuse to touch
    /// `[start, end)`, a mapping the runner made for itself (the syscall
    /// ring's slots); a fork's child has no such guard.
    pub fn guard(&mut self, start: u64, end: u64) {
        self.guarded.push((start, end));
    }

    /// The mapping that holds `va` (its start and itself).
    pub(super) fn vma_at(&self, va: u64) -> Option<(u64, Vma)> {
        self.vmas
            .range(..=va)
            .next_back()
            .filter(|(_, v)| v.end > va)
            .map(|(&s, &v)| (s, v))
    }

    pub(super) fn overlaps(&self, start: u64, end: u64) -> bool {
        self.vmas
            .range(..end)
            .next_back()
            .is_some_and(|(&s, v)| s < end && v.end > start)
    }

    /// Splits VMAs so that `addr` is a boundary.
    pub(super) fn split_at(&mut self, addr: u64) {
        let found = self.vmas.range(..addr).next_back().map(|(&s, &v)| (s, v));
        if let Some((s, v)) = found {
            if s < addr && v.end > addr {
                self.vmas.insert(s, Vma { end: addr, ..v });
                self.vmas.insert(addr, v);
            }
        }
    }

    /// Finds a free range of `len` bytes, top-down below `MMAP_TOP`. With
    /// 2 MiB pages, a range of 2 MiB or more starts 2 MiB aligned (as Linux
    /// places anonymous mappings for its own huge pages), so whole 2 MiB of
    /// it can be 2 MiB pages.
    pub(super) fn find_gap(&self, len: u64) -> Option<u64> {
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

    /// Pages mapped in `[start, end)`: every VMA page owns a frame (PROT_NONE
    /// ones too). Counted over the VMAs, never page by page, so a huge range
    /// costs nothing.
    pub(super) fn mapped_pages_in(&self, _mem: &GuestMemory, start: u64, end: u64) -> u64 {
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
    pub(super) fn limit_pages(&self) -> u64 {
        self.frames.user_pages_left() + self.frames.user_bytes() / PAGE_SIZE
    }

    /// True when `[start, end)` is entirely covered by mappings.
    pub fn covered(&self, start: u64, end: u64) -> bool {
        self.uniform(start, end, false).is_some()
    }

    /// The protection and sharing of `[start, end)` when contiguous
    /// mappings cover it (with one protection and one sharing when `same`
    /// is set; else the first one's).
    pub(super) fn uniform(&self, start: u64, end: u64, same: bool) -> Option<Kind> {
        let mut cursor = start;
        let mut kind: Option<Kind> = None;
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
            match kind {
                None => kind = Some(v.kind()),
                Some(k) if same && k != v.kind() => return None,
                _ => {}
            }
            cursor = v.end;
            if cursor >= end {
                break;
            }
        }
        if cursor >= end {
            kind
        } else {
            None
        }
    }

    /// The pieces of `[start, end)` that shared mappings hold.
    pub(super) fn shared_pieces(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let first = self
            .vmas
            .range(..=start)
            .next_back()
            .map_or(start, |(&s, _)| s);
        self.vmas
            .range(first..end)
            .filter(|(_, v)| v.shared)
            .map(|(&s, v)| (s.max(start), v.end.min(end)))
            .filter(|&(lo, hi)| lo < hi)
            .collect()
    }

    /// Whether a shared mapping holds `va` (a futex word there is keyed by
    /// its frame: `syscalls/futex.rs`).
    pub fn shared_at(&self, va: u64) -> bool {
        self.vma_at(va).is_some_and(|(_, v)| v.shared)
    }

    /// Removes the VMAs of `[start, end)` without touching their pages.
    pub(super) fn forget_range(&mut self, start: u64, end: u64) {
        self.split_at(start);
        self.split_at(end);
        let inside: Vec<u64> = self.vmas.range(start..end).map(|(&s, _)| s).collect();
        for s in inside {
            self.vmas.remove(&s);
        }
    }
}

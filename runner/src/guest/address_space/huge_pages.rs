//! 2 MiB-page planning: where whole 2 MiB pages lie in a range, splitting
//! the ones a change covers only in part, and the counters of what they did.

use super::{AddressSpace, MapError};
use crate::guest::frames::HUGE_SIZE;
use thinvisor_kmod::GuestMemory;

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

impl AddressSpace {
    /// Whether a 2 MiB page may be mapped: new ones are made, or some were
    /// (a space that stopped making them, when a second thread came, keeps
    /// the ones it has, and changes to part of one must still split it).
    pub(super) fn may_have_huge(&self) -> bool {
        self.huge_pages || self.huge_counts.mapped > 0
    }

    pub(super) fn split_huge(&mut self, mem: &mut GuestMemory, va: u64) -> Result<(), MapError> {
        if self.tables.split_huge(mem, &mut self.frames, va)? {
            self.huge_counts.split += 1;
        }
        Ok(())
    }

    /// The 2 MiB-aligned addresses in `[start, end)` whose whole 2 MiB lies
    /// in one mapping and the range (where 2 MiB pages can be). Found over
    /// the VMAs, so an enormous range of little mapped memory costs little.
    pub(super) fn huge_candidates(&self, start: u64, end: u64) -> Vec<u64> {
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
    pub(super) fn prepare_huge_edit(
        &mut self,
        mem: &mut GuestMemory,
        start: u64,
        end: u64,
        removing: bool,
    ) -> Result<(), MapError> {
        if !self.may_have_huge() {
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
}

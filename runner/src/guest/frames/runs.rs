//! Runs of guest-physical frames collected by an edit (frames downgraded,
//! moved or shared), merged so that the host calls that follow
//! (`GuestMemory::refresh`, one mprotect pair per run) are few: the frames
//! of one mapping mostly lie in order, so a fork of 64 MiB of touched
//! pages makes a handful of calls, not 16384.

use thinvisor_kmod::{GuestMemory, KmodError, PAGE_SIZE};

/// Page-aligned `(start, len)` runs of guest-physical memory.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FrameRuns {
    runs: Vec<(u64, u64)>,
}

impl FrameRuns {
    /// Adds `[pa, pa + len)`, extending the last run when it continues it.
    pub fn push(&mut self, pa: u64, len: u64) {
        match self.runs.last_mut() {
            Some((start, l)) if *start + *l == pa => *l += len,
            _ => self.runs.push((pa, len)),
        }
    }

    /// Adds one 4 KiB frame.
    pub fn push_frame(&mut self, pa: u64) {
        self.push(pa, PAGE_SIZE);
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The runs, sorted and merged where they touch or overlap.
    pub fn merged(&self) -> Vec<(u64, u64)> {
        let mut sorted = self.runs.clone();
        sorted.sort_unstable();
        let mut out: Vec<(u64, u64)> = Vec::with_capacity(sorted.len());
        for (pa, len) in sorted {
            match out.last_mut() {
                Some((s, l)) if *s + *l >= pa => *l = (*l).max(pa + len - *s),
                _ => out.push((pa, len)),
            }
        }
        out
    }

    /// Makes the hypervisor forget its cached translations of every frame
    /// (contents kept): after a downgrade, or when a frame another address
    /// space still maps leaves this one.
    pub fn refresh(&self, mem: &mut GuestMemory) -> Result<(), KmodError> {
        for (pa, len) in self.merged() {
            mem.refresh(pa, len)?;
        }
        Ok(())
    }
}

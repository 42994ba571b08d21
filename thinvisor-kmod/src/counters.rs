//! Per-vCPU counters: every vCPU ioctl the thin hypervisor issued, and time.

use std::time::Duration;

/// Counts of what a vCPU cost so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VcpuCounters {
    /// Every vCPU ioctl issued, KVM_RUN included.
    pub ioctls: u64,
    /// KVM_RUN calls.
    pub runs: u64,
    /// Wall time spent inside KVM_RUN (guest execution plus in-kernel exits).
    pub in_guest: Duration,
}

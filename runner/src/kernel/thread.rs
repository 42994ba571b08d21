//! A thread: one task, run on one vCPU by one host thread.

use super::limits::comm_of;
use super::process::GUEST_PID;
use super::signal_state::ThreadSignals;
use thinvisor_kmod::Vcpu;

/// A thread's own state; only its host thread touches it.
pub struct Thread {
    pub tid: u64,
    /// The vCPU it runs on.
    pub vcpu: Vcpu,
    /// Mask, pending signals, alternate stack.
    pub signals: ThreadSignals,
    /// set_tid_address's pointer (cleared and woken at thread exit once
    /// there are threads to wake).
    pub clear_child_tid: u64,
    /// set_robust_list's head.
    pub robust_list: u64,
    /// The TLS bases arch_prctl set (also in the vCPU's MSRs).
    pub fs_base: u64,
    pub gs_base: u64,
    /// Its name (`prctl(PR_SET_NAME)`), NUL-padded.
    pub comm: [u8; 16],
}

impl Thread {
    /// The first thread of a process running `program`, on `vcpu`.
    pub fn main(vcpu: Vcpu, program: &[u8]) -> Thread {
        Thread {
            tid: GUEST_PID,
            vcpu,
            signals: ThreadSignals::default(),
            clear_child_tid: 0,
            robust_list: 0,
            fs_base: 0,
            gs_base: 0,
            comm: comm_of(program),
        }
    }
}

impl std::fmt::Debug for Thread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Thread")
            .field("tid", &self.tid)
            .field("signals", &self.signals)
            .field("clear_child_tid", &self.clear_child_tid)
            .field("robust_list", &self.robust_list)
            .field("fs_base", &self.fs_base)
            .field("gs_base", &self.gs_base)
            .finish_non_exhaustive()
    }
}

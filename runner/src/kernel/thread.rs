//! A thread: one task, run on one vCPU by one host thread.

use super::limits::comm_of;
use super::parker::Parker;
use super::process::GUEST_PID;
use super::signal_state::ThreadSignals;
use super::thread_group::{CpuSync, Member, ThreadGroup};
use crate::guest::cpu_area::CpuArea;
use std::sync::Arc;
use thinvisor_kmod::Vcpu;

/// A thread's own state; only its host thread touches it.
pub struct Thread {
    pub tid: u64,
    /// Its process's pid (the first thread's tid).
    pub pid: u64,
    /// Its process's threads (how it sees its process end).
    pub group: Arc<ThreadGroup>,
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
    /// Where it waits with no lock held (kernel/parker.rs); the thread
    /// group and futex queues hold clones.
    pub parker: Arc<Parker>,
    /// Its vCPU's supervisor pages (guest/cpu_area.rs).
    pub cpu: CpuArea,
    /// What it and threads changing the page tables agree on
    /// (kernel/thread_group.rs, run/tlb.rs).
    pub cpu_sync: Arc<CpuSync>,
    /// The page-table root its vCPU has loaded (CR3).
    pub cr3: u64,
    /// `Process::timers_changed` when this thread last armed `timer_kick`.
    pub timers_seen: u64,
    /// A kernel timer that kicks this thread's vCPU out of the guest when
    /// the process's next timer (alarm or POSIX timer) is due, so a thread
    /// that only computes fires it too.
    pub timer_kick: Option<thinvisor_kmod::KickTimer>,
    /// Signals other threads posted to it (kernel/thread_group.rs).
    pub inbox: Arc<std::sync::atomic::AtomicU64>,
    /// Set when another thread of its process execs: it must end
    /// (kernel/thread_group.rs, `zap_others`).
    pub zapped: Arc<std::sync::atomic::AtomicBool>,
    /// The vCPU's last exit was an `out` of the entry code: on hardware
    /// KVM it is still on that instruction, which the next KVM_RUN skips
    /// (guest/entry_code.rs, `at_out`).
    pub on_out: bool,
    /// Set by the run loop when it runs a waiting call again
    /// (`Wait::Poll`): the end that call computed the first time. The
    /// handler takes it.
    pub resume: Option<Option<std::time::Instant>>,
    /// While it waits in mq_timedreceive: where a sender hands it a
    /// message (kernel/posix_mq.rs). Dropped when the call ends
    /// (run/run_loop.rs, `finish_syscall`).
    pub mq_receiver: Option<Arc<super::posix_mq::Receiver>>,
    /// Its syscall ring slot, once mapped in its address space with the
    /// GS base pointing at it (ring/slot.rs, run/ring_loop.rs).
    pub ring_slot: Option<u64>,
    /// Under `RingStart::OnReuse`: it trapped at a site that trapped
    /// before, and takes the ring at its next entry.
    pub ring_due: bool,
    /// `--trace`: the call it is making, until its line is written.
    pub trace: Option<crate::trace::Pending>,
    /// An open of a named pipe waiting for the other side, its end
    /// already counted (kernel/fifos.rs); dropped if a signal ends the wait.
    pub fifo_wait: Option<super::fifos::FifoWait>,
}

impl Thread {
    /// The first thread of a process running `program`, on `vcpu`, as
    /// `member` of the process's thread group (its leader).
    pub fn main(
        vcpu: Vcpu,
        program: &[u8],
        member: &Member,
        cr3: u64,
        group: Arc<ThreadGroup>,
    ) -> Thread {
        debug_assert_eq!(member.tid, GUEST_PID);
        Thread::cloned(vcpu, member, CpuArea::first(), comm_of(program), cr3, group)
    }

    /// A thread `clone` or fork made: `member` of `group`, on `vcpu`
    /// (whose CPU pages are `cpu`), named like its creator.
    pub fn cloned(
        vcpu: Vcpu,
        member: &Member,
        cpu: CpuArea,
        comm: [u8; 16],
        cr3: u64,
        group: Arc<ThreadGroup>,
    ) -> Thread {
        Thread {
            tid: member.tid,
            pid: group.leader(),
            group,
            vcpu,
            signals: ThreadSignals::default(),
            clear_child_tid: 0,
            robust_list: 0,
            fs_base: 0,
            gs_base: 0,
            comm,
            parker: member.parker.clone(),
            cpu,
            cpu_sync: member.cpu.clone(),
            cr3,
            inbox: member.inbox.clone(),
            zapped: member.zapped.clone(),
            timers_seen: 0,
            timer_kick: None,
            resume: None,
            mq_receiver: None,
            ring_slot: None,
            ring_due: false,
            on_out: false,
            trace: None,
            fifo_wait: None,
        }
    }

    /// Gives the vCPU back (the thread exited; its host thread keeps the
    /// vCPU for the next thread it runs).
    pub fn into_vcpu(self) -> Vcpu {
        self.vcpu
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

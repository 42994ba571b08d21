//! Job control, as Linux does it (kernel/signal.c: prepare_signal,
//! do_signal_stop): a stop signal (SIGSTOP, or SIGTSTP, SIGTTIN, SIGTTOU
//! with the default action) stops the whole process; SIGCONT continues it;
//! its parent hears of both, through SIGCHLD with CLD_STOPPED or
//! CLD_CONTINUED (unless its SIGCHLD action has SA_NOCLDSTOP) and through
//! wait4 (WUNTRACED, WCONTINUED) and waitid (WSTOPPED, WCONTINUED):
//! syscalls/wait.rs reads the child's `job_event`.
//!
//! A stopped process's threads run no user code: each parks before it
//! would enter the guest (run_loop.rs, `prepare_entry`) until SIGCONT
//! wakes it or SIGKILL kills it; a thread blocked in a syscall stays
//! blocked, and parks once the call is done. The run's time limit still
//! ends a run whose processes stay stopped.
//!
//! Locking: everything here runs under the kernel lock (`Shared`): the
//! process's `stopped`, its table entry's `job_event`, the parent's
//! pending signals and the wait queues. The thread-group calls
//! (`kick_all`, `wake_all`, `discard`) take the group's member lock inside
//! it, as every signal post does.

use super::processes::post;
use super::threads::Shared;
use crate::abi::constants::{SA_NOCLDSTOP, SIGCHLD, SIGCONT, SIGSTOP};
use crate::abi::sigframe::SigInfo;
use crate::kernel::process_table::JobEvent;
use crate::syscalls::signals::stops;

/// SIGSTOP, SIGTSTP, SIGTTIN and SIGTTOU as signal bits.
const STOP_SIGNALS: u64 = 0xf << 18;
/// SIGCONT as a signal bit.
const CONTINUE_SIGNAL: u64 = 1 << (SIGCONT - 1);

/// What sending `sig` to process `pid` does before the signal is queued
/// (Linux's prepare_signal): a stop signal drops a pending SIGCONT;
/// SIGCONT drops pending stop signals and continues the process if it is
/// stopped, whether it blocks, ignores or handles SIGCONT.
pub fn on_send(g: &mut Shared<'_>, pid: u64, sig: u64) {
    let Some(p) = g.process_mut(pid) else {
        return;
    };
    if stops(sig) {
        p.threads.discard(CONTINUE_SIGNAL);
    } else if sig == SIGCONT as u64 {
        p.threads.discard(STOP_SIGNALS);
        if p.stopped.take().is_some() {
            p.threads.wake_all();
            tell_parent(g, pid, JobEvent::Continued);
        }
    }
}

/// Process `pid` takes stop signal `sig` with its default action (one of
/// its threads was about to run user code). SIGTSTP, SIGTTIN and SIGTTOU
/// are discarded when its process group is orphaned, as on Linux (nobody
/// would continue it); otherwise the process stops, its running threads
/// leave the guest, and its parent is told. Returns whether it is stopped.
pub fn stop(g: &mut Shared<'_>, pid: u64, sig: u64) -> bool {
    let Some(pgid) = g.kernel.procs.get(pid).map(|e| e.pgid) else {
        return false;
    };
    if sig != SIGSTOP as u64 && g.kernel.procs.is_orphaned_group(pgid) {
        return false;
    }
    let Some(p) = g.process_mut(pid) else {
        return false;
    };
    if p.stopped.is_some() {
        return true;
    }
    p.stopped = Some(sig);
    p.threads.kick_all();
    tell_parent(g, pid, JobEvent::Stopped(sig));
    true
}

/// Records `event` for process `pid`'s parent to wait for, sends it
/// SIGCHLD unless its action has SA_NOCLDSTOP, and wakes every waiter.
fn tell_parent(g: &mut Shared<'_>, pid: u64, event: JobEvent) {
    let Some(e) = g.kernel.procs.get_mut(pid) else {
        return;
    };
    e.job_event = Some(event);
    let ppid = e.ppid;
    let uid = g.process_mut(pid).map_or(0, |p| p.identity.uid as u32);
    let (code, status) = event.code_and_status();
    let chld = SIGCHLD as u64;
    if let Some(parent) = g.process_mut(ppid) {
        if parent.signal_actions.action(chld).flags & SA_NOCLDSTOP == 0 {
            let info = SigInfo {
                signo: SIGCHLD,
                code,
                addr: None,
                pid: pid as u32,
                uid,
                value: status as u32 as u64,
            };
            post(parent, chld, info);
        }
    }
    for w in std::mem::take(&mut g.kernel.retry_waiters) {
        w.wake();
    }
}

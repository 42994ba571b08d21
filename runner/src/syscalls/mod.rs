//! Linux syscall emulation: the context a handler gets, what it returns,
//! and dispatch through the table in `table.rs`.

mod alarm;
mod clocks;
pub mod common;
mod copy;
mod ctx;
pub mod decode;
mod epoll;
mod eventfd;
mod fdctl;
mod fs;
pub mod futex;
mod identity;
mod io;
mod memory;
pub mod net;
pub mod pipe;
mod poll;
mod posix_timers;
pub mod process;
mod readiness;
mod remap;
mod resources;
mod select;
pub mod signalfd;
pub mod signals;
mod sigwait;
mod sleep;
mod stream_stat;
pub mod table;
pub mod thread;
mod time;
mod timer_spec;
mod timerfd;

use crate::abi::Errno;
use crate::kernel::death::Death;
pub use ctx::Ctx;
use sandbox_policy::{OnDeny, SyscallRules};
use std::time::Instant;

/// Why a handler did not return a value: an errno for the guest, or the
/// end of the process (exit) or of the run (a fatal signal, the time limit).
#[derive(Debug)]
pub enum Stop {
    /// Return `-errno` in RAX.
    Fail(Errno),
    /// The process exits with this status.
    Exit(i32),
    /// The process is killed.
    Kill(Death),
    /// Only the calling thread exits (`exit`), with this status.
    ExitThread(i32),
    /// The call waits, with no kernel lock held (run/wait.rs).
    Block(Wait),
    /// Start a thread (clone): the run loop starts it and returns its tid.
    Spawn(Box<NewThread>),
    /// rt_sigreturn: return to user mode with these registers (checked and
    /// sanitised by the run loop) and FPU state at this address (0: none).
    SigReturn(Box<crate::abi::sigframe::Restore>),
}

/// What a blocked call waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The thread is queued on a futex (`Kernel::futexes`): a wake returns
    /// 0; `until` passing first returns ETIMEDOUT.
    Futex { until: Option<Instant> },
    /// A sleep until `until`, then 0.
    Sleep { until: Instant },
    /// Something only another thread can do (fill an empty pipe, drain a
    /// full one) lets the call go on: wait for any thread's next syscall,
    /// then run the call again.
    Retry,
    /// poll, select, epoll_wait, rt_sigtimedwait, a blocking read of a
    /// timerfd or signalfd: nothing is ready yet. Run the call again after
    /// another thread's syscall, after a few milliseconds when `host`
    /// descriptors are watched, at `timer` (a watched timerfd's next
    /// expiry), when one of `signals` is pending (blocked or not), and at
    /// `until` (None: never), with `Thread::resume` holding `until` so the
    /// call keeps its first end.
    Poll {
        until: Option<Instant>,
        host: bool,
        timer: Option<Instant>,
        signals: u64,
    },
    /// pause, rt_sigsuspend: until a signal is delivered, then EINTR.
    Signal,
}

impl Wait {
    /// A poll-like wait on runner objects only, until `until`.
    pub fn poll(until: Option<Instant>) -> Wait {
        Wait::Poll {
            until,
            host: false,
            timer: None,
            signals: 0,
        }
    }

    /// The signals the call waits for even while the thread blocks them.
    pub fn signals(self) -> u64 {
        match self {
            Wait::Poll { signals, .. } => signals,
            _ => 0,
        }
    }

    /// The time the call itself waits until, if it has one.
    pub fn until(self) -> Option<Instant> {
        match self {
            Wait::Futex { until } | Wait::Poll { until, .. } => until,
            Wait::Sleep { until } => Some(until),
            Wait::Retry | Wait::Signal => None,
        }
    }
}

/// A thread `clone` asked for, to be started by the run loop.
#[derive(Debug, Clone)]
pub struct NewThread {
    /// Its place in the thread group (tid, parker, CPU sync).
    pub member: crate::kernel::thread_group::Member,
    /// Its stack pointer (0: the parent's).
    pub stack: u64,
    /// CLONE_SETTLS: its FS base.
    pub tls: Option<u64>,
    /// CLONE_CHILD_CLEARTID: cleared and woken when it exits.
    pub clear_child_tid: u64,
    /// The parent's signal mask, which the thread starts with.
    pub signal_mask: u64,
}

impl From<Errno> for Stop {
    fn from(e: Errno) -> Stop {
        Stop::Fail(e)
    }
}

/// What every handler returns: RAX on success.
pub type SyscallResult = Result<u64, Stop>;

/// How a syscall ends, as the run loop sees it.
#[derive(Debug)]
pub enum Outcome {
    /// Return this value in RAX (a negative errno as two's complement).
    Return(u64),
    /// The process exits with this status.
    Exit(i32),
    /// The process is killed.
    Kill(Death),
    /// Only the calling thread exits.
    ExitThread(i32),
    /// The call waits (see [`Wait`]).
    Block(Wait),
    /// Start this thread, then return its tid to the caller.
    Spawn(Box<NewThread>),
    /// Return from a signal handler (see [`Stop::SigReturn`]).
    SigReturn(Box<crate::abi::sigframe::Restore>),
}

impl Outcome {
    /// RAX for `-errno`.
    pub fn errno(e: Errno) -> Outcome {
        Outcome::Return(Outcome::errno_value(e))
    }

    /// `-errno` as RAX holds it.
    pub fn errno_value(e: Errno) -> u64 {
        (-i64::from(e.raw_os_error())) as u64
    }
}

impl From<SyscallResult> for Outcome {
    fn from(r: SyscallResult) -> Outcome {
        match r {
            Ok(v) => Outcome::Return(v),
            Err(Stop::Fail(e)) => Outcome::errno(e),
            Err(Stop::Exit(code)) => Outcome::Exit(code),
            Err(Stop::Kill(death)) => Outcome::Kill(death),
            Err(Stop::ExitThread(code)) => Outcome::ExitThread(code),
            Err(Stop::Block(w)) => Outcome::Block(w),
            Err(Stop::Spawn(t)) => Outcome::Spawn(t),
            Err(Stop::SigReturn(r)) => Outcome::SigReturn(r),
        }
    }
}

/// Syscall arguments in ABI order: rdi, rsi, rdx, r10, r8, r9.
pub type Args = [u64; 6];

/// A handler of one syscall.
pub type Handler = fn(&mut Ctx<'_>, &Args) -> SyscallResult;

/// How the policy answers syscall `nr` with `args`: None when allowed, else
/// what to do instead (checked before any argument is looked at further).
pub fn refusal(rules: &SyscallRules, nr: u64, args: &Args) -> Option<OnDeny> {
    let allowed = match u32::try_from(nr) {
        Ok(n) => rules.is_allowed(n) && rules.arg_allowed(n, args),
        // Numbers beyond u32 are no syscall: left to ENOSYS unless an allow
        // list restricts everything.
        Err(_) => rules.allow.is_none(),
    };
    (!allowed).then_some(rules.on_deny)
}

/// Runs syscall `nr` as its entry in the contract (`table.rs`) says:
/// emulated ones by their handler; refused and unsupported ones (and
/// numbers that are no syscall) fail, reported once per number on stderr.
pub fn dispatch(ctx: &mut Ctx<'_>, nr: u64, args: &Args) -> Outcome {
    use table::Status;
    let status = table::lookup(nr).map(|e| e.status);
    if let Some(Status::Emulated { handler, .. }) = status {
        return handler(ctx, args).into();
    }
    let (errno, report) = match status {
        Some(Status::Refused { errno, report, .. }) => (errno, report),
        _ => (Errno::NOSYS, true),
    };
    // The line is made only when it is due: once per number.
    if report && ctx.kernel.reports.first(nr) {
        let name = table::name_of(nr);
        match status {
            Some(Status::Refused { why, .. }) => crate::say!(
                "runner: {name} ({nr}) refused: {why}; returned {}",
                table::errno_name(errno)
            ),
            _ => crate::say!("runner: unsupported syscall {name} ({nr}) returned ENOSYS"),
        }
    }
    Outcome::errno(errno)
}

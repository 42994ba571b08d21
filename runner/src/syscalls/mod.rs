//! Linux syscall emulation: the context a handler gets, what it returns,
//! and dispatch through the table in `table.rs`.

mod alarm;
mod capabilities;
mod clocks;
pub mod common;
mod copy;
mod ctx;
pub mod decode;
mod edges;
mod epoll;
mod eventfd;
pub mod exec;
mod fdctl;
mod file_map;
mod file_pages;
mod flock;
mod fs;
pub mod futex;
mod futex2;
mod identity;
mod inotify;
mod io;
mod ioprio;
mod membarrier;
mod memfd;
mod memlock;
mod memory;
pub mod net;
mod net_messages;
mod net_options;
mod net_server;
pub mod pidfd;
pub mod pipe;
mod poll;
mod posix_mq;
mod posix_timers;
pub mod process;
mod readiness;
mod record_locks;
mod remap;
mod resources;
mod sched_attr;
mod scheduling;
mod scm_rights;
mod select;
pub mod signalfd;
pub mod signals;
mod sigwait;
mod sleep;
mod socketpair;
mod splice;
mod stream_stat;
mod sysv;
mod sysv_msg;
mod sysv_sem;
mod sysv_shm;
pub mod table;
mod terminal;
pub mod thread;
mod time;
mod timer_spec;
mod timerfd;
mod unix;
mod wait;

use crate::abi::Errno;
use crate::kernel::death::Death;
pub use ctx::{CallerRegs, Ctx};
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
    /// Fork a child process (fork, vfork, clone without CLONE_VM): the run
    /// loop makes it (run/processes.rs) and returns its pid.
    Fork(Box<ForkRequest>),
    /// execve succeeded: the process runs its new program from here (the
    /// run loop resets the thread's registers).
    Exec(Box<ExecStart>),
    /// A signal to other processes (kill to a pid, a group, or -1): the
    /// run loop reaches them and returns 0 or -ESRCH.
    SignalProcesses(Box<SignalRequest>),
    /// execve from a process with other threads, whose program checked
    /// out: the run loop ends every other thread (as Linux's de_thread),
    /// then runs the call again, now from the only thread.
    ExecAlone,
}

/// What fork, vfork and a process-creating clone ask for.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForkRequest {
    /// The signal the parent gets when the child ends (SIGCHLD for fork).
    pub exit_signal: u64,
    /// The child's stack pointer (0: the parent's).
    pub stack: u64,
    /// CLONE_SETTLS: the child's FS base.
    pub tls: Option<u64>,
    /// CLONE_PARENT_SETTID: where the parent gets the child's pid.
    pub parent_tid: Option<u64>,
    /// CLONE_PIDFD: where the parent gets a pidfd for the child.
    pub pidfd: Option<u64>,
    /// CLONE_CHILD_SETTID: where the child gets its pid (in its memory).
    pub child_tid: Option<u64>,
    /// CLONE_CHILD_CLEARTID: the child's clear_child_tid.
    pub clear_child_tid: u64,
    /// vfork or CLONE_VFORK: the parent waits until the child execs or
    /// ends.
    pub vfork: bool,
    /// vfork, or CLONE_VM with CLONE_VFORK: the child runs in the parent's
    /// memory, lent to it while the parent waits (the parent's other
    /// threads park meanwhile: docs/architecture.md, "Processes").
    pub share_memory: bool,
}

/// Where the new program of an execve starts.
#[derive(Debug)]
pub struct ExecStart {
    pub entry: u64,
    pub rsp: u64,
    /// A vfork child's exec: the address space it ran in goes back to the
    /// parent that lent it (its pid).
    pub give_back: Option<(u64, crate::guest::address_space::AddressSpace)>,
}

/// Which processes a kill names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipients {
    Pid(u64),
    Group(u64),
    /// kill(-1): every process but the caller's.
    All,
}

/// A signal for other processes.
#[derive(Debug, Clone, Copy)]
pub struct SignalRequest {
    pub to: Recipients,
    /// 0: only check they exist.
    pub sig: u64,
    pub info: crate::abi::sigframe::SigInfo,
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
    /// As `Retry`, and at `until` the call runs again too: it ends itself
    /// there (mq_timedreceive's ETIMEDOUT). Like `Retry`, a handler's
    /// signal restarts it under SA_RESTART.
    RetryUntil { until: Instant },
    /// poll, select, epoll_wait, rt_sigtimedwait, a blocking read of a
    /// timerfd or signalfd: nothing is ready yet. Run the call again after
    /// another thread's syscall, after a few milliseconds when `host`
    /// descriptors are watched, at `timer` (a watched timerfd's next
    /// expiry), when one of `signals` is pending (blocked or not), and at
    /// `until` (None: never), with `Thread::resume` holding `until` so the
    /// call keeps its first end. `restart`: a handler's signal restarts it
    /// under SA_RESTART (a read, as Linux's -ERESTARTSYS), else EINTR
    /// (poll, select, epoll_wait, sigtimedwait, as Linux).
    Poll {
        until: Option<Instant>,
        host: bool,
        timer: Option<Instant>,
        signals: u64,
        restart: bool,
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
            restart: false,
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
            Wait::Sleep { until } | Wait::RetryUntil { until } => Some(until),
            Wait::Retry | Wait::Signal => None,
        }
    }

    /// Whether the call runs again after any thread's syscall (`Retry`,
    /// `RetryUntil`).
    pub fn retries(self) -> bool {
        matches!(self, Wait::Retry | Wait::RetryUntil { .. })
    }

    /// Whether a handler's signal with SA_RESTART runs the call again
    /// (the calls that only wait for another thread, and the reads that
    /// wait on a descriptor) rather than ending it with EINTR.
    pub fn restarts(self) -> bool {
        self.retries() || matches!(self, Wait::Poll { restart: true, .. })
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
    /// See [`Stop::Fork`].
    Fork(Box<ForkRequest>),
    /// See [`Stop::Exec`].
    Exec(Box<ExecStart>),
    /// See [`Stop::SignalProcesses`].
    SignalProcesses(Box<SignalRequest>),
    /// See [`Stop::ExecAlone`].
    ExecAlone,
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
            Err(Stop::Fork(f)) => Outcome::Fork(f),
            Err(Stop::Exec(e)) => Outcome::Exec(e),
            Err(Stop::SignalProcesses(s)) => Outcome::SignalProcesses(s),
            Err(Stop::ExecAlone) => Outcome::ExecAlone,
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
    match u32::try_from(nr) {
        Ok(n) => rules.refusal(n, args),
        // Numbers beyond u32 are no syscall: left to ENOSYS unless an allow
        // list restricts everything.
        Err(_) => rules.allow.is_some().then_some(rules.on_deny),
    }
}

/// Runs syscall `nr` as its entry in the contract (`table.rs`) says:
/// emulated ones by their handler; refused and unsupported ones (and
/// numbers that are no syscall) fail, reported once per number on stderr.
pub fn dispatch(ctx: &mut Ctx<'_>, nr: u64, args: &Args) -> Outcome {
    use table::Status;
    let status = table::lookup(nr).map(|e| e.status);
    if let Some(Status::Emulated { handler, .. }) = status {
        let result = handler(ctx, args);
        if let Err(Stop::Fail(errno)) = &result {
            edges::note(ctx, nr, args, *errno);
        }
        return result.into();
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

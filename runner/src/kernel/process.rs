//! A process: one thread group and what its threads share.

use super::fds::FdTable;
use super::limits::Limits;
use super::parker::Parker;
use super::signal_state::SignalActions;
use super::thread_group::ThreadGroup;
use crate::guest::address_space::AddressSpace;
use crate::guest::layout::MAX_VCPUS;
use crate::vfs::Vfs;
use sandbox_policy::Policy;
use std::sync::Arc;

/// The pid (and the first thread's tid) the guest sees: it is alone in
/// its VM.
pub const GUEST_PID: u64 = 2;
/// The parent the guest sees (init).
pub const GUEST_PPID: u64 = 1;
/// uid, euid, gid, egid of the guest unless the policy's `[identity]`
/// says otherwise (matches AT_UID and friends).
pub const GUEST_ID: u64 = sandbox_policy::defaults::GUEST_ID as u64;

/// Who a process is: nothing of the host's identity shows; the uid and
/// gid are the policy's `[identity]`, and the guest cannot change its ids
/// except to themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub pid: u64,
    pub ppid: u64,
    pub uid: u64,
    pub gid: u64,
}

/// The identity of the sandbox's first process.
pub const GUEST_IDENTITY: Identity = Identity {
    pid: GUEST_PID,
    ppid: GUEST_PPID,
    uid: GUEST_ID,
    gid: GUEST_ID,
};

/// What a process's threads share (their locks: `docs/architecture.md`,
/// "The lock plan").
#[derive(Debug)]
pub struct Process {
    pub identity: Identity,
    /// The descriptor table.
    pub fds: FdTable,
    /// The policy's files, prepared before the run, and the cwd.
    pub vfs: Vfs,
    /// Signal dispositions.
    pub signal_actions: SignalActions,
    /// The policy's limits and the rlimits the guest may lower.
    pub limits: Limits,
    /// Its address space: the mappings and the page tables its threads'
    /// vCPUs run on.
    pub mm: AddressSpace,
    /// Its threads, as the others see them (kernel/thread_group.rs).
    pub threads: Arc<ThreadGroup>,
    /// The real-time interval timer (alarm, setitimer ITIMER_REAL).
    pub alarm: Option<Alarm>,
    /// POSIX timers (timer_create).
    pub timers: super::timers::PosixTimers,
    /// Bumped whenever a timer is set, so each thread re-arms the kick
    /// that takes its vCPU out of the guest at the next expiry.
    pub timers_changed: u64,
    /// The siginfo of pending signals that carry more than a number.
    pub signal_info: super::signal_state::PendingInfo,
    /// prctl(PR_SET_PDEATHSIG): the signal it gets when its parent ends
    /// (0: none). Not inherited at fork.
    pub parent_death_signal: u64,
    /// Job control: the stop signal that stopped the process, until
    /// SIGCONT or SIGKILL (run/job_control.rs). Its threads run no user
    /// code meanwhile.
    pub stopped: Option<u64>,
    /// Its address space is lent to a vfork child (run/processes.rs): its
    /// other threads run nothing and touch no memory until the child
    /// execs or ends and gives it back.
    pub mm_lent: bool,
    /// Its shared file mappings, written back to their files
    /// (kernel/file_maps.rs). A fork's child gets a copy (it shares the
    /// pages).
    pub file_maps: super::file_maps::FileMaps,
    /// The file-mode creation mask (umask): inherited at fork, kept at
    /// execve, 022 for the first program.
    pub umask: u32,
    /// Its nice value and scheduling policy (syscalls/scheduling.rs):
    /// inherited at fork, kept at execve.
    pub sched: Scheduling,
    /// Its execution domain (personality(2), syscalls/identity.rs): 0,
    /// PER_LINUX, with at most ADDR_NO_RANDOMIZE; inherited at fork,
    /// kept at execve.
    pub personality: u32,
    /// The membarrier commands its address space registered for
    /// (syscalls/membarrier.rs): a fork's child has its parent's (a copy
    /// of the address space), execve none, as Linux.
    pub membarrier: u64,
    /// The program's path as it was started (`/proc/self/exe`), and its
    /// arguments, each NUL-terminated (`/proc/self/cmdline`).
    pub exe: Vec<u8>,
    pub cmdline: Vec<u8>,
    /// The syscall ring's code in this address space (ring/sites.rs).
    pub ring: crate::ring::sites::RingCode,
    /// System V shared memory segments attached, by address (a fork's
    /// child gets a copy: its attachments count too; exec and exit drop
    /// them).
    pub shm_attached: std::collections::BTreeMap<u64, super::sysv_ipc::Attached>,
}

/// A process's scheduling as the program sets and reads it: the runner
/// schedules nothing itself (the host runs the vCPUs), but what a program
/// set is what it reads back, within what Linux lets an unprivileged
/// user set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scheduling {
    /// -20..=19; only ever raised (a lower value needs CAP_SYS_NICE).
    pub nice: i32,
    /// SCHED_OTHER (0), SCHED_BATCH (3) or SCHED_IDLE (5).
    pub policy: u32,
    /// SCHED_RESET_ON_FORK was set with the policy.
    pub reset_on_fork: bool,
    /// The I/O priority ioprio_set gave (class << 13 | level); 0, class
    /// IOPRIO_CLASS_NONE, until then (syscalls/ioprio.rs).
    pub ioprio: u16,
    /// The utilization clamps sched_setattr set (min, max), out of 1024;
    /// None: Linux's defaults, 0 and 1024.
    pub uclamp: Option<(u32, u32)>,
}

impl Scheduling {
    /// What a forked child starts with: the same, but SCHED_RESET_ON_FORK
    /// gives it no flag and no negative nice value (it would also reset
    /// a real-time policy, which no process here has).
    pub fn for_child(self) -> Scheduling {
        if self.reset_on_fork {
            Scheduling {
                nice: self.nice.max(0),
                reset_on_fork: false,
                uclamp: None,
                ..self
            }
        } else {
            self
        }
    }
}

/// The first program's umask, as a login shell's usually is.
pub const FIRST_UMASK: u32 = 0o022;

impl Process {
    /// The next time a timer (the alarm or a POSIX timer) is due.
    pub fn next_timer(&self) -> Option<std::time::Instant> {
        let alarm = self.alarm.map(|a| a.at);
        match (alarm, self.timers.next_expiry()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// When SIGALRM is due, and its period for setitimer's repeating timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alarm {
    pub at: std::time::Instant,
    pub every: Option<std::time::Duration>,
}

impl Process {
    /// A process with `fds` in address space `mm`, no files and the
    /// default limits.
    pub fn new(fds: FdTable, mm: AddressSpace) -> Process {
        Process {
            identity: GUEST_IDENTITY,
            fds,
            vfs: Vfs::empty(),
            signal_actions: SignalActions::default(),
            limits: Limits::default(),
            mm,
            threads: Arc::new(ThreadGroup::new(
                u64::from(sandbox_policy::defaults::THREADS).min(MAX_VCPUS),
                Arc::new(Parker::default()),
            )),
            alarm: None,
            timers: Default::default(),
            timers_changed: 0,
            signal_info: Default::default(),
            parent_death_signal: 0,
            stopped: None,
            mm_lent: false,
            file_maps: Default::default(),
            shm_attached: Default::default(),
            umask: FIRST_UMASK,
            sched: Scheduling::default(),
            personality: 0,
            membarrier: 0,
            exe: Vec::new(),
            cmdline: Vec::new(),
            ring: Default::default(),
        }
    }

    /// The first process of a run under `policy`: `vfs` from
    /// `Vfs::prepare`, the fd limit and rlimits from the policy.
    pub fn for_policy(mut fds: FdTable, vfs: Vfs, policy: &Policy, mm: AddressSpace) -> Process {
        let limits = &policy.limits;
        fds.set_limit(limits.open_files);
        Process {
            identity: Identity {
                uid: u64::from(policy.identity.uid),
                gid: u64::from(policy.identity.gid),
                ..GUEST_IDENTITY
            },
            fds,
            vfs,
            signal_actions: SignalActions::default(),
            limits: Limits::new(
                limits.memory_bytes,
                u64::from(limits.open_files),
                crate::guest::layout::stack_size(limits.memory_bytes),
                limits.cpu_time,
            ),
            mm,
            threads: Arc::new(ThreadGroup::new(
                u64::from(limits.threads).min(MAX_VCPUS),
                Arc::new(Parker::default()),
            )),
            alarm: None,
            timers: Default::default(),
            timers_changed: 0,
            signal_info: Default::default(),
            parent_death_signal: 0,
            stopped: None,
            mm_lent: false,
            file_maps: Default::default(),
            shm_attached: Default::default(),
            umask: FIRST_UMASK,
            sched: Scheduling::default(),
            personality: 0,
            membarrier: 0,
            exe: Vec::new(),
            cmdline: Vec::new(),
            ring: Default::default(),
        }
    }
}

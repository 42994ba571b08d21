//! Limits and the clock: a process's resource limits (the policy's, for
//! getrlimit, sysinfo and the descriptor limit, and the rlimits the guest
//! may lower) and the run's wall clock.

use crate::abi::constants::{
    RLIMIT_AS, RLIMIT_CORE, RLIMIT_COUNT, RLIMIT_CPU, RLIMIT_DATA, RLIMIT_MEMLOCK, RLIMIT_MSGQUEUE,
    RLIMIT_NICE, RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_RTPRIO, RLIMIT_SIGPENDING, RLIMIT_STACK,
    RLIM_INFINITY,
};
use std::time::{Duration, Instant};

/// A process's resource limits: the policy's, and the rlimits the guest
/// may lower (never raise above their hard value).
#[derive(Debug, Clone)]
pub struct Limits {
    pub memory_limit: u64,
    pub open_files: u64,
    /// (soft, hard) per resource.
    pub rlimits: [(u64, u64); RLIMIT_COUNT],
}

impl Limits {
    pub fn new(
        memory_limit: u64,
        open_files: u64,
        stack_size: u64,
        cpu_time: Option<Duration>,
    ) -> Limits {
        let mut rlimits = [(RLIM_INFINITY, RLIM_INFINITY); RLIMIT_COUNT];
        let cpu = cpu_time.map_or(RLIM_INFINITY, |d| d.as_secs().max(1));
        rlimits[RLIMIT_CPU] = (cpu, cpu);
        rlimits[RLIMIT_DATA] = (memory_limit, memory_limit);
        rlimits[RLIMIT_STACK] = (stack_size, stack_size);
        rlimits[RLIMIT_CORE] = (0, 0);
        rlimits[RLIMIT_NPROC] = (1, 1);
        rlimits[RLIMIT_NOFILE] = (open_files, open_files);
        rlimits[RLIMIT_MEMLOCK] = (0, 0);
        rlimits[RLIMIT_AS] = (memory_limit, memory_limit);
        rlimits[RLIMIT_SIGPENDING] = (64, 64);
        // Linux's default: what the POSIX message queues may count
        // (kernel/posix_mq.rs).
        let mq = super::posix_mq::BYTES_MAX;
        rlimits[RLIMIT_MSGQUEUE] = (mq, mq);
        rlimits[RLIMIT_NICE] = (0, 0);
        rlimits[RLIMIT_RTPRIO] = (0, 0);
        Limits {
            memory_limit,
            open_files,
            rlimits,
        }
    }

    /// The descriptor limit in force (RLIMIT_NOFILE's soft value, which the
    /// guest may only lower below the policy's).
    pub fn fd_limit(&self) -> u64 {
        self.rlimits[RLIMIT_NOFILE].0.min(self.open_files)
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::new(256 << 20, 64, 2 << 20, None)
    }
}

/// The run's clock: when it started and when its wall-clock limit passes
/// (sleeps and waits end there, with status 137). Shared by every process
/// of the sandbox.
#[derive(Debug, Clone, Copy)]
pub struct RunClock {
    pub start: Instant,
    pub deadline: Instant,
    pub wall_limit: Duration,
}

impl RunClock {
    /// A run of at most `wall_limit` that started at `start`.
    pub fn new(start: Instant, wall_limit: Duration) -> RunClock {
        RunClock {
            start,
            deadline: start.checked_add(wall_limit).unwrap_or(start),
            wall_limit,
        }
    }
}

impl Default for RunClock {
    fn default() -> RunClock {
        RunClock::new(Instant::now(), Duration::from_secs(60))
    }
}

/// A thread's name (`prctl(PR_SET_NAME)`): the program's base name at
/// start, NUL-padded to 16 bytes.
pub fn comm_of(program: &[u8]) -> [u8; 16] {
    let base = program.rsplit(|&b| b == b'/').next().unwrap_or(program);
    let mut comm = [0u8; 16];
    let n = base.len().min(15);
    comm[..n].copy_from_slice(&base[..n]);
    comm
}

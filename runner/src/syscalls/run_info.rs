//! What the emulation knows about the run itself: when it started, its
//! wall-clock deadline, the policy's limits (for getrlimit, sysinfo, the
//! descriptor limit) and the resource limits the guest may lower.

use std::time::{Duration, Instant};

/// `RLIM_INFINITY`.
pub const RLIM_INFINITY: u64 = u64::MAX;
/// Number of Linux resource limits (RLIMIT_CPU ..= RLIMIT_RTTIME).
pub const RLIMIT_COUNT: usize = 16;
pub const RLIMIT_CPU: usize = 0;
pub const RLIMIT_DATA: usize = 2;
pub const RLIMIT_STACK: usize = 3;
pub const RLIMIT_CORE: usize = 4;
pub const RLIMIT_NPROC: usize = 6;
pub const RLIMIT_NOFILE: usize = 7;
pub const RLIMIT_MEMLOCK: usize = 8;
pub const RLIMIT_AS: usize = 9;
pub const RLIMIT_SIGPENDING: usize = 11;
pub const RLIMIT_MSGQUEUE: usize = 12;
pub const RLIMIT_NICE: usize = 13;
pub const RLIMIT_RTPRIO: usize = 14;

/// The run's limits and clock.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub start: Instant,
    /// When the wall-clock limit passes (sleeps end there, with status 137).
    pub deadline: Instant,
    pub wall_limit: Duration,
    pub memory_limit: u64,
    pub open_files: u64,
    /// The process name (`prctl(PR_GET_NAME)`), NUL-padded.
    pub comm: [u8; 16],
    /// (soft, hard) per resource; the guest may lower them.
    pub rlimits: [(u64, u64); RLIMIT_COUNT],
}

impl RunInfo {
    pub fn new(
        wall_limit: Duration,
        memory_limit: u64,
        open_files: u64,
        stack_size: u64,
        cpu_time: Option<Duration>,
        program: &[u8],
    ) -> RunInfo {
        let start = Instant::now();
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
        rlimits[RLIMIT_MSGQUEUE] = (0, 0);
        rlimits[RLIMIT_NICE] = (0, 0);
        rlimits[RLIMIT_RTPRIO] = (0, 0);
        let base = program.rsplit(|&b| b == b'/').next().unwrap_or(program);
        let mut comm = [0u8; 16];
        let n = base.len().min(15);
        comm[..n].copy_from_slice(&base[..n]);
        RunInfo {
            start,
            deadline: start.checked_add(wall_limit).unwrap_or(start),
            wall_limit,
            memory_limit,
            open_files,
            comm,
            rlimits,
        }
    }

    /// The descriptor limit in force (RLIMIT_NOFILE's soft value, which the
    /// guest may only lower below the policy's).
    pub fn fd_limit(&self) -> u64 {
        self.rlimits[RLIMIT_NOFILE].0.min(self.open_files)
    }
}

impl Default for RunInfo {
    fn default() -> RunInfo {
        RunInfo::new(
            Duration::from_secs(60),
            256 << 20,
            64,
            2 << 20,
            None,
            b"program",
        )
    }
}

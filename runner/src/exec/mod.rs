//! `runner exec`: load, build the guest, run it under the policy, report.

pub mod death;
pub mod run_loop;
pub mod stats;
pub mod syscall_path;
pub mod watchdog;

use crate::exit_status;
use crate::guest::boot::{self, Guest, StartInfo};
use crate::loader::{self, Format};
use crate::syscalls::fds::FdTable;
use crate::syscalls::ProcessState;
use death::Death;
use run_loop::RunError;
use sandbox_policy::Policy;
use stats::Stats;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use syscall_path::SyscallPath;
use thinvisor_kmod::Hypervisor;
use watchdog::Watchdog;

/// Everything `runner exec` was asked to do.
pub struct ExecOptions {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub policy: Option<PathBuf>,
    pub timeout: Option<f64>,
    pub stats: Option<PathBuf>,
    pub format: Format,
}

fn fail(msg: impl std::fmt::Display, status: i32) -> i32 {
    eprintln!("runner: {msg}");
    status
}

/// The guest's environment: the policy's variables, after the host's when
/// the policy inherits it.
fn environment(policy: &Policy) -> Vec<Vec<u8>> {
    let mut vars: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    if policy.env.inherit {
        vars.extend(std::env::vars());
    }
    vars.extend(policy.env.vars.clone());
    vars.into_iter()
        .map(|(k, v)| format!("{k}={v}").into_bytes())
        .collect()
}

/// Runs a booted guest under a watchdog that stops it `remaining` from now
/// (`limit` is the policy's wall time, for the death message), then records
/// the vCPU's counters and the peak memory in `stats`. `Ok(Ok(code))`: the
/// guest exited; `Ok(Err(death))`: it was killed; `Err`: the runner failed.
pub fn run_guest(
    guest: &mut Guest,
    state: &mut ProcessState,
    path: SyscallPath,
    limit: Duration,
    remaining: Duration,
    stats: &mut Stats,
) -> Result<Result<i32, Death>, RunError> {
    let dog = Watchdog::start(remaining, guest.vcpu.interrupter());
    let result = run_loop::run(guest, state, path, &dog, limit.as_secs_f64(), stats);
    drop(dog);
    let counters = guest.vcpu.counters();
    stats.vcpu_ioctls = counters.ioctls;
    stats.vcpu_ioctls_other = counters.ioctls - counters.runs;
    stats.guest_ns = counters.in_guest.as_nanos() as u64;
    stats.peak_guest_memory_bytes = guest.aspace.peak_bytes();
    result
}

/// Runs `runner exec`; returns the process exit status.
pub fn exec(opts: ExecOptions) -> i32 {
    let wall_start = Instant::now();
    let mut policy = match &opts.policy {
        Some(p) => match Policy::from_file(p) {
            Ok(p) => p,
            Err(e) => return fail(e, exit_status::RUNNER_FAILED),
        },
        None => Policy::default(),
    };
    if let Some(t) = opts.timeout {
        if !(t.is_finite() && t > 0.0) {
            return fail(
                format!("--timeout {t}: expected a positive number of seconds"),
                exit_status::RUNNER_FAILED,
            );
        }
        policy = policy.with_wall_time(Duration::from_secs_f64(t));
    }
    let image = match loader::load(&opts.program, opts.format, policy.limits.memory_bytes) {
        Ok(i) => i,
        Err(e) => return fail(&e, e.exit_status()),
    };
    let hv = match Hypervisor::open() {
        Ok(h) => h,
        Err(e) => return fail(e, exit_status::RUNNER_FAILED),
    };
    let path = match SyscallPath::for_platform(hv.platform()) {
        Some(p) => p,
        None => match syscall_path::probe(&hv) {
            Ok(p) => p,
            Err(e) => {
                return fail(
                    format!("cannot determine the syscall path: {e}"),
                    exit_status::RUNNER_FAILED,
                )
            }
        },
    };
    let mut argv: Vec<Vec<u8>> = vec![opts.program.as_os_str().as_encoded_bytes().to_vec()];
    argv.extend(opts.args.iter().map(|a| a.as_bytes().to_vec()));
    let envp = environment(&policy);
    let start = StartInfo {
        argv: &argv,
        envp: &envp,
        memory_limit: policy.limits.memory_bytes,
    };
    let mut guest = match boot::boot(&hv, &image, &start) {
        Ok(g) => g,
        Err(e) => {
            return fail(
                format!("cannot build the guest: {e}"),
                exit_status::RUNNER_FAILED,
            )
        }
    };
    let fds =
        match FdTable::with_stdio(policy.stdio.stdin, policy.stdio.stdout, policy.stdio.stderr) {
            Ok(f) => f,
            Err(e) => {
                return fail(
                    format!("cannot set up standard streams: {e}"),
                    exit_status::RUNNER_FAILED,
                )
            }
        };
    let mut state = ProcessState::new(fds);
    let mut stats = Stats {
        platform: hv.platform().to_string(),
        syscall_path: path.short().to_string(),
        ..Stats::default()
    };
    let limit = policy.limits.wall_time;
    let result = run_guest(
        &mut guest,
        &mut state,
        path,
        limit,
        limit.saturating_sub(wall_start.elapsed()),
        &mut stats,
    );
    let status = match result {
        Ok(Ok(code)) => code,
        Ok(Err(death)) => {
            eprintln!("runner: {death}");
            death.exit_status()
        }
        Err(e) => fail(format!("run failed: {e}"), exit_status::RUNNER_FAILED),
    };
    stats.exit_status = status;
    stats.wall_ns = wall_start.elapsed().as_nanos() as u64;
    if let Some(p) = &opts.stats {
        if let Err(e) = stats.write(p) {
            return fail(
                format!("cannot write stats to {}: {e}", p.display()),
                exit_status::RUNNER_FAILED,
            );
        }
    }
    status
}

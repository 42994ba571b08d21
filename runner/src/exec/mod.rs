//! `runner exec`: load, build the guest, lock the runner down, run the
//! guest under the policy, report.

pub mod deadline;

pub mod run_loop;
pub mod stats;
pub mod syscall_path;

use crate::exit_status;
use crate::guest::boot::{self, Blank, Guest, StartInfo};
use crate::kernel::death::Death;
use crate::kernel::fds::FdTable;
use crate::kernel::Sandbox;
use crate::loader::{self, Format};
use crate::lockdown;
use crate::monitor::{probe, MonitorBoot, MonitorMode};
use crate::vfs::Vfs;
use deadline::Deadline;
use run_loop::RunError;
use sandbox_policy::Policy;
use stats::Stats;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use syscall_path::SyscallPath;
use thinvisor_kmod::Hypervisor;

/// Everything `runner exec` was asked to do (also what a `runner serve`
/// client sends its worker).
#[derive(Debug, Clone, clap::Args, serde::Serialize, serde::Deserialize)]
pub struct ExecOptions {
    /// Policy file (TOML); without it a safe default applies.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Wall-clock limit in seconds (overrides the policy's wall_time).
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    pub timeout: Option<f64>,
    /// Write run statistics as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub stats: Option<PathBuf>,
    /// Program format.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,
    /// The in-VM monitor, which answers getpid-style queries, clock
    /// reads, uname, brk, policy refusals and buffered stdout/stderr
    /// writes without leaving the VM (docs/monitor.md). auto: on where a
    /// measured probe finds it faster than an exit (see `runner info`).
    #[arg(long, value_enum, default_value_t = MonitorMode::Auto)]
    pub monitor: MonitorMode,
    /// 2 MiB guest pages for whole, aligned 2 MiB of anonymous memory,
    /// backed by host huge pages: far fewer page faults for programs that
    /// touch a lot of fresh memory. Never used together with the monitor
    /// (docs/architecture.md, "2 MiB pages").
    #[arg(long, value_enum, default_value_t = HugePages::On)]
    pub huge_pages: HugePages,
    /// Testing only: enter the monitor past its gate's first instruction
    /// (the entry marker); the monitor must refuse every entry (159).
    #[arg(long, hide = true)]
    pub monitor_test_skip_marker: bool,
    /// The program to run.
    pub program: PathBuf,
    /// Arguments passed to the program.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// `--huge-pages`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
pub enum HugePages {
    On,
    Off,
}

fn fail(msg: impl std::fmt::Display, status: i32) -> i32 {
    eprintln!("runner: {msg}");
    status
}

/// What a `runner serve` worker brings to a run (`serve/worker.rs`): the
/// hypervisor handle it opened, the VM it built before the request came,
/// the client's environment, and when the request arrived.
pub struct Prebuilt {
    pub hv: Hypervisor,
    pub blank: Option<Blank>,
    pub env: Vec<(String, String)>,
    pub received: Instant,
    /// The client's connection: the run ends if it hangs up.
    pub client: std::os::fd::OwnedFd,
}

/// The guest's environment: the policy's variables, after the host's (the
/// runner's own, or the client's for a served run) when the policy inherits
/// it.
fn environment(policy: &Policy, host: Option<&[(String, String)]>) -> Vec<Vec<u8>> {
    let mut vars: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    if policy.env.inherit {
        match host {
            Some(env) => vars.extend(env.iter().cloned()),
            None => vars.extend(std::env::vars()),
        }
    }
    vars.extend(policy.env.vars.clone());
    vars.into_iter()
        .map(|(k, v)| format!("{k}={v}").into_bytes())
        .collect()
}

/// Runs a booted guest under a deadline that stops it `remaining` from now
/// (`limit` is the policy's wall time, for the death message), then records
/// the vCPU's counters and the peak memory in `stats`. `Ok(Ok(code))`: the
/// guest exited; `Ok(Err(death))`: it was killed; `Err`: the runner failed.
pub fn run_guest(
    guest: &mut Guest,
    state: &mut Sandbox,
    path: SyscallPath,
    limit: Duration,
    remaining: Duration,
    client: Option<std::os::fd::OwnedFd>,
    stats: &mut Stats,
) -> Result<Result<i32, Death>, RunError> {
    let mut deadline = Deadline::arm(&guest.vcpu, remaining)?;
    if let Some(c) = client {
        deadline.watch(c);
    }
    let result = run_loop::run(guest, state, path, &deadline, limit.as_secs_f64(), stats);
    drop(deadline);
    let counters = guest.vcpu.counters();
    stats.vcpu_ioctls = counters.ioctls;
    stats.vcpu_ioctls_other = counters.ioctls - counters.runs;
    stats.guest_ns = counters.in_guest.as_nanos() as u64;
    stats.peak_guest_memory_bytes = guest.aspace.peak_bytes();
    let huge = guest.aspace.huge_counts;
    stats.huge_pages = if guest.aspace.huge_pages { "on" } else { "off" }.to_string();
    stats.huge_pages_mapped = huge.mapped;
    stats.huge_pages_split = huge.split;
    stats.page_table_root_switches = huge.root_switches;
    result
}

/// Runs `runner exec`; returns the process exit status.
pub fn exec(opts: ExecOptions) -> i32 {
    run(opts, None)
}

/// Runs `runner exec` for a `runner serve` client in a worker that built
/// its VM ahead of the request; returns the exit status.
pub fn exec_prebuilt(opts: ExecOptions, prebuilt: Prebuilt) -> i32 {
    run(opts, Some(prebuilt))
}

fn run(opts: ExecOptions, prebuilt: Option<Prebuilt>) -> i32 {
    let wall_start = prebuilt.as_ref().map_or_else(Instant::now, |p| p.received);
    let (prebuilt_hv, blank, host_env, client) = match prebuilt {
        Some(p) => (Some(p.hv), p.blank, Some(p.env), Some(p.client)),
        None => (None, None, None, None),
    };
    // A served run ends when its client goes away: the kernel kicks this
    // thread (the vCPU's) when the connection hangs up.
    if let Some(c) = &client {
        if let Err(e) = thinvisor_kmod::process_signals::kick_on_input(std::os::fd::AsFd::as_fd(c))
        {
            return fail(
                format!("cannot watch the client connection: {e}"),
                exit_status::RUNNER_FAILED,
            );
        }
    }
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
    // Open every [[files]] location now: after this point the runner never
    // names a [[files]] host path again (all guest file access goes through
    // these fds, and the self-sandbox grants its rights on these same fds).
    let vfs = match Vfs::prepare(&policy.files) {
        Ok(v) => v,
        Err(e) => return fail(format!("policy {e}"), exit_status::RUNNER_FAILED),
    };
    let mut stats = Stats::default();
    let mut mark = wall_start;
    stats.end_phase("prepare", &mut mark);
    let hv = match prebuilt_hv.map_or_else(Hypervisor::open, Ok) {
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
    let use_monitor = match opts.monitor {
        MonitorMode::On => true,
        MonitorMode::Off => false,
        // Known platforms decide without the probe's two extra VM boots
        // (about 5 ms); only an unknown backend is measured.
        MonitorMode::Auto => match probe::expected(hv.platform())
            .map(Ok)
            .unwrap_or_else(|| probe::decide(&hv, path).map(|d| d.use_monitor))
        {
            Ok(use_it) => use_it,
            Err(e) => {
                eprintln!("runner: monitor probe failed ({e}); running without the monitor");
                false
            }
        },
    };
    let mut argv: Vec<Vec<u8>> = vec![opts.program.as_os_str().as_encoded_bytes().to_vec()];
    argv.extend(opts.args.iter().map(|a| a.as_bytes().to_vec()));
    let envp = environment(&policy, host_env.as_deref());
    let start = StartInfo {
        argv: &argv,
        envp: &envp,
        memory_limit: policy.limits.memory_bytes,
        monitor: use_monitor.then_some(MonitorBoot {
            pf_path: path == SyscallPath::PageFaultFrame,
            skip_marker: opts.monitor_test_skip_marker,
        }),
        vdso: policy.syscalls.vdso_allowed(),
        huge_pages: opts.huge_pages == HugePages::On,
    };
    // A served run uses the VM built ahead when the memory limit fits it.
    let blank = blank.filter(|b| b.fits(start.memory_limit));
    stats.vm_prebuilt = blank.is_some();
    let booted = match blank {
        Some(b) => boot::boot_blank(b, &image, &start).map(|mut g| {
            g.vm.seal_memory_layout();
            g
        }),
        None => boot::boot(&hv, &image, &start),
    };
    let mut guest = match booted {
        Ok(g) => g,
        Err(e) => return fail(format!("{}: {e}", opts.program.display()), e.exit_status()),
    };
    stats.end_phase("build_vm", &mut mark);
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
    // Created now: once locked down, the runner can no longer open it.
    let stats_file = match &opts.stats {
        Some(p) => match std::fs::File::create(p) {
            Ok(f) => Some(f),
            Err(e) => {
                return fail(
                    format!("cannot write stats to {}: {e}", p.display()),
                    exit_status::RUNNER_FAILED,
                )
            }
        },
        None => None,
    };
    // The guest is built and every descriptor the run needs is open: give
    // up everything else before the first guest instruction. The runner
    // stays single-threaded: the time limit is a kernel timer (Deadline).
    if let Err(e) = lockdown::lock_down(&policy, &vfs) {
        return fail(
            format!("cannot lock down the runner: {e}"),
            exit_status::RUNNER_FAILED,
        );
    }
    let program = opts.program.as_os_str().as_encoded_bytes();
    let mut state = Sandbox::for_run(fds, vfs, &policy, program, wall_start);
    if let Some(m) = guest.monitor.as_mut() {
        let configured = guest
            .vm
            .memory_mut(guest.slot)
            .map_err(crate::monitor::MonitorError::from)
            .and_then(|mem| {
                m.configure(
                    mem,
                    &guest.aspace,
                    &state.kernel.rules,
                    &state.kernel.tunnel_ranges,
                    &mut state.process.fds,
                    &state.kernel.budget,
                )
            });
        if let Err(e) = configured {
            return fail(
                format!("cannot configure the monitor: {e}"),
                exit_status::RUNNER_FAILED,
            );
        }
    }
    stats.platform = hv.platform().to_string();
    stats.syscall_path = path.short().to_string();
    stats.monitor = if use_monitor { "on" } else { "off" }.to_string();
    stats.vdso = if guest.vdso { "on" } else { "off" }.to_string();
    stats.end_phase("lock_down", &mut mark);
    let limit = policy.limits.wall_time;
    let result = run_guest(
        &mut guest,
        &mut state,
        path,
        limit,
        limit.saturating_sub(wall_start.elapsed()),
        client,
        &mut stats,
    );
    stats.end_phase("run", &mut mark);
    let status = match result {
        Ok(Ok(code)) => code,
        Ok(Err(death)) => {
            eprintln!("runner: {death}");
            death.exit_status()
        }
        Err(e) => fail(format!("run failed: {e}"), exit_status::RUNNER_FAILED),
    };
    if let Some(m) = guest.monitor.as_ref() {
        let totals = guest
            .vm
            .memory(guest.slot)
            .map_err(crate::monitor::MonitorError::from)
            .and_then(|mem| m.totals(mem));
        match totals {
            Ok(t) => {
                stats.syscalls_in_vm = t.in_vm;
                stats.denied += t.denied;
                for (nr, n) in t.by_nr {
                    let name = crate::syscalls::table::name_of(nr);
                    *stats.syscalls.entry(name.to_string()).or_default() += n;
                    *stats
                        .syscalls_in_vm_by_name
                        .entry(name.to_string())
                        .or_default() += n;
                }
            }
            Err(e) => {
                return fail(
                    format!("cannot read the monitor's counters: {e}"),
                    exit_status::RUNNER_FAILED,
                )
            }
        }
        stats.monitor_flush_errors = m.flush_errors;
    }
    stats.exit_status = status;
    stats.wall_ns = wall_start.elapsed().as_nanos() as u64;
    if let (Some(p), Some(file)) = (&opts.stats, stats_file) {
        if let Err(e) = stats.write(file) {
            return fail(
                format!("cannot write stats to {}: {e}", p.display()),
                exit_status::RUNNER_FAILED,
            );
        }
    }
    status
}

//! `runner exec` as stages, each a type that only the stage before it can
//! make, so the order cannot be got wrong:
//!
//! ```text
//! prepare(options)   -> Prepared  policy, program image, the policy's files opened
//!   .boot(..)        -> Booted    the VM built, the engine chosen
//!   .lock_down()     -> Locked    every descriptor opened, the runner locked down,
//!                                 the kernel objects made, the monitor configured
//!   .run()           -> Finished  the guest ran to its end (exit, death or failure)
//!   .report()        -> status    monitor counters folded in, --stats written
//! ```
//!
//! Every stage fails with a [`RunFailure`], which carries the exit status
//! (125 when the runner fails, 126/127 when the program cannot be loaded).

use super::boot::{self, Blank, Guest, Machine, StartInfo};
use super::deadline::Deadline;
use super::engine::Engine;
use super::options::{ExecOptions, HugePages};
use super::run_loop::{self, RunError};
use super::stats::Stats;
use super::syscall_path::SyscallPath;
use crate::exit_status::RUNNER_FAILED;
use crate::kernel::death::Death;
use crate::kernel::fds::FdTable;
use crate::kernel::Sandbox;
use crate::loader::{self, Image};
use crate::lockdown;
use crate::monitor::{MonitorBoot, MonitorError};
use crate::vfs::Vfs;
use sandbox_policy::Policy;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};
use thinvisor_kmod::Hypervisor;

/// Why a run stopped before its guest's own end: what to print after
/// `runner: `, and the exit status.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct RunFailure {
    message: String,
    status: i32,
}

impl RunFailure {
    /// The runner itself failed (status 125).
    pub fn runner(message: impl std::fmt::Display) -> RunFailure {
        RunFailure::with_status(message, RUNNER_FAILED)
    }

    pub fn with_status(message: impl std::fmt::Display, status: i32) -> RunFailure {
        RunFailure {
            message: message.to_string(),
            status,
        }
    }

    /// The exit status of `runner exec`.
    pub fn exit_status(&self) -> i32 {
        self.status
    }
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
    pub client: OwnedFd,
}

/// Runs `runner exec`, stage by stage; returns the exit status.
pub fn exec(opts: ExecOptions, prebuilt: Option<Prebuilt>) -> i32 {
    let staged = prepare(opts, prebuilt)
        .and_then(Prepared::boot)
        .and_then(Booted::lock_down)
        .and_then(Locked::run)
        .and_then(Finished::report);
    match staged {
        Ok(status) => status,
        Err(f) => {
            eprintln!("runner: {f}");
            f.exit_status()
        }
    }
}

/// The first stage's result: the policy, the program and its files.
pub struct Prepared {
    opts: ExecOptions,
    policy: Policy,
    image: Image,
    vfs: Vfs,
    /// When the run started (for a served run: when the request arrived).
    wall_start: Instant,
    /// The end of the last phase measured (for `--stats` phases).
    mark: Instant,
    stats: Stats,
    host_env: Option<Vec<(String, String)>>,
    hv: Option<Hypervisor>,
    blank: Option<Blank>,
    client: Option<OwnedFd>,
}

/// Reads the policy, loads the program and opens every `[[files]]`
/// location: after this the runner never names a `[[files]]` host path
/// again (all file access goes through these descriptors), so the
/// self-sandbox can restrict it to exactly the policy's paths.
pub fn prepare(opts: ExecOptions, prebuilt: Option<Prebuilt>) -> Result<Prepared, RunFailure> {
    let wall_start = prebuilt.as_ref().map_or_else(Instant::now, |p| p.received);
    let (hv, blank, host_env, client) = match prebuilt {
        Some(p) => (Some(p.hv), p.blank, Some(p.env), Some(p.client)),
        None => (None, None, None, None),
    };
    // A served run ends when its client goes away: the kernel kicks this
    // thread (the vCPU's) when the connection hangs up.
    if let Some(c) = &client {
        thinvisor_kmod::process_signals::kick_on_input(std::os::fd::AsFd::as_fd(c))
            .map_err(|e| RunFailure::runner(format!("cannot watch the client connection: {e}")))?;
    }
    let mut policy = match &opts.policy {
        Some(p) => Policy::from_file(p).map_err(RunFailure::runner)?,
        None => Policy::default(),
    };
    if let Some(t) = opts.timeout {
        if !(t.is_finite() && t > 0.0) {
            return Err(RunFailure::runner(format!(
                "--timeout {t}: expected a positive number of seconds"
            )));
        }
        policy = policy.with_wall_time(Duration::from_secs_f64(t));
    }
    let image = loader::load(&opts.program, opts.format, policy.limits.memory_bytes)
        .map_err(|e| RunFailure::with_status(&e, e.exit_status()))?;
    let vfs = Vfs::prepare(&policy.files).map_err(|e| RunFailure::runner(format!("policy {e}")))?;
    let mut stats = Stats::default();
    let mut mark = wall_start;
    stats.end_phase("prepare", &mut mark);
    Ok(Prepared {
        opts,
        policy,
        image,
        vfs,
        wall_start,
        mark,
        stats,
        host_env,
        hv,
        blank,
        client,
    })
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

/// The second stage's result: the VM, built and ready to run.
pub struct Booted {
    prepared: Prepared,
    hv: Hypervisor,
    engine: Engine,
    guest: Guest,
}

impl Prepared {
    /// Opens the hypervisor (or takes a served run's), chooses the engine
    /// and builds the VM (or fills the one built ahead, when the memory
    /// limit fits it).
    pub fn boot(mut self) -> Result<Booted, RunFailure> {
        let hv = match self.hv.take() {
            Some(h) => h,
            None => Hypervisor::open().map_err(RunFailure::runner)?,
        };
        let engine = Engine::choose(&hv, self.opts.monitor).map_err(RunFailure::runner)?;
        let mut argv: Vec<Vec<u8>> =
            vec![self.opts.program.as_os_str().as_encoded_bytes().to_vec()];
        argv.extend(self.opts.args.iter().map(|a| a.as_bytes().to_vec()));
        let envp = environment(&self.policy, self.host_env.as_deref());
        let start = StartInfo {
            argv: &argv,
            envp: &envp,
            memory_limit: self.policy.limits.memory_bytes,
            monitor: engine.monitor.then_some(MonitorBoot {
                pf_path: engine.path == SyscallPath::PageFaultFrame,
                skip_marker: self.opts.monitor_test_skip_marker,
            }),
            vdso: self.policy.syscalls.vdso_allowed(),
            huge_pages: self.opts.huge_pages == HugePages::On,
        };
        let blank = self.blank.take().filter(|b| b.fits(start.memory_limit));
        self.stats.vm_prebuilt = blank.is_some();
        let booted = match blank {
            Some(b) => boot::boot_blank(b, &self.image, &start).map(|mut g| {
                g.machine.vm.seal_memory_layout();
                g
            }),
            None => boot::boot(&hv, &self.image, &start),
        };
        let guest = booted.map_err(|e| {
            RunFailure::with_status(
                format!("{}: {e}", self.opts.program.display()),
                e.exit_status(),
            )
        })?;
        self.stats.end_phase("build_vm", &mut self.mark);
        Ok(Booted {
            prepared: self,
            hv,
            engine,
            guest,
        })
    }
}

/// The third stage's result: the runner locked down, the kernel objects
/// made; nothing left to open.
pub struct Locked {
    prepared: Prepared,
    engine: Engine,
    machine: Machine,
    sandbox: Sandbox,
    stats_file: Option<File>,
}

impl Booted {
    /// Opens what the run still needs (the standard streams, the `--stats`
    /// file), gives up everything else before the first guest instruction
    /// (the runner stays single-threaded: the time limit is a kernel timer,
    /// `Deadline`), then makes the kernel objects and configures the monitor.
    pub fn lock_down(self) -> Result<Locked, RunFailure> {
        let Booted {
            mut prepared,
            hv,
            engine,
            guest,
        } = self;
        let Guest {
            mut machine,
            vcpu,
            aspace,
        } = guest;
        let stdio = &prepared.policy.stdio;
        let fds = FdTable::with_stdio(stdio.stdin, stdio.stdout, stdio.stderr)
            .map_err(|e| RunFailure::runner(format!("cannot set up standard streams: {e}")))?;
        let stats_file = match &prepared.opts.stats {
            Some(p) => Some(File::create(p).map_err(|e| {
                RunFailure::runner(format!("cannot write stats to {}: {e}", p.display()))
            })?),
            None => None,
        };
        lockdown::lock_down(&prepared.policy, &prepared.vfs)
            .map_err(|e| RunFailure::runner(format!("cannot lock down the runner: {e}")))?;
        let program = prepared
            .opts
            .program
            .as_os_str()
            .as_encoded_bytes()
            .to_vec();
        let vfs = std::mem::take(&mut prepared.vfs);
        let mut sandbox = Sandbox::for_run(
            fds,
            vfs,
            &prepared.policy,
            &program,
            prepared.wall_start,
            aspace,
            vcpu,
        );
        if let Some(m) = machine.monitor.as_mut() {
            machine
                .vm
                .memory_mut(machine.slot)
                .map_err(MonitorError::from)
                .and_then(|mem| {
                    m.configure(
                        mem,
                        &sandbox.process.mm,
                        &sandbox.kernel.rules,
                        &sandbox.kernel.tunnel_ranges,
                        &mut sandbox.process.fds,
                        &sandbox.kernel.budget,
                    )
                })
                .map_err(|e| RunFailure::runner(format!("cannot configure the monitor: {e}")))?;
        }
        let stats = &mut prepared.stats;
        stats.platform = hv.platform().to_string();
        stats.syscall_path = engine.path.short().to_string();
        stats.monitor = if engine.monitor { "on" } else { "off" }.to_string();
        stats.vdso = if machine.vdso { "on" } else { "off" }.to_string();
        stats.end_phase("lock_down", &mut prepared.mark);
        Ok(Locked {
            prepared,
            engine,
            machine,
            sandbox,
            stats_file,
        })
    }
}

/// The fourth stage's result: the guest's end and the run's counters.
pub struct Finished {
    prepared: Prepared,
    machine: Machine,
    status: i32,
    stats_file: Option<File>,
}

impl Locked {
    /// Runs the guest to its end within what is left of the wall-clock
    /// limit. A death or a runner failure during the run prints its line
    /// here; the report still follows.
    pub fn run(self) -> Result<Finished, RunFailure> {
        let Locked {
            mut prepared,
            engine,
            mut machine,
            mut sandbox,
            stats_file,
        } = self;
        let limit = prepared.policy.limits.wall_time;
        let result = run_guest(
            &mut machine,
            &mut sandbox,
            engine.path,
            limit,
            limit.saturating_sub(prepared.wall_start.elapsed()),
            prepared.client.take(),
            &mut prepared.stats,
        );
        prepared.stats.end_phase("run", &mut prepared.mark);
        let status = match result {
            Ok(Ok(code)) => code,
            Ok(Err(death)) => {
                eprintln!("runner: {death}");
                death.exit_status()
            }
            Err(e) => {
                let f = RunFailure::runner(format!("run failed: {e}"));
                eprintln!("runner: {f}");
                f.exit_status()
            }
        };
        Ok(Finished {
            prepared,
            machine,
            status,
            stats_file,
        })
    }
}

impl Finished {
    /// Folds the monitor's counters into the statistics, writes `--stats`
    /// and returns the run's exit status.
    pub fn report(self) -> Result<i32, RunFailure> {
        let Finished {
            mut prepared,
            machine,
            status,
            stats_file,
        } = self;
        let stats = &mut prepared.stats;
        if let Some(m) = machine.monitor.as_ref() {
            let totals = machine
                .vm
                .memory(machine.slot)
                .map_err(MonitorError::from)
                .and_then(|mem| m.totals(mem))
                .map_err(|e| {
                    RunFailure::runner(format!("cannot read the monitor's counters: {e}"))
                })?;
            stats.syscalls_in_vm = totals.in_vm;
            stats.denied += totals.denied;
            for (nr, n) in totals.by_nr {
                let name = crate::syscalls::table::name_of(nr);
                *stats.syscalls.entry(name.to_string()).or_default() += n;
                *stats
                    .syscalls_in_vm_by_name
                    .entry(name.to_string())
                    .or_default() += n;
            }
            stats.monitor_flush_errors = m.flush_errors;
        }
        stats.exit_status = status;
        stats.wall_ns = prepared.wall_start.elapsed().as_nanos() as u64;
        if let (Some(p), Some(file)) = (&prepared.opts.stats, stats_file) {
            stats.write(file).map_err(|e| {
                RunFailure::runner(format!("cannot write stats to {}: {e}", p.display()))
            })?;
        }
        Ok(status)
    }
}

/// Runs a booted guest (its machine, and the sandbox holding its first
/// thread and process) under a deadline that stops it `remaining` from now
/// (`limit` is the policy's wall time, for the death message), then records
/// the vCPU's counters and the peak memory in `stats`. `Ok(Ok(code))`: the
/// guest exited; `Ok(Err(death))`: it was killed; `Err`: the runner failed.
pub fn run_guest(
    machine: &mut Machine,
    sandbox: &mut Sandbox,
    path: SyscallPath,
    limit: Duration,
    remaining: Duration,
    client: Option<OwnedFd>,
    stats: &mut Stats,
) -> Result<Result<i32, Death>, RunError> {
    let mut deadline = Deadline::arm(&sandbox.thread.vcpu, remaining)?;
    if let Some(c) = client {
        deadline.watch(c);
    }
    let result = run_loop::run(
        machine,
        sandbox,
        path,
        &deadline,
        limit.as_secs_f64(),
        stats,
    );
    drop(deadline);
    let counters = sandbox.thread.vcpu.counters();
    stats.vcpu_ioctls = counters.ioctls;
    stats.vcpu_ioctls_other = counters.ioctls - counters.runs;
    stats.guest_ns = counters.in_guest.as_nanos() as u64;
    stats.peak_guest_memory_bytes = sandbox.process.mm.peak_bytes();
    let huge = sandbox.process.mm.huge_counts;
    stats.huge_pages = if sandbox.process.mm.huge_pages {
        "on"
    } else {
        "off"
    }
    .to_string();
    stats.huge_pages_mapped = huge.mapped;
    stats.huge_pages_split = huge.split;
    stats.page_table_root_switches = huge.root_switches;
    result
}

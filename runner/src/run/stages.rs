//! `runner exec` as stages, each a type that only the stage before it can
//! make, so the order cannot be got wrong:
//!
//! ```text
//! prepare(options, served)  -> Prepared  policy, program image, the policy's files opened
//!   .boot(prebuilt VM)      -> Booted    the VM built, the engine chosen
//!   .lock_down()            -> Locked    every descriptor opened, the runner locked down,
//!                                        the kernel objects made, the monitor configured
//!   .run()                  -> Finished  the guest ran to its end (exit, death or failure)
//!   .report()               -> status    monitor counters folded in, --stats written
//! ```
//!
//! Each stage owns what the next needs and nothing else. Every stage but
//! the run fails with a [`RunFailure`], which carries the exit status (125
//! when the runner fails, 126/127 when the program cannot be loaded); the
//! run always reaches the report, which records how it ended.

use super::ahead::Ahead;
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
use crate::kernel::Objects;
use crate::loader::{self, Image};
use crate::lockdown;
use crate::monitor::{MonitorBoot, MonitorError};
use crate::vfs::Vfs;
use sandbox_policy::Policy;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
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

/// What `--forward-signals` passes on to the guest (SIGUSR2 is the
/// runner's own vCPU kick; SIGKILL and SIGSTOP cannot be caught).
pub const FORWARDED_SIGNALS: [i32; 5] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
];

/// What reaches a run from outside the sandbox: a `runner serve` client's
/// connection (the run ends when it hangs up) and the pipe of signals to
/// pass on to the guest (`--forward-signals`).
#[derive(Default)]
pub struct Outside {
    pub client: Option<OwnedFd>,
    pub relayed: Option<OwnedFd>,
}

/// What a `runner serve` worker brings to a run (`serve/worker.rs`): the
/// hypervisor handle it opened, the VM it built before the request came,
/// what it made and locked down for its policy before the request (a
/// server started with `--policy`), and the request's own parts.
pub struct Prebuilt {
    pub hv: Hypervisor,
    pub blank: Option<Blank>,
    pub ahead: Option<Ahead>,
    pub served: Served,
}

/// Runs `runner exec`, stage by stage; returns the exit status.
pub fn exec(opts: ExecOptions, prebuilt: Option<Prebuilt>) -> i32 {
    let staged = match prebuilt {
        Some(Prebuilt {
            hv,
            blank,
            ahead: Some(ahead),
            served,
        }) => super::ahead::prepare(opts, served, ahead).and_then(|p| p.boot(Some((hv, blank)))),
        Some(Prebuilt {
            hv,
            blank,
            ahead: None,
            served,
        }) => prepare(opts, Some(served)).and_then(|p| p.boot(Some((hv, blank)))),
        None => prepare(opts, None).and_then(|p| p.boot(None)),
    };
    let staged = staged
        .and_then(Booted::lock_down)
        .map(Locked::run)
        .and_then(Finished::report);
    match staged {
        Ok(status) => status,
        Err(f) => {
            crate::say!("runner: {f}");
            f.exit_status()
        }
    }
}

/// What a served run brings besides its VM: the client's environment,
/// when its request arrived (the run's start), its connection, and what
/// the client opened for it (`serve/client.rs`).
pub struct Served {
    pub env: HostEnv,
    pub received: Instant,
    pub client: OwnedFd,
    /// A host program, opened by the client, and its absolute path.
    pub program: Option<(File, PathBuf)>,
    /// The `--stats` file, created by the client.
    pub stats: Option<File>,
}

/// What every stage carries on to the report: the options, the policy,
/// the clock and the statistics.
struct Record {
    opts: ExecOptions,
    policy: Policy,
    /// When the run started (for a served run: when the request arrived).
    wall_start: Instant,
    /// The end of the last phase measured (for `--stats` phases).
    mark: Instant,
    stats: Stats,
    /// A host program's absolute path (`/proc/self/exe`; a script's path
    /// for its interpreter): a served run's client sends it, a cold run
    /// finds it before its lock-down.
    program_abs: Option<PathBuf>,
    /// A served run's `--stats` file, created by its client.
    stats_file: Option<File>,
}

/// The first stage's result: the policy, the program and its files.
pub struct Prepared {
    record: Record,
    image: Image,
    vfs: Vfs,
    /// A served run's environment (else the runner's own is inherited).
    host_env: Option<HostEnv>,
    /// A served run's connection, watched from the start.
    client: Option<OwnedFd>,
    /// What a worker pinned to its policy chose and locked down ahead.
    ahead: Option<super::ahead::LockedAhead>,
}

/// Reads the policy, loads the program and opens every `[[files]]`
/// location: after this the runner never names a `[[files]]` host path
/// again (all file access goes through these descriptors), so the
/// self-sandbox can restrict it to exactly the policy's paths.
pub fn prepare(mut opts: ExecOptions, served: Option<Served>) -> Result<Prepared, RunFailure> {
    let wall_start = served.as_ref().map_or_else(Instant::now, |s| s.received);
    // A trace and an audit see every call: none answered in the VM or in
    // the ring.
    if opts.trace.is_some() || opts.verdict.is_some() || opts.learn_record.is_some() {
        opts.monitor = crate::monitor::MonitorMode::Off;
        opts.syscalls = Some(crate::ring::SyscallMode::Exit);
    }
    let mut policy = match &opts.policy {
        Some(p) => Policy::from_file(p).map_err(RunFailure::runner)?,
        None => Policy::default(),
    };
    policy = with_timeout(policy, opts.timeout)?;
    let mut served = served;
    if let Some(s) = &served {
        watch_client(&s.client)?;
    }
    // A host program is read first: a missing one fails before anything
    // is made for the run.
    let host = read_program(&opts, &policy, served.as_mut())?;
    let vfs = open_files(&mut policy)?;
    finish_prepare(opts, policy, vfs, host, served, None, wall_start)
}

/// A served run ends when its client goes away: the kernel kicks this
/// thread (the vCPU's) when the connection hangs up.
pub(super) fn watch_client(client: &OwnedFd) -> Result<(), RunFailure> {
    thinvisor_kmod::process_signals::kick_on_input(std::os::fd::AsFd::as_fd(client))
        .map_err(|e| RunFailure::runner(format!("cannot watch the client connection: {e}")))
}

/// `--timeout`: the policy's wall time replaced.
pub(super) fn with_timeout(policy: Policy, timeout: Option<f64>) -> Result<Policy, RunFailure> {
    check_timeout(timeout).map_err(RunFailure::runner)?;
    Ok(match timeout {
        Some(t) => policy.with_wall_time(Duration::from_secs_f64(t)),
        None => policy,
    })
}

/// Why `--timeout` is refused, if it is (a served run's client checks it
/// too, before anything else of its own).
pub fn check_timeout(timeout: Option<f64>) -> Result<(), String> {
    match timeout {
        Some(t) if !(t.is_finite() && t > 0.0) => Err(format!(
            "--timeout {t}: expected a positive number of seconds"
        )),
        _ => Ok(()),
    }
}

/// A host program's bytes, and its absolute path when known.
pub(super) type HostProgram = (Vec<u8>, Option<PathBuf>);

/// A host program's bytes and absolute path: from the descriptor a served
/// run's client sent (with the path it sent), else read by its path (the
/// absolute path None when the working directory is gone). None for
/// `--guest-path`.
pub(super) fn read_program(
    opts: &ExecOptions,
    policy: &Policy,
    served: Option<&mut Served>,
) -> Result<Option<HostProgram>, RunFailure> {
    if opts.guest_path {
        return Ok(None);
    }
    let limit = policy.limits.memory_bytes;
    let failed = |e: loader::LoadError| RunFailure::with_status(&e, e.exit_status());
    match served.and_then(|s| s.program.take()) {
        Some((file, abs)) => Ok(Some((
            loader::read_opened(file, &opts.program, limit).map_err(failed)?,
            Some(abs),
        ))),
        None => {
            let bytes = loader::read_host(&opts.program, limit).map_err(failed)?;
            Ok(Some((bytes, std::path::absolute(&opts.program).ok())))
        }
    }
}

/// Opens every `[[files]]` location of `policy`, private trees made
/// first (fresh host directories, removed when the runner exits:
/// run/private_trees.rs); `policy.files` then names them.
pub(super) fn open_files(policy: &mut Policy) -> Result<Vfs, RunFailure> {
    // What removes the trees must live as long as this process: its pipe
    // closes at the exit, however it comes.
    let (files, private) = super::private_trees::make(&policy.files).map_err(RunFailure::runner)?;
    if let Some(trees) = private {
        Box::leak(Box::new(trees));
    }
    policy.files = files;
    Vfs::prepare(&policy.files).map_err(|e| RunFailure::runner(format!("policy {e}")))
}

/// The rest of the first stage, once the policy's files are open: the
/// program's image (its interpreter, for a script or a dynamic program).
/// `wall_start`: when the run started (the first stage's start, or when a
/// served run's request arrived).
pub(super) fn finish_prepare(
    mut opts: ExecOptions,
    policy: Policy,
    mut vfs: Vfs,
    host: Option<HostProgram>,
    served: Option<Served>,
    ahead: Option<super::ahead::LockedAhead>,
    wall_start: Instant,
) -> Result<Prepared, RunFailure> {
    let (host_env, client, stats_file) = match served {
        Some(s) => (Some(s.env), Some(s.client), s.stats),
        None => (None, None, None),
    };
    if let Some(dir) = &opts.cwd {
        start_in(&mut vfs, dir)?;
    }
    let (host_bytes, program_abs) = match host {
        Some((bytes, abs)) => (Some(bytes), abs),
        None => (None, None),
    };
    let image = program_image(
        &mut opts,
        host_bytes,
        program_abs.as_deref(),
        &vfs,
        policy.limits.memory_bytes,
    )?;
    // A dynamically linked program: its interpreter comes from the files
    // the policy shows the guest.
    let image =
        loader::interpreter::attach(image, &vfs, policy.limits.memory_bytes).map_err(|e| {
            let hint = e
                .policy_hint()
                .map(|h| format!("; {h}"))
                .unwrap_or_default();
            RunFailure::with_status(
                format!("{}: dynamically linked: {e}{hint}", opts.program.display()),
                crate::exit_status::CANNOT_LOAD,
            )
        })?;
    let mut stats = Stats::default();
    let mut mark = wall_start;
    stats.end_phase("prepare", &mut mark);
    Ok(Prepared {
        record: Record {
            opts,
            policy,
            wall_start,
            mark,
            stats,
            program_abs,
            stats_file,
        },
        image,
        vfs,
        host_env,
        client,
        ahead,
    })
}

/// How the run asks its syscalls to reach the runner: --syscalls (or
/// THINVISOR_SYSCALLS), else the policy's syscalls.ring.
fn wanted_syscalls(opts: &ExecOptions, policy: &Policy) -> crate::ring::SyscallMode {
    opts.syscalls.unwrap_or(match policy.syscalls.ring {
        sandbox_policy::RingChoice::On => crate::ring::SyscallMode::Ring,
        sandbox_policy::RingChoice::Off => crate::ring::SyscallMode::Exit,
        sandbox_policy::RingChoice::Auto => crate::ring::SyscallMode::Auto,
    })
}

/// `--cwd DIR`: the guest starts in DIR, a directory the policy's files
/// show (relative paths, the program's among them, start there).
fn start_in(vfs: &mut Vfs, dir: &std::path::Path) -> Result<(), RunFailure> {
    use std::os::unix::ffi::OsStrExt;
    let fail = |why: String| RunFailure::runner(format!("--cwd {}: {why}", dir.display()));
    let g = crate::vfs::path::normalize(std::path::Path::new("/"), dir.as_os_str().as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    let is_dir = match vfs.locate(&g, true).map_err(|e| fail(e.to_string()))? {
        crate::vfs::Located::Virtual(_) => true,
        crate::vfs::Located::Host(fd, _) => rustix::fs::fstat(&fd)
            .is_ok_and(|st| rustix::fs::FileType::from_raw_mode(st.st_mode).is_dir()),
    };
    if !is_dir {
        return Err(fail("not a directory in the sandbox".into()));
    }
    vfs.set_cwd(g.path);
    Ok(())
}

/// The program's image. A `#!` script runs its interpreter, looked up in
/// the sandbox's files as execve looks it up, with the script's path as
/// the sandbox sees it (the interpreter opens it there): `opts` then names
/// the interpreter (`--guest-path`) and its arguments, as Linux's argv
/// has them. `host_bytes`: the program's bytes when it is a host path.
fn program_image(
    opts: &mut ExecOptions,
    mut host_bytes: Option<Vec<u8>>,
    program_abs: Option<&std::path::Path>,
    vfs: &Vfs,
    limit: u64,
) -> Result<loader::Image, RunFailure> {
    use crate::loader::script::{script_line, MAX_SCRIPT_DEPTH};
    let refuse = |m: String| RunFailure::with_status(m, crate::exit_status::CANNOT_LOAD);
    // The script whose interpreter is being looked up, for messages.
    let mut script_of: Option<String> = None;
    for depth in 0.. {
        let shown = opts.program.display().to_string();
        let bytes = match host_bytes.take() {
            Some(b) => b,
            None => guest_program(opts, vfs, limit, script_of.as_deref())?,
        };
        let script = (opts.format == loader::Format::Auto)
            .then(|| script_line(&bytes))
            .flatten();
        let Some((interp, arg)) = script else {
            return loader::from_bytes(&shown, bytes, opts.format, limit)
                .map_err(|e| RunFailure::with_status(&e, e.exit_status()));
        };
        let line = String::from_utf8_lossy(&interp).into_owned();
        if depth >= MAX_SCRIPT_DEPTH {
            return Err(refuse(format!(
                "{shown}: a script (#!{line}): more than {MAX_SCRIPT_DEPTH} interpreters in a chain"
            )));
        }
        // The interpreter opens the script by this path, in the sandbox.
        let script_path = if opts.guest_path {
            opts.program.clone()
        } else {
            let abs = match program_abs {
                Some(a) => a.to_path_buf(),
                None => std::path::absolute(&opts.program)
                    .map_err(|e| refuse(format!("{shown}: {e}")))?,
            };
            let visible = matches!(
                vfs.resolve_following(&abs),
                Ok(crate::vfs::Node::Real(r)) if r.open(rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC, rustix::fs::Mode::empty()).is_ok()
            );
            if !visible {
                return Err(refuse(format!(
                    "{shown}: a script (#!{line}): its interpreter reads it by its path, which the sandbox's files do not show; add a [[files]] rule for {} (or its directory), or name it by its path in the sandbox with --guest-path",
                    abs.display()
                )));
            }
            abs
        };
        let text = |b: Vec<u8>| {
            String::from_utf8(b).map_err(|_| {
                refuse(format!(
                    "{shown}: a script (#!{line}): its #! line is not UTF-8"
                ))
            })
        };
        let mut args: Vec<String> = Vec::new();
        if let Some(a) = arg {
            args.push(text(a)?);
        }
        args.push(script_path.display().to_string());
        args.append(&mut opts.args);
        script_of = Some(format!("{shown}: a script (#!{line})"));
        opts.args = args;
        opts.program = std::path::PathBuf::from(text(interp)?);
        opts.guest_path = true;
    }
    Err(refuse("unreachable: the script loop ended".into()))
}

/// `--guest-path`: the program's bytes, read from the guest's own files
/// with execve's rules (status 127 when the guest has no such file, 126
/// when it may not run it). `script_of`: the program is that script's
/// interpreter (its refusals are then 126, the script's message first).
fn guest_program(
    opts: &ExecOptions,
    vfs: &Vfs,
    limit: u64,
    script_of: Option<&str>,
) -> Result<Vec<u8>, RunFailure> {
    let shown = opts.program.display().to_string();
    let raw = opts.program.as_os_str().as_encoded_bytes();
    if raw.first() != Some(&b'/') {
        return Err(RunFailure::with_status(
            format!("{shown}: --guest-path needs an absolute path in the sandbox"),
            crate::exit_status::CANNOT_LOAD,
        ));
    }
    let g = crate::vfs::path::normalize(std::path::Path::new("/"), raw).map_err(|e| {
        RunFailure::with_status(format!("{shown}: {e}"), crate::exit_status::CANNOT_LOAD)
    })?;
    loader::interpreter::read_runnable(vfs, &g.path, false, limit).map_err(|e| {
        let (status, why) = match e {
            crate::abi::Errno::NOENT | crate::abi::Errno::NOTDIR => {
                (127, "no such file in the sandbox's files (the policy's [[files]])")
            }
            crate::abi::Errno::ACCESS => (
                crate::exit_status::CANNOT_LOAD,
                "not runnable in the sandbox: it needs a \"read-exec\" or \"read-write-exec\" rule and an execute bit",
            ),
            _ => (crate::exit_status::CANNOT_LOAD, "cannot be read"),
        };
        match script_of {
            Some(script) => RunFailure::with_status(
                format!("{script}: its interpreter {shown} (in the sandbox): {why} ({e})"),
                crate::exit_status::CANNOT_LOAD,
            ),
            None => RunFailure::with_status(format!("{shown} (in the sandbox): {why} ({e})"), status),
        }
    })
}

/// A host environment, as Linux keeps it: names and values are bytes,
/// not necessarily UTF-8.
pub type HostEnv = Vec<(Vec<u8>, Vec<u8>)>;

/// The runner's own environment, byte for byte.
pub fn own_environment() -> HostEnv {
    use std::os::unix::ffi::OsStringExt;
    std::env::vars_os()
        .map(|(k, v)| (k.into_vec(), v.into_vec()))
        .collect()
}

/// The guest's environment: the policy's variables, after the host's (the
/// runner's own, or the client's for a served run) when the policy inherits
/// it. Host variables are bytes and stay so (a value that is not UTF-8
/// reaches the guest as it is, as it would a native program).
fn environment(policy: &Policy, host: Option<&[(Vec<u8>, Vec<u8>)]>) -> Vec<Vec<u8>> {
    let mut vars: std::collections::BTreeMap<Vec<u8>, Vec<u8>> = std::collections::BTreeMap::new();
    if policy.env.inherit {
        match host {
            Some(env) => vars.extend(env.iter().cloned()),
            None => vars.extend(own_environment()),
        }
    }
    vars.extend(
        policy
            .env
            .vars
            .iter()
            .map(|(k, v)| (k.clone().into_bytes(), v.clone().into_bytes())),
    );
    vars.into_iter()
        .map(|(mut k, v)| {
            k.push(b'=');
            k.extend(v);
            k
        })
        .collect()
}

/// The second stage's result: the VM, built and ready to run.
pub struct Booted {
    record: Record,
    vfs: Vfs,
    client: Option<OwnedFd>,
    hv: Hypervisor,
    engine: Engine,
    guest: Guest,
    syscall_mode: crate::ring::SyscallMode,
    /// `Kernel::ring_start`.
    ring_start: crate::ring::RingStart,
    /// The runner was locked down before the request (a worker pinned to
    /// its policy), with this relay of signals (run/ahead.rs).
    relayed_ahead: Option<Option<OwnedFd>>,
}

impl Prepared {
    /// Opens the hypervisor (or takes a served run's, with the VM it built
    /// ahead), chooses the engine and builds the VM (or fills the one built
    /// ahead, when the memory limit fits it).
    pub fn boot(self, prebuilt: Option<(Hypervisor, Option<Blank>)>) -> Result<Booted, RunFailure> {
        let Prepared {
            mut record,
            image,
            vfs,
            host_env,
            client,
            ahead,
        } = self;
        let (hv, blank) = match prebuilt {
            Some(p) => p,
            None => (Hypervisor::open().map_err(RunFailure::runner)?, None),
        };
        let (opts, policy) = (&record.opts, &record.policy);
        // A worker locked down ahead chose the engine then: choosing may
        // build a probe VM, which its filter refuses now.
        let (engine, relayed_ahead) = match ahead {
            Some(a) => (a.engine, Some(a.relayed)),
            None => (
                Engine::choose(
                    &hv,
                    opts.monitor,
                    policy.limits.threads,
                    policy.limits.processes,
                )
                .map_err(RunFailure::runner)?,
                None,
            ),
        };
        let mut argv: Vec<Vec<u8>> = vec![opts.program.as_os_str().as_encoded_bytes().to_vec()];
        argv.extend(opts.args.iter().map(|a| a.as_bytes().to_vec()));
        let envp = environment(policy, host_env.as_deref());
        let start = StartInfo {
            argv: &argv,
            envp: &envp,
            memory_limit: policy.limits.memory_bytes,
            monitor: engine.monitor.then_some(MonitorBoot {
                pf_path: engine.path == SyscallPath::PageFaultFrame,
                skip_marker: opts.monitor_test_skip_marker,
            }),
            vdso: policy.syscalls.vdso_allowed(),
            huge_pages: opts.huge_pages == HugePages::On,
            identity: crate::kernel::process::Identity {
                uid: u64::from(policy.identity.uid),
                gid: u64::from(policy.identity.gid),
                ..crate::kernel::process::GUEST_IDENTITY
            },
        };
        let blank = blank.filter(|b| b.fits(start.memory_limit));
        let prebuilt_vm = blank.is_some();
        // How syscalls reach the runner: --syscalls (or THINVISOR_SYSCALLS),
        // else the policy's syscalls.ring; `auto` by the platform and the
        // CPUs this runner may use (asked before the lock-down, whose
        // filter does not have the call); never together with the in-VM
        // monitor.
        let wanted = wanted_syscalls(opts, policy);
        let syscall_mode = if engine.monitor {
            crate::ring::SyscallMode::Exit
        } else {
            // The CPUs the run will have: the affinity, narrowed by the
            // lock-down to `limits.cpus`.
            let cpus = rustix::thread::sched_getaffinity(None)
                .map_or(1, |set| set.count())
                .min(policy.limits.cpus.unwrap_or(u32::MAX));
            wanted.resolve(!hv.platform().is_hardware(), cpus)
        };
        let ring_start = wanted.ring_start();
        // A run that takes the ring from its first instruction: the
        // instruction decoder's tables are built on another CPU while this
        // one builds the VM (joined below, before the lock-down, which
        // wants one thread). Under `auto` they are built when a thread
        // first patches a site, if one ever does.
        let warm = (syscall_mode == crate::ring::SyscallMode::Ring
            && ring_start == crate::ring::RingStart::AtOnce
            && !crate::ring::moved::is_warm())
        .then(|| {
            std::thread::Builder::new()
                .spawn(crate::ring::moved::warm_up)
                .ok()
        })
        .flatten();
        let booted = match blank {
            Some(b) => boot::boot_blank(b, &image, &start).map(|mut g| {
                g.machine.vm.seal_memory_layout();
                g
            }),
            None => boot::boot(&hv, &image, &start),
        };
        if let Some(w) = warm {
            let _ = w.join();
        }
        let guest = booted.map_err(|e| {
            RunFailure::with_status(format!("{}: {e}", opts.program.display()), e.exit_status())
        })?;
        record.stats.vm_prebuilt = prebuilt_vm;
        record.stats.end_phase("build_vm", &mut record.mark);
        Ok(Booted {
            record,
            vfs,
            client,
            hv,
            engine,
            guest,
            syscall_mode,
            ring_start,
            relayed_ahead,
        })
    }
}

/// The third stage's result: the runner locked down, the kernel objects
/// made; nothing left to open.
pub struct Locked {
    record: Record,
    client: Option<OwnedFd>,
    /// `--forward-signals`: the relay pipe's read end.
    relayed: Option<OwnedFd>,
    hv: Hypervisor,
    engine: Engine,
    machine: Machine,
    objects: Objects,
    stats_file: Option<File>,
    /// `--verdict`'s file, opened before the lock-down.
    verdict_file: Option<File>,
    /// `--learn-record`'s file, opened before the lock-down.
    uses_file: Option<File>,
}

impl Booted {
    /// Opens what the run still needs (the standard streams, the `--stats`
    /// file), gives up everything else before the first guest instruction
    /// (the runner stays single-threaded: the time limit is a kernel timer,
    /// `Deadline`), then makes the kernel objects and configures the monitor.
    pub fn lock_down(self) -> Result<Locked, RunFailure> {
        let Booted {
            mut record,
            vfs,
            client,
            hv,
            engine,
            guest,
            syscall_mode,
            ring_start,
            relayed_ahead,
        } = self;
        let Guest {
            mut machine,
            vcpu,
            aspace,
        } = guest;
        let stdio = &record.policy.stdio;
        let fds = FdTable::with_stdio(stdio.stdin, stdio.stdout, stdio.stderr)
            .map_err(|e| RunFailure::runner(format!("cannot set up standard streams: {e}")))?;
        let tracer = match &record.opts.trace {
            Some(p) => Some(std::sync::Arc::new(
                crate::trace::Tracer::open(p, record.opts.trace_format).map_err(|e| {
                    RunFailure::runner(format!("cannot write the trace to {}: {e}", p.display()))
                })?,
            )),
            None => None,
        };
        let verdict_file = match &record.opts.verdict {
            Some(p) => Some(File::create(p).map_err(|e| {
                RunFailure::runner(format!("cannot write the verdict to {}: {e}", p.display()))
            })?),
            None => None,
        };
        let uses_file = match &record.opts.learn_record {
            Some(p) => Some(File::create(p).map_err(|e| {
                RunFailure::runner(format!("cannot write the record to {}: {e}", p.display()))
            })?),
            None => None,
        };
        let stats_file = match (record.stats_file.take(), &record.opts.stats) {
            // The client opened it without truncating (a run refused
            // before this stage leaves an older file as it was): emptied
            // here, where a cold run creates it.
            (Some(f), _) => {
                f.set_len(0).map_err(|e| {
                    RunFailure::runner(format!("cannot write stats to the client's file: {e}"))
                })?;
                Some(f)
            }
            (None, Some(p)) => Some(File::create(p).map_err(|e| {
                RunFailure::runner(format!("cannot write stats to {}: {e}", p.display()))
            })?),
            (None, None) => None,
        };
        // /proc/self/exe: an absolute path, as on Linux (static glibc
        // programs check that it is).
        let exe = if record.opts.guest_path {
            crate::vfs::path::normalize(
                std::path::Path::new("/"),
                record.opts.program.as_os_str().as_encoded_bytes(),
            )
            .map(|g| g.path)
            .unwrap_or_else(|_| record.opts.program.clone())
        } else {
            record
                .program_abs
                .clone()
                .unwrap_or_else(|| record.opts.program.clone())
        };
        let relayed = match relayed_ahead {
            Some(relayed) => relayed,
            None => {
                let relayed = relay(record.opts.forward_signals, record.policy.stdio.terminal)?;
                lockdown::lock_down(&record.policy, &vfs)
                    .map_err(|e| RunFailure::runner(format!("cannot lock down the runner: {e}")))?;
                relayed
            }
        };
        let program = record.opts.program.as_os_str().as_encoded_bytes();
        let mut objects = Objects::for_run(
            fds,
            vfs,
            &record.policy,
            program,
            record.wall_start,
            aspace,
            vcpu,
        );
        objects.process.exe = exe.into_os_string().into_encoded_bytes();
        objects.kernel.signals_from_outside = relayed.is_some();
        objects.kernel.trace = tracer;
        if uses_file.is_some() {
            objects.kernel.uses = Some(Box::default());
        }
        if verdict_file.is_some() {
            objects.kernel.audit = Some(Box::default());
            super::audited::loaded(&mut machine, &mut objects.kernel, &mut objects.process)
                .map_err(|e| RunFailure::runner(format!("cannot audit the program: {e}")))?;
        }
        objects.kernel.first_is_init = relayed.is_some() && record.opts.as_init;
        objects.kernel.syscall_mode = syscall_mode;
        objects.kernel.ring_start = ring_start;
        objects.process.cmdline = std::iter::once(program)
            .chain(record.opts.args.iter().map(|a| a.as_bytes()))
            .flat_map(|a| a.iter().copied().chain([0]))
            .collect();
        objects.kernel.exec.cpu = machine.cpu;
        objects.kernel.exec.vdso = machine.vdso;
        objects.kernel.exec.monitor = machine.monitor.is_some();
        if let Some(m) = machine.monitor.as_mut() {
            machine
                .vm
                .memory_mut(machine.slot)
                .map_err(MonitorError::from)
                .and_then(|mem| {
                    m.configure(
                        mem,
                        &objects.process.mm,
                        &objects.kernel,
                        &mut objects.process.fds,
                        &objects.process.identity,
                    )
                })
                .map_err(|e| RunFailure::runner(format!("cannot configure the monitor: {e}")))?;
        }
        let stats = &mut record.stats;
        stats.platform = hv.platform().to_string();
        stats.syscall_path = engine.path.short().to_string();
        stats.monitor = if engine.monitor { "on" } else { "off" }.to_string();
        stats.syscalls_mode = objects.kernel.syscall_mode.name().to_string();
        stats.vdso = if machine.vdso { "on" } else { "off" }.to_string();
        stats.end_phase("lock_down", &mut record.mark);
        Ok(Locked {
            record,
            client,
            relayed,
            hv,
            engine,
            machine,
            objects,
            stats_file,
            verdict_file,
            uses_file,
        })
    }
}

/// Signals to pass on are caught before the lock-down (sigaction is not
/// in the filter): `--forward-signals`' set, and a lent terminal's, which
/// go to the guest's foreground group. The relay pipe's read end, if any.
pub(super) fn relay(forward: bool, terminal: bool) -> Result<Option<OwnedFd>, RunFailure> {
    let mut caught: Vec<i32> = Vec::new();
    if forward {
        caught.extend(FORWARDED_SIGNALS);
    }
    if terminal {
        caught.extend(crate::kernel::terminal::TERMINAL_SIGNALS);
    }
    caught.sort_unstable();
    caught.dedup();
    if caught.is_empty() {
        return Ok(None);
    }
    thinvisor_kmod::process_signals::relay(&caught)
        .map(Some)
        .map_err(|e| RunFailure::runner(format!("cannot catch signals to forward: {e}")))
}

/// The fourth stage's result: the guest's end and the run's counters.
pub struct Finished {
    record: Record,
    hv: Hypervisor,
    machine: Machine,
    objects: Objects,
    status: i32,
    stats_file: Option<File>,
}

impl Locked {
    /// Runs the guest to its end within what is left of the wall-clock
    /// limit. It always gets to the report: a death, or a failure of the
    /// runner during the run (status 125), prints its line here.
    pub fn run(self) -> Finished {
        let Locked {
            mut record,
            client,
            relayed,
            hv,
            engine,
            mut machine,
            mut objects,
            stats_file,
            verdict_file,
            uses_file,
        } = self;
        let limit = record.policy.limits.wall_time;
        let result = run_guest(
            &mut machine,
            &mut objects,
            engine.path,
            limit,
            limit.saturating_sub(record.wall_start.elapsed()),
            Outside { client, relayed },
            &mut record.stats,
        );
        record.stats.end_phase("run", &mut record.mark);
        if let Some(t) = &objects.kernel.trace {
            if t.dropped() > 0 {
                crate::say!(
                    "runner: trace: {} lines dropped (its output had no room)",
                    t.dropped()
                );
            }
        }
        let (status, ending) = match &result {
            Ok(Ok(code)) => (*code, format!("exited with {code}")),
            Ok(Err(death)) => {
                crate::say!("runner: {death}");
                (death.exit_status(), death.to_string())
            }
            Err(e) => {
                let f = RunFailure::runner(format!("run failed: {e}"));
                crate::say!("runner: {f}");
                (f.exit_status(), f.to_string())
            }
        };
        if let (Some(file), Some(audit)) = (verdict_file, objects.kernel.audit.as_mut()) {
            if let Ok(Err(death)) = &result {
                super::audited::run_ended(audit, death);
            }
            let program = record.opts.program.to_string_lossy();
            let path = record
                .opts
                .verdict
                .as_deref()
                .unwrap_or(std::path::Path::new(""));
            super::audited::write_verdict(audit, file, path, &program, status, &ending);
        }
        if let (Some(file), Some(uses)) = (uses_file, objects.kernel.uses.as_ref()) {
            let path = record
                .opts
                .learn_record
                .as_deref()
                .unwrap_or(std::path::Path::new(""));
            super::audited::write_uses(uses, file, path);
        }
        Finished {
            record,
            hv,
            machine,
            objects,
            status,
            stats_file,
        }
    }
}

impl Finished {
    /// Folds the monitor's counters into the statistics, writes `--stats`
    /// and returns the run's exit status. The kernel objects, then the VM,
    /// then the hypervisor handle are released last, after the report.
    pub fn report(self) -> Result<i32, RunFailure> {
        let Finished {
            mut record,
            hv,
            machine,
            objects,
            status,
            stats_file,
        } = self;
        let stats = &mut record.stats;
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
        stats.wall_ns = record.wall_start.elapsed().as_nanos() as u64;
        if let (Some(p), Some(file)) = (&record.opts.stats, stats_file) {
            stats.write(file).map_err(|e| {
                RunFailure::runner(format!("cannot write stats to {}: {e}", p.display()))
            })?;
        }
        drop(objects);
        drop(machine);
        drop(hv);
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
    objects: &mut Objects,
    path: SyscallPath,
    limit: Duration,
    remaining: Duration,
    outside: Outside,
    stats: &mut Stats,
) -> Result<Result<i32, Death>, RunError> {
    // With the ring taken from the start, the guest runs on a helper thread
    // of its vCPU from the first instruction on (the deadline's kicks must
    // reach it too). Under `auto` the thread moves there later, if at all
    // (run/ring_loop.rs).
    if objects.kernel.syscall_mode == crate::ring::SyscallMode::Ring
        && objects.kernel.ring_start == crate::ring::RingStart::AtOnce
    {
        objects.thread.vcpu.run_remotely()?;
    }
    let mut deadline = Deadline::arm(&objects.thread.vcpu, remaining)?;
    if let Some(c) = outside.client {
        deadline.watch(c);
    }
    if let Some(r) = outside.relayed {
        deadline.relay(r);
    }
    let result = run_loop::run(
        machine,
        objects,
        path,
        &deadline,
        limit.as_secs_f64(),
        stats,
    );
    drop(deadline);
    // The first vCPU's, added to what the pool's vCPUs (other threads and
    // processes) left in `stats` when their host threads ended.
    stats.add_vcpu(objects.thread.vcpu.counters());
    stats.peak_guest_memory_bytes = objects.process.mm.peak_bytes();
    let huge = objects.process.mm.huge_counts;
    stats.huge_pages = if objects.process.mm.huge_pages {
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

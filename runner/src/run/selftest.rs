//! `runner selftest-lockdown [--policy FILE] PROBE [TARGET]` (hidden): sets
//! up as `exec` does (policy, the `[[files]]` roots opened, KVM, a built
//! guest, the standard streams),
//! locks down with the same function, then makes one probe, so that tests
//! can watch the sandbox hold from outside.
//!
//! Status: 0 when the probe's operation succeeded, 1 when it was refused
//! (the error is printed), 125 when setup or lock-down failed. Probes that
//! the seccomp filter must stop never return: the kernel kills the runner
//! with SIGSYS.

use crate::exit_status::RUNNER_FAILED;
use crate::kernel::{fds::FdTable, Objects};
use crate::run::boot::Guest;
use crate::run::deadline::Deadline;
use crate::run::engine::Engine;
use crate::run::run_loop;
use crate::run::stats::Stats;
use crate::run::syscall_path::SyscallPath;
use crate::vfs::Vfs;
use clap::ValueEnum;
use sandbox_policy::Policy;
use std::path::PathBuf;
use std::time::Duration;
use thinvisor_kmod::{GuestMemory, Hypervisor, MemoryAccess, Vm};

/// What to try once locked down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Probe {
    /// Print what lock-down did (Landlock enforcement, bounding set, rule
    /// count, limits).
    Report,
    /// Print the seccomp rule table as Markdown (as in docs/threat-model.md).
    Rules,
    /// Run a guest (KVM_RUN and the deadline's kick timer under the filter).
    RunGuest,
    /// getppid, a syscall the filter does not list: SIGSYS.
    ForbiddenSyscall,
    /// KVM_CREATE_VM: SIGSYS.
    CreateVm,
    /// KVM_CREATE_VCPU on the built VM: allowed (a guest thread's vCPU).
    CreateVcpu,
    /// KVM_SET_USER_MEMORY_REGION on a VM made before lock-down: SIGSYS.
    MapMemory,
    /// Start /bin/true: SIGSYS.
    SpawnProcess,
    /// Start a thread: allowed (it runs a guest thread's vCPU); a process
    /// is not (`SpawnProcess`).
    SpawnThread,
    /// Open TARGET for reading.
    Open,
    /// Create (or truncate) TARGET for writing.
    Create,
    /// TCP connect to TARGET (`IP:port`).
    Connect,
}

impl Probe {
    fn needs_target(self) -> bool {
        matches!(self, Probe::Open | Probe::Create | Probe::Connect)
    }
}

fn fail(msg: impl std::fmt::Display) -> i32 {
    crate::say!("runner: {msg}");
    RUNNER_FAILED
}

/// Runs the selftest; returns the exit status.
pub fn selftest(policy: Option<PathBuf>, probe: Probe, target: Option<String>) -> i32 {
    let target = match (probe.needs_target(), target) {
        (true, Some(t)) => t,
        (true, None) => return fail(format!("probe {probe:?} needs a TARGET")),
        (false, Some(_)) => return fail(format!("probe {probe:?} takes no TARGET")),
        (false, None) => String::new(),
    };
    let policy = match &policy {
        Some(p) => match Policy::from_file(p) {
            Ok(p) => p,
            Err(e) => return fail(e),
        },
        None => Policy::default(),
    };
    // As `exec` does: the roots opened here are what Landlock grants.
    let vfs = match Vfs::prepare(&policy.files) {
        Ok(v) => v,
        Err(e) => return fail(format!("policy {e}")),
    };
    let hv = match Hypervisor::open() {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    // Decided before lock-down, as `exec` does (a probe boots a VM).
    let path = match Engine::syscall_path(&hv) {
        Ok(p) => p,
        Err(e) => return fail(format!("cannot determine the syscall path: {e}")),
    };
    let mut guest = match crate::run::monitor_probe::calibration_guest(&hv, 100) {
        Ok(g) => g,
        Err(e) => return fail(format!("cannot build the guest: {e}")),
    };
    let fds =
        match FdTable::with_stdio(policy.stdio.stdin, policy.stdio.stdout, policy.stdio.stderr) {
            Ok(f) => f,
            Err(e) => return fail(format!("cannot set up standard streams: {e}")),
        };
    // An unsealed, empty VM for the map-memory probe (built before lock-down).
    let mut spare: Option<Vm> = None;
    if probe == Probe::MapMemory {
        match hv.create_vm() {
            Ok(vm) => spare = Some(vm),
            Err(e) => return fail(e),
        }
    }
    let report = match crate::lockdown::lock_down(&policy, &vfs) {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot lock down the runner: {e}")),
    };
    match probe {
        Probe::Report => {
            println!("landlock: {:?}", report.landlock);
            println!("bounding set: {:?}", report.bounding);
            println!("seccomp rules: {}", report.seccomp_rules);
            if let Some(cpus) = &report.cpus {
                println!("cpus: {cpus:?}");
            }
            for l in &report.limits {
                println!("{}: {}", l.name, l.value);
            }
            0
        }
        Probe::Rules => {
            println!("{}", crate::lockdown::seccomp_docs::markdown());
            0
        }
        Probe::RunGuest => run_guest(guest, fds, path),
        Probe::ForbiddenSyscall => {
            let ppid = rustix::process::getppid();
            outcome::<(), _>("getppid", Err(format!("returned {ppid:?}")))
        }
        Probe::CreateVm => outcome("KVM_CREATE_VM", hv.create_vm().map(drop)),
        Probe::CreateVcpu => outcome("KVM_CREATE_VCPU", guest.machine.vm.create_vcpu().map(drop)),
        Probe::MapMemory => {
            let result = GuestMemory::new(4096).and_then(|mem| match spare.as_mut() {
                Some(vm) => vm.map_memory(0, mem, MemoryAccess::READ_WRITE).map(drop),
                None => Ok(()),
            });
            outcome("KVM_SET_USER_MEMORY_REGION", result)
        }
        Probe::SpawnProcess => outcome(
            "spawn /bin/true",
            std::process::Command::new("/bin/true").status().map(drop),
        ),
        Probe::SpawnThread => outcome(
            "spawn a thread",
            std::thread::Builder::new().spawn(|| ()).and_then(|t| {
                t.join()
                    .map_err(|_| std::io::Error::other("thread panicked"))
            }),
        ),
        Probe::Open => outcome(
            &format!("open {target}"),
            std::fs::File::open(&target).map(drop),
        ),
        Probe::Create => outcome(
            &format!("create {target}"),
            std::fs::File::create(&target).map(drop),
        ),
        Probe::Connect => {
            let result = target
                .parse::<std::net::SocketAddr>()
                .map_err(|e| e.to_string())
                .and_then(|addr| {
                    std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
                        .map(drop)
                        .map_err(|e| e.to_string())
                });
            outcome(&format!("connect {target}"), result)
        }
    }
}

/// Prints "WHAT: ok" (status 0) or "WHAT: ERROR" (status 1).
fn outcome<T, E: std::fmt::Display>(what: &str, result: Result<T, E>) -> i32 {
    match result {
        Ok(_) => {
            println!("{what}: ok");
            0
        }
        Err(e) => {
            println!("{what}: {e}");
            1
        }
    }
}

fn run_guest(guest: Guest, fds: FdTable, path: SyscallPath) -> i32 {
    let Guest {
        mut machine,
        vcpu,
        aspace,
    } = guest;
    let mut objects = Objects::new(fds, aspace, vcpu);
    let mut stats = Stats::default();
    let result = Deadline::arm(&objects.thread.vcpu, Duration::from_secs(10))
        .map_err(run_loop::RunError::from)
        .and_then(|d| run_loop::run(&mut machine, &mut objects, path, &d, 10.0, &mut stats));
    outcome(
        "run guest",
        match result {
            Ok(Ok(0)) => Ok(()),
            other => Err(format!("ended with {other:?}")),
        },
    )
}

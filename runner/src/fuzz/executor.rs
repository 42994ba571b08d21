//! Runs one generated program in a fresh micro-VM inside this process:
//! the same boot and run loop as `runner exec` (`run::boot::boot`,
//! `run::run_guest`), with a small memory and time limit, the guest's
//! stdin a file of random bytes and its stdout/stderr /dev/null, and the
//! canaries armed around it. A `Vcpu` is `!Send`, so each job thread owns
//! its own `Executor` (and `Hypervisor`).

use super::canary::{Canaries, HostGuards};
use super::generate::Program;
use crate::exit_status;
use crate::kernel::death::Death;
use crate::kernel::fds::FdTable;
use crate::kernel::Objects;
use crate::loader::{self, Format};
use crate::run::boot::{self, Guest, StartInfo};
use crate::run::engine::Engine;
use crate::run::stats::Stats;
use crate::run::syscall_path::SyscallPath;
use crate::vfs::Vfs;
use sandbox_policy::Policy;
use std::fs::File;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use thinvisor_kmod::Hypervisor;

/// argv[0] of every fuzzed program.
const PROGRAM_PATH: &[u8] = b"/fuzz/program";

/// Limits every fuzzed program runs under.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub memory_limit: u64,
    pub time_limit: Duration,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub enum Ending {
    /// exit/exit_group with this status.
    Exited(i32),
    /// Killed: the death line's content.
    Killed(Death),
    /// The program could not be loaded or placed (status 126).
    NotLoaded(String),
    /// The runner itself failed (status 125): always an invariant failure.
    RunnerFailed(String),
}

/// Everything known about one run.
#[derive(Debug)]
pub struct Execution {
    /// The status `runner exec` would exit with.
    pub status: i32,
    pub ending: Ending,
    pub stats: Stats,
    /// Canaries that did not hold.
    pub canaries: Vec<String>,
    /// User memory still mapped at the end (must be within the limit).
    pub user_bytes: u64,
    pub elapsed: Duration,
}

/// A job's executor: one hypervisor handle, reused for every VM it creates.
pub struct Executor {
    hv: Hypervisor,
    path: SyscallPath,
    pub settings: Settings,
    stdin: PathBuf,
    pattern: u64,
}

impl Executor {
    /// Opens /dev/kvm and settles the syscall path (probing when the
    /// platform does not say). `stdin` is the file each guest reads.
    pub fn new(settings: Settings, stdin: PathBuf, pattern: u64) -> Result<Executor, String> {
        let hv = Hypervisor::open().map_err(|e| e.to_string())?;
        let path = Engine::syscall_path(&hv)?;
        Ok(Executor {
            hv,
            path,
            settings,
            stdin,
            pattern,
        })
    }

    fn finish(&self, status: i32, ending: Ending, start: Instant) -> Execution {
        Execution {
            status,
            ending,
            stats: Stats::default(),
            canaries: Vec::new(),
            user_bytes: 0,
            elapsed: start.elapsed(),
        }
    }

    /// Runs `program` once.
    pub fn run(&self, program: &Program) -> Execution {
        let start = Instant::now();
        let limit = self.settings.memory_limit;
        if program.bytes.len() as u64 > limit {
            return self.finish(
                exit_status::CANNOT_LOAD,
                Ending::NotLoaded("larger than the memory limit".into()),
                start,
            );
        }
        let image = match loader::from_bytes("fuzz", program.bytes.clone(), Format::Flat, limit) {
            Ok(i) => i,
            Err(e) => return self.finish(e.exit_status(), Ending::NotLoaded(e.to_string()), start),
        };
        let host_guards = match HostGuards::new(self.pattern) {
            Ok(g) => g,
            Err(e) => return self.failed(format!("host guards: {e}"), start),
        };
        let mut argv: Vec<Vec<u8>> = vec![PROGRAM_PATH.to_vec()];
        argv.extend(program.args.iter().map(|a| a.as_bytes().to_vec()));
        // As `runner exec --monitor off` builds it, but neither locked down
        // (lock-down is for the whole process and for good: the next
        // program needs a new VM) nor sealed until the guard slot is mapped.
        let policy = self.policy();
        let info = StartInfo {
            argv: &argv,
            envp: &[],
            memory_limit: limit,
            monitor: None,
            vdso: policy.syscalls.vdso_allowed(),
            huge_pages: true,
            identity: crate::kernel::process::GUEST_IDENTITY,
        };
        let mut guest = match boot::boot_unsealed(&self.hv, &image, &info) {
            Ok(g) => g,
            Err(e) if e.exit_status() == exit_status::CANNOT_LOAD => {
                return self.finish(e.exit_status(), Ending::NotLoaded(e.to_string()), start)
            }
            Err(e) => return self.failed(format!("cannot build the guest: {e}"), start),
        };
        let canaries = match Canaries::arm(&mut guest, self.pattern) {
            Ok(c) => c,
            Err(e) => return self.failed(format!("canaries: {e}"), start),
        };
        guest.machine.vm.seal_memory_layout();
        let files = File::open(&self.stdin).and_then(|stdin| {
            let null = || File::options().write(true).open("/dev/null");
            Ok(FdTable::with_files(
                Some(stdin),
                Some(null()?),
                Some(null()?),
            ))
        });
        let fds = match files {
            Ok(f) => f,
            Err(e) => return self.failed(format!("standard streams: {e}"), start),
        };
        let vfs = match Vfs::prepare(&policy.files) {
            Ok(v) => v,
            Err(e) => return self.failed(format!("file namespace: {e}"), start),
        };
        let Guest {
            mut machine,
            vcpu,
            aspace,
        } = guest;
        let mut objects = Objects::for_run(fds, vfs, &policy, PROGRAM_PATH, start, aspace, vcpu);
        objects.kernel.reports.enabled = false;
        // Half of the programs run with the syscall ring: patched sites,
        // the stub, forged slots and jumps into ring code are fuzzed too.
        if program.uses_ring() {
            objects.kernel.syscall_mode = crate::ring::SyscallMode::Ring;
        }
        let mut stats = Stats {
            platform: self.hv.platform().to_string(),
            syscall_path: self.path.short().to_string(),
            monitor: "off".to_string(),
            syscalls_mode: if program.uses_ring() { "ring" } else { "exit" }.to_string(),
            ..Stats::default()
        };
        let t = self.settings.time_limit;
        let result = crate::run::run_guest(
            &mut machine,
            &mut objects,
            self.path,
            t,
            t,
            crate::run::Outside::default(),
            &mut stats,
        );
        let (status, ending) = match result {
            Ok(Ok(code)) => (code, Ending::Exited(code)),
            Ok(Err(death)) => (death.exit_status(), Ending::Killed(death)),
            Err(e) => (
                exit_status::RUNNER_FAILED,
                Ending::RunnerFailed(format!("run failed: {e}")),
            ),
        };
        stats.exit_status = status;
        stats.wall_ns = start.elapsed().as_nanos() as u64;
        let mut violations = canaries.check(&machine, &objects.process.mm);
        host_guards.check(&mut violations);
        let user_bytes = objects.process.mm.frames.user_bytes();
        drop(objects);
        drop(machine);
        Execution {
            status,
            ending,
            stats,
            canaries: violations,
            user_bytes,
            elapsed: start.elapsed(),
        }
    }

    /// The policy every program runs under: the default one (as `runner
    /// exec` without `--policy`), with the campaign's memory and time limits.
    fn policy(&self) -> Policy {
        let mut policy = Policy::default().with_wall_time(self.settings.time_limit);
        policy.limits.memory_bytes = self.settings.memory_limit;
        policy
    }

    fn failed(&self, why: String, start: Instant) -> Execution {
        self.finish(exit_status::RUNNER_FAILED, Ending::RunnerFailed(why), start)
    }
}

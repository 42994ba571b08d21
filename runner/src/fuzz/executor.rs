//! Runs one generated program in a micro-VM inside this process: the same
//! boot and run loop as `runner exec` (`run::boot`, `run::run_guest`), with
//! a small memory and time limit, the guest's stdin a file of random bytes
//! and its stdout/stderr /dev/null, and the canaries armed around it. A
//! `Vcpu` is `!Send`, so each job thread owns its own `Executor` (and
//! `Hypervisor`).
//!
//! The VM is reused: after a run that ended on one vCPU and broke no
//! invariant the executor checks (`invariants::check`: status, stats,
//! limits, canaries), it is reset (`run/recycle.rs`: memory zeroed behind a
//! re-registered slot, the vCPU written back to its state when new) and
//! the next program of the same syscall mode boots into it, with its guard
//! slot and host guards kept and filled again. A job keeps one VM per mode
//! (exits, or the syscall ring, whose vCPU runs on a thread of its own),
//! so each program starts as it would in a new VM. A run that started
//! threads or processes, failed, or that the campaign finds failing later
//! (`Executor::discard_kept`) leaves its VM to be dropped.
//! `Settings::fresh_vms` turns reuse off (every program in a new VM, as
//! `runner exec` builds it); a failure report says whether the VM was
//! reused, and a replay always runs in a new one.

use super::canary::{Canaries, HostGuards};
use super::generate::Program;
use super::invariants;
use crate::exit_status;
use crate::kernel::death::Death;
use crate::kernel::fds::FdTable;
use crate::kernel::Objects;
use crate::loader::{self, Format};
use crate::run::boot::{self, Blank, Guest, StartInfo};
use crate::run::engine::Engine;
use crate::run::recycle::{self, Reusable};
use crate::run::stats::Stats;
use crate::run::syscall_path::SyscallPath;
use crate::vfs::Vfs;
use sandbox_policy::Policy;
use std::fs::File;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use thinvisor_kmod::{Hypervisor, SlotId};

/// argv[0] of every fuzzed program.
const PROGRAM_PATH: &[u8] = b"/fuzz/program";

/// Limits every fuzzed program runs under.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub memory_limit: u64,
    pub time_limit: Duration,
    /// Build a new VM for every program instead of resetting the last one.
    pub fresh_vms: bool,
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
    /// How many programs the VM ran before this one (0: a new VM).
    pub vm_reused: u64,
    /// Why the VM could not be reset after this run, when it could not
    /// (an invariant failure: the reset is the harness's own code).
    pub reset_error: Option<String>,
}

/// A job's executor: one hypervisor handle, and the VM of the last run
/// when it could be reset for the next.
pub struct Executor {
    hv: Hypervisor,
    path: SyscallPath,
    pub settings: Settings,
    stdin: PathBuf,
    pattern: u64,
    /// The VM kept for the next program of each syscall mode: exits (0),
    /// the ring (1).
    kept: [Option<Kept>; 2],
    /// VMs built and VMs reset, and why the others were not kept.
    pub vm_counts: VmCounts,
}

/// A VM reset for the next program, with the canaries' slot and host
/// guards that were placed around it when it was built.
struct Kept {
    vm: Reusable,
    guard_slot: SlotId,
    host_guards: HostGuards,
    /// Programs it has run.
    runs: u64,
}

/// What became of the VMs of a job's runs.
#[derive(Debug, Default, Clone, Copy)]
pub struct VmCounts {
    /// New VMs built.
    pub built: u64,
    /// Runs in a VM reset after an earlier run.
    pub reused: u64,
    /// VMs not reset because their run had more than one vCPU.
    pub dropped_threads: u64,
    /// VMs not reset because their run failed an invariant or a canary,
    /// the runner failed, or the campaign found a failure after the run.
    pub dropped_failed: u64,
    /// VMs dropped because the program they were to run did not fit them
    /// (status 126 at boot).
    pub dropped_unplaced: u64,
    /// VMs whose reset failed: the run's report says why (a failure), and
    /// the next program gets a new VM.
    pub reset_failed: u64,
}

/// The VM a run boots into, and what goes with it.
struct VmForRun {
    vm: Reusable,
    guard_slot: Option<SlotId>,
    host_guards: HostGuards,
    runs: u64,
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
            kept: [None, None],
            vm_counts: VmCounts::default(),
        })
    }

    /// The VM kept for `ring` mode, or a new one with new host guards
    /// (allocated first, so that they border its memory).
    fn vm_for_run(&mut self, ring: bool) -> Result<VmForRun, String> {
        if let Some(k) = self.kept[usize::from(ring)].take() {
            return Ok(VmForRun {
                vm: k.vm,
                guard_slot: Some(k.guard_slot),
                host_guards: k.host_guards,
                runs: k.runs,
            });
        }
        let host_guards = HostGuards::new(self.pattern).map_err(|e| format!("host guards: {e}"))?;
        let blank = Blank::new(&self.hv, self.settings.memory_limit)
            .map_err(|e| format!("cannot build the guest: {e}"))?;
        let vm = Reusable::new(blank).map_err(|e| format!("vCPU snapshot: {e}"))?;
        self.vm_counts.built += 1;
        Ok(VmForRun {
            vm,
            guard_slot: None,
            host_guards,
            runs: 0,
        })
    }

    /// The host threads the kept VMs hold between runs (a ring VM's vCPU
    /// run thread): they outlive the run that started them, on purpose.
    pub fn kept_threads(&self) -> Vec<u64> {
        self.kept
            .iter()
            .flatten()
            .filter_map(|k| k.vm.blank.run_thread())
            .collect()
    }

    /// Drops the kept VMs: the campaign found a failure in the run that
    /// left one (a leaked thread, a file in the working directory, the
    /// locked-down child), so it serves no other program.
    pub fn discard_kept(&mut self) {
        for k in &mut self.kept {
            if k.take().is_some() {
                self.vm_counts.dropped_failed += 1;
            }
        }
    }

    fn finish(&self, status: i32, ending: Ending, start: Instant, vm_reused: u64) -> Execution {
        Execution {
            status,
            ending,
            stats: Stats::default(),
            canaries: Vec::new(),
            user_bytes: 0,
            elapsed: start.elapsed(),
            vm_reused,
            reset_error: None,
        }
    }

    /// Runs `program` once.
    pub fn run(&mut self, program: &Program) -> Execution {
        let start = Instant::now();
        let limit = self.settings.memory_limit;
        if program.bytes.len() as u64 > limit {
            return self.finish(
                exit_status::CANNOT_LOAD,
                Ending::NotLoaded("larger than the memory limit".into()),
                start,
                0,
            );
        }
        let image = match loader::from_bytes("fuzz", program.bytes.clone(), Format::Flat, limit) {
            Ok(i) => i,
            Err(e) => {
                return self.finish(e.exit_status(), Ending::NotLoaded(e.to_string()), start, 0)
            }
        };
        let VmForRun {
            vm: Reusable { blank, fresh },
            guard_slot,
            host_guards,
            runs,
        } = match self.vm_for_run(
            program.uses_ring() && program.ring_start() == crate::ring::RingStart::AtOnce,
        ) {
            Ok(m) => m,
            Err(e) => {
                let ending = Ending::RunnerFailed(e);
                return self.finish(exit_status::RUNNER_FAILED, ending, start, 0);
            }
        };
        if runs > 0 {
            self.vm_counts.reused += 1;
        }
        let mut argv: Vec<Vec<u8>> = vec![PROGRAM_PATH.to_vec()];
        argv.extend(program.args.iter().map(|a| a.as_bytes().to_vec()));
        // As `runner exec --monitor off` builds it, but neither locked down
        // (lock-down is for the whole process and for good) nor sealed (the
        // guard slot is mapped after boot, and a reset re-registers the
        // guest's slot).
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
        // From here on, a return before the run drops the VM.
        let mut guest = match boot::boot_blank(blank, &image, &info) {
            Ok(g) => g,
            Err(e) if e.exit_status() == exit_status::CANNOT_LOAD => {
                self.vm_counts.dropped_unplaced += 1;
                let ending = Ending::NotLoaded(e.to_string());
                return self.finish(e.exit_status(), ending, start, runs);
            }
            Err(e) => return self.failed(format!("cannot build the guest: {e}"), start, runs),
        };
        let canaries = match Canaries::arm(&mut guest, self.pattern, guard_slot) {
            Ok(c) => c,
            Err(e) => return self.failed(format!("canaries: {e}"), start, runs),
        };
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
            Err(e) => return self.failed(format!("standard streams: {e}"), start, runs),
        };
        let vfs = match Vfs::prepare(&policy.files) {
            Ok(v) => v,
            Err(e) => return self.failed(format!("file namespace: {e}"), start, runs),
        };
        let Guest {
            mut machine,
            vcpu,
            aspace,
        } = guest;
        let mut objects = Objects::for_run(fds, vfs, &policy, PROGRAM_PATH, start, aspace, vcpu);
        objects.kernel.reports.enabled = false;
        // Half of the programs run with the syscall ring: patched sites,
        // the stub, forged slots and jumps into ring code are fuzzed too;
        // half of those take it late, as under `auto` (a VM whose vCPU has
        // no run thread yet, so that it moves during the run).
        if program.uses_ring() {
            objects.kernel.syscall_mode = crate::ring::SyscallMode::Ring;
            objects.kernel.ring_start = program.ring_start();
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
        let (used_below, _) = objects.process.mm.frames.untouched();
        // The kernel objects go first (nothing of the run stays behind the
        // reset); the first thread's vCPU stays with the VM.
        let vcpu = first_vcpu(objects);
        let mut execution = Execution {
            status,
            ending,
            stats,
            canaries: violations,
            user_bytes,
            elapsed: start.elapsed(),
            vm_reused: runs,
            reset_error: None,
        };
        if self.settings.fresh_vms {
            return execution;
        }
        // Every invariant the run alone decides; the campaign's own checks
        // (threads, files, the locked-down child) call `discard_kept`.
        if invariants::check(&execution, &self.settings).is_empty() {
            execution.reset_error = self.keep(
                machine,
                vcpu,
                used_below,
                fresh,
                canaries.guard_slot,
                host_guards,
                runs,
            );
        } else {
            self.vm_counts.dropped_failed += 1;
        }
        execution
    }

    /// Resets the VM of a run that ended cleanly and keeps it for the next;
    /// why the reset failed, if it did (a VM that had threads is not an
    /// error: it is dropped).
    #[allow(clippy::too_many_arguments)]
    fn keep(
        &mut self,
        machine: crate::run::boot::Machine,
        vcpu: thinvisor_kmod::Vcpu,
        used_below: u64,
        fresh: thinvisor_kmod::VcpuSnapshot,
        guard_slot: SlotId,
        host_guards: HostGuards,
        runs: u64,
    ) -> Option<String> {
        match recycle::recycle(machine, vcpu, used_below, fresh) {
            Ok(vm) => {
                let ring = usize::from(vm.blank.run_thread().is_some());
                self.kept[ring] = Some(Kept {
                    vm,
                    guard_slot,
                    host_guards,
                    runs: runs + 1,
                });
                None
            }
            Err(recycle::RecycleError::MoreVcpus(_)) => {
                self.vm_counts.dropped_threads += 1;
                None
            }
            Err(e) => {
                self.vm_counts.reset_failed += 1;
                Some(e.to_string())
            }
        }
    }

    /// The policy every program runs under: the default one (as `runner
    /// exec` without `--policy`), with the campaign's memory and time limits.
    fn policy(&self) -> Policy {
        let mut policy = Policy::default().with_wall_time(self.settings.time_limit);
        policy.limits.memory_bytes = self.settings.memory_limit;
        policy
    }

    /// A runner failure after the VM was taken (which is dropped); its
    /// report says whether the VM had been reset (`--fresh-vms` then tells
    /// whether the reset is to blame).
    fn failed(&mut self, why: String, start: Instant, vm_reused: u64) -> Execution {
        self.vm_counts.dropped_failed += 1;
        self.finish(
            exit_status::RUNNER_FAILED,
            Ending::RunnerFailed(why),
            start,
            vm_reused,
        )
    }
}

/// The first thread's vCPU; every other kernel object of the run is
/// dropped here.
fn first_vcpu(objects: Objects) -> thinvisor_kmod::Vcpu {
    objects.thread.vcpu
}

#[cfg(test)]
#[path = "executor_tests.rs"]
mod tests;

//! The invariants every fuzzed run must keep, checked on its [`Execution`]:
//! the status is one `runner exec` documents for a guest (its own exit code,
//! 128 + a signal a CPU exception or the time limit maps to, or 128 + a
//! signal the program raised itself; 126 for a program that cannot be
//! placed), the runner did not fail, every exit was
//! one the run loop models, the statistics add up, user memory stayed within
//! the limit, the time limit was enforced on time, and every canary held.

use super::executor::{Ending, Execution, Settings};
use crate::abi::constants as signal;
use crate::exit_status;
use crate::guest::layout::physical_size;
use crate::kernel::death::Death;
use crate::syscalls::signals;
use std::time::Duration;

/// Exit reasons the run loop models; any other is an unexpected VM exit.
const MODELLED_EXITS: &[&str] = &["syscall", "exception", "interrupted", "user_port_io"];
/// Signals a guest may die of (as 128 + N) other than those it raises
/// itself (see [`raised`]).
const DEATH_SIGNALS: &[i32] = &[
    signal::SIGILL,
    signal::SIGTRAP,
    signal::SIGBUS,
    signal::SIGFPE,
    signal::SIGKILL,
    signal::SIGSEGV,
    signal::SIGSYS,
];
/// How late a time-limit kill may come (a loaded CI machine included).
const KILL_SLACK: Duration = Duration::from_secs(2);

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Short name, also used in the saved file's report.
    pub kind: &'static str,
    pub detail: String,
}

impl Violation {
    pub fn new(kind: &'static str, detail: impl Into<String>) -> Violation {
        Violation {
            kind,
            detail: detail.into(),
        }
    }
}

/// Every invariant `e` breaks.
pub fn check(e: &Execution, settings: &Settings) -> Vec<Violation> {
    let mut v = Vec::new();
    status(e, &mut v);
    if matches!(e.ending, Ending::NotLoaded(_) | Ending::RunnerFailed(_)) {
        return v; // no run, no statistics
    }
    stats(e, &mut v);
    limits(e, settings, &mut v);
    for c in &e.canaries {
        v.push(Violation::new("canary", c.clone()));
    }
    if let Some(why) = &e.reset_error {
        v.push(Violation::new(
            "vm reset",
            format!("the VM could not be reset after this run: {why}"),
        ));
    }
    v
}

/// A death by a signal the program raised itself (kill, tkill, tgkill, an
/// unblocked pending signal, SIGPIPE on a write with no reader, a signal
/// one of its threads or another of the sandbox's processes sent it): any
/// signal whose default action ends a process, as natively; or SIGALRM
/// from its own alarm timer.
fn raised(death: &Death) -> bool {
    match death {
        Death::Signal { signal, cause, .. } => {
            let by_program = cause.starts_with("raised by the program itself")
                || cause.starts_with("sent by another thread")
                || cause.starts_with("write to a pipe with no reader")
                // kill from another process of the sandbox (or a timer).
                || cause == "sent to the process";
            let by_alarm =
                *signal == signal::SIGALRM && cause.starts_with("the alarm timer expired");
            (by_program || by_alarm)
                && u64::try_from(*signal).is_ok_and(signals::ends_the_run_by_default)
        }
        _ => false,
    }
}

fn status(e: &Execution, v: &mut Vec<Violation>) {
    match &e.ending {
        Ending::Exited(code) => {
            if !(0..=255).contains(code) || e.status != *code {
                v.push(Violation::new(
                    "status",
                    format!("exit status {code} outside 0..=255"),
                ));
            }
        }
        Ending::Killed(death) => {
            let s = death.exit_status();
            if e.status != s || !(DEATH_SIGNALS.iter().any(|sig| 128 + sig == s) || raised(death)) {
                v.push(Violation::new(
                    "status",
                    format!("death status {s} is not 128 + a documented signal"),
                ));
            }
            let line = death.to_string();
            if line.contains('\n')
                || !line.starts_with("guest killed by ")
                || !line.contains(" at rip 0x")
            {
                v.push(Violation::new(
                    "death line",
                    format!("malformed death line {line:?}"),
                ));
            }
            if line.contains("unexpected VM exit") {
                v.push(Violation::new("unexpected exit", line));
            }
        }
        Ending::NotLoaded(why) => {
            if e.status != exit_status::CANNOT_LOAD {
                v.push(Violation::new(
                    "status",
                    format!("unloadable program gave {}: {why}", e.status),
                ));
            }
        }
        Ending::RunnerFailed(why) => v.push(Violation::new("runner failed", why.clone())),
    }
}

fn stats(e: &Execution, v: &mut Vec<Violation>) {
    let s = &e.stats;
    let by_reason: u64 = s.exits_by_reason.values().sum();
    if by_reason != s.exits {
        v.push(Violation::new(
            "stats",
            format!("exits {} != sum of exits_by_reason {by_reason}", s.exits),
        ));
    }
    let runs = s.vcpu_ioctls.saturating_sub(s.vcpu_ioctls_other);
    if runs != s.exits {
        v.push(Violation::new(
            "stats",
            format!("exits {} != KVM_RUN calls {runs}", s.exits),
        ));
    }
    let syscalls: u64 = s.syscalls.values().sum();
    let syscall_exits = s.exits_by_reason.get("syscall").copied().unwrap_or(0);
    // Each syscall is one syscall exit, one answered by the in-VM monitor
    // or one answered in the syscall ring.
    if syscalls != syscall_exits + s.syscalls_in_vm + s.ring_calls {
        v.push(Violation::new(
            "stats",
            format!(
                "{syscalls} syscalls counted, {syscall_exits} syscall exits + {} in the VM + {} in the ring",
                s.syscalls_in_vm, s.ring_calls
            ),
        ));
    }
    if s.syscalls_mode != "ring" && s.ring_calls + s.ring_sites + s.ring_trapped_at_sites > 0 {
        v.push(Violation::new(
            "stats",
            format!(
                "the ring was used in a run without it: {} calls, {} sites",
                s.ring_calls, s.ring_sites
            ),
        ));
    }
    if s.denied > syscalls {
        v.push(Violation::new(
            "stats",
            format!("{} denied of {syscalls} syscalls", s.denied),
        ));
    }
    if s.exit_status != e.status {
        v.push(Violation::new(
            "stats",
            format!("stats exit_status {} != {}", s.exit_status, e.status),
        ));
    }
    if s.guest_ns > s.wall_ns.saturating_mul(s.vcpus.max(1)) {
        v.push(Violation::new(
            "stats",
            format!(
                "guest_ns {} > wall_ns {} on {} vCPUs",
                s.guest_ns, s.wall_ns, s.vcpus
            ),
        ));
    }
    if s.vcpus == 0 {
        v.push(Violation::new("stats", "a run without a vCPU"));
    }
    let threads = u64::from(sandbox_policy::Policy::default().limits.threads);
    let most = most_vcpus(threads, s.forks);
    if s.vcpus > most {
        v.push(Violation::new(
            "threads limit",
            format!(
                "{} vCPUs, more than {most} (limits.threads {threads}, {} forks)",
                s.vcpus, s.forks
            ),
        ));
    }
    for reason in s.exits_by_reason.keys() {
        if !MODELLED_EXITS.contains(&reason.as_str()) {
            v.push(Violation::new(
                "unexpected exit",
                format!("VM exit {reason:?} is not one the run loop models"),
            ));
        }
    }
}

/// The most vCPUs a run may have used (run/pool.rs): no more than the
/// threads alive at once, so `threads` (limits.threads) for one process,
/// and that many per process when it forked; never past the VM's
/// `MAX_VCPUS`.
fn most_vcpus(threads: u64, forks: u64) -> u64 {
    threads
        .saturating_mul(forks.saturating_add(1))
        .min(crate::guest::layout::MAX_VCPUS)
}

fn limits(e: &Execution, settings: &Settings, v: &mut Vec<Violation>) {
    if e.user_bytes > settings.memory_limit {
        v.push(Violation::new(
            "memory limit",
            format!(
                "{} bytes of user memory mapped, limit {}",
                e.user_bytes, settings.memory_limit
            ),
        ));
    }
    let phys = physical_size(settings.memory_limit);
    if e.stats.peak_guest_memory_bytes > phys {
        v.push(Violation::new(
            "memory limit",
            format!(
                "peak guest memory {} exceeds the slot ({phys})",
                e.stats.peak_guest_memory_bytes
            ),
        ));
    }
    if let Ending::Killed(crate::kernel::death::Death::TimeLimit { .. }) = e.ending {
        if e.elapsed < settings.time_limit {
            v.push(Violation::new(
                "time limit",
                format!("killed after {:?}, before the limit", e.elapsed),
            ));
        }
    }
    if e.elapsed > settings.time_limit + KILL_SLACK {
        v.push(Violation::new(
            "time limit",
            format!(
                "ran {:?}, limit {:?}: the watchdog was late",
                e.elapsed, settings.time_limit
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::most_vcpus;

    #[test]
    fn the_vcpu_bound_counts_every_process_up_to_the_vms_most() {
        assert_eq!(most_vcpus(64, 0), 64, "one process: limits.threads");
        assert_eq!(most_vcpus(64, 2), 192);
        assert_eq!(most_vcpus(64, 10), 256, "the VM's most");
        assert_eq!(most_vcpus(1, u64::MAX), 256);
    }
}

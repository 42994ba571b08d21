//! The runner's self-sandbox. Once the program is loaded and the guest is
//! built, and before its first instruction, the runner gives up everything
//! it will not need again: resource limits from the policy, the CPUs of
//! `limits.cpus` (its affinity, inherited by every vCPU thread), no_new_privs,
//! Landlock (files and TCP ports of the policy only), no capabilities, and
//! a seccomp filter that allows only the host syscalls of
//! `seccomp_rules.rs` (anything else kills the runner).
//!
//! Lock-down happens while the runner has exactly one thread (it checks):
//! Landlock domains and capabilities belong to a thread, and the runner
//! stays single-threaded afterwards (the filter refuses `clone`; the time
//! limit is a kernel timer, not a thread). The seccomp filter is installed
//! with TSYNC anyway. See docs/threat-model.md, "The runner's own sandbox".

pub mod capabilities;
pub mod cpus;
pub mod landlock;
#[cfg(test)]
mod landlock_tests;
pub mod rlimits;
pub mod seccomp_docs;
pub mod seccomp_door;
pub mod seccomp_filter;
pub mod seccomp_rules;
#[cfg(test)]
mod seccomp_tests;
pub mod survey;

use crate::vfs::Vfs;
use sandbox_policy::Policy;
use seccomp_filter::FilterContext;

#[derive(Debug, thiserror::Error)]
pub enum LockdownError {
    #[error(transparent)]
    Survey(#[from] survey::SurveyError),
    #[error(
        "the runner has {0} threads; it locks down with exactly one, so that every thread it creates later inherits the sandbox"
    )]
    Threads(u32),
    #[error("rlimits: {0}")]
    Rlimit(#[from] rlimits::RlimitError),
    #[error("cannot ignore SIGXFSZ: {0}")]
    FileSizeSignal(#[source] std::io::Error),
    #[error("cannot set no_new_privs: {0}")]
    NoNewPrivs(#[source] rustix::io::Errno),
    #[error("landlock: {0}")]
    Landlock(#[from] landlock::LandlockError),
    #[error("capabilities: {0}")]
    Capabilities(#[from] capabilities::CapabilitiesError),
    #[error("seccomp: {0}")]
    Seccomp(#[from] seccomp_filter::SeccompError),
    #[error("limits.cpus: {0}")]
    Cpus(#[from] cpus::CpusError),
}

/// What lock-down did.
#[derive(Debug, Clone)]
pub struct LockdownReport {
    pub limits: Vec<rlimits::Limit>,
    pub landlock: landlock::Enforcement,
    pub bounding: capabilities::Bounding,
    /// Rules of the seccomp table in the filter.
    pub seccomp_rules: usize,
    /// The host CPUs kept by `limits.cpus`, when it narrowed the affinity.
    pub cpus: Option<Vec<usize>>,
}

/// The seccomp filter's context for `policy` in this process.
pub fn filter_context(policy: &Policy) -> FilterContext {
    FilterContext {
        files: !policy.files.is_empty(),
        network: !policy.network.is_empty(),
        terminal: policy.stdio.terminal,
        pid: rustix::process::getpid()
            .as_raw_nonzero()
            .get()
            .unsigned_abs(),
    }
}

/// Makes libraries read, now, what they would otherwise read lazily on
/// first use through calls the sandbox refuses: rustix finds the vDSO from
/// the aux vector, which it reads with prctl(PR_GET_AUXV) or from
/// /proc/self/auxv the first time the emulation asks for the time.
fn warm_up() {
    let _ = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
}

/// Locks the runner down for `policy`, whose `[[files]]` roots `vfs` holds
/// open (from [`Vfs::prepare`]; Landlock grants those descriptors, never
/// the policy's path names). Call it on the runner's only thread, after
/// every guest is built (and sealed) and every descriptor the run needs is
/// open, right before the first guest instruction.
pub fn lock_down(policy: &Policy, vfs: &Vfs) -> Result<LockdownReport, LockdownError> {
    lock_down_with(policy, vfs, false)
}

/// [`lock_down`] before a request exists (a `runner serve --policy`
/// worker, run/ahead.rs), with the door of `seccomp_door.rs` open to take
/// it, and room for the descriptors it brings; [`close_door`] shuts it.
pub fn lock_down_ahead(policy: &Policy, vfs: &Vfs) -> Result<LockdownReport, LockdownError> {
    lock_down_with(policy, vfs, true)
}

/// Shuts the door [`lock_down_ahead`] left open: from here on the filters
/// allow what [`lock_down`]'s allow for the same policy.
pub fn close_door() -> Result<(), LockdownError> {
    let ctx = FilterContext {
        files: false,
        network: false,
        terminal: false,
        pid: 0,
    };
    let shut = seccomp_filter::door_shut(&ctx)?;
    seccomp_filter::install_one(&shut)?;
    Ok(())
}

/// The descriptors a request brings to a worker locked down before it:
/// its connection and that connection's duplicate (the run watches it),
/// what comes over it (serve/protocol.rs's `MAX_FDS`), and the duplicates
/// of the three standard streams the run's descriptor table makes (a cold
/// run makes those before its lock-down, where they are counted).
const REQUEST_FDS: u64 = 2 + crate::serve::protocol::MAX_FDS as u64 + 3;

fn lock_down_with(policy: &Policy, vfs: &Vfs, door: bool) -> Result<LockdownReport, LockdownError> {
    let facts = survey::survey()?;
    if facts.threads != 1 {
        return Err(LockdownError::Threads(facts.threads));
    }
    warm_up();
    // Everything that can fail for want of data comes first.
    let ctx = filter_context(policy);
    let filters = if door {
        seccomp_filter::build_with_door(&ctx)?
    } else {
        seccomp_filter::build(&ctx)?
    };
    let highest_fd = facts.highest_fd + if door { REQUEST_FDS } else { 0 };
    let limits = rlimits::limits_for(policy, highest_fd);

    rlimits::apply(&limits)?;
    let cpus = cpus::restrict(policy.limits.cpus)?;
    thinvisor_kmod::process_signals::ignore_file_size_signal()
        .map_err(LockdownError::FileSizeSignal)?;
    rustix::thread::set_no_new_privs(true).map_err(LockdownError::NoNewPrivs)?;
    let landlock = landlock::restrict(vfs, &policy.network)?;
    let bounding = capabilities::drop_all(facts.cap_last_cap)?;
    seccomp_filter::install(&filters)?;
    Ok(LockdownReport {
        limits,
        landlock,
        bounding,
        seccomp_rules: filters.rule_count,
        cpus,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lock-down checks that the runner is single-threaded before it
    /// changes anything, so a refusal leaves the process as it was. (The
    /// test harness itself runs several threads; one more makes sure.)
    #[test]
    fn a_multi_threaded_runner_is_refused_before_anything_changes() {
        let (stop, wait) = std::sync::mpsc::channel::<()>();
        let extra = std::thread::spawn(move || {
            let _ = wait.recv();
        });
        let result = lock_down(&Policy::default(), &Vfs::empty());
        let _ = stop.send(());
        let _ = extra.join();
        match result {
            Err(LockdownError::Threads(n)) => assert!(n >= 2, "{n} threads"),
            other => panic!("expected the threads refusal, got {other:?}"),
        }
        let msg = LockdownError::Threads(2).to_string();
        assert!(msg.starts_with("the runner has 2 threads;"), "{msg}");
        assert!(
            !rustix::thread::no_new_privs().unwrap_or(true),
            "no_new_privs was set by a refused lock-down"
        );
    }
}

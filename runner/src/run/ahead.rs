//! A run whose runner locked down before its request existed: a `runner
//! serve --policy FILE` worker knows the policy of every run it will
//! serve, so it makes everything that depends on the policy alone, and
//! locks itself down for it, while it waits for a client. The lock-down
//! (about a millisecond here: docs/benchmarks.md) leaves the served run's
//! path.
//!
//! Made ahead (`Ahead::make`, before the lock-down): the policy read and
//! checked, its private trees and `[[files]]` locations opened, the engine
//! chosen (choosing may build a probe VM), a terminal's signals caught.
//! The lock-down then leaves a door open for taking the request
//! (`lockdown::lock_down_ahead`: accepting on the listening socket,
//! watching the connection, installing one more filter), and the run shuts
//! it (`lockdown::close_door`) before its program is even read, so the
//! guest's first instruction runs under exactly the filter a cold run of
//! that policy has.
//!
//! What the request brings is taken through descriptors only (the client
//! opens the program and the stats file, and sends the policy's text):
//! the locked runner opens no path of the client's. A request this
//! cannot serve is refused with the reason (`refusal`): another policy,
//! or an option that opens a file of its own or changes what the
//! lock-down allows (`--trace`, `--verdict`, `--learn-record`,
//! `--forward-signals`, `--monitor`).

use super::engine::Engine;
use super::options::ExecOptions;
use super::stages::{self, Prepared, RunFailure, Served};
use crate::monitor::MonitorMode;
use crate::vfs::Vfs;
use sandbox_policy::Policy;
use std::os::fd::OwnedFd;
use std::path::Path;
use thinvisor_kmod::Hypervisor;

/// What a worker made for its policy before any request.
pub struct Ahead {
    /// The policy as its file says, for comparing with a request's.
    as_read: Policy,
    /// The policy the run gets (its private trees made).
    policy: Policy,
    vfs: Vfs,
    locked: LockedAhead,
}

/// What the run's later stages take from [`Ahead`]: the engine it chose
/// and the relay of the signals it caught before its lock-down.
pub struct LockedAhead {
    pub engine: Engine,
    pub relayed: Option<OwnedFd>,
}

impl Ahead {
    /// Reads the policy at `path` and makes what its runs need before the
    /// lock-down; `hv` is the hypervisor the runs will use.
    pub fn make(path: &Path, hv: &Hypervisor) -> Result<Ahead, RunFailure> {
        let as_read = Policy::from_file(path).map_err(RunFailure::runner)?;
        let mut policy = as_read.clone();
        let vfs = stages::open_files(&mut policy)?;
        let engine = Engine::choose(
            hv,
            MonitorMode::Auto,
            policy.limits.threads,
            policy.limits.processes,
        )
        .map_err(RunFailure::runner)?;
        let relayed = stages::relay(false, policy.stdio.terminal)?;
        Ok(Ahead {
            as_read,
            policy,
            vfs,
            locked: LockedAhead { engine, relayed },
        })
    }

    /// The memory limit of the policy (the size of the VM to build ahead).
    pub fn memory_limit(&self) -> u64 {
        self.policy.limits.memory_bytes
    }

    /// Locks the runner down for the policy, the door for the request
    /// open. Call it on the worker's only thread, once everything made
    /// ahead is made.
    pub fn lock_down(&self) -> Result<(), RunFailure> {
        crate::lockdown::lock_down_ahead(&self.policy, &self.vfs)
            .map(|_| ())
            .map_err(|e| RunFailure::runner(format!("cannot lock down the runner: {e}")))
    }

    /// Forgets the signals caught while the worker waited (a lent
    /// terminal's, `stages::relay`): they were meant for no run, and would
    /// otherwise reach the next guest's foreground group. Call it once the
    /// request is taken.
    pub fn forget_signals_so_far(&self) {
        use rustix::event::{poll, PollFd, PollFlags};
        let Some(fd) = &self.locked.relayed else {
            return;
        };
        let now = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let mut buf = [0u8; 64];
        loop {
            let mut fds = [PollFd::new(fd, PollFlags::IN)];
            match poll(&mut fds, Some(&now)) {
                Ok(n) if n > 0 => {}
                _ => return,
            }
            match rustix::io::read(fd, &mut buf) {
                Ok(n) if n > 0 => {}
                _ => return,
            }
        }
    }

    /// Why this worker cannot serve a request for `opts` whose policy file
    /// reads `policy_text` (None: no `--policy`, the default policy); None
    /// when it can.
    pub fn refusal(
        &self,
        opts: &ExecOptions,
        policy_text: Option<&str>,
        stats_attached: bool,
    ) -> Option<String> {
        let pinned = "this server's workers lock down for the policy it was started with (runner serve --policy) before a request comes";
        let asked = match (policy_text, &opts.policy) {
            (Some(text), Some(path)) => {
                match Policy::from_str_named(text, &path.display().to_string()) {
                    Ok(p) => p,
                    Err(e) => return Some(e.to_string()),
                }
            }
            _ => Policy::default(),
        };
        if asked != self.as_read {
            let named = opts
                .policy
                .as_ref()
                .map_or("the default policy (no --policy)".to_string(), |p| {
                    format!("--policy {}", p.display())
                });
            return Some(format!(
                "{named} is not the policy of this server: {pinned}; run it with the same policy, or through a server started without --policy"
            ));
        }
        let needs_a_file = [
            (opts.trace.is_some(), "--trace"),
            (opts.verdict.is_some(), "--verdict"),
            (opts.learn_record.is_some(), "--learn-record"),
        ];
        if let Some((_, flag)) = needs_a_file.iter().find(|(on, _)| *on) {
            return Some(format!(
                "{flag} opens its file in the runner, and {pinned}; use a server started without --policy, or runner exec"
            ));
        }
        if opts.stats.is_some() && !stats_attached {
            return Some(format!(
                "--stats came without its file (the client opens it), and {pinned}"
            ));
        }
        if opts.forward_signals {
            return Some(format!(
                "--forward-signals catches signals before the lock-down, and {pinned}; use a server started without --policy"
            ));
        }
        if opts.monitor != MonitorMode::Auto {
            return Some(format!(
                "--monitor {}: the engine is chosen before the lock-down, and {pinned}; use a server started without --policy",
                if opts.monitor == MonitorMode::On { "on" } else { "off" }
            ));
        }
        None
    }
}

/// The first stage of a run in a worker locked down ahead: the request's
/// program (from the descriptor its client sent) in the files opened
/// ahead. The door shuts before the program is read.
pub fn prepare(opts: ExecOptions, served: Served, ahead: Ahead) -> Result<Prepared, RunFailure> {
    let Ahead {
        policy,
        vfs,
        locked,
        ..
    } = ahead;
    let policy = stages::with_timeout(policy, opts.timeout)?;
    if !opts.guest_path && served.program.is_none() {
        return Err(RunFailure::runner(
            "the client sent no program (a host program comes as a descriptor)",
        ));
    }
    let mut served = served;
    // Watching the connection is the last thing the door is open for.
    stages::watch_client(&served.client)?;
    crate::lockdown::close_door()
        .map_err(|e| RunFailure::runner(format!("cannot lock down the runner: {e}")))?;
    let host = stages::read_program(&opts, &policy, Some(&mut served))?;
    let received = served.received;
    stages::finish_prepare(
        opts,
        policy,
        vfs,
        host,
        Some(served),
        Some(locked),
        received,
    )
}

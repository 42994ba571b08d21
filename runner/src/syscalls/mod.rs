//! Linux syscall emulation: the context a handler gets, what it returns,
//! and dispatch through the table in `table.rs`.

pub mod abi;
mod clocks;
pub mod common;
mod copy;
pub mod decode;
pub mod errno;
mod fdctl;
pub mod fds;
mod fs;
mod identity;
mod io;
mod memory;
pub mod net;
pub mod pipe;
mod poll;
pub mod process;
mod refused;
mod remap;
mod resources;
pub mod run_info;
pub mod signals;
mod sleep;
mod stream_stat;
pub mod table;
mod time;

use crate::exec::death::Death;
use crate::guest::address_space::AddressSpace;
use crate::tunnel::Tunnel;
use crate::vfs::Vfs;
use common::WriteBudget;
use fds::FdTable;
use sandbox_policy::{NetRules, OnDeny, Policy, SyscallRules};
use std::collections::BTreeSet;
use thinvisor_kmod::{GuestMemory, Vcpu};

/// The emulated process's state beyond memory.
#[derive(Debug)]
pub struct ProcessState {
    pub fds: FdTable,
    /// The policy's files, prepared before the run, and the guest cwd.
    pub vfs: Vfs,
    /// The policy's `[[network]]` rules: the peers the guest may reach.
    pub net: NetRules,
    /// The policy's bytes_written limit and what has been written so far.
    pub budget: WriteBudget,
    /// set_tid_address's pointer (kept; no threads to clear it for).
    pub clear_child_tid: u64,
    pub fs_base: u64,
    pub gs_base: u64,
    /// Syscall numbers already reported as unsupported (reported once each).
    pub reported_unknown: BTreeSet<u64>,
    /// The policy's `[syscalls]` rules, checked before every syscall.
    pub rules: SyscallRules,
    /// The run's clock and limits (deadline for sleeps, getrlimit, ...).
    pub run: run_info::RunInfo,
    /// Signal dispositions, mask, pending set, alternate stack.
    pub signals: signals::SignalState,
    /// set_robust_list's head (kept; no other thread will need it).
    pub robust_list: u64,
    /// Whether unsupported syscalls are reported on stderr (the fuzzer,
    /// which makes thousands of them, turns this off).
    pub report_unsupported: bool,
}

impl ProcessState {
    /// No files, no network, the default write budget.
    pub fn new(fds: FdTable) -> ProcessState {
        ProcessState {
            fds,
            vfs: Vfs::empty(),
            net: NetRules::default(),
            budget: WriteBudget::default(),
            clear_child_tid: 0,
            fs_base: 0,
            gs_base: 0,
            reported_unknown: BTreeSet::new(),
            rules: SyscallRules::default(),
            run: run_info::RunInfo::default(),
            signals: signals::SignalState::default(),
            robust_list: 0,
            report_unsupported: true,
        }
    }

    /// The state for a run under `policy`: `vfs` from `Vfs::prepare`,
    /// the fd limit, network peers and write budget from the policy.
    pub fn with_policy(mut fds: FdTable, vfs: Vfs, policy: &Policy) -> ProcessState {
        fds.set_limit(policy.limits.open_files);
        let mut s = ProcessState::new(fds);
        s.vfs = vfs;
        s.net = policy.network.clone();
        s.rules = policy.syscalls.clone();
        s.budget = WriteBudget {
            used: 0,
            limit: policy.limits.bytes_written,
        };
        s
    }

    /// The state for a run of `program` under `policy` that started at
    /// `start`: [`Self::with_policy`] plus the run's clock and limits.
    pub fn for_run(
        fds: FdTable,
        vfs: Vfs,
        policy: &Policy,
        program: &[u8],
        start: std::time::Instant,
    ) -> ProcessState {
        let limits = &policy.limits;
        let mut s = ProcessState::with_policy(fds, vfs, policy);
        s.run = run_info::RunInfo::new(
            limits.wall_time,
            limits.memory_bytes,
            u64::from(limits.open_files),
            crate::guest::layout::stack_size(limits.memory_bytes),
            limits.cpu_time,
            program,
        );
        s.run.start = start;
        s.run.deadline = start.checked_add(limits.wall_time).unwrap_or(start);
        s
    }
}

/// What a handler can reach: guest memory (only through the tunnel), the
/// address space, the vCPU (through the cache) and the process state.
pub struct Ctx<'a> {
    pub mem: &'a mut GuestMemory,
    pub aspace: &'a mut AddressSpace,
    pub vcpu: &'a mut Vcpu,
    pub state: &'a mut ProcessState,
}

impl Ctx<'_> {
    /// The secure tunnel over this guest's memory.
    pub fn tunnel(&mut self) -> Tunnel<'_> {
        Tunnel::new(self.aspace, self.mem)
    }
}

/// How a syscall ends.
#[derive(Debug)]
pub enum Outcome {
    /// Return this value in RAX (a negative errno as two's complement).
    Return(u64),
    /// The process exits with this status.
    Exit(i32),
    /// The process is killed.
    Kill(Death),
}

impl Outcome {
    pub fn ok(v: u64) -> Outcome {
        Outcome::Return(v)
    }
    pub fn err(errno: i64) -> Outcome {
        Outcome::Return((-errno) as u64)
    }
}

/// Syscall arguments in ABI order: rdi, rsi, rdx, r10, r8, r9.
pub type Args = [u64; 6];

/// A handler of one syscall.
pub type Handler = fn(&mut Ctx<'_>, &Args) -> Outcome;

/// How the policy answers syscall `nr` with `args`: None when allowed, else
/// what to do instead (checked before any argument is looked at further).
pub fn refusal(rules: &SyscallRules, nr: u64, args: &Args) -> Option<OnDeny> {
    let allowed = match u32::try_from(nr) {
        Ok(n) => rules.is_allowed(n) && rules.arg_allowed(n, args),
        // Numbers beyond u32 are no syscall: left to ENOSYS unless an allow
        // list restricts everything.
        Err(_) => rules.allow.is_none(),
    };
    (!allowed).then_some(rules.on_deny)
}

/// Runs syscall `nr`. Unknown numbers return -ENOSYS and are reported once
/// on stderr with their name and number.
pub fn dispatch(ctx: &mut Ctx<'_>, nr: u64, args: &Args) -> Outcome {
    match table::lookup(nr) {
        Some(entry) => (entry.handler)(ctx, args),
        None => {
            if ctx.state.reported_unknown.insert(nr) && ctx.state.report_unsupported {
                eprintln!(
                    "runner: unsupported syscall {} ({nr}) returned ENOSYS",
                    table::name_of(nr)
                );
            }
            Outcome::err(errno::ENOSYS)
        }
    }
}

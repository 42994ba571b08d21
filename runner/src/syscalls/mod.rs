//! Linux syscall emulation: the context a handler gets, what it returns,
//! and dispatch through the table in `table.rs`.

pub mod decode;
pub mod errno;
pub mod fds;
mod io;
mod memory;
mod process;
pub mod table;
mod time;

use crate::exec::death::Death;
use crate::guest::address_space::AddressSpace;
use crate::tunnel::Tunnel;
use fds::FdTable;
use std::collections::BTreeSet;
use thinvisor_kmod::{GuestMemory, Vcpu};

/// The emulated process's state beyond memory.
#[derive(Debug)]
pub struct ProcessState {
    pub fds: FdTable,
    /// set_tid_address's pointer (kept; no threads to clear it for).
    pub clear_child_tid: u64,
    pub fs_base: u64,
    pub gs_base: u64,
    /// Syscall numbers already reported as unsupported (reported once each).
    pub reported_unknown: BTreeSet<u64>,
    /// Whether unsupported syscalls are reported on stderr (the fuzzer,
    /// which makes thousands of them, turns this off).
    pub report_unsupported: bool,
}

impl ProcessState {
    pub fn new(fds: FdTable) -> ProcessState {
        ProcessState {
            fds,
            clear_child_tid: 0,
            fs_base: 0,
            gs_base: 0,
            reported_unknown: BTreeSet::new(),
            report_unsupported: true,
        }
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

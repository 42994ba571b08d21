//! Linux syscall emulation: the context a handler gets, what it returns,
//! and dispatch through the table in `table.rs`.

mod clocks;
pub mod common;
mod copy;
mod ctx;
pub mod decode;
mod fdctl;
mod fs;
mod identity;
mod io;
mod memory;
pub mod net;
pub mod pipe;
mod poll;
pub mod process;
mod remap;
mod resources;
pub mod signals;
mod sleep;
mod stream_stat;
pub mod table;
mod time;

use crate::abi::Errno;
use crate::kernel::death::Death;
pub use ctx::Ctx;
use sandbox_policy::{OnDeny, SyscallRules};

/// Why a handler did not return a value: an errno for the guest, or the
/// end of the process (exit) or of the run (a fatal signal, the time limit).
#[derive(Debug)]
pub enum Stop {
    /// Return `-errno` in RAX.
    Fail(Errno),
    /// The process exits with this status.
    Exit(i32),
    /// The process is killed.
    Kill(Death),
}

impl From<Errno> for Stop {
    fn from(e: Errno) -> Stop {
        Stop::Fail(e)
    }
}

/// What every handler returns: RAX on success.
pub type SyscallResult = Result<u64, Stop>;

/// How a syscall ends, as the run loop sees it.
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
    /// RAX for `-errno`.
    pub fn errno(e: Errno) -> Outcome {
        Outcome::Return((-i64::from(e.raw_os_error())) as u64)
    }
}

impl From<SyscallResult> for Outcome {
    fn from(r: SyscallResult) -> Outcome {
        match r {
            Ok(v) => Outcome::Return(v),
            Err(Stop::Fail(e)) => Outcome::errno(e),
            Err(Stop::Exit(code)) => Outcome::Exit(code),
            Err(Stop::Kill(death)) => Outcome::Kill(death),
        }
    }
}

/// Syscall arguments in ABI order: rdi, rsi, rdx, r10, r8, r9.
pub type Args = [u64; 6];

/// A handler of one syscall.
pub type Handler = fn(&mut Ctx<'_>, &Args) -> SyscallResult;

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

/// Runs syscall `nr` as its entry in the contract (`table.rs`) says:
/// emulated ones by their handler; refused and unsupported ones (and
/// numbers that are no syscall) fail, reported once per number on stderr.
pub fn dispatch(ctx: &mut Ctx<'_>, nr: u64, args: &Args) -> Outcome {
    use table::Status;
    let status = table::lookup(nr).map(|e| e.status);
    if let Some(Status::Emulated { handler, .. }) = status {
        return handler(ctx, args).into();
    }
    let (errno, report) = match status {
        Some(Status::Refused { errno, report, .. }) => (errno, report),
        _ => (Errno::NOSYS, true),
    };
    // The line is made only when it is due: once per number.
    if report && ctx.kernel.reports.first(nr) {
        let name = table::name_of(nr);
        match status {
            Some(Status::Refused { why, .. }) => eprintln!(
                "runner: {name} ({nr}) refused: {why}; returned {}",
                table::errno_name(errno)
            ),
            _ => eprintln!("runner: unsupported syscall {name} ({nr}) returned ENOSYS"),
        }
    }
    Outcome::errno(errno)
}

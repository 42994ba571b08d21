//! membarrier: a memory barrier on every running thread of the calling
//! process (or of every process), without those threads doing anything.
//! Every thread of every process of the sandbox runs on a vCPU thread of
//! the one runner process, so one host `membarrier` of the runner's own
//! (MEMBARRIER_CMD_PRIVATE_EXPEDITED: an interrupt to each CPU running one
//! of its threads, which takes a vCPU out of the guest and back, a
//! serializing exit and entry) gives every command the guest may ask for
//! its guarantee, the core-serializing ones included. The registrations
//! the private commands need are kept per address space, as Linux keeps
//! them (a fork's child has its parent's; none after execve). The rseq commands are not offered:
//! rseq itself is not emulated.

use super::{Args, Ctx, SyscallResult};
use crate::abi::Errno;
use rustix::thread::{membarrier, MembarrierCommand};

const QUERY: u64 = 0;
const GLOBAL: u64 = 1 << 0;
const GLOBAL_EXPEDITED: u64 = 1 << 1;
const REGISTER_GLOBAL_EXPEDITED: u64 = 1 << 2;
const PRIVATE_EXPEDITED: u64 = 1 << 3;
const REGISTER_PRIVATE_EXPEDITED: u64 = 1 << 4;
const PRIVATE_EXPEDITED_SYNC_CORE: u64 = 1 << 5;
const REGISTER_PRIVATE_EXPEDITED_SYNC_CORE: u64 = 1 << 6;
/// What QUERY answers.
const SUPPORTED: u64 = GLOBAL
    | GLOBAL_EXPEDITED
    | REGISTER_GLOBAL_EXPEDITED
    | PRIVATE_EXPEDITED
    | REGISTER_PRIVATE_EXPEDITED
    | PRIVATE_EXPEDITED_SYNC_CORE
    | REGISTER_PRIVATE_EXPEDITED_SYNC_CORE;

/// The barrier itself, on the runner's threads (registered first: a
/// registration already made is a no-op).
fn barrier() -> Result<u64, Errno> {
    membarrier(MembarrierCommand::RegisterPrivateExpedited)?;
    membarrier(MembarrierCommand::PrivateExpedited)?;
    Ok(0)
}

pub fn membarrier_call(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (cmd, flags) = (a[0] as u32 as u64, a[1] as u32);
    if flags != 0 {
        return Err(Errno::INVAL.into());
    }
    let registered = ctx.process.membarrier;
    Ok(match cmd {
        QUERY => SUPPORTED,
        REGISTER_GLOBAL_EXPEDITED
        | REGISTER_PRIVATE_EXPEDITED
        | REGISTER_PRIVATE_EXPEDITED_SYNC_CORE => {
            ctx.process.membarrier |= cmd;
            0
        }
        GLOBAL | GLOBAL_EXPEDITED => barrier()?,
        PRIVATE_EXPEDITED if registered & REGISTER_PRIVATE_EXPEDITED != 0 => barrier()?,
        PRIVATE_EXPEDITED_SYNC_CORE if registered & REGISTER_PRIVATE_EXPEDITED_SYNC_CORE != 0 => {
            barrier()?
        }
        // Not registered for it, as Linux answers.
        PRIVATE_EXPEDITED | PRIVATE_EXPEDITED_SYNC_CORE => return Err(Errno::PERM.into()),
        _ => return Err(Errno::INVAL.into()),
    })
}

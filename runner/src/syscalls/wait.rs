//! wait4 and waitid: a parent reaps its ended children. Children end
//! (run/processes.rs, `tear_down`) as zombies in the process table
//! (kernel/process_table.rs) until reaped; a parent with live children
//! and nothing to reap waits for any thread's next syscall or a process's
//! end (`Wait::Retry`: both wake it), or returns at once with WNOHANG.
//! Stopped and continued children are never reported: no process of the
//! sandbox is ever stopped (SIGSTOP is not delivered as a stop).

use super::{Args, Ctx, Stop, SyscallResult, Wait};
use crate::abi::constants::{
    __WALL, __WCLONE, __WNOTHREAD, P_ALL, P_PGID, P_PID, SIGCHLD, WCONTINUED, WEXITED, WNOHANG,
    WNOWAIT, WSTOPPED, WUNTRACED,
};
use crate::abi::Errno;
use crate::kernel::process_table::{ChildStatus, Which};
use crate::tunnel::GuestPtr;

/// Bytes of `struct rusage` (all zero: no accounting per child).
const RUSAGE_SIZE: usize = 144;
/// Bytes of `siginfo_t`.
const SIGINFO_SIZE: usize = 128;

/// What a wait found.
enum Found {
    /// A child to report: its pid and status.
    Child(u64, ChildStatus),
    /// WNOHANG and nothing to report yet.
    Nothing,
}

/// Looks for a child `which` names: reaps it (unless WNOWAIT), reports
/// nothing with WNOHANG, or waits. ECHILD when there is no such child.
fn look(ctx: &mut Ctx<'_>, which: Which, options: u64) -> Result<Found, Stop> {
    let me = ctx.process.identity.pid;
    if let Some((pid, status)) = ctx.kernel.procs.zombie_child(me, which) {
        if options & WNOWAIT == 0 {
            ctx.kernel.procs.reap(pid);
        }
        return Ok(Found::Child(pid, status));
    }
    if !ctx.kernel.procs.has_child(me, which) {
        return Err(Errno::CHILD.into());
    }
    if options & WNOHANG != 0 {
        return Ok(Found::Nothing);
    }
    Err(Stop::Block(Wait::Retry))
}

/// The caller's process group.
fn own_group(ctx: &Ctx<'_>) -> u64 {
    let me = ctx.process.identity.pid;
    ctx.kernel.procs.get(me).map_or(me, |e| e.pgid)
}

pub fn wait4(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (pid, wstatus, options, rusage) = (a[0] as i32 as i64, a[1], a[2], a[3]);
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | __WNOTHREAD | __WALL | __WCLONE) != 0 {
        return Err(Errno::INVAL.into());
    }
    let which = match pid {
        -1 => Which::Any,
        0 => Which::Group(own_group(ctx)),
        p if p < -1 => Which::Group(p.unsigned_abs()),
        p => Which::Pid(p as u64),
    };
    let (child, status) = match look(ctx, which, options)? {
        Found::Child(pid, status) => (pid, status),
        Found::Nothing => return Ok(0),
    };
    let mut t = ctx.tunnel();
    if wstatus != 0
        && t.write(GuestPtr::new(wstatus), &status.wait_status().to_le_bytes())
            .is_err()
    {
        return Err(Errno::FAULT.into());
    }
    if rusage != 0 && t.write(GuestPtr::new(rusage), &[0u8; RUSAGE_SIZE]).is_err() {
        return Err(Errno::FAULT.into());
    }
    Ok(child)
}

pub fn waitid(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (idtype, id, infop, options, rusage) = (a[0], a[1] as u32 as u64, a[2], a[3], a[4]);
    let known =
        WNOHANG | WEXITED | WSTOPPED | WCONTINUED | WNOWAIT | __WNOTHREAD | __WALL | __WCLONE;
    if options & !known != 0 || options & (WEXITED | WSTOPPED | WCONTINUED) == 0 {
        return Err(Errno::INVAL.into());
    }
    let which = match idtype {
        P_ALL => Which::Any,
        P_PID if id > 0 => Which::Pid(id),
        P_PGID if id == 0 => Which::Group(own_group(ctx)),
        P_PGID => Which::Group(id),
        _ => return Err(Errno::INVAL.into()),
    };
    // Only exits are ever reported: without WEXITED nothing can be.
    let found = if options & WEXITED == 0 {
        if !ctx.kernel.procs.has_child(ctx.process.identity.pid, which) {
            return Err(Errno::CHILD.into());
        }
        if options & WNOHANG == 0 {
            return Err(Stop::Block(Wait::Retry));
        }
        Found::Nothing
    } else {
        look(ctx, which, options)?
    };
    let mut info = [0u8; SIGINFO_SIZE];
    if let Found::Child(pid, status) = found {
        let (code, st) = status.code_and_status();
        info[0..4].copy_from_slice(&SIGCHLD.to_le_bytes());
        info[8..12].copy_from_slice(&code.to_le_bytes());
        info[16..20].copy_from_slice(&(pid as u32).to_le_bytes());
        info[20..24].copy_from_slice(&(ctx.process.identity.uid as u32).to_le_bytes());
        info[24..28].copy_from_slice(&st.to_le_bytes());
    }
    let mut t = ctx.tunnel();
    // With WNOHANG and nothing to report Linux zeroes the fields too.
    if infop != 0 && t.write(GuestPtr::new(infop), &info).is_err() {
        return Err(Errno::FAULT.into());
    }
    if rusage != 0 && t.write(GuestPtr::new(rusage), &[0u8; RUSAGE_SIZE]).is_err() {
        return Err(Errno::FAULT.into());
    }
    Ok(0)
}

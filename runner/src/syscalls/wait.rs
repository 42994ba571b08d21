//! wait4 and waitid: a parent reaps its ended children. Children end
//! (run/processes.rs, `tear_down`) as zombies in the process table
//! (kernel/process_table.rs) until reaped; a parent with live children
//! and nothing to reap waits for any thread's next syscall or a process's
//! end (`Wait::Retry`: both wake it), or returns at once with WNOHANG.
//! Children that stopped or continued (run/job_control.rs) are reported
//! once each to a wait that asks (WUNTRACED/WSTOPPED, WCONTINUED).

use super::{Args, Ctx, Stop, SyscallResult, Wait};
use crate::abi::constants::{
    __WALL, __WCLONE, __WNOTHREAD, P_ALL, P_PGID, P_PID, P_PIDFD, SIGCHLD, WCONTINUED, WEXITED,
    WNOHANG, WNOWAIT, WSTOPPED, WUNTRACED,
};
use crate::abi::Errno;
use crate::kernel::process_table::{ChildStatus, JobEvent, Which};
use crate::tunnel::GuestPtr;

/// Bytes of `struct rusage` (all zero: no accounting per child).
const RUSAGE_SIZE: usize = 144;
/// Bytes of `siginfo_t`.
const SIGINFO_SIZE: usize = 128;

/// What a child has to report.
#[derive(Debug, Clone, Copy)]
enum Report {
    /// It ended.
    Ended(ChildStatus),
    /// It stopped or continued.
    Job(JobEvent),
}

impl Report {
    fn wait_status(self) -> u32 {
        match self {
            Report::Ended(s) => s.wait_status(),
            Report::Job(e) => e.wait_status(),
        }
    }

    fn code_and_status(self) -> (i32, i32) {
        match self {
            Report::Ended(s) => s.code_and_status(),
            Report::Job(e) => e.code_and_status(),
        }
    }
}

/// What a wait found.
enum Found {
    /// A child to report: its pid and what it reports.
    Child(u64, Report),
    /// WNOHANG and nothing to report yet.
    Nothing,
}

/// What a wait asks to hear of.
#[derive(Debug, Clone, Copy)]
struct Asks {
    exited: bool,
    stopped: bool,
    continued: bool,
}

/// Looks for a child `which` names with something `asks` wants: reaps an
/// ended one and consumes a stop or continue (unless WNOWAIT), reports
/// nothing with WNOHANG, or waits. ECHILD when there is no such child.
fn look(ctx: &mut Ctx<'_>, which: Which, asks: Asks, options: u64) -> Result<Found, Stop> {
    let me = ctx.process.identity.pid;
    let keep = options & WNOWAIT != 0;
    if asks.exited {
        if let Some((pid, status)) = ctx.kernel.procs.zombie_child(me, which) {
            if !keep {
                ctx.kernel.procs.reap(pid);
            }
            return Ok(Found::Child(pid, Report::Ended(status)));
        }
    }
    let wanted = |e: JobEvent| match e {
        JobEvent::Stopped(_) => asks.stopped,
        JobEvent::Continued => asks.continued,
    };
    if let Some((pid, event)) = ctx.kernel.procs.job_event_child(me, which, wanted, keep) {
        return Ok(Found::Child(pid, Report::Job(event)));
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
    let asks = Asks {
        exited: true,
        stopped: options & WUNTRACED != 0,
        continued: options & WCONTINUED != 0,
    };
    let (child, status) = match look(ctx, which, asks, options)? {
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
    let mut options = options;
    let mut nonblocking_pidfd = false;
    let which = match idtype {
        P_ALL => Which::Any,
        P_PID if id > 0 => Which::Pid(id),
        P_PGID if id == 0 => Which::Group(own_group(ctx)),
        P_PGID => Which::Group(id),
        // The process a pidfd names; a nonblocking pidfd makes the wait
        // WNOHANG, with EAGAIN when nothing is there yet (Linux 5.10).
        P_PIDFD => {
            let p = super::pidfd::target(ctx, id)?;
            if p.nonblocking() && options & WNOHANG == 0 {
                options |= WNOHANG;
                nonblocking_pidfd = true;
            }
            Which::Pid(p.pid)
        }
        _ => return Err(Errno::INVAL.into()),
    };
    let asks = Asks {
        exited: options & WEXITED != 0,
        stopped: options & WSTOPPED != 0,
        continued: options & WCONTINUED != 0,
    };
    let found = look(ctx, which, asks, options)?;
    if nonblocking_pidfd && matches!(found, Found::Nothing) {
        return Err(Errno::AGAIN.into());
    }
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

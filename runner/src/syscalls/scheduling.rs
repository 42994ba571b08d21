//! Scheduling as a program sets and reads it, for the calling process:
//! its nice value (getpriority, setpriority), its policy and priority
//! (sched_getscheduler, sched_setscheduler, sched_getparam,
//! sched_setparam, sched_get_priority_min/max), and its CPU times
//! (times). The host schedules the vCPUs, so none of it changes how the
//! guest runs; what is kept (`Process::sched`) is what Linux lets an
//! unprivileged user set: a nice value only ever raised, SCHED_OTHER,
//! SCHED_BATCH or SCHED_IDLE at priority 0. The real-time policies need
//! CAP_SYS_NICE: EPERM. Another process of the sandbox as the target:
//! ESRCH (only the caller's own scheduling is kept).

use super::sched_attr::{change, Change};
use super::{Args, Ctx, SyscallResult};
use crate::abi::Errno;
use crate::tunnel::GuestPtr;
use rustix::time::ClockId;

const PRIO_PROCESS: u64 = 0;
const PRIO_PGRP: u64 = 1;
const PRIO_USER: u64 = 2;
pub(super) const SCHED_OTHER: u32 = 0;
pub(super) const SCHED_FIFO: u32 = 1;
pub(super) const SCHED_RR: u32 = 2;
pub(super) const SCHED_BATCH: u32 = 3;
pub(super) const SCHED_IDLE: u32 = 5;
pub(super) const SCHED_DEADLINE: u32 = 6;
pub(super) const SCHED_RESET_ON_FORK: u32 = 0x4000_0000;
/// sysconf(_SC_CLK_TCK) on x86-64 Linux.
const CLOCK_TICKS_PER_SEC: u64 = 100;

/// Whether `(which, who)` names the calling process (ESRCH for anything
/// else it could name, EINVAL for an unknown `which`).
pub(super) fn names_caller(ctx: &Ctx<'_>, which: u64, who: u64) -> Result<(), Errno> {
    let me = ctx.process.identity.pid;
    let mine = match which {
        PRIO_PROCESS => who == 0 || who == me || ctx.process.threads.is_alive(who),
        PRIO_PGRP => who == 0 || ctx.kernel.procs.get(me).is_some_and(|e| e.pgid == who),
        PRIO_USER => who == 0 || who == ctx.process.identity.uid,
        _ => return Err(Errno::INVAL),
    };
    if mine {
        Ok(())
    } else {
        Err(Errno::SRCH)
    }
}

/// getpriority(which, who): 20 - nice, as the raw syscall returns it (libc
/// turns it back into the nice value).
pub fn getpriority(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    names_caller(ctx, a[0], a[1] as u32 as u64)?;
    Ok((20 - ctx.process.sched.nice) as u64)
}

/// setpriority(which, who, prio): the nice value, clamped to -20..=19 as
/// Linux does; lowering it needs CAP_SYS_NICE (EACCES).
pub fn setpriority(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    names_caller(ctx, a[0], a[1] as u32 as u64)?;
    let nice = (a[2] as i32).clamp(-20, 19);
    if nice < ctx.process.sched.nice {
        return Err(Errno::ACCESS.into());
    }
    ctx.process.sched.nice = nice;
    Ok(0)
}

/// The calling process for a `pid` argument (0 or its own pid or one of
/// its threads): ESRCH for any other, EINVAL for a negative one.
pub(super) fn own(ctx: &Ctx<'_>, pid: u64) -> Result<(), Errno> {
    if (pid as i64) < 0 {
        return Err(Errno::INVAL);
    }
    names_caller(ctx, PRIO_PROCESS, pid)
}

/// A `struct sched_param`'s priority.
fn read_priority(ctx: &mut Ctx<'_>, ptr: u64) -> Result<i32, Errno> {
    if ptr == 0 {
        return Err(Errno::INVAL);
    }
    let mut b = [0u8; 4];
    ctx.tunnel()
        .read(GuestPtr::new(ptr), &mut b)
        .map_err(|_| Errno::FAULT)?;
    Ok(i32::from_le_bytes(b))
}

pub fn sched_getscheduler(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    own(ctx, a[0])?;
    let s = ctx.process.sched;
    Ok(u64::from(
        s.policy
            | if s.reset_on_fork {
                SCHED_RESET_ON_FORK
            } else {
                0
            },
    ))
}

/// sched_setscheduler(pid, policy, param): SCHED_OTHER, SCHED_BATCH or
/// SCHED_IDLE at priority 0, with or without SCHED_RESET_ON_FORK, checked
/// as `sched_attr::change` checks every change.
pub fn sched_setscheduler(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let policy = a[1] as u32;
    if (policy as i32) < 0 || (a[0] as i32) < 0 {
        return Err(Errno::INVAL.into());
    }
    let priority = read_priority(ctx, a[2])?;
    own(ctx, a[0])?;
    let now = ctx.process.sched;
    let c = Change::policy(
        &now,
        Some(policy & !SCHED_RESET_ON_FORK),
        priority as u32,
        policy & SCHED_RESET_ON_FORK != 0,
    );
    ctx.process.sched = change(now, &c)?;
    Ok(0)
}

pub fn sched_getparam(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    if a[1] == 0 {
        return Err(Errno::INVAL.into());
    }
    own(ctx, a[0])?;
    ctx.tunnel()
        .write(GuestPtr::new(a[1]), &0i32.to_le_bytes())
        .map_err(|_| Errno::FAULT)?;
    Ok(0)
}

/// sched_setparam: the priority of the policy the process has (0 for the
/// policies it can have).
pub fn sched_setparam(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    if (a[0] as i32) < 0 {
        return Err(Errno::INVAL.into());
    }
    let priority = read_priority(ctx, a[1])?;
    own(ctx, a[0])?;
    let now = ctx.process.sched;
    let c = Change::policy(&now, None, priority as u32, now.reset_on_fork);
    ctx.process.sched = change(now, &c)?;
    Ok(0)
}

fn priority_range(policy: u64) -> Result<(u64, u64), Errno> {
    match policy as u32 {
        SCHED_FIFO | SCHED_RR => Ok((1, 99)),
        SCHED_OTHER | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE => Ok((0, 0)),
        _ => Err(Errno::INVAL),
    }
}

pub fn sched_get_priority_max(_: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(priority_range(a[0])?.1)
}

pub fn sched_get_priority_min(_: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(priority_range(a[0])?.0)
}

/// times(buf): the process's CPU time (the runner's, as getrusage: nearly
/// all of it the guest's) as user time, in clock ticks of 1/100 s;
/// children's times 0 (as getrusage's RUSAGE_CHILDREN). Returns ticks of
/// the monotonic clock; `buf` may be NULL.
pub fn times(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let ticks = |(sec, nsec): (i64, i64)| {
        (sec.max(0) as u64) * CLOCK_TICKS_PER_SEC
            + (nsec.max(0) as u64) / (1_000_000_000 / CLOCK_TICKS_PER_SEC)
    };
    if a[0] != 0 {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&ticks(crate::host::clock(ClockId::ProcessCPUTime)).to_le_bytes());
        ctx.tunnel()
            .write(GuestPtr::new(a[0]), &b)
            .map_err(|_| Errno::FAULT)?;
    }
    Ok(ticks(crate::host::clock(ClockId::Monotonic)))
}

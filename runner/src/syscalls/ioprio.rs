//! ioprio_get and ioprio_set: a process's I/O scheduling class and level,
//! kept as the program set them (the host schedules the runner's I/O, so
//! they change nothing), within what Linux lets an unprivileged caller
//! set: the real-time class needs CAP_SYS_ADMIN or CAP_SYS_NICE (EPERM).
//! Kept per process, not per thread, and inherited at fork as Linux
//! inherits it. The target is the caller (IOPRIO_WHO_PROCESS of its pid
//! or 0, its process group, its user); another process: ESRCH.

use super::scheduling::names_caller;
use super::{Args, Ctx, SyscallResult};
use crate::abi::Errno;

const IOPRIO_CLASS_NONE: u16 = 0;
const IOPRIO_CLASS_RT: u16 = 1;
const IOPRIO_CLASS_BE: u16 = 2;
const IOPRIO_CLASS_IDLE: u16 = 3;
/// The levels of the real-time and best-effort classes (0..8).
const IOPRIO_NR_LEVELS: u16 = 8;
const CLASS_SHIFT: u32 = 13;
const IOPRIO_WHO_PROCESS: u32 = 1;

/// `which` as getpriority's (PRIO_PROCESS 0, PRIO_PGRP 1, PRIO_USER 2)
/// for ioprio's (1, 2, 3); EINVAL for anything else.
fn target(ctx: &Ctx<'_>, which: u64, who: u64) -> Result<(), Errno> {
    match which as u32 {
        w @ 1..=3 => names_caller(ctx, u64::from(w) - 1, who as u32 as u64),
        _ => Err(Errno::INVAL),
    }
}

/// IOPRIO_DEFAULT: best effort at the normal level, 4.
const IOPRIO_DEFAULT: u16 = (IOPRIO_CLASS_BE << CLASS_SHIFT) | 4;

/// ioprio_get: for a process (IOPRIO_WHO_PROCESS), the priority it set,
/// 0 (class none) until it sets one; for a group or a user, the best of
/// their processes' with an unset one counted as IOPRIO_DEFAULT, as Linux
/// 6.x answers (`ioprio_best`).
pub fn ioprio_get(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    target(ctx, a[0], a[1])?;
    let prio = ctx.process.sched.ioprio;
    Ok(u64::from(
        if a[0] as u32 != IOPRIO_WHO_PROCESS && prio >> CLASS_SHIFT == IOPRIO_CLASS_NONE {
            IOPRIO_DEFAULT
        } else {
            prio
        },
    ))
}

pub fn ioprio_set(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let prio = a[2] as u32;
    // Linux reads the class from three bits and the data from thirteen.
    let (class, data) = (
        (prio >> CLASS_SHIFT) as u16 & 7,
        prio & ((1 << CLASS_SHIFT) - 1),
    );
    match class {
        IOPRIO_CLASS_RT => return Err(Errno::PERM.into()),
        IOPRIO_CLASS_BE if data < u32::from(IOPRIO_NR_LEVELS) => {}
        IOPRIO_CLASS_IDLE => {}
        IOPRIO_CLASS_NONE if data == 0 => {}
        _ => return Err(Errno::INVAL.into()),
    }
    target(ctx, a[0], a[1])?;
    ctx.process.sched.ioprio = prio as u16;
    Ok(0)
}

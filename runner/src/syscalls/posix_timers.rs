//! POSIX timers: timer_create, timer_settime, timer_gettime,
//! timer_getoverrun, timer_delete. Each timer notifies by a signal to the
//! process (SIGEV_SIGNAL), to one of its threads (SIGEV_THREAD_ID, which
//! glibc's SIGEV_THREAD uses underneath), or not at all (SIGEV_NONE); the
//! run loop fires them (run/timer_firing.rs), with si_code SI_TIMER,
//! si_timerid, si_overrun and si_value in the siginfo.

use super::timer_spec::{read_schedule, timer_clock, write_schedule};
use super::{Args, Ctx, SyscallResult};
use crate::abi::constants::{
    NSIG, SIGALRM, SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD, SIGEV_THREAD_ID, TIMER_ABSTIME,
};
use crate::abi::Errno;
use crate::kernel::timers::{Notify, Schedule};
use crate::tunnel::GuestPtr;

/// Bytes of `struct sigevent` read (value, signo, notify, thread id).
const SIGEVENT_READ: usize = 20;

/// The notification a `struct sigevent` asks for, and its value.
fn notification(ctx: &mut Ctx<'_>, ptr: GuestPtr) -> Result<(Notify, u64), Errno> {
    let mut b = [0u8; SIGEVENT_READ];
    ctx.tunnel().read(ptr, &mut b).map_err(|_| Errno::FAULT)?;
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[0..8]);
    let value = u64::from_le_bytes(w);
    let int = |at: usize| i32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let (signo, how, tid) = (int(8), int(12), int(16));
    let sig = || -> Result<u64, Errno> {
        if (1..=i64::from(NSIG)).contains(&i64::from(signo)) {
            Ok(signo as u64)
        } else {
            Err(Errno::INVAL)
        }
    };
    let notify = match how {
        SIGEV_NONE => Notify::Nothing,
        SIGEV_SIGNAL => Notify::Process { sig: sig()? },
        SIGEV_THREAD_ID => {
            if tid <= 0 || !ctx.process.threads.is_alive(tid as u64) {
                return Err(Errno::INVAL);
            }
            Notify::Thread {
                tid: tid as u64,
                sig: sig()?,
            }
        }
        // SIGEV_THREAD is the C library's (it starts the thread); the
        // kernel refuses it, as here.
        SIGEV_THREAD => return Err(Errno::INVAL),
        _ => return Err(Errno::INVAL),
    };
    Ok((notify, value))
}

pub fn timer_create(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (clock, sevp, out) = (a[0], GuestPtr::new(a[1]), GuestPtr::new(a[2]));
    timer_clock(clock)?;
    let (notify, value) = if sevp.addr() == 0 {
        // No sigevent: SIGALRM to the process, with the timer id as value.
        let sig = SIGALRM as u64;
        (Notify::Process { sig }, None)
    } else {
        let (notify, value) = notification(ctx, sevp)?;
        (notify, Some(value))
    };
    let Some(id) = ctx.process.timers.create(clock, notify, value.unwrap_or(0)) else {
        return Err(Errno::AGAIN.into());
    };
    if value.is_none() {
        if let Some(t) = ctx.process.timers.get_mut(id) {
            t.value = id;
        }
    }
    if ctx.tunnel().write(out, &(id as i32).to_le_bytes()).is_err() {
        ctx.process.timers.delete(id);
        return Err(Errno::FAULT.into());
    }
    Ok(0)
}

/// The timer `id` names (a `timer_t`, an int); EINVAL when there is none.
fn timer_id(ctx: &Ctx<'_>, id: u64) -> Result<u64, Errno> {
    let id = u64::from(id as u32);
    if id > i32::MAX as u64 || ctx.process.timers.get(id).is_none() {
        return Err(Errno::INVAL);
    }
    Ok(id)
}

pub fn timer_settime(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (id, flags, new, old) = (a[0], a[1], GuestPtr::new(a[2]), GuestPtr::new(a[3]));
    let id = timer_id(ctx, id)?;
    let clock = ctx.process.timers.get(id).map_or(0, |t| t.clock);
    let schedule = read_schedule(ctx, new, timer_clock(clock)?, flags & TIMER_ABSTIME != 0)?;
    let before = ctx
        .process
        .timers
        .get(id)
        .map_or(Schedule::default(), |t| t.schedule);
    if old.addr() != 0 {
        write_schedule(ctx, old, &before)?;
    }
    if let Some(t) = ctx.process.timers.get_mut(id) {
        t.schedule = schedule;
        t.overrun = 0;
    }
    ctx.process.timers_changed += 1;
    Ok(0)
}

pub fn timer_gettime(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let id = timer_id(ctx, a[0])?;
    let schedule = ctx
        .process
        .timers
        .get(id)
        .map_or(Schedule::default(), |t| t.schedule);
    write_schedule(ctx, GuestPtr::new(a[1]), &schedule)?;
    Ok(0)
}

pub fn timer_getoverrun(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let id = timer_id(ctx, a[0])?;
    Ok(ctx
        .process
        .timers
        .get(id)
        .map_or(0, |t| u64::from(t.overrun)))
}

pub fn timer_delete(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let id = timer_id(ctx, a[0])?;
    ctx.process.timers.delete(id);
    ctx.process.timers_changed += 1;
    Ok(0)
}

//! `struct itimerspec` in and out, and the clocks timers may run on: what
//! timer_settime, timer_gettime, timerfd_settime and timerfd_gettime
//! share.

use super::Ctx;
use crate::abi::constants::{
    CLOCK_BOOTTIME, CLOCK_BOOTTIME_ALARM, CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_REALTIME_ALARM,
};
use crate::abi::Errno;
use crate::kernel::timers::Schedule;
use crate::tunnel::GuestPtr;
use rustix::time::ClockId;
use std::time::{Duration, Instant};

const NSEC_PER_SEC: i64 = 1_000_000_000;

/// The clock a timer may be created on: REALTIME, MONOTONIC, BOOTTIME.
/// The _ALARM clocks need CAP_WAKE_ALARM (EPERM, as for an unprivileged
/// user); CPU-time clocks are not kept by the runner (EINVAL).
pub fn timer_clock(id: u64) -> Result<ClockId, Errno> {
    match id {
        CLOCK_REALTIME => Ok(ClockId::Realtime),
        CLOCK_MONOTONIC => Ok(ClockId::Monotonic),
        CLOCK_BOOTTIME => Ok(ClockId::Boottime),
        CLOCK_REALTIME_ALARM | CLOCK_BOOTTIME_ALARM => Err(Errno::PERM),
        _ => Err(Errno::INVAL),
    }
}

/// A timespec from 16 bytes; EINVAL when negative or unnormalised.
fn timespec(b: &[u8]) -> Result<(i64, i64), Errno> {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    let sec = i64::from_le_bytes(w);
    w.copy_from_slice(&b[8..16]);
    let nsec = i64::from_le_bytes(w);
    if sec < 0 || !(0..NSEC_PER_SEC).contains(&nsec) {
        return Err(Errno::INVAL);
    }
    Ok((sec, nsec))
}

/// Reads an itimerspec and turns it into a schedule on `clock`
/// (`absolute`: it_value is a time of that clock, else a delay from now).
/// A zero it_value disarms.
pub fn read_schedule(
    ctx: &mut Ctx<'_>,
    ptr: GuestPtr,
    clock: ClockId,
    absolute: bool,
) -> Result<Schedule, Errno> {
    let mut b = [0u8; 32];
    ctx.tunnel().read(ptr, &mut b).map_err(|_| Errno::FAULT)?;
    let (isec, insec) = timespec(&b[0..16])?;
    let (vsec, vnsec) = timespec(&b[16..32])?;
    if vsec == 0 && vnsec == 0 {
        return Ok(Schedule::default());
    }
    let now = Instant::now();
    let value = Duration::new(vsec as u64, vnsec as u32);
    let delay = if absolute {
        let (s, ns) = crate::host::clock(clock);
        let at = i128::from(vsec) * i128::from(NSEC_PER_SEC) + i128::from(vnsec);
        let cur = i128::from(s) * i128::from(NSEC_PER_SEC) + i128::from(ns);
        Duration::from_nanos(u64::try_from((at - cur).max(0)).unwrap_or(u64::MAX))
    } else {
        value
    };
    let every = Duration::new(isec as u64, insec as u32);
    Ok(Schedule {
        next: Some(
            now.checked_add(delay)
                .unwrap_or_else(super::poll::far_future),
        ),
        every: (!every.is_zero()).then_some(every),
    })
}

/// Writes `schedule` as an itimerspec (interval, time left).
pub fn write_schedule(ctx: &mut Ctx<'_>, ptr: GuestPtr, schedule: &Schedule) -> Result<(), Errno> {
    let (left, every) = schedule.remaining(Instant::now());
    let mut b = [0u8; 32];
    for (at, d) in [(0usize, every), (16, left)] {
        b[at..at + 8].copy_from_slice(&(d.as_secs() as i64).to_le_bytes());
        b[at + 8..at + 16].copy_from_slice(&i64::from(d.subsec_nanos()).to_le_bytes());
    }
    ctx.tunnel().write(ptr, &b).map_err(|_| Errno::FAULT)
}

//! Sleeping: nanosleep, clock_nanosleep, pause, and the process hanging on
//! itself (a pipe it alone reads and writes). Every sleep honours the
//! wall-clock limit: one that would last past it ends at the limit, and the
//! run ends as the time limit ends it (SIGKILL, status 137).

use super::{Args, Ctx, Stop, SyscallResult};
use crate::abi::constants::TIMER_ABSTIME;
use crate::abi::Errno;
use crate::kernel::death::Death;
use crate::tunnel::GuestPtr;
use rustix::time::ClockId;
use std::time::{Duration, Instant};

const NSEC_PER_SEC: i64 = 1_000_000_000;

/// Reads a `struct timespec`; EINVAL for a negative or unnormalised one.
pub fn read_timespec(ctx: &mut Ctx<'_>, ptr: GuestPtr) -> Result<(i64, i64), Errno> {
    let mut b = [0u8; 16];
    ctx.tunnel().read(ptr, &mut b).map_err(|_| Errno::FAULT)?;
    let mut s = [0u8; 8];
    s.copy_from_slice(&b[..8]);
    let sec = i64::from_le_bytes(s);
    s.copy_from_slice(&b[8..]);
    let nsec = i64::from_le_bytes(s);
    if sec < 0 || !(0..NSEC_PER_SEC).contains(&nsec) {
        return Err(Errno::INVAL);
    }
    Ok((sec, nsec))
}

fn duration(sec: i64, nsec: i64) -> Duration {
    Duration::new(sec.max(0) as u64, nsec.clamp(0, NSEC_PER_SEC - 1) as u32)
}

/// The run ends at the wall-clock limit.
fn time_limit(ctx: &mut Ctx<'_>) -> SyscallResult {
    let rip = ctx.user_rip();
    Err(Stop::Kill(Death::TimeLimit {
        rip,
        limit_secs: ctx.kernel.clock.wall_limit.as_secs_f64(),
    }))
}

/// Sleeps for `d`, or until the deadline when that comes first (then the
/// run ends: `Err`). `Ok` when the sleep completed.
pub fn sleep_for(ctx: &mut Ctx<'_>, d: Duration) -> Result<(), Stop> {
    let now = Instant::now();
    let deadline = ctx.kernel.clock.deadline;
    match now.checked_add(d) {
        Some(end) if end < deadline => {
            std::thread::sleep(d);
            Ok(())
        }
        _ => {
            std::thread::sleep(deadline.saturating_duration_since(now));
            time_limit(ctx).map(|_| ())
        }
    }
}

/// The process waits for something only it could do: it hangs until the
/// wall-clock limit ends the run.
pub fn hang(ctx: &mut Ctx<'_>) -> SyscallResult {
    let left = ctx
        .kernel
        .clock
        .deadline
        .saturating_duration_since(Instant::now());
    std::thread::sleep(left);
    time_limit(ctx)
}

pub fn nanosleep(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (sec, nsec) = read_timespec(ctx, GuestPtr::new(a[0]))?;
    sleep_for(ctx, duration(sec, nsec))?;
    Ok(0)
}

fn clock(id: u64) -> Option<ClockId> {
    Some(match id {
        0 => ClockId::Realtime,
        1 => ClockId::Monotonic,
        2 => ClockId::ProcessCPUTime,
        7 => ClockId::Boottime,
        _ => return None,
    })
}

pub fn clock_nanosleep(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (id, flags, req) = (a[0], a[1], GuestPtr::new(a[2]));
    let Some(clk) = clock(id) else {
        return Err(Errno::INVAL.into());
    };
    let (sec, nsec) = read_timespec(ctx, req)?;
    let d = if flags & TIMER_ABSTIME != 0 {
        let (now_s, now_ns) = crate::host::clock(clk);
        let now = i128::from(now_s) * 1_000_000_000 + i128::from(now_ns);
        let target = i128::from(sec) * 1_000_000_000 + i128::from(nsec);
        let left = (target - now).max(0);
        Duration::from_nanos(u64::try_from(left).unwrap_or(u64::MAX))
    } else {
        duration(sec, nsec)
    };
    sleep_for(ctx, d)?;
    Ok(0)
}

/// pause(): no signal can ever arrive from outside; it hangs.
pub fn pause(ctx: &mut Ctx<'_>, _: &Args) -> SyscallResult {
    hang(ctx)
}

//! Sleeping: nanosleep, clock_nanosleep, pause, and a thread waiting for
//! another (a pipe only another thread can fill). Each is a `Wait` the run
//! loop carries out with no kernel lock held (run/wait.rs). Every wait
//! honours the wall-clock limit: one that would last past it ends at the
//! limit, and the run ends as the time limit ends it (SIGKILL, status 137).

use super::{Args, Ctx, Stop, SyscallResult, Wait};
use crate::abi::constants::TIMER_ABSTIME;
use crate::abi::Errno;
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

/// Sleeps for `d`: the thread waits with no kernel lock held
/// (`Wait::Sleep`), and the run loop ends the run at the wall-clock limit
/// if that comes first.
pub fn sleep_for(d: Duration) -> SyscallResult {
    let until = Instant::now()
        .checked_add(d)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365));
    Err(Stop::Block(Wait::Sleep { until }))
}

/// The thread waits for something only another thread of the sandbox
/// could do (fill an empty pipe, drain a full one): it waits until some
/// thread makes a syscall, then runs the call again. Alone, it waits until
/// the wall-clock limit ends the run.
pub fn hang() -> SyscallResult {
    Err(Stop::Block(Wait::Retry))
}

pub fn nanosleep(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (sec, nsec) = read_timespec(ctx, GuestPtr::new(a[0]))?;
    sleep_for(duration(sec, nsec))
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
    sleep_for(d)
}

/// pause(): waits until a signal is delivered (then EINTR), or until the
/// wall-clock limit ends the run.
pub fn pause(_: &mut Ctx<'_>, _: &Args) -> SyscallResult {
    Err(Stop::Block(Wait::Signal))
}

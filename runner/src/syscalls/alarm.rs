//! alarm, setitimer and getitimer (ITIMER_REAL): the process's one real
//! timer, which raises SIGALRM when it expires (status 142 by default, the
//! handler otherwise). The timer lives in the process (`Process::alarm`);
//! the run loop fires it (run/run_loop.rs: before a thread runs user code,
//! and at the end of a wait, which never outlasts it), and every thread
//! has its vCPU kicked then, so a thread that only computes sees it too. ITIMER_VIRTUAL and ITIMER_PROF (CPU-time timers) are refused.

use super::{Args, Ctx, SyscallResult};
use crate::abi::constants::{ITIMER_PROF, ITIMER_REAL, ITIMER_VIRTUAL};
use crate::abi::Errno;
use crate::kernel::process::Alarm;
use crate::tunnel::GuestPtr;
use std::time::{Duration, Instant};

/// alarm(seconds): sets (0: cancels) the timer; returns the seconds left
/// of the previous one, rounded as Linux does.
pub fn alarm(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let secs = a[0] & 0xffff_ffff;
    let old = left(ctx.process.alarm);
    set(
        ctx,
        (secs > 0).then(|| Alarm {
            at: after(Duration::from_secs(secs)),
            every: None,
        }),
    );
    let mut s = old.as_secs();
    if old.subsec_micros() >= 500_000 || (s == 0 && !old.is_zero()) {
        s += 1;
    }
    Ok(s)
}

pub fn setitimer(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (which, new, old) = (a[0], GuestPtr::new(a[1]), GuestPtr::new(a[2]));
    check_which(which)?;
    let value = if new.addr() != 0 {
        let mut b = [0u8; 32];
        ctx.tunnel().read(new, &mut b).map_err(|_| Errno::FAULT)?;
        Some((timeval(&b[0..16])?, timeval(&b[16..32])?))
    } else {
        None
    };
    if old.addr() != 0 {
        let current = itimerval(ctx.process.alarm);
        ctx.tunnel()
            .write(old, &current)
            .map_err(|_| Errno::FAULT)?;
    }
    if let Some((interval, first)) = value {
        set(
            ctx,
            (!first.is_zero()).then(|| Alarm {
                at: after(first),
                every: (!interval.is_zero()).then_some(interval),
            }),
        );
    }
    Ok(0)
}

pub fn getitimer(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    check_which(a[0])?;
    let current = itimerval(ctx.process.alarm);
    ctx.tunnel()
        .write(GuestPtr::new(a[1]), &current)
        .map_err(|_| Errno::FAULT)?;
    Ok(0)
}

fn check_which(which: u64) -> Result<(), Errno> {
    match which {
        ITIMER_REAL => Ok(()),
        // CPU-time timers would need the guest's CPU time per thread.
        ITIMER_VIRTUAL | ITIMER_PROF => Err(Errno::INVAL),
        _ => Err(Errno::INVAL),
    }
}

/// Sets the process's timer; every thread's vCPU is kicked when it
/// expires (`Thread::timer_kick`, armed by the run loop).
fn set(ctx: &mut Ctx<'_>, alarm: Option<Alarm>) {
    ctx.process.alarm = alarm;
    ctx.process.timers_changed += 1;
}

pub fn after(d: Duration) -> Instant {
    Instant::now()
        .checked_add(d)
        .unwrap_or_else(super::poll::far_future)
}

fn left(alarm: Option<Alarm>) -> Duration {
    alarm.map_or(Duration::ZERO, |a| {
        a.at.saturating_duration_since(Instant::now())
    })
}

/// A struct timeval; EINVAL when out of range.
fn timeval(b: &[u8]) -> Result<Duration, Errno> {
    let mut s = [0u8; 8];
    s.copy_from_slice(&b[..8]);
    let sec = i64::from_le_bytes(s);
    s.copy_from_slice(&b[8..16]);
    let usec = i64::from_le_bytes(s);
    if sec < 0 || !(0..1_000_000).contains(&usec) {
        return Err(Errno::INVAL);
    }
    Ok(Duration::new(sec as u64, (usec * 1000) as u32))
}

/// The timer as a struct itimerval (interval, then value).
fn itimerval(alarm: Option<Alarm>) -> [u8; 32] {
    let mut b = [0u8; 32];
    let (interval, value) = match alarm {
        Some(a) => (
            a.every.unwrap_or_default(),
            left(Some(a)).max(Duration::from_micros(1)),
        ),
        None => (Duration::ZERO, Duration::ZERO),
    };
    for (at, d) in [(0usize, interval), (16, value)] {
        b[at..at + 8].copy_from_slice(&(d.as_secs() as i64).to_le_bytes());
        b[at + 8..at + 16].copy_from_slice(&i64::from(d.subsec_micros()).to_le_bytes());
    }
    b
}

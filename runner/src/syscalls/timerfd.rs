//! timerfd_create, timerfd_settime, timerfd_gettime, and reads of a
//! timerfd: a descriptor whose read returns how many times its timer
//! expired (kernel/timers.rs). A blocking read and a poll or epoll_wait
//! that watches one wait with no kernel lock held until its next expiry.

use super::common::{scatter, total};
use super::timer_spec::{read_schedule, timer_clock, write_schedule};
use super::{Args, Ctx, Stop, SyscallResult, Wait};
use crate::abi::constants::{
    TFD_CLOEXEC, TFD_NONBLOCK, TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET,
};
use crate::abi::Errno;
use crate::kernel::fds::Object;
use crate::kernel::pipe_buffer::next_id;
use crate::kernel::timers::TimerFd;
use crate::tunnel::GuestPtr;
use std::sync::Arc;
use std::time::Instant;

pub fn timerfd_create(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (clock, flags) = (a[0], a[1]);
    timer_clock(clock)?;
    if flags & !(TFD_CLOEXEC | TFD_NONBLOCK) != 0 {
        return Err(Errno::INVAL.into());
    }
    let t = TimerFd::new(clock, flags & TFD_NONBLOCK != 0, next_id());
    let obj = Arc::new(Object::TimerFd(Arc::new(t)));
    Ok(ctx.process.fds.insert(obj, flags & TFD_CLOEXEC != 0, 0)?)
}

fn timerfd(ctx: &Ctx<'_>, fd: u64) -> Result<Arc<TimerFd>, Errno> {
    match &*ctx.process.fds.get(fd)? {
        Object::TimerFd(t) => Ok(t.clone()),
        _ => Err(Errno::INVAL),
    }
}

pub fn timerfd_settime(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (fd, flags, new, old) = (a[0], a[1], GuestPtr::new(a[2]), GuestPtr::new(a[3]));
    let t = timerfd(ctx, fd)?;
    if flags & !(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET) != 0 {
        return Err(Errno::INVAL.into());
    }
    let clock = timer_clock(t.clock)?;
    let schedule = read_schedule(ctx, new, clock, flags & TFD_TIMER_ABSTIME != 0)?;
    let before = t.set(schedule, Instant::now());
    if old.addr() != 0 {
        write_schedule(ctx, old, &before)?;
    }
    Ok(0)
}

pub fn timerfd_gettime(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let t = timerfd(ctx, a[0])?;
    let schedule = t.schedule(Instant::now());
    write_schedule(ctx, GuestPtr::new(a[1]), &schedule)?;
    Ok(0)
}

/// read(2) of a timerfd into `parts` (already checked writable): the
/// expirations since the last read, as a u64; waits for the next one.
pub fn read(ctx: &mut Ctx<'_>, t: &TimerFd, parts: &[(GuestPtr, u64)]) -> SyscallResult {
    if total(parts) < 8 {
        return Err(Errno::INVAL.into());
    }
    let Some(n) = t.take(Instant::now()) else {
        if t.nonblocking() {
            return Err(Errno::AGAIN.into());
        }
        return Err(Stop::Block(Wait::Poll {
            until: None,
            host: false,
            timer: t.next_expiry(),
            signals: 0,
            restart: true,
        }));
    };
    scatter(ctx, parts, &n.to_le_bytes())?;
    Ok(8)
}

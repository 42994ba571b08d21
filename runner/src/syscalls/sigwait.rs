//! Taking signals synchronously: rt_sigtimedwait, and the dequeue that it
//! and signalfd reads share; and the masks ppoll, pselect6 and epoll_pwait
//! set for the length of their wait.

use super::signals::take_posted;
use super::{sleep, Args, Ctx, Stop, SyscallResult, Wait};
use crate::abi::constants::{SIGKILL, SIGSTOP, SI_TKILL};
use crate::abi::sigframe::SigInfo;
use crate::abi::Errno;
use crate::tunnel::GuestPtr;
use std::time::{Duration, Instant};

/// Signals that cannot be blocked, caught or waited for.
const UNBLOCKABLE: u64 = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1));

/// Takes the lowest pending signal of `set` (the thread's own, or one sent
/// to the process), with its siginfo.
pub fn dequeue(ctx: &mut Ctx<'_>, set: u64) -> Option<SigInfo> {
    take_posted(ctx, set);
    let ready = ctx.thread.signals.pending & set;
    if ready == 0 {
        return None;
    }
    let sig = u64::from(ready.trailing_zeros()) + 1;
    ctx.thread.signals.pending &= !(1 << (sig - 1));
    let tid = ctx.thread.tid;
    let info = ctx.process.signal_info.take(tid, sig);
    if ctx.process.signal_info.more(tid, sig) {
        // Another real-time signal of the number is queued.
        ctx.thread.signals.pending |= 1 << (sig - 1);
    }
    Some(info.unwrap_or_else(|| super::signals::user_info(sig, SI_TKILL, ctx)))
}

/// Sets `mask` for the length of a wait (ppoll, pselect6, epoll_pwait).
/// The mask of before comes back when the call returns (run/run_loop.rs,
/// before the thread runs user code), or through the frame of the handler
/// a signal that interrupted the call runs. A call run again after its
/// wait keeps the mask of before the first run.
pub fn set_wait_mask(ctx: &mut Ctx<'_>, mask: u64) {
    let s = &mut ctx.thread.signals;
    if s.saved_mask.is_none() {
        s.saved_mask = Some(s.mask);
    }
    s.mask = mask & !UNBLOCKABLE;
}

/// Reads a `sigset_t` of `size` bytes (8, as the kernel's) at `ptr`.
pub fn read_sigset(ctx: &mut Ctx<'_>, ptr: GuestPtr, size: u64) -> Result<u64, Errno> {
    if size != 8 {
        return Err(Errno::INVAL);
    }
    ctx.tunnel().read_u64(ptr).map_err(|_| Errno::FAULT)
}

/// rt_sigtimedwait (sigwait, sigwaitinfo, sigtimedwait): takes a pending
/// signal of the set, or waits for one (the set's signals end the wait
/// even while blocked), at most `timeout` (EAGAIN); a signal outside the
/// set that the thread does not block interrupts it (EINTR).
pub fn rt_sigtimedwait(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (set, info, timeout) = (
        GuestPtr::new(a[0]),
        GuestPtr::new(a[1]),
        GuestPtr::new(a[2]),
    );
    let set = read_sigset(ctx, set, a[3])? & !UNBLOCKABLE;
    let resumed = ctx.thread.resume.take();
    let until = match resumed {
        Some(until) => until,
        None if timeout.addr() != 0 => {
            let (s, ns) = sleep::read_timespec(ctx, timeout)?;
            let d = Duration::new(s as u64, ns as u32);
            Some(
                Instant::now()
                    .checked_add(d)
                    .unwrap_or_else(super::poll::far_future),
            )
        }
        None => None,
    };
    if let Some(got) = dequeue(ctx, set) {
        if info.addr() != 0 {
            ctx.tunnel()
                .write(info, &got.to_bytes())
                .map_err(|_| Errno::FAULT)?;
        }
        return Ok(got.signo as u64);
    }
    if ctx.thread.signals.next_deliverable().is_some() {
        return Err(Errno::INTR.into());
    }
    if until.is_some_and(|u| u <= Instant::now()) {
        return Err(Errno::AGAIN.into());
    }
    Err(Stop::Block(Wait::Poll {
        until,
        host: false,
        timer: None,
        signals: set,
        restart: false,
    }))
}

//! signalfd and signalfd4, and reads of a signalfd: each read takes
//! pending signals of its mask (the calling thread's, or the process's)
//! as `struct signalfd_siginfo` records; poll and epoll see it readable
//! while one is pending. The signals should be blocked, as on Linux, or a
//! handler takes them first.

use super::common::{scatter, total};
use super::sigwait::{dequeue, read_sigset};
use super::{Args, Ctx, Stop, SyscallResult, Wait};
use crate::abi::constants::{SFD_CLOEXEC, SFD_NONBLOCK, SIGKILL, SIGSTOP};
use crate::abi::sigframe::SIGNALFD_SIGINFO_SIZE;
use crate::abi::Errno;
use crate::kernel::events::SignalFd;
use crate::kernel::fds::Object;
use crate::kernel::pipe_buffer::next_id;
use crate::tunnel::GuestPtr;
use std::sync::Arc;

pub fn signalfd(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    create(ctx, a[0], GuestPtr::new(a[1]), a[2], 0)
}

pub fn signalfd4(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    create(ctx, a[0], GuestPtr::new(a[1]), a[2], a[3])
}

fn create(ctx: &mut Ctx<'_>, fd: u64, mask: GuestPtr, size: u64, flags: u64) -> SyscallResult {
    if flags & !(SFD_CLOEXEC | SFD_NONBLOCK) != 0 {
        return Err(Errno::INVAL.into());
    }
    let mask = read_sigset(ctx, mask, size)? & !((1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1)));
    if fd as i32 == -1 {
        let s = SignalFd::new(mask, flags & SFD_NONBLOCK != 0, next_id());
        let obj = Arc::new(Object::SignalFd(Arc::new(s)));
        return Ok(ctx.process.fds.insert(obj, flags & SFD_CLOEXEC != 0, 0)?);
    }
    // An existing signalfd gets the new mask.
    match &*ctx.process.fds.get(fd)? {
        Object::SignalFd(s) => {
            s.set_mask(mask);
            Ok(fd & 0xffff_ffff)
        }
        _ => Err(Errno::INVAL.into()),
    }
}

/// read(2) of a signalfd into `parts` (already checked writable): as many
/// records as fit; waits while none of its signals is pending.
pub fn read(ctx: &mut Ctx<'_>, s: &SignalFd, parts: &[(GuestPtr, u64)]) -> SyscallResult {
    let room = total(parts) / SIGNALFD_SIGINFO_SIZE as u64;
    if room == 0 {
        return Err(Errno::INVAL.into());
    }
    let mut out = Vec::new();
    while (out.len() as u64) < room * SIGNALFD_SIGINFO_SIZE as u64 {
        match dequeue(ctx, s.mask()) {
            Some(info) => out.extend_from_slice(&info.to_signalfd_bytes()),
            None => break,
        }
    }
    if out.is_empty() {
        if s.nonblocking() {
            return Err(Errno::AGAIN.into());
        }
        return Err(Stop::Block(Wait::Poll {
            until: None,
            host: false,
            timer: None,
            signals: s.mask(),
            restart: true,
        }));
    }
    scatter(ctx, parts, &out)?;
    Ok(out.len() as u64)
}

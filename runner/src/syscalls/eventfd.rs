//! eventfd and eventfd2: a counter in the runner that threads signal each
//! other through (Go's and libuv's wake-ups). Reads take the count (or 1,
//! EFD_SEMAPHORE) and wait while it is 0; writes add and wait while the
//! count would pass its maximum; both wait with no kernel lock held.

use super::common::{gather, scatter, total};
use super::{sleep, Args, Ctx, SyscallResult};
use crate::abi::constants::{EFD_CLOEXEC, EFD_NONBLOCK, EFD_SEMAPHORE};
use crate::abi::Errno;
use crate::kernel::events::EventFd;
use crate::kernel::fds::Object;
use crate::kernel::pipe_buffer::next_id;
use crate::tunnel::GuestPtr;
use std::sync::Arc;

pub fn eventfd(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    create(ctx, a[0], 0)
}

pub fn eventfd2(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    create(ctx, a[0], a[1])
}

fn create(ctx: &mut Ctx<'_>, initial: u64, flags: u64) -> SyscallResult {
    if flags & !(EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC) != 0 {
        return Err(Errno::INVAL.into());
    }
    let e = EventFd::new(
        initial & 0xffff_ffff,
        flags & EFD_SEMAPHORE != 0,
        flags & EFD_NONBLOCK != 0,
        next_id(),
    );
    let obj = Arc::new(Object::EventFd(Arc::new(e)));
    Ok(ctx.process.fds.insert(obj, flags & EFD_CLOEXEC != 0, 0)?)
}

/// read(2) of an eventfd into `parts` (already checked writable).
pub fn read(ctx: &mut Ctx<'_>, e: &EventFd, parts: &[(GuestPtr, u64)]) -> SyscallResult {
    if total(parts) < 8 {
        return Err(Errno::INVAL.into());
    }
    let Some(v) = e.take() else {
        if e.nonblocking() {
            return Err(Errno::AGAIN.into());
        }
        return sleep::hang();
    };
    scatter(ctx, parts, &v.to_le_bytes())?;
    Ok(8)
}

/// write(2) to an eventfd from `parts` (already checked readable).
pub fn write(ctx: &mut Ctx<'_>, e: &EventFd, parts: &[(GuestPtr, u64)]) -> SyscallResult {
    if total(parts) < 8 {
        return Err(Errno::INVAL.into());
    }
    let mut b = [0u8; 8];
    gather(ctx, parts, &mut b)?;
    let v = u64::from_le_bytes(b);
    if v == u64::MAX {
        return Err(Errno::INVAL.into());
    }
    if !e.add(v) {
        if e.nonblocking() {
            return Err(Errno::AGAIN.into());
        }
        return sleep::hang();
    }
    Ok(8)
}

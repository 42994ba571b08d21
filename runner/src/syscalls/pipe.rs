//! Pipes inside one process (pipe, pipe2): a bounded buffer in the runner,
//! never a host pipe. Both ends are `Object::Pipe`s in the guest's
//! descriptor table (dup shares an end's open file description, as for any
//! other object); the counts of open read and write ends decide EOF and
//! EPIPE.
//!
//! A blocking read of an empty pipe whose write end is still open, or a
//! blocking write to a full pipe, waits with no kernel lock held until
//! another thread makes a syscall, then tries again (`sleep::hang`). A
//! thread alone with its pipe hangs, as on Linux, until the wall-clock
//! limit ends the run (status 137).

use super::common::*;
use super::{signals, sleep, Args, Ctx, SyscallResult};
use crate::abi::constants::{O_CLOEXEC, O_DIRECT, O_NONBLOCK};
use crate::abi::Errno;
use crate::kernel::fds::Object;
pub use crate::kernel::pipe_buffer::{new_pipe, PipeEnd, PIPE_CAPACITY};
use crate::tunnel::{Access, GuestPtr};
use std::sync::Arc;

pub fn pipe(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    pipe2(ctx, &[a[0], 0, 0, 0, 0, 0])
}

pub fn pipe2(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (fds, flags) = (GuestPtr::new(a[0]), a[1] as u32);
    if flags & !(O_NONBLOCK | O_CLOEXEC | O_DIRECT) != 0 {
        return Err(Errno::INVAL.into());
    }
    ctx.tunnel()
        .check(fds, 8, Access::Write)
        .map_err(|_| Errno::FAULT)?;
    let cloexec = flags & O_CLOEXEC != 0;
    let (r, w) = new_pipe(flags, &ctx.kernel.pipes);
    let rfd = ctx
        .process
        .fds
        .insert(Arc::new(Object::Pipe(r)), cloexec, 0)?;
    let wfd = match ctx
        .process
        .fds
        .insert(Arc::new(Object::Pipe(w)), cloexec, 0)
    {
        Ok(fd) => fd,
        Err(e) => {
            ctx.process.fds.close(rfd)?;
            return Err(e.into());
        }
    };
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&(rfd as u32).to_le_bytes());
    out[4..].copy_from_slice(&(wfd as u32).to_le_bytes());
    if ctx.tunnel().write(fds, &out).is_err() {
        ctx.process.fds.close(rfd)?;
        ctx.process.fds.close(wfd)?;
        return Err(Errno::FAULT.into());
    }
    Ok(0)
}

/// Reads from pipe end `end` into `parts` (already checked writable).
pub fn read_parts(ctx: &mut Ctx<'_>, end: &PipeEnd, parts: &[(GuestPtr, u64)]) -> SyscallResult {
    if end.write {
        return Err(Errno::BADF.into());
    }
    let want = total(parts);
    if want == 0 {
        return Ok(0);
    }
    let (empty, writers) = (end.available() == 0, end.writers());
    if empty {
        if writers == 0 {
            return Ok(0);
        }
        if end.nonblocking() {
            return Err(Errno::AGAIN.into());
        }
        return sleep::hang();
    }
    let chunk = end.take(usize::try_from(want).unwrap_or(usize::MAX));
    scatter(ctx, parts, &chunk)?;
    Ok(chunk.len() as u64)
}

/// Writes `parts` (already checked readable) to pipe end `end`. No reader
/// left: SIGPIPE (see `signals::broken_pipe`). Not counted against
/// `bytes_written`: nothing leaves the runner.
pub fn write_parts(ctx: &mut Ctx<'_>, end: &PipeEnd, parts: &[(GuestPtr, u64)]) -> SyscallResult {
    if !end.write {
        return Err(Errno::BADF.into());
    }
    let want = total(parts);
    // A null write succeeds before anything else is looked at, as on Linux.
    if want == 0 {
        return Ok(0);
    }
    let (space, readers) = (end.space(), end.readers());
    if readers == 0 {
        return signals::broken_pipe(ctx);
    }
    if space == 0 {
        if end.nonblocking() {
            return Err(Errno::AGAIN.into());
        }
        return sleep::hang();
    }
    let n = (space as u64).min(want) as usize;
    let mut data = vec![0u8; n];
    gather(ctx, parts, &mut data)?;
    end.push(data);
    Ok(n as u64)
}

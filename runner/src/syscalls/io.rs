//! read, write, writev on the guest's descriptors.

use super::errno::*;
use super::{Args, Ctx, Outcome};
use crate::tunnel::{GuestPtr, TunnelError};

/// Linux caps one read/write at this many bytes (MAX_RW_COUNT).
const MAX_RW: u64 = 0x7fff_f000;
/// Linux's limit on iovecs per call (UIO_MAXIOV).
const MAX_IOV: u64 = 1024;

fn host_result(r: std::io::Result<usize>) -> Outcome {
    match r {
        Ok(n) => Outcome::ok(n as u64),
        Err(e) => Outcome::err(e.raw_os_error().map_or(EIO, i64::from)),
    }
}

fn fault(_: TunnelError) -> Outcome {
    Outcome::err(EFAULT)
}

pub fn read(ctx: &mut Ctx<'_>, a: &Args) -> Outcome {
    let (fd, buf, len) = (a[0], GuestPtr::new(a[1]), a[2].min(MAX_RW));
    if let Some(out) = super::pipe::try_read(ctx, fd, buf, len) {
        return out;
    }
    let Some(file) = ctx.state.fds.get(fd) else {
        return Outcome::err(EBADF);
    };
    let Some(file) = file.readable() else {
        return Outcome::err(EBADF);
    };
    let mut tunnel = crate::tunnel::Tunnel::new(ctx.aspace, ctx.mem);
    match tunnel.read_from_host(buf, len, file) {
        Ok(r) => host_result(r),
        Err(e) => fault(e),
    }
}

pub fn write(ctx: &mut Ctx<'_>, a: &Args) -> Outcome {
    let (fd, buf, len) = (a[0], GuestPtr::new(a[1]), a[2]);
    if len > MAX_RW && buf.add(len).is_none() {
        return Outcome::err(EFAULT);
    }
    let len = len.min(MAX_RW);
    if let Some(out) = super::pipe::try_write(ctx, fd, &[(buf, len)]) {
        return out;
    }
    let Some(file) = ctx.state.fds.get(fd) else {
        return Outcome::err(EBADF);
    };
    let Some(file) = file.writable() else {
        return Outcome::err(EBADF);
    };
    let tunnel = crate::tunnel::Tunnel::new(ctx.aspace, ctx.mem);
    match tunnel.write_to_host(buf, len, file) {
        Ok(r) => host_write_result(ctx, r),
        Err(e) => fault(e),
    }
}

/// A host write's result; EPIPE (the reader of the runner's stream went
/// away) raises SIGPIPE as it would for a native process.
fn host_write_result(ctx: &mut Ctx<'_>, r: std::io::Result<usize>) -> Outcome {
    match r {
        Err(e) if e.raw_os_error() == Some(EPIPE as i32) => super::signals::broken_pipe(ctx),
        r => host_result(r),
    }
}

pub fn writev(ctx: &mut Ctx<'_>, a: &Args) -> Outcome {
    let (fd, iov, count) = (a[0], GuestPtr::new(a[1]), a[2]);
    if count > MAX_IOV {
        return Outcome::err(EINVAL);
    }
    // Read and check every iovec before writing anything.
    let mut raw = vec![0u8; count as usize * 16];
    if ctx.tunnel().read(iov, &mut raw).is_err() {
        return Outcome::err(EFAULT);
    }
    let mut total: u64 = 0;
    let mut parts = Vec::with_capacity(count as usize);
    for chunk in raw.chunks_exact(16) {
        let base = u64::from_le_bytes(chunk[..8].try_into().unwrap_or_default());
        let len = u64::from_le_bytes(chunk[8..].try_into().unwrap_or_default());
        total = match total.checked_add(len) {
            Some(t) if t <= i64::MAX as u64 => t,
            _ => return Outcome::err(EINVAL),
        };
        if ctx
            .tunnel()
            .check(GuestPtr::new(base), len, crate::tunnel::Access::Read)
            .is_err()
        {
            return Outcome::err(EFAULT);
        }
        parts.push((GuestPtr::new(base), len));
    }
    if let Some(out) = super::pipe::try_write(ctx, fd, &parts) {
        return out;
    }
    let Some(file) = ctx.state.fds.get(fd) else {
        return Outcome::err(EBADF);
    };
    let Some(file) = file.writable() else {
        return Outcome::err(EBADF);
    };
    let tunnel = crate::tunnel::Tunnel::new(ctx.aspace, ctx.mem);
    match tunnel.write_many_to_host(&parts, file) {
        Ok(r) => host_write_result(ctx, r),
        Err(e) => fault(e),
    }
}

//! read, write, writev on the guest's descriptors.

use super::decode::{self, MAX_RW};
use super::errno::*;
use super::{Args, Ctx, Outcome};
use crate::tunnel::{GuestPtr, TunnelError};

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
    let buf = GuestPtr::new(a[1]);
    let (fd, len) = match decode::rw_len(buf, a[2]) {
        Ok(len) => (a[0], len),
        Err(e) => return Outcome::err(e),
    };
    let Some(file) = ctx.state.fds.get(fd) else {
        return Outcome::err(EBADF);
    };
    let Some(file) = file.writable() else {
        return Outcome::err(EBADF);
    };
    let tunnel = crate::tunnel::Tunnel::new(ctx.aspace, ctx.mem);
    match tunnel.write_to_host(buf, len, file) {
        Ok(r) => host_result(r),
        Err(e) => fault(e),
    }
}

pub fn writev(ctx: &mut Ctx<'_>, a: &Args) -> Outcome {
    let (fd, iov) = (a[0], GuestPtr::new(a[1]));
    // Read and check every iovec before writing anything.
    let mut raw = match decode::iovec_array_bytes(a[2]) {
        Ok(n) => vec![0u8; n],
        Err(e) => return Outcome::err(e),
    };
    if ctx.tunnel().read(iov, &mut raw).is_err() {
        return Outcome::err(EFAULT);
    }
    let parts = match decode::iovecs(&raw) {
        Ok(p) => p,
        Err(e) => return Outcome::err(e),
    };
    for &(base, len) in &parts {
        if ctx
            .tunnel()
            .check(base, len, crate::tunnel::Access::Read)
            .is_err()
        {
            return Outcome::err(EFAULT);
        }
    }
    let Some(file) = ctx.state.fds.get(fd) else {
        return Outcome::err(EBADF);
    };
    let Some(file) = file.writable() else {
        return Outcome::err(EBADF);
    };
    let tunnel = crate::tunnel::Tunnel::new(ctx.aspace, ctx.mem);
    match tunnel.write_many_to_host(&parts, file) {
        Ok(r) => host_result(r),
        Err(e) => fault(e),
    }
}

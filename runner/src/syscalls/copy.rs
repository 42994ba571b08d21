//! sendfile between the process's own descriptors, through a runner buffer
//! (the guest memory is not involved). busybox `cat` tries it first.

use super::errno::*;
use super::fds::FdEntry;
use super::{Args, Ctx, Outcome};
use crate::tunnel::GuestPtr;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;

/// Largest chunk moved per call (a short transfer, as Linux allows).
const CHUNK: usize = 1 << 16;

pub fn sendfile(ctx: &mut Ctx<'_>, a: &Args) -> Outcome {
    let (out_fd, in_fd, offp, count) = (a[0], a[1], GuestPtr::new(a[2]), a[3]);
    let offset = if offp.addr() != 0 {
        match ctx.tunnel().read_u64(offp) {
            Ok(o) if (o as i64) >= 0 => Some(o),
            Ok(_) => return Outcome::err(EINVAL),
            Err(_) => return Outcome::err(EFAULT),
        }
    } else {
        None
    };
    // The out side must be writable before anything is read.
    match ctx.state.fds.get(out_fd) {
        // Into a pipe of the process: not supported; programs fall back.
        Some(FdEntry::Pipe(p)) if p.write => return Outcome::err(EINVAL),
        Some(e) => {
            if e.writable().is_none() {
                return Outcome::err(EBADF);
            }
        }
        None => return Outcome::err(EBADF),
    }
    let n = usize::try_from(count).unwrap_or(usize::MAX).min(CHUNK);
    let mut buf = vec![0u8; n];
    let got = match ctx.state.fds.get(in_fd) {
        None => return Outcome::err(EBADF),
        // Pipes and other non-file inputs: Linux accepts only what it can
        // map or splice; programs fall back to read/write.
        Some(FdEntry::Pipe(_)) => return Outcome::err(EINVAL),
        Some(e) => match e.readable() {
            None => return Outcome::err(EBADF),
            Some(f) => {
                let r = match offset {
                    Some(o) => f.read_at(&mut buf, o),
                    None => f.read(&mut buf),
                };
                match r {
                    Ok(k) => k,
                    Err(e) => return Outcome::err(e.raw_os_error().map_or(EIO, i64::from)),
                }
            }
        },
    };
    buf.truncate(got);
    if got == 0 {
        return Outcome::ok(0);
    }
    let written = match ctx.state.fds.get(out_fd) {
        Some(e) => match e.writable() {
            // All of it: the bytes have been consumed from the input.
            Some(f) => match f.write_all(&buf) {
                Ok(()) => got,
                Err(e) if e.raw_os_error() == Some(EPIPE as i32) => {
                    return super::signals::broken_pipe(ctx)
                }
                Err(e) => return Outcome::err(e.raw_os_error().map_or(EIO, i64::from)),
            },
            None => return Outcome::err(EBADF),
        },
        None => return Outcome::err(EBADF),
    };
    if let Some(o) = offset {
        let new = o + written as u64;
        if ctx.tunnel().write(offp, &new.to_le_bytes()).is_err() {
            return Outcome::err(EFAULT);
        }
    }
    Outcome::ok(written as u64)
}

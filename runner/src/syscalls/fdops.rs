//! Descriptor operations within the process: close, dup, dup2, dup3,
//! fcntl (duplication, FD_CLOEXEC, status flags), and ioctl (no terminal:
//! every terminal request fails with ENOTTY, so programs behave as with
//! redirected streams, whatever the runner's own streams are).

use super::errno::*;
use super::fds::FdEntry;
use super::{Args, Ctx, Outcome};

const F_DUPFD: u64 = 0;
const F_GETFD: u64 = 1;
const F_SETFD: u64 = 2;
const F_GETFL: u64 = 3;
const F_SETFL: u64 = 4;
const F_SETLK: u64 = 6;
const F_SETLKW: u64 = 7;
const F_GETLK: u64 = 5;
const F_DUPFD_CLOEXEC: u64 = 1030;
const F_SETPIPE_SZ: u64 = 1031;
const F_GETPIPE_SZ: u64 = 1032;
const FD_CLOEXEC: u64 = 1;
const O_RDONLY: u64 = 0;
const O_WRONLY: u64 = 1;
const O_NONBLOCK: u64 = 0o4000;
const O_CLOEXEC: u64 = 0o2000000;
/// O_LARGEFILE, which Linux reports on every 64-bit open file.
const O_LARGEFILE: u64 = 0o100000;

pub fn close(ctx: &mut Ctx<'_>, a: &Args) -> Outcome {
    match ctx.state.fds.remove(a[0]) {
        Some(entry) => {
            drop(entry);
            Outcome::ok(0)
        }
        None => Outcome::err(EBADF),
    }
}

fn duplicate(ctx: &mut Ctx<'_>, fd: u64) -> Result<FdEntry, Outcome> {
    let Some(entry) = ctx.state.fds.get(fd) else {
        return Err(Outcome::err(EBADF));
    };
    entry
        .duplicate()
        .map_err(|e| Outcome::err(e.raw_os_error().map_or(EMFILE, i64::from)))
}

fn dup_lowest(ctx: &mut Ctx<'_>, fd: u64, min: u64, cloexec: bool) -> Outcome {
    let limit = ctx.state.run.fd_limit();
    if min >= limit {
        return Outcome::err(EINVAL);
    }
    let entry = match duplicate(ctx, fd) {
        Ok(e) => e,
        Err(o) => return o,
    };
    match ctx.state.fds.insert_lowest(min, entry, limit) {
        Some(new) => {
            ctx.state.fds.set_cloexec(new, cloexec);
            Outcome::ok(new)
        }
        None => Outcome::err(EMFILE),
    }
}

pub fn dup(ctx: &mut Ctx<'_>, a: &Args) -> Outcome {
    dup_lowest(ctx, a[0], 0, false)
}

fn dup_to(ctx: &mut Ctx<'_>, old: u64, new: u64, cloexec: bool) -> Outcome {
    if new >= ctx.state.run.fd_limit() {
        return Outcome::err(EBADF);
    }
    let entry = match duplicate(ctx, old) {
        Ok(e) => e,
        Err(o) => return o,
    };
    // The old occupant of `new` is closed by dropping it.
    drop(ctx.state.fds.insert_at(new, entry));
    ctx.state.fds.set_cloexec(new, cloexec);
    Outcome::ok(new)
}

pub fn dup2(ctx: &mut Ctx<'_>, a: &Args) -> Outcome {
    let (old, new) = (a[0], a[1]);
    if old == new {
        return if ctx.state.fds.is_open(old) {
            Outcome::ok(new)
        } else {
            Outcome::err(EBADF)
        };
    }
    dup_to(ctx, old, new, false)
}

pub fn dup3(ctx: &mut Ctx<'_>, a: &Args) -> Outcome {
    let (old, new, flags) = (a[0], a[1], a[2]);
    if flags & !O_CLOEXEC != 0 || old == new {
        return Outcome::err(EINVAL);
    }
    dup_to(ctx, old, new, flags & O_CLOEXEC != 0)
}

pub fn fcntl(ctx: &mut Ctx<'_>, a: &Args) -> Outcome {
    let (fd, cmd, arg) = (a[0], a[1], a[2]);
    if !ctx.state.fds.is_open(fd) {
        return Outcome::err(EBADF);
    }
    match cmd {
        F_DUPFD => dup_lowest(ctx, fd, arg, false),
        F_DUPFD_CLOEXEC => dup_lowest(ctx, fd, arg, true),
        F_GETFD => Outcome::ok(if ctx.state.fds.cloexec(fd) {
            FD_CLOEXEC
        } else {
            0
        }),
        F_SETFD => {
            ctx.state.fds.set_cloexec(fd, arg & FD_CLOEXEC != 0);
            Outcome::ok(0)
        }
        F_GETFL => {
            let flags = match ctx.state.fds.get(fd) {
                Some(FdEntry::Stdin(_)) => O_RDONLY,
                Some(FdEntry::Stdout(_)) | Some(FdEntry::Stderr(_)) => O_WRONLY,
                Some(FdEntry::Pipe(p)) => {
                    (if p.write { O_WRONLY } else { O_RDONLY }) | p.flags.get()
                }
                None => return Outcome::err(EBADF),
            };
            Outcome::ok(flags | O_LARGEFILE)
        }
        F_SETFL => {
            // O_NONBLOCK is honoured on pipes; on the standard streams it
            // is accepted and not passed on (the host's descriptions are
            // shared with the runner's caller).
            if let Some(FdEntry::Pipe(p)) = ctx.state.fds.get(fd) {
                p.flags.set(arg & O_NONBLOCK);
            }
            Outcome::ok(0)
        }
        F_GETLK | F_SETLK | F_SETLKW => Outcome::err(EINVAL),
        F_GETPIPE_SZ | F_SETPIPE_SZ => match ctx.state.fds.get(fd) {
            Some(FdEntry::Pipe(_)) => Outcome::ok(super::pipe::PIPE_CAPACITY as u64),
            _ => Outcome::err(EBADF),
        },
        _ => Outcome::err(EINVAL),
    }
}

const FIONREAD: u64 = 0x541b;
const FIONBIO: u64 = 0x5421;
const FIOCLEX: u64 = 0x5451;
const FIONCLEX: u64 = 0x5450;

/// ioctl: no descriptor is a terminal (TCGETS, TIOCGWINSZ, ... fail with
/// ENOTTY); FIONREAD on a pipe, FIONBIO and FIOCLEX/FIONCLEX work.
pub fn ioctl(ctx: &mut Ctx<'_>, a: &Args) -> Outcome {
    let (fd, req, arg) = (a[0], a[1] & 0xffff_ffff, a[2]);
    if !ctx.state.fds.is_open(fd) {
        return Outcome::err(EBADF);
    }
    match req {
        FIOCLEX | FIONCLEX => {
            ctx.state.fds.set_cloexec(fd, req == FIOCLEX);
            Outcome::ok(0)
        }
        FIONBIO => {
            let mut v = [0u8; 4];
            if ctx
                .tunnel()
                .read(crate::tunnel::GuestPtr::new(arg), &mut v)
                .is_err()
            {
                return Outcome::err(EFAULT);
            }
            if let Some(FdEntry::Pipe(p)) = ctx.state.fds.get(fd) {
                let on = u32::from_le_bytes(v) != 0;
                let f = p.flags.get();
                p.flags
                    .set(if on { f | O_NONBLOCK } else { f & !O_NONBLOCK });
            }
            Outcome::ok(0)
        }
        FIONREAD => {
            let n = match ctx.state.fds.get(fd) {
                Some(FdEntry::Pipe(p)) if !p.write => p.available() as u32,
                _ => return Outcome::err(ENOTTY),
            };
            match ctx
                .tunnel()
                .write(crate::tunnel::GuestPtr::new(arg), &n.to_le_bytes())
            {
                Ok(()) => Outcome::ok(0),
                Err(_) => Outcome::err(EFAULT),
            }
        }
        _ => Outcome::err(ENOTTY),
    }
}

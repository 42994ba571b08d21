//! Descriptor bookkeeping: close, dup, dup2, dup3, fcntl, ioctl. All of it
//! is the runner's own table; only F_GETFL/F_SETFL (and FIONBIO, which is
//! F_SETFL's O_NONBLOCK) and FIONREAD on an inotify instance reach a host
//! fd. Pipes and inotify instances keep their O_NONBLOCK in the runner.

use super::pipe::{self, PipeEnd};
use super::{Args, Ctx, SyscallResult};
use crate::abi::constants::{
    FD_CLOEXEC, FIOCLEX, FIONBIO, FIONCLEX, FIONREAD, F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_GETFL,
    F_GETLK, F_GETPIPE_SZ, F_SETFD, F_SETFL, F_SETLK, F_SETLKW, F_SETPIPE_SZ, O_APPEND, O_CLOEXEC,
    O_DIRECTORY, O_LARGEFILE, O_NONBLOCK, O_RDWR, O_WRONLY,
};
use crate::abi::Errno;
use crate::kernel::fds::Object;
use crate::tunnel::GuestPtr;
use rustix::fs::OFlags;

/// Status flags F_SETFL may change.
const SETFL_MASK: u32 = O_APPEND | O_NONBLOCK;

/// Guest fd arguments are C ints.
fn same_fd(a: u64, b: u64) -> bool {
    a as u32 == b as u32
}

pub fn close(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let obj = ctx.process.fds.get(a[0])?;
    ctx.process.fds.close(a[0])?;
    released(ctx, &obj);
    Ok(0)
}

/// A descriptor of a file was closed: the process's record locks on the
/// file go (POSIX); so does its registration on a message queue (Linux's
/// flush).
fn released(ctx: &mut Ctx<'_>, obj: &Object) {
    let pid = ctx.process.identity.pid;
    if let Some(key) = super::record_locks::key_of(obj) {
        ctx.kernel.file_locks.close(key, pid);
    }
    super::posix_mq::closed(obj, pid);
}

/// close_range: closes (or, with CLOSE_RANGE_CLOEXEC, marks close-on-exec)
/// every open descriptor from `first` to `last`. The table is the
/// process's own already, so CLOSE_RANGE_UNSHARE changes nothing.
pub fn close_range(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    const CLOSE_RANGE_UNSHARE: u32 = 2;
    const CLOSE_RANGE_CLOEXEC: u32 = 4;
    let (first, last, flags) = (a[0] as u32, a[1] as u32, a[2] as u32);
    if flags & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 || first > last {
        return Err(Errno::INVAL.into());
    }
    let fds = &mut ctx.process.fds;
    let end = fds.end().min(u64::from(last) + 1);
    let mut closed = Vec::new();
    for fd in u64::from(first)..end {
        // A number with nothing open is skipped, as on Linux.
        if flags & CLOSE_RANGE_CLOEXEC != 0 {
            let _ = fds.set_cloexec(fd, true);
        } else if let Ok(obj) = fds.get(fd) {
            let _ = fds.close(fd);
            closed.push(obj);
        }
    }
    for obj in closed {
        released(ctx, &obj);
    }
    Ok(0)
}

pub fn dup(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let obj = ctx.process.fds.get(a[0])?;
    Ok(ctx.process.fds.insert(obj, false, 0)?)
}

pub fn dup2(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let obj = ctx.process.fds.get(a[0])?;
    if same_fd(a[0], a[1]) {
        return Ok(u64::from(a[1] as u32));
    }
    if let Some(old) = ctx.process.fds.place(a[1], obj, false)? {
        released(ctx, &old);
    }
    Ok(u64::from(a[1] as u32))
}

pub fn dup3(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    if a[2] & !u64::from(O_CLOEXEC) != 0 || same_fd(a[0], a[1]) {
        return Err(Errno::INVAL.into());
    }
    let obj = ctx.process.fds.get(a[0])?;
    let old = ctx
        .process
        .fds
        .place(a[1], obj, a[2] & u64::from(O_CLOEXEC) != 0)?;
    if let Some(old) = old {
        released(ctx, &old);
    }
    Ok(u64::from(a[1] as u32))
}

/// F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL, F_SETFL (O_APPEND
/// and O_NONBLOCK; accepted but without effect on a connected standard
/// stream; O_NONBLOCK honoured on pipes), F_GETPIPE_SZ/F_SETPIPE_SZ (a
/// pipe's fixed 64 KiB), POSIX record locks (`record_locks.rs`). Open
/// file description locks, leases, owners, seals: EINVAL.
pub fn fcntl(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (fd, cmd, arg) = (a[0], a[1] as u32 as u64, a[2]);
    let obj = ctx.process.fds.get(fd)?;
    match cmd {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            let min = usize::try_from(arg as u32 as i32).map_err(|_| Errno::INVAL)?;
            Ok(ctx.process.fds.insert(obj, cmd == F_DUPFD_CLOEXEC, min)?)
        }
        F_GETFD => Ok(if ctx.process.fds.cloexec(fd)? {
            FD_CLOEXEC
        } else {
            0
        }),
        F_SETFD => {
            ctx.process.fds.set_cloexec(fd, arg & FD_CLOEXEC != 0)?;
            Ok(0)
        }
        F_GETFL => Ok(u64::from(match &*obj {
            Object::Null { stream } => {
                O_LARGEFILE
                    | match (stream.readable(), stream.writable()) {
                        (true, true) => O_RDWR,
                        (false, true) => O_WRONLY,
                        _ => 0,
                    }
            }
            Object::Device { read, write, .. } => {
                O_LARGEFILE
                    | match (read, write) {
                        (true, true) => O_RDWR,
                        (false, true) => O_WRONLY,
                        _ => 0,
                    }
            }
            Object::VirtualDir(_) => O_DIRECTORY | O_LARGEFILE,
            // As Linux: no O_LARGEFILE on a pipe's ends.
            Object::Pipe(p) => p.status_flags(),
            Object::EventFd(e) => O_RDWR | if e.nonblocking() { O_NONBLOCK } else { 0 },
            Object::Epoll(_) => O_RDWR,
            Object::TimerFd(t) => O_RDWR | if t.nonblocking() { O_NONBLOCK } else { 0 },
            Object::SignalFd(s) => O_RDWR | if s.nonblocking() { O_NONBLOCK } else { 0 },
            Object::PidFd(p) => O_RDWR | if p.nonblocking() { O_NONBLOCK } else { 0 },
            // O_RDONLY (0), without O_LARGEFILE, as Linux's.
            Object::Inotify(i) => {
                if i.nonblocking() {
                    O_NONBLOCK
                } else {
                    0
                }
            }
            Object::MsgQueue(m) => m.flags(),
            other => match other.host_fd() {
                Some(h) => rustix::fs::fcntl_getfl(h)?.bits(),
                None => return Err(Errno::BADF.into()),
            },
        })),
        F_SETFL => {
            // The runner's own standard streams are shared with its
            // caller (a terminal, say): their flags are left alone.
            if matches!(&*obj, Object::Stdio { .. }) {
                return Ok(0);
            }
            if let Object::Pipe(p) = &*obj {
                p.set_nonblocking(arg as u32 & O_NONBLOCK != 0);
                return Ok(0);
            }
            if let Object::MsgQueue(m) = &*obj {
                m.set_flags(SETFL_MASK, arg as u32);
                return Ok(0);
            }
            if let Object::EventFd(_)
            | Object::TimerFd(_)
            | Object::SignalFd(_)
            | Object::PidFd(_)
            | Object::Inotify(_) = &*obj
            {
                set_nonblocking(&obj, arg as u32 & O_NONBLOCK != 0)?;
                return Ok(0);
            }
            if let Some(h) = obj.host_fd() {
                let cur = rustix::fs::fcntl_getfl(h)?.bits();
                let new = (cur & !SETFL_MASK) | (arg as u32 & SETFL_MASK);
                rustix::fs::fcntl_setfl(h, OFlags::from_bits_retain(new))?;
            }
            Ok(0)
        }
        F_GETLK | F_SETLK | F_SETLKW => super::record_locks::fcntl_lock(ctx, a),
        F_GETPIPE_SZ | F_SETPIPE_SZ => match &*obj {
            Object::Pipe(_) => Ok(pipe::PIPE_CAPACITY as u64),
            _ => Err(Errno::BADF.into()),
        },
        _ => Err(Errno::INVAL.into()),
    }
}

/// O_NONBLOCK on or off, as F_SETFL would set it: a pipe's flag in the
/// runner, the host description of a file or socket; the runner's own
/// standard streams and /dev/null are left alone.
fn set_nonblocking(obj: &Object, on: bool) -> Result<(), Errno> {
    match obj {
        Object::Pipe(p) => p.set_nonblocking(on),
        Object::EventFd(e) => e.set_nonblocking(on),
        Object::TimerFd(t) => t.set_nonblocking(on),
        Object::SignalFd(s) => s.set_nonblocking(on),
        Object::PidFd(p) => p.set_nonblocking(on),
        // The host instance stays nonblocking: the runner waits.
        Object::Inotify(i) => i.set_nonblocking(on),
        Object::MsgQueue(m) => m.set_nonblocking(on),
        Object::Stdio { .. }
        | Object::Null { .. }
        | Object::Device { .. }
        | Object::VirtualDir(_)
        | Object::Epoll(_) => {}
        other => {
            if let Some(h) = other.host_fd() {
                let cur = rustix::fs::fcntl_getfl(h)?;
                let new = if on {
                    cur | OFlags::NONBLOCK
                } else {
                    cur - OFlags::NONBLOCK
                };
                rustix::fs::fcntl_setfl(h, new)?;
            }
        }
    }
    Ok(())
}

/// Bytes waiting in a pipe (FIONREAD; either end, as on Linux).
fn pending(p: &PipeEnd) -> u32 {
    u32::try_from(p.available()).unwrap_or(u32::MAX)
}

/// FIOCLEX/FIONCLEX set the guest's close-on-exec bit; FIONBIO is
/// F_SETFL's O_NONBLOCK; FIONREAD counts the bytes waiting in a pipe or
/// an inotify instance (the host instance's count).
/// Terminal requests on a standard stream go to `terminal.rs`, which
/// answers them when the policy lends the guest a terminal. Every other
/// request is ENOTTY: no other ioctl ever reaches a host fd.
pub fn ioctl(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let obj = ctx.process.fds.get(a[0])?;
    let arg = GuestPtr::new(a[2]);
    let request = a[1] as u32 as u64;
    if matches!(&*obj, Object::Stdio { .. }) && super::terminal::is_terminal_request(request) {
        return super::terminal::ioctl(ctx, &obj, request, a[2]);
    }
    match request {
        FIOCLEX => Ok(ctx.process.fds.set_cloexec(a[0], true).map(|()| 0)?),
        FIONCLEX => Ok(ctx.process.fds.set_cloexec(a[0], false).map(|()| 0)?),
        FIONBIO => {
            let mut v = [0u8; 4];
            ctx.tunnel().read(arg, &mut v).map_err(|_| Errno::FAULT)?;
            set_nonblocking(&obj, u32::from_le_bytes(v) != 0)?;
            Ok(0)
        }
        FIONREAD => {
            let n = match &*obj {
                Object::Pipe(p) => pending(p),
                Object::Inotify(i) => super::inotify::pending(i)?,
                _ => return Err(Errno::NOTTY.into()),
            };
            ctx.tunnel()
                .write(arg, &n.to_le_bytes())
                .map_err(|_| Errno::FAULT)?;
            Ok(0)
        }
        _ => Err(Errno::NOTTY.into()),
    }
}

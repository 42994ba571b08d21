//! read, write, readv, writev, pread64, pwrite64, preadv, pwritev,
//! preadv2, pwritev2, lseek, fadvise64 and readahead on the guest's
//! descriptors. Every buffer is checked through the tunnel
//! before the host is asked for anything; data moves between the host fd
//! and guest memory without an intermediate copy (pipes inside the process
//! move through their runner buffer, `pipe.rs`). A write that finds no
//! reader (a pipe's read ends all closed, the runner's stdout a closed
//! pipe, a reset connection) raises SIGPIPE, as natively.

use super::common::*;
use super::{
    eventfd, file_pages, net, pipe, posix_mq, readiness, signals, Args, Ctx, SyscallResult,
};
use crate::abi::constants::{POLLIN, POLLOUT};
use crate::abi::constants::{SEEK_CUR, SEEK_DATA, SEEK_END, SEEK_HOLE, SEEK_SET};
use crate::abi::Errno;
use crate::kernel::fds::{Device, Object};
use crate::tunnel::{Access, GuestPtr};
use rustix::fs::SeekFrom;
use std::sync::atomic::Ordering;
use thinvisor_kmod::PAGE_SIZE;

/// Reads from guest fd `fd` into `parts` (already checked writable).
fn read_into(
    ctx: &mut Ctx<'_>,
    fd: u64,
    parts: &[(GuestPtr, u64)],
    at: Option<u64>,
) -> SyscallResult {
    let obj = ctx.process.fds.get(fd)?;
    Ok(match &*obj {
        Object::Stdio { stream, host, .. } => {
            if !stream.readable() {
                return Err(Errno::BADF.into());
            }
            readiness::wait_unless_ready(ctx, rustix::fd::AsFd::as_fd(host), POLLIN)?;
            read_host(
                ctx,
                parts,
                &mut HostIo::new(rustix::fd::AsFd::as_fd(host), at),
            )?
        }
        Object::Null { stream } => {
            if stream.readable() {
                0
            } else {
                return Err(Errno::BADF.into());
            }
        }
        Object::Device { device, read, .. } => {
            if !read {
                return Err(Errno::BADF.into());
            }
            read_device(ctx, *device, parts)?
        }
        Object::File(f) => {
            if !f.readable {
                return Err(Errno::BADF.into());
            }
            match file_pages::shared_file(ctx, &obj) {
                Some((fd, key)) => file_pages::read(ctx, fd, key, parts, at)?,
                None => read_host(
                    ctx,
                    parts,
                    &mut HostIo::new(rustix::fd::AsFd::as_fd(&f.fd), at),
                )?,
            }
        }
        Object::Dir(_) | Object::VirtualDir(_) => return Err(Errno::ISDIR.into()),
        Object::Socket(s) => {
            if at.is_some() {
                return Err(Errno::SPIPE.into());
            }
            readiness::wait_unless_ready(ctx, rustix::fd::AsFd::as_fd(&s.fd), POLLIN)?;
            net::recv_parts(ctx, s, parts, rustix::net::RecvFlags::empty(), None)?
        }
        Object::Pipe(p) => {
            if at.is_some() {
                return Err(Errno::SPIPE.into());
            }
            pipe::read_parts(ctx, p, parts)?
        }
        Object::EventFd(e) => {
            if at.is_some() {
                return Err(Errno::SPIPE.into());
            }
            eventfd::read(ctx, e, parts)?
        }
        Object::TimerFd(t) => {
            if at.is_some() {
                return Err(Errno::SPIPE.into());
            }
            super::timerfd::read(ctx, t, parts)?
        }
        Object::SignalFd(s) => {
            if at.is_some() {
                return Err(Errno::SPIPE.into());
            }
            super::signalfd::read(ctx, s, parts)?
        }
        Object::Inotify(i) => {
            if at.is_some() {
                return Err(Errno::SPIPE.into());
            }
            super::inotify::read(ctx, i, parts)?
        }
        Object::MsgQueue(d) => posix_mq::read(ctx, d, parts, at)?,
        Object::Epoll(_) | Object::PidFd(_) => return Err(Errno::INVAL.into()),
    })
}

/// A read of a device: zeros, or the host's random bytes, filling every
/// part (`parts` already checked writable), at most MAX_RW in all.
fn read_device(ctx: &mut Ctx<'_>, device: Device, parts: &[(GuestPtr, u64)]) -> SysResult {
    let mut chunk = [0u8; 4096];
    let mut done = 0u64;
    for &(ptr, len) in parts {
        let mut off = 0u64;
        while off < len {
            let n = (len - off).min(chunk.len() as u64) as usize;
            if device == Device::Random {
                crate::host::random_bytes(&mut chunk[..n]);
            }
            let at = ptr.checked_add(off).ok_or(Errno::FAULT)?;
            ctx.tunnel()
                .write(at, &chunk[..n])
                .map_err(|_| Errno::FAULT)?;
            off += n as u64;
        }
        done += len;
    }
    Ok(done)
}

fn read_host(ctx: &mut Ctx<'_>, parts: &[(GuestPtr, u64)], src: &mut HostIo<'_>) -> SysResult {
    match ctx.tunnel().read_many_from_host(parts, src) {
        Ok(r) => host_io(r),
        Err(_) => Err(Errno::FAULT),
    }
}

/// Writes `parts` (already checked readable) to guest fd `fd`; EPIPE from
/// the host raises SIGPIPE.
fn write_from(
    ctx: &mut Ctx<'_>,
    fd: u64,
    parts: &[(GuestPtr, u64)],
    at: Option<u64>,
) -> SyscallResult {
    match write_object(ctx, fd, parts, at) {
        Err(Stop::Fail(Errno::PIPE)) => signals::broken_pipe(ctx),
        r => r,
    }
}

fn write_object(
    ctx: &mut Ctx<'_>,
    fd: u64,
    parts: &[(GuestPtr, u64)],
    at: Option<u64>,
) -> SyscallResult {
    let obj = ctx.process.fds.get(fd)?;
    Ok(match &*obj {
        Object::Stdio { stream, host, .. } => {
            if !stream.writable() {
                return Err(Errno::BADF.into());
            }
            readiness::wait_unless_ready(ctx, rustix::fd::AsFd::as_fd(host), POLLOUT)?;
            counted_write(
                ctx,
                parts,
                &mut HostIo::new(rustix::fd::AsFd::as_fd(host), at),
            )?
        }
        // Discarded, not counted against bytes_written.
        Object::Null { stream } => {
            if stream.writable() {
                total(parts)
            } else {
                return Err(Errno::BADF.into());
            }
        }
        Object::Device { device, write, .. } => match (write, device) {
            (false, _) => return Err(Errno::BADF.into()),
            (true, Device::Full) => return Err(Errno::NOSPC.into()),
            (true, _) => total(parts),
        },
        Object::File(f) => {
            if !f.writable {
                return Err(Errno::BADF.into());
            }
            let sink = &mut HostIo::new(rustix::fd::AsFd::as_fd(&f.fd), at);
            let n = if f.memfd {
                memfd_write(ctx, rustix::fd::AsFd::as_fd(&f.fd), parts, sink)?
            } else {
                counted_write(ctx, parts, sink)?
            };
            file_pages::after_write(ctx, &obj, at, file_pages::Written::Guest(parts), n);
            n
        }
        Object::Dir(_) | Object::VirtualDir(_) => return Err(Errno::BADF.into()),
        Object::Socket(s) => {
            if at.is_some() {
                return Err(Errno::SPIPE.into());
            }
            readiness::wait_unless_ready(ctx, rustix::fd::AsFd::as_fd(&s.fd), POLLOUT)?;
            net::send_parts(ctx, s, parts, rustix::net::SendFlags::empty(), None)?
        }
        // In the runner: not counted against bytes_written.
        Object::Pipe(p) => {
            if at.is_some() {
                return Err(Errno::SPIPE.into());
            }
            pipe::write_parts(ctx, p, parts)?
        }
        Object::EventFd(e) => {
            if at.is_some() {
                return Err(Errno::SPIPE.into());
            }
            eventfd::write(ctx, e, parts)?
        }
        Object::Epoll(_) | Object::TimerFd(_) | Object::SignalFd(_) | Object::PidFd(_) => {
            return Err(Errno::INVAL.into())
        }
        // Opened for reading only, as Linux's.
        Object::Inotify(_) => return Err(Errno::BADF.into()),
        // A queue has no write (EBADF first when not opened for writing).
        Object::MsgQueue(d) => {
            return Err(if d.writable() {
                Errno::INVAL
            } else {
                Errno::BADF
            }
            .into())
        }
    })
}

/// A write to a file or a standard stream, within the bytes_written budget.
fn counted_write(ctx: &mut Ctx<'_>, parts: &[(GuestPtr, u64)], sink: &mut HostIo<'_>) -> SysResult {
    let want = total(parts);
    if want == 0 {
        return Ok(0);
    }
    let grant = ctx.kernel.budget.grant(want)?;
    let parts = clamp(parts, grant);
    let r = match ctx.tunnel().write_many_to_host(&parts, sink) {
        Ok(r) => host_io(r),
        Err(_) => Err(Errno::FAULT),
    };
    if let Ok(n) = r {
        ctx.kernel.budget.consume(n);
    }
    r
}

/// What a write of `n` bytes to a memfd is charged: every page it may
/// fill in host memory (it may start in one and end in another).
fn memfd_charge(n: u64) -> u64 {
    n.div_ceil(PAGE_SIZE)
        .saturating_add(1)
        .saturating_mul(PAGE_SIZE)
}

/// A write to a memfd, within the bytes_written budget counted by the
/// host memory it made the memfd hold (syscalls/memfd.rs): the budget must
/// have room for every page the write may fill, and is charged what the
/// memfd's allocation grew.
fn memfd_write(
    ctx: &mut Ctx<'_>,
    fd: rustix::fd::BorrowedFd<'_>,
    parts: &[(GuestPtr, u64)],
    sink: &mut HostIo<'_>,
) -> SysResult {
    let want = total(parts);
    if want == 0 {
        return Ok(0);
    }
    let held = |fd| rustix::fs::fstat(fd).map(|st| st.st_blocks.max(0) as u64 * 512);
    let before = held(fd)?;
    let grant = ctx.kernel.budget.grant(memfd_charge(want))?;
    // The most bytes whose charge fits in what was granted.
    let allowed = want.min((grant / PAGE_SIZE).saturating_sub(1) * PAGE_SIZE);
    if allowed == 0 {
        return Err(Errno::FBIG);
    }
    let parts = clamp(parts, allowed);
    let r = match ctx.tunnel().write_many_to_host(&parts, sink) {
        Ok(r) => host_io(r),
        Err(_) => Err(Errno::FAULT),
    };
    if r.is_ok() {
        let grown = held(fd).map_or(memfd_charge(allowed), |after| after.saturating_sub(before));
        ctx.kernel.budget.consume(grown);
    }
    r
}

/// A file offset argument: negative is EINVAL.
fn offset(v: u64) -> Result<u64, Errno> {
    if (v as i64) < 0 {
        Err(Errno::INVAL)
    } else {
        Ok(v)
    }
}

pub fn read(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    ctx.process.fds.get(a[0])?; // EBADF before EFAULT, as on Linux
    let parts = one_buffer(ctx, a[1], a[2], Access::Write)?;
    read_into(ctx, a[0], &parts, None)
}

pub fn write(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    ctx.process.fds.get(a[0])?; // EBADF before EFAULT, as on Linux
    if a[2] > MAX_RW && a[1].checked_add(a[2]).is_none() {
        return Err(Errno::FAULT.into());
    }
    let parts = one_buffer(ctx, a[1], a[2], Access::Read)?;
    write_from(ctx, a[0], &parts, None)
}

pub fn readv(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    ctx.process.fds.get(a[0])?; // EBADF before EFAULT, as on Linux
    let parts = read_iovecs(ctx, a[1], a[2], Access::Write)?;
    read_into(ctx, a[0], &parts, None)
}

pub fn writev(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    ctx.process.fds.get(a[0])?; // EBADF before EFAULT, as on Linux
    let parts = read_iovecs(ctx, a[1], a[2], Access::Read)?;
    write_from(ctx, a[0], &parts, None)
}

pub fn pread64(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    ctx.process.fds.get(a[0])?; // EBADF before EFAULT, as on Linux
    let at = offset(a[3])?;
    let parts = one_buffer(ctx, a[1], a[2], Access::Write)?;
    read_into(ctx, a[0], &parts, Some(at))
}

pub fn pwrite64(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    ctx.process.fds.get(a[0])?; // EBADF before EFAULT, as on Linux
    let at = offset(a[3])?;
    let parts = one_buffer(ctx, a[1], a[2], Access::Read)?;
    write_from(ctx, a[0], &parts, Some(at))
}

pub fn preadv(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    ctx.process.fds.get(a[0])?; // EBADF before EFAULT, as on Linux
    let at = offset(a[3])?;
    let parts = read_iovecs(ctx, a[1], a[2], Access::Write)?;
    read_into(ctx, a[0], &parts, Some(at))
}

pub fn pwritev(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    ctx.process.fds.get(a[0])?; // EBADF before EFAULT, as on Linux
    let at = offset(a[3])?;
    let parts = read_iovecs(ctx, a[1], a[2], Access::Read)?;
    write_from(ctx, a[0], &parts, Some(at))
}

/// preadv2/pwritev2 flags (`RWF_*`) of the Linux the guest sees (6.1);
/// any other bit is EOPNOTSUPP, as there.
const RWF_HIPRI: u64 = 0x1;
const RWF_DSYNC: u64 = 0x2;
const RWF_SYNC: u64 = 0x4;
const RWF_NOWAIT: u64 = 0x8;
const RWF_APPEND: u64 = 0x10;

/// The checks preadv2 and pwritev2 share: the flags (EOPNOTSUPP for an
/// unknown one; RWF_NOWAIT only on files, which never make the runner
/// wait: elsewhere EOPNOTSUPP, Linux's answer for a file that cannot
/// promise it), and the position: -1 is the file's own (as readv and
/// writev), another negative one EINVAL.
fn v2_args(ctx: &mut Ctx<'_>, a: &Args) -> Result<(u64, Option<u64>), Errno> {
    let flags = a[5] as u32 as u64;
    let obj = ctx.process.fds.get(a[0])?;
    if flags & !(RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND) != 0
        || (flags & RWF_NOWAIT != 0 && !matches!(&*obj, Object::File(_)))
    {
        return Err(Errno::OPNOTSUPP);
    }
    let at = if a[3] as i64 == -1 {
        None
    } else {
        Some(offset(a[3])?)
    };
    Ok((flags, at))
}

/// preadv2: preadv or readv (position -1), with per-call flags; RWF_HIPRI
/// (polling) and RWF_NOWAIT on a file change nothing here.
pub fn preadv2(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (_, at) = v2_args(ctx, a)?;
    let parts = read_iovecs(ctx, a[1], a[2], Access::Write)?;
    read_into(ctx, a[0], &parts, at)
}

/// pwritev2: pwritev or writev (position -1), with per-call flags:
/// RWF_APPEND writes at the end of a file (at the file position's end,
/// which moves, for -1; leaving it where it was for a positional write),
/// RWF_DSYNC and RWF_SYNC sync what was written before returning.
pub fn pwritev2(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (flags, mut at) = v2_args(ctx, a)?;
    let parts = read_iovecs(ctx, a[1], a[2], Access::Read)?;
    let obj = ctx.process.fds.get(a[0])?;
    let file = match &*obj {
        Object::File(f) => Some(f),
        _ => None,
    };
    if let (Some(f), true) = (file, flags & RWF_APPEND != 0) {
        // Nothing moves for a descriptor that cannot write.
        if !f.writable {
            return Err(Errno::BADF.into());
        }
        at = match at {
            // The file position moves to the end, and past what is written.
            None => {
                rustix::fs::seek(&f.fd, SeekFrom::End(0))?;
                None
            }
            Some(_) => Some(rustix::fs::fstat(&f.fd)?.st_size.max(0) as u64),
        };
    }
    let n = write_from(ctx, a[0], &parts, at)?;
    if let Some(f) = file {
        if flags & RWF_SYNC != 0 {
            rustix::fs::fsync(&f.fd)?;
        } else if flags & RWF_DSYNC != 0 {
            rustix::fs::fdatasync(&f.fd)?;
        }
    }
    Ok(n)
}

pub fn lseek(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (off, whence) = (a[1] as i64, a[2] as u32 as u64);
    let pos = match whence {
        SEEK_SET => SeekFrom::Start(offset(a[1])?),
        SEEK_CUR => SeekFrom::Current(off),
        SEEK_END => SeekFrom::End(off),
        SEEK_DATA => SeekFrom::Data(offset(a[1])?),
        SEEK_HOLE => SeekFrom::Hole(offset(a[1])?),
        _ => return Err(Errno::INVAL.into()),
    };
    let obj = ctx.process.fds.get(a[0])?;
    match &*obj {
        Object::Stdio { host, .. } => Ok(rustix::fs::seek(host, pos)?),
        Object::File(f) => Ok(rustix::fs::seek(&f.fd, pos)?),
        Object::Dir(d) => {
            let r = rustix::fs::seek(&d.fd, pos)?;
            let mut c = crate::kernel::lock(&d.cursor);
            c.host_done = false;
            if r == 0 {
                c.extra_next = 0;
                c.seen.clear();
            }
            Ok(r)
        }
        Object::VirtualDir(v) => match pos {
            SeekFrom::Start(n) => {
                v.pos
                    .store(usize::try_from(n).unwrap_or(usize::MAX), Ordering::Relaxed);
                Ok(n)
            }
            SeekFrom::Current(0) => Ok(v.pos.load(Ordering::Relaxed) as u64),
            _ => Err(Errno::INVAL.into()),
        },
        // /dev/null and the other devices: every seek succeeds at 0; an
        // inotify instance's too (Linux's noop_llseek).
        Object::Null { .. } | Object::Device { .. } | Object::Inotify(_) => Ok(0),
        Object::MsgQueue(d) => posix_mq::seek(d, pos),
        Object::Socket(_)
        | Object::Pipe(_)
        | Object::EventFd(_)
        | Object::Epoll(_)
        | Object::TimerFd(_)
        | Object::SignalFd(_)
        | Object::PidFd(_) => Err(Errno::SPIPE.into()),
    }
}

/// fadvise64: advice about a file's future reads, which the runner does
/// not need. Checked as Linux checks it, then ignored (Linux may ignore
/// it too).
pub fn fadvise64(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    /// POSIX_FADV_NORMAL .. POSIX_FADV_NOREUSE.
    const MAX_ADVICE: u64 = 5;
    let obj = ctx.process.fds.get(a[0])?;
    if matches!(&*obj, Object::Pipe(_)) {
        return Err(Errno::SPIPE.into());
    }
    if (a[2] as i64) < 0 || a[3] as u32 as u64 > MAX_ADVICE {
        return Err(Errno::INVAL.into());
    }
    Ok(0)
}

/// readahead(fd, offset, count): a hint to bring a file's pages into the
/// page cache, which is the host's. Checked as Linux checks it (EBADF
/// unless open for reading, EINVAL for what is not a file), then left to
/// the host's own readahead.
pub fn readahead(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let obj = ctx.process.fds.get(a[0])?;
    match &*obj {
        Object::File(f) if f.readable => Ok(0),
        Object::File(_) => Err(Errno::BADF.into()),
        _ => Err(Errno::INVAL.into()),
    }
}

//! splice, tee and vmsplice: bytes moved between a pipe of the process and another
//! descriptor, or between two pipes, without passing through the
//! program's buffers. The process's pipes are runner buffers
//! (kernel/pipe_buffer.rs), so the runner moves the bytes itself, with
//! the rules of the calls it stands for: reading a file, a standard stream
//! or a socket as `read` does (a standard stream or socket waits for data
//! first), writing as sendfile does (within `bytes_written`, SIGPIPE
//! into a closed pipe or connection), and a pipe that is empty or full
//! waiting, or EAGAIN with SPLICE_F_NONBLOCK or an O_NONBLOCK end.
//!
//! A splice out of a pipe looks at the bytes first and takes from the
//! pipe only what was written, so a short write loses nothing.

use super::common::*;
use super::copy::{offset_at, send_all, sink, source, Sink};
use super::{file_pages, readiness, signals, sleep, Args, Ctx, SyscallResult};
use crate::abi::constants::POLLIN;
use crate::abi::Errno;
use crate::kernel::fds::Object;
use crate::kernel::pipe_buffer::PipeEnd;
use crate::tunnel::GuestPtr;
use rustix::fd::AsFd;
use std::io::Read;

/// SPLICE_F_MOVE, SPLICE_F_NONBLOCK, SPLICE_F_MORE, SPLICE_F_GIFT.
const SPLICE_FLAGS: u64 = 0xf;
const SPLICE_F_NONBLOCK: u64 = 2;
/// The most one call moves through the runner.
const CHUNK: usize = 1 << 16;

pub fn splice(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (in_fd, off_in, out_fd, off_out, len, flags) = (
        a[0],
        GuestPtr::new(a[1]),
        a[2],
        GuestPtr::new(a[3]),
        a[4],
        a[5],
    );
    if flags & !SPLICE_FLAGS != 0 {
        return Err(Errno::INVAL.into());
    }
    let nonblock = flags & SPLICE_F_NONBLOCK != 0;
    let inp = ctx.process.fds.get(in_fd)?;
    let out = ctx.process.fds.get(out_fd)?;
    match (&*inp, &*out) {
        (Object::Pipe(r), Object::Pipe(w)) => {
            if off_in.addr() != 0 || off_out.addr() != 0 {
                return Err(Errno::SPIPE.into());
            }
            ends(r, w)?;
            if r.same_pipe(w) {
                return Err(Errno::INVAL.into());
            }
            pipe_to_pipe(ctx, r, w, len, nonblock, true)
        }
        (Object::Pipe(r), _) => {
            if off_in.addr() != 0 {
                return Err(Errno::SPIPE.into());
            }
            if r.write {
                return Err(Errno::BADF.into());
            }
            out_of_pipe(ctx, r, &out, off_out, len, nonblock)
        }
        (_, Object::Pipe(w)) => {
            if off_out.addr() != 0 {
                return Err(Errno::SPIPE.into());
            }
            if !w.write {
                return Err(Errno::BADF.into());
            }
            into_pipe(ctx, &inp, off_in, w, len, nonblock)
        }
        _ => Err(Errno::INVAL.into()),
    }
}

/// tee(fd_in, fd_out, len, flags): copies bytes from one pipe into another
/// and leaves them in the first.
pub fn tee(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (len, flags) = (a[2], a[3]);
    if flags & !SPLICE_FLAGS != 0 {
        return Err(Errno::INVAL.into());
    }
    let inp = ctx.process.fds.get(a[0])?;
    let out = ctx.process.fds.get(a[1])?;
    let (Object::Pipe(r), Object::Pipe(w)) = (&*inp, &*out) else {
        return Err(Errno::INVAL.into());
    };
    ends(r, w)?;
    if r.same_pipe(w) {
        return Err(Errno::INVAL.into());
    }
    pipe_to_pipe(ctx, r, w, len, flags & SPLICE_F_NONBLOCK != 0, false)
}

/// `r` must be a read end and `w` a write end.
fn ends(r: &PipeEnd, w: &PipeEnd) -> Result<(), Errno> {
    if r.write || !w.write {
        return Err(Errno::BADF);
    }
    Ok(())
}

/// EAGAIN for a call that may not wait, else a wait until another thread
/// makes a syscall (then the call starts again).
fn wait_or_again(nonblock: bool) -> SyscallResult {
    if nonblock {
        Err(Errno::AGAIN.into())
    } else {
        sleep::hang()
    }
}

/// Whether `r` has bytes for the call; Err: what the call returns now (0 at
/// the end of the pipe, EAGAIN, or a wait).
fn ready_to_read(r: &PipeEnd, nonblock: bool) -> Result<(), SyscallResult> {
    if r.available() > 0 {
        return Ok(());
    }
    if r.writers() == 0 {
        return Err(Ok(0));
    }
    Err(wait_or_again(nonblock || r.nonblocking()))
}

/// Room in `w` for the call; Err: what the call returns now (SIGPIPE,
/// EAGAIN or a wait).
fn room_to_write(ctx: &mut Ctx<'_>, w: &PipeEnd, nonblock: bool) -> Result<usize, SyscallResult> {
    if w.readers() == 0 {
        return Err(signals::broken_pipe(ctx));
    }
    match w.space() {
        0 => Err(wait_or_again(nonblock || w.nonblocking())),
        n => Ok(n),
    }
}

/// splice between two pipes (`take`: the bytes leave `r`) or tee.
fn pipe_to_pipe(
    ctx: &mut Ctx<'_>,
    r: &PipeEnd,
    w: &PipeEnd,
    len: u64,
    nonblock: bool,
    take: bool,
) -> SyscallResult {
    if len == 0 {
        return Ok(0);
    }
    if let Err(now) = ready_to_read(r, nonblock) {
        return now;
    }
    let room = match room_to_write(ctx, w, nonblock) {
        Ok(n) => n,
        Err(now) => return now,
    };
    let n = usize::try_from(len).unwrap_or(usize::MAX).min(room);
    let data = if take { r.take(n) } else { r.peek(n) };
    let moved = data.len() as u64;
    w.push(data);
    Ok(moved)
}

/// splice from a file, standard stream or socket into the pipe `w`.
fn into_pipe(
    ctx: &mut Ctx<'_>,
    inp: &Object,
    off_in: GuestPtr,
    w: &PipeEnd,
    len: u64,
    nonblock: bool,
) -> SyscallResult {
    let offset = offset_at(ctx, off_in)?;
    if offset.is_some() && !matches!(inp, Object::File(_)) {
        return Err(Errno::SPIPE.into());
    }
    let fd = match inp {
        Object::Socket(s) => {
            if !nonblock {
                readiness::wait_unless_ready(ctx, s.fd.as_fd(), POLLIN)?;
            }
            Some(s.fd.as_fd())
        }
        Object::File(f) if !f.readable => return Err(Errno::BADF.into()),
        other => match source(other) {
            Ok(fd) => fd,
            Err(Errno::INVAL) => return Err(Errno::INVAL.into()),
            Err(_) => return Err(Errno::BADF.into()),
        },
    };
    if len == 0 {
        return Ok(0);
    }
    let room = match room_to_write(ctx, w, nonblock) {
        Ok(n) => n,
        Err(now) => return now,
    };
    let Some(fd) = fd else {
        // /dev/null: the end of the data at once.
        return Ok(0);
    };
    if matches!(inp, Object::Stdio { .. }) && !nonblock {
        readiness::wait_unless_ready(ctx, fd, POLLIN)?;
    }
    let want = usize::try_from(len)
        .unwrap_or(usize::MAX)
        .min(room)
        .min(CHUNK);
    let mut buf = vec![0u8; want];
    let n = HostIo::new(fd, offset)
        .read(&mut buf)
        .map_err(|e| host_errno(&e))?;
    buf.truncate(n);
    file_pages::after_read_buffer(ctx, inp, offset, &mut buf);
    if let Some(o) = offset {
        ctx.tunnel()
            .write(off_in, &(o + n as u64).to_le_bytes())
            .map_err(|_| Errno::FAULT)?;
    }
    w.push(buf);
    Ok(n as u64)
}

/// splice from the pipe `r` into a file, standard stream or socket.
fn out_of_pipe(
    ctx: &mut Ctx<'_>,
    r: &PipeEnd,
    out: &Object,
    off_out: GuestPtr,
    len: u64,
    nonblock: bool,
) -> SyscallResult {
    let offset = offset_at(ctx, off_out)?;
    if offset.is_some() && !matches!(out, Object::File(_)) {
        return Err(Errno::SPIPE.into());
    }
    let target = match out {
        Object::File(f) if !f.writable => return Err(Errno::BADF.into()),
        other => sink(other)?,
    };
    if len == 0 {
        return Ok(0);
    }
    if let Err(now) = ready_to_read(r, nonblock) {
        return now;
    }
    let mut want = usize::try_from(len).unwrap_or(usize::MAX).min(CHUNK) as u64;
    if matches!(target, Sink::Host(_)) {
        want = ctx.kernel.budget.grant(want)?;
    }
    let data = r.peek(want as usize);
    let sent = match (&target, offset) {
        (Sink::Host(fd), Some(at)) => {
            use std::io::Write;
            HostIo::new(*fd, Some(at))
                .write(&data)
                .map_err(|e| host_errno(&e))?
        }
        _ => {
            let deadline = ctx.kernel.clock.deadline;
            let group = ctx.process.threads.clone();
            let give_up = move || std::time::Instant::now() >= deadline || group.is_ending();
            match send_all(&target, &data, &give_up) {
                Ok(k) => k,
                Err(Errno::PIPE) => return signals::broken_pipe(ctx),
                Err(e) => return Err(e.into()),
            }
        }
    };
    if matches!(target, Sink::Host(_)) {
        ctx.kernel.budget.consume(sent as u64);
    }
    r.take(sent);
    file_pages::after_write(
        ctx,
        out,
        offset,
        file_pages::Written::Runner(&data[..sent]),
        sent as u64,
    );
    if let Some(o) = offset {
        ctx.tunnel()
            .write(off_out, &(o + sent as u64).to_le_bytes())
            .map_err(|_| Errno::FAULT)?;
    }
    Ok(sent as u64)
}

/// vmsplice(fd, iov, nr_segs, flags): the program's memory into a pipe's
/// write end (as writev: the runner copies the bytes, so SPLICE_F_GIFT
/// gives nothing away) or out of a read end into its memory (as readv).
/// Waits as a pipe read or write does, or EAGAIN with SPLICE_F_NONBLOCK
/// or an O_NONBLOCK end; anything but a pipe is EBADF, as on Linux.
pub fn vmsplice(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (fd, iov, segs, flags) = (a[0], a[1], a[2], a[3] as u32 as u64);
    if flags & !SPLICE_FLAGS != 0 {
        return Err(Errno::INVAL.into());
    }
    let obj = ctx.process.fds.get(fd)?;
    let Object::Pipe(end) = &*obj else {
        return Err(Errno::BADF.into());
    };
    let access = if end.write {
        crate::tunnel::Access::Read
    } else {
        crate::tunnel::Access::Write
    };
    let parts = read_iovecs(ctx, iov, segs, access)?;
    if flags & SPLICE_F_NONBLOCK != 0 && total(&parts) > 0 {
        let blocked = if end.write {
            end.space() == 0 && end.readers() > 0
        } else {
            end.available() == 0 && end.writers() > 0
        };
        if blocked {
            return Err(Errno::AGAIN.into());
        }
    }
    if end.write {
        super::pipe::write_parts(ctx, end, &parts)
    } else {
        super::pipe::read_parts(ctx, end, &parts)
    }
}

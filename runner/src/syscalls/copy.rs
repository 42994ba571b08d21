//! sendfile and copy_file_range between the process's own descriptors
//! (the guest memory is not involved).
//!
//! sendfile goes through a runner buffer, or is made by the host kernel
//! on the runner's own descriptors when the runner need not see the
//! bytes: a file into a file or a host /dev/null, where no process of the
//! sandbox maps either file shared ([`direct_pair`]). busybox `cat` tries
//! it first. copy_file_range is always the host's ([`copy_file_range`]).
//!
//! The input is a file or a standard stream (a disconnected stdin is
//! /dev/null: nothing to send); pipes, sockets and directories as input are
//! EINVAL, as Linux answers for what it cannot splice, and callers fall
//! back to read/write. The output is a file, a standard stream or a socket;
//! the write end of a pipe of the process is EINVAL (callers fall back).
//! Bytes sent to a file or a standard stream count against
//! `bytes_written`; a send with no reader raises SIGPIPE.

use super::common::*;
use super::{file_pages, signals, Args, Ctx, SyscallResult};
use crate::abi::Errno;
use crate::kernel::fds::Object;
use crate::tunnel::GuestPtr;
use rustix::fd::{AsFd, BorrowedFd};
use rustix::net::SendFlags;
use std::io::{Read, Write};

/// Largest chunk moved per call through the runner's buffer (a short
/// transfer, as Linux allows).
const CHUNK: u64 = 1 << 16;
/// Largest chunk the host kernel moves per call when neither side needs
/// the runner to see the bytes ([`direct_pair`]).
const DIRECT_CHUNK: u64 = 8 << 20;

/// Where the bytes go.
pub(super) enum Sink<'a> {
    /// A host fd, counted against bytes_written.
    Host(BorrowedFd<'a>),
    Socket(BorrowedFd<'a>),
    /// /dev/null.
    Discard,
}

pub(super) fn sink(out: &Object) -> Result<Sink<'_>, Errno> {
    Ok(match out {
        Object::Stdio { stream, host, .. } if stream.writable() => Sink::Host(host.as_fd()),
        Object::Null { stream } if stream.writable() => Sink::Discard,
        // A memfd's writes are charged by the page (syscalls/memfd.rs):
        // callers fall back to write.
        Object::File(f) if f.memfd => return Err(Errno::INVAL),
        Object::File(f) if f.writable => Sink::Host(f.fd.as_fd()),
        Object::Socket(s) => Sink::Socket(s.fd.as_fd()),
        // Into a pipe of the process: not supported; programs fall back.
        Object::Pipe(p) if p.write => return Err(Errno::INVAL),
        _ => return Err(Errno::BADF),
    })
}

/// Where the bytes come from: None for /dev/null (end of file at once).
pub(super) fn source(inp: &Object) -> Result<Option<BorrowedFd<'_>>, Errno> {
    Ok(match inp {
        Object::Stdio { stream, host, .. } if stream.readable() => Some(host.as_fd()),
        Object::Null { stream } if stream.readable() => None,
        Object::File(f) if f.readable => Some(f.fd.as_fd()),
        // Linux accepts only what it can map or splice from.
        Object::Pipe(p) if !p.write => return Err(Errno::INVAL),
        Object::Socket(_) | Object::Dir(_) | Object::VirtualDir(_) | Object::Inotify(_) => {
            return Err(Errno::INVAL)
        }
        _ => return Err(Errno::BADF),
    })
}

/// Writes all of `buf` (the bytes have been consumed from the input);
/// returns how much went out before an error, if any did. A host write
/// that blocks (a pipe nobody reads, a TCP peer that stopped reading) is
/// interrupted by the thread's kick timer; `give_up` then says whether the
/// run is over (its wall-clock limit passed, or its thread group is
/// ending): if so the call returns at once (EINTR when nothing went out)
/// and the run loop ends the run; otherwise the write is retried.
pub(super) fn send_all(
    sink: &Sink<'_>,
    buf: &[u8],
    give_up: &dyn Fn() -> bool,
) -> Result<usize, Errno> {
    let mut done = 0;
    while done < buf.len() {
        let r = match sink {
            Sink::Host(fd) => HostIo::new(*fd, None)
                .write(&buf[done..])
                .map_err(|e| host_errno(&e)),
            Sink::Socket(fd) => rustix::net::send(*fd, &buf[done..], SendFlags::NOSIGNAL),
            Sink::Discard => Ok(buf.len() - done),
        };
        match r {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(Errno::INTR) if give_up() => {
                return if done == 0 {
                    Err(Errno::INTR)
                } else {
                    Ok(done)
                };
            }
            Err(Errno::INTR) => {}
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

/// The host descriptors of a transfer the host kernel can make itself
/// (host sendfile, no copy through the runner): a readable file whose
/// pages no process of the sandbox maps shared, into a file that none
/// maps either, or into a host /dev/null (a standard stream redirected
/// there). Writes into anything that may block (pipes, terminals,
/// sockets) keep the buffered path, whose waits the run loop can end.
fn direct_pair<'o>(
    ctx: &mut Ctx<'_>,
    inp: &'o Object,
    out: &'o Object,
) -> Option<(BorrowedFd<'o>, BorrowedFd<'o>)> {
    let Object::File(f) = inp else {
        return None;
    };
    if !f.readable || file_pages::shared_file(ctx, inp).is_some() {
        return None;
    }
    let to = match out {
        Object::Stdio { stream, host, .. } if stream.writable() => host.as_fd(),
        Object::File(o) if o.writable && !o.memfd => {
            if file_pages::shared_file(ctx, out).is_some() {
                return None;
            }
            o.fd.as_fd()
        }
        _ => return None,
    };
    let st = rustix::fs::fstat(to).ok()?;
    let kind = rustix::fs::FileType::from_raw_mode(st.st_mode);
    let dev_null = kind == rustix::fs::FileType::CharacterDevice
        && rustix::fs::major(st.st_rdev) == 1
        && rustix::fs::minor(st.st_rdev) == 3;
    (kind == rustix::fs::FileType::RegularFile || dev_null).then_some((f.fd.as_fd(), to))
}

fn transfer(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (out_fd, in_fd, offp, count) = (a[0], a[1], GuestPtr::new(a[2]), a[3]);
    let out = ctx.process.fds.get(out_fd)?;
    let inp = ctx.process.fds.get(in_fd)?;
    let offset = offset_at(ctx, offp)?;
    // The out side must be writable before anything is read.
    let sink = sink(&out)?;
    let src = source(&inp)?;
    let direct = direct_pair(ctx, &inp, &out);
    let mut want = count.min(if direct.is_some() {
        DIRECT_CHUNK
    } else {
        CHUNK
    });
    if want == 0 {
        return Ok(0);
    }
    if matches!(sink, Sink::Host(_)) {
        want = ctx.kernel.budget.grant(want)?;
    }
    let mut host_offset = offset;
    let direct_sent = direct
        .map(|(from, to)| rustix::fs::sendfile(to, from, host_offset.as_mut(), want as usize));
    let sent = match (src, direct_sent) {
        (_, Some(Ok(n))) => {
            ctx.kernel.budget.consume(n as u64);
            n
        }
        // (The host refuses some pairs the check lets through, an
        // O_APPEND file: the buffered path serves those.)
        (_, Some(Err(e))) if e != Errno::INVAL => return Err(e.into()),
        (None, _) => 0,
        (Some(fd), _) => {
            // A standard stream may block: not with the kernel lock held
            // when another thread could need it (readiness.rs).
            if matches!(&*inp, Object::Stdio { .. }) {
                super::readiness::wait_unless_ready(ctx, fd, crate::abi::constants::POLLIN)?;
            }
            let mut buf = vec![0u8; want as usize];
            let n = HostIo::new(fd, offset)
                .read(&mut buf)
                .map_err(|e| host_errno(&e))?;
            buf.truncate(n);
            file_pages::after_read_buffer(ctx, &inp, offset, &mut buf);
            let deadline = ctx.kernel.clock.deadline;
            let group = ctx.process.threads.clone();
            let give_up = move || std::time::Instant::now() >= deadline || group.is_ending();
            let sent = match send_all(&sink, &buf, &give_up) {
                Ok(k) => k,
                Err(Errno::PIPE) => return signals::broken_pipe(ctx),
                Err(e) => return Err(e.into()),
            };
            if matches!(sink, Sink::Host(_)) {
                ctx.kernel.budget.consume(sent as u64);
            }
            file_pages::after_write(
                ctx,
                &out,
                None,
                file_pages::Written::Runner(&buf[..sent]),
                sent as u64,
            );
            sent
        }
    };
    if let Some(o) = offset {
        let new = o + sent as u64;
        ctx.tunnel()
            .write(offp, &new.to_le_bytes())
            .map_err(|_| Errno::FAULT)?;
    }
    Ok(sent as u64)
}

pub fn sendfile(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    transfer(ctx, a)
}

/// An offset a call reads from the program (`ptr` 0: none, the
/// descriptor's position is used).
pub(super) fn offset_at(ctx: &mut Ctx<'_>, ptr: GuestPtr) -> Result<Option<u64>, Errno> {
    if ptr.addr() == 0 {
        return Ok(None);
    }
    match ctx.tunnel().read_u64(ptr) {
        Ok(o) if (o as i64) >= 0 => Ok(Some(o)),
        Ok(_) => Err(Errno::INVAL),
        Err(_) => Err(Errno::FAULT),
    }
}

/// copy_file_range(fd_in, off_in, fd_out, off_out, len, flags): between
/// two files of the process, by the host kernel on the runner's
/// descriptors (Linux's checks: flags 0, the input readable, the output
/// writable and not in append mode, the same file's ranges not
/// overlapping), at most 8 MiB a call, within bytes_written. Where a
/// process of the sandbox maps either file shared, or the output is a
/// memfd, EXDEV: programs then copy with read and write (as glibc's and
/// coreutils' callers do for files on two file systems), which keep the
/// mappings coherent.
pub fn copy_file_range(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (in_fd, out_fd, len, flags) = (a[0], a[2], a[4], a[5]);
    if flags != 0 {
        return Err(Errno::INVAL.into());
    }
    let inp = ctx.process.fds.get(in_fd)?;
    let out = ctx.process.fds.get(out_fd)?;
    let (from, to) = match (&*inp, &*out) {
        (Object::File(i), Object::File(o)) => (i, o),
        (Object::Dir(_) | Object::VirtualDir(_), _)
        | (_, Object::Dir(_) | Object::VirtualDir(_)) => return Err(Errno::ISDIR.into()),
        _ => return Err(Errno::INVAL.into()),
    };
    if !from.readable || !to.writable {
        return Err(Errno::BADF.into());
    }
    let append = rustix::fs::fcntl_getfl(&to.fd)?.contains(rustix::fs::OFlags::APPEND);
    if append {
        return Err(Errno::BADF.into());
    }
    let mut off_in = offset_at(ctx, GuestPtr::new(a[1]))?;
    let mut off_out = offset_at(ctx, GuestPtr::new(a[3]))?;
    if len == 0 {
        return Ok(0);
    }
    let shared = file_pages::shared_file(ctx, &inp).is_some()
        || file_pages::shared_file(ctx, &out).is_some();
    if shared || to.memfd {
        return Err(Errno::XDEV.into());
    }
    let want = ctx.kernel.budget.grant(len.min(DIRECT_CHUNK))?;
    let n = rustix::fs::copy_file_range(
        &from.fd,
        off_in.as_mut(),
        &to.fd,
        off_out.as_mut(),
        want as usize,
    )?;
    ctx.kernel.budget.consume(n as u64);
    for (ptr, off) in [(a[1], off_in), (a[3], off_out)] {
        if let Some(o) = off {
            ctx.tunnel()
                .write(GuestPtr::new(ptr), &o.to_le_bytes())
                .map_err(|_| Errno::FAULT)?;
        }
    }
    Ok(n as u64)
}

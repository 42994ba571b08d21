//! Pipes inside one process (pipe, pipe2): a bounded buffer in the runner,
//! never a host pipe. Both ends live in the guest's descriptor table; the
//! counts of open read and write ends decide EOF and EPIPE.
//!
//! One process cannot wait for itself: a blocking read of an empty pipe
//! whose write end is still open, or a blocking write to a full pipe, can
//! never finish. As on Linux the process then hangs: the runner waits for
//! the wall-clock limit, which ends the run (status 137).

use super::errno::*;
use super::fds::FdEntry;
use super::{sleep, Args, Ctx, Outcome};
use crate::tunnel::{Access, GuestPtr};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

/// Capacity of one pipe (Linux's default, 16 pages).
pub const PIPE_CAPACITY: usize = 65536;
const O_NONBLOCK: u64 = 0o4000;
const O_CLOEXEC: u64 = 0o2000000;
const O_DIRECT: u64 = 0o40000;

/// The shared buffer of one pipe.
#[derive(Debug, Default)]
pub struct Pipe {
    buf: VecDeque<u8>,
    readers: usize,
    writers: usize,
}

/// One open end of a pipe (a descriptor, or a duplicate of one). Dropping
/// it closes that end.
#[derive(Debug)]
pub struct PipeEnd {
    pipe: Rc<RefCell<Pipe>>,
    pub write: bool,
    /// Status flags (O_NONBLOCK) of the open file description, shared by
    /// duplicates.
    pub flags: Rc<Cell<u64>>,
}

impl PipeEnd {
    fn new(pipe: &Rc<RefCell<Pipe>>, write: bool, flags: &Rc<Cell<u64>>) -> PipeEnd {
        {
            let mut p = pipe.borrow_mut();
            if write {
                p.writers += 1;
            } else {
                p.readers += 1;
            }
        }
        PipeEnd {
            pipe: pipe.clone(),
            write,
            flags: flags.clone(),
        }
    }

    /// A duplicate sharing the description (dup, dup2, fcntl F_DUPFD).
    pub fn duplicate(&self) -> PipeEnd {
        PipeEnd::new(&self.pipe, self.write, &self.flags)
    }

    pub fn nonblocking(&self) -> bool {
        self.flags.get() & O_NONBLOCK != 0
    }

    /// Bytes waiting to be read.
    pub fn available(&self) -> usize {
        self.pipe.borrow().buf.len()
    }

    /// (readable now, writable now, the other side is closed) for poll.
    pub fn readiness(&self) -> (bool, bool, bool) {
        let p = self.pipe.borrow();
        if self.write {
            (
                false,
                p.buf.len() < PIPE_CAPACITY || p.readers == 0,
                p.readers == 0,
            )
        } else {
            (!p.buf.is_empty() || p.writers == 0, false, p.writers == 0)
        }
    }
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let mut p = self.pipe.borrow_mut();
        if self.write {
            p.writers = p.writers.saturating_sub(1);
        } else {
            p.readers = p.readers.saturating_sub(1);
        }
    }
}

/// A new pipe: (read end, write end).
pub fn new_pipe(flags: u64) -> (PipeEnd, PipeEnd) {
    let pipe = Rc::new(RefCell::new(Pipe::default()));
    let rflags = Rc::new(Cell::new(flags & O_NONBLOCK));
    let wflags = Rc::new(Cell::new(flags & O_NONBLOCK));
    (
        PipeEnd::new(&pipe, false, &rflags),
        PipeEnd::new(&pipe, true, &wflags),
    )
}

pub fn pipe(ctx: &mut Ctx<'_>, a: &Args) -> Outcome {
    pipe2(ctx, &[a[0], 0, 0, 0, 0, 0])
}

pub fn pipe2(ctx: &mut Ctx<'_>, a: &Args) -> Outcome {
    let (fds, flags) = (GuestPtr::new(a[0]), a[1]);
    if flags & !(O_NONBLOCK | O_CLOEXEC | O_DIRECT) != 0 {
        return Outcome::err(EINVAL);
    }
    if ctx.tunnel().check(fds, 8, Access::Write).is_err() {
        return Outcome::err(EFAULT);
    }
    let limit = ctx.state.run.fd_limit();
    let (r, w) = new_pipe(flags);
    let Some(rfd) = ctx.state.fds.insert_lowest(0, FdEntry::Pipe(r), limit) else {
        return Outcome::err(EMFILE);
    };
    let Some(wfd) = ctx.state.fds.insert_lowest(0, FdEntry::Pipe(w), limit) else {
        drop(ctx.state.fds.remove(rfd));
        return Outcome::err(EMFILE);
    };
    if flags & O_CLOEXEC != 0 {
        ctx.state.fds.set_cloexec(rfd, true);
        ctx.state.fds.set_cloexec(wfd, true);
    }
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&(rfd as u32).to_le_bytes());
    out[4..].copy_from_slice(&(wfd as u32).to_le_bytes());
    if ctx.tunnel().write(fds, &out).is_err() {
        drop(ctx.state.fds.remove(rfd));
        drop(ctx.state.fds.remove(wfd));
        return Outcome::err(EFAULT);
    }
    Outcome::ok(0)
}

fn pipe_end(ctx: &mut Ctx<'_>, fd: u64) -> Option<(Rc<RefCell<Pipe>>, bool, bool)> {
    match ctx.state.fds.get(fd) {
        Some(FdEntry::Pipe(end)) => Some((end.pipe.clone(), end.write, end.nonblocking())),
        _ => None,
    }
}

/// `read` when `fd` is a pipe; None when it is not one.
pub fn try_read(ctx: &mut Ctx<'_>, fd: u64, buf: GuestPtr, len: u64) -> Option<Outcome> {
    let (pipe, write, nonblock) = pipe_end(ctx, fd)?;
    if write {
        return Some(Outcome::err(EBADF));
    }
    if ctx.tunnel().check(buf, len, Access::Write).is_err() {
        return Some(Outcome::err(EFAULT));
    }
    if len == 0 {
        return Some(Outcome::ok(0));
    }
    let (empty, writers) = {
        let p = pipe.borrow();
        (p.buf.is_empty(), p.writers)
    };
    if empty {
        if writers == 0 {
            return Some(Outcome::ok(0));
        }
        if nonblock {
            return Some(Outcome::err(EAGAIN));
        }
        return Some(sleep::hang(ctx));
    }
    let chunk: Vec<u8> = {
        let mut p = pipe.borrow_mut();
        let n = p.buf.len().min(usize::try_from(len).unwrap_or(usize::MAX));
        p.buf.drain(..n).collect()
    };
    match ctx.tunnel().write(buf, &chunk) {
        Ok(()) => Some(Outcome::ok(chunk.len() as u64)),
        Err(_) => Some(Outcome::err(EFAULT)),
    }
}

/// `write`/`writev` when `fd` is a pipe: `parts` are checked guest ranges.
/// None when `fd` is not a pipe.
pub fn try_write(ctx: &mut Ctx<'_>, fd: u64, parts: &[(GuestPtr, u64)]) -> Option<Outcome> {
    let (pipe, write, nonblock) = pipe_end(ctx, fd)?;
    if !write {
        return Some(Outcome::err(EBADF));
    }
    let mut total: u64 = 0;
    for &(p, l) in parts {
        if ctx.tunnel().check(p, l, Access::Read).is_err() {
            return Some(Outcome::err(EFAULT));
        }
        total = total.saturating_add(l);
    }
    let (space, readers) = {
        let p = pipe.borrow();
        (PIPE_CAPACITY - p.buf.len().min(PIPE_CAPACITY), p.readers)
    };
    if readers == 0 {
        return Some(super::signals::broken_pipe(ctx));
    }
    if total == 0 {
        return Some(Outcome::ok(0));
    }
    if space == 0 {
        if nonblock {
            return Some(Outcome::err(EAGAIN));
        }
        return Some(sleep::hang(ctx));
    }
    let n = (space as u64).min(total);
    let mut data = vec![0u8; n as usize];
    let mut done = 0usize;
    for &(p, l) in parts {
        if done == data.len() {
            break;
        }
        let take = (l as usize).min(data.len() - done);
        if ctx.tunnel().read(p, &mut data[done..done + take]).is_err() {
            return Some(Outcome::err(EFAULT));
        }
        done += take;
    }
    pipe.borrow_mut().buf.extend(data);
    Some(Outcome::ok(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_count_and_readiness() {
        let (r, w) = new_pipe(0);
        assert_eq!(r.readiness(), (false, false, false));
        assert_eq!(w.readiness(), (false, true, false));
        let r2 = r.duplicate();
        drop(r);
        assert_eq!(w.readiness(), (false, true, false));
        drop(r2);
        assert_eq!(w.readiness(), (false, true, true), "no reader left");
        let (r, w) = new_pipe(O_NONBLOCK);
        assert!(r.nonblocking() && w.nonblocking());
        drop(w);
        assert_eq!(r.readiness(), (true, false, true), "EOF is readable");
    }
}

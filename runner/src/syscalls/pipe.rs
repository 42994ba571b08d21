//! Pipes inside one process (pipe, pipe2): a bounded buffer in the runner,
//! never a host pipe. Both ends are `Object::Pipe`s in the guest's
//! descriptor table (dup shares an end's open file description, as for any
//! other object); the counts of open read and write ends decide EOF and
//! EPIPE.
//!
//! One process cannot wait for itself: a blocking read of an empty pipe
//! whose write end is still open, or a blocking write to a full pipe, can
//! never finish. As on Linux the process then hangs: the runner waits for
//! the wall-clock limit, which ends the run (status 137).

use super::common::*;
use super::fds::Object;
use super::{signals, sleep, Args, Ctx, SyscallResult};
use crate::abi::constants::{O_CLOEXEC, O_DIRECT, O_NONBLOCK, O_WRONLY};
use crate::tunnel::{Access, GuestPtr};
use rustix::io::Errno;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Capacity of one pipe (Linux's default, 16 pages).
pub const PIPE_CAPACITY: usize = 65536;

/// Numbers the pipes of a run (their inode number in fstat).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The shared buffer of one pipe.
#[derive(Debug, Default)]
pub struct Pipe {
    id: u64,
    buf: VecDeque<u8>,
    readers: usize,
    writers: usize,
}

/// One open end of a pipe (an open file description: every descriptor
/// dup'ed from it shares it, and its status flags). Dropping it closes
/// that end.
#[derive(Debug)]
pub struct PipeEnd {
    pipe: Rc<RefCell<Pipe>>,
    pub write: bool,
    /// Status flags (O_NONBLOCK) of the open file description.
    flags: Cell<u32>,
}

impl PipeEnd {
    fn new(pipe: &Rc<RefCell<Pipe>>, write: bool, flags: u32) -> PipeEnd {
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
            flags: Cell::new(flags & O_NONBLOCK),
        }
    }

    pub fn nonblocking(&self) -> bool {
        self.flags.get() & O_NONBLOCK != 0
    }

    pub fn set_nonblocking(&self, on: bool) {
        self.flags.set(if on { O_NONBLOCK } else { 0 });
    }

    /// F_GETFL's answer without O_LARGEFILE: the access mode and O_NONBLOCK.
    pub fn status_flags(&self) -> u32 {
        (if self.write { O_WRONLY } else { 0 }) | self.flags.get()
    }

    /// The pipe's number (its inode number in fstat; both ends share it).
    pub fn id(&self) -> u64 {
        self.pipe.borrow().id
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
pub fn new_pipe(flags: u32) -> (PipeEnd, PipeEnd) {
    let pipe = Rc::new(RefCell::new(Pipe {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        ..Pipe::default()
    }));
    (
        PipeEnd::new(&pipe, false, flags),
        PipeEnd::new(&pipe, true, flags),
    )
}

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
    let (r, w) = new_pipe(flags);
    let rfd = ctx.state.fds.insert(Rc::new(Object::Pipe(r)), cloexec, 0)?;
    let wfd = match ctx.state.fds.insert(Rc::new(Object::Pipe(w)), cloexec, 0) {
        Ok(fd) => fd,
        Err(e) => {
            ctx.state.fds.close(rfd)?;
            return Err(e.into());
        }
    };
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&(rfd as u32).to_le_bytes());
    out[4..].copy_from_slice(&(wfd as u32).to_le_bytes());
    if ctx.tunnel().write(fds, &out).is_err() {
        ctx.state.fds.close(rfd)?;
        ctx.state.fds.close(wfd)?;
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
    let (empty, writers) = {
        let p = end.pipe.borrow();
        (p.buf.is_empty(), p.writers)
    };
    if empty {
        if writers == 0 {
            return Ok(0);
        }
        if end.nonblocking() {
            return Err(Errno::AGAIN.into());
        }
        return sleep::hang(ctx);
    }
    let chunk: Vec<u8> = {
        let mut p = end.pipe.borrow_mut();
        let n = p.buf.len().min(usize::try_from(want).unwrap_or(usize::MAX));
        p.buf.drain(..n).collect()
    };
    let mut at = 0usize;
    for &(ptr, len) in parts {
        if at == chunk.len() {
            break;
        }
        let k = (len as usize).min(chunk.len() - at);
        ctx.tunnel()
            .write(ptr, &chunk[at..at + k])
            .map_err(|_| Errno::FAULT)?;
        at += k;
    }
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
    let (space, readers) = {
        let p = end.pipe.borrow();
        (PIPE_CAPACITY - p.buf.len().min(PIPE_CAPACITY), p.readers)
    };
    if readers == 0 {
        return signals::broken_pipe(ctx);
    }
    if space == 0 {
        if end.nonblocking() {
            return Err(Errno::AGAIN.into());
        }
        return sleep::hang(ctx);
    }
    let n = (space as u64).min(want) as usize;
    let mut data = vec![0u8; n];
    let mut at = 0usize;
    for &(ptr, len) in parts {
        if at == n {
            break;
        }
        let k = (len as usize).min(n - at);
        ctx.tunnel()
            .read(ptr, &mut data[at..at + k])
            .map_err(|_| Errno::FAULT)?;
        at += k;
    }
    end.pipe.borrow_mut().buf.extend(data);
    Ok(n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_count_and_readiness() {
        let (r, w) = new_pipe(0);
        let first = r.id();
        assert_eq!(r.readiness(), (false, false, false));
        assert_eq!(w.readiness(), (false, true, false));
        assert_eq!(r.id(), w.id());
        assert_eq!((r.status_flags(), w.status_flags()), (0, O_WRONLY));
        // Descriptors dup'ed from an end share it: the end closes with the
        // last of them.
        let shared = Rc::new(Object::Pipe(r));
        let dup = Rc::clone(&shared);
        drop(shared);
        assert_eq!(w.readiness(), (false, true, false));
        drop(dup);
        assert_eq!(w.readiness(), (false, true, true), "no reader left");
        let (r, w) = new_pipe(O_NONBLOCK);
        assert!(r.nonblocking() && w.nonblocking());
        assert_ne!(r.id(), first, "each pipe has its own number");
        w.set_nonblocking(false);
        assert!(!w.nonblocking() && r.nonblocking());
        drop(w);
        assert_eq!(r.readiness(), (true, false, true), "EOF is readable");
    }
}

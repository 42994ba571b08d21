//! The buffer of a pipe inside the sandbox and its two kinds of open
//! ends (`Object::Pipe` in the descriptor table). The pipe and pipe2
//! handlers and the reads and writes that move bytes between a pipe and
//! guest memory are `syscalls/pipe.rs`.

use super::lock;
use crate::abi::constants::{O_NONBLOCK, O_WRONLY};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Capacity of one pipe (Linux's default, 16 pages).
pub const PIPE_CAPACITY: usize = 65536;

/// Numbers the pipes of a run (their inode number in fstat).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A new identity (st_ino) for an object that lives only in the runner:
/// a pipe, an eventfd, an epoll instance.
pub fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

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
    pipe: Arc<Mutex<Pipe>>,
    pub write: bool,
    /// Status flags (O_NONBLOCK) of the open file description.
    flags: AtomicU32,
}

impl PipeEnd {
    fn new(pipe: &Arc<Mutex<Pipe>>, write: bool, flags: u32) -> PipeEnd {
        {
            let mut p = lock(pipe);
            if write {
                p.writers += 1;
            } else {
                p.readers += 1;
            }
        }
        PipeEnd {
            pipe: pipe.clone(),
            write,
            flags: AtomicU32::new(flags & O_NONBLOCK),
        }
    }

    pub fn nonblocking(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & O_NONBLOCK != 0
    }

    pub fn set_nonblocking(&self, on: bool) {
        self.flags
            .store(if on { O_NONBLOCK } else { 0 }, Ordering::Relaxed);
    }

    /// F_GETFL's answer without O_LARGEFILE: the access mode and O_NONBLOCK.
    pub fn status_flags(&self) -> u32 {
        (if self.write { O_WRONLY } else { 0 }) | self.flags.load(Ordering::Relaxed)
    }

    /// The pipe's number (its inode number in fstat; both ends share it).
    pub fn id(&self) -> u64 {
        lock(&self.pipe).id
    }

    /// Bytes waiting to be read.
    pub fn available(&self) -> usize {
        lock(&self.pipe).buf.len()
    }

    /// (readable now, writable now, the other side is closed) for poll.
    pub fn readiness(&self) -> (bool, bool, bool) {
        let p = lock(&self.pipe);
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
        let mut p = lock(&self.pipe);
        if self.write {
            p.writers = p.writers.saturating_sub(1);
        } else {
            p.readers = p.readers.saturating_sub(1);
        }
    }
}

/// A new pipe: (read end, write end).
pub fn new_pipe(flags: u32) -> (PipeEnd, PipeEnd) {
    let pipe = Arc::new(Mutex::new(Pipe {
        id: next_id(),
        ..Pipe::default()
    }));
    (
        PipeEnd::new(&pipe, false, flags),
        PipeEnd::new(&pipe, true, flags),
    )
}

impl PipeEnd {
    /// Open write ends of this pipe.
    pub fn writers(&self) -> usize {
        lock(&self.pipe).writers
    }

    /// Open read ends of this pipe.
    pub fn readers(&self) -> usize {
        lock(&self.pipe).readers
    }

    /// Room left before the pipe is full.
    pub fn space(&self) -> usize {
        PIPE_CAPACITY - lock(&self.pipe).buf.len().min(PIPE_CAPACITY)
    }

    /// Takes up to `max` bytes from the front of the buffer.
    pub fn take(&self, max: usize) -> Vec<u8> {
        let mut p = lock(&self.pipe);
        let n = p.buf.len().min(max);
        p.buf.drain(..n).collect()
    }

    /// Appends `data` (the caller checked `space`).
    pub fn push(&self, data: Vec<u8>) {
        lock(&self.pipe).buf.extend(data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::fds::Object;

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
        let shared = Arc::new(Object::Pipe(r));
        let dup = Arc::clone(&shared);
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

//! The buffer of a pipe inside the sandbox and its two kinds of open
//! ends (`Object::Pipe` in the descriptor table). The pipe and pipe2
//! handlers and the reads and writes that move bytes between a pipe and
//! guest memory are `syscalls/pipe.rs`.

use super::events::{Edges, Side};
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

/// What the pipes of a run may hold together: their bytes are runner
/// memory, outside the guest's `limits.memory`, so they are charged here
/// (a quarter of `limits.memory`: [`PipeBudget::for_memory`]). A write
/// that finds the budget spent waits, as one to a full pipe does.
#[derive(Debug)]
pub struct PipeBudget {
    used: AtomicU64,
    limit: u64,
}

impl PipeBudget {
    /// The budget of a run whose guest may use `memory` bytes: a quarter
    /// of it, at least one full pipe.
    pub fn for_memory(memory: u64) -> PipeBudget {
        PipeBudget {
            used: AtomicU64::new(0),
            limit: (memory / 4).max(PIPE_CAPACITY as u64),
        }
    }

    /// Bytes the pipes hold now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::SeqCst)
    }

    fn left(&self) -> u64 {
        self.limit.saturating_sub(self.used())
    }
}

impl Default for PipeBudget {
    fn default() -> PipeBudget {
        PipeBudget::for_memory(sandbox_policy::defaults::MEMORY_BYTES)
    }
}

/// The shared buffer of one pipe.
#[derive(Debug)]
pub struct Pipe {
    id: u64,
    buf: VecDeque<u8>,
    readers: usize,
    writers: usize,
    budget: Arc<PipeBudget>,
    /// A named pipe's (kernel/fifos.rs): it outlives its ends, and drops
    /// what it holds when the last one closes, as Linux frees a FIFO's
    /// buffer then.
    named: bool,
}

impl Pipe {
    /// Drops what the buffer holds, giving its bytes back to the budget.
    fn clear(&mut self) {
        self.budget
            .used
            .fetch_sub(self.buf.len() as u64, Ordering::SeqCst);
        self.buf = VecDeque::new();
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        self.budget
            .used
            .fetch_sub(self.buf.len() as u64, Ordering::SeqCst);
    }
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
    /// The pipe's edges, shared by its ends: every write is a read-side
    /// edge (as on Linux once the pipe is polled), a read of a full pipe a
    /// write-side one; so are nonblocking calls that found it not ready
    /// (syscalls/edges.rs).
    pub edges: Arc<Edges>,
}

impl PipeEnd {
    fn new(pipe: &Arc<Mutex<Pipe>>, edges: &Arc<Edges>, write: bool, flags: u32) -> PipeEnd {
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
            edges: edges.clone(),
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
                (p.buf.len() < PIPE_CAPACITY && p.budget.left() > 0) || p.readers == 0,
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
        if p.named && p.readers == 0 && p.writers == 0 {
            p.clear();
        }
    }
}

/// A pipe with no end open yet, its bytes charged to `budget`: a named
/// pipe's (kernel/fifos.rs), whose ends open one by one ([`PipeEnd::open`]).
#[derive(Debug, Clone)]
pub struct PipeCore {
    pipe: Arc<Mutex<Pipe>>,
    edges: Arc<Edges>,
}

impl PipeCore {
    /// A pipe, named (a FIFO's) or not.
    pub fn new(budget: &Arc<PipeBudget>, named: bool) -> PipeCore {
        PipeCore {
            pipe: Arc::new(Mutex::new(Pipe {
                id: next_id(),
                buf: VecDeque::new(),
                readers: 0,
                writers: 0,
                budget: budget.clone(),
                named,
            })),
            edges: Arc::new(Edges::default()),
        }
    }

    /// (open read ends, open write ends).
    pub fn ends(&self) -> (usize, usize) {
        let p = lock(&self.pipe);
        (p.readers, p.writers)
    }
}

impl PipeEnd {
    /// Opens one more end of `core`, for writing or reading.
    pub fn open(core: &PipeCore, write: bool, flags: u32) -> PipeEnd {
        PipeEnd::new(&core.pipe, &core.edges, write, flags)
    }
}

/// A new pipe: (read end, write end), its bytes charged to `budget`.
pub fn new_pipe(flags: u32, budget: &Arc<PipeBudget>) -> (PipeEnd, PipeEnd) {
    let core = PipeCore::new(budget, false);
    (
        PipeEnd::open(&core, false, flags),
        PipeEnd::open(&core, true, flags),
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

    /// Room left before the pipe is full, or the run's pipes hold all
    /// their budget allows.
    pub fn space(&self) -> usize {
        let p = lock(&self.pipe);
        let room = PIPE_CAPACITY - p.buf.len().min(PIPE_CAPACITY);
        room.min(usize::try_from(p.budget.left()).unwrap_or(usize::MAX))
    }

    /// Takes up to `max` bytes from the front of the buffer (an emptied
    /// buffer gives its memory back).
    pub fn take(&self, max: usize) -> Vec<u8> {
        let mut p = lock(&self.pipe);
        let was_full = p.buf.len() >= PIPE_CAPACITY || p.budget.left() == 0;
        let n = p.buf.len().min(max);
        let out: Vec<u8> = p.buf.drain(..n).collect();
        p.budget.used.fetch_sub(n as u64, Ordering::SeqCst);
        if p.buf.is_empty() {
            p.buf.shrink_to_fit();
        }
        // Room after none is the writers' edge (as Linux's pipe_read).
        if was_full && n > 0 {
            self.edges.edge(Side::Write);
        }
        out
    }

    /// A copy of up to `max` bytes from the front of the buffer, left in
    /// it (tee, and splice out of a pipe before it knows how much went).
    pub fn peek(&self, max: usize) -> Vec<u8> {
        let p = lock(&self.pipe);
        p.buf.iter().take(max).copied().collect()
    }

    /// Whether `other` is an end of the same pipe.
    pub fn same_pipe(&self, other: &PipeEnd) -> bool {
        Arc::ptr_eq(&self.pipe, &other.pipe)
    }

    /// Appends `data` (the caller checked `space`).
    pub fn push(&self, data: Vec<u8>) {
        let mut p = lock(&self.pipe);
        p.budget.used.fetch_add(data.len() as u64, Ordering::SeqCst);
        p.buf.extend(data);
        self.edges.edge(Side::Read);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::fds::Object;

    #[test]
    fn ends_count_and_readiness() {
        let budget = Arc::new(PipeBudget::default());
        let (r, w) = new_pipe(0, &budget);
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
        let (r, w) = new_pipe(O_NONBLOCK, &budget);
        assert!(r.nonblocking() && w.nonblocking());
        assert_ne!(r.id(), first, "each pipe has its own number");
        w.set_nonblocking(false);
        assert!(!w.nonblocking() && r.nonblocking());
        drop(w);
        assert_eq!(r.readiness(), (true, false, true), "EOF is readable");
    }

    #[test]
    fn writes_and_reads_of_a_full_pipe_are_edges_of_both_ends() {
        let budget = Arc::new(PipeBudget::default());
        let (r, w) = new_pipe(0, &budget);
        assert_eq!(r.edges.counts(), (0, 0));
        w.push(vec![1; 10]);
        w.push(vec![2; 10]);
        assert_eq!(r.edges.counts(), (2, 0), "each write is an edge");
        assert_eq!(r.take(5).len(), 5);
        assert_eq!(w.edges.counts(), (2, 0), "room in a pipe not full is none");
        w.push(vec![3; PIPE_CAPACITY - 15]);
        assert_eq!(w.space(), 0);
        assert_eq!(r.take(1).len(), 1);
        assert_eq!(w.edges.counts(), (3, 1), "room after a full pipe is one");
    }

    #[test]
    fn the_pipes_of_a_run_share_one_budget() {
        let budget = Arc::new(PipeBudget::for_memory(8 * PIPE_CAPACITY as u64));
        let pipes: Vec<_> = (0..3).map(|_| new_pipe(0, &budget)).collect();
        pipes[0].1.push(vec![1; PIPE_CAPACITY]);
        assert_eq!(pipes[1].1.space(), PIPE_CAPACITY);
        pipes[1].1.push(vec![2; PIPE_CAPACITY]);
        assert_eq!(budget.used(), 2 * PIPE_CAPACITY as u64);
        assert_eq!(pipes[2].1.space(), 0, "the budget (2 pipes) is spent");
        assert!(!pipes[2].1.readiness().1, "not writable");
        assert_eq!(pipes[0].0.take(100).len(), 100);
        assert_eq!(pipes[2].1.space(), 100);
        drop(pipes);
        assert_eq!(budget.used(), 0, "closed pipes give their bytes back");
    }
}

//! Named pipes (FIFOs): a FIFO node in a granted tree is a host file
//! (made by mknod in a read-write tree, or there already), but what flows
//! through it is a pipe in the runner, shared by the sandbox's processes
//! that open the same node (keyed by the host's device and inode
//! numbers). The host FIFO itself is never opened: a host program that
//! opens it does not reach the sandbox, and the runner never blocks on
//! it.
//!
//! Opening follows Linux's `fifo_open`: a reader opening for reading and
//! a writer opening for writing each wait until the other side has opened
//! since they began (a nonblocking reader does not wait; a nonblocking
//! writer with no reader is ENXIO). A waiting opener already counts as an
//! end (its `PipeEnd` is open, kept on its thread: `Thread::fifo_wait`),
//! so that the other side finds it; it waits for another thread's syscall
//! (`Wait::Retry`) and looks again. A signal ending the wait drops the
//! end (run/run_loop.rs), as does the thread's end.
//!
//! Locks: the table is kernel state, touched under the kernel lock only;
//! each pipe has its own mutex (kernel/pipe_buffer.rs), a leaf.

use super::pipe_buffer::{PipeBudget, PipeCore, PipeEnd};
use std::collections::HashMap;
use std::sync::Arc;

/// A FIFO node: the host's (device, inode).
pub type FifoId = (u64, u64);

/// One FIFO's pipe and how many times each side was opened (Linux's
/// r_counter and w_counter: an opener waits for the other's to move).
#[derive(Debug)]
struct Node {
    core: PipeCore,
    opened: [u64; 2],
}

/// An open that waits for the other side (kept on the waiting thread).
#[derive(Debug)]
pub struct FifoWait {
    id: FifoId,
    end: PipeEnd,
    /// The other side's open count when the wait began.
    seen: u64,
}

impl FifoWait {
    /// The FIFO it waits on.
    pub fn id(&self) -> FifoId {
        self.id
    }
}

/// What an open of a FIFO comes to.
#[derive(Debug)]
pub enum FifoOpen {
    /// Open now.
    Ready(PipeEnd),
    /// Waits for the other side: keep this on the thread and wait.
    Wait(FifoWait),
    /// A nonblocking writer with no reader (ENXIO).
    NoReader,
}

/// The FIFOs the sandbox has open.
#[derive(Debug, Default)]
pub struct Fifos {
    nodes: HashMap<FifoId, Node>,
}

fn side(write: bool) -> usize {
    usize::from(write)
}

impl Fifos {
    /// Opens FIFO `id` for writing or reading (`flags`: O_NONBLOCK), or
    /// goes on with `pending`, this thread's earlier wait on it.
    pub fn open(
        &mut self,
        id: FifoId,
        write: bool,
        flags: u32,
        nonblocking: bool,
        pending: Option<FifoWait>,
        budget: &Arc<PipeBudget>,
    ) -> FifoOpen {
        // Nodes whose ends all closed are forgotten (their last end's
        // close dropped the bytes: kernel/pipe_buffer.rs).
        self.nodes.retain(|_, n| n.core.ends() != (0, 0));
        if let Some(w) = pending.filter(|w| w.id == id && w.end.write == write) {
            let moved = self
                .nodes
                .get(&id)
                .is_some_and(|n| n.opened[side(!write)] != w.seen);
            return if moved {
                FifoOpen::Ready(w.end)
            } else {
                FifoOpen::Wait(w)
            };
        }
        let node = self.nodes.entry(id).or_insert_with(|| Node {
            core: PipeCore::new(budget, true),
            opened: [0, 0],
        });
        let (readers, writers) = node.core.ends();
        if write && nonblocking && readers == 0 {
            return FifoOpen::NoReader;
        }
        node.opened[side(write)] += 1;
        let end = PipeEnd::open(&node.core, write, flags);
        let partner = if write { readers } else { writers };
        if partner > 0 || nonblocking {
            FifoOpen::Ready(end)
        } else {
            FifoOpen::Wait(FifoWait {
                id,
                end,
                seen: node.opened[side(!write)],
            })
        }
    }

    /// How many FIFOs the table holds (those with ends open, and any
    /// forgotten at the next open).
    pub fn held(&self) -> usize {
        self.nodes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(o: FifoOpen) -> PipeEnd {
        match o {
            FifoOpen::Ready(e) => e,
            other => panic!("not ready: {other:?}"),
        }
    }

    #[test]
    fn a_reader_waits_for_a_writer_and_the_writer_finds_it() {
        let budget = Arc::new(PipeBudget::default());
        let mut f = Fifos::default();
        let id = (1, 2);
        let FifoOpen::Wait(w) = f.open(id, false, 0, false, None, &budget) else {
            panic!("a lone reader waits");
        };
        // Still no writer: it waits on.
        let FifoOpen::Wait(w) = f.open(id, false, 0, false, Some(w), &budget) else {
            panic!("still waits");
        };
        // The waiting reader counts: a nonblocking writer opens.
        let writer = ready(f.open(id, true, 0, true, None, &budget));
        drop(writer);
        // The writer came (and went): the reader's open completes.
        let reader = ready(f.open(id, false, 0, false, Some(w), &budget));
        assert_eq!(reader.writers(), 0);
        assert_eq!(f.held(), 1);
        drop(reader);
        let _ = f.open((9, 9), false, 0, true, None, &budget);
        assert_eq!(f.held(), 1, "the closed FIFO was forgotten");
    }

    #[test]
    fn the_last_close_drops_what_the_pipe_held() {
        let budget = Arc::new(PipeBudget::default());
        let mut f = Fifos::default();
        let r = ready(f.open((1, 1), false, 0, true, None, &budget));
        let w = ready(f.open((1, 1), true, 0, true, None, &budget));
        w.push(vec![7; 10]);
        assert_eq!(budget.used(), 10);
        drop(w);
        assert_eq!(budget.used(), 10, "a reader is still open");
        drop(r);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn nonblocking_opens() {
        let budget = Arc::new(PipeBudget::default());
        let mut f = Fifos::default();
        assert!(matches!(
            f.open((1, 1), true, 0, true, None, &budget),
            FifoOpen::NoReader
        ));
        let r = ready(f.open((1, 1), false, 0, true, None, &budget));
        let w = ready(f.open((1, 1), true, 0, false, None, &budget));
        assert!(w.same_pipe(&r));
    }
}

//! A pidfd: a descriptor naming one process of the sandbox (pidfd_open,
//! clone's CLONE_PIDFD). It is readable (poll, epoll) once the process has
//! ended; pidfd_send_signal signals it and waitid(P_PIDFD) waits for it
//! (syscalls/pidfd.rs). It holds the process's thread group, so it never
//! names a later process that reused the pid (pids are never reused in a
//! run anyway: kernel/process_table.rs).

use super::events::Edges;
use super::thread_group::ThreadGroup;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Debug)]
pub struct PidFd {
    pub pid: u64,
    /// The process's threads: ended once the process has.
    group: Arc<ThreadGroup>,
    nonblocking: AtomicBool,
    /// Edges for edge-triggered epoll (it becomes readable once).
    pub edges: Edges,
    /// Its identity for fstat (st_ino).
    pub id: u64,
}

impl PidFd {
    pub fn new(pid: u64, group: Arc<ThreadGroup>, nonblocking: bool, id: u64) -> PidFd {
        PidFd {
            pid,
            group,
            nonblocking: AtomicBool::new(nonblocking),
            edges: Edges::default(),
            id,
        }
    }

    /// Whether the process has ended (readable): torn down, so that
    /// waitid finds its zombie, as on Linux (a pidfd polls readable once
    /// the process is a zombie, not while its threads are still exiting).
    pub fn ended(&self) -> bool {
        self.group.is_gone()
    }

    pub fn nonblocking(&self) -> bool {
        self.nonblocking.load(Ordering::SeqCst)
    }

    pub fn set_nonblocking(&self, on: bool) {
        self.nonblocking.store(on, Ordering::SeqCst);
    }
}

//! Descriptors that exist only in the runner and carry events between
//! threads: eventfd counters, signalfds and epoll interest lists.
//!
//! Locks: each object's own mutex, a leaf, taken under the kernel lock by
//! the handlers (syscalls/eventfd.rs, syscalls/epoll.rs). Nobody waits
//! while holding one; a blocked reader waits with no lock (`Wait`).

use super::fds::Object;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// A side of a descriptor: reading (or accepting), writing (or
/// connecting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Read,
    Write,
}

/// Counts of the events after which Linux wakes an edge-triggered epoll
/// waiter again, each side: data (or room) arriving, for the objects the
/// runner holds itself (a pipe write, an eventfd write); and, for host
/// descriptors, whose arrivals the runner does not see, the guest's
/// nonblocking call finding the side not ready (EAGAIN: a program drains
/// a descriptor before it waits for the next edge, and anything arriving
/// after that is one, even when no epoll_wait saw the descriptor empty in
/// between). An edge-triggered interest whose side counted up since it
/// last looked reports that side's ready bits again (syscalls/epoll.rs).
/// An extra count only costs such a program one more report, which it
/// handles by reading to EAGAIN; a missing one leaves it waiting for an
/// edge that already passed. Lock-free: the counters only ever grow.
#[derive(Debug, Default)]
pub struct Edges {
    read: AtomicU64,
    write: AtomicU64,
}

impl Edges {
    /// Something happened on `side` that is an edge.
    pub fn edge(&self, side: Side) {
        let c = match side {
            Side::Read => &self.read,
            Side::Write => &self.write,
        };
        c.fetch_add(1, Ordering::SeqCst);
    }

    /// (read, write): the counts so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.read.load(Ordering::SeqCst),
            self.write.load(Ordering::SeqCst),
        )
    }
}

/// An eventfd: a 64-bit counter.
#[derive(Debug)]
pub struct EventFd {
    count: Mutex<u64>,
    /// Writes (read side) and reads (write side), and nonblocking calls
    /// that found it not ready.
    pub edges: Edges,
    /// EFD_SEMAPHORE: a read takes 1, not the whole count.
    pub semaphore: bool,
    nonblocking: AtomicBool,
    /// Its identity for fstat (st_ino).
    pub id: u64,
}

/// The largest count an eventfd holds (a write that would pass it waits).
pub const EVENTFD_MAX: u64 = u64::MAX - 1;

impl EventFd {
    pub fn new(initial: u64, semaphore: bool, nonblocking: bool, id: u64) -> EventFd {
        EventFd {
            count: Mutex::new(initial),
            edges: Edges::default(),
            semaphore,
            nonblocking: AtomicBool::new(nonblocking),
            id,
        }
    }

    pub fn nonblocking(&self) -> bool {
        self.nonblocking.load(Ordering::SeqCst)
    }

    pub fn set_nonblocking(&self, on: bool) {
        self.nonblocking.store(on, Ordering::SeqCst);
    }

    /// Takes the count (or 1 of it, as a semaphore); None when it is 0.
    pub fn take(&self) -> Option<u64> {
        let mut c = super::lock(&self.count);
        if *c == 0 {
            return None;
        }
        let v = if self.semaphore { 1 } else { *c };
        *c -= v;
        self.edges.edge(Side::Write);
        Some(v)
    }

    /// Adds `v`; false (nothing added) when the count would pass the
    /// maximum.
    pub fn add(&self, v: u64) -> bool {
        let mut c = super::lock(&self.count);
        match c.checked_add(v).filter(|&n| n <= EVENTFD_MAX) {
            Some(n) => {
                *c = n;
                self.edges.edge(Side::Read);
                true
            }
            None => false,
        }
    }

    /// (readable, writable): a count above 0; room for at least 1 more.
    pub fn readiness(&self) -> (bool, bool) {
        let c = *super::lock(&self.count);
        (c > 0, c < EVENTFD_MAX)
    }
}

/// A signalfd: the signals a read of it takes (they should be blocked, so
/// that no handler takes them first).
#[derive(Debug)]
pub struct SignalFd {
    mask: std::sync::atomic::AtomicU64,
    /// Edges for edge-triggered epoll: nonblocking reads that found no
    /// signal.
    pub edges: Edges,
    nonblocking: AtomicBool,
    /// Its identity for fstat (st_ino).
    pub id: u64,
}

impl SignalFd {
    pub fn new(mask: u64, nonblocking: bool, id: u64) -> SignalFd {
        SignalFd {
            mask: std::sync::atomic::AtomicU64::new(mask),
            edges: Edges::default(),
            nonblocking: AtomicBool::new(nonblocking),
            id,
        }
    }

    pub fn mask(&self) -> u64 {
        self.mask.load(Ordering::SeqCst)
    }

    /// signalfd4 on an existing signalfd: a new mask.
    pub fn set_mask(&self, mask: u64) {
        self.mask.store(mask, Ordering::SeqCst);
    }

    pub fn nonblocking(&self) -> bool {
        self.nonblocking.load(Ordering::SeqCst)
    }

    pub fn set_nonblocking(&self, on: bool) {
        self.nonblocking.store(on, Ordering::SeqCst);
    }
}

/// One descriptor an epoll instance watches.
#[derive(Debug, Clone)]
pub struct Interest {
    /// The epoll_event mask (EPOLLIN, EPOLLOUT, ..., EPOLLET,
    /// EPOLLONESHOT).
    pub events: u32,
    pub data: u64,
    /// The open file description it watches (as Linux, which watches the
    /// description, not the number). Not kept open by the watch: when its
    /// last descriptor closes, the interest is gone, as on Linux.
    pub object: Weak<Object>,
    /// EPOLLONESHOT reported it: silent until EPOLL_CTL_MOD.
    pub disabled: bool,
    /// EPOLLET: the ready bits last reported; a bit is reported again only
    /// after it was seen clear, or after an edge on its side (`Edges`).
    pub reported: u32,
    /// EPOLLET: the object's edge counts (`Edges::counts`) when this
    /// interest last looked.
    pub edges_seen: (u64, u64),
}

impl Interest {
    /// The description it watches, if it is still open and is `object`
    /// (a descriptor number reused for another description is not this
    /// interest's).
    pub fn watches(&self, object: &Arc<Object>) -> bool {
        self.object
            .upgrade()
            .is_some_and(|o| Arc::ptr_eq(&o, object))
    }
}

/// An epoll instance: its interest list, by descriptor number.
#[derive(Debug, Default)]
pub struct EpollSet {
    pub interest: Mutex<BTreeMap<i32, Interest>>,
    /// Its identity for fstat (st_ino).
    pub id: u64,
}

impl EpollSet {
    pub fn new(id: u64) -> EpollSet {
        EpollSet {
            interest: Mutex::new(BTreeMap::new()),
            id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eventfd_counts_and_saturates() {
        let e = EventFd::new(0, false, false, 1);
        assert_eq!(e.take(), None);
        assert!(e.add(3) && e.add(4));
        assert_eq!(e.readiness(), (true, true));
        assert_eq!(e.take(), Some(7));
        assert!(e.add(EVENTFD_MAX));
        assert!(!e.add(1), "past the maximum");
        assert_eq!(e.readiness(), (true, false));
        let s = EventFd::new(2, true, false, 2);
        assert_eq!((s.take(), s.take(), s.take()), (Some(1), Some(1), None));
    }
}

//! Descriptors that exist only in the runner and carry events between
//! threads: eventfd counters, signalfds and epoll interest lists.
//!
//! Locks: each object's own mutex, a leaf, taken under the kernel lock by
//! the handlers (syscalls/eventfd.rs, syscalls/epoll.rs). Nobody waits
//! while holding one; a blocked reader waits with no lock (`Wait`).

use super::fds::Object;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// An eventfd: a 64-bit counter.
#[derive(Debug)]
pub struct EventFd {
    count: Mutex<u64>,
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
        Some(v)
    }

    /// Adds `v`; false (nothing added) when the count would pass the
    /// maximum.
    pub fn add(&self, v: u64) -> bool {
        let mut c = super::lock(&self.count);
        match c.checked_add(v).filter(|&n| n <= EVENTFD_MAX) {
            Some(n) => {
                *c = n;
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
    nonblocking: AtomicBool,
    /// Its identity for fstat (st_ino).
    pub id: u64,
}

impl SignalFd {
    pub fn new(mask: u64, nonblocking: bool, id: u64) -> SignalFd {
        SignalFd {
            mask: std::sync::atomic::AtomicU64::new(mask),
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
    /// description, not the number).
    pub object: Arc<Object>,
    /// EPOLLONESHOT reported it: silent until EPOLL_CTL_MOD.
    pub disabled: bool,
    /// EPOLLET: the ready bits last reported; a bit is reported again only
    /// after it was seen clear.
    pub reported: u32,
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

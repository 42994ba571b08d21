//! Where a guest thread's host thread waits with no kernel lock held: a
//! futex wait, a sleep, a blocked pipe. One per thread; whoever ends the
//! wait (a futex wake, a change the thread waits for, the end of the
//! thread group) sets a flag and notifies it.
//!
//! Locks: the parker's mutex is a leaf. Wakers hold the kernel lock (the
//! run's `State`) or the thread group's lock while they take it; the
//! waiter holds nothing else while it waits.

use std::sync::{Condvar, Mutex};
use std::time::Instant;

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parked {
    /// Someone woke this thread (futex wake, a change it waited for).
    Woken,
    /// The time given passed first.
    TimedOut,
    /// The thread must stop waiting: its group is ending.
    Interrupted,
    /// A signal was sent to the thread: the wait ends (EINTR, or the
    /// call restarts after the handler).
    Signaled,
}

#[derive(Debug, Default)]
struct ParkState {
    woken: bool,
    interrupted: bool,
    signaled: bool,
}

/// One thread's waiting place.
#[derive(Debug, Default)]
pub struct Parker {
    state: Mutex<ParkState>,
    cv: Condvar,
}

impl Parker {
    /// Forgets an earlier wake: called, under the kernel lock, before the
    /// thread puts itself where wakers find it.
    pub fn prepare(&self) {
        let mut s = super::lock(&self.state);
        s.woken = false;
        s.signaled = false;
    }

    /// Ends the current or next wait with `Signaled` (a signal was posted
    /// to the thread).
    pub fn signal(&self) {
        super::lock(&self.state).signaled = true;
        self.cv.notify_all();
    }

    /// Ends the current or next wait with `Woken`.
    pub fn wake(&self) {
        super::lock(&self.state).woken = true;
        self.cv.notify_all();
    }

    /// Ends this and every later wait with `Interrupted`.
    pub fn interrupt(&self) {
        super::lock(&self.state).interrupted = true;
        self.cv.notify_all();
    }

    /// Waits until woken, interrupted, or `until` passes.
    pub fn park(&self, until: Instant) -> Parked {
        let mut s = super::lock(&self.state);
        loop {
            if s.interrupted {
                return Parked::Interrupted;
            }
            if s.signaled {
                s.signaled = false;
                return Parked::Signaled;
            }
            if s.woken {
                s.woken = false;
                return Parked::Woken;
            }
            let now = Instant::now();
            if now >= until {
                return Parked::TimedOut;
            }
            s = match self.cv.wait_timeout(s, until - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn a_wake_before_the_park_is_not_lost() {
        let p = Parker::default();
        p.prepare();
        p.wake();
        assert_eq!(
            p.park(Instant::now() + Duration::from_secs(5)),
            Parked::Woken
        );
        assert_eq!(p.park(Instant::now()), Parked::TimedOut);
    }

    #[test]
    fn prepare_forgets_an_old_wake_and_interrupt_sticks() {
        let p = Parker::default();
        p.wake();
        p.prepare();
        assert_eq!(
            p.park(Instant::now() + Duration::from_millis(10)),
            Parked::TimedOut
        );
        p.interrupt();
        p.wake();
        assert_eq!(
            p.park(Instant::now() + Duration::from_secs(5)),
            Parked::Interrupted
        );
    }

    #[test]
    fn another_thread_wakes_a_parked_one() {
        let p = Arc::new(Parker::default());
        p.prepare();
        let q = p.clone();
        let t = std::thread::spawn(move || q.park(Instant::now() + Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(20));
        p.wake();
        assert_eq!(t.join().ok(), Some(Parked::Woken));
    }
}

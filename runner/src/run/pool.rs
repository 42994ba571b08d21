//! The host threads of a run that wait for their next guest thread
//! (run/threads.rs starts them and hands them jobs), and the count that
//! keeps their vCPUs bounded.
//!
//! KVM cannot destroy one vCPU of a VM, so each host thread keeps the
//! vCPU it made for as long as the run lasts: every host thread started is
//! a vCPU for good. The pool therefore starts one only when every host
//! thread it has is needed by a live guest thread; a job that comes while
//! one is on its way back (its guest thread has exited, its host thread
//! has not reached [`Pool::next`] yet) is queued for it. Without that, a
//! clone racing a thread's exit started one vCPU more than
//! `limits.threads`, and at the largest limit one past `MAX_VCPUS`.

use crate::guest::layout::MAX_VCPUS;
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};

/// What became of a job offered to the pool.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer<T> {
    /// A host thread of the pool will run it.
    Queued,
    /// Start a host thread for it (counted already: [`Pool::not_started`]
    /// if it cannot be).
    Start(T),
    /// The run is over.
    Closed,
    /// Every vCPU the VM can have has its host thread, and each is needed.
    Full,
}

/// Host threads waiting for their next guest thread (jobs of type `T`).
pub struct Pool<T> {
    state: Mutex<PoolState<T>>,
    cv: Condvar,
}

struct PoolState<T> {
    jobs: VecDeque<T>,
    closed: bool,
    /// Host threads started for guest threads (the first one's aside).
    workers: usize,
}

impl<T> Default for Pool<T> {
    fn default() -> Self {
        Pool {
            state: Mutex::new(PoolState {
                jobs: VecDeque::new(),
                closed: false,
                workers: 0,
            }),
            cv: Condvar::new(),
        }
    }
}

impl<T> Pool<T> {
    fn lock(&self) -> MutexGuard<'_, PoolState<T>> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hands `job` to a host thread that is idle or on its way back (its
    /// guest thread exited); gives it back, counted as a new host thread
    /// to start, when there is none. `others` is how many guest threads
    /// need a host thread of the pool, `job`'s included: each runs on, or
    /// waits for, its own, so with as many host threads one of them is
    /// free, or soon will be. Each has its vCPU, and the first guest
    /// thread has one of its own: with `MAX_VCPUS` in all there is no
    /// room for another.
    pub fn offer(&self, job: T, others: usize) -> Offer<T> {
        let mut p = self.lock();
        if p.closed {
            return Offer::Closed;
        }
        if p.workers < others {
            if p.workers as u64 + 1 >= MAX_VCPUS {
                return Offer::Full;
            }
            p.workers += 1;
            return Offer::Start(job);
        }
        p.jobs.push_back(job);
        self.cv.notify_one();
        Offer::Queued
    }

    /// The host thread `offer` counted could not be started.
    pub fn not_started(&self) {
        let mut p = self.lock();
        p.workers = p.workers.saturating_sub(1);
    }

    /// Waits for the next job; None once the run is over.
    pub fn next(&self) -> Option<T> {
        let mut p = self.lock();
        loop {
            if p.closed {
                return None;
            }
            if let Some(j) = p.jobs.pop_front() {
                return Some(j);
            }
            p = match self.cv.wait(p) {
                Ok(g) => g,
                Err(e) => e.into_inner(),
            };
        }
    }

    /// The run is over: idle host threads end, and no job is taken.
    pub fn close(&self) {
        self.lock().closed = true;
        self.cv.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_thread_starts_only_when_every_one_is_needed() {
        let pool: Pool<u32> = Pool::default();
        // The first clone: no host thread yet.
        assert_eq!(pool.offer(1, 1), Offer::Start(1));
        // Its thread exited and another is cloned before its host thread
        // is back: one guest thread needs one host thread, which is
        // returning, so the job waits for it.
        assert_eq!(pool.offer(2, 1), Offer::Queued);
        assert_eq!(pool.next(), Some(2));
        // Two alive at once: a second host thread.
        assert_eq!(pool.offer(3, 2), Offer::Start(3));
        pool.not_started();
        assert_eq!(
            pool.offer(4, 2),
            Offer::Start(4),
            "the failed one is not counted"
        );
    }

    #[test]
    fn no_host_thread_past_the_vms_vcpus_or_after_the_end() {
        let pool: Pool<u32> = Pool::default();
        let most = MAX_VCPUS as usize - 1;
        for i in 0..most {
            assert_eq!(pool.offer(0, i + 1), Offer::Start(0), "{i}");
        }
        assert_eq!(pool.offer(0, most + 1), Offer::Full);
        assert_eq!(pool.offer(7, most), Offer::Queued, "one of them is free");
        pool.close();
        assert_eq!(pool.offer(8, 1), Offer::Closed);
        assert_eq!(pool.next(), None, "queued jobs are dropped at the end");
    }
}

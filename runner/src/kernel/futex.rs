//! The futex wait queues of the sandbox ([`FutexKey`]), keyed as Linux
//! keys them: by process and virtual address for private futexes and for
//! shared ones in private mappings; by the word's guest-physical address
//! for a shared futex (no FUTEX_PRIVATE_FLAG) in a shared mapping
//! (MAP_SHARED), the one kind of writable page two processes map, so that
//! a process-shared mutex or semaphore wakes across processes.
//!
//! Not by guest-physical address everywhere: after fork, a write gives a
//! copy-on-write page a new frame, and a key that followed the frame would
//! part a waiter from its waker. A shared mapping's pages never change
//! frame (a fork shares them writable, MADV_DONTNEED keeps them, mremap
//! moves them), so their physical key holds; and one process never maps
//! a frame at two addresses, so no word has two keys of one kind.
//!
//! Locks: the table is part of the kernel state and is only touched under
//! the run's kernel lock (`run::threads::State`). A waiter queues itself
//! there, lets the lock go, and parks on its own `Parker`; a waker removes
//! waiters from the queue and wakes their parkers, so a wake between the
//! queueing and the parking is never lost. Each thread waits on at most one
//! futex at a time, so the queues never hold more entries than there are
//! live threads (`limits.threads`).

use super::parker::Parker;
use std::collections::HashMap;
use std::sync::Arc;

/// Which futex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FutexKey {
    /// A word of one process: its pid and the word's virtual address.
    Private { process: u64, addr: u64 },
    /// A word of a shared mapping, for a shared operation: the word's
    /// guest-physical address, the same in every process that maps it.
    Shared { pa: u64 },
}

impl FutexKey {
    /// The key of the word at `addr` in `process`: `Shared` at `shared_pa`
    /// when the caller found the word in a shared mapping and the
    /// operation shared (`Some` of the word's guest-physical address),
    /// else `Private`.
    pub fn of(process: u64, addr: u64, shared_pa: Option<u64>) -> FutexKey {
        match shared_pa {
            Some(pa) => FutexKey::Shared { pa },
            None => FutexKey::Private { process, addr },
        }
    }
}

/// One thread waiting on a futex.
#[derive(Debug, Clone)]
pub struct Waiter {
    pub tid: u64,
    /// FUTEX_WAIT_BITSET's mask (all ones for FUTEX_WAIT).
    pub bitset: u32,
    pub parker: Arc<Parker>,
}

/// The queues, oldest waiter first.
#[derive(Debug, Default)]
pub struct Futexes {
    queues: HashMap<FutexKey, Vec<Waiter>>,
}

impl Futexes {
    /// Queues `waiter` on the futex `key`.
    pub fn enqueue(&mut self, key: FutexKey, waiter: Waiter) {
        waiter.parker.prepare();
        self.queues.entry(key).or_default().push(waiter);
    }

    /// Wakes up to `n` waiters on `key` whose bitset meets `bitset`, oldest
    /// first. Returns how many.
    pub fn wake(&mut self, key: FutexKey, bitset: u32, n: u64) -> u64 {
        let Some(q) = self.queues.get_mut(&key) else {
            return 0;
        };
        let mut woken = 0;
        q.retain(|w| {
            if woken < n && w.bitset & bitset != 0 {
                w.parker.wake();
                woken += 1;
                false
            } else {
                true
            }
        });
        if q.is_empty() {
            self.queues.remove(&key);
        }
        woken
    }

    /// Wakes up to `wake` waiters on `from`, then moves up to `requeue` of
    /// the rest to `to`. Returns (woken, moved).
    pub fn requeue(&mut self, from: FutexKey, to: FutexKey, wake: u64, requeue: u64) -> (u64, u64) {
        let woken = self.wake(from, u32::MAX, wake);
        if from == to {
            let moved = self.queues.get(&from).map_or(0, |q| q.len() as u64);
            return (woken, moved.min(requeue));
        }
        let Some(q) = self.queues.get_mut(&from) else {
            return (woken, 0);
        };
        let k = (requeue.min(q.len() as u64)) as usize;
        let moving: Vec<Waiter> = q.drain(..k).collect();
        if q.is_empty() {
            self.queues.remove(&from);
        }
        let moved = moving.len() as u64;
        if moved > 0 {
            self.queues.entry(to).or_default().extend(moving);
        }
        (woken, moved)
    }

    /// Takes thread `tid` off whatever queue holds it (its wait timed out
    /// or was interrupted). False when it was no longer queued: a waker
    /// took it first, and the wait counts as woken.
    pub fn cancel(&mut self, tid: u64) -> bool {
        let mut found = None;
        for (&key, q) in self.queues.iter_mut() {
            if let Some(i) = q.iter().position(|w| w.tid == tid) {
                q.remove(i);
                found = Some(key);
                break;
            }
        }
        match found {
            Some(key) => {
                if self.queues.get(&key).is_some_and(|q| q.is_empty()) {
                    self.queues.remove(&key);
                }
                true
            }
            None => false,
        }
    }

    /// How many threads wait, on all futexes.
    pub fn waiting(&self) -> usize {
        self.queues.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::parker::Parked;
    use std::time::Instant;

    fn k(addr: u64) -> FutexKey {
        FutexKey::of(2, addr, None)
    }

    #[test]
    fn the_same_address_in_two_processes_is_two_futexes() {
        let mut f = Futexes::default();
        let a = waiter(1, u32::MAX);
        f.enqueue(k(0x1000), a.clone());
        let other = FutexKey::of(3, 0x1000, None);
        assert_eq!(f.wake(other, u32::MAX, 10), 0);
        assert_eq!(f.wake(k(0x1000), u32::MAX, 10), 1);
    }

    #[test]
    fn a_shared_word_is_one_futex_in_every_process() {
        let mut f = Futexes::default();
        let a = waiter(1, u32::MAX);
        // Two processes, the word at different addresses, one frame.
        f.enqueue(FutexKey::of(2, 0x1000, Some(0x9_0004)), a.clone());
        assert_eq!(f.wake(FutexKey::of(3, 0x1000, None), u32::MAX, 10), 0);
        assert_eq!(
            f.wake(FutexKey::of(3, 0x7000, Some(0x9_0004)), u32::MAX, 10),
            1
        );
        assert_eq!(a.parker.park(Instant::now()), Parked::Woken);
    }

    fn waiter(tid: u64, bitset: u32) -> Waiter {
        Waiter {
            tid,
            bitset,
            parker: Arc::new(Parker::default()),
        }
    }

    #[test]
    fn wake_takes_the_oldest_matching_waiters() {
        let mut f = Futexes::default();
        let (a, b, c) = (waiter(1, 1), waiter(2, 2), waiter(3, 1));
        f.enqueue(k(0x1000), a.clone());
        f.enqueue(k(0x1000), b.clone());
        f.enqueue(k(0x1000), c.clone());
        assert_eq!(f.wake(k(0x1000), 1, 1), 1);
        assert_eq!(a.parker.park(Instant::now()), Parked::Woken);
        assert_eq!(b.parker.park(Instant::now()), Parked::TimedOut);
        assert_eq!(f.wake(k(0x1000), u32::MAX, 10), 2);
        assert_eq!(f.waiting(), 0);
        assert_eq!(f.wake(k(0x2000), u32::MAX, 10), 0);
    }

    #[test]
    fn requeue_moves_the_rest_and_cancel_finds_them() {
        let mut f = Futexes::default();
        for tid in 1..=4 {
            f.enqueue(k(0x1000), waiter(tid, u32::MAX));
        }
        assert_eq!(f.requeue(k(0x1000), k(0x2000), 1, 2), (1, 2));
        assert_eq!(f.wake(k(0x1000), u32::MAX, 10), 1);
        assert!(f.cancel(2));
        assert!(!f.cancel(2), "already gone");
        assert_eq!(f.wake(k(0x2000), u32::MAX, 10), 1);
        assert_eq!(f.waiting(), 0);
    }
}

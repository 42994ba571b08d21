//! Timers a program arms: POSIX timers (timer_create, notified by a
//! signal or not at all) and timerfds (a descriptor that counts
//! expirations). The alarm (ITIMER_REAL) is `Process::alarm`.
//!
//! Every timer keeps its next expiry as an `Instant` of the host's
//! monotonic clock: a CLOCK_REALTIME deadline is converted when it is set
//! (a later change of the host's wall clock does not move it; Linux would).
//! Nothing runs in the background: the run loop fires POSIX timers before
//! a thread runs user code and when a wait ends (a wait never outlasts the
//! next expiry), and each vCPU is kicked out of the guest at the next
//! expiry (run/run_loop.rs). A timerfd counts its expirations when it is
//! looked at.
//!
//! Locks: `PosixTimers` lives in the process (kernel lock); a `TimerFd`'s
//! mutex is a leaf taken under the kernel lock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When a timer next expires, and its period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Schedule {
    /// None: disarmed.
    pub next: Option<Instant>,
    /// None: it expires once.
    pub every: Option<Duration>,
}

impl Schedule {
    /// How many times it expired by `now` (0 if not yet), moving `next` on
    /// past `now` (or disarming a one-shot timer).
    pub fn expire(&mut self, now: Instant) -> u64 {
        let Some(next) = self.next else {
            return 0;
        };
        if next > now {
            return 0;
        }
        match self.every {
            None => {
                self.next = None;
                1
            }
            Some(every) => {
                let late = now.duration_since(next).as_nanos();
                let n = late / every.as_nanos().max(1) + 1;
                let count = u64::try_from(n).unwrap_or(u64::MAX);
                let step = every
                    .checked_mul(u32::try_from(count).unwrap_or(u32::MAX))
                    .unwrap_or(Duration::from_secs(86_400 * 365));
                self.next = Some(next.checked_add(step).unwrap_or(now + every));
                count
            }
        }
    }

    /// The time left until the next expiry (zero when disarmed), and the
    /// period (zero for a one-shot timer), as timer_gettime reports them.
    /// An armed timer never reports zero left (that would read as
    /// disarmed).
    pub fn remaining(&self, now: Instant) -> (Duration, Duration) {
        let left = self.next.map_or(Duration::ZERO, |n| {
            n.saturating_duration_since(now)
                .max(Duration::from_nanos(1))
        });
        (left, self.every.unwrap_or_default())
    }
}

/// How a POSIX timer tells the program it expired (`struct sigevent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notify {
    /// SIGEV_NONE: only timer_gettime shows it.
    Nothing,
    /// SIGEV_SIGNAL: a signal to the process.
    Process { sig: u64 },
    /// SIGEV_THREAD_ID: a signal to one thread.
    Thread { tid: u64, sig: u64 },
}

/// One POSIX timer.
#[derive(Debug, Clone, Copy)]
pub struct PosixTimer {
    /// The clock id it was created on (CLOCK_REALTIME, ...).
    pub clock: u64,
    pub notify: Notify,
    /// sigev_value, passed in the signal's si_value.
    pub value: u64,
    pub schedule: Schedule,
    /// Expirations missed by the last signal (timer_getoverrun).
    pub overrun: u32,
}

/// The most POSIX timers one process may hold (each is runner memory).
pub const MAX_POSIX_TIMERS: usize = 1024;

/// A process's POSIX timers, by id.
#[derive(Debug, Default)]
pub struct PosixTimers {
    timers: BTreeMap<u64, PosixTimer>,
}

/// A due timer's signal, as the run loop raises it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    pub id: u64,
    pub notify: Notify,
    pub value: u64,
    /// Expirations beyond the first since it was last fired.
    pub overrun: u32,
}

impl PosixTimers {
    /// Adds a disarmed timer; None when the process has too many.
    pub fn create(&mut self, clock: u64, notify: Notify, value: u64) -> Option<u64> {
        if self.timers.len() >= MAX_POSIX_TIMERS {
            return None;
        }
        // Ids are reused lowest-first, as Linux's idr does.
        let mut id = 0;
        while self.timers.contains_key(&id) {
            id += 1;
        }
        self.timers.insert(
            id,
            PosixTimer {
                clock,
                notify,
                value,
                schedule: Schedule::default(),
                overrun: 0,
            },
        );
        Some(id)
    }

    pub fn get_mut(&mut self, id: u64) -> Option<&mut PosixTimer> {
        self.timers.get_mut(&id)
    }

    pub fn get(&self, id: u64) -> Option<&PosixTimer> {
        self.timers.get(&id)
    }

    /// Deletes timer `id`; false when there is none.
    pub fn delete(&mut self, id: u64) -> bool {
        self.timers.remove(&id).is_some()
    }

    /// The earliest expiry of any armed timer.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.timers.values().filter_map(|t| t.schedule.next).min()
    }

    /// The timers due at `now`, each moved on to its next expiry.
    pub fn fire(&mut self, now: Instant) -> Vec<Expiry> {
        let mut due = Vec::new();
        for (&id, t) in self.timers.iter_mut() {
            let n = t.schedule.expire(now);
            if n == 0 {
                continue;
            }
            t.overrun = u32::try_from(n - 1)
                .unwrap_or(i32::MAX as u32)
                .min(i32::MAX as u32);
            due.push(Expiry {
                id,
                notify: t.notify,
                value: t.value,
                overrun: t.overrun,
            });
        }
        due
    }
}

/// A timerfd: a schedule and the expirations not yet read.
#[derive(Debug)]
pub struct TimerFd {
    /// The clock id it was created on.
    pub clock: u64,
    /// Edges for edge-triggered epoll: nonblocking reads that found no
    /// expiration.
    pub edges: super::events::Edges,
    state: Mutex<TimerFdState>,
    nonblocking: AtomicBool,
    /// Its identity for fstat (st_ino).
    pub id: u64,
}

#[derive(Debug, Default)]
struct TimerFdState {
    schedule: Schedule,
    ticks: u64,
}

impl TimerFd {
    pub fn new(clock: u64, nonblocking: bool, id: u64) -> TimerFd {
        TimerFd {
            clock,
            edges: super::events::Edges::default(),
            state: Mutex::new(TimerFdState::default()),
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

    /// Expirations not yet read, counting those due by `now`.
    pub fn ticks(&self, now: Instant) -> u64 {
        let mut s = super::lock(&self.state);
        let n = s.schedule.expire(now);
        s.ticks = s.ticks.saturating_add(n);
        s.ticks
    }

    /// Takes the expirations (a read); None when there are none.
    pub fn take(&self, now: Instant) -> Option<u64> {
        let mut s = super::lock(&self.state);
        let n = s.schedule.expire(now);
        let ticks = std::mem::take(&mut s.ticks).saturating_add(n);
        (ticks > 0).then_some(ticks)
    }

    /// When it next expires, if armed.
    pub fn next_expiry(&self) -> Option<Instant> {
        super::lock(&self.state).schedule.next
    }

    /// Arms (or disarms) it, dropping unread expirations; returns the
    /// schedule it had.
    pub fn set(&self, schedule: Schedule, now: Instant) -> Schedule {
        let mut s = super::lock(&self.state);
        let _ = s.schedule.expire(now);
        let old = s.schedule;
        s.schedule = schedule;
        s.ticks = 0;
        old
    }

    /// Its schedule as of `now`.
    pub fn schedule(&self, now: Instant) -> Schedule {
        let mut s = super::lock(&self.state);
        let n = s.schedule.expire(now);
        s.ticks = s.ticks.saturating_add(n);
        s.schedule
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_periodic_schedule_counts_missed_periods_and_moves_on() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut s = Schedule {
            next: Some(t0 + ms(10)),
            every: Some(ms(10)),
        };
        assert_eq!(s.expire(t0), 0);
        assert_eq!(s.expire(t0 + ms(10)), 1);
        assert_eq!(s.next, Some(t0 + ms(20)));
        assert_eq!(s.expire(t0 + ms(55)), 4, "20, 30, 40, 50");
        assert_eq!(s.next, Some(t0 + ms(60)));
        let mut once = Schedule {
            next: Some(t0),
            every: None,
        };
        assert_eq!(once.expire(t0 + ms(100)), 1);
        assert_eq!((once.next, once.expire(t0 + ms(200))), (None, 0));
    }

    #[test]
    fn posix_timers_reuse_ids_fire_with_overruns_and_are_capped() {
        let t0 = Instant::now();
        let mut ts = PosixTimers::default();
        let a = ts.create(1, Notify::Process { sig: 10 }, 7).expect("a");
        let b = ts.create(1, Notify::Nothing, 0).expect("b");
        assert_eq!((a, b), (0, 1));
        assert!(ts.delete(a));
        assert_eq!(ts.create(1, Notify::Nothing, 0), Some(0));
        ts.get_mut(1).expect("b").schedule = Schedule {
            next: Some(t0),
            every: Some(Duration::from_millis(1)),
        };
        assert_eq!(ts.next_expiry(), Some(t0));
        let due = ts.fire(t0 + Duration::from_micros(3500));
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].id, due[0].overrun), (1, 3));
        let mut full = PosixTimers::default();
        for _ in 0..MAX_POSIX_TIMERS {
            assert!(full.create(1, Notify::Nothing, 0).is_some());
        }
        assert_eq!(full.create(1, Notify::Nothing, 0), None);
    }

    #[test]
    fn a_timerfd_counts_until_read_and_setting_it_drops_the_count() {
        let t0 = Instant::now();
        let f = TimerFd::new(1, false, 1);
        assert_eq!(f.take(t0), None);
        f.set(
            Schedule {
                next: Some(t0),
                every: Some(Duration::from_millis(10)),
            },
            t0,
        );
        assert_eq!(f.ticks(t0 + Duration::from_millis(25)), 3);
        assert_eq!(f.take(t0 + Duration::from_millis(25)), Some(3));
        assert_eq!(f.take(t0 + Duration::from_millis(25)), None);
        let old = f.set(Schedule::default(), t0 + Duration::from_millis(26));
        assert_eq!(old.every, Some(Duration::from_millis(10)));
        assert_eq!(f.next_expiry(), None);
    }
}

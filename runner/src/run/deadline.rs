//! The wall-clock limit of a run, without a thread: a kernel timer
//! (thinvisor-kmod's `KickTimer`) kicks the vCPU's own thread out of
//! `KVM_RUN`, or out of a blocking host call, when the deadline passes and
//! every 20 ms after it; the run loop compares the clock with the deadline
//! before every run and on every interruption.

use std::time::{Duration, Instant};
use thinvisor_kmod::{KickTimer, KmodError, Vcpu};

/// How often the timer repeats its kick after the deadline: it bounds how
/// long a guest that makes no exits can outlive its limit when the first
/// kick lands between two runs (and is therefore lost).
pub const REPEAT: Duration = Duration::from_millis(20);

/// An armed deadline; dropping it disarms the timer.
pub struct Deadline {
    at: Instant,
    _timer: KickTimer,
    /// A `runner serve` client's connection: the run also ends when it
    /// hangs up (the kernel kicks the vCPU thread then, see `watch`).
    client: Option<std::os::fd::OwnedFd>,
    /// `--forward-signals`: the read end of the pipe the runner's handler
    /// writes signals sent to it into (`process_signals::relay`); a host
    /// thread of the run passes them on to the guest (run/threads.rs).
    relayed: Option<std::os::fd::OwnedFd>,
}

impl Deadline {
    /// Arms a deadline `remaining` from now for `vcpu`, run on this thread.
    pub fn arm(vcpu: &Vcpu, remaining: Duration) -> Result<Deadline, KmodError> {
        let now = Instant::now();
        Ok(Deadline {
            at: now.checked_add(remaining).unwrap_or(now),
            _timer: vcpu.kick_timer(remaining, REPEAT)?,
            client: None,
            relayed: None,
        })
    }

    /// Also ends the run when `client` (a connection the peer only ever
    /// closes) becomes readable or hangs up. The caller has set it up with
    /// `process_signals::kick_on_input` before locking down (fcntl is not
    /// in the filter), so the kernel kicks this thread then, as the timer
    /// does.
    pub fn watch(&mut self, client: std::os::fd::OwnedFd) {
        self.client = Some(client);
    }

    /// Signals sent to the runner arrive on `pipe` (`process_signals::relay`)
    /// and go on to the guest's first process.
    pub fn relay(&mut self, pipe: std::os::fd::OwnedFd) {
        self.relayed = Some(pipe);
    }

    /// The relay pipe, if signals are forwarded.
    pub fn relayed(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.relayed.as_ref().map(std::os::fd::AsFd::as_fd)
    }

    /// True when the watched client has hung up (or sent anything).
    pub fn client_gone(&self) -> bool {
        use rustix::event::{poll, PollFd, PollFlags};
        let Some(c) = &self.client else {
            return false;
        };
        let mut fds = [PollFd::new(c, PollFlags::IN)];
        let now = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        matches!(poll(&mut fds, Some(&now)), Ok(n) if n > 0)
    }

    /// When it passes.
    pub fn at(&self) -> Instant {
        self.at
    }

    /// True once the deadline has passed.
    pub fn passed(&self) -> bool {
        Instant::now() >= self.at
    }
}

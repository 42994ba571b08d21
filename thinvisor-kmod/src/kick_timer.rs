//! A deadline for a vCPU without a watchdog thread: a kernel POSIX timer
//! (CLOCK_MONOTONIC) that sends the kick signal ([`KICK_SIGNAL`]) to the
//! vCPU's own thread when the deadline passes, then again every `every`,
//! until it is dropped.
//!
//! A signal that lands inside `KVM_RUN`, or inside a blocking host call the
//! runner makes for the guest, ends it with EINTR (`VmExit::Interrupted`).
//! Unlike [`crate::Interrupter`] it does not set `immediate_exit`: a signal
//! that lands while the thread is between two runs is lost, so the caller
//! checks its deadline before every run, and the repeats bound how long a
//! guest that never exits can outlive it.

use crate::error::{KmodError, Result};
use crate::interrupt::KICK_SIGNAL;
use std::time::Duration;

/// An armed kick timer; dropping it deletes the timer.
pub struct KickTimer {
    ids: Vec<libc::timer_t>,
}

fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}

impl KickTimer {
    /// Arms one timer per thread of `tids` (threads of this process): each
    /// kicks its thread after `after` (at least 1 ns: a zero value would
    /// disarm it), then every `every`.
    pub(crate) fn arm(tids: &[libc::pid_t], after: Duration, every: Duration) -> Result<KickTimer> {
        let mut timer = KickTimer { ids: Vec::new() };
        for &tid in tids {
            timer.arm_one(tid, after, every)?;
        }
        Ok(timer)
    }

    fn arm_one(&mut self, tid: libc::pid_t, after: Duration, every: Duration) -> Result<()> {
        let fail = |what: &'static str| KmodError::Timer {
            what,
            source: std::io::Error::last_os_error(),
        };
        // SAFETY: a zeroed sigevent is a valid "no notification" value; the
        // fields set below are the ones SIGEV_THREAD_ID reads.
        let mut event: libc::sigevent = unsafe { std::mem::zeroed() };
        event.sigev_notify = libc::SIGEV_THREAD_ID;
        event.sigev_signo = KICK_SIGNAL;
        event.sigev_notify_thread_id = tid;
        let mut id: libc::timer_t = std::ptr::null_mut();
        // SAFETY: `event` and `id` are valid for the call; the kernel copies
        // the event and writes the new timer's id.
        if unsafe { libc::timer_create(libc::CLOCK_MONOTONIC, &mut event, &mut id) } != 0 {
            return Err(fail("timer_create"));
        }
        // Owned from here on: dropping `self` deletes it on every path.
        self.ids.push(id);
        let spec = libc::itimerspec {
            it_value: timespec(after.max(Duration::from_nanos(1))),
            it_interval: timespec(every),
        };
        // SAFETY: `id` is the timer created above, `spec` is valid for the
        // call.
        if unsafe { libc::timer_settime(id, 0, &spec, std::ptr::null_mut()) } != 0 {
            return Err(fail("timer_settime"));
        }
        Ok(())
    }
}

impl Drop for KickTimer {
    fn drop(&mut self) {
        for &id in &self.ids {
            // SAFETY: `id` is a timer this value created and deletes
            // exactly once.
            unsafe {
                libc::timer_delete(id);
            }
        }
    }
}

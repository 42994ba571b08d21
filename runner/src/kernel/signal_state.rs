//! Signal state: a process's dispositions ([`SignalActions`]) and each
//! thread's mask, pending set and alternate stack ([`ThreadSignals`]). The
//! syscalls that read and change them, and what raising a signal does, are
//! `syscalls/signals.rs`.

use crate::abi::constants::NSIG;
use crate::abi::sigframe::SigInfo;

/// One `struct sigaction` (kernel layout: handler, flags, restorer, mask).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Action {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

impl Action {
    pub fn to_bytes(self) -> [u8; 32] {
        let mut b = [0u8; 32];
        for (i, v) in [self.handler, self.flags, self.restorer, self.mask]
            .iter()
            .enumerate()
        {
            b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        b
    }
    pub fn from_bytes(b: &[u8; 32]) -> Action {
        let w = |i: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[i * 8..i * 8 + 8]);
            u64::from_le_bytes(x)
        };
        Action {
            handler: w(0),
            flags: w(1),
            restorer: w(2),
            mask: w(3),
        }
    }
}

/// A process's signal dispositions, shared by its threads (as with
/// CLONE_SIGHAND).
#[derive(Debug, Clone)]
pub struct SignalActions {
    actions: [Action; NSIG as usize],
}

impl Default for SignalActions {
    fn default() -> SignalActions {
        SignalActions {
            actions: [Action::default(); NSIG as usize],
        }
    }
}

impl SignalActions {
    /// The recorded action of `sig` (1..=64); the default for any other.
    pub fn action(&self, sig: u64) -> Action {
        self.actions
            .get((sig.wrapping_sub(1)) as usize)
            .copied()
            .unwrap_or_default()
    }

    /// Records `action` for `sig` (1..=64; others are ignored).
    pub fn set(&mut self, sig: u64, action: Action) {
        if let Some(a) = self.actions.get_mut((sig.wrapping_sub(1)) as usize) {
            *a = action;
        }
    }

    /// execve: a signal with a handler goes back to its default action
    /// (the handler's code is gone); an ignored one stays ignored.
    pub fn reset_for_exec(&mut self) {
        for a in &mut self.actions {
            if a.handler != crate::abi::constants::SIG_IGN {
                *a = Action::default();
            } else {
                a.flags = 0;
                a.mask = 0;
                a.restorer = 0;
            }
        }
    }
}

/// One thread's signal state: its mask, what is pending for it, and its
/// alternate stack.
#[derive(Debug, Clone)]
pub struct ThreadSignals {
    pub mask: u64,
    pub pending: u64,
    /// How each pending signal was raised (for the death line).
    pub pending_cause: [&'static str; NSIG as usize],
    /// (ss_sp, ss_flags, ss_size) of the alternate stack, if set.
    pub altstack: Option<(u64, u64, u64)>,
    /// A CPU fault to deliver to the program's handler before it runs
    /// again: the signal's siginfo and the trap's details.
    pub fault: Option<(SigInfo, crate::abi::sigframe::Trap)>,
    /// rt_sigsuspend's mask to restore once a handler ran (the frame
    /// saves it as the mask to return to).
    pub saved_mask: Option<u64>,
}

impl ThreadSignals {
    /// Takes the signals other threads posted into the pending set.
    pub fn take_inbox(&mut self, inbox: &std::sync::atomic::AtomicU64) {
        let posted = inbox.swap(0, std::sync::atomic::Ordering::SeqCst);
        if posted != 0 {
            self.pending |= posted;
            for sig in 1..=NSIG as u64 {
                if posted & (1 << (sig - 1)) != 0 {
                    self.pending_cause[(sig - 1) as usize] = "sent by another thread with tgkill";
                }
            }
        }
    }

    /// Takes the signals other threads posted into the pending set, and
    /// claims the process-directed ones (`shared`) this thread does not
    /// block or is waiting for (`wanted`: rt_sigtimedwait's set, a
    /// signalfd's mask), so each is taken by one thread only.
    pub fn take_posted(
        &mut self,
        inbox: &std::sync::atomic::AtomicU64,
        shared: &std::sync::atomic::AtomicU64,
        wanted: u64,
    ) {
        self.take_inbox(inbox);
        let open = !self.mask | wanted;
        if shared.load(std::sync::atomic::Ordering::SeqCst) & open == 0 {
            return;
        }
        let before = shared.fetch_and(!open, std::sync::atomic::Ordering::SeqCst);
        let claimed = before & open;
        self.pending |= claimed;
        for sig in 1..=NSIG as u64 {
            if claimed & (1 << (sig - 1)) != 0 {
                self.pending_cause[(sig - 1) as usize] = "sent to the process";
            }
        }
    }

    /// The lowest pending signal the mask does not block.
    pub fn next_deliverable(&self) -> Option<u64> {
        let ready = self.pending & !self.mask;
        (ready != 0).then(|| u64::from(ready.trailing_zeros()) + 1)
    }
}

impl Default for ThreadSignals {
    fn default() -> ThreadSignals {
        ThreadSignals {
            mask: 0,
            pending: 0,
            pending_cause: [""; NSIG as usize],
            altstack: None,
            fault: None,
            saved_mask: None,
        }
    }
}

/// The siginfo of pending signals raised with more than a number (a POSIX
/// timer's value and overrun, `rt_sigqueueinfo`'s data), by (thread id,
/// signal); thread id 0 holds the process-directed ones. Signals without
/// an entry are delivered with the siginfo of tkill.
///
/// Real-time signals (32 and up) queue, as on Linux: each one sent is
/// delivered, in order, with its own siginfo; the pending bit stays set
/// while one is queued (the consumers re-pend it: [`PendingInfo::more`]).
/// At most [`MAX_QUEUED`] wait in a process (Linux's RLIMIT_SIGPENDING);
/// `rt_sigqueueinfo` is EAGAIN past that. A standard signal has at most one
/// entry (a second one while the first is pending is dropped, as on
/// Linux), and so does a timer's (a new expiry replaces it: it carries the
/// overrun count).
#[derive(Debug, Default, Clone)]
pub struct PendingInfo {
    entries: std::collections::BTreeMap<(u64, u64), std::collections::VecDeque<SigInfo>>,
    queued: usize,
}

/// The most real-time signals queued in one process.
pub const MAX_QUEUED: usize = 4096;

/// The lowest real-time signal number (the kernel's `SIGRTMIN`).
const SIGRTMIN: u64 = 32;

impl PendingInfo {
    /// Records `info` for signal `info.signo` pending on `tid` (0: the
    /// process): queued after the others for a real-time signal (dropped
    /// when [`MAX_QUEUED`] wait); for a standard one, only if none waits; a
    /// timer's replaces its last.
    pub fn put(&mut self, tid: u64, info: SigInfo) {
        let sig = info.signo as u64;
        let queue = self.entries.entry((tid, sig)).or_default();
        let timer = info.code == crate::abi::constants::SI_TIMER;
        if !timer && !queue.is_empty() {
            // A real-time signal queues (past the limit it is dropped, its
            // number still pending); a standard one already pending keeps
            // the first one's siginfo, as on Linux.
            if sig >= SIGRTMIN && self.queued < MAX_QUEUED {
                queue.push_back(info);
                self.queued += 1;
            }
            return;
        }
        self.queued -= queue.len();
        queue.clear();
        queue.push_back(info);
        self.queued += 1;
    }

    /// Whether no more real-time signals may be queued.
    pub fn full(&self) -> bool {
        self.queued >= MAX_QUEUED
    }

    /// The first entry of `sig` for `tid` (or for the process), if one
    /// waits; leaves it.
    pub fn peek(&self, tid: u64, sig: u64) -> Option<&SigInfo> {
        self.entries
            .get(&(tid, sig))
            .and_then(|q| q.front())
            .or_else(|| self.entries.get(&(0, sig)).and_then(|q| q.front()))
    }

    /// Takes the first entry of `sig` for `tid`, else the process's.
    pub fn take(&mut self, tid: u64, sig: u64) -> Option<SigInfo> {
        let key = if self.entries.contains_key(&(tid, sig)) {
            (tid, sig)
        } else {
            (0, sig)
        };
        let queue = self.entries.get_mut(&key)?;
        let info = queue.pop_front();
        if queue.is_empty() {
            self.entries.remove(&key);
        }
        if info.is_some() {
            self.queued -= 1;
        }
        info
    }

    /// Whether another `sig` waits for `tid` (or the process) after one
    /// was taken: the taker sets its pending bit again.
    pub fn more(&self, tid: u64, sig: u64) -> bool {
        self.peek(tid, sig).is_some()
    }

    /// Forgets the entries of `sig` for `tid` alone.
    pub fn forget(&mut self, tid: u64, sig: u64) {
        if let Some(q) = self.entries.remove(&(tid, sig)) {
            self.queued -= q.len();
        }
    }

    /// Forgets every entry of `sig` (it is ignored now).
    pub fn discard(&mut self, sig: u64) {
        let keys: Vec<(u64, u64)> = self
            .entries
            .keys()
            .filter(|k| k.1 == sig)
            .copied()
            .collect();
        for (tid, s) in keys {
            self.forget(tid, s);
        }
    }

    /// Forgets thread `tid`'s entries (it exited).
    pub fn forget_thread(&mut self, tid: u64) {
        let keys: Vec<(u64, u64)> = self
            .entries
            .keys()
            .filter(|k| k.0 == tid)
            .copied()
            .collect();
        for (t, s) in keys {
            self.forget(t, s);
        }
    }
}

#[cfg(test)]
mod pending_info_tests {
    use super::*;
    use crate::abi::constants::{SI_TIMER, SI_USER};

    fn info(sig: i32, code: i32, value: u64) -> SigInfo {
        SigInfo {
            signo: sig,
            code,
            value,
            ..SigInfo::default()
        }
    }

    #[test]
    fn real_time_signals_queue_in_order_and_standard_ones_keep_the_first() {
        let mut p = PendingInfo::default();
        for v in 1..=3 {
            p.put(0, info(35, -1, v));
        }
        p.put(7, info(10, SI_USER, 1));
        p.put(7, info(10, SI_USER, 2));
        assert_eq!(p.take(7, 10).map(|i| i.value), Some(1));
        assert!(!p.more(7, 10));
        for v in 1..=3 {
            assert_eq!(p.take(7, 35).map(|i| i.value), Some(v));
            assert_eq!(p.more(7, 35), v < 3);
        }
        assert_eq!(p.queued, 0);
    }

    #[test]
    fn a_timer_replaces_its_entry_and_the_queue_has_a_bound() {
        let mut p = PendingInfo::default();
        p.put(0, info(40, SI_TIMER, 1));
        p.put(0, info(40, SI_TIMER, 2));
        assert_eq!(p.take(0, 40).map(|i| i.value), Some(2));
        for v in 0..MAX_QUEUED as u64 + 10 {
            p.put(0, info(50, -1, v));
        }
        assert!(p.full());
        assert_eq!(p.queued, MAX_QUEUED);
        p.put(3, info(51, -1, 0));
        p.discard(50);
        assert_eq!(p.queued, 1);
        p.forget_thread(3);
        assert_eq!(p.queued, 0);
        assert!(p.peek(3, 51).is_none());
    }
}

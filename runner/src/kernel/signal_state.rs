//! Signal state: a process's dispositions ([`SignalActions`]) and each
//! thread's mask, pending set and alternate stack ([`ThreadSignals`]). The
//! syscalls that read and change them, and what raising a signal does, are
//! `syscalls/signals.rs`.

use crate::abi::constants::NSIG;

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
    pub fault: Option<(crate::abi::sigframe::SigInfo, crate::abi::sigframe::Trap)>,
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
/// timer's value and overrun), by (thread id, signal); thread id 0 holds
/// the process-directed ones. Signals without an entry are delivered with
/// the siginfo of tkill. At most one entry per thread and signal (Linux
/// queues real-time signals; here a second one of the same number while
/// the first is pending replaces it, and a timer counts it as an overrun).
#[derive(Debug, Default, Clone)]
pub struct PendingInfo {
    entries: std::collections::BTreeMap<(u64, u64), crate::abi::sigframe::SigInfo>,
}

impl PendingInfo {
    /// Records `info` for signal `info.signo` pending on `tid` (0: the
    /// process).
    pub fn put(&mut self, tid: u64, info: crate::abi::sigframe::SigInfo) {
        self.entries.insert((tid, info.signo as u64), info);
    }

    /// The entry of `sig` for `tid` (or for the process), if one waits;
    /// leaves it.
    pub fn peek(&self, tid: u64, sig: u64) -> Option<&crate::abi::sigframe::SigInfo> {
        self.entries
            .get(&(tid, sig))
            .or_else(|| self.entries.get(&(0, sig)))
    }

    /// Takes the entry of `sig` for `tid`, else the process's.
    pub fn take(&mut self, tid: u64, sig: u64) -> Option<crate::abi::sigframe::SigInfo> {
        self.entries
            .remove(&(tid, sig))
            .or_else(|| self.entries.remove(&(0, sig)))
    }

    /// Forgets the entry of `sig` for `tid` alone.
    pub fn forget(&mut self, tid: u64, sig: u64) {
        self.entries.remove(&(tid, sig));
    }

    /// Forgets thread `tid`'s entries (it exited).
    pub fn forget_thread(&mut self, tid: u64) {
        self.entries.retain(|&(t, _), _| t != tid);
    }
}

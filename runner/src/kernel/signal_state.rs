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

//! The terminal the policy lends the guest (`stdio.terminal`): which of the
//! sandbox's process groups is in the foreground, and which signals from
//! outside are the terminal's (keys and window changes) rather than a
//! kill.
//!
//! The host terminal's own foreground group is the runner, and stays so:
//! `tcsetpgrp` in the guest moves this record only, so the keys that make
//! signals reach the runner, which passes them to this group
//! (`run/threads.rs`, `relay_signals`), as Linux's terminal driver signals
//! its foreground group. Guarded by the kernel lock, like all of
//! [`super::Kernel`].

/// The signals a terminal sends its foreground process group: the
/// interrupt, quit and suspend keys, and a window size change. The runner
/// catches these (besides `--forward-signals`' set) when a terminal is
/// lent.
pub const TERMINAL_SIGNALS: [i32; 4] = [libc::SIGINT, libc::SIGQUIT, libc::SIGTSTP, libc::SIGWINCH];

/// The lent terminal's job-control state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terminal {
    /// The foreground process group (`tcgetpgrp`).
    pub foreground: u64,
    /// The session it is the controlling terminal of (`TIOCGSID`): the
    /// first program's.
    pub session: u64,
}

impl Terminal {
    /// The terminal of a run whose first program, `first`, leads its own
    /// group and session.
    pub fn for_first(first: u64) -> Terminal {
        Terminal {
            foreground: first,
            session: first,
        }
    }

    /// Whether a signal from outside is the terminal's, for its foreground
    /// group, rather than a kill of the first program.
    pub fn sends(sig: u64) -> bool {
        TERMINAL_SIGNALS
            .iter()
            .any(|&s| u64::from(s.unsigned_abs()) == sig)
    }
}

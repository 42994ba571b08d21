//! How a guest dies, the exit status it yields (as a native process would
//! die of the same signal), and the one line printed on stderr.

use crate::abi::constants::{SIGKILL, SIGSYS};
use std::fmt;

/// Why the guest was ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Death {
    /// A CPU exception or a forbidden action, delivered as a fatal signal.
    Signal {
        signal: i32,
        cause: String,
        rip: u64,
        addr: Option<u64>,
    },
    /// The wall-clock limit passed (SIGKILL, 137).
    TimeLimit { rip: u64, limit_secs: f64 },
    /// The policy kills on a denied syscall (status 159 = 128 + SIGSYS).
    PolicyKill { syscall: String, rip: u64 },
    /// A served run whose client went away (SIGKILL, 137).
    ClientGone { rip: u64 },
}

impl Death {
    /// The address the death line names, to translate.
    pub fn rip_mut(&mut self) -> Option<&mut u64> {
        match self {
            Death::Signal { rip, .. }
            | Death::TimeLimit { rip, .. }
            | Death::PolicyKill { rip, .. }
            | Death::ClientGone { rip } => Some(rip),
        }
    }

    /// Exit status of `runner exec`.
    pub fn exit_status(&self) -> i32 {
        match self {
            Death::Signal { signal, .. } => 128 + signal,
            Death::TimeLimit { .. } => 128 + SIGKILL,
            Death::PolicyKill { .. } => 128 + SIGSYS,
            Death::ClientGone { .. } => 128 + SIGKILL,
        }
    }
}

/// The conventional name of signal `sig` (SIGRTMIN+n for real-time ones).
pub fn signal_name(sig: i32) -> std::borrow::Cow<'static, str> {
    const NAMES: [&str; 31] = [
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    match sig {
        1..=31 => std::borrow::Cow::Borrowed(NAMES[(sig - 1) as usize]),
        32..=64 => std::borrow::Cow::Owned(format!("SIGRTMIN+{}", sig - 32)),
        _ => std::borrow::Cow::Borrowed("signal"),
    }
}

impl fmt::Display for Death {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Death::Signal {
                signal,
                cause,
                rip,
                addr,
            } => {
                write!(
                    f,
                    "guest killed by {} ({cause}) at rip {rip:#x}",
                    signal_name(*signal)
                )?;
                if let Some(a) = addr {
                    write!(f, ", address {a:#x}")?;
                }
                Ok(())
            }
            Death::TimeLimit { rip, limit_secs } => {
                write!(f, "guest killed by SIGKILL (time limit of {limit_secs}s exceeded) at rip {rip:#x}")
            }
            Death::PolicyKill { syscall, rip } => {
                write!(
                    f,
                    "guest killed by SIGSYS (syscall {syscall} denied by policy) at rip {rip:#x}"
                )
            }
            Death::ClientGone { rip } => {
                write!(
                    f,
                    "guest killed by SIGKILL (its runner exec --server client went away) at rip {rip:#x}"
                )
            }
        }
    }
}

/// The fatal signal and a description for exception `vector`, as Linux
/// delivers them to a user process.
pub fn exception(vector: u8) -> (i32, &'static str) {
    use crate::abi::constants::*;
    match vector {
        0 => (SIGFPE, "divide error"),
        1 => (SIGTRAP, "debug trap"),
        2 => (SIGSEGV, "non-maskable interrupt"),
        3 => (SIGTRAP, "breakpoint"),
        4 => (SIGSEGV, "overflow"),
        5 => (SIGSEGV, "bound range exceeded"),
        6 => (SIGILL, "invalid opcode"),
        7 => (SIGSEGV, "device not available"),
        8 => (SIGSEGV, "double fault"),
        10 => (SIGSEGV, "invalid TSS"),
        11 => (SIGBUS, "segment not present"),
        12 => (SIGBUS, "stack-segment fault"),
        13 => (SIGSEGV, "general protection fault"),
        14 => (SIGSEGV, "page fault"),
        16 => (SIGFPE, "x87 floating-point error"),
        17 => (SIGBUS, "alignment check"),
        18 => (SIGBUS, "machine check"),
        19 => (SIGFPE, "SIMD floating-point error"),
        _ => (SIGSEGV, "unexpected exception"),
    }
}

/// Describes a page-fault error code: "write to unmapped address" etc.
pub fn page_fault_cause(error_code: u64) -> String {
    let access = if error_code & 0x10 != 0 {
        "instruction fetch from"
    } else if error_code & 0x2 != 0 {
        "write to"
    } else {
        "read from"
    };
    let what = if error_code & 0x1 != 0 {
        "protected"
    } else {
        "unmapped"
    };
    format!("page fault: {access} {what} address")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_match_the_contract() {
        let sig = |v| {
            Death::Signal {
                signal: exception(v).0,
                cause: String::new(),
                rip: 0,
                addr: None,
            }
            .exit_status()
        };
        assert_eq!(sig(14), 139);
        assert_eq!(sig(13), 139);
        assert_eq!(sig(6), 132);
        assert_eq!(sig(0), 136);
        assert_eq!(sig(3), 133);
        assert_eq!(
            Death::TimeLimit {
                rip: 0,
                limit_secs: 1.0
            }
            .exit_status(),
            137
        );
        assert_eq!(
            Death::PolicyKill {
                syscall: "x".into(),
                rip: 0
            }
            .exit_status(),
            159
        );
        assert_eq!(
            page_fault_cause(0x15),
            "page fault: instruction fetch from protected address"
        );
        assert_eq!(
            page_fault_cause(0x6),
            "page fault: write to unmapped address"
        );
    }
}

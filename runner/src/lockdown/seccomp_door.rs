//! The door a worker locked down before its request (`runner serve
//! --policy`, run/ahead.rs) keeps open to take that request: rules added
//! to its allow-list at the lock-down, and killed again by one more small
//! filter (`seccomp_filter::door_shut`) once the request is taken and
//! before its program is read. After that the worker's filters allow
//! exactly what a cold run's allow for the same policy.

use super::seccomp_rules::{rule, ArgCheck, Rule, When::Always};

/// `F_SETOWN_EX` and `F_SETSIG` (include/uapi/asm-generic/fcntl.h; the
/// libc crate lacks them).
const F_SETOWN_EX: u64 = 15;
const F_SETSIG: u64 = 10;
/// `SECCOMP_SET_MODE_FILTER` (include/uapi/linux/seccomp.h).
const SECCOMP_SET_MODE_FILTER: u64 = 1;

/// What the door lets through, each with who needs it and why.
pub const DOOR_RULES: &[Rule] = &[
    rule(
        "accept4",
        Always,
        &[ArgCheck::OneOf { arg: 0, values: &[("0 (the server's listening socket)", 0)] }],
        "the worker takes its one connection from the server's listening socket, its descriptor 0 (serve/worker.rs); the client's standard input replaces descriptor 0 before the door shuts",
    ),
    rule(
        "fcntl",
        Always,
        &[ArgCheck::OneOf {
            arg: 1,
            values: &[("F_SETOWN_EX", F_SETOWN_EX), ("F_SETSIG", F_SETSIG)],
        }],
        "the run ends when its client hangs up: the connection's readiness signal is aimed at the vCPU's thread (thinvisor-kmod's kick_on_input)",
    ),
    rule(
        "prctl",
        Always,
        &[ArgCheck::OneOf { arg: 0, values: &[("PR_SET_NO_NEW_PRIVS", libc::PR_SET_NO_NEW_PRIVS as u64)] }],
        "seccompiler sets no_new_privs before it installs a filter (it is already set; it cannot be unset)",
    ),
    rule(
        "seccomp",
        Always,
        &[ArgCheck::OneOf { arg: 0, values: &[("SECCOMP_SET_MODE_FILTER", SECCOMP_SET_MODE_FILTER)] }],
        "installs the filter that shuts the door; a filter can only take away (the kernel takes the strictest answer of all)",
    ),
];

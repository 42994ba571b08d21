//! The validated policy's scalar parts: limits, standard streams,
//! environment and syscall rules (`[[files]]`, `[[network]]` and
//! `[[tunnel]]` have modules of their own).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::defaults;

/// `[limits]`: resource ceilings for one guest run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Guest memory ceiling in bytes (a multiple of 4096, at least 1 MiB).
    pub memory_bytes: u64,
    /// Wall-clock limit for the whole run (also set by `--timeout`).
    pub wall_time: Duration,
    /// CPU time limit; `None` means no separate CPU limit.
    pub cpu_time: Option<Duration>,
    /// Most guest file descriptors open at once, counting fds 0, 1 and 2.
    pub open_files: u32,
    /// Most guest threads alive at once, the first one included (each is a
    /// vCPU run by a host thread of the runner).
    pub threads: u32,
    /// Most guest processes alive at once (zombies count until reaped), the
    /// first program included.
    pub processes: u32,
    /// Most host CPUs the guest's threads run on at once (the runner's
    /// affinity is narrowed to that many of the CPUs it may use); `None`:
    /// every one of them.
    pub cpus: Option<u32>,
    /// Total bytes the guest may write to files, stdout and stderr together.
    pub bytes_written: u64,
    /// Most files and directories the guest may create in read-write trees
    /// over the run (each takes an inode and directory space on the host's
    /// disk even when empty, which `bytes_written` does not count).
    pub created_entries: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: defaults::MEMORY_BYTES,
            wall_time: defaults::WALL_TIME,
            cpu_time: defaults::CPU_TIME,
            open_files: defaults::OPEN_FILES,
            threads: defaults::THREADS,
            processes: defaults::PROCESSES,
            cpus: defaults::CPUS,
            bytes_written: defaults::BYTES_WRITTEN,
            created_entries: defaults::CREATED_ENTRIES,
        }
    }
}

/// `[stdio]`: which standard streams are connected to the runner's own.
/// A stream that is not connected still exists in the guest: reads from it
/// return end-of-file, writes to it succeed and are discarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stdio {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// `stdio.terminal`: the runner's streams that are a terminal are the
    /// guest's terminal too: its settings and window size (TCGETS,
    /// TCSETS, TIOCGWINSZ, ...) reach the host terminal, and the keys that
    /// make signals there (Ctrl-C, Ctrl-\, Ctrl-Z) and window changes
    /// signal the guest's foreground process group. Off: every terminal
    /// request is ENOTTY and the guest sees no terminal.
    pub terminal: bool,
}

impl Default for Stdio {
    fn default() -> Self {
        Stdio {
            stdin: defaults::STDIO_CONNECTED,
            stdout: defaults::STDIO_CONNECTED,
            stderr: defaults::STDIO_CONNECTED,
            terminal: defaults::STDIO_TERMINAL,
        }
    }
}

/// `[identity]`: the user and group the guest is (getuid, getgid, the
/// owner of what it may write). Nothing but what the guest is told: uid 0
/// grants no privilege on the host or over the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (getgroups), in order; none by default.
    pub groups: Vec<u32>,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            uid: defaults::GUEST_ID,
            gid: defaults::GUEST_ID,
            groups: Vec::new(),
        }
    }
}

/// `[env]`: the guest's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Env {
    /// Variables given to the guest (override inherited ones of the same name).
    pub vars: BTreeMap<String, String>,
    /// Whether the runner's own environment is passed to the guest first.
    pub inherit: bool,
}

impl Default for Env {
    fn default() -> Self {
        Env {
            vars: BTreeMap::new(),
            inherit: defaults::ENV_INHERIT,
        }
    }
}

/// What happens to a refused syscall (`syscalls.on_deny`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDeny {
    /// The syscall returns `-errno` to the guest (errno is positive, e.g. 1).
    Errno(i32),
    /// The guest is killed as if by SIGSYS: exit status 159 (128 + 31).
    Kill,
}

/// The exit status the runner reports for [`OnDeny::Kill`].
pub const KILL_EXIT_STATUS: i32 = 159;

/// One `[[syscalls.args]]` rule: constraints on one argument of one syscall.
/// All constraints present must hold. Values are the raw 64-bit registers
/// (rdi, rsi, rdx, r10, r8, r9 for arguments 0..=5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgRule {
    /// Syscall number.
    pub nr: u32,
    /// Argument index, 0..=5.
    pub arg: usize,
    /// If set: the argument must equal one of these.
    pub values: Option<Vec<u64>>,
    /// If set: the argument must be `<=` this (unsigned comparison).
    pub max: Option<u64>,
    /// If set: the argument must have no bits outside this mask.
    pub mask: Option<u64>,
}

impl ArgRule {
    /// Whether the argument value `value` satisfies this rule.
    pub fn accepts(&self, value: u64) -> bool {
        let in_values = match &self.values {
            Some(values) => values.contains(&value),
            None => true,
        };
        let below_max = match self.max {
            Some(max) => value <= max,
            None => true,
        };
        let inside_mask = match self.mask {
            Some(mask) => value & !mask == 0,
            None => true,
        };
        in_values && below_max && inside_mask
    }
}

/// exit (60) and exit_group (231): how a guest ends, so never refused (an
/// `allow` list implicitly includes them; `deny` naming them is an error).
pub const ALWAYS_ALLOWED: [u32; 2] = [60, 231];

/// The syscalls a vDSO answers inside the guest, without a syscall:
/// clock_gettime (228), gettimeofday (96), time (201), getcpu (309). It is
/// provided only while the rules leave every one of them unrestricted.
pub const VDSO_SYSCALLS: [u32; 4] = [228, 96, 201, 309];

/// `[syscalls]`: which emulated syscalls the guest may make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyscallRules {
    /// Refused syscall numbers.
    pub deny: BTreeSet<u32>,
    /// If `Some`, only these numbers are allowed (an allow-list).
    pub allow: Option<BTreeSet<u32>>,
    /// Argument constraints, in file order; at most one per (syscall, arg).
    pub args: Vec<ArgRule>,
    pub on_deny: OnDeny,
    /// `syscalls.errno`: syscalls refused with an errno of their own
    /// (e.g. clone3 with ENOSYS, so that a C library falls back to
    /// clone), whatever `on_deny` says. Never in `deny`, `allow` or `args`.
    pub errno: BTreeMap<u32, i32>,
    /// `syscalls.vdso`: whether the guest may get a vDSO (see
    /// [`Self::vdso_allowed`]). Validation makes it false when a policy
    /// restricts one of [`VDSO_SYSCALLS`] without saying.
    pub vdso: bool,
    /// `syscalls.ring`: answer patched syscall sites in the runner's
    /// shared-memory ring instead of by exit (`runner exec --syscalls`,
    /// which wins over it). A matter of speed: the rules apply the same.
    pub ring: RingChoice,
}

/// `syscalls.ring`: `false`, `true` or `"auto"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RingChoice {
    /// Every syscall exits (the default).
    #[default]
    Off,
    /// The ring.
    On,
    /// The ring where the runner finds it faster at start-up (the
    /// runner decides: `runner exec --syscalls auto`).
    Auto,
}

impl Default for SyscallRules {
    fn default() -> Self {
        SyscallRules {
            deny: BTreeSet::new(),
            allow: None,
            args: Vec::new(),
            on_deny: OnDeny::Errno(defaults::ON_DENY_ERRNO),
            errno: BTreeMap::new(),
            vdso: true,
            ring: RingChoice::Off,
        }
    }
}

impl SyscallRules {
    /// Whether syscall `nr` may be made at all: not in `deny`, and in `allow`
    /// when an allow-list is given. Numbers outside the syscall table are
    /// "allowed" here when there is no allow-list (the runner answers ENOSYS
    /// for syscalls it does not emulate).
    pub fn is_allowed(&self, nr: u32) -> bool {
        if ALWAYS_ALLOWED.contains(&nr) {
            return true;
        }
        let in_allow_list = match &self.allow {
            Some(allow) => allow.contains(&nr),
            None => true,
        };
        in_allow_list && !self.deny.contains(&nr)
    }

    /// The first of [`VDSO_SYSCALLS`] these rules restrict: refused, or
    /// with an argument rule (which a vDSO could not apply).
    pub fn vdso_conflict(&self) -> Option<u32> {
        VDSO_SYSCALLS.into_iter().find(|&nr| {
            !self.is_allowed(nr)
                || self.errno.contains_key(&nr)
                || self.args.iter().any(|r| r.nr == nr)
        })
    }

    /// How syscall `nr` with `args` is refused, if it is: its own errno
    /// (`syscalls.errno`), else `on_deny` when the lists or an argument
    /// rule refuse it.
    pub fn refusal(&self, nr: u32, args: &[u64; 6]) -> Option<OnDeny> {
        if let Some(&e) = self.errno.get(&nr) {
            return Some(OnDeny::Errno(e));
        }
        (!(self.is_allowed(nr) && self.arg_allowed(nr, args))).then_some(self.on_deny)
    }

    /// Whether the guest gets a vDSO: `vdso` is set and no syscall it
    /// answers is restricted, so it can never answer a call the rules
    /// would refuse.
    pub fn vdso_allowed(&self) -> bool {
        self.vdso && self.vdso_conflict().is_none()
    }

    /// Whether the arguments of syscall `nr` satisfy every `[[syscalls.args]]`
    /// rule for it (true when there is none). Check [`Self::is_allowed`] too.
    pub fn arg_allowed(&self, nr: u32, args: &[u64; 6]) -> bool {
        self.args
            .iter()
            .filter(|rule| rule.nr == nr)
            .all(|rule| args.get(rule.arg).is_some_and(|value| rule.accepts(*value)))
    }
}

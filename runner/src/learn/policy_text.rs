//! The learned policy as TOML text, each grant with a comment saying
//! what in the run needed it.

use super::rules::Rule;
use crate::audit::uses::Peer;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// The calls the vDSO answers without a syscall, so a run's statistics
/// never show them: an allowlist without them would turn the vDSO off
/// (docs/policy.md) and refuse the clock reads it answered.
const VDSO_CALLS: &[&str] = &["clock_gettime", "gettimeofday", "time", "getcpu"];

/// Calls a run needs whenever it makes another, though it may not have
/// needed them yet: (the call, its companion, why).
const COMPANIONS: &[(&str, &str, &str)] = &[
    (
        "rt_sigaction",
        "rt_sigreturn",
        "returns from the handlers rt_sigaction installs: refused, a handler could not return",
    ),
    (
        "rt_sigaction",
        "restart_syscall",
        "restarts a call a handler interrupted",
    ),
];

/// What the learning runs measured.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// The most guest memory in use at once, over the runs.
    pub peak_memory: u64,
    /// The longest run.
    pub wall_ns: u64,
    /// Each syscall made, with how often.
    pub syscalls: BTreeMap<String, u64>,
    pub runs: u32,
    pub exit_status: i32,
}

/// Memory headroom: the learned limit is this many times the peak.
pub const MEMORY_FACTOR: u64 = 2;
/// The smallest memory limit learned (a program's stack and its C
/// library's arenas need room whatever it touched).
pub const MEMORY_FLOOR: u64 = 32 << 20;
/// Time headroom: the learned limit is this many times the longest run.
pub const TIME_FACTOR: u64 = 4;
/// The shortest time limit learned, in seconds.
pub const TIME_FLOOR_SECS: u64 = 10;

/// The policy text for `command` (the program and its arguments, for
/// the header).
pub fn policy_text(command: &str, m: &Measured, rules: &[Rule], peers: &BTreeSet<Peer>) -> String {
    let mut o = String::new();
    let runs = if m.runs == 1 {
        "one run".to_string()
    } else {
        format!("{} runs", m.runs)
    };
    let _ = writeln!(o, "# Learned by `runner learn` from {runs} of:");
    let _ = writeln!(o, "#   {command}");
    let _ = writeln!(
        o,
        "# (exit status {}). It allows what that used and nothing more: a",
        m.exit_status
    );
    let _ = writeln!(
        o,
        "# run that takes another path (other input, other files) may need more."
    );
    let _ = writeln!(o, "# Review it before use (docs/learn.md).");
    let _ = writeln!(o);
    let mib = |b: u64| b as f64 / f64::from(1u32 << 20);
    let memory = (m.peak_memory * MEMORY_FACTOR)
        .div_ceil(1 << 20)
        .max(MEMORY_FLOOR >> 20)
        << 20;
    let secs = (m.wall_ns * TIME_FACTOR)
        .div_ceil(1_000_000_000)
        .max(TIME_FLOOR_SECS);
    let _ = writeln!(o, "[limits]");
    let _ = writeln!(
        o,
        "# peak guest memory {:.1} MiB: {MEMORY_FACTOR} times that, at least {} MiB",
        mib(m.peak_memory),
        MEMORY_FLOOR >> 20
    );
    let _ = writeln!(o, "memory = \"{}\"", sandbox_policy::format_size(memory));
    let _ = writeln!(
        o,
        "# the longest run took {:.3} s: {TIME_FACTOR} times that, at least {TIME_FLOOR_SECS} s",
        m.wall_ns as f64 / 1e9
    );
    let _ = writeln!(o, "wall_time = \"{secs}s\"");
    for r in rules {
        let _ = writeln!(o);
        let _ = writeln!(o, "[[files]]");
        let _ = writeln!(o, "# {}", r.why);
        let _ = writeln!(o, "path = {}", quoted(&r.path.to_string_lossy()));
        let _ = writeln!(o, "access = \"{}\"", r.access());
    }
    for p in peers {
        let _ = writeln!(o);
        let _ = writeln!(o, "[[network]]");
        let what = if p.listen {
            "served on (bind)"
        } else if p.protocol == "udp" {
            "sent to"
        } else {
            "connected to"
        };
        let _ = writeln!(o, "# {what}");
        let _ = writeln!(o, "address = {}", quoted(&p.address));
        if p.protocol != "tcp" {
            let _ = writeln!(o, "protocol = \"{}\"", p.protocol);
        }
        if p.listen {
            let _ = writeln!(o, "listen = true");
        }
    }
    let names: Vec<&String> = m
        .syscalls
        .keys()
        .filter(|n| sandbox_policy::syscall_number(n).is_some())
        .collect();
    let _ = writeln!(o);
    let _ = writeln!(o, "[syscalls]");
    let _ = writeln!(
        o,
        "# the {} syscalls the run made; any other is refused (EPERM)",
        names.len()
    );
    let _ = writeln!(o, "allow = [");
    for n in &names {
        let calls = m.syscalls[*n];
        let _ = writeln!(
            o,
            "    \"{n}\",  # {calls} call{}",
            if calls == 1 { "" } else { "s" }
        );
    }
    for (with, companion, why) in COMPANIONS {
        if names.iter().any(|n| n == with) && !names.iter().any(|n| n == companion) {
            let _ = writeln!(o, "    \"{companion}\",  # {why}");
        }
    }
    for v in VDSO_CALLS.iter().filter(|v| !names.iter().any(|n| n == *v)) {
        let _ = writeln!(
            o,
            "    \"{v}\",  # answered by the vDSO, unseen: listed so that it stays on"
        );
    }
    let _ = writeln!(o, "]");
    o
}

/// A TOML basic string.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn the_text_is_a_valid_policy_with_the_headroom_stated() {
        let m = Measured {
            peak_memory: 40 << 20,
            wall_ns: 3_200_000_000,
            syscalls: [
                ("write".to_string(), 3),
                ("exit_group".to_string(), 1),
                ("nr_999".to_string(), 1),
            ]
            .into_iter()
            .collect(),
            runs: 1,
            exit_status: 0,
        };
        let rules = vec![Rule {
            path: PathBuf::from("/data/a \"b\".txt"),
            read: true,
            write: false,
            exec: false,
            why: "openat".into(),
        }];
        let peers = [Peer {
            protocol: "udp".into(),
            address: "127.0.0.1:53".into(),
            listen: false,
        }]
        .into_iter()
        .collect();
        let text = policy_text("prog", &m, &rules, &peers);
        let p = sandbox_policy::Policy::from_str_named(&text, "learned.toml")
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(p.limits.memory_bytes, 80 << 20);
        assert_eq!(p.limits.wall_time, std::time::Duration::from_secs(13));
        assert!(text.contains("path = \"/data/a \\\"b\\\".txt\""), "{text}");
        assert!(!text.contains("nr_999"), "unknown numbers cannot be named");
        assert!(
            text.contains("# peak guest memory 40.0 MiB: 2 times that"),
            "{text}"
        );
    }
}

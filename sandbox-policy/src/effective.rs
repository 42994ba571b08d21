//! [`Policy`] → the fully expanded policy file printed by `runner check`.

use std::fmt::Write;

use crate::duration::format_duration;
use crate::errno::errno_name;
use crate::size::format_size;
use crate::syscall_names::syscall_name;
use crate::types::{OnDeny, RingChoice};
use crate::Policy;

/// A TOML basic string: `"..."` with `\`, `"` and control characters escaped.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A key: bare when possible, else quoted.
fn key(name: &str) -> String {
    crate::location::join_key("", name)
}

fn names(numbers: impl Iterator<Item = u32>) -> String {
    let quoted: Vec<String> = numbers
        .map(|nr| match syscall_name(nr) {
            Some(name) => quote(name),
            None => nr.to_string(), // unreachable for parsed policies
        })
        .collect();
    format!("[{}]", quoted.join(", "))
}

/// Renders the whole policy, every key explicit. `from_str_named` reads it
/// back to an equal `Policy`.
pub fn render(policy: &Policy) -> String {
    let mut out = String::new();
    // `write!` to a String cannot fail; results are ignored below.
    let o = &mut out;
    let _ = writeln!(
        o,
        "# Effective thinvisor policy: every key, defaults filled in."
    );

    let l = &policy.limits;
    let _ = writeln!(o, "\n[limits]");
    let _ = writeln!(o, "memory = {}", quote(&format_size(l.memory_bytes)));
    let _ = writeln!(o, "wall_time = {}", quote(&format_duration(l.wall_time)));
    let cpu = l
        .cpu_time
        .map_or_else(|| "unlimited".to_owned(), format_duration);
    let _ = writeln!(o, "cpu_time = {}", quote(&cpu));
    let _ = writeln!(o, "open_files = {}", l.open_files);
    let _ = writeln!(o, "threads = {}", l.threads);
    let _ = writeln!(o, "processes = {}", l.processes);
    match l.cpus {
        Some(n) => {
            let _ = writeln!(o, "cpus = {n}");
        }
        None => {
            let _ = writeln!(o, "cpus = \"all\"");
        }
    }
    let _ = writeln!(
        o,
        "bytes_written = {}",
        quote(&format_size(l.bytes_written))
    );
    let _ = writeln!(o, "created_entries = {}", l.created_entries);

    let s = &policy.stdio;
    let _ = writeln!(o, "\n[stdio]");
    let _ = writeln!(
        o,
        "stdin = {}\nstdout = {}\nstderr = {}\nterminal = {}",
        s.stdin, s.stdout, s.stderr, s.terminal
    );

    let _ = writeln!(o, "\n[identity]");
    let _ = writeln!(
        o,
        "uid = {}\ngid = {}\ngroups = {:?}",
        policy.identity.uid, policy.identity.gid, policy.identity.groups
    );

    let _ = writeln!(o, "\n[env]");
    let _ = writeln!(o, "inherit = {}", policy.env.inherit);
    let vars: Vec<String> = policy
        .env
        .vars
        .iter()
        .map(|(k, v)| format!("{} = {}", key(k), quote(v)))
        .collect();
    if vars.is_empty() {
        let _ = writeln!(o, "vars = {{}}");
    } else {
        let _ = writeln!(o, "vars = {{ {} }}", vars.join(", "));
    }

    if policy.files.is_empty() {
        let _ = writeln!(o, "\n# [[files]]: none; the guest sees no host files.");
    }
    for rule in &policy.files {
        let _ = writeln!(o, "\n[[files]]");
        let _ = writeln!(o, "path = {}", quote(&rule.guest_path.to_string_lossy()));
        if rule.private {
            let _ = writeln!(o, "private = true");
        } else {
            let _ = writeln!(
                o,
                "host_path = {}",
                quote(&rule.host_path.to_string_lossy())
            );
        }
        let _ = writeln!(o, "access = {}", quote(rule.access_str()));
    }

    if policy.network.is_empty() {
        let _ = writeln!(o, "\n# [[network]]: none; the guest has no network access.");
    }
    for rule in &policy.network {
        let _ = writeln!(o, "\n[[network]]");
        let _ = writeln!(o, "address = {}", quote(&rule.addr.to_string()));
        let _ = writeln!(o, "protocol = {}", quote(rule.protocol.as_str()));
        if rule.listen {
            let _ = writeln!(o, "listen = true");
        }
    }

    let sc = &policy.syscalls;
    let _ = writeln!(o, "\n[syscalls]");
    let _ = writeln!(o, "deny = {}", names(sc.deny.iter().copied()));
    match &sc.allow {
        Some(allow) => {
            let _ = writeln!(o, "allow = {}", names(allow.iter().copied()));
        }
        None => {
            let _ = writeln!(o, "# allow: not set; every syscall not denied is allowed.");
        }
    }
    let on_deny = match sc.on_deny {
        OnDeny::Kill => "kill".to_owned(),
        OnDeny::Errno(n) => errno_name(n).map_or_else(|| n.to_string(), str::to_owned),
    };
    let _ = writeln!(o, "on_deny = {}", quote(&on_deny));
    let own: Vec<String> = sc
        .errno
        .iter()
        .map(|(&nr, &e)| {
            format!(
                "{} = {}",
                syscall_name(nr).unwrap_or("?"),
                quote(&errno_name(e).map_or_else(|| e.to_string(), str::to_owned))
            )
        })
        .collect();
    if own.is_empty() {
        let _ = writeln!(o, "errno = {{}}");
    } else {
        let _ = writeln!(o, "errno = {{ {} }}", own.join(", "));
    }
    let _ = writeln!(o, "vdso = {}", sc.vdso_allowed());
    let ring = match sc.ring {
        RingChoice::Off => "false",
        RingChoice::On => "true",
        RingChoice::Auto => "\"auto\"",
    };
    let _ = writeln!(o, "ring = {ring}");
    for rule in &sc.args {
        let _ = writeln!(o, "\n[[syscalls.args]]");
        let name = syscall_name(rule.nr).unwrap_or_default();
        let _ = writeln!(o, "syscall = {}", quote(name));
        let _ = writeln!(o, "arg = {}", rule.arg);
        if let Some(values) = &rule.values {
            // Values above i64::MAX print as negative (same 64-bit pattern).
            let shown: Vec<String> = values.iter().map(|v| (*v as i64).to_string()).collect();
            let _ = writeln!(o, "values = [{}]", shown.join(", "));
        }
        if let Some(max) = rule.max {
            let _ = writeln!(o, "max = {max}");
        }
        if let Some(mask) = rule.mask {
            let _ = writeln!(o, "mask = {mask:#x}");
        }
    }

    if policy.tunnel.is_empty() {
        let _ = writeln!(
            o,
            "\n# [[tunnel]]: none; syscall buffers are not restricted by address."
        );
    }
    for range in policy.tunnel.ranges() {
        let _ = writeln!(o, "\n[[tunnel]]");
        let _ = writeln!(o, "start = {:#x}", range.start);
        let _ = writeln!(o, "end = {:#x}", range.end);
        let _ = writeln!(o, "access = {}", quote(&range.perms.as_string()));
    }
    out
}

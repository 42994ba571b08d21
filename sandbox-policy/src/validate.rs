//! Raw schema → validated [`Policy`]: value parsing, range checks and
//! conflict detection, every error placed at a line and key path.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use crate::decimal::ScaleError;
use crate::defaults;
use crate::duration::parse_duration;
use crate::effective::quote;
use crate::errno::errno_number;
use crate::error::PolicyError;
use crate::files::{FileAccess, FileRule, FileRules};
use crate::location::{join_key, Source};
use crate::network::{NetRule, NetRules, Protocol};
use crate::paths::check_absolute_normalized;
use crate::schema::{
    RawArg, RawDuration, RawEnv, RawFile, RawInt, RawLimits, RawNet, RawPolicy, RawSize, RawStdio,
    RawSyscalls, RawTunnel,
};
use crate::size::parse_size;
use crate::syscall_names::syscall_number;
use crate::tunnel::{Perms, TunnelRange, TunnelRanges};
use crate::types::{ArgRule, Env, Limits, OnDeny, Stdio, SyscallRules};
use crate::Policy;

type Result<T> = std::result::Result<T, PolicyError>;

/// Validates a deserialized document.
pub fn validate(raw: RawPolicy, src: &Source<'_>) -> Result<Policy> {
    let limits = limits(raw.limits, src)?;
    let stdio = stdio(raw.stdio);
    let env = env(raw.env, src)?;
    let files = files(&raw.files, src)?;
    let network = network(&raw.network, src)?;
    let syscalls = syscalls(raw.syscalls, src)?;
    let tunnel = tunnel(&raw.tunnel, src)?;
    Ok(Policy {
        limits,
        stdio,
        env,
        files,
        network,
        syscalls,
        tunnel,
    })
}

// ---------------------------------------------------------------- limits --

fn limits(raw: Option<RawLimits>, src: &Source<'_>) -> Result<Limits> {
    let mut limits = Limits::default();
    let Some(raw) = raw else { return Ok(limits) };
    if let Some(memory) = &raw.memory {
        let key = "limits.memory";
        let bytes = size(memory, key, src)?;
        if bytes < defaults::MIN_MEMORY_BYTES {
            return Err(src.invalid(
                &memory.span(),
                key,
                format!(
                    "expected at least 1MiB, found {}",
                    show_size(memory.get_ref())
                ),
            ));
        }
        if bytes % defaults::PAGE_SIZE != 0 {
            return Err(src.invalid(
                &memory.span(),
                key,
                format!(
                    "expected a multiple of 4KiB (4096 bytes), found {}",
                    show_size(memory.get_ref())
                ),
            ));
        }
        limits.memory_bytes = bytes;
    }
    if let Some(wall_time) = &raw.wall_time {
        limits.wall_time = duration(wall_time, "limits.wall_time", src)?;
    }
    if let Some(cpu_time) = &raw.cpu_time {
        limits.cpu_time = if cpu_time.get_ref().0 == "unlimited" {
            None
        } else {
            Some(duration(cpu_time, "limits.cpu_time", src)?)
        };
    }
    if let Some(open_files) = &raw.open_files {
        let RawInt(n) = *open_files.get_ref();
        let range = i128::from(defaults::MIN_OPEN_FILES)..=i128::from(defaults::MAX_OPEN_FILES);
        limits.open_files = match u32::try_from(n) {
            Ok(n) if range.contains(&i128::from(n)) => n,
            _ => {
                return Err(src.invalid(
                    &open_files.span(),
                    "limits.open_files",
                    format!(
                    "expected an integer from {} to {} (stdin, stdout and stderr count), found {n}",
                    defaults::MIN_OPEN_FILES,
                    defaults::MAX_OPEN_FILES
                ),
                ))
            }
        };
    }
    if let Some(bytes_written) = &raw.bytes_written {
        limits.bytes_written = size(bytes_written, "limits.bytes_written", src)?;
    }
    Ok(limits)
}

fn show_size(raw: &RawSize) -> String {
    match raw {
        RawSize::Text(text) => quote(text),
        RawSize::Bytes(n) => n.to_string(),
    }
}

fn size(value: &Spanned<RawSize>, key: &str, src: &Source<'_>) -> Result<u64> {
    let found = show_size(value.get_ref());
    let result = match value.get_ref() {
        RawSize::Text(text) => parse_size(text),
        RawSize::Bytes(n) => u64::try_from(*n).map_err(|_| ScaleError::Malformed),
    };
    result.map_err(|e| {
        let message = match e {
            ScaleError::Malformed => format!("expected a size such as \"64MiB\", found {found}"),
            ScaleError::NotWhole => format!("expected a whole number of bytes, found {found}"),
            ScaleError::TooLarge => format!("expected a size that fits in 64 bits, found {found}"),
        };
        src.invalid(&value.span(), key, message)
    })
}

fn duration(value: &Spanned<RawDuration>, key: &str, src: &Source<'_>) -> Result<Duration> {
    let text = &value.get_ref().0;
    let found = quote(text);
    let message = match parse_duration(text) {
        Ok(d) if d.is_zero() => format!("expected a duration greater than zero, found {found}"),
        Ok(d) => return Ok(d),
        Err(ScaleError::Malformed) => {
            let unlimited = if key == "limits.cpu_time" {
                " or \"unlimited\""
            } else {
                ""
            };
            format!("expected a duration such as \"5s\", \"250ms\" or \"1.5s\"{unlimited}, found {found}")
        }
        Err(ScaleError::NotWhole) => {
            format!("expected a whole number of nanoseconds, found {found}")
        }
        Err(ScaleError::TooLarge) => {
            format!("expected a duration below 584 years, found {found}")
        }
    };
    Err(src.invalid(&value.span(), key, message))
}

// ------------------------------------------------------------ stdio, env --

fn stdio(raw: Option<RawStdio>) -> Stdio {
    let default = Stdio::default();
    match raw {
        None => default,
        Some(raw) => Stdio {
            stdin: raw.stdin.unwrap_or(default.stdin),
            stdout: raw.stdout.unwrap_or(default.stdout),
            stderr: raw.stderr.unwrap_or(default.stderr),
        },
    }
}

fn env(raw: Option<RawEnv>, src: &Source<'_>) -> Result<Env> {
    let mut env = Env::default();
    let Some(raw) = raw else { return Ok(env) };
    if let Some(inherit) = raw.inherit {
        env.inherit = inherit;
    }
    for (name, value) in raw.vars.unwrap_or_default() {
        let key = join_key("env.vars", name.get_ref());
        if name.get_ref().is_empty() || name.get_ref().contains(['=', '\0']) {
            return Err(src.invalid(
                &name.span(),
                &key,
                format!(
                    "expected a variable name (not empty, no \"=\" or NUL), found {}",
                    quote(name.get_ref())
                ),
            ));
        }
        if value.get_ref().contains('\0') {
            return Err(src.invalid(
                &value.span(),
                &key,
                format!(
                    "expected a value without NUL characters, found {}",
                    quote(value.get_ref())
                ),
            ));
        }
        env.vars.insert(name.into_inner(), value.into_inner());
    }
    Ok(env)
}

// ----------------------------------------------------------------- files --

fn path(value: &Spanned<String>, key: &str, src: &Source<'_>) -> Result<std::path::PathBuf> {
    check_absolute_normalized(value.get_ref()).map_err(|expected| {
        src.invalid(
            &value.span(),
            key,
            format!("expected {expected}, found {}", quote(value.get_ref())),
        )
    })
}

fn files(raw: &[Spanned<RawFile>], src: &Source<'_>) -> Result<FileRules> {
    let mut rules = Vec::with_capacity(raw.len());
    // guest path → (index, span of its `path`)
    let mut seen: BTreeMap<std::path::PathBuf, (usize, Range<usize>)> = BTreeMap::new();
    for (i, entry) in raw.iter().enumerate() {
        let entry = entry.get_ref();
        let path_key = format!("files[{i}].path");
        let guest_path = path(&entry.path, &path_key, src)?;
        let host_path = match &entry.host_path {
            Some(host) => path(host, &format!("files[{i}].host_path"), src)?,
            None => guest_path.clone(),
        };
        let access = match entry.access.get_ref().as_str() {
            "read" => FileAccess::Read,
            "read-write" => FileAccess::ReadWrite,
            other => {
                return Err(src.invalid(
                    &entry.access.span(),
                    &format!("files[{i}].access"),
                    format!(
                        "expected \"read\" or \"read-write\", found {}",
                        quote(other)
                    ),
                ))
            }
        };
        if let Some((j, other_span)) = seen.get(&guest_path) {
            let other: &FileRule = &rules[*j];
            let message = if other.access == access {
                format!("{} is listed twice", quote(entry.path.get_ref()))
            } else {
                format!(
                    "{} is listed twice with conflicting access ({} here, {} there)",
                    quote(entry.path.get_ref()),
                    quote(access.as_str()),
                    quote(other.access.as_str())
                )
            };
            return Err(src.conflict(
                &entry.path.span(),
                &path_key,
                message,
                other_span,
                &format!("files[{j}].path"),
            ));
        }
        seen.insert(guest_path.clone(), (i, entry.path.span()));
        rules.push(FileRule {
            guest_path,
            host_path,
            access,
        });
    }
    Ok(FileRules::from_checked(rules))
}

// --------------------------------------------------------------- network --

fn address(value: &Spanned<String>, key: &str, src: &Source<'_>) -> Result<SocketAddr> {
    let text = value.get_ref();
    let found = quote(text);
    let message = match text.parse::<SocketAddr>() {
        Ok(addr) if addr.port() == 0 => format!("expected a port from 1 to 65535, found {found}"),
        Ok(addr) if addr.ip().is_unspecified() => {
            format!("expected a concrete address (not 0.0.0.0 or ::), found {found}")
        }
        Ok(addr) => return Ok(addr),
        Err(_) if looks_like_host_name(text) => {
            format!("expected an IP address literal, not a host name, found {found}")
        }
        Err(_) => format!(
            "expected an address and port such as \"127.0.0.1:8080\" or \"[::1]:53\", found {found}"
        ),
    };
    Err(src.invalid(&value.span(), key, message))
}

/// `name:port` where name is not an IP literal but could be a DNS name.
fn looks_like_host_name(text: &str) -> bool {
    let Some((host, port)) = text.rsplit_once(':') else {
        return false;
    };
    !host.is_empty()
        && !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && host.parse::<std::net::IpAddr>().is_err()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && host.bytes().any(|b| b.is_ascii_alphabetic())
}

fn network(raw: &[Spanned<RawNet>], src: &Source<'_>) -> Result<NetRules> {
    let mut rules: Vec<NetRule> = Vec::with_capacity(raw.len());
    let mut spans: Vec<Range<usize>> = Vec::with_capacity(raw.len());
    for (i, entry) in raw.iter().enumerate() {
        let entry = entry.get_ref();
        let addr_key = format!("network[{i}].address");
        let addr = address(&entry.address, &addr_key, src)?;
        let protocol = match entry.protocol.as_ref().map(|p| (p, p.get_ref().as_str())) {
            None | Some((_, "tcp")) => Protocol::Tcp,
            Some((_, "udp")) => Protocol::Udp,
            Some((p, other)) => {
                return Err(src.invalid(
                    &p.span(),
                    &format!("network[{i}].protocol"),
                    format!("expected \"tcp\" or \"udp\", found {}", quote(other)),
                ))
            }
        };
        let rule = NetRule { addr, protocol };
        if let Some(j) = rules.iter().position(|r| r.allows(protocol, addr)) {
            return Err(src.conflict(
                &entry.address.span(),
                &addr_key,
                format!(
                    "{} {} is listed twice",
                    protocol.as_str(),
                    quote(entry.address.get_ref())
                ),
                &spans[j],
                &format!("network[{j}].address"),
            ));
        }
        rules.push(rule);
        spans.push(entry.address.span());
    }
    Ok(NetRules::from_checked(rules))
}

// -------------------------------------------------------------- syscalls --

/// A syscall named in the policy, with where it was named.
struct Named {
    nr: u32,
    key: String,
    span: Range<usize>,
}

fn syscall(value: &Spanned<String>, key: &str, src: &Source<'_>) -> Result<u32> {
    syscall_number(value.get_ref()).ok_or_else(|| {
        src.invalid(
            &value.span(),
            key,
            format!(
                "expected an x86-64 Linux syscall name such as \"openat\", found {}",
                quote(value.get_ref())
            ),
        )
    })
}

fn syscall_list(list: &[Spanned<String>], list_key: &str, src: &Source<'_>) -> Result<Vec<Named>> {
    let mut named: Vec<Named> = Vec::with_capacity(list.len());
    for (i, name) in list.iter().enumerate() {
        let key = format!("{list_key}[{i}]");
        let nr = syscall(name, &key, src)?;
        if let Some(first) = named.iter().find(|n| n.nr == nr) {
            return Err(src.conflict(
                &name.span(),
                &key,
                format!("{} is listed twice", quote(name.get_ref())),
                &first.span,
                &first.key,
            ));
        }
        named.push(Named {
            nr,
            key,
            span: name.span(),
        });
    }
    Ok(named)
}

fn on_deny(value: &Spanned<String>, src: &Source<'_>) -> Result<OnDeny> {
    let text = value.get_ref();
    if text == "kill" {
        return Ok(OnDeny::Kill);
    }
    errno_number(text).map(OnDeny::Errno).ok_or_else(|| {
        src.invalid(
            &value.span(),
            "syscalls.on_deny",
            format!(
                "expected an errno name such as \"EPERM\", or \"kill\", found {}",
                quote(text)
            ),
        )
    })
}

fn syscalls(raw: Option<RawSyscalls>, src: &Source<'_>) -> Result<SyscallRules> {
    let mut rules = SyscallRules::default();
    let Some(raw) = raw else { return Ok(rules) };
    let deny = syscall_list(
        raw.deny.as_deref().unwrap_or_default(),
        "syscalls.deny",
        src,
    )?;
    let allow = match &raw.allow {
        Some(list) => Some(syscall_list(list, "syscalls.allow", src)?),
        None => None,
    };
    if let Some(d) = deny
        .iter()
        .find(|d| crate::types::ALWAYS_ALLOWED.contains(&d.nr))
    {
        let name = quote(crate::syscall_name(d.nr).unwrap_or_default());
        return Err(src.invalid(
            &d.span,
            &d.key,
            format!("{name} cannot be denied: it is how the guest ends (exit and exit_group are always allowed)"),
        ));
    }
    for denied in &deny {
        let Some(allowed) = allow.iter().flatten().find(|a| a.nr == denied.nr) else {
            continue;
        };
        let name = quote(crate::syscall_name(denied.nr).unwrap_or_default());
        let message = format!("{name} is both allowed and denied");
        // Report at the later of the two, naming the earlier.
        let (here, there) = if allowed.span.start > denied.span.start {
            (allowed, denied)
        } else {
            (denied, allowed)
        };
        return Err(src.conflict(&here.span, &here.key, message, &there.span, &there.key));
    }
    if let Some(value) = &raw.on_deny {
        rules.on_deny = on_deny(value, src)?;
    }
    for (i, entry) in raw.args.iter().enumerate() {
        let rule = arg_rule(entry, i, src)?;
        let syscall_key = format!("syscalls.args[{i}].syscall");
        let span = entry.get_ref().syscall.span();
        let name = quote(entry.get_ref().syscall.get_ref());
        if let Some(denied) = deny.iter().find(|d| d.nr == rule.nr) {
            return Err(src.conflict(
                &span,
                &syscall_key,
                format!("{name} is denied, so this rule would never apply"),
                &denied.span,
                &denied.key,
            ));
        }
        if let Some(allow) = &allow {
            if !allow.iter().any(|a| a.nr == rule.nr) {
                return Err(src.invalid(
                    &span,
                    &syscall_key,
                    format!("{name} is not in syscalls.allow, so this rule would never apply"),
                ));
            }
        }
        if let Some(j) = rules
            .args
            .iter()
            .position(|r| r.nr == rule.nr && r.arg == rule.arg)
        {
            return Err(src.conflict(
                &entry.span(),
                &format!("syscalls.args[{i}]"),
                format!(
                    "a second rule for argument {} of {name}; put all constraints for one argument in one entry",
                    rule.arg
                ),
                &raw.args[j].span(),
                &format!("syscalls.args[{j}]"),
            ));
        }
        rules.args.push(rule);
    }
    rules.deny = deny.iter().map(|d| d.nr).collect();
    rules.allow = allow.map(|list| list.iter().map(|a| a.nr).collect::<BTreeSet<u32>>());
    rules.vdso = vdso(raw.vdso.as_ref(), &rules, src)?;
    Ok(rules)
}

/// `syscalls.vdso`: by default, a vDSO exactly when no syscall it answers
/// is restricted; `true` with such a restriction is a contradiction.
fn vdso(value: Option<&Spanned<bool>>, rules: &SyscallRules, src: &Source<'_>) -> Result<bool> {
    let conflict = rules.vdso_conflict();
    match (value, conflict) {
        (None, _) => Ok(conflict.is_none()),
        (Some(v), None) => Ok(*v.get_ref()),
        (Some(v), Some(_)) if !*v.get_ref() => Ok(false),
        (Some(v), Some(nr)) => {
            let name = quote(crate::syscall_name(nr).unwrap_or_default());
            let why = if !rules.is_allowed(nr) {
                if rules.deny.contains(&nr) {
                    "is denied"
                } else {
                    "is not in syscalls.allow"
                }
            } else {
                "has an argument rule"
            };
            Err(src.invalid(
                &v.span(),
                "syscalls.vdso",
                format!(
                    "true, but {name} {why}: the vDSO answers clock_gettime, gettimeofday, \
                     time and getcpu without a syscall, so it is provided only when all four \
                     are allowed without argument rules"
                ),
            ))
        }
    }
}

fn arg_rule(entry: &Spanned<RawArg>, i: usize, src: &Source<'_>) -> Result<ArgRule> {
    let raw = entry.get_ref();
    let prefix = format!("syscalls.args[{i}]");
    let nr = syscall(&raw.syscall, &format!("{prefix}.syscall"), src)?;
    let RawInt(index) = *raw.arg.get_ref();
    let arg = match usize::try_from(index) {
        Ok(arg) if arg <= 5 => arg,
        _ => {
            return Err(src.invalid(
                &raw.arg.span(),
                &format!("{prefix}.arg"),
                format!("expected an argument index from 0 to 5, found {index}"),
            ))
        }
    };
    let values = match &raw.values {
        None => None,
        Some(list) if list.get_ref().is_empty() => {
            return Err(src.invalid(
                &list.span(),
                &format!("{prefix}.values"),
                "expected at least one value (to refuse every call, use syscalls.deny)",
            ))
        }
        Some(list) => Some(
            list.get_ref()
                .iter()
                .map(|v| register_value(v, &format!("{prefix}.values"), src))
                .collect::<Result<Vec<u64>>>()?,
        ),
    };
    let unsigned = |v: &Option<Spanned<RawInt>>, name: &str| -> Result<Option<u64>> {
        let Some(v) = v else { return Ok(None) };
        let RawInt(n) = *v.get_ref();
        u64::try_from(n).map(Some).map_err(|_| {
            src.invalid(
                &v.span(),
                &format!("{prefix}.{name}"),
                format!("expected a non-negative integer, found {n}"),
            )
        })
    };
    let max = unsigned(&raw.max, "max")?;
    let mask = unsigned(&raw.mask, "mask")?;
    if values.is_none() && max.is_none() && mask.is_none() {
        return Err(src.invalid(
            &entry.span(),
            &prefix,
            "expected at least one of \"values\", \"max\" or \"mask\"",
        ));
    }
    Ok(ArgRule {
        nr,
        arg,
        values,
        max,
        mask,
    })
}

/// A value as the 64-bit register holds it: negatives are sign-extended
/// (two's complement), so `-100` matches `AT_FDCWD` as glibc passes it.
fn register_value(value: &Spanned<RawInt>, key: &str, src: &Source<'_>) -> Result<u64> {
    let RawInt(n) = *value.get_ref();
    if let Ok(unsigned) = u64::try_from(n) {
        return Ok(unsigned);
    }
    i64::try_from(n).map(|signed| signed as u64).map_err(|_| {
        src.invalid(
            &value.span(),
            key,
            format!("expected a 64-bit integer, found {n}"),
        )
    })
}

// ---------------------------------------------------------------- tunnel --

fn hex(n: i128) -> String {
    if n < 0 {
        n.to_string()
    } else {
        format!("{n:#x}")
    }
}

fn address_bound(value: &Spanned<RawInt>, key: &str, src: &Source<'_>) -> Result<u64> {
    let RawInt(n) = *value.get_ref();
    let limit = defaults::USER_ADDRESS_END;
    let in_user_half = u64::try_from(n).ok().filter(|a| *a <= limit);
    let Some(address) = in_user_half else {
        return Err(src.invalid(
            &value.span(),
            key,
            format!(
                "expected an address in the user half (0 to {limit:#x}), found {}",
                hex(n)
            ),
        ));
    };
    if address % defaults::PAGE_SIZE != 0 {
        return Err(src.invalid(
            &value.span(),
            key,
            format!(
                "expected a page-aligned address (a multiple of 0x1000), found {}",
                hex(n)
            ),
        ));
    }
    Ok(address)
}

fn tunnel(raw: &[Spanned<RawTunnel>], src: &Source<'_>) -> Result<TunnelRanges> {
    let mut ranges: Vec<TunnelRange> = Vec::with_capacity(raw.len());
    for (i, entry) in raw.iter().enumerate() {
        let entry = entry.get_ref();
        let start = address_bound(&entry.start, &format!("tunnel[{i}].start"), src)?;
        let end = address_bound(&entry.end, &format!("tunnel[{i}].end"), src)?;
        if end <= start {
            return Err(src.invalid(
                &entry.end.span(),
                &format!("tunnel[{i}].end"),
                format!("expected an end above start ({start:#x}), found {end:#x}"),
            ));
        }
        let perms = Perms::parse(entry.access.get_ref()).ok_or_else(|| {
            src.invalid(
                &entry.access.span(),
                &format!("tunnel[{i}].access"),
                format!(
                    "expected \"r\", \"rw\", \"rx\" or \"rwx\" (letters of \"rwx\" in that order), found {}",
                    quote(entry.access.get_ref())
                ),
            )
        })?;
        if let Some(j) = ranges.iter().position(|r| r.start < end && start < r.end) {
            let other = &ranges[j];
            return Err(src.conflict(
                &entry.start.span(),
                &format!("tunnel[{i}]"),
                format!(
                    "range {start:#x}..{end:#x} overlaps range {:#x}..{:#x}",
                    other.start, other.end
                ),
                &raw[j].get_ref().start.span(),
                &format!("tunnel[{j}]"),
            ));
        }
        ranges.push(TunnelRange { start, end, perms });
    }
    Ok(TunnelRanges::from_checked(ranges))
}

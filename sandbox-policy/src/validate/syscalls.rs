//! `[syscalls]`: the allow and deny lists (names, duplicates, conflicts,
//! exit and exit_group), `on_deny`, argument rules, `vdso` and `ring`.

use std::collections::BTreeSet;
use std::ops::Range;

use toml::Spanned;

use super::Result;
use crate::effective::quote;
use crate::errno::errno_number;
use crate::location::Source;
use crate::schema::{RawArg, RawInt, RawRing, RawSyscalls};
use crate::syscall_names::syscall_number;
use crate::types::{ArgRule, OnDeny, RingChoice, SyscallRules};

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

pub(super) fn syscalls(raw: Option<RawSyscalls>, src: &Source<'_>) -> Result<SyscallRules> {
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
    let own_errno = errno_map(raw.errno.as_ref(), &deny, allow.as_deref(), src)?;
    for (i, entry) in raw.args.iter().enumerate() {
        let rule = arg_rule(entry, i, src)?;
        let syscall_key = format!("syscalls.args[{i}].syscall");
        let span = entry.get_ref().syscall.span();
        let name = quote(entry.get_ref().syscall.get_ref());
        if let Some(own) = own_errno.iter().find(|o| o.0.nr == rule.nr) {
            return Err(src.conflict(
                &span,
                &syscall_key,
                format!("{name} is refused with its own errno, so this rule would never apply"),
                &own.0.span,
                &own.0.key,
            ));
        }
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
    rules.errno = own_errno.iter().map(|(n, e)| (n.nr, *e)).collect();
    rules.allow = allow.map(|list| list.iter().map(|a| a.nr).collect::<BTreeSet<u32>>());
    rules.vdso = vdso(raw.vdso.as_ref(), &rules, src)?;
    rules.ring = match raw.ring.as_ref() {
        None => RingChoice::Off,
        Some(v) => match v.get_ref() {
            RawRing::Bool(true) => RingChoice::On,
            RawRing::Bool(false) => RingChoice::Off,
            RawRing::Word(w) if w == "auto" => RingChoice::Auto,
            RawRing::Word(w) => {
                return Err(src.invalid(
                    &v.span(),
                    "syscalls.ring",
                    format!("expected true, false or \"auto\", found {}", quote(w)),
                ))
            }
        },
    };
    Ok(rules)
}

/// `syscalls.errno`: syscall names to errno names, each syscall in
/// neither list (a contradiction: it is refused with this errno whatever
/// they say), and never exit or exit_group.
fn errno_map(
    raw: Option<&std::collections::BTreeMap<Spanned<String>, Spanned<String>>>,
    deny: &[Named],
    allow: Option<&[Named]>,
    src: &Source<'_>,
) -> Result<Vec<(Named, i32)>> {
    let mut out = Vec::new();
    for (name, errno) in raw.into_iter().flatten() {
        let key = format!("syscalls.errno.{}", name.get_ref());
        let nr = syscall(name, &key, src)?;
        let quoted = quote(name.get_ref());
        if crate::types::ALWAYS_ALLOWED.contains(&nr) {
            return Err(src.invalid(
                &name.span(),
                &key,
                format!("{quoted} cannot be refused: it is how the guest ends (exit and exit_group are always allowed)"),
            ));
        }
        for (list, word) in [(deny, "denied"), (allow.unwrap_or_default(), "allowed")] {
            if let Some(other) = list.iter().find(|n| n.nr == nr) {
                return Err(src.conflict(
                    &name.span(),
                    &key,
                    format!("{quoted} is both {word} and refused with its own errno"),
                    &other.span,
                    &other.key,
                ));
            }
        }
        let number = errno_number(errno.get_ref()).ok_or_else(|| {
            src.invalid(
                &errno.span(),
                &key,
                format!(
                    "expected an errno name such as \"ENOSYS\", found {}",
                    quote(errno.get_ref())
                ),
            )
        })?;
        out.push((
            Named {
                nr,
                key,
                span: name.span(),
            },
            number,
        ));
    }
    Ok(out)
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
    // A mask is a bit pattern: a negative one is its two's complement, as
    // a value is (a seccomp profile's "none of these bits" has bit 63).
    let mask = match &raw.mask {
        Some(v) => Some(register_value(v, &format!("{prefix}.mask"), src)?),
        None => None,
    };
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

//! `linux.seccomp`: a container's seccomp profile as the policy's
//! `[syscalls]` rules, which the runner checks before emulating each guest
//! syscall (docs/policy.md). The guest never reaches the host kernel, so
//! the profile is applied to the calls it makes of the runner, by name.
//!
//! A profile that refuses by default becomes an allow-list (`allow`, with
//! `on_deny` the default action); one that allows by default a deny-list.
//! A call refused with an errno other than the default's goes into
//! `syscalls.errno` (containerd's and Docker's profiles answer clone3 with
//! ENOSYS so that the C library falls back to clone). Argument conditions
//! become `[[syscalls.args]]` where they mean the same: equality (several
//! rules for one call, each one equality on one argument, become a list of
//! values), `<=` and `<`, and a masked comparison with zero. Names that
//! are no x86-64 syscall are skipped, as runc skips them. Anything else
//! (notify, trace and trap actions, other comparisons, a condition on a
//! refused call) is refused at `create`, naming the rule.

use super::OciError;
use sandbox_policy::{errno_name, syscall_number};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use toml::{Table, Value};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    default_action: String,
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Vec<String>,
    #[serde(default)]
    flags: Vec<String>,
    listener_path: Option<String>,
    #[serde(default)]
    syscalls: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    names: Vec<String>,
    action: String,
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Vec<Arg>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Arg {
    index: u32,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

/// What a rule or the default does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Allow,
    Errno(u32),
    Kill,
}

/// EPERM: an ERRNO action's errno when the profile names none (runc's).
const EPERM: u32 = 1;

/// Flags that change nothing for calls the runner answers.
pub const HARMLESS_FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

fn refuse(field: &str, why: String) -> OciError {
    OciError::Refused {
        field: format!("linux.seccomp{field}"),
        why,
    }
}

fn act(field: &str, action: &str, errno: Option<u32>) -> Result<Act, OciError> {
    match action {
        "SCMP_ACT_ALLOW" | "SCMP_ACT_LOG" => Ok(Act::Allow),
        "SCMP_ACT_ERRNO" => Ok(Act::Errno(errno.unwrap_or(EPERM))),
        // The whole guest ends as a seccomp kill does (status 159); a
        // thread kill ends it too, a stricter answer than the profile's.
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_PROCESS" | "SCMP_ACT_KILL_THREAD" => Ok(Act::Kill),
        other => Err(refuse(
            field,
            format!("{other}: not supported (ALLOW, LOG, ERRNO and KILL are)"),
        )),
    }
}

/// The `[syscalls]` table for the profile `profile` (config.json's
/// `linux.seccomp`).
pub fn translate(profile: &serde_json::Value) -> Result<Table, OciError> {
    let p: Profile = serde_json::from_value(profile.clone())
        .map_err(|e| refuse("", format!("not a seccomp profile: {e}")))?;
    if p.listener_path.is_some() {
        return Err(refuse(
            ".listenerPath",
            "a seccomp agent is never consulted: every call is answered by the runner".into(),
        ));
    }
    if !p.architectures.is_empty() && !p.architectures.iter().any(|a| a == "SCMP_ARCH_X86_64") {
        return Err(refuse(
            ".architectures",
            "the guest is x86-64; the profile does not name SCMP_ARCH_X86_64".into(),
        ));
    }
    if let Some(f) = p
        .flags
        .iter()
        .find(|f| !HARMLESS_FLAGS.contains(&f.as_str()))
    {
        return Err(refuse(".flags", format!("{f}: not supported")));
    }
    let default = act(".defaultAction", &p.default_action, p.default_errno_ret)?;
    let mut out = Table::new();
    out.insert("on_deny".into(), on_deny(".defaultAction", default)?);
    let mut errno = Table::new();
    if default == Act::Allow {
        let mut deny = BTreeSet::new();
        let mut kill = false;
        for (i, rule) in p.syscalls.iter().enumerate() {
            let field = format!(".syscalls[{i}]");
            let what = act(&field, &rule.action, rule.errno_ret)?;
            if what == Act::Allow {
                continue;
            }
            if !rule.args.is_empty() {
                return Err(refuse(
                    &field,
                    "a profile that allows by default may refuse only whole calls (no argument conditions)".into(),
                ));
            }
            for name in known(&field, &rule.names, true)? {
                match what {
                    Act::Kill => {
                        kill = true;
                        deny.insert(name);
                    }
                    Act::Errno(e) => {
                        errno.insert(name, errno_value(&field, e)?);
                    }
                    Act::Allow => {}
                }
            }
        }
        if kill {
            out.insert("on_deny".into(), "kill".into());
        }
        out.insert(
            "deny".into(),
            Value::Array(deny.into_iter().map(Value::String).collect()),
        );
    } else {
        let (allow, args) = allow_list(&p.syscalls, default, &mut errno)?;
        out.insert(
            "allow".into(),
            Value::Array(allow.into_iter().map(Value::String).collect()),
        );
        if !args.is_empty() {
            out.insert("args".into(), Value::Array(args));
        }
    }
    if !errno.is_empty() {
        out.insert("errno".into(), Value::Table(errno));
    }
    Ok(out)
}

fn on_deny(field: &str, a: Act) -> Result<Value, OciError> {
    Ok(match a {
        Act::Kill | Act::Allow => "kill".into(),
        Act::Errno(e) => errno_value(field, e)?,
    })
}

fn errno_value(field: &str, e: u32) -> Result<Value, OciError> {
    i32::try_from(e)
        .ok()
        .and_then(errno_name)
        .map(|n| Value::String(n.to_string()))
        .ok_or_else(|| refuse(field, format!("errnoRet {e}: not an errno Linux has")))
}

/// The names of `names` that are x86-64 syscalls (the rest are other
/// architectures' and skipped). Exit and exit_group are always allowed:
/// skipped where a rule allows them, refused where one would refuse them.
fn known(field: &str, names: &[String], refusing: bool) -> Result<Vec<String>, OciError> {
    let mut out = Vec::new();
    for n in names {
        match syscall_number(n) {
            Some(nr) if sandbox_policy::ALWAYS_ALLOWED.contains(&nr) && !refusing => {}
            Some(nr) if sandbox_policy::ALWAYS_ALLOWED.contains(&nr) => {
                return Err(refuse(
                    field,
                    format!("{n} is how a program ends; it cannot be refused"),
                ))
            }
            Some(_) => out.push(n.clone()),
            None => {}
        }
    }
    Ok(out)
}

/// A refuse-by-default profile's allowed calls and their argument rules;
/// calls refused with another errno than the default's go into `errno`.
fn allow_list(
    rules: &[Rule],
    default: Act,
    errno: &mut Table,
) -> Result<(BTreeSet<String>, Vec<Value>), OciError> {
    let mut whole = BTreeSet::new();
    // Per call: each allowing rule's conditions (rules OR'ed).
    let mut conditional: BTreeMap<String, Vec<(String, Vec<Arg>)>> = BTreeMap::new();
    for (i, rule) in rules.iter().enumerate() {
        let field = format!(".syscalls[{i}]");
        let what = act(&field, &rule.action, rule.errno_ret)?;
        let names = known(&field, &rule.names, what != Act::Allow)?;
        match what {
            Act::Allow if rule.args.is_empty() => whole.extend(names),
            Act::Allow => {
                for n in names {
                    conditional
                        .entry(n)
                        .or_default()
                        .push((field.clone(), rule.args.clone()));
                }
            }
            // The default already refuses it so.
            _ if what == default && rule.args.is_empty() => {}
            Act::Errno(e) if rule.args.is_empty() => {
                for n in names {
                    errno.insert(n, errno_value(&field, e)?);
                }
            }
            _ => {
                return Err(refuse(
                    &field,
                    format!(
                        "{}: only the default action's refusal, or ERRNO for whole calls, can refuse a call in a profile that refuses by default",
                        rule.action
                    ),
                ))
            }
        }
    }
    let mut args = Vec::new();
    for (name, alternatives) in &conditional {
        if whole.contains(name) {
            continue;
        }
        let (field, _) = &alternatives[0];
        if errno.contains_key(name) {
            return Err(refuse(
                field,
                format!("{name} is both allowed under conditions and refused with its own errno"),
            ));
        }
        // None: no value can satisfy them, and the call stays refused.
        if let Some(rules) = conditions(name, alternatives)? {
            whole.insert(name.clone());
            args.extend(rules);
        }
    }
    for name in errno.keys() {
        if whole.contains(name) {
            return Err(refuse(
                "",
                format!("{name} is both allowed and refused with its own errno"),
            ));
        }
    }
    Ok((whole, args))
}

/// One call's `[[syscalls.args]]` entries for `alternatives` (rules, any
/// of which allows it); None when no argument can satisfy them.
fn conditions(
    name: &str,
    alternatives: &[(String, Vec<Arg>)],
) -> Result<Option<Vec<Value>>, OciError> {
    if let [(field, conds)] = alternatives {
        // One rule: its conditions must all hold, per argument.
        let mut per_arg: BTreeMap<u32, ArgRule> = BTreeMap::new();
        for c in conds {
            let r = per_arg.entry(c.index).or_default();
            if !r.add(field, c)? {
                return Ok(None);
            }
        }
        return Ok(Some(
            per_arg.into_iter().map(|(i, r)| r.entry(name, i)).collect(),
        ));
    }
    // Several rules: the same argument equal to one of several values.
    let mut index = None;
    let mut values = BTreeSet::new();
    for (field, conds) in alternatives {
        let one_equality = match conds.as_slice() {
            [c] if c.op == "SCMP_CMP_EQ" && index.is_none_or(|i| i == c.index) => {
                index = Some(c.index);
                values.insert(c.value);
                true
            }
            _ => false,
        };
        if !one_equality {
            return Err(refuse(
                field,
                format!("{name}: several rules allow it under conditions other than one argument equal to one of several values; not supported"),
            ));
        }
    }
    let rule = ArgRule {
        values: Some(values),
        ..ArgRule::default()
    };
    Ok(Some(vec![rule.entry(name, index.unwrap_or(0))]))
}

/// The conditions of one rule on one argument, as a policy argument rule.
#[derive(Debug, Default)]
struct ArgRule {
    values: Option<BTreeSet<u64>>,
    max: Option<u64>,
    /// Bits the argument may have.
    mask: Option<u64>,
}

impl ArgRule {
    /// Adds condition `c`; false when no value can satisfy the rule any
    /// more.
    fn add(&mut self, field: &str, c: &Arg) -> Result<bool, OciError> {
        if c.index > 5 {
            return Err(refuse(
                field,
                format!("argument index {}: at most 5", c.index),
            ));
        }
        match c.op.as_str() {
            "SCMP_CMP_EQ" => {
                let kept: BTreeSet<u64> = match &self.values {
                    Some(v) => v.iter().copied().filter(|&x| x == c.value).collect(),
                    None => [c.value].into(),
                };
                let empty = kept.is_empty();
                self.values = Some(kept);
                Ok(!empty)
            }
            "SCMP_CMP_LE" => {
                self.max = Some(self.max.map_or(c.value, |m| m.min(c.value)));
                Ok(true)
            }
            "SCMP_CMP_LT" => match c.value.checked_sub(1) {
                Some(m) => {
                    self.max = Some(self.max.map_or(m, |x| x.min(m)));
                    Ok(true)
                }
                None => Ok(false),
            },
            // (arg & value) == valueTwo, with valueTwo 0: none of value's
            // bits set.
            "SCMP_CMP_MASKED_EQ" if c.value_two == 0 => {
                self.mask = Some(self.mask.unwrap_or(u64::MAX) & !c.value);
                Ok(true)
            }
            op => Err(refuse(
                field,
                format!("{op} (value {}, valueTwo {}): not supported (EQ, LE, LT, and MASKED_EQ with valueTwo 0 are)", c.value, c.value_two),
            )),
        }
    }

    fn entry(self, name: &str, index: u32) -> Value {
        let int = |v: u64| Value::Integer(v as i64);
        let mut t = Table::new();
        t.insert("syscall".into(), name.into());
        t.insert("arg".into(), Value::Integer(i64::from(index)));
        if let Some(v) = self.values {
            t.insert(
                "values".into(),
                Value::Array(v.into_iter().map(int).collect()),
            );
        }
        if let Some(m) = self.max {
            t.insert("max".into(), int(m));
        }
        if let Some(m) = self.mask {
            t.insert("mask".into(), int(m));
        }
        Value::Table(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The shapes of Docker's and containerd's default profiles: an
    /// allow-list, personality allowed for a few values (one rule each),
    /// clone without namespace flags, clone3 answered ENOSYS, names of
    /// other architectures.
    #[test]
    fn a_default_profile_becomes_an_allow_list_with_argument_rules() {
        let profile = json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [
                {"names": ["read", "write", "exit_group", "_llseek"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 2114060288u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["sched_yield"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_LT"}]}
            ]
        });
        let table = translate(&profile).expect("translated");
        let mut top = Table::new();
        top.insert("syscalls".into(), Value::Table(table));
        let text = toml::to_string(&top).expect("toml");
        let p = sandbox_policy::Policy::from_str_named(&text, "t").expect("a policy");
        let rules = &p.syscalls;
        let none = [0u64; 6];
        let with = |a0: u64| [a0, 0, 0, 0, 0, 0];
        let (read, personality, clone, clone3, sched_yield, mount) = (0, 135, 56, 435, 24, 165);
        assert_eq!(rules.refusal(read, &none), None);
        assert_eq!(rules.refusal(personality, &with(8)), None);
        assert_eq!(
            rules.refusal(personality, &with(1)),
            Some(sandbox_policy::OnDeny::Errno(1))
        );
        assert_eq!(
            rules.refusal(clone, &with(0x3d0f00)),
            None,
            "a thread's clone"
        );
        assert!(
            rules.refusal(clone, &with(0x1000_0000)).is_some(),
            "CLONE_NEWUSER"
        );
        assert_eq!(
            rules.refusal(clone3, &none),
            Some(sandbox_policy::OnDeny::Errno(38))
        );
        assert!(
            rules.refusal(sched_yield, &none).is_some(),
            "x < 0 holds for nothing"
        );
        assert_eq!(
            rules.refusal(mount, &none),
            Some(sandbox_policy::OnDeny::Errno(1))
        );
    }
}

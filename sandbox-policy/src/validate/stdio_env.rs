//! `[stdio]`, `[env]` and `[identity]`: the guest's standard streams, its
//! environment (inheritance and variables), and who it is told it is.

use super::Result;
use crate::effective::quote;
use crate::location::{join_key, Source};
use crate::schema::{RawEnv, RawIdentity, RawInt, RawStdio};
use crate::types::{Env, Identity, Stdio};
use toml::Spanned;

pub(super) fn stdio(raw: Option<RawStdio>) -> Stdio {
    let default = Stdio::default();
    match raw {
        None => default,
        Some(raw) => Stdio {
            stdin: raw.stdin.unwrap_or(default.stdin),
            stdout: raw.stdout.unwrap_or(default.stdout),
            stderr: raw.stderr.unwrap_or(default.stderr),
            terminal: raw.terminal.unwrap_or(default.terminal),
        },
    }
}

pub(super) fn env(raw: Option<RawEnv>, src: &Source<'_>) -> Result<Env> {
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

/// The largest uid or gid: Linux's ids are 32 bits, and all ones is the
/// "unchanged" marker of the set*id calls.
const MAX_ID: u32 = u32::MAX - 1;

/// Linux's NGROUPS_MAX.
const MAX_GROUPS: usize = 65536;

pub(super) fn identity(raw: Option<RawIdentity>, src: &Source<'_>) -> Result<Identity> {
    let mut ids = Identity::default();
    let Some(raw) = raw else { return Ok(ids) };
    let id = |v: &Spanned<RawInt>, key: &str| -> Result<u32> {
        let RawInt(n) = *v.get_ref();
        match u32::try_from(n) {
            Ok(n) if n <= MAX_ID => Ok(n),
            _ => Err(src.invalid(
                &v.span(),
                key,
                format!("expected an id from 0 to {MAX_ID}, found {n}"),
            )),
        }
    };
    if let Some(uid) = &raw.uid {
        ids.uid = id(uid, "identity.uid")?;
    }
    if let Some(gid) = &raw.gid {
        ids.gid = id(gid, "identity.gid")?;
    }
    for (i, g) in raw.groups.iter().flatten().enumerate() {
        let key = format!("identity.groups[{i}]");
        if i >= MAX_GROUPS {
            return Err(src.invalid(
                &g.span(),
                &key,
                format!("expected at most {MAX_GROUPS} groups (NGROUPS_MAX)"),
            ));
        }
        ids.groups.push(id(g, &key)?);
    }
    Ok(ids)
}

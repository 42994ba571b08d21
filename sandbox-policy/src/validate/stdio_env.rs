//! `[stdio]` and `[env]`: the guest's standard streams, and its
//! environment (inheritance and variables).

use super::Result;
use crate::effective::quote;
use crate::location::{join_key, Source};
use crate::schema::{RawEnv, RawStdio};
use crate::types::{Env, Stdio};

pub(super) fn stdio(raw: Option<RawStdio>) -> Stdio {
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

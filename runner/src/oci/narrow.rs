//! An app policy narrowing a container's (`dev.thinvisor.policy`): a policy
//! file in the bundle, written by whoever packaged the program, that takes
//! away from what `config.json` grants and never adds to it.
//!
//! Section by section, only for what the app policy sets:
//! - `[limits]`: each key the smaller of the two;
//! - `[stdio]`: a stream may be disconnected, the terminal taken away;
//! - `[[files]]`: the app's rules replace the container's; each names a
//!   guest path some container rule covers, with no more access than that
//!   rule, and is backed by what backs that rule there (a private tree
//!   only as a whole);
//! - `[[network]]`: the app's entries replace the container's; each must
//!   be one of them;
//! - `[syscalls]` and `[[tunnel]]`: the app's (the container has none
//!   unless config.json has a seccomp profile, which an app's
//!   `[syscalls]` may then not join);
//! - `[env]` and `[identity]` are config.json's and refused here.
//!
//! Anything that would widen the grant is refused at `create`, naming the
//! entry, as the rest of config.json's translation is.

use super::OciError;
use sandbox_policy::{FileAccess, FileRule, Policy};
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// The annotation naming the app policy: a path relative to the bundle.
pub const POLICY_ANNOTATION: &str = "dev.thinvisor.policy";

/// The largest app policy read (a real one is a few KiB).
const MAX_POLICY_BYTES: u64 = 1 << 20;

fn refuse(why: String) -> OciError {
    OciError::Refused {
        field: format!("annotations.{POLICY_ANNOTATION}"),
        why,
    }
}

/// The app policy `name` names in `bundle` (absolute): its text, read from
/// a regular file inside the bundle (no `..`, no absolute path, no link
/// out of it).
pub fn read(bundle: &Path, name: &str) -> Result<String, OciError> {
    use std::io::Read;
    let rel = Path::new(name);
    let plain = !name.is_empty()
        && rel
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !plain {
        return Err(refuse(format!(
            "{name:?}: must be a path inside the bundle (relative, without `.` or `..`)"
        )));
    }
    let path = bundle.join(rel);
    let real =
        std::fs::canonicalize(&path).map_err(|e| refuse(format!("{}: {e}", path.display())))?;
    if !real.starts_with(bundle) || !real.is_file() {
        return Err(refuse(format!(
            "{name:?}: not a file inside the bundle (it leads to {})",
            real.display()
        )));
    }
    let mut text = String::new();
    std::fs::File::open(&real)
        .and_then(|f| f.take(MAX_POLICY_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| refuse(format!("{}: {e}", real.display())))?;
    if text.len() as u64 > MAX_POLICY_BYTES {
        return Err(refuse(format!(
            "{name:?}: larger than {MAX_POLICY_BYTES} bytes"
        )));
    }
    Ok(text)
}

/// Narrows `container` (the translated policy's TOML) by the app policy
/// `app_text`; `name` names it in messages.
pub fn narrow(container: &mut Table, app_text: &str, name: &str) -> Result<(), OciError> {
    let app_policy = Policy::from_str_named(app_text, name)
        .map_err(|e| refuse(format!("not a valid policy: {e}")))?;
    let app: Table = toml::from_str(app_text).map_err(|e| refuse(format!("{name}: {e}")))?;
    let container_text =
        toml::to_string(&*container).map_err(|e| OciError::Internal(e.to_string()))?;
    let ours = Policy::from_str_named(&container_text, "config.json")
        .map_err(|e| OciError::Bundle(format!("config.json makes no valid policy: {e}")))?;
    for key in app.keys() {
        match key.as_str() {
            "limits" | "stdio" | "files" | "network" | "syscalls" | "tunnel" => {}
            "env" | "identity" => {
                return Err(refuse(format!(
                "[{key}] is config.json's (process.env, process.user); an app policy only narrows"
            )))
            }
            other => return Err(refuse(format!("{other}: not a policy section"))),
        }
    }
    if let Some(Value::Table(limits)) = app.get("limits") {
        narrow_limits(container, limits, &ours, &app_policy)?;
    }
    if let Some(Value::Table(stdio)) = app.get("stdio") {
        narrow_stdio(container, stdio, &ours)?;
    }
    if let Some(Value::Array(raw)) = app.get("files") {
        let named = |i: usize, key: &str| {
            raw.get(i)
                .and_then(Value::as_table)
                .is_some_and(|t| t.contains_key(key))
        };
        if let Some(i) = (0..raw.len()).find(|&i| named(i, "host_path") || named(i, "private")) {
            return Err(refuse(format!(
                "files[{i}]: an app policy names guest paths only (no host_path, no private): config.json says what backs them"
            )));
        }
        let files = narrow_files(&ours, &app_policy)?;
        container.insert("files".into(), Value::Array(files));
    }
    if let Some(Value::Array(entries)) = app.get("network") {
        for (i, rule) in app_policy.network.iter().enumerate() {
            if !ours.network.iter().any(|o| o.same_as(rule)) {
                return Err(refuse(format!(
                    "network[{i}] ({} {}{}): config.json does not grant it",
                    rule.protocol.as_str(),
                    rule.addr,
                    if rule.listen { ", listen" } else { "" }
                )));
            }
        }
        container.insert("network".into(), Value::Array(entries.clone()));
    }
    if app.contains_key("syscalls") && container.contains_key("syscalls") {
        return Err(refuse(
            "[syscalls] beside config.json's linux.seccomp: give the calls in one of the two"
                .into(),
        ));
    }
    for key in ["syscalls", "tunnel"] {
        if let Some(v) = app.get(key) {
            container.insert(key.into(), v.clone());
        }
    }
    Ok(())
}

/// Each limit the app sets, where it is smaller than the container's.
fn narrow_limits(
    container: &mut Table,
    app: &Table,
    ours: &Policy,
    theirs: &Policy,
) -> Result<(), OciError> {
    let (o, t) = (&ours.limits, &theirs.limits);
    let unlimited_last = |x: Option<u64>| x.unwrap_or(u64::MAX);
    let limits = match container.get_mut("limits") {
        Some(Value::Table(l)) => l,
        _ => {
            return Err(OciError::Internal(
                "the translated policy has no [limits]".into(),
            ))
        }
    };
    for (key, value) in app {
        let smaller = match key.as_str() {
            "memory" => t.memory_bytes < o.memory_bytes,
            "wall_time" => t.wall_time < o.wall_time,
            "cpu_time" => {
                unlimited_last(t.cpu_time.map(|d| d.as_nanos() as u64))
                    < unlimited_last(o.cpu_time.map(|d| d.as_nanos() as u64))
            }
            "open_files" => t.open_files < o.open_files,
            "threads" => t.threads < o.threads,
            "processes" => t.processes < o.processes,
            "cpus" => unlimited_last(t.cpus.map(u64::from)) < unlimited_last(o.cpus.map(u64::from)),
            "bytes_written" => t.bytes_written < o.bytes_written,
            "created_entries" => t.created_entries < o.created_entries,
            other => return Err(refuse(format!("limits.{other}: not a limit"))),
        };
        if smaller {
            limits.insert(key.clone(), value.clone());
        }
    }
    Ok(())
}

/// Streams the app disconnects, and the terminal it gives up.
fn narrow_stdio(container: &mut Table, app: &Table, ours: &Policy) -> Result<(), OciError> {
    let mut stdio = match container.get("stdio") {
        Some(Value::Table(s)) => s.clone(),
        _ => Table::new(),
    };
    for (key, value) in app {
        let on = value.as_bool().unwrap_or(true);
        let granted = match key.as_str() {
            "stdin" => ours.stdio.stdin,
            "stdout" => ours.stdio.stdout,
            "stderr" => ours.stdio.stderr,
            "terminal" => ours.stdio.terminal,
            other => return Err(refuse(format!("stdio.{other}: not a stream"))),
        };
        if on && !granted {
            return Err(refuse(format!(
                "stdio.{key} = true: config.json does not give the container one"
            )));
        }
        stdio.insert(key.clone(), Value::Boolean(on));
    }
    container.insert("stdio".into(), Value::Table(stdio));
    Ok(())
}

/// The app's `[[files]]`, each backed by the container rule covering it.
fn narrow_files(ours: &Policy, theirs: &Policy) -> Result<Vec<Value>, OciError> {
    let mut out = Vec::new();
    for (i, rule) in theirs.files.iter().enumerate() {
        let at = || format!("files[{i}] ({})", rule.guest_path.display());
        let Some(grant) = ours.files.rule_for(&rule.guest_path) else {
            return Err(refuse(format!("{}: config.json shows nothing there", at())));
        };
        let wider = (rule.access == FileAccess::ReadWrite && grant.access != FileAccess::ReadWrite)
            || (rule.exec && !grant.exec);
        if wider {
            return Err(refuse(format!(
                "{}: {:?} is more than config.json's {:?} for {}",
                at(),
                rule.access_str(),
                grant.access_str(),
                grant.guest_path.display()
            )));
        }
        let mut entry = Table::new();
        entry.insert(
            "path".into(),
            rule.guest_path.to_string_lossy().into_owned().into(),
        );
        entry.insert("access".into(), rule.access_str().into());
        if grant.private {
            if grant.guest_path != rule.guest_path {
                return Err(refuse(format!(
                    "{}: inside the private tree {}, which an app policy narrows only as a whole",
                    at(),
                    grant.guest_path.display()
                )));
            }
            entry.insert("private".into(), true.into());
        } else {
            entry.insert(
                "host_path".into(),
                backing(grant, &rule.guest_path, &at)?
                    .to_string_lossy()
                    .into_owned()
                    .into(),
            );
        }
        out.push(Value::Table(entry));
    }
    Ok(out)
}

/// The host path backing `guest` under `grant`: the grant's own path, or
/// below it through directories only (a link in the root would be
/// followed on the host when the run opens the rule).
fn backing(grant: &FileRule, guest: &Path, at: &dyn Fn() -> String) -> Result<PathBuf, OciError> {
    let host = grant
        .host_path_for(guest)
        .ok_or_else(|| OciError::Internal(format!("{}: not under its rule", at())))?;
    if host == grant.host_path {
        return Ok(host);
    }
    let real = std::fs::canonicalize(&host).map_err(|e| {
        refuse(format!(
            "{}: {e} in what backs {}",
            at(),
            grant.guest_path.display()
        ))
    })?;
    if real != host {
        return Err(refuse(format!(
            "{}: a link in what backs {} (name the place it leads to inside the container instead)",
            at(),
            grant.guest_path.display()
        )));
    }
    Ok(host)
}

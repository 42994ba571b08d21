//! A bundle's `config.json` as a runner policy: what the container may see
//! and use, written as policy TOML (kept in the container's state
//! directory, readable with `runner check`) and checked by the same parser
//! as any policy file. What cannot be honoured is refused here, at
//! `create`, with the field that asks for it; nothing is ignored silently.
//! docs/kubernetes.md lists each field and what becomes of it.

use super::spec::{Mount, Process, Spec};
use super::OciError;
use std::path::{Component, Path, PathBuf};
use toml::{Table, Value};

/// What a container runs, besides its policy.
#[derive(Debug)]
pub struct Container {
    /// The policy, as TOML.
    pub policy: String,
    /// The program: a guest path (absolute, or as `process.args[0]` was
    /// found on the container's `PATH`).
    pub program: String,
    pub args: Vec<String>,
    pub cwd: String,
    /// `process.terminal`, with `process.consoleSize` (rows, columns):
    /// the container's streams are a terminal made for it.
    pub terminal: Option<Option<(u16, u16)>>,
}

/// Limits a container gets where its config sets none: a service runs
/// until it is stopped, writes logs for as long, and may hold as many
/// files as a default Linux process.
const WALL_TIME: &str = "8760h";
const BYTES_WRITTEN: &str = "1TiB";
const CREATED_ENTRIES: i64 = 10_000_000;
const MEMORY_DEFAULT: &str = "1GiB";
const THREADS: i64 = 256;
const PROCESSES: i64 = 256;
const OPEN_FILES_DEFAULT: i64 = 1024;

/// The annotation that grants the network: TOML `[[network]]` entries
/// (docs/kubernetes.md), as in a policy file.
pub const NETWORK_ANNOTATION: &str = "dev.thinvisor.network";

/// Translates `spec`, whose bundle is `bundle` (absolute), into a policy
/// and a program.
pub fn translate(spec: &Spec, bundle: &Path) -> Result<Container, OciError> {
    if !spec.oci_version.starts_with("1.") {
        return Err(refuse(
            "ociVersion",
            format!("{:?}: only runtime-spec 1.x", spec.oci_version),
        ));
    }
    let process = spec
        .process
        .as_ref()
        .ok_or_else(|| refuse("process", "missing: a container needs a process".into()))?;
    check_process(process)?;
    if spec.hooks.as_ref().is_some_and(has_hooks) {
        return Err(refuse(
            "hooks",
            "hooks run host programs outside the sandbox; none are run".into(),
        ));
    }
    let mut top = Table::new();
    top.insert("limits".into(), Value::Table(limits(spec, process)?));
    let mut files = vec![root_rule(spec, bundle)?];
    for (i, m) in spec.mounts.iter().enumerate() {
        if let Some(rule) = mount_rule(i, m)? {
            files.push(rule);
        }
    }
    top.insert(
        "files".into(),
        Value::Array(files.into_iter().map(Value::Table).collect()),
    );
    // Who the guest is told it is: the container's user (no privilege
    // follows from it, root included).
    let mut identity = Table::new();
    identity.insert("uid".into(), Value::Integer(i64::from(process.user.uid)));
    identity.insert("gid".into(), Value::Integer(i64::from(process.user.gid)));
    identity.insert(
        "groups".into(),
        Value::Array(
            process
                .user
                .additional_gids
                .iter()
                .map(|&g| Value::Integer(i64::from(g)))
                .collect(),
        ),
    );
    top.insert("identity".into(), Value::Table(identity));
    let env = environment(process)?;
    let path_var = env.get("PATH").and_then(Value::as_str).map(str::to_string);
    let mut env_table = Table::new();
    // Only the container's own variables: nothing of the host's.
    env_table.insert("inherit".into(), false.into());
    env_table.insert("vars".into(), Value::Table(env));
    top.insert("env".into(), Value::Table(env_table));
    if process.terminal {
        // The terminal is made for the container (`console.rs`): it may
        // set its modes and size, and its keys signal its foreground job.
        let mut stdio = Table::new();
        stdio.insert("terminal".into(), true.into());
        top.insert("stdio".into(), Value::Table(stdio));
    }
    if let Some(net) = spec.annotations.get(NETWORK_ANNOTATION) {
        top.insert("network".into(), network(net)?);
    }
    if let Some(linux) = &spec.linux {
        if let Some(profile) = &linux.seccomp {
            top.insert(
                "syscalls".into(),
                Value::Table(super::seccomp::translate(profile)?),
            );
        }
        if linux.intel_rdt.is_some() {
            return Err(refuse("linux.intelRdt", "not supported".into()));
        }
        if !linux.sysctl.is_empty() {
            return Err(refuse(
                "linux.sysctl",
                "the guest has no kernel parameters to set".into(),
            ));
        }
        if !linux.devices.is_empty() {
            return Err(refuse(
                "linux.devices",
                "no host device is ever opened for the guest; only /dev/null, zero, full, random and urandom exist".into(),
            ));
        }
    }
    // Last: an app policy in the bundle takes away from all of the above.
    if let Some(name) = spec.annotations.get(super::narrow::POLICY_ANNOTATION) {
        let text = super::narrow::read(bundle, name)?;
        super::narrow::narrow(&mut top, &text, name)?;
    }
    let root = host_root(spec, bundle)?;
    let program = find_program(&process.args[0], path_var.as_deref(), &root, &process.cwd)?;
    Ok(Container {
        policy: toml::to_string(&top).map_err(|e| OciError::Internal(e.to_string()))?,
        program,
        args: process.args[1..].to_vec(),
        cwd: if process.cwd.is_empty() {
            "/".into()
        } else {
            process.cwd.clone()
        },
        terminal: process.terminal.then(|| {
            process
                .console_size
                .as_ref()
                .map(|s| (clamp_u16(s.height), clamp_u16(s.width)))
        }),
    })
}

/// A console size, checked to fit by `check_process`.
fn clamp_u16(n: u32) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

fn refuse(field: &str, why: String) -> OciError {
    OciError::Refused {
        field: field.into(),
        why,
    }
}

fn has_hooks(v: &serde_json::Value) -> bool {
    v.as_object().is_some_and(|o| {
        o.values()
            .any(|h| h.as_array().is_some_and(|a| !a.is_empty()))
    })
}

fn check_process(p: &Process) -> Result<(), OciError> {
    if let Some(size) = &p.console_size {
        if size.height > u32::from(u16::MAX) || size.width > u32::from(u16::MAX) {
            return Err(refuse(
                "process.consoleSize",
                format!("{}x{}: at most 65535 either way", size.height, size.width),
            ));
        }
    }
    if p.args.is_empty() || p.args[0].is_empty() {
        return Err(refuse("process.args", "empty: nothing to run".into()));
    }
    if p.user.umask.is_some() {
        return Err(refuse(
            "process.user.umask",
            "not supported: the guest starts with umask 022 and may change it".into(),
        ));
    }
    if !p.cwd.is_empty() && !p.cwd.starts_with('/') {
        return Err(refuse(
            "process.cwd",
            format!("{:?}: must be absolute", p.cwd),
        ));
    }
    Ok(())
}

/// The policy's limits: the defaults above, the memory limit, the CPU
/// quota as whole CPUs, the pids limit, RLIMIT_NOFILE.
fn limits(spec: &Spec, p: &Process) -> Result<Table, OciError> {
    let mut t = Table::new();
    t.insert("wall_time".into(), WALL_TIME.into());
    t.insert("bytes_written".into(), BYTES_WRITTEN.into());
    t.insert("created_entries".into(), CREATED_ENTRIES.into());
    t.insert("threads".into(), THREADS.into());
    t.insert("processes".into(), PROCESSES.into());
    t.insert("memory".into(), MEMORY_DEFAULT.into());
    t.insert("open_files".into(), OPEN_FILES_DEFAULT.into());
    let resources = spec.linux.as_ref().and_then(|l| l.resources.as_ref());
    if let Some(limit) = resources
        .and_then(|r| r.memory.as_ref())
        .and_then(|m| m.limit)
    {
        if limit > 0 {
            // A whole number of pages, as the policy wants.
            let bytes = (limit as u64) & !0xfff;
            if bytes < sandbox_policy::defaults::MIN_MEMORY_BYTES {
                return Err(refuse(
                    "linux.resources.memory.limit",
                    format!("{limit}: below the smallest guest memory (1MiB)"),
                ));
            }
            t.insert("memory".into(), Value::Integer(bytes as i64));
        }
    }
    if let Some(cpu) = resources.and_then(|r| r.cpu.as_ref()) {
        if let (Some(quota), Some(period)) = (cpu.quota, cpu.period) {
            if quota > 0 && period > 0 {
                let cpus = (quota as u64).div_ceil(period).clamp(1, 1024);
                t.insert("cpus".into(), Value::Integer(cpus as i64));
            }
        }
        if cpu.cpus.as_ref().is_some_and(|c| !c.is_empty()) {
            return Err(refuse(
                "linux.resources.cpu.cpus",
                "pinning to named CPUs is not supported; a quota limits how many run at once"
                    .into(),
            ));
        }
    }
    if let Some(limit) = resources
        .and_then(|r| r.pids.as_ref())
        .and_then(|p| p.limit)
    {
        if limit > 0 {
            let n = limit.clamp(1, PROCESSES);
            t.insert("processes".into(), n.into());
            t.insert("threads".into(), n.into());
        }
    }
    for r in &p.rlimits {
        match r.kind.as_str() {
            "RLIMIT_NOFILE" => {
                let n = r.soft.clamp(3, 1_048_576);
                t.insert("open_files".into(), Value::Integer(n as i64));
            }
            // A core file is never written; a limit on it changes nothing.
            "RLIMIT_CORE" => {}
            other => {
                return Err(refuse(
                    "process.rlimits",
                    format!("{other} is not supported (RLIMIT_NOFILE is)"),
                ))
            }
        }
    }
    Ok(t)
}

/// The container's root: `root.path`, relative to the bundle or absolute.
fn host_root(spec: &Spec, bundle: &Path) -> Result<PathBuf, OciError> {
    let root = spec.root.as_ref().ok_or_else(|| {
        refuse(
            "root",
            "missing: a container needs a root file system".into(),
        )
    })?;
    let p = Path::new(&root.path);
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        bundle.join(p)
    };
    let p = std::fs::canonicalize(&p)
        .map_err(|e| refuse("root.path", format!("{}: {e}", p.display())))?;
    if !p.is_dir() {
        return Err(refuse(
            "root.path",
            format!("{}: not a directory", p.display()),
        ));
    }
    Ok(p)
}

/// `/` backed by the root, runnable; writable unless `root.readonly`.
fn root_rule(spec: &Spec, bundle: &Path) -> Result<Table, OciError> {
    let root = host_root(spec, bundle)?;
    let readonly = spec.root.as_ref().is_some_and(|r| r.readonly);
    Ok(rule(
        "/",
        Some(&root),
        if readonly {
            "read-exec"
        } else {
            "read-write-exec"
        },
        false,
    ))
}

fn rule(path: &str, host: Option<&Path>, access: &str, private: bool) -> Table {
    let mut t = Table::new();
    t.insert("path".into(), path.into());
    if let Some(h) = host {
        t.insert("host_path".into(), h.to_string_lossy().into_owned().into());
    }
    t.insert("access".into(), access.into());
    if private {
        t.insert("private".into(), true.into());
    }
    t
}

/// What the runner does with each mount type at each place.
/// (type, destination or "" for any, what becomes of it).
const MOUNT_TYPES: &[(&str, &str, &str)] = &[
    ("proc", "/proc", "the runner's own /proc"),
    (
        "tmpfs",
        "/dev",
        "the runner's own /dev (null, zero, full, random, urandom)",
    ),
    (
        "devpts",
        "/dev/pts",
        "nothing: the guest's one terminal is its standard streams (`process.terminal`)",
    ),
    (
        "mqueue",
        "/dev/mqueue",
        "nothing: the guest's POSIX message queues are the runner's (mq_open), not files",
    ),
    ("sysfs", "/sys", "nothing: /sys does not exist in the guest"),
    (
        "cgroup",
        "/sys/fs/cgroup",
        "nothing: /sys does not exist in the guest",
    ),
    (
        "cgroup2",
        "/sys/fs/cgroup",
        "nothing: /sys does not exist in the guest",
    ),
    (
        "tmpfs",
        "",
        "a private writable tree, empty at the start, removed at the end",
    ),
    (
        "bind",
        "",
        "a file rule for the source, read-only with `ro`, runnable unless `noexec`",
    ),
];

/// The file rule a mount becomes, if any.
fn mount_rule(i: usize, m: &Mount) -> Result<Option<Table>, OciError> {
    let field = format!("mounts[{i}]");
    let dest = m.destination.as_str();
    check_guest_path(&field, dest)?;
    let bind =
        m.kind.as_deref() == Some("bind") || m.options.iter().any(|o| o == "bind" || o == "rbind");
    let kind = if bind {
        "bind"
    } else {
        m.kind.as_deref().unwrap_or("")
    };
    let known = MOUNT_TYPES
        .iter()
        .find(|(k, d, _)| *k == kind && (d.is_empty() || *d == dest));
    let Some((_, fixed, _)) = known else {
        return Err(refuse(
            &field,
            format!(
                "a {kind:?} mount at {dest}: not supported (bind mounts, tmpfs, and the standard proc, /dev, devpts, mqueue, sysfs and cgroup mounts are)"
            ),
        ));
    };
    if !fixed.is_empty() {
        return Ok(None);
    }
    let ro = m.options.iter().any(|o| o == "ro");
    let exec = !m.options.iter().any(|o| o == "noexec");
    if kind == "tmpfs" {
        if ro {
            return Err(refuse(
                &field,
                format!("a read-only tmpfs at {dest} would always be empty"),
            ));
        }
        let access = if exec {
            "read-write-exec"
        } else {
            "read-write"
        };
        return Ok(Some(rule(dest, None, access, true)));
    }
    let source = m
        .source
        .as_deref()
        .ok_or_else(|| refuse(&field, format!("a bind mount at {dest} without a source")))?;
    if !Path::new(source).is_absolute() {
        return Err(refuse(
            &field,
            format!("bind source {source:?}: must be an absolute host path"),
        ));
    }
    // Opened (and its links resolved) once, when the run is prepared.
    let host = std::fs::canonicalize(source)
        .map_err(|e| refuse(&field, format!("bind source {source}: {e}")))?;
    let access = match (ro, exec) {
        (true, true) => "read-exec",
        (true, false) => "read",
        (false, true) => "read-write-exec",
        (false, false) => "read-write",
    };
    Ok(Some(rule(dest, Some(&host), access, false)))
}

/// A mount destination: absolute and normalized, as policy paths are.
fn check_guest_path(field: &str, p: &str) -> Result<(), OciError> {
    let path = Path::new(p);
    let normal = path.is_absolute()
        && path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
        && (p == "/" || !p.ends_with('/'))
        && !p.contains("//");
    if normal {
        Ok(())
    } else {
        Err(refuse(
            field,
            format!("destination {p:?}: must be an absolute path without `.`, `..` or empty parts"),
        ))
    }
}

/// `process.env` as the policy's `[env] vars`.
fn environment(p: &Process) -> Result<Table, OciError> {
    let mut vars = Table::new();
    for e in &p.env {
        let Some((k, v)) = e.split_once('=') else {
            return Err(refuse("process.env", format!("{e:?}: expected NAME=VALUE")));
        };
        vars.insert(k.to_string(), v.into());
    }
    Ok(vars)
}

/// The network annotation's `[[network]]` entries.
fn network(text: &str) -> Result<Value, OciError> {
    let parsed: Table = toml::from_str(text).map_err(|e| {
        refuse(
            &format!("annotations.{NETWORK_ANNOTATION}"),
            format!("not TOML [[network]] entries: {e}"),
        )
    })?;
    if parsed.keys().any(|k| k != "network") {
        return Err(refuse(
            &format!("annotations.{NETWORK_ANNOTATION}"),
            "only [[network]] entries may be given".into(),
        ));
    }
    Ok(parsed
        .get("network")
        .cloned()
        .unwrap_or(Value::Array(Vec::new())))
}

/// The guest path of `name`: itself when it holds a `/` (relative to
/// `cwd`), else the first directory of the container's `PATH` whose entry
/// exists in the container's root, as runc looks (without a `PATH`, only
/// a path is found). The runner looks the program up again in the guest's
/// namespace when it starts it.
fn find_program(
    name: &str,
    path_var: Option<&str>,
    root: &Path,
    cwd: &str,
) -> Result<String, OciError> {
    if name.contains('/') {
        if name.starts_with('/') {
            return Ok(name.to_string());
        }
        let base = if cwd.is_empty() { "/" } else { cwd };
        return Ok(format!("{}/{name}", base.trim_end_matches('/')));
    }
    let Some(path_var) = path_var else {
        return Err(refuse(
            "process.args",
            format!("{name:?}: not a path, and process.env has no PATH to find it on"),
        ));
    };
    for dir in path_var.split(':').filter(|d| d.starts_with('/')) {
        let candidate = format!("{}/{name}", dir.trim_end_matches('/'));
        let host = root.join(candidate.trim_start_matches('/'));
        if std::fs::symlink_metadata(&host).is_ok() {
            return Ok(candidate);
        }
    }
    Err(refuse(
        "process.args",
        format!("{name:?}: not found on the container's PATH ({path_var})"),
    ))
}

/// `(type, destination, what becomes of it)` for docs/kubernetes.md.
pub fn mount_table() -> &'static [(&'static str, &'static str, &'static str)] {
    MOUNT_TYPES
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra: serde_json::Value) -> Spec {
        let mut v = serde_json::json!({
            "ociVersion": "1.0.2",
            "process": {"args": ["/bin/sh"], "cwd": "/", "env": ["PATH=/bin", "A=b=c"],
                        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 4096, "hard": 4096}]},
            "root": {"path": "/", "readonly": true},
            "linux": {"resources": {"memory": {"limit": 67_108_864 + 100},
                                    "cpu": {"quota": 150_000, "period": 100_000}}}
        });
        if let (Some(base), Some(more)) = (v.as_object_mut(), extra.as_object()) {
            for (k, x) in more {
                base.insert(k.clone(), x.clone());
            }
        }
        serde_json::from_value(v).expect("spec")
    }

    #[test]
    fn limits_environment_and_root_become_the_policy() {
        let c = translate(&spec(serde_json::json!({})), Path::new("/")).expect("translated");
        let p = sandbox_policy::Policy::from_str_named(&c.policy, "t").expect("a policy");
        assert_eq!(p.limits.memory_bytes, 64 << 20, "whole pages");
        assert_eq!(p.limits.open_files, 4096);
        assert_eq!(p.limits.cpus, Some(2), "1.5 CPUs round up");
        assert!(!p.env.inherit);
        assert_eq!(p.env.vars.get("A").map(String::as_str), Some("b=c"));
        assert_eq!(p.files.as_slice()[0].access_str(), "read-exec");
        assert!(p.network.is_empty(), "no network without the annotation");
        assert_eq!((c.program.as_str(), c.cwd.as_str()), ("/bin/sh", "/"));
        assert_eq!((p.identity.uid, p.identity.gid), (0, 0), "the spec's user");
    }

    #[test]
    fn the_network_annotation_grants_network_entries_only() {
        let net = "[[network]]\naddress = \"10.0.0.1:80\"\n";
        let s = spec(serde_json::json!({"annotations": {NETWORK_ANNOTATION: net}}));
        let c = translate(&s, Path::new("/")).expect("translated");
        let p = sandbox_policy::Policy::from_str_named(&c.policy, "t").expect("a policy");
        assert_eq!(p.network.len(), 1);
        let s = spec(
            serde_json::json!({"annotations": {NETWORK_ANNOTATION: "[limits]\nmemory = \"1GiB\"\n"}}),
        );
        let e = translate(&s, Path::new("/")).expect_err("refused");
        assert!(e.to_string().contains("only [[network]] entries"), "{e}");
        let s = spec(serde_json::json!({"annotations": {NETWORK_ANNOTATION: "not toml ["}}));
        assert!(translate(&s, Path::new("/")).is_err());
    }
}

//! A container's state directory, `<root>/<id>/`, and the state the
//! runtime spec's `state` command reports.
//!
//! - `state.json`: what `create` recorded (id, bundle, pid, creation time,
//!   annotations);
//! - `policy.toml`: the policy the bundle became (`policy.rs`);
//! - `exec.fifo`: the start gate. The container process holds it open for
//!   reading and writing and waits for one byte; `start` writes it and
//!   removes the fifo. While it exists the container is `created`;
//! - `notify.fifo`: during `create` only, the container process's "ready"
//!   (or why it failed) for `create`;
//! - `exit-status`: the guest's exit status, written by the container
//!   process as it ends (the runc shim gets it by reaping the process; this
//!   file is for `state` and for callers without a reaper).
//!
//! Whether the container process still lives is asked of the host by pid,
//! checked against its start time (from `/proc/<pid>/stat`) so that a
//! reused pid is never taken for the container.

use super::OciError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The spec version the state reports.
pub const OCI_VERSION: &str = "1.0.2";

/// What `create` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub bundle: PathBuf,
    pub pid: i32,
    /// The container process's start time in clock ticks since boot
    /// (field 22 of /proc/<pid>/stat).
    pub pid_start: u64,
    /// RFC 3339, UTC.
    pub created: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// The runtime spec's statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
        }
    }
}

/// The state JSON of the runtime spec (`state <id>`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateJson<'a> {
    pub oci_version: &'static str,
    pub id: &'a str,
    pub status: &'static str,
    /// Absent once stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    pub bundle: &'a Path,
    pub created: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: &'a BTreeMap<String, String>,
}

/// A container's directory under the runtime's root.
#[derive(Debug, Clone)]
pub struct Dir {
    pub path: PathBuf,
}

impl Dir {
    /// The directory of container `id` under `root`; `id` must be a plain
    /// name (it becomes a path component).
    pub fn of(root: &Path, id: &str) -> Result<Dir, OciError> {
        let plain = !id.is_empty()
            && id.len() <= 1024
            && id != "."
            && id != ".."
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-+:@".contains(&b));
        if !plain {
            return Err(OciError::BadId(id.to_string()));
        }
        Ok(Dir {
            path: root.join(id),
        })
    }

    pub fn state_file(&self) -> PathBuf {
        self.path.join("state.json")
    }
    pub fn policy_file(&self) -> PathBuf {
        self.path.join("policy.toml")
    }
    pub fn exec_fifo(&self) -> PathBuf {
        self.path.join("exec.fifo")
    }
    pub fn notify_fifo(&self) -> PathBuf {
        self.path.join("notify.fifo")
    }
    pub fn exit_file(&self) -> PathBuf {
        self.path.join("exit-status")
    }
    pub fn launch_file(&self) -> PathBuf {
        self.path.join("launch.json")
    }

    pub fn exists(&self) -> bool {
        self.path.is_dir()
    }

    /// The record `create` wrote.
    pub fn record(&self, id: &str) -> Result<Record, OciError> {
        let text = std::fs::read_to_string(self.state_file()).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                OciError::NoSuchContainer(id.to_string())
            } else {
                OciError::State(format!("{}: {e}", self.state_file().display()))
            }
        })?;
        serde_json::from_str(&text)
            .map_err(|e| OciError::State(format!("{}: {e}", self.state_file().display())))
    }

    /// Writes `r` whole (a temporary file renamed over the old one).
    pub fn write_record(&self, r: &Record) -> Result<(), OciError> {
        let text = serde_json::to_string(r).map_err(|e| OciError::Internal(e.to_string()))?;
        write_atomic(&self.state_file(), text.as_bytes())
    }

    /// The container's status now.
    pub fn status(&self, r: &Record) -> Status {
        if !alive(r.pid, r.pid_start) {
            Status::Stopped
        } else if self.exec_fifo().exists() {
            Status::Created
        } else {
            Status::Running
        }
    }
}

/// Writes `bytes` to `path` by way of a temporary file beside it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OciError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| OciError::State(format!("{}: {e}", path.display())))
}

/// The start time of process `pid` (clock ticks since boot), if it exists
/// and is not a zombie.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: the
    // fields after it start after its last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); field 22 is rest[19].
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Whether the container process `pid`, started at `start`, still runs.
pub fn alive(pid: i32, start: u64) -> bool {
    pid > 0 && start_time(pid) == Some(start)
}

/// Now as RFC 3339 UTC, to the second.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's days-to-civil algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_names() {
        let root = Path::new("/run/x");
        assert!(Dir::of(root, "abc-1_2.3").is_ok());
        for bad in ["", ".", "..", "a/b", "../x", "a b", "a\0b"] {
            assert!(Dir::of(root, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_791), (2026, 12, 4));
    }

    #[test]
    fn this_process_is_alive_and_a_reused_pid_is_not() {
        let me = std::process::id() as i32;
        let start = start_time(me).expect("own start time");
        assert!(alive(me, start));
        assert!(!alive(me, start + 1));
        assert!(!alive(0, start));
    }
}

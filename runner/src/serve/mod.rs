//! `runner serve`: keeps blank VMs ready so that `runner exec --server`
//! does not pay for building one (docs/architecture.md, "Served runs").
//!
//! The server binds a Unix socket (mode 0600) and keeps `workers` worker
//! processes (`runner serve-worker`, `worker.rs`) waiting on it, each with
//! its VM, memory slot and vCPU already created. A worker takes one
//! connection, tells the server (which starts a replacement at once), runs
//! the client's program exactly as `runner exec` would, locked down for
//! that program's policy, answers the exit status and exits: no worker ever
//! runs two programs, so nothing of one run can reach the next.
//!
//! - `protocol.rs`: the request, the descriptors it carries, the status;
//! - `worker.rs`: one worker;
//! - `client.rs`: `runner exec --server`;
//! - `small_client.rs`: `runner install-client`, which writes out
//!   `thinvisor-exec` (client/thinvisor-exec.c), a fast-starting front end
//!   of `runner exec` that speaks the same protocol.

pub mod client;
pub mod protocol;
pub mod small_client;
pub mod worker;

use crate::exit_status;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{path}: {why}")]
    Socket { path: String, why: String },
    #[error("cannot start a worker: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("the worker notification pipe failed: {0}")]
    Pipe(#[source] std::io::Error),
}

/// Binds `path`, replacing a stale socket (one nobody listens on) but
/// nothing else.
fn bind(path: &Path) -> Result<UnixListener, ServeError> {
    let err = |why: String| ServeError::Socket {
        path: path.display().to_string(),
        why,
    };
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(err("exists and is not a socket; not replacing it".into()));
        }
        if UnixStream::connect(path).is_ok() {
            return Err(err("another server is listening there".into()));
        }
        std::fs::remove_file(path)
            .map_err(|e| err(format!("cannot remove the stale socket: {e}")))?;
    }
    let listener = UnixListener::bind(path).map_err(|e| err(format!("cannot bind: {e}")))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| err(format!("cannot make it private: {e}")))?;
    Ok(listener)
}

/// What every worker is started with.
struct WorkerSpec<'a> {
    memory_limit: u64,
    /// `--policy`, as an absolute path.
    policy: Option<&'a Path>,
}

fn spawn_worker(
    listener: &UnixListener,
    notify: &OwnedFd,
    spec: &WorkerSpec<'_>,
) -> Result<Child, ServeError> {
    let exe = std::env::current_exe().map_err(ServeError::Spawn)?;
    let socket = listener.try_clone().map_err(ServeError::Spawn)?;
    let notify = notify.try_clone().map_err(ServeError::Spawn)?;
    let mut command = Command::new(exe);
    command
        .arg("serve-worker")
        .arg("--memory-bytes")
        .arg(spec.memory_limit.to_string())
        .arg("--server-pid")
        .arg(std::process::id().to_string());
    if let Some(p) = spec.policy {
        command.arg("--policy").arg(p);
    }
    command
        .stdin(Stdio::from(OwnedFd::from(socket)))
        .stdout(Stdio::from(notify))
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(ServeError::Spawn)
}

/// The ready VMs' size when neither `--memory` nor `--policy` says.
const DEFAULT_MEMORY: u64 = 256 << 20;

/// Runs the server until it is killed; returns a status only on failure.
/// `policy`: every worker locks down for it before its request
/// (run/ahead.rs); checked here first, so that a bad one fails once.
pub fn serve(socket: &Path, workers: usize, memory: Option<u64>, policy: Option<&Path>) -> i32 {
    let policy = match policy.map(checked_policy) {
        Some(Ok((path, p))) => Some((path, p.limits.memory_bytes)),
        Some(Err(why)) => {
            crate::say!("runner serve: {why}");
            return exit_status::RUNNER_FAILED;
        }
        None => None,
    };
    let spec = WorkerSpec {
        memory_limit: policy
            .as_ref()
            .map_or(memory.unwrap_or(DEFAULT_MEMORY), |(_, m)| *m),
        policy: policy.as_ref().map(|(p, _)| p.as_path()),
    };
    match serve_inner(socket, workers.max(1), &spec) {
        Ok(()) => 0,
        Err(e) => {
            crate::say!("runner serve: {e}");
            exit_status::RUNNER_FAILED
        }
    }
}

/// How many workers in a row may die before taking a connection before the
/// server gives up (a broken /dev/kvm would otherwise respawn forever while
/// clients wait).
const FAILURES_IN_A_ROW: u32 = 3;

/// How long after a worker takes a run its replacement is started, while
/// another worker is still ready: starting a worker and building its VM
/// costs a few milliseconds of CPU, which on a small machine would compete
/// with the run's own start-up.
const REPLENISH_DELAY: std::time::Duration = std::time::Duration::from_millis(30);

/// Whether a notice arrives on `taken` within `wait`.
fn notice_within(taken: &std::fs::File, wait: std::time::Duration) -> Result<bool, ServeError> {
    use rustix::event::{poll, PollFd, PollFlags};
    let mut fds = [PollFd::new(taken, PollFlags::IN)];
    let timeout = rustix::time::Timespec {
        tv_sec: wait.as_secs() as i64,
        tv_nsec: i64::from(wait.subsec_nanos()),
    };
    match poll(&mut fds, Some(&timeout)) {
        Ok(n) => Ok(n > 0),
        Err(rustix::io::Errno::INTR) => Ok(false),
        Err(e) => Err(ServeError::Pipe(e.into())),
    }
}

/// Moves every worker that said it took a connection (its pid, 4 bytes
/// written to the notification pipe before it runs anything) from `idle`
/// to `busy`; how many said so. Every notice in the pipe is taken, not only
/// the first: under a burst of clients several workers take connections
/// between two looks, and a short run may be over before the server looks,
/// so a worker that ended with its notice still unread would be counted as
/// one that failed to start (three of those and the server gave up).
fn take_notices(
    taken: &mut std::fs::File,
    idle: &mut Vec<Child>,
    busy: &mut Vec<Child>,
) -> Result<u32, ServeError> {
    let mut n = 0;
    while notice_within(taken, std::time::Duration::ZERO)? {
        let mut pid = [0u8; 4];
        match taken.read_exact(&mut pid) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ServeError::Pipe(e)),
        }
        let pid = u32::from_le_bytes(pid);
        if let Some(at) = idle.iter().position(|c| c.id() == pid) {
            busy.push(idle.swap_remove(at));
            n += 1;
        }
    }
    Ok(n)
}

/// `--policy`: its absolute path (the workers read it) and the policy.
fn checked_policy(path: &Path) -> Result<(std::path::PathBuf, sandbox_policy::Policy), String> {
    let policy = sandbox_policy::Policy::from_file(path).map_err(|e| e.to_string())?;
    let abs = std::path::absolute(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((abs, policy))
}

fn serve_inner(socket: &Path, workers: usize, spec: &WorkerSpec<'_>) -> Result<(), ServeError> {
    let listener = bind(socket)?;
    // Close-on-exec: a worker gets the write end only as its stdout.
    let (mut taken, notify) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map(|(r, w)| (std::fs::File::from(r), w))
        .map_err(|e| ServeError::Pipe(e.into()))?;
    // Idle workers by pid; a worker that takes a connection leaves it.
    let mut idle: Vec<Child> = Vec::new();
    let mut busy: Vec<Child> = Vec::new();
    for _ in 0..workers {
        idle.push(spawn_worker(&listener, &notify, spec)?);
    }
    let locked = spec.policy.map_or(String::new(), |p| {
        format!(", locked down ahead for {}", p.display())
    });
    crate::say!(
        "runner serve: listening on {} with {workers} ready VM(s) of up to {} bytes of guest memory{locked}",
        socket.display(),
        spec.memory_limit
    );
    let mut failures = 0u32;
    // When the next replacement is due (None: the pool is full).
    let mut replenish_at: Option<std::time::Instant> = None;
    loop {
        let wait = replenish_at.map_or(std::time::Duration::from_secs(1), |at| {
            at.saturating_duration_since(std::time::Instant::now())
        });
        // Sleep until a worker takes a connection or a replacement is due.
        notice_within(&taken, wait)?;
        if take_notices(&mut taken, &mut idle, &mut busy)? > 0 {
            failures = 0;
        }
        // Reap finished runs. An idle worker that ended failed to start,
        // unless its notice came after the look above: a worker writes it
        // before it runs anything, so once one is seen to have ended, a
        // second look at the pipe settles which it was.
        if idle.iter_mut().any(|c| matches!(c.try_wait(), Ok(Some(_))))
            && take_notices(&mut taken, &mut idle, &mut busy)? > 0
        {
            failures = 0;
        }
        busy.retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_))));
        let before = idle.len();
        idle.retain_mut(|c| match c.try_wait() {
            Ok(Some(status)) => {
                crate::say!(
                    "runner serve: worker {} ended before taking a run ({status})",
                    c.id()
                );
                false
            }
            _ => true,
        });
        failures += (before - idle.len()) as u32;
        if failures >= FAILURES_IN_A_ROW {
            return Err(ServeError::Spawn(std::io::Error::other(format!(
                "{failures} workers in a row ended before taking a run; giving up"
            ))));
        }
        if idle.len() < workers {
            let now = std::time::Instant::now();
            // No ready VM left: start one now; else a little later.
            let due = if idle.is_empty() {
                now
            } else {
                *replenish_at.get_or_insert(now + REPLENISH_DELAY)
            };
            if now >= due {
                while idle.len() < workers {
                    idle.push(spawn_worker(&listener, &notify, spec)?);
                }
                replenish_at = None;
            } else {
                replenish_at = Some(due);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used)]

    use super::*;
    use std::io::Write;

    /// Two workers took connections and finished their runs before the
    /// server looked: both notices are taken, so neither counts as a
    /// worker that ended before taking a run.
    #[test]
    fn every_notice_in_the_pipe_is_taken() {
        let (r, w) = rustix::pipe::pipe().expect("pipe");
        let (mut taken, mut notify) = (std::fs::File::from(r), std::fs::File::from(w));
        let mut idle: Vec<Child> = (0..3)
            .map(|_| Command::new("true").spawn().expect("spawn true"))
            .collect();
        for c in &idle[..2] {
            notify.write_all(&c.id().to_le_bytes()).expect("notice");
        }
        let (first, second) = (idle[0].id(), idle[1].id());
        let mut busy = Vec::new();
        assert_eq!(
            take_notices(&mut taken, &mut idle, &mut busy).expect("take"),
            2
        );
        let mut ids: Vec<u32> = busy.iter().map(Child::id).collect();
        ids.sort_unstable();
        let mut want = vec![first, second];
        want.sort_unstable();
        assert_eq!(ids, want);
        assert_eq!(idle.len(), 1, "the third never said it took one");
        assert_eq!(
            take_notices(&mut taken, &mut idle, &mut busy).expect("take"),
            0
        );
        for mut c in idle.into_iter().chain(busy) {
            c.wait().expect("wait");
        }
    }
}

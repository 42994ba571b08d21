//! The container process (`runner oci-init DIR`, started by `create`): a
//! `runner exec` of the container's program under the policy its bundle
//! became, stopped at the start gate between locking down and the first
//! guest instruction.
//!
//! In order: it opens its three channels (the notify fifo `create` reads,
//! the exec fifo `start` writes, the exit-status file), prepares, boots
//! and locks down as `runner exec` does, says "ready" (or "error: why")
//! to `create`, waits for `start`'s byte, runs the guest, writes the
//! status and exits with it. The channels are opened before the lock-down
//! and used after it through their descriptors only.

use super::lifecycle::{dir_of, Launch};
use crate::run::stages::{self, Booted, RunFailure};
use crate::run::ExecOptions;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Runs the container of state directory `dir`; returns its exit status.
pub fn init(dir: &Path) -> i32 {
    let dir = dir_of(dir);
    // `create` holds the notify fifo open for reading: this open does not
    // wait.
    let mut notify = match std::fs::OpenOptions::new()
        .write(true)
        .open(dir.notify_fifo())
    {
        Ok(f) => f,
        Err(e) => {
            crate::say!("runner: oci-init: {}: {e}", dir.notify_fifo().display());
            return crate::exit_status::RUNNER_FAILED;
        }
    };
    let mut fail = |why: String| {
        let _ = writeln!(notify, "error: {why}");
        crate::exit_status::RUNNER_FAILED
    };
    // Read and written (it is its own writer, so reads wait for `start`).
    let mut gate = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.exec_fifo())
    {
        Ok(f) => f,
        Err(e) => return fail(format!("{}: {e}", dir.exec_fifo().display())),
    };
    let mut exit_file = match std::fs::File::create(dir.exit_file()) {
        Ok(f) => f,
        Err(e) => return fail(format!("{}: {e}", dir.exit_file().display())),
    };
    let (opts, terminal) = match options(&dir.launch_file(), dir.policy_file()) {
        Ok(o) => o,
        Err(why) => return fail(why),
    };
    // A terminal made for the container (`console.rs`) is its controlling
    // terminal, as a runc container's: its keys signal this process,
    // which passes them to the guest's foreground group.
    if terminal {
        let taken = rustix::process::setsid()
            .and_then(|_| rustix::process::ioctl_tiocsctty(std::io::stdin()));
        if let Err(e) = taken {
            return fail(format!("cannot take the terminal: {e}"));
        }
    }
    let locked = match stages::prepare(opts, None)
        .and_then(|p| p.boot(None))
        .and_then(Booted::lock_down)
    {
        Ok(l) => l,
        Err(f) => {
            let status = f.exit_status();
            fail(f.to_string());
            return status;
        }
    };
    let _ = writeln!(notify, "ready");
    drop(notify);
    let mut byte = [0u8; 1];
    if let Err(e) = gate.read_exact(&mut byte) {
        crate::say!("runner: oci-init: the start gate: {e}");
        return crate::exit_status::RUNNER_FAILED;
    }
    drop(gate);
    let status = match locked.run().report() {
        Ok(s) => s,
        Err(f) => report_failure(&f),
    };
    let _ = write!(exit_file, "{status}");
    status
}

fn report_failure(f: &RunFailure) -> i32 {
    crate::say!("runner: {f}");
    f.exit_status()
}

/// `runner exec`'s options for the container: its program by guest path,
/// its arguments and directory, the policy `create` wrote.
fn options(launch_file: &Path, policy: PathBuf) -> Result<(ExecOptions, bool), String> {
    let text = std::fs::read_to_string(launch_file)
        .map_err(|e| format!("{}: {e}", launch_file.display()))?;
    let launch: Launch =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", launch_file.display()))?;
    let terminal = launch.terminal;
    let opts = ExecOptions {
        policy: Some(policy),
        timeout: None,
        stats: None,
        format: crate::loader::Format::Auto,
        monitor: crate::monitor::MonitorMode::Auto,
        huge_pages: crate::run::HugePages::On,
        syscalls: None,
        monitor_test_skip_marker: false,
        guest_path: true,
        // `kill <id> TERM` reaches the container's program, which is its
        // init, as on runc: one without a handler ignores it.
        forward_signals: true,
        as_init: true,
        trace: None,
        trace_format: crate::trace::TraceFormat::Text,
        verdict: None,
        learn_record: None,
        cwd: Some(PathBuf::from(launch.cwd)),
        program: PathBuf::from(launch.program),
        args: launch.args,
    };
    Ok((opts, terminal))
}

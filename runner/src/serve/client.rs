//! `runner exec --server SOCKET`: hands the run to a `runner serve` worker
//! (whose VM is already built) and exits with the status it answers.
//!
//! The client opens what names a host file of its own: the program (a
//! host path), the `--stats` file, the policy (sent as its text), and
//! sends the first two as descriptors. A worker locked down before the
//! request (`runner serve --policy`) can then open no path of the client's,
//! and needs none.

use super::protocol::{self, Request};
use crate::exit_status;
use crate::run::ExecOptions;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Runs `opts` through the server at `socket`; returns the exit status.
pub fn exec_via(socket: &Path, opts: ExecOptions) -> i32 {
    let fail = |msg: String| {
        crate::say!("runner: {msg}");
        exit_status::RUNNER_FAILED
    };
    // The options, the policy, then the program, as `runner exec` checks
    // them, with its messages and statuses, before the server is asked
    // anything.
    if let Err(why) = crate::run::stages::check_timeout(opts.timeout) {
        return fail(why);
    }
    let policy_text = match &opts.policy {
        Some(p) => {
            let text = match std::fs::read_to_string(p) {
                Ok(t) => t,
                Err(source) => {
                    return fail(
                        sandbox_policy::PolicyError::Io {
                            path: p.clone(),
                            source,
                        }
                        .to_string(),
                    )
                }
            };
            if let Err(e) = sandbox_policy::Policy::from_str_named(&text, &p.display().to_string())
            {
                return fail(e.to_string());
            }
            Some(text)
        }
        None => None,
    };
    let program = if opts.guest_path {
        None
    } else {
        match crate::loader::open_host(&opts.program) {
            Ok(f) => Some(f),
            Err(e) => {
                crate::say!("runner: {e}");
                return e.exit_status();
            }
        }
    };
    let program_abs = match program {
        Some(_) => match std::path::absolute(&opts.program) {
            Ok(p) => Some(p),
            Err(e) => return fail(format!("{}: {e}", opts.program.display())),
        },
        None => None,
    };
    let conn = match UnixStream::connect(socket) {
        Ok(c) => c,
        Err(e) => {
            return fail(format!(
                "cannot reach the server at {}: {e} (is `runner serve --socket {}` running?)",
                socket.display(),
                socket.display()
            ))
        }
    };
    let cwd = match rustix::fs::open(
        ".",
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) {
        Ok(d) => d,
        Err(e) => return fail(format!("cannot open the working directory: {e}")),
    };
    // Opened last, and not emptied: the worker empties it where a cold
    // run creates it, so a run refused before that leaves an older file
    // as it was.
    let stats = match &opts.stats {
        Some(p) => match open_stats(p) {
            Ok(f) => Some(f),
            Err(e) => return fail(format!("cannot write stats to {}: {e}", p.display())),
        },
        None => None,
    };
    let (env, env_bytes) = protocol::split_env(crate::run::stages::own_environment());
    let request = Request {
        exec: opts,
        env,
        env_bytes,
        policy_text,
        program_abs,
        stats_attached: stats.is_some(),
    };
    let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    let mut fds: Vec<BorrowedFd<'_>> =
        vec![stdin.as_fd(), stdout.as_fd(), stderr.as_fd(), cwd.as_fd()];
    fds.extend(program.as_ref().map(AsFd::as_fd));
    fds.extend(stats.as_ref().map(|(f, _)| f.as_fd()));
    let sent = protocol::send_request(&conn, &request, &fds);
    drop(fds);
    drop(cwd);
    drop(program);
    let status = match sent {
        Err(e) => fail(format!("cannot send the run to the server: {e}")),
        Ok(()) => match protocol::receive_status(&conn) {
            Ok(Some(status)) => status,
            Ok(None) => fail("the server's worker ended without a status".into()),
            Err(e) => fail(format!("lost the server's worker: {e}")),
        },
    };
    // A stats file this client made and no run wrote (the run was refused
    // or failed before its lock-down stage) goes, as a cold run never
    // makes one then. The worker wrote its stats before its status.
    if let (Some((file, true)), Some(p)) = (&stats, &request.exec.stats) {
        if file.metadata().is_ok_and(|m| m.len() == 0) {
            let _ = std::fs::remove_file(p);
        }
    }
    status
}

/// The `--stats` file, opened for writing and not emptied; true when this
/// call made it.
fn open_stats(path: &Path) -> std::io::Result<(std::fs::File, bool)> {
    let made = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path);
    match made {
        Ok(f) => Ok((f, true)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map(|f| (f, false)),
        Err(e) => Err(e),
    }
}

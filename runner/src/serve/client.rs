//! `runner exec --server SOCKET`: hands the run to a `runner serve` worker
//! (whose VM is already built) and exits with the status it answers.

use super::protocol::{self, Request};
use crate::exit_status;
use crate::run::ExecOptions;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Runs `opts` through the server at `socket`; returns the exit status.
pub fn exec_via(socket: &Path, opts: ExecOptions) -> i32 {
    let fail = |msg: String| {
        crate::say!("runner: {msg}");
        exit_status::RUNNER_FAILED
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
    let request = Request {
        exec: opts,
        env: std::env::vars().collect(),
    };
    let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    let fds = [stdin.as_fd(), stdout.as_fd(), stderr.as_fd(), cwd.as_fd()];
    if let Err(e) = protocol::send_request(&conn, &request, fds) {
        return fail(format!("cannot send the run to the server: {e}"));
    }
    drop(cwd);
    match protocol::receive_status(&conn) {
        Ok(Some(status)) => status,
        Ok(None) => fail("the server's worker ended without a status".into()),
        Err(e) => fail(format!("lost the server's worker: {e}")),
    }
}

//! One `runner serve` worker: a process that builds a blank VM before any
//! request exists, takes exactly one connection from the server's listening
//! socket, and runs that client's program the way `runner exec` would —
//! policy, lock-down, run loop, statuses — in the VM it built ahead. It
//! answers with the exit status and exits; the VM's teardown then happens
//! after the client already has its answer.
//!
//! The worker's descriptors when the server starts it: 0 = the listening
//! socket, 1 = the server's notification pipe ("I took a
//! connection, start my replacement": its pid, 4 bytes), 2 = the
//! server's stderr.

use super::protocol::{self, Received};
use crate::exit_status;
use crate::run::boot::Blank;
use crate::run::{self, Prebuilt};
use rustix::process::Signal;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Instant;
use thinvisor_kmod::Hypervisor;

fn log(msg: impl std::fmt::Display) {
    crate::say!("runner serve: worker {}: {msg}", std::process::id());
}

/// Runs a worker for the server of pid `server`; returns its exit status
/// (the run's, once it has one).
pub fn worker(memory_limit: u64, server: u32) -> i32 {
    // Die with the server, including while idle in accept; and not start
    // at all when it is already gone (its death before the prctl would not
    // be signalled).
    if let Err(e) = rustix::process::set_parent_process_death_signal(Some(Signal::KILL)) {
        log(format!("cannot tie the worker to the server: {e}"));
        return exit_status::RUNNER_FAILED;
    }
    let parent = rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get());
    if i64::from(parent) != i64::from(server) {
        log("the server is gone");
        return exit_status::RUNNER_FAILED;
    }
    let listener = match std::io::stdin().as_fd().try_clone_to_owned() {
        Ok(fd) => UnixListener::from(fd),
        Err(e) => {
            log(format!("no listening socket on stdin: {e}"));
            return exit_status::RUNNER_FAILED;
        }
    };
    // Everything a cold start would do before it knows the program.
    let hv = match Hypervisor::open() {
        Ok(h) => h,
        Err(e) => {
            log(e);
            return exit_status::RUNNER_FAILED;
        }
    };
    let blank = match Blank::new(&hv, memory_limit) {
        Ok(b) => Some(b),
        Err(e) => {
            // Still serve: the run then builds its VM itself.
            log(format!(
                "cannot build a VM ahead ({e}); runs will build their own"
            ));
            None
        }
    };
    // The instruction decoder the ring's patching uses builds its tables
    // on first use: now, not in the run.
    crate::ring::moved::warm_up();
    let conn = loop {
        match listener.accept() {
            Ok((c, _)) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log(format!("accept: {e}"));
                return exit_status::RUNNER_FAILED;
            }
        }
    };
    let received = Instant::now();
    drop(listener);
    // Tell the server this worker is taken (it starts another): one
    // write(2) of the 4 bytes, which a pipe keeps whole, so the notices of
    // workers taking connections at once never interleave. (Through std's
    // line-buffered stdout a pid with a 0x0a byte went out in two writes,
    // another worker's notice landed between them, and the server, reading
    // shifted pids, took finished workers for failed ones and gave up.)
    if let Err(e) = notify_server(std::io::stdout().as_fd(), std::process::id()) {
        log(format!("cannot notify the server: {e}"));
    }
    if let Err(why) = check_peer(&conn) {
        log(why);
        return exit_status::RUNNER_FAILED;
    }
    let job = match protocol::receive_request(&conn) {
        Ok(j) => j,
        Err(e) => {
            log(format!("bad request: {e}"));
            return exit_status::RUNNER_FAILED;
        }
    };
    let status = serve_one(job, hv, blank, &conn, received);
    if let Err(e) = protocol::send_status(&conn, status) {
        // The client is gone; the run's own report went to its stderr.
        log(format!("cannot send the status: {e}"));
    }
    status
}

/// Writes `pid`, the notice that this worker took a connection, to the
/// server's pipe `out` in one write(2) (a pipe keeps writes of up to
/// PIPE_BUF bytes whole).
fn notify_server(out: std::os::fd::BorrowedFd<'_>, pid: u32) -> std::io::Result<()> {
    let notice = pid.to_le_bytes();
    match rustix::io::write(out, &notice) {
        Ok(n) if n == notice.len() => Ok(()),
        Ok(n) => Err(std::io::Error::other(format!(
            "the notice was cut to {n} bytes"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Only the server's own user may use it (the socket is also mode 0600).
fn check_peer(conn: &UnixStream) -> Result<(), String> {
    let peer = rustix::net::sockopt::socket_peercred(conn)
        .map_err(|e| format!("cannot identify the client: {e}"))?;
    let me = rustix::process::getuid();
    if peer.uid != me {
        return Err(format!(
            "refused a client of uid {} (this server runs as uid {})",
            peer.uid.as_raw(),
            me.as_raw()
        ));
    }
    Ok(())
}

/// Takes on the client's working directory and standard streams, then runs
/// the request as `runner exec` does.
fn serve_one(
    job: Received,
    hv: Hypervisor,
    blank: Option<Blank>,
    conn: &UnixStream,
    received: Instant,
) -> i32 {
    let setup = || -> std::io::Result<OwnedFd> {
        rustix::process::fchdir(&job.cwd)?;
        rustix::stdio::dup2_stdin(&job.stdin)?;
        rustix::stdio::dup2_stdout(&job.stdout)?;
        rustix::stdio::dup2_stderr(&job.stderr)?;
        conn.as_fd().try_clone_to_owned()
    };
    let client = match setup() {
        Ok(c) => c,
        Err(e) => {
            log(format!("cannot take on the client's streams: {e}"));
            return exit_status::RUNNER_FAILED;
        }
    };
    drop(job.cwd);
    drop(job.stdin);
    drop(job.stdout);
    drop(job.stderr);
    run::exec(
        job.request.exec,
        Some(Prebuilt {
            hv,
            blank,
            env: job.request.env,
            received,
            client,
        }),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]

    use super::notify_server;
    use rustix::net::{socketpair, AddressFamily, RecvFlags, SocketFlags, SocketType};
    use std::os::fd::AsFd;

    /// A pid with 0x0a bytes (std's line-buffered stdout split such a
    /// notice at the newline byte) goes out as one record: a seqpacket
    /// socket delivers each write apart.
    #[test]
    fn a_notice_is_one_write_whatever_its_bytes() {
        let (a, b) = socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .expect("socketpair");
        notify_server(a.as_fd(), 0x0a0a_680a).expect("notice");
        let mut buf = [0u8; 8];
        let (n, _) = rustix::net::recv(&b, &mut buf, RecvFlags::empty()).expect("recv");
        assert_eq!(&buf[..n], &0x0a0a_680a_u32.to_le_bytes());
    }
}

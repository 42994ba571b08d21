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
use crate::run::ahead::Ahead;
use crate::run::boot::Blank;
use crate::run::{self, Prebuilt, Served};
use rustix::net::SocketFlags;
use rustix::process::Signal;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Instant;
use thinvisor_kmod::Hypervisor;

fn log(msg: impl std::fmt::Display) {
    crate::say!("runner serve: worker {}: {msg}", std::process::id());
}

/// Runs a worker for the server of pid `server`; returns its exit status
/// (the run's, once it has one). `policy`: the server's `--policy`, for
/// which the worker locks down before it takes a connection
/// (run/ahead.rs); without it, each run locks down for its own.
pub fn worker(memory_limit: u64, server: u32, policy: Option<&Path>) -> i32 {
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
    // Everything a cold start would do before it knows the program.
    let hv = match Hypervisor::open() {
        Ok(h) => h,
        Err(e) => {
            log(e);
            return exit_status::RUNNER_FAILED;
        }
    };
    let ahead = match policy.map(|p| Ahead::make(p, &hv)) {
        Some(Ok(a)) => Some(a),
        Some(Err(f)) => {
            log(&f);
            return f.exit_status();
        }
        None => None,
    };
    let memory = ahead.as_ref().map_or(memory_limit, Ahead::memory_limit);
    let blank = match Blank::new(&hv, memory) {
        Ok(b) => Some(b),
        Err(e) if ahead.is_none() => {
            // Still serve: the run then builds its VM itself.
            log(format!(
                "cannot build a VM ahead ({e}); runs will build their own"
            ));
            None
        }
        Err(e) => {
            // Locked down, it could not build one then.
            log(format!("cannot build a VM ahead: {e}"));
            return exit_status::RUNNER_FAILED;
        }
    };
    // The instruction decoder the ring's patching uses builds its tables
    // on first use: now, not in the run.
    crate::ring::moved::warm_up();
    let me = rustix::process::getuid();
    let blank = match (&ahead, blank) {
        (Some(a), Some(mut b)) => {
            let locked = b
                .ready_for_lock_down()
                .map_err(|e| format!("cannot build a VM ahead: {e}"))
                .and_then(|()| a.lock_down().map_err(|f| f.to_string()));
            if let Err(why) = locked {
                log(why);
                return exit_status::RUNNER_FAILED;
            }
            Some(b)
        }
        (_, b) => b,
    };
    // The server's listening socket is this worker's stdin.
    let conn = loop {
        match rustix::net::accept_with(std::io::stdin().as_fd(), SocketFlags::CLOEXEC) {
            Ok(c) => break UnixStream::from(c),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                log(format!("accept: {e}"));
                return exit_status::RUNNER_FAILED;
            }
        }
    };
    let received = Instant::now();
    // Tell the server this worker is taken (it starts another): one
    // write(2) of the 4 bytes, which a pipe keeps whole, so the notices of
    // workers taking connections at once never interleave. (Through std's
    // line-buffered stdout a pid with a 0x0a byte went out in two writes,
    // another worker's notice landed between them, and the server, reading
    // shifted pids, took finished workers for failed ones and gave up.)
    if let Err(e) = notify_server(std::io::stdout().as_fd(), std::process::id()) {
        log(format!("cannot notify the server: {e}"));
    }
    if let Err(why) = check_peer(&conn, me) {
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
    let status = serve_one(job, hv, blank, ahead, &conn, received);
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

/// Only the server's own user, `me`, may use it (the socket is also mode
/// 0600).
fn check_peer(conn: &UnixStream, me: rustix::process::Uid) -> Result<(), String> {
    let peer = rustix::net::sockopt::socket_peercred(conn)
        .map_err(|e| format!("cannot identify the client: {e}"))?;
    if peer.uid != me {
        return Err(format!(
            "refused a client of uid {} (this server runs as uid {})",
            peer.uid.as_raw(),
            me.as_raw()
        ));
    }
    Ok(())
}

/// Takes on the client's standard streams (and, unless locked down
/// already, its working directory), then runs the request as `runner exec`
/// does.
fn serve_one(
    job: Received,
    hv: Hypervisor,
    blank: Option<Blank>,
    ahead: Option<Ahead>,
    conn: &UnixStream,
    received: Instant,
) -> i32 {
    use thinvisor_kmod::standard_streams::{take_on, Stream};
    let setup = || -> std::io::Result<OwnedFd> {
        // A worker locked down ahead resolves no path of the client's
        // (fchdir is not in its filter): the client sent what it names.
        if ahead.is_none() {
            rustix::process::fchdir(&job.cwd)?;
        }
        take_on(job.stdin.as_fd(), Stream::Stdin)?;
        take_on(job.stdout.as_fd(), Stream::Stdout)?;
        take_on(job.stderr.as_fd(), Stream::Stderr)?;
        conn.as_fd().try_clone_to_owned()
    };
    let client = match setup() {
        Ok(c) => c,
        Err(e) => {
            log(format!("cannot take on the client's streams: {e}"));
            return exit_status::RUNNER_FAILED;
        }
    };
    let Received {
        mut request,
        program,
        stats,
        stdin,
        stdout,
        stderr,
        cwd,
    } = job;
    // Taken on as 0-2 (and the directory as the cwd, or not needed): the
    // originals go, so the run holds no descriptor it did not count.
    drop((stdin, stdout, stderr, cwd));
    if let Some(a) = &ahead {
        a.forget_signals_so_far();
    }
    // Refused with the reason, on the client's stderr now.
    if let Some(why) = ahead.as_ref().and_then(|a| {
        a.refusal(
            &request.exec,
            request.policy_text.as_deref(),
            request.stats_attached,
        )
    }) {
        crate::say!("runner: {why}");
        return exit_status::RUNNER_FAILED;
    }
    let env = request.take_env();
    let program = match (program, request.program_abs) {
        (Some(fd), Some(abs)) => Some((std::fs::File::from(fd), abs)),
        _ => None,
    };
    run::exec(
        request.exec,
        Some(Prebuilt {
            hv,
            blank,
            ahead,
            served: Served {
                env,
                received,
                client,
                program,
                stats: stats.map(std::fs::File::from),
            },
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

//! What a `runner exec --server` client and a `runner serve` worker say to
//! each other over their Unix stream socket:
//!
//! 1. client -> worker, one `sendmsg`: a little-endian u32 length, then that
//!    many bytes of JSON ([`Request`]); attached (SCM_RIGHTS) the client's
//!    stdin, stdout, stderr and working directory, then the program (a
//!    host program, opened by the client) and the `--stats` file (created
//!    by the client), each when the request says it is there.
//! 2. worker -> client, when the run is over: the exit status `runner exec`
//!    would have exited with, a little-endian i32. A connection that closes
//!    without it means the worker died (the client then fails with 125).
//!
//! Paths in the request are resolved, as by `runner exec`, against the
//! client's working directory; the program and the stats file come as
//! descriptors, and the policy also as its text, so that a worker locked
//! down before the request (`runner serve --policy`) opens no path of the
//! client's.

use crate::abi::Errno;
use crate::run::ExecOptions;
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

/// The largest request accepted. The client's arguments and environment
/// are in it, up to Linux's ARG_MAX (2 MiB with the usual 8 MiB stack
/// limit), and a byte of a variable that is not UTF-8 takes up to four
/// in JSON.
pub const MAX_REQUEST: usize = 16 << 20;

/// The descriptors every request carries, in this order: stdin, stdout,
/// stderr, working directory.
pub const FDS: usize = 4;

/// The most descriptors a request carries: [`FDS`], the program, the
/// stats file.
pub const MAX_FDS: usize = FDS + 2;

#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("malformed request: {0}")]
    Json(#[from] serde_json::Error),
    #[error("request of {0} bytes is larger than {MAX_REQUEST}")]
    TooLarge(usize),
    #[error("request carries {got} descriptors, expected {want} (stdin, stdout, stderr, working directory, then the program and the stats file it names)")]
    Descriptors { got: usize, want: usize },
    #[error("the peer closed the connection before a complete message")]
    Closed,
}

fn io(e: Errno) -> ProtocolError {
    ProtocolError::Io(e.into())
}

/// A run, as the client asks for it. Two clients write it: `client.rs`
/// (serde) and client/thinvisor-exec.c (by hand). A field added here, or
/// to [`ExecOptions`], goes into the C client too: tests/serve_client.rs
/// fails until both send the same request.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Request {
    pub exec: ExecOptions,
    /// The client's environment (for a policy with `env.inherit`), in its
    /// order (a name given twice keeps its last value): as text when every
    /// name and value in it is UTF-8...
    pub env: Vec<(String, String)>,
    /// ...else, the whole of it, byte for byte (arrays of numbers in JSON,
    /// so only where needed), and `env` is empty.
    #[serde(default)]
    pub env_bytes: crate::run::stages::HostEnv,
    /// The text of the `--policy` file: a worker locked down for its own
    /// policy compares it with that one (it could not open the file).
    #[serde(default)]
    pub policy_text: Option<String>,
    /// A host program's absolute path; its descriptor is attached.
    #[serde(default)]
    pub program_abs: Option<std::path::PathBuf>,
    /// The `--stats` file's descriptor is attached (after the program's).
    #[serde(default)]
    pub stats_attached: bool,
}

/// An environment for a [`Request`]: (text, bytes), one of them empty.
pub fn split_env(
    env: crate::run::stages::HostEnv,
) -> (Vec<(String, String)>, crate::run::stages::HostEnv) {
    let all_text = env
        .iter()
        .all(|(k, v)| std::str::from_utf8(k).is_ok() && std::str::from_utf8(v).is_ok());
    if !all_text {
        return (Vec::new(), env);
    }
    let text = env
        .into_iter()
        .filter_map(|(k, v)| Some((String::from_utf8(k).ok()?, String::from_utf8(v).ok()?)))
        .collect();
    (text, Vec::new())
}

impl Request {
    /// The client's environment, whole again.
    pub fn take_env(&mut self) -> crate::run::stages::HostEnv {
        let mut env: crate::run::stages::HostEnv = std::mem::take(&mut self.env)
            .into_iter()
            .map(|(k, v)| (k.into_bytes(), v.into_bytes()))
            .collect();
        env.append(&mut self.env_bytes);
        env
    }

    /// How many descriptors come with this request.
    pub fn descriptors(&self) -> usize {
        FDS + usize::from(self.program_abs.is_some()) + usize::from(self.stats_attached)
    }
}

/// What the worker received: the request and the client's descriptors.
pub struct Received {
    pub request: Request,
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    pub cwd: OwnedFd,
    /// The host program, opened by the client.
    pub program: Option<OwnedFd>,
    /// The `--stats` file, created by the client.
    pub stats: Option<OwnedFd>,
}

/// Sends `request` with its descriptors, `fds` (client side): as many as
/// [`Request::descriptors`] says, in the protocol's order.
pub fn send_request(
    conn: &UnixStream,
    request: &Request,
    fds: &[BorrowedFd<'_>],
) -> Result<(), ProtocolError> {
    if fds.len() != request.descriptors() {
        return Err(ProtocolError::Descriptors {
            got: fds.len(),
            want: request.descriptors(),
        });
    }
    let json = serde_json::to_vec(request)?;
    if json.len() > MAX_REQUEST {
        return Err(ProtocolError::TooLarge(json.len()));
    }
    let len = (json.len() as u32).to_le_bytes();
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    control.push(SendAncillaryMessage::ScmRights(fds));
    let iov = [IoSlice::new(&len), IoSlice::new(&json)];
    let total = len.len() + json.len();
    let sent = loop {
        match rustix::net::sendmsg(conn, &iov, &mut control, SendFlags::NOSIGNAL) {
            Err(Errno::INTR) => continue,
            r => break r.map_err(io)?,
        }
    };
    // The descriptors travel with the first byte; the rest is plain data.
    let rest: Vec<u8> = len.iter().chain(json.iter()).skip(sent).copied().collect();
    debug_assert_eq!(sent + rest.len(), total);
    (&*conn).write_all(&rest)?;
    Ok(())
}

/// Receives a request (worker side).
pub fn receive_request(conn: &UnixStream) -> Result<Received, ProtocolError> {
    let mut first = vec![0u8; 64 << 10];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let received = loop {
        let mut iov = [IoSliceMut::new(&mut first)];
        match rustix::net::recvmsg(conn, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC) {
            Err(Errno::INTR) => continue,
            r => break r.map_err(io)?,
        }
    };
    let got = received.bytes;
    let mut fds: Vec<OwnedFd> = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = message {
            fds.extend(rights);
        }
    }
    // More descriptors than the buffer holds: the kernel closed the rest.
    if received.flags.contains(rustix::net::ReturnFlags::CTRUNC) {
        return Err(ProtocolError::Descriptors {
            got: fds.len() + 1,
            want: MAX_FDS,
        });
    }
    if got < 4 {
        return Err(ProtocolError::Closed);
    }
    let len = u32::from_le_bytes([first[0], first[1], first[2], first[3]]) as usize;
    if len > MAX_REQUEST {
        return Err(ProtocolError::TooLarge(len));
    }
    let mut json = first[4..got.min(4 + len)].to_vec();
    if json.len() < len {
        let have = json.len();
        json.resize(len, 0);
        (&*conn).read_exact(&mut json[have..]).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                ProtocolError::Closed
            } else {
                ProtocolError::Io(e)
            }
        })?;
    }
    let request: Request = serde_json::from_slice(&json)?;
    let (got, want) = (fds.len(), request.descriptors());
    if got != want {
        return Err(ProtocolError::Descriptors { got, want });
    }
    let mut fds = fds.into_iter();
    let mut next = || fds.next().ok_or(ProtocolError::Descriptors { got, want });
    let (stdin, stdout, stderr, cwd) = (next()?, next()?, next()?, next()?);
    let program = match request.program_abs {
        Some(_) => Some(next()?),
        None => None,
    };
    let stats = match request.stats_attached {
        true => Some(next()?),
        false => None,
    };
    Ok(Received {
        request,
        stdin,
        stdout,
        stderr,
        cwd,
        program,
        stats,
    })
}

/// Sends the run's exit status (worker side). A plain `write`: the worker
/// is locked down by then, and its filter has no `sendto` (which std's
/// `UnixStream::write` would use) unless the policy allows networking.
pub fn send_status(conn: &UnixStream, status: i32) -> std::io::Result<()> {
    let bytes = status.to_le_bytes();
    let mut sent = 0;
    while sent < bytes.len() {
        match rustix::io::write(conn, &bytes[sent..]) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => sent += n,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Waits for the run's exit status (client side); `Ok(None)` when the
/// worker closed the connection without one.
pub fn receive_status(conn: &UnixStream) -> std::io::Result<Option<i32>> {
    let mut buf = [0u8; 4];
    match (&*conn).read_exact(&mut buf) {
        Ok(()) => Ok(Some(i32::from_le_bytes(buf))),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]

    use super::*;

    /// An environment split for the wire and taken back is the same
    /// variables in the same order (a name given twice keeps its last
    /// value): as text while all of it is UTF-8, else all as bytes.
    #[test]
    fn an_environment_crosses_whole_in_its_order() {
        let text_only: crate::run::stages::HostEnv = vec![
            (b"PLAIN".to_vec(), b"text \"q\" \\ \n".to_vec()),
            (b"EMPTY".to_vec(), Vec::new()),
        ];
        let (text, bytes) = split_env(text_only.clone());
        assert_eq!(text.len(), 2);
        assert!(bytes.is_empty());
        assert_eq!(through_json(text, bytes), text_only);
        let mixed: crate::run::stages::HostEnv = vec![
            (b"LANG".to_vec(), b"caf\xe9".to_vec()),
            (b"N\xff".to_vec(), b"v".to_vec()),
            (b"LANG".to_vec(), b"C".to_vec()),
        ];
        let (text, bytes) = split_env(mixed.clone());
        assert!(text.is_empty());
        assert_eq!(through_json(text, bytes), mixed);
    }

    /// `env` and `env_bytes` through a request's JSON, taken back.
    fn through_json(
        text: Vec<(String, String)>,
        bytes: crate::run::stages::HostEnv,
    ) -> crate::run::stages::HostEnv {
        let exec = serde_json::json!({
            "policy": null, "timeout": null, "stats": null, "format": "Auto",
            "monitor": "Auto", "huge_pages": "On", "monitor_test_skip_marker": false,
            "program": "/p", "args": []
        });
        let json = serde_json::json!({"exec": exec, "env": text, "env_bytes": bytes});
        let mut request: Request = serde_json::from_value(json).expect("a request");
        request.take_env()
    }
}

//! Which failed calls are edges for edge-triggered epoll
//! (`kernel::events::Edges`): a nonblocking read, receive or accept that
//! found nothing (EAGAIN) drained its read side; a write or send that
//! found no room (EAGAIN), or a connect still in progress (EINPROGRESS),
//! its write side. For host sockets these are the only edges the runner
//! sees; a program waits for the next edge only after such a call, so
//! whatever readiness epoll_wait finds after it is new.

use super::{table, Args, Ctx};
use crate::abi::Errno;
use crate::kernel::events::Side;

/// The calls whose failure is an edge, each with its descriptor in the
/// first argument: (name, the errno that means it, the side).
const EDGE_CALLS: &[(&str, Errno, Side)] = &[
    ("read", Errno::AGAIN, Side::Read),
    ("readv", Errno::AGAIN, Side::Read),
    ("recvfrom", Errno::AGAIN, Side::Read),
    ("recvmsg", Errno::AGAIN, Side::Read),
    // A listener with no connection waiting.
    ("accept", Errno::AGAIN, Side::Read),
    ("accept4", Errno::AGAIN, Side::Read),
    ("write", Errno::AGAIN, Side::Write),
    ("writev", Errno::AGAIN, Side::Write),
    ("sendto", Errno::AGAIN, Side::Write),
    ("sendmsg", Errno::AGAIN, Side::Write),
    // Its output descriptor full.
    ("sendfile", Errno::AGAIN, Side::Write),
    // The socket becomes writable when the connection is made.
    ("connect", Errno::INPROGRESS, Side::Write),
];

/// Counts an edge when syscall `nr` with `args` failed with `errno` as
/// one of [`EDGE_CALLS`].
pub fn note(ctx: &mut Ctx<'_>, nr: u64, args: &Args, errno: Errno) {
    if errno != Errno::AGAIN && errno != Errno::INPROGRESS {
        return;
    }
    let name = table::name_of(nr);
    let Some(&(_, _, side)) = EDGE_CALLS
        .iter()
        .find(|&&(n, e, _)| n == name && e == errno)
    else {
        return;
    };
    if let Ok(object) = ctx.process.fds.get(args[0]) {
        if let Some(edges) = object.edges() {
            edges.edge(side);
        }
    }
}

//! The runner's side of the sandbox's AF_UNIX sockets (those of
//! `socket(AF_UNIX)` and of `socketpair`): their names, their connection
//! state, and what travels beside their bytes (SCM_RIGHTS descriptors, a
//! datagram's sender).
//!
//! Every such socket's bytes flow through a host socketpair the runner
//! holds (counted in kernel/socket_pairs.rs), so buffers, blocking,
//! poll and epoll are the host kernel's. `socket()` makes the pair at
//! once: the guest's descriptor is one end; the other (the *feed*) is
//! kept here. A stream socket's `connect` gives its feed to the listener's
//! accept queue, where `accept` makes it the accepted socket; a listener's
//! own feed carries one byte while its queue is not empty, so that poll
//! and epoll see it readable; a datagram socket's feed is where the
//! runner writes the datagrams sent to it.
//!
//! What travels beside the bytes is kept in the receiving end's
//! [`Inbox`], by position: every send into an end counts its units (bytes
//! of a stream, messages of a datagram or seqpacket socket) and every
//! receive counts those it takes, so a receive that takes the units a
//! send carried objects with gets them, as Linux attaches them to that
//! send's first buffer. Passed objects are the sender's open file
//! descriptions (`Arc<Object>`), never host descriptors; those in flight
//! are counted sandbox-wide ([`InFlight`]), as Linux counts a user's.
//! An object that holds itself (a socket passed into its own queue, and
//! the descriptors closed) is not collected as Linux's garbage collector
//! would: it stays, with its place in the count, until the run ends.
//!
//! Locks: the guest's syscalls reach these under the kernel lock; the
//! mutexes give the shared objects interior mutability. Order: a socket's
//! `state`, then an inbox; never two sockets' `state` at once.

use super::fds::Object;
use super::socket_pairs::EndCharge;
use super::unix_names::UnixName;
use rustix::fd::OwnedFd;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// The most descriptors one message passes (Linux's SCM_MAX_FD).
pub const SCM_MAX_FD: usize = 253;

/// The descriptors in flight in the whole sandbox.
#[derive(Debug, Default)]
pub struct InFlight(Arc<AtomicU64>);

/// Objects' place in [`InFlight`], given back when they are received or
/// dropped.
#[derive(Debug)]
pub struct InFlightCharge(Arc<AtomicU64>, u64);

impl Drop for InFlightCharge {
    fn drop(&mut self) {
        self.0.fetch_sub(self.1, Ordering::SeqCst);
    }
}

impl InFlight {
    /// Charges `n` objects, unless more than `limit` are in flight already
    /// (Linux's too_many_unix_fds: ETOOMANYREFS).
    pub fn charge(&self, n: u64, limit: u64) -> Option<InFlightCharge> {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                (now <= limit).then_some(now + n)
            })
            .ok()
            .map(|_| InFlightCharge(self.0.clone(), n))
    }
}

/// What travels beside one send's units.
#[derive(Debug, Default)]
pub struct Passed {
    /// The sender's name (datagrams to a named socket).
    pub from: Option<UnixName>,
    /// SCM_RIGHTS: the sender's open file descriptions.
    pub objects: Vec<Arc<Object>>,
    pub charge: Option<InFlightCharge>,
}

impl Passed {
    fn is_empty(&self) -> bool {
        self.from.is_none() && self.objects.is_empty()
    }

    /// A copy for MSG_PEEK (the objects shared, not charged again).
    fn peeked(&self) -> Passed {
        Passed {
            from: self.from.clone(),
            objects: self.objects.clone(),
            charge: None,
        }
    }
}

/// What travels beside the units sent into one end.
#[derive(Debug, Default)]
pub struct Inbox {
    sent: u64,
    received: u64,
    /// By the positions of the first unit they came with and of the unit
    /// after their send.
    pending: VecDeque<(u64, u64, Passed)>,
}

impl Inbox {
    /// A send of `units` went in with `passed`.
    pub fn record_send(&mut self, units: u64, passed: Passed) {
        if units > 0 && !passed.is_empty() {
            self.pending
                .push_back((self.sent, self.sent + units, passed));
        }
        self.sent += units;
    }

    /// Whether units are queued that no receive has taken.
    pub fn queued(&self) -> bool {
        self.sent > self.received
    }

    /// A stream receive may take at most this many bytes now: it stops
    /// after the send whose objects it takes, as Linux's stops after the
    /// buffer that carried them (None: no limit).
    pub fn stream_limit(&self) -> Option<u64> {
        self.pending
            .front()
            .map(|(_, end, _)| end.saturating_sub(self.received))
    }

    /// A receive took `units` (with MSG_PEEK, left them): what came with
    /// them.
    pub fn record_receive(&mut self, units: u64, peek: bool) -> Passed {
        let end = self.received + units;
        let mut got = Passed::default();
        if peek {
            if let Some((_, _, p)) = self.pending.iter().find(|(at, _, _)| *at < end) {
                got = p.peeked();
            }
            return got;
        }
        while let Some((at, _, _)) = self.pending.front() {
            if *at >= end {
                break;
            }
            if let Some((_, _, p)) = self.pending.pop_front() {
                got.from = got.from.or(p.from);
                got.objects.extend(p.objects);
            }
        }
        self.received = end;
        got
    }
}

/// A listening stream socket's queue.
#[derive(Debug)]
pub struct Listen {
    /// At most this many connections wait beyond the first (Linux lets
    /// backlog + 1 wait).
    pub backlog: usize,
    /// The accepted ends, made by connect, for accept.
    pub queue: VecDeque<Arc<Object>>,
}

/// A socket's names and connection.
#[derive(Debug, Default)]
pub struct UnixState {
    /// Its bound name.
    pub name: Option<UnixName>,
    /// The name of the socket it is connected to, when bound.
    pub peer_name: Option<UnixName>,
    /// A stream connected (or accepted); a datagram socket with a peer.
    pub connected: bool,
    /// A datagram socket's peer, once it connected.
    pub peer: Option<Weak<UnixSocket>>,
    /// Listening (streams).
    pub listen: Option<Listen>,
    /// The other end of its host pair (see the module's text), with its
    /// place in the socket-pair budget.
    pub feed: Option<(OwnedFd, EndCharge)>,
    /// SO_PEERCRED: the peer's pid (its process when it connected, or
    /// listened, or made the pair).
    pub peer_pid: i32,
}

/// The runner's side of one AF_UNIX socket.
#[derive(Debug)]
pub struct UnixSocket {
    /// SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET.
    pub ty: u32,
    /// What travels beside the units sent into this socket's descriptor.
    pub inbox: Arc<Mutex<Inbox>>,
    /// Where a stream's (or a pair's) sends go: its peer's inbox.
    pub outbox: Arc<Mutex<Inbox>>,
    pub state: Mutex<UnixState>,
}

impl UnixSocket {
    /// One socket whose sends go to `outbox`.
    pub fn new(
        ty: u32,
        inbox: Arc<Mutex<Inbox>>,
        outbox: Arc<Mutex<Inbox>>,
        state: UnixState,
    ) -> Arc<UnixSocket> {
        Arc::new(UnixSocket {
            ty,
            inbox,
            outbox,
            state: Mutex::new(state),
        })
    }

    /// Whether its units are bytes (a stream) rather than messages.
    pub fn is_stream(&self) -> bool {
        self.ty == crate::abi::constants::SOCK_STREAM
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_come_with_the_bytes_they_were_sent_with() {
        let mut inbox = Inbox::default();
        inbox.record_send(3, Passed::default());
        let null = Arc::new(Object::Null {
            stream: super::super::fds::Stream::Stdout,
        });
        let with = |n| Passed {
            objects: vec![null.clone(); n],
            ..Passed::default()
        };
        inbox.record_send(2, with(1));
        inbox.record_send(4, with(2));
        // Bytes 0..3 carry nothing; a receive may reach into the first
        // send with objects, not the second.
        assert_eq!(inbox.stream_limit(), Some(5));
        assert!(inbox.record_receive(2, false).objects.is_empty());
        assert_eq!(inbox.record_receive(2, true).objects.len(), 1);
        assert_eq!(inbox.stream_limit(), Some(3));
        assert_eq!(inbox.record_receive(3, false).objects.len(), 1);
        assert_eq!(inbox.stream_limit(), Some(4));
        assert_eq!(inbox.record_receive(4, false).objects.len(), 2);
        assert!(!inbox.queued());
    }

    #[test]
    fn in_flight_is_bounded() {
        let f = InFlight::default();
        let a = f.charge(253, 10).expect("room");
        assert!(f.charge(1, 10).is_none());
        drop(a);
        assert!(f.charge(1, 10).is_some());
    }
}

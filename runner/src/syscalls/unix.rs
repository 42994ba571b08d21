//! AF_UNIX sockets with names, private to the sandbox: socket, bind,
//! listen, connect, accept, getsockname/getpeername, and their sends and
//! receives (with what travels beside the bytes: a datagram's sender,
//! SCM_RIGHTS descriptors). No `[[network]]` rule is needed: nothing here
//! reaches the host's sockets. The state and its locks are
//! kernel/unix_sockets.rs; the names kernel/unix_names.rs.
//!
//! - Names: an abstract name is the sandbox's alone; a path name is bound
//!   only where the guest could create a file (a read-write tree: EACCES
//!   elsewhere, ENOENT for a missing directory, EADDRINUSE where something
//!   exists), and no host node is made: `ls` and `stat` do not show it,
//!   `unlink` forgets it. `connect` to a path that is no bound name is
//!   ENOENT when nothing is there, ECONNREFUSED otherwise (a host file, a
//!   host program's socket file: never reached).
//! - Streams and seqpacket: `connect` hands the socket's feed (the other
//!   end of its host pair) to the listener's queue at once, as Linux
//!   connects before accept; a full queue (backlog + 1 waiting) is EAGAIN
//!   for a nonblocking socket, else the call waits for another thread's
//!   syscall (`Wait::Retry`) and tries again. `accept` waits the same way.
//! - Datagrams: a send to a name (or to the connected peer) is written by
//!   the runner into the receiver's feed, its sender's name kept beside it
//!   for recvfrom.

use super::common::{total, SysResult};
use super::socketpair::{host_pair, unix_end};
use super::{readiness, sleep, Ctx, Stop, SyscallResult};
use crate::abi::constants::{AF_UNIX, POLLOUT, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK};
use crate::abi::Errno;
use crate::kernel::fds::{Object, SocketKind, SocketObj};
use crate::kernel::lock;
use crate::kernel::unix_names::{NameKey, UnixName};
use crate::kernel::unix_sockets::{Listen, Passed, UnixSocket, UnixState};
use crate::tunnel::GuestPtr;
use crate::vfs::Node;
use rustix::fd::{AsFd, BorrowedFd};
use rustix::net::{RecvFlags, SendFlags};
use std::path::PathBuf;
use std::sync::Arc;

/// Bytes of `struct sockaddr_un`.
const SOCKADDR_UN: usize = 110;
/// The longest queue of pending connections (Linux's somaxconn).
const BACKLOG_MAX: usize = 4096;

/// socket(AF_UNIX, ty, proto): an unnamed, unconnected socket on a new
/// host pair whose other end it keeps as its feed.
pub fn socket(ctx: &mut Ctx<'_>, ty: u32, proto: u32) -> SyscallResult {
    let base = ty & !(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if base & !0xf != 0 {
        return Err(Errno::INVAL.into());
    }
    // SOCK_RAW is a datagram socket, as Linux's unix_create makes it.
    let base = if base == crate::abi::constants::SOCK_RAW {
        SOCK_DGRAM
    } else {
        base
    };
    if proto > 1 {
        return Err(Errno::PROTONOSUPPORT.into());
    }
    if !ctx.process.fds.has_room() {
        return Err(Errno::MFILE.into());
    }
    let [(fd, charge), feed] = host_pair(ctx, base, ty & SOCK_NONBLOCK != 0)?;
    let state = UnixState {
        feed: Some(feed),
        ..UnixState::default()
    };
    let unix = UnixSocket::new(base, Arc::default(), Arc::default(), state);
    let obj = unix_end(fd, charge, SocketKind::Unix { ty: base }, unix);
    Ok(ctx.process.fds.insert(obj, ty & SOCK_CLOEXEC != 0, 0)?)
}

/// A guest `struct sockaddr_un` of `raw.len()` bytes, as Linux reads it:
/// its key and the address kept for getsockname (None: the family alone).
fn parse(ctx: &Ctx<'_>, raw: &[u8]) -> Result<Option<UnixName>, Errno> {
    if raw.len() < 2 || raw.len() > SOCKADDR_UN {
        return Err(Errno::INVAL);
    }
    if u16::from_le_bytes([raw[0], raw[1]]) != AF_UNIX {
        return Err(Errno::INVAL);
    }
    let path = &raw[2..];
    match path.first() {
        None => Ok(None),
        Some(0) => Ok(Some(UnixName {
            key: NameKey::Abstract(path[1..].to_vec()),
            sockaddr: raw.to_vec(),
        })),
        Some(_) => {
            let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
            let written = &path[..end];
            let base = if written.first() == Some(&b'/') {
                PathBuf::from("/")
            } else {
                ctx.process.vfs.cwd().to_path_buf()
            };
            let g = crate::vfs::path::normalize(&base, written).map_err(|_| Errno::NAMETOOLONG)?;
            let mut sockaddr = raw[..2].to_vec();
            sockaddr.extend_from_slice(written);
            sockaddr.push(0);
            Ok(Some(UnixName {
                key: NameKey::Path(g.path),
                sockaddr,
            }))
        }
    }
}

/// The socket's runner side (every AF_UNIX socket has one).
pub fn side(s: &SocketObj) -> Result<&Arc<UnixSocket>, Errno> {
    s.unix.as_ref().ok_or(Errno::NOTSOCK)
}

fn nonblocking(fd: BorrowedFd<'_>) -> bool {
    rustix::fs::fcntl_getfl(fd).is_ok_and(|f| f.contains(rustix::fs::OFlags::NONBLOCK))
}

/// bind: a name of the sandbox's own (see the module's text); the
/// family alone binds an abstract name of five hex digits, as Linux's
/// autobind.
pub fn bind(ctx: &mut Ctx<'_>, obj: &Arc<Object>, raw: &[u8]) -> SysResult {
    let Object::Socket(s) = &**obj else {
        return Err(Errno::NOTSOCK);
    };
    let u = side(s)?;
    if !matches!(s.kind, SocketKind::Unix { .. }) || lock(&u.state).name.is_some() {
        // A socketpair end, or a socket already bound.
        return Err(Errno::INVAL);
    }
    let name = match parse(ctx, raw)? {
        Some(n) => n,
        None => autobind_name(ctx)?,
    };
    if let NameKey::Path(p) = &name.key {
        let vfs = &ctx.process.vfs;
        let Node::Real(real) = vfs.resolve(p)? else {
            return Err(Errno::ADDRINUSE);
        };
        if real.rest.as_os_str().is_empty() {
            return Err(Errno::ADDRINUSE);
        }
        real.parent()?;
        if !real.writable() {
            return Err(Errno::ACCESS);
        }
        if super::fs::exists(&real) {
            return Err(Errno::ADDRINUSE);
        }
        let key = NameKey::Path(real.guest.clone());
        if ctx.kernel.unix_names.find(&key).is_some() || ctx.kernel.unix_names.has_path(&real.guest)
        {
            return Err(Errno::ADDRINUSE);
        }
        ctx.kernel.created.take()?;
        let bound = ctx.kernel.unix_names.bind(key.clone(), u);
        if bound.is_err() {
            ctx.kernel.created.give_back();
        }
        bound?;
        lock(&u.state).name = Some(UnixName { key, ..name });
        return Ok(0);
    }
    ctx.kernel.unix_names.bind(name.key.clone(), u)?;
    lock(&u.state).name = Some(name);
    Ok(0)
}

/// A free abstract name of five hex digits.
fn autobind_name(ctx: &Ctx<'_>) -> Result<UnixName, Errno> {
    for n in 0..0x10_0000u32 {
        let digits = format!("{n:05x}").into_bytes();
        let key = NameKey::Abstract(digits.clone());
        if ctx.kernel.unix_names.find(&key).is_none() {
            let mut sockaddr = AF_UNIX.to_le_bytes().to_vec();
            sockaddr.push(0);
            sockaddr.extend_from_slice(&digits);
            return Ok(UnixName { key, sockaddr });
        }
    }
    Err(Errno::NOSPC)
}

/// The open socket a guest address names, as connect and sendto find it:
/// ECONNREFUSED for an abstract name nobody holds, or a path that is no
/// open bound name (a closed socket's, a host file's); ENOENT when
/// nothing is at the path.
fn find(ctx: &Ctx<'_>, name: &UnixName) -> Result<Arc<UnixSocket>, Errno> {
    let key = match &name.key {
        NameKey::Abstract(_) => name.key.clone(),
        NameKey::Path(p) => match ctx.process.vfs.resolve(p)? {
            Node::Real(real) => {
                let key = NameKey::Path(real.guest.clone());
                if !ctx.kernel.unix_names.has_path(&real.guest) {
                    return Err(if super::fs::exists(&real) {
                        Errno::CONNREFUSED
                    } else {
                        Errno::NOENT
                    });
                }
                key
            }
            Node::Virtual(_) => return Err(Errno::CONNREFUSED),
        },
    };
    ctx.kernel.unix_names.find(&key).ok_or(Errno::CONNREFUSED)
}

/// listen: a bound stream or seqpacket socket queues connections.
pub fn listen(ctx: &mut Ctx<'_>, s: &SocketObj, backlog: i32) -> SysResult {
    let u = side(s)?;
    if u.ty == SOCK_DGRAM {
        return Err(Errno::OPNOTSUPP);
    }
    let mut st = lock(&u.state);
    if st.name.is_none() || st.connected || !matches!(s.kind, SocketKind::Unix { .. }) {
        return Err(Errno::INVAL);
    }
    // As Linux, a negative backlog is the most.
    let backlog = usize::try_from(backlog).map_or(BACKLOG_MAX, |b| b.min(BACKLOG_MAX));
    match &mut st.listen {
        Some(l) => l.backlog = backlog,
        None => {
            st.listen = Some(Listen {
                backlog,
                queue: Default::default(),
            });
            st.peer_pid = ctx.process.identity.pid as i32;
        }
    }
    Ok(0)
}

/// connect: a stream joins a listener's queue; a datagram socket takes a
/// default peer (AF_UNSPEC drops it).
pub fn connect(ctx: &mut Ctx<'_>, s: &SocketObj, raw: &[u8]) -> SyscallResult {
    let u = side(s)?;
    if u.ty == SOCK_DGRAM && raw.len() >= 2 && raw[..2] == [0, 0] {
        let mut st = lock(&u.state);
        (st.peer, st.peer_name, st.connected) = (None, None, false);
        return Ok(0);
    }
    let name = parse(ctx, raw)?.ok_or(Errno::INVAL)?;
    if !matches!(s.kind, SocketKind::Unix { .. }) {
        return Err(Errno::ISCONN.into());
    }
    {
        let st = lock(&u.state);
        if u.ty != SOCK_DGRAM && st.connected {
            return Err(Errno::ISCONN.into());
        }
        if st.listen.is_some() {
            return Err(Errno::INVAL.into());
        }
    }
    let target = find(ctx, &name)?;
    if target.ty != u.ty {
        return Err(Errno::PROTOTYPE.into());
    }
    let target_name = lock(&target.state).name.clone();
    if u.ty == SOCK_DGRAM {
        let mut st = lock(&u.state);
        st.peer = Some(Arc::downgrade(&target));
        st.peer_name = target_name;
        st.connected = true;
        return Ok(0);
    }
    let pid = ctx.process.identity.pid as i32;
    let (my_name, feed) = {
        let mut st = lock(&u.state);
        (st.name.clone(), st.feed.take())
    };
    let Some((feed_fd, charge)) = feed else {
        return Err(Errno::INVAL.into());
    };
    let mut t = lock(&target.state);
    let listener_pid = t.peer_pid;
    let full = match &t.listen {
        None => Some(Errno::CONNREFUSED),
        Some(l) if l.queue.len() > l.backlog => Some(Errno::AGAIN),
        Some(_) => None,
    };
    if let Some(e) = full {
        drop(t);
        lock(&u.state).feed = Some((feed_fd, charge));
        if e == Errno::AGAIN && !nonblocking(s.fd.as_fd()) {
            return sleep::hang();
        }
        return Err(e.into());
    }
    let accepted = UnixSocket::new(
        u.ty,
        Arc::clone(&u.outbox),
        Arc::clone(&u.inbox),
        UnixState {
            name: target_name.clone(),
            peer_name: my_name,
            connected: true,
            peer_pid: pid,
            ..UnixState::default()
        },
    );
    let end = unix_end(feed_fd, charge, SocketKind::Unix { ty: u.ty }, accepted);
    let st = &mut *t;
    if let (Some(l), Some((wake, _))) = (&mut st.listen, &st.feed) {
        if l.queue.is_empty() {
            // The listener's descriptor is readable while connections wait.
            rustix::net::send(wake, &[1], SendFlags::DONTWAIT)?;
        }
        l.queue.push_back(end);
    }
    drop(t);
    let mut st = lock(&u.state);
    st.connected = true;
    st.peer_name = target_name;
    st.peer_pid = listener_pid;
    Ok(0)
}

/// accept4 on an AF_UNIX listener: the next queued connection, its peer's
/// name (or the family alone) as the address.
pub fn accept(
    ctx: &mut Ctx<'_>,
    s: &SocketObj,
    flags: u32,
) -> Result<(Arc<Object>, Vec<u8>), Stop> {
    let u = side(s)?;
    if !ctx.process.fds.has_room() {
        return Err(Errno::MFILE.into());
    }
    let next = {
        let mut st = lock(&u.state);
        let Some(l) = &mut st.listen else {
            return Err(Errno::INVAL.into());
        };
        let next = l.queue.pop_front();
        if next.is_some() && l.queue.is_empty() {
            rustix::net::recv(&s.fd, &mut [0u8; 1][..], RecvFlags::DONTWAIT)?;
        }
        next
    };
    let Some(conn) = next else {
        if nonblocking(s.fd.as_fd()) {
            return Err(Errno::AGAIN.into());
        }
        return Err(Stop::Block(super::Wait::Retry));
    };
    let Object::Socket(c) = &*conn else {
        return Err(Errno::INVAL.into());
    };
    if flags & SOCK_NONBLOCK != 0 {
        rustix::fs::fcntl_setfl(&c.fd, rustix::fs::OFlags::NONBLOCK)?;
    }
    let peer = side(c)?;
    let addr = sockaddr_of(lock(&peer.state).peer_name.as_ref());
    Ok((conn, addr))
}

/// A name as a `struct sockaddr_un`, or the family alone.
fn sockaddr_of(name: Option<&UnixName>) -> Vec<u8> {
    name.map_or_else(|| AF_UNIX.to_le_bytes().to_vec(), |n| n.sockaddr.clone())
}

/// getsockname/getpeername: the bound name, or the peer's (ENOTCONN
/// without one; a socketpair end's peer is unnamed).
pub fn name(s: &SocketObj, peer: bool) -> Result<Vec<u8>, Errno> {
    let u = side(s)?;
    let st = lock(&u.state);
    if !peer {
        return Ok(sockaddr_of(st.name.as_ref()));
    }
    if !st.connected {
        return Err(Errno::NOTCONN);
    }
    Ok(sockaddr_of(st.peer_name.as_ref()))
}

/// The peer's credentials for SO_PEERCRED: its pid (0 with no peer).
pub fn peer_pid(s: &SocketObj) -> i32 {
    s.unix.as_ref().map_or(0, |u| lock(&u.state).peer_pid)
}

/// Sends `parts` (checked readable) on AF_UNIX socket `s`, to the guest's
/// address `raw` if any, with `passed` (SCM_RIGHTS) beside them.
pub fn send(
    ctx: &mut Ctx<'_>,
    s: &SocketObj,
    parts: &[(GuestPtr, u64)],
    raw: Option<Vec<u8>>,
    flags: SendFlags,
    mut passed: Passed,
) -> Result<u64, Stop> {
    let u = side(s)?;
    if u.ty != SOCK_DGRAM {
        let st = lock(&u.state);
        if raw.is_some() {
            return Err(if st.connected {
                Errno::ISCONN
            } else {
                Errno::OPNOTSUPP
            }
            .into());
        }
        if !st.connected {
            return Err(Errno::NOTCONN.into());
        }
        drop(st);
        let mut outbox = lock(&u.outbox);
        let n = super::net::send_on(ctx, s.fd.as_fd(), parts, flags)?;
        outbox.record_send(if u.is_stream() { n } else { 1 }, passed);
        return Ok(n);
    }
    if matches!(s.kind, SocketKind::UnixPair { .. }) {
        if raw.is_some() {
            return Err(Errno::ISCONN.into());
        }
        let mut outbox = lock(&u.outbox);
        let n = super::net::send_on(ctx, s.fd.as_fd(), parts, flags)?;
        outbox.record_send(1, passed);
        return Ok(n);
    }
    let target = match raw {
        Some(raw) => {
            let name = parse(ctx, &raw)?.ok_or(Errno::INVAL)?;
            find(ctx, &name)?
        }
        None => {
            let peer = lock(&u.state).peer.clone().ok_or(Errno::NOTCONN)?;
            peer.upgrade().ok_or(Errno::CONNREFUSED)?
        }
    };
    if target.ty != SOCK_DGRAM {
        return Err(Errno::PROTOTYPE.into());
    }
    passed.from = lock(&u.state).name.clone();
    let mut flags = flags;
    let sender_waits = !flags.contains(SendFlags::DONTWAIT) && !nonblocking(s.fd.as_fd());
    if !sender_waits {
        flags |= SendFlags::DONTWAIT;
    }
    let t = lock(&target.state);
    let Some((feed, _)) = &t.feed else {
        return Err(Errno::CONNREFUSED.into());
    };
    if sender_waits {
        readiness::wait_unless_ready(ctx, feed.as_fd(), POLLOUT)?;
    }
    let mut inbox = lock(&target.inbox);
    let n = super::net::send_on(ctx, feed.as_fd(), parts, flags)?;
    inbox.record_send(1, passed);
    Ok(n)
}

/// What a receive on an AF_UNIX socket got.
pub struct Received {
    /// The byte count (a datagram's whole length with MSG_TRUNC).
    pub n: u64,
    /// The sender's address (empty: none, length 0).
    pub from: Vec<u8>,
    pub passed: Passed,
}

/// Receives into `parts` (checked writable) on AF_UNIX socket `s`: a
/// stream receive stops before the objects of a second send, as Linux's.
pub fn receive(
    ctx: &mut Ctx<'_>,
    s: &SocketObj,
    parts: &[(GuestPtr, u64)],
    flags: RecvFlags,
) -> Result<Received, Errno> {
    let u = side(s)?;
    let listening = lock(&u.state).listen.is_some();
    if listening {
        return Err(Errno::INVAL);
    }
    let mut inbox = lock(&u.inbox);
    let limited;
    let parts = match inbox.stream_limit().filter(|_| u.is_stream()) {
        Some(limit) if limit < total(parts) => {
            limited = cut(parts, limit);
            &limited[..]
        }
        _ => parts,
    };
    let queued = inbox.queued();
    let n = super::net::recv_on(ctx, s.fd.as_fd(), parts, flags)?;
    let units = if u.is_stream() {
        n
    } else {
        u64::from(n > 0 || queued)
    };
    let passed = inbox.record_receive(units, flags.contains(RecvFlags::PEEK));
    drop(inbox);
    let from = match (&passed.from, u.ty) {
        (Some(name), _) => name.sockaddr.clone(),
        (None, SOCK_DGRAM) => Vec::new(),
        (None, _) => lock(&u.state)
            .peer_name
            .as_ref()
            .map(|n| n.sockaddr.clone())
            .unwrap_or_default(),
    };
    Ok(Received { n, from, passed })
}

/// The first `limit` bytes of `parts`.
fn cut(parts: &[(GuestPtr, u64)], mut limit: u64) -> Vec<(GuestPtr, u64)> {
    let mut out = Vec::new();
    for &(p, len) in parts {
        if limit == 0 {
            break;
        }
        let k = len.min(limit);
        out.push((p, k));
        limit -= k;
    }
    out
}

/// Whether `s` is a socket of `socket(AF_UNIX)` (not a socketpair end).
pub fn is_named(s: &SocketObj) -> bool {
    matches!(s.kind, SocketKind::Unix { .. })
}

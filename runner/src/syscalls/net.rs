//! Sockets: socket, connect, sendto, recvfrom, shutdown, getsockopt, and
//! read/write/readv/writev on socket descriptors.
//!
//! Internet sockets are AF_INET and AF_INET6 with SOCK_STREAM (TCP) or
//! SOCK_DGRAM (UDP); AF_UNIX sockets, private to the sandbox, are
//! syscalls/unix.rs (and socketpair.rs), reached from here. An internet
//! socket of a protocol no `[[network]]` rule names cannot be created
//! (`EACCES`); `connect` and `sendto` reach only the peers the
//! policy lists (`EACCES` otherwise, before any packet leaves, so a refusal
//! is never confused with a peer's `ECONNREFUSED`); datagrams from peers the
//! policy does not list are dropped unseen. Serving (bind, listen,
//! accept) is `net_server.rs`, setsockopt `net_options.rs`. A send on a
//! broken connection raises the
//! guest's SIGPIPE (`signals::broken_pipe`) unless it passed MSG_NOSIGNAL;
//! the host call always carries MSG_NOSIGNAL.

use super::common::*;
use super::{signals, Args, Ctx, Stop, SyscallResult};
use crate::abi::constants::{
    AF_INET, AF_INET6, AF_UNIX, AF_UNSPEC, IPPROTO_TCP, IPPROTO_UDP, MSG_CMSG_CLOEXEC, MSG_CONFIRM,
    MSG_DONTROUTE, MSG_DONTWAIT, MSG_EOR, MSG_MORE, MSG_NOSIGNAL, MSG_OOB, MSG_PEEK, MSG_TRUNC,
    MSG_WAITALL, POLLIN, POLLOUT, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET,
    SO_DOMAIN, SO_ERROR, SO_PEERCRED, SO_PROTOCOL, SO_RCVBUF, SO_SNDBUF, SO_TYPE,
};
use crate::abi::layouts::{self as abi, SOCKADDR_MAX};
use crate::abi::Errno;
use crate::kernel::events::Edges;
use crate::kernel::fds::{Object, SocketKind, SocketObj};
use crate::kernel::unix_sockets::Passed;
use crate::tunnel::{Access, GuestPtr};
use rustix::fd::{AsFd, BorrowedFd};
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvFlags, SendAncillaryBuffer, SendFlags, Shutdown,
    SocketAddrAny, SocketFlags, SocketType,
};
use sandbox_policy::Protocol;
use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

/// Largest UDP datagram.
const DATAGRAM_MAX: u64 = 65_536;

/// Guest send flags passed on (MSG_NOSIGNAL is always added: a broken
/// connection is EPIPE, never a signal to the runner; the guest's SIGPIPE
/// is emulated).
const SEND_FLAGS: u32 =
    MSG_OOB | MSG_DONTROUTE | MSG_DONTWAIT | MSG_EOR | MSG_CONFIRM | MSG_NOSIGNAL | MSG_MORE;
/// Guest receive flags passed on.
const RECV_FLAGS: u32 = MSG_OOB | MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT | MSG_WAITALL;

/// A socket as std `Read`/`Write` through recvmsg/sendmsg.
struct SockIo<'a> {
    fd: BorrowedFd<'a>,
    send: SendFlags,
    recv: RecvFlags,
    to: Option<SocketAddr>,
    from: Option<SocketAddrAny>,
}

impl Read for SockIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.read_vectored(&mut [IoSliceMut::new(buf)])
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> std::io::Result<usize> {
        let m = rustix::net::recvmsg(
            self.fd,
            bufs,
            &mut RecvAncillaryBuffer::new(&mut []),
            self.recv,
        )?;
        self.from = m.address;
        Ok(m.bytes)
    }
}

impl Write for SockIo<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
        let mut control = SendAncillaryBuffer::default();
        Ok(match &self.to {
            None => rustix::net::sendmsg(self.fd, bufs, &mut control, self.send)?,
            Some(a) => rustix::net::sendmsg_addr(self.fd, a, bufs, &mut control, self.send)?,
        })
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(super) fn source_of(from: &Option<SocketAddrAny>) -> Option<SocketAddr> {
    from.clone().and_then(|a| SocketAddr::try_from(a).ok())
}

/// Receives into `parts` (already checked writable). TCP goes straight
/// into guest memory; UDP through a bounce buffer so that a datagram from a
/// peer the policy does not list is dropped before the guest sees a byte.
/// `from` receives the sender's address.
pub fn recv_parts(
    ctx: &mut Ctx<'_>,
    s: &SocketObj,
    parts: &[(GuestPtr, u64)],
    flags: RecvFlags,
    mut from: Option<&mut Option<SocketAddr>>,
) -> SysResult {
    let fd = s.fd.as_fd();
    if s.unix.is_some() {
        // read() and recv without control: passed descriptors are closed.
        let got = super::unix::receive(ctx, s, parts, flags)?;
        if let Some(f) = from.as_deref_mut() {
            *f = None;
        }
        return Ok(got.n);
    }
    if !s.is_udp() {
        let r = recv_on(ctx, fd, parts, flags)?;
        if let Some(f) = from.as_deref_mut() {
            *f = None;
        }
        return Ok(r);
    }
    let want = total(parts).min(DATAGRAM_MAX) as usize;
    let mut buf = vec![0u8; want];
    loop {
        let (n, full, addr) = rustix::net::recvfrom(fd, &mut buf[..], flags)?;
        let source = source_of(&addr);
        if let Some(src) = source {
            if !ctx.kernel.net.allows(Protocol::Udp, src) {
                if flags.contains(RecvFlags::PEEK) {
                    // Consume the peeked datagram: it is not for the guest.
                    rustix::net::recv(fd, &mut [0u8; 0][..], flags.difference(RecvFlags::PEEK))?;
                }
                continue;
            }
        }
        let mut done = 0usize;
        for &(p, len) in parts {
            if done >= n {
                break;
            }
            let k = (len as usize).min(n - done);
            ctx.tunnel()
                .write(p, &buf[done..done + k])
                .map_err(|_| Errno::FAULT)?;
            done += k;
        }
        if let Some(f) = from.as_deref_mut() {
            *f = source;
        }
        return Ok(full as u64);
    }
}

/// Receives into `parts` (already checked writable) from host socket
/// `fd`, straight into guest memory.
pub(super) fn recv_on(
    ctx: &mut Ctx<'_>,
    fd: BorrowedFd<'_>,
    parts: &[(GuestPtr, u64)],
    flags: RecvFlags,
) -> SysResult {
    let mut io = SockIo {
        fd,
        send: SendFlags::empty(),
        recv: flags,
        to: None,
        from: None,
    };
    match ctx.tunnel().read_many_from_host(parts, &mut io) {
        Ok(r) => host_io(r),
        Err(_) => Err(Errno::FAULT),
    }
}

/// Sends `parts` (already checked readable), to `to` when given; an
/// AF_UNIX socket's through syscalls/unix.rs.
pub fn send_parts(
    ctx: &mut Ctx<'_>,
    s: &SocketObj,
    parts: &[(GuestPtr, u64)],
    flags: SendFlags,
    to: Option<SocketAddr>,
) -> Result<u64, Stop> {
    if s.unix.is_some() {
        return super::unix::send(ctx, s, parts, None, flags, Passed::default());
    }
    Ok(send_to_host(ctx, s.fd.as_fd(), parts, flags, to)?)
}

/// Sends `parts` (already checked readable) on host socket `fd`.
pub(super) fn send_on(
    ctx: &mut Ctx<'_>,
    fd: BorrowedFd<'_>,
    parts: &[(GuestPtr, u64)],
    flags: SendFlags,
) -> SysResult {
    send_to_host(ctx, fd, parts, flags, None)
}

fn send_to_host(
    ctx: &mut Ctx<'_>,
    fd: BorrowedFd<'_>,
    parts: &[(GuestPtr, u64)],
    flags: SendFlags,
    to: Option<SocketAddr>,
) -> SysResult {
    let mut io = SockIo {
        fd,
        send: flags | SendFlags::NOSIGNAL,
        recv: RecvFlags::empty(),
        to,
        from: None,
    };
    match ctx.tunnel().write_many_to_host(parts, &mut io) {
        Ok(r) => host_io(r),
        Err(_) => Err(Errno::FAULT),
    }
}

pub(super) fn socket_of(ctx: &Ctx<'_>, fd: u64) -> Result<Arc<Object>, Errno> {
    let obj = ctx.process.fds.get(fd)?;
    if matches!(&*obj, Object::Socket(_)) {
        Ok(obj)
    } else {
        Err(Errno::NOTSOCK)
    }
}

/// Reads a guest sockaddr of `len` bytes.
pub(super) fn read_sockaddr(ctx: &mut Ctx<'_>, ptr: u64, len: u64) -> Result<Vec<u8>, Errno> {
    if (len as u32 as i32) < 0 || len > SOCKADDR_MAX {
        return Err(Errno::INVAL);
    }
    let mut b = vec![0u8; len as usize];
    ctx.tunnel()
        .read(GuestPtr::new(ptr), &mut b)
        .map_err(|_| Errno::FAULT)?;
    Ok(b)
}

pub fn socket(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (domain, ty, proto) = (a[0] as u32, a[1] as u32, a[2] as u32);
    let (family, v6) = match domain as u16 {
        AF_INET if domain == u32::from(AF_INET) => (AddressFamily::INET, false),
        AF_INET6 if domain == u32::from(AF_INET6) => (AddressFamily::INET6, true),
        AF_UNIX if domain == u32::from(AF_UNIX) => return super::unix::socket(ctx, ty, proto),
        _ => return Err(Errno::AFNOSUPPORT.into()),
    };
    let base = ty & !(SOCK_NONBLOCK | SOCK_CLOEXEC);
    let (protocol, host_type, host_proto) = match base {
        SOCK_STREAM => (Protocol::Tcp, SocketType::STREAM, rustix::net::ipproto::TCP),
        SOCK_DGRAM => (Protocol::Udp, SocketType::DGRAM, rustix::net::ipproto::UDP),
        _ if base & !0xf != 0 => return Err(Errno::INVAL.into()),
        _ => return Err(Errno::SOCKTNOSUPPORT.into()),
    };
    let expected = if protocol == Protocol::Tcp {
        IPPROTO_TCP
    } else {
        IPPROTO_UDP
    };
    if proto != 0 && proto != expected {
        return Err(Errno::PROTONOSUPPORT.into());
    }
    if !ctx.kernel.net.names_protocol(protocol) {
        return Err(Errno::ACCESS.into());
    }
    if !ctx.process.fds.has_room() {
        return Err(Errno::MFILE.into());
    }
    let mut flags = SocketFlags::CLOEXEC;
    if ty & SOCK_NONBLOCK != 0 {
        flags |= SocketFlags::NONBLOCK;
    }
    let fd = rustix::net::socket_with(family, host_type, flags, Some(host_proto))?;
    let obj = Object::Socket(SocketObj {
        fd,
        kind: SocketKind::Inet { v6, protocol },
        charge: None,
        edges: Edges::default(),
        unix: None,
    });
    Ok(ctx
        .process
        .fds
        .insert(Arc::new(obj), ty & SOCK_CLOEXEC != 0, 0)?)
}

pub fn connect(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let raw = read_sockaddr(ctx, a[1], a[2])?;
    let obj = socket_of(ctx, a[0])?;
    let Object::Socket(s) = &*obj else {
        return Err(Errno::NOTSOCK.into());
    };
    if super::unix::is_named(s) {
        return super::unix::connect(ctx, s, &raw);
    }
    if raw.len() >= 2 && u16::from_le_bytes([raw[0], raw[1]]) == AF_UNSPEC {
        // Dissolves a UDP association; reaches no peer.
        rustix::net::connect_unspec(&s.fd)?;
        return Ok(0);
    }
    // A socketpair end is connected for good.
    let Some((_, protocol)) = s.inet() else {
        return Err(Errno::ISCONN.into());
    };
    let addr = address_for(s, &raw)?;
    if !ctx.kernel.allows_peer(protocol, addr, false) {
        return Err(Errno::ACCESS.into());
    }
    rustix::net::connect(&s.fd, &addr)?;
    Ok(0)
}

/// The guest sockaddr `raw` as an address for socket `s`: an IPv6 one on
/// an IPv4 socket is EAFNOSUPPORT.
pub(super) fn address_for(s: &SocketObj, raw: &[u8]) -> Result<SocketAddr, Errno> {
    let addr = abi::decode_sockaddr(raw)?;
    if s.inet().is_some_and(|(v6, _)| !v6) && addr.is_ipv6() {
        return Err(Errno::AFNOSUPPORT);
    }
    Ok(addr)
}

/// sendto (and send): EPIPE raises SIGPIPE unless the guest passed
/// MSG_NOSIGNAL.
pub fn sendto(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    if a[3] as u32 & MSG_DONTWAIT == 0 {
        if let Ok(obj) = ctx.process.fds.get(a[0]) {
            if let Object::Socket(s) = &*obj {
                super::readiness::wait_unless_ready(ctx, s.fd.as_fd(), POLLOUT)?;
            }
        }
    }
    match send_to(ctx, a) {
        Err(Stop::Fail(Errno::PIPE)) if a[3] as u32 & MSG_NOSIGNAL == 0 => {
            signals::broken_pipe(ctx)
        }
        r => r,
    }
}

fn send_to(ctx: &mut Ctx<'_>, a: &Args) -> Result<u64, Stop> {
    let (buf, len, flags, addr, addrlen) = (a[1], a[2], a[3] as u32, a[4], a[5]);
    ctx.process.fds.get(a[0])?;
    let parts = one_buffer(ctx, buf, len, Access::Read)?;
    let raw = if addr != 0 {
        Some(read_sockaddr(ctx, addr, addrlen)?)
    } else {
        None
    };
    send_checked(ctx, a[0], &parts, raw, flags, Passed::default())
}

/// Sends `parts` (checked readable) on socket `fd` to the guest's address
/// `raw`, if any (`destination`), with the guest's `flags`; on an AF_UNIX
/// socket with `passed` beside them (SCM_RIGHTS).
pub(super) fn send_checked(
    ctx: &mut Ctx<'_>,
    fd: u64,
    parts: &[(GuestPtr, u64)],
    raw: Option<Vec<u8>>,
    flags: u32,
    passed: Passed,
) -> Result<u64, Stop> {
    let obj = socket_of(ctx, fd)?;
    let Object::Socket(s) = &*obj else {
        return Err(Errno::NOTSOCK.into());
    };
    if flags & !SEND_FLAGS != 0 {
        return Err(Errno::OPNOTSUPP.into());
    }
    let flags = SendFlags::from_bits_retain(flags);
    if s.unix.is_some() {
        return super::unix::send(ctx, s, parts, raw, flags, passed);
    }
    let to = destination(ctx, s, raw)?;
    send_parts(ctx, s, parts, flags, to)
}

/// Where a send with the guest's address `raw` goes: nowhere new for a
/// stream socket (it is connected or fails); for UDP, an address the
/// policy lists (EACCES otherwise).
fn destination(
    ctx: &mut Ctx<'_>,
    s: &SocketObj,
    raw: Option<Vec<u8>>,
) -> Result<Option<SocketAddr>, Errno> {
    match (raw, s.kind) {
        (None, _)
        | (
            Some(_),
            SocketKind::Inet {
                protocol: Protocol::Tcp,
                ..
            },
        ) => Ok(None),
        // AF_UNIX sockets send through syscalls/unix.rs.
        (Some(_), SocketKind::UnixPair { .. } | SocketKind::Unix { .. }) => Err(Errno::ISCONN),
        (
            Some(raw),
            SocketKind::Inet {
                protocol: Protocol::Udp,
                ..
            },
        ) => {
            let to = address_for(s, &raw)?;
            if !ctx.kernel.allows_peer(Protocol::Udp, to, false) {
                return Err(Errno::ACCESS);
            }
            Ok(Some(to))
        }
    }
}

/// A socklen_t the guest passes by pointer (an address or option buffer's
/// room): EFAULT when it cannot be read, EINVAL when negative.
fn read_socklen(ctx: &mut Ctx<'_>, at: u64) -> Result<usize, Errno> {
    let mut l = [0u8; 4];
    ctx.tunnel()
        .read(GuestPtr::new(at), &mut l)
        .map_err(|_| Errno::FAULT)?;
    usize::try_from(i32::from_le_bytes(l)).map_err(|_| Errno::INVAL)
}

/// Writes a socket address back as the kernel does: as much of it as
/// `room` holds at `addr`, and its whole length at `len_at`.
pub(super) fn put_sockaddr(
    ctx: &mut Ctx<'_>,
    from: Option<SocketAddr>,
    addr: u64,
    len_at: u64,
    room: usize,
) -> Result<(), Errno> {
    let enc = from.map(|f| abi::encode_sockaddr(&f)).unwrap_or_default();
    put_address(ctx, &enc, addr, len_at, room)
}

/// Writes the encoded socket address `enc` back as the kernel does (see
/// `put_sockaddr`).
pub(super) fn put_address(
    ctx: &mut Ctx<'_>,
    enc: &[u8],
    addr: u64,
    len_at: u64,
    room: usize,
) -> Result<(), Errno> {
    let k = enc.len().min(room);
    let mut t = ctx.tunnel();
    t.write(GuestPtr::new(addr), &enc[..k])
        .and_then(|()| t.write(GuestPtr::new(len_at), &(enc.len() as u32).to_le_bytes()))
        .map_err(|_| Errno::FAULT)
}

/// The room of the guest's address buffer at `addr` whose length is at
/// `len_at` (None for a null `addr`), both checked writable before the
/// call waits or receives (recvfrom, accept).
pub(super) fn address_room(
    ctx: &mut Ctx<'_>,
    addr: u64,
    len_at: u64,
) -> Result<Option<usize>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    let room = read_socklen(ctx, len_at)?;
    let t = ctx.tunnel();
    t.check(GuestPtr::new(len_at), 4, Access::Write)
        .and_then(|_| t.check(GuestPtr::new(addr), room as u64, Access::Write))
        .map_err(|_| Errno::FAULT)?;
    Ok(Some(room))
}

/// Receives into `parts` (checked writable) from socket `fd` with the
/// guest's `flags` (waiting unless MSG_DONTWAIT): the count, the sender's
/// encoded address (empty: none) and what was passed beside the bytes
/// (recvfrom, recvmsg).
pub(super) fn receive(
    ctx: &mut Ctx<'_>,
    fd: u64,
    parts: &[(GuestPtr, u64)],
    flags: u32,
) -> Result<(u64, Vec<u8>, Passed), Stop> {
    let obj = socket_of(ctx, fd)?;
    let Object::Socket(s) = &*obj else {
        return Err(Errno::NOTSOCK.into());
    };
    if flags & !(RECV_FLAGS | MSG_CMSG_CLOEXEC) != 0 {
        return Err(Errno::INVAL.into());
    }
    if flags & MSG_DONTWAIT == 0 {
        super::readiness::wait_unless_ready(ctx, s.fd.as_fd(), POLLIN)?;
    }
    let flags = RecvFlags::from_bits_retain(flags & RECV_FLAGS);
    if s.unix.is_some() {
        let got = super::unix::receive(ctx, s, parts, flags)?;
        return Ok((got.n, got.from, got.passed));
    }
    let mut from = None;
    let n = recv_parts(ctx, s, parts, flags, Some(&mut from))?;
    let enc = from.map(|f| abi::encode_sockaddr(&f)).unwrap_or_default();
    Ok((n, enc, Passed::default()))
}

pub fn recvfrom(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (buf, len, flags, addr, addrlen_ptr) = (a[1], a[2], a[3] as u32, a[4], a[5]);
    ctx.process.fds.get(a[0])?;
    let parts = one_buffer(ctx, buf, len, Access::Write)?;
    let addr_room = address_room(ctx, addr, addrlen_ptr)?;
    let (n, from, _closed) = receive(ctx, a[0], &parts, flags)?;
    if let Some(room) = addr_room {
        put_address(ctx, &from, addr, addrlen_ptr, room)?;
    }
    Ok(n)
}

pub fn getsockname(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    socket_name(ctx, a, false)
}

pub fn getpeername(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    socket_name(ctx, a, true)
}

/// getsockname/getpeername: the host socket's address, truncated to the
/// guest's buffer, its full length written back. Not a socket: ENOTSOCK
/// (shells ask it of their standard input).
fn socket_name(ctx: &mut Ctx<'_>, a: &Args, peer: bool) -> SyscallResult {
    let (addr, addrlen_ptr) = (a[1], a[2]);
    let obj = ctx.process.fds.get(a[0])?;
    let Object::Socket(s) = &*obj else {
        return Err(Errno::NOTSOCK.into());
    };
    let room = read_socklen(ctx, addrlen_ptr)?;
    if s.unix.is_some() {
        // AF_UNIX: its name or its peer's (a socketpair's: the family alone).
        let name = super::unix::name(s, peer)?;
        put_address(ctx, &name, addr, addrlen_ptr, room)?;
        return Ok(0);
    }
    let name = if peer {
        rustix::net::getpeername(&s.fd)?
    } else {
        Some(rustix::net::getsockname(&s.fd)?)
    };
    put_sockaddr(ctx, source_of(&name), addr, addrlen_ptr, room)?;
    Ok(0)
}

pub fn shutdown(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let obj = socket_of(ctx, a[0])?;
    let Object::Socket(s) = &*obj else {
        return Err(Errno::NOTSOCK.into());
    };
    let how = match a[1] as u32 {
        0 => Shutdown::Read,
        1 => Shutdown::Write,
        2 => Shutdown::Both,
        _ => return Err(Errno::INVAL.into()),
    };
    rustix::net::shutdown(&s.fd, how)?;
    Ok(0)
}

/// SO_PEERCRED of an AF_UNIX socket: a `struct ucred` of the peer's pid
/// (0 with no peer) and the guest's uid and gid (every process of the
/// sandbox has the same), truncated to the guest's room.
fn peer_credentials(
    ctx: &mut Ctx<'_>,
    s: &SocketObj,
    optval: u64,
    optlen: u64,
    room: usize,
) -> SyscallResult {
    let id = ctx.process.identity;
    let pid = super::unix::peer_pid(s);
    let (uid, gid) = if pid == 0 {
        (u32::MAX, u32::MAX)
    } else {
        (id.uid as u32, id.gid as u32)
    };
    let mut cred = Vec::with_capacity(12);
    for v in [pid as u32, uid, gid] {
        cred.extend_from_slice(&v.to_le_bytes());
    }
    let k = room.min(cred.len());
    let mut t = ctx.tunnel();
    t.write(GuestPtr::new(optval), &cred[..k])
        .and_then(|()| t.write(GuestPtr::new(optlen), &(k as u32).to_le_bytes()))
        .map_err(|_| Errno::FAULT)?;
    Ok(0)
}

/// SOL_SOCKET options SO_ERROR, SO_TYPE, SO_PROTOCOL, SO_DOMAIN; anything
/// else is ENOPROTOOPT.
pub fn getsockopt(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (level, name, optval, optlen) = (a[1] as u32, a[2] as u32, a[3], a[4]);
    let obj = socket_of(ctx, a[0])?;
    let Object::Socket(s) = &*obj else {
        return Err(Errno::NOTSOCK.into());
    };
    let room = read_socklen(ctx, optlen)?;
    if level == SOL_SOCKET && name == SO_PEERCRED && s.unix.is_some() {
        return peer_credentials(ctx, s, optval, optlen, room);
    }
    let k = room.min(4);
    let t = ctx.tunnel();
    t.check(GuestPtr::new(optlen), 4, Access::Write)
        .and_then(|_| t.check(GuestPtr::new(optval), k as u64, Access::Write))
        .map_err(|_| Errno::FAULT)?;
    if level != SOL_SOCKET {
        return Err(Errno::NOPROTOOPT.into());
    }
    let value: i32 = match name {
        // The host's sizes, doubled as Linux reports them.
        SO_SNDBUF => rustix::net::sockopt::socket_send_buffer_size(&s.fd)? as i32,
        SO_RCVBUF => rustix::net::sockopt::socket_recv_buffer_size(&s.fd)? as i32,
        SO_ERROR => match rustix::net::sockopt::socket_error(&s.fd)? {
            Ok(()) => 0,
            Err(e) => e.raw_os_error(),
        },
        SO_TYPE => match s.kind {
            SocketKind::UnixPair { ty } | SocketKind::Unix { ty } => ty as i32,
            _ if s.is_tcp() => SOCK_STREAM as i32,
            _ => SOCK_DGRAM as i32,
        },
        SO_PROTOCOL => match s.kind {
            SocketKind::UnixPair { .. } | SocketKind::Unix { .. } => 0,
            _ if s.is_tcp() => IPPROTO_TCP as i32,
            _ => IPPROTO_UDP as i32,
        },
        SO_DOMAIN => match s.inet() {
            None => i32::from(AF_UNIX),
            Some((true, _)) => i32::from(AF_INET6),
            Some((false, _)) => i32::from(AF_INET),
        },
        _ => return Err(Errno::NOPROTOOPT.into()),
    };
    let mut t = ctx.tunnel();
    t.write(GuestPtr::new(optval), &value.to_le_bytes()[..k])
        .and_then(|()| t.write(GuestPtr::new(optlen), &(k as u32).to_le_bytes()))
        .map_err(|_| Errno::FAULT)?;
    Ok(0)
}

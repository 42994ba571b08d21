//! Serving: bind, listen, accept and accept4 on the addresses the policy's
//! `[[network]]` listen rules name (`listen = true`; TCP only). On AF_UNIX
//! sockets they are the sandbox's own (syscalls/unix.rs).
//!
//! `bind` to an address no listen rule allows is EACCES before the host is
//! asked (Landlock also limits the ports the runner may bind); `listen` on
//! a socket not bound to such an address is EACCES (Linux would bind it to
//! an ephemeral port, which no rule names). A connection `accept` returns
//! is an ordinary socket of the guest: whoever reached the listening
//! address is its peer, whatever the outbound rules say. `accept` waits
//! as `recvfrom` does: with other threads in the process, with no lock
//! held.

use super::net::{
    address_for, address_room, put_address, put_sockaddr, read_sockaddr, socket_of, source_of,
};
use super::{readiness, unix, Args, Ctx, SyscallResult};
use crate::abi::constants::{POLLIN, SOCK_CLOEXEC, SOCK_NONBLOCK};
use crate::abi::Errno;
use crate::kernel::fds::{Object, SocketObj};
use rustix::fd::AsFd;
use rustix::net::SocketFlags;
use sandbox_policy::Protocol;
use std::net::SocketAddr;
use std::sync::Arc;

/// The longest queue of pending connections a guest may ask for
/// (Linux's default somaxconn).
const BACKLOG_MAX: i32 = 4096;

pub fn bind(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let raw = read_sockaddr(ctx, a[1], a[2])?;
    let obj = socket_of(ctx, a[0])?;
    let Object::Socket(s) = &*obj else {
        return Err(Errno::NOTSOCK.into());
    };
    if s.unix.is_some() {
        return Ok(unix::bind(ctx, &obj, &raw)?);
    }
    // A socketpair end has its (unnamed) address for good.
    let Some((_, protocol)) = s.inet() else {
        return Err(Errno::INVAL.into());
    };
    let addr = address_for(s, &raw)?;
    if !ctx.kernel.allows_peer(protocol, addr, true) {
        return Err(Errno::ACCESS.into());
    }
    rustix::net::bind(&s.fd, &addr)?;
    Ok(0)
}

/// What listen and accept answer on a socket that is not TCP: EINVAL on a
/// socketpair end (connected for good, as Linux), EOPNOTSUPP on UDP.
fn not_a_listener(s: &SocketObj) -> Errno {
    if s.inet().is_none() {
        Errno::INVAL
    } else {
        Errno::OPNOTSUPP
    }
}

pub fn listen(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let obj = socket_of(ctx, a[0])?;
    let Object::Socket(s) = &*obj else {
        return Err(Errno::NOTSOCK.into());
    };
    if s.unix.is_some() {
        return Ok(unix::listen(ctx, s, a[1] as i32)?);
    }
    if !s.is_tcp() {
        return Err(not_a_listener(s).into());
    }
    let bound = rustix::net::getsockname(&s.fd)
        .ok()
        .and_then(|n| SocketAddr::try_from(n).ok())
        .filter(|n| n.port() != 0 && ctx.kernel.net.allows_bind(Protocol::Tcp, *n));
    if bound.is_none() {
        return Err(Errno::ACCESS.into());
    }
    let backlog = (a[1] as i32).clamp(0, BACKLOG_MAX);
    rustix::net::listen(&s.fd, backlog)?;
    Ok(0)
}

pub fn accept(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    accept_with(ctx, a[0], a[1], a[2], 0)
}

pub fn accept4(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    accept_with(ctx, a[0], a[1], a[2], a[3] as u32)
}

/// accept4: the next connection of listening socket `fd` as a new guest
/// socket (SOCK_NONBLOCK, SOCK_CLOEXEC as asked), its peer's address
/// written back when `addr` is not null.
fn accept_with(ctx: &mut Ctx<'_>, fd: u64, addr: u64, len_at: u64, flags: u32) -> SyscallResult {
    if flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(Errno::INVAL.into());
    }
    let obj = socket_of(ctx, fd)?;
    let Object::Socket(s) = &*obj else {
        return Err(Errno::NOTSOCK.into());
    };
    let room = address_room(ctx, addr, len_at)?;
    if s.unix.is_some() {
        let (conn, peer) = unix::accept(ctx, s, flags)?;
        let guest_fd = ctx.process.fds.insert(conn, flags & SOCK_CLOEXEC != 0, 0)?;
        if let Some(room) = room {
            put_address(ctx, &peer, addr, len_at, room)?;
        }
        return Ok(guest_fd);
    }
    if !s.is_tcp() {
        return Err(not_a_listener(s).into());
    }
    if !ctx.process.fds.has_room() {
        return Err(Errno::MFILE.into());
    }
    readiness::wait_unless_ready(ctx, s.fd.as_fd(), POLLIN)?;
    let mut host_flags = SocketFlags::CLOEXEC;
    if flags & SOCK_NONBLOCK != 0 {
        host_flags |= SocketFlags::NONBLOCK;
    }
    let (conn, peer) = rustix::net::acceptfrom_with(&s.fd, host_flags)?;
    let new = Object::Socket(SocketObj {
        fd: conn,
        kind: s.kind,
        charge: None,
        edges: crate::kernel::events::Edges::default(),
        unix: None,
    });
    let guest_fd = ctx
        .process
        .fds
        .insert(Arc::new(new), flags & SOCK_CLOEXEC != 0, 0)?;
    if let Some(room) = room {
        put_sockaddr(ctx, source_of(&peer), addr, len_at, room)?;
    }
    Ok(guest_fd)
}

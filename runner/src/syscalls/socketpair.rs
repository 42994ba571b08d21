//! socketpair(AF_UNIX): two connected local sockets. Each pair is a host
//! socketpair the runner holds (stream, datagram or seqpacket), so its
//! semantics (buffers, message boundaries, shutdown, MSG_PEEK, end of
//! file, EPIPE) are the kernel's own; it has no name and reaches nothing
//! but its other end, which the sandbox's processes share across fork
//! like any descriptor. Reads, writes, send/recv, poll and epoll on the
//! ends go through the socket emulation (net.rs, net_messages.rs), which
//! waits without the kernel lock as for any host socket; descriptors
//! passed over them (SCM_RIGHTS) are the runner's (syscalls/scm_rights.rs,
//! kernel/unix_sockets.rs). Named AF_UNIX sockets are syscalls/unix.rs,
//! on the same host pairs. Their buffers are host kernel memory, bounded
//! by kernel/socket_pairs.rs.

use super::{Args, Ctx, SyscallResult};
use crate::abi::constants::{
    AF_INET, AF_INET6, AF_UNIX, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_RAW, SOCK_SEQPACKET,
    SOCK_STREAM,
};
use crate::abi::Errno;
use crate::kernel::events::Edges;
use crate::kernel::fds::{Object, SocketKind, SocketObj};
use crate::kernel::socket_pairs::{EndCharge, END_BUFFER};
use crate::kernel::unix_sockets::{UnixSocket, UnixState};
use crate::tunnel::GuestPtr;
use rustix::fd::OwnedFd;
use rustix::net::{AddressFamily, SocketFlags, SocketType};
use std::sync::Arc;

pub fn socketpair(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (domain, ty, proto, sv) = (a[0] as u32, a[1] as u32, a[2] as u32, a[3]);
    if domain == u32::from(AF_INET) || domain == u32::from(AF_INET6) {
        // As Linux: internet sockets do not come in pairs.
        return Err(Errno::OPNOTSUPP.into());
    }
    if domain != u32::from(AF_UNIX) {
        return Err(Errno::AFNOSUPPORT.into());
    }
    if ty & !(SOCK_NONBLOCK | SOCK_CLOEXEC | 0xf) != 0 {
        return Err(Errno::INVAL.into());
    }
    // SOCK_RAW is a datagram pair, as Linux's unix_create makes it.
    let base = match ty & 0xf {
        SOCK_RAW => SOCK_DGRAM,
        other => other,
    };
    if !matches!(base, SOCK_STREAM | SOCK_DGRAM | SOCK_SEQPACKET) {
        return Err(Errno::SOCKTNOSUPPORT.into());
    }
    // PF_UNIX (1) is the only protocol, as 0 means.
    if proto > 1 {
        return Err(Errno::PROTONOSUPPORT.into());
    }
    if !ctx.process.fds.has_room() {
        return Err(Errno::MFILE.into());
    }
    let [(one, charge_one), (two, charge_two)] = host_pair(ctx, base, ty & SOCK_NONBLOCK != 0)?;
    let (inbox_one, inbox_two) = (Arc::default(), Arc::default());
    let state = |ctx: &Ctx<'_>| UnixState {
        connected: true,
        peer_pid: ctx.process.identity.pid as i32,
        ..UnixState::default()
    };
    let kind = SocketKind::UnixPair { ty: base };
    let cloexec = ty & SOCK_CLOEXEC != 0;
    let unix_one = UnixSocket::new(
        base,
        Arc::clone(&inbox_one),
        Arc::clone(&inbox_two),
        state(ctx),
    );
    let unix_two = UnixSocket::new(base, inbox_two, inbox_one, state(ctx));
    let first = ctx
        .process
        .fds
        .insert(unix_end(one, charge_one, kind, unix_one), cloexec, 0)?;
    let second = match ctx
        .process
        .fds
        .insert(unix_end(two, charge_two, kind, unix_two), cloexec, 0)
    {
        Ok(fd) => fd,
        Err(e) => {
            let _ = ctx.process.fds.close(first);
            return Err(e.into());
        }
    };
    let mut both = [0u8; 8];
    both[..4].copy_from_slice(&(first as u32).to_le_bytes());
    both[4..].copy_from_slice(&(second as u32).to_le_bytes());
    if ctx.tunnel().write(GuestPtr::new(sv), &both).is_err() {
        let _ = ctx.process.fds.close(first);
        let _ = ctx.process.fds.close(second);
        return Err(Errno::FAULT.into());
    }
    Ok(0)
}

/// A host socketpair of type `base` (SOCK_STREAM, SOCK_DGRAM or
/// SOCK_SEQPACKET) for the guest's AF_UNIX sockets, each end's send
/// buffer bounded and its place taken in the run's budget: ENFILE past it
/// (reported once).
pub(super) fn host_pair(
    ctx: &mut Ctx<'_>,
    base: u32,
    nonblock: bool,
) -> Result<[(OwnedFd, EndCharge); 2], Errno> {
    let host_type = match base {
        SOCK_STREAM => SocketType::STREAM,
        SOCK_DGRAM => SocketType::DGRAM,
        SOCK_SEQPACKET => SocketType::SEQPACKET,
        _ => return Err(Errno::SOCKTNOSUPPORT),
    };
    // Their buffers are host kernel memory: bounded in number and size.
    let Some((charge_one, charge_two)) = ctx.kernel.socket_pairs.take_pair() else {
        if ctx.kernel.reports.first(REPORT_BUDGET) {
            crate::say!(
                "runner: socketpair refused: {} pairs are open, what a quarter of limits.memory allows (their buffers are host kernel memory); returned ENFILE",
                ctx.kernel.socket_pairs.max_pairs()
            );
        }
        return Err(Errno::NFILE);
    };
    let mut flags = SocketFlags::CLOEXEC;
    if nonblock {
        flags |= SocketFlags::NONBLOCK;
    }
    let (one, two) = rustix::net::socketpair(AddressFamily::UNIX, host_type, flags, None)?;
    for fd in [&one, &two] {
        rustix::net::sockopt::set_socket_send_buffer_size(fd, END_BUFFER)?;
    }
    Ok([(one, charge_one), (two, charge_two)])
}

/// A guest AF_UNIX socket: host end `fd` with its budget place and its
/// runner side.
pub(super) fn unix_end(
    fd: OwnedFd,
    charge: EndCharge,
    kind: SocketKind,
    unix: Arc<UnixSocket>,
) -> Arc<Object> {
    Arc::new(Object::Socket(SocketObj {
        fd,
        kind,
        charge: Some(charge),
        edges: Edges::default(),
        unix: Some(unix),
    }))
}

/// Report key of the refusal past the budget.
const REPORT_BUDGET: u64 = u64::MAX - 41;

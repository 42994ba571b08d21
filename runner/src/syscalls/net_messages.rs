//! sendmsg and recvmsg without ancillary data: a `struct msghdr`'s
//! address and buffers, sent and received as sendto and recvfrom do, with
//! the same policy (a UDP destination the policy lists, datagrams only from
//! listed peers). Control messages (SCM_RIGHTS, IP_PKTINFO, ...) are not
//! emulated: a send that carries some is EINVAL, reported once; a receive
//! never returns any (`msg_controllen` 0).

use super::common::{read_iovecs, total};
use super::net::{put_sockaddr, read_sockaddr, receive, send_checked};
use super::{readiness, signals, Args, Ctx, SyscallResult};
use crate::abi::constants::{MSG_DONTWAIT, MSG_NOSIGNAL, MSG_TRUNC, POLLOUT};
use crate::abi::Errno;
use crate::kernel::fds::Object;
use crate::tunnel::{Access, GuestPtr};
use rustix::fd::AsFd;

/// Bytes of a `struct msghdr`.
const MSGHDR_SIZE: usize = 56;
/// The report key of refused control messages (one line per run).
const REPORT_CONTROL: u64 = u64::MAX - 31;

/// A `struct msghdr`'s fields.
struct MsgHdr {
    name: u64,
    namelen: u32,
    iov: u64,
    iovlen: u64,
    controllen: u64,
}

fn read_msghdr(ctx: &mut Ctx<'_>, at: u64) -> Result<MsgHdr, Errno> {
    let mut b = [0u8; MSGHDR_SIZE];
    ctx.tunnel()
        .read(GuestPtr::new(at), &mut b)
        .map_err(|_| Errno::FAULT)?;
    let u64_at = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i..i + 8]);
        u64::from_le_bytes(w)
    };
    Ok(MsgHdr {
        name: u64_at(0),
        namelen: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
        iov: u64_at(16),
        iovlen: u64_at(24),
        controllen: u64_at(40),
    })
}

pub fn sendmsg(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let flags = a[2] as u32;
    if flags & MSG_DONTWAIT == 0 {
        if let Ok(obj) = ctx.process.fds.get(a[0]) {
            if let Object::Socket(s) = &*obj {
                readiness::wait_unless_ready(ctx, s.fd.as_fd(), POLLOUT)?;
            }
        }
    }
    match send_message(ctx, a[0], a[1], flags) {
        Err(Errno::PIPE) if flags & MSG_NOSIGNAL == 0 => signals::broken_pipe(ctx),
        r => Ok(r?),
    }
}

fn send_message(ctx: &mut Ctx<'_>, fd: u64, msg: u64, flags: u32) -> Result<u64, Errno> {
    ctx.process.fds.get(fd)?;
    let h = read_msghdr(ctx, msg)?;
    if h.controllen != 0 {
        if ctx.kernel.reports.first(REPORT_CONTROL) {
            crate::say!(
                "runner: sendmsg with control messages (ancillary data) is not emulated; returned EINVAL"
            );
        }
        return Err(Errno::INVAL);
    }
    let parts = read_iovecs(ctx, h.iov, h.iovlen, Access::Read)?;
    let raw = if h.name != 0 && h.namelen != 0 {
        Some(read_sockaddr(ctx, h.name, u64::from(h.namelen))?)
    } else {
        None
    };
    send_checked(ctx, fd, &parts, raw, flags)
}

pub fn recvmsg(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (msg, flags) = (a[1], a[2] as u32);
    ctx.process.fds.get(a[0])?;
    let h = read_msghdr(ctx, msg)?;
    let parts = read_iovecs(ctx, h.iov, h.iovlen, Access::Write)?;
    // What is written back is checked before receiving.
    let t = ctx.tunnel();
    t.check(GuestPtr::new(msg), MSGHDR_SIZE as u64, Access::Write)
        .map_err(|_| Errno::FAULT)?;
    if h.name != 0 {
        t.check(GuestPtr::new(h.name), u64::from(h.namelen), Access::Write)
            .map_err(|_| Errno::FAULT)?;
    }
    let (n, from) = receive(ctx, a[0], &parts, flags)?;
    if h.name != 0 {
        put_sockaddr(ctx, from, h.name, msg + 8, h.namelen as usize)?;
    } else {
        ctx.tunnel()
            .write(GuestPtr::new(msg + 8), &0u32.to_le_bytes())
            .map_err(|_| Errno::FAULT)?;
    }
    // No control messages; MSG_TRUNC when a datagram was longer than the
    // buffers.
    let out_flags = if n > total(&parts) { MSG_TRUNC } else { 0 };
    let mut t = ctx.tunnel();
    t.write(GuestPtr::new(msg + 40), &0u64.to_le_bytes())
        .and_then(|()| t.write(GuestPtr::new(msg + 48), &out_flags.to_le_bytes()))
        .map_err(|_| Errno::FAULT)?;
    Ok(n)
}

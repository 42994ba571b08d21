//! sendmsg and recvmsg: a `struct msghdr`'s address and buffers, sent and
//! received as sendto and recvfrom do, with the same policy (a UDP
//! destination the policy lists, datagrams only from listed peers). On the
//! sandbox's AF_UNIX sockets, control messages are syscalls/scm_rights.rs
//! (SCM_RIGHTS passes descriptors). On internet sockets they are not
//! emulated (IP_PKTINFO, ...): a send that carries some is EINVAL,
//! reported once; a receive never returns any (`msg_controllen` 0).
//!
//! sendmmsg and recvmmsg are those, message after message of a `struct
//! mmsghdr` array (at most 1024, as Linux), each message's length written
//! back: only the first may wait (a call that waits is made again from the
//! start, so nothing may have been sent or received before it); the rest
//! go as far as the socket allows at once, and the call returns how many
//! went. recvmmsg without MSG_WAITFORONE therefore returns what is there
//! after the first datagram instead of waiting for all `vlen` (callers
//! loop; its timeout, which Linux itself checks only between datagrams,
//! is validated and otherwise has nothing to bound).

use super::common::{read_iovecs, total};
use super::net::{put_address, read_sockaddr, receive, send_checked};
use super::{readiness, scm_rights, signals, Args, Ctx, Stop, SyscallResult};
use crate::abi::constants::{
    MSG_CMSG_CLOEXEC, MSG_CTRUNC, MSG_DONTWAIT, MSG_NOSIGNAL, MSG_TRUNC, POLLOUT,
};
use crate::abi::Errno;
use crate::kernel::fds::Object;
use crate::kernel::unix_sockets::Passed;
use crate::tunnel::{Access, GuestPtr};
use rustix::fd::AsFd;

/// Bytes of a `struct msghdr`.
const MSGHDR_SIZE: usize = 56;
/// Bytes of a `struct mmsghdr` (a msghdr, its `msg_len`, padding).
const MMSGHDR_SIZE: u64 = 64;
/// The most messages one sendmmsg or recvmmsg takes (UIO_MAXIOV).
const MMSG_MAX: u64 = 1024;
/// recvmmsg: wait for the first message only.
const MSG_WAITFORONE: u32 = 0x10000;
/// The report key of refused control messages (one line per run).
const REPORT_CONTROL: u64 = u64::MAX - 31;

/// A `struct msghdr`'s fields.
struct MsgHdr {
    name: u64,
    namelen: u32,
    iov: u64,
    iovlen: u64,
    control: u64,
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
        control: u64_at(32),
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
        Err(Stop::Fail(Errno::PIPE)) if flags & MSG_NOSIGNAL == 0 => signals::broken_pipe(ctx),
        r => r,
    }
}

fn send_message(ctx: &mut Ctx<'_>, fd: u64, msg: u64, flags: u32) -> SyscallResult {
    let obj = ctx.process.fds.get(fd)?;
    let h = read_msghdr(ctx, msg)?;
    let unix = matches!(&*obj, Object::Socket(s) if s.unix.is_some());
    let passed = if unix {
        scm_rights::read_control(ctx, h.control, h.controllen)?
    } else if h.controllen != 0 {
        if ctx.kernel.reports.first(REPORT_CONTROL) {
            crate::say!(
                "runner: sendmsg with control messages (ancillary data) is not emulated; returned EINVAL"
            );
        }
        return Err(Errno::INVAL.into());
    } else {
        Passed::default()
    };
    let parts = read_iovecs(ctx, h.iov, h.iovlen, Access::Read)?;
    let raw = if h.name != 0 && h.namelen != 0 {
        Some(read_sockaddr(ctx, h.name, u64::from(h.namelen))?)
    } else {
        None
    };
    send_checked(ctx, fd, &parts, raw, flags, passed)
}

pub fn recvmsg(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    recv_message(ctx, a[0], a[1], a[2] as u32)
}

/// sendmmsg(fd, msgvec, vlen, flags).
pub fn sendmmsg(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (fd, vec, flags) = (a[0], a[1], a[3] as u32);
    let count = (a[2] as u32 as u64).min(MMSG_MAX);
    if count == 0 {
        return Ok(0);
    }
    let mut sent = 0;
    while sent < count {
        let msg = vec.wrapping_add(sent * MMSGHDR_SIZE);
        let r = if sent == 0 {
            sendmsg(ctx, &[fd, msg, u64::from(flags), 0, 0, 0])
        } else {
            // The socket's room now, without waiting.
            send_message(ctx, fd, msg, flags | MSG_DONTWAIT)
        };
        match r {
            Ok(n) => put_len(ctx, msg, n)?,
            Err(e) if sent == 0 => return Err(e),
            Err(_) => break,
        }
        sent += 1;
    }
    Ok(sent)
}

/// recvmmsg(fd, msgvec, vlen, flags, timeout).
pub fn recvmmsg(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (fd, vec, flags, timeout) = (a[0], a[1], a[3] as u32, a[4]);
    if timeout != 0 {
        super::sleep::read_timespec(ctx, GuestPtr::new(timeout))?;
    }
    let count = (a[2] as u32 as u64).min(MMSG_MAX);
    let flags = flags & !MSG_WAITFORONE;
    if count == 0 {
        return Ok(0);
    }
    let mut got = 0;
    while got < count {
        let msg = vec.wrapping_add(got * MMSGHDR_SIZE);
        let each = if got == 0 {
            flags
        } else {
            flags | MSG_DONTWAIT
        };
        match recv_message(ctx, fd, msg, each) {
            Ok(n) => put_len(ctx, msg, n)?,
            Err(e) if got == 0 => return Err(e),
            Err(_) => break,
        }
        got += 1;
    }
    Ok(got)
}

/// Writes a message's length into its `struct mmsghdr` at `msg`.
fn put_len(ctx: &mut Ctx<'_>, msg: u64, n: u64) -> Result<(), Errno> {
    ctx.tunnel()
        .write(
            GuestPtr::new(msg.wrapping_add(MSGHDR_SIZE as u64)),
            &(n as u32).to_le_bytes(),
        )
        .map_err(|_| Errno::FAULT)
}

/// Receives one message into the `struct msghdr` at `msg`.
fn recv_message(ctx: &mut Ctx<'_>, fd: u64, msg: u64, flags: u32) -> SyscallResult {
    ctx.process.fds.get(fd)?;
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
    scm_rights::check_room(ctx, h.control, h.controllen)?;
    let (n, from, passed) = receive(ctx, fd, &parts, flags)?;
    let cloexec = flags & MSG_CMSG_CLOEXEC != 0;
    let (control_len, ctrunc) =
        scm_rights::deliver(ctx, h.control, h.controllen, passed.objects, cloexec)?;
    if h.name != 0 {
        put_address(ctx, &from, h.name, msg + 8, h.namelen as usize)?;
    } else {
        ctx.tunnel()
            .write(GuestPtr::new(msg + 8), &0u32.to_le_bytes())
            .map_err(|_| Errno::FAULT)?;
    }
    // MSG_TRUNC when a datagram was longer than the buffers, MSG_CTRUNC
    // when passed descriptors did not all fit.
    let mut out_flags = if n > total(&parts) { MSG_TRUNC } else { 0 };
    if ctrunc {
        out_flags |= MSG_CTRUNC;
    }
    let mut t = ctx.tunnel();
    t.write(GuestPtr::new(msg + 40), &control_len.to_le_bytes())
        .and_then(|()| t.write(GuestPtr::new(msg + 48), &out_flags.to_le_bytes()))
        .map_err(|_| Errno::FAULT)?;
    Ok(n)
}

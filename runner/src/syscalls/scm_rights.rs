//! Control messages of sendmsg and recvmsg on the sandbox's AF_UNIX
//! sockets (named ones and socketpairs), as Linux's `__scm_send` and
//! `scm_detach_fds`:
//!
//! - SCM_RIGHTS passes the sender's open file descriptions (the runner's
//!   `Arc<Object>`s, never host descriptors): at most SCM_MAX_FD (253) per
//!   message (EINVAL past it), EBADF for a descriptor not open,
//!   ETOOMANYREFS once more than the sender's RLIMIT_NOFILE are in flight
//!   in the sandbox (kernel/unix_sockets.rs). The receiver gets new
//!   descriptors (MSG_CMSG_CLOEXEC honoured) as far as its control buffer
//!   and its descriptor limit allow; the rest are closed and MSG_CTRUNC
//!   set. read(), recv and recvfrom close them all.
//! - SCM_CREDENTIALS is checked as Linux checks an unprivileged sender's
//!   (the pid its own, the uid and gid its own: EPERM otherwise) and not
//!   delivered: no receiver can ask for them (SO_PASSCRED is not
//!   emulated), so Linux would not deliver them either.
//! - Another SOL_SOCKET type is EINVAL; another level is skipped, as
//!   Linux's AF_UNIX skips it.
//!
//! A malformed header (a `cmsg_len` shorter than the header or past the
//! buffer) is EINVAL, before anything is sent.

use super::Ctx;
use crate::abi::constants::SOL_SOCKET;
use crate::abi::Errno;
use crate::kernel::fds::Object;
use crate::kernel::unix_sockets::{Passed, SCM_MAX_FD};
use crate::tunnel::{Access, GuestPtr};
use std::sync::Arc;

const SCM_RIGHTS: u32 = 1;
const SCM_CREDENTIALS: u32 = 2;
/// Bytes of a `struct cmsghdr` (cmsg_len, cmsg_level, cmsg_type).
const HEADER: u64 = 16;
/// Bytes of a `struct ucred`.
const UCRED: u64 = 12;
/// The most control bytes a sendmsg takes (Linux's optmem_max): ENOBUFS
/// past it.
const CONTROL_MAX: u64 = 128 * 1024;

fn align(n: u64) -> u64 {
    (n + 7) & !7
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

/// The control messages of a sendmsg (`len` bytes at `at`) on an AF_UNIX
/// socket: the objects they pass, charged to the sandbox's count.
pub fn read_control(ctx: &mut Ctx<'_>, at: u64, len: u64) -> Result<Passed, Errno> {
    if len == 0 {
        return Ok(Passed::default());
    }
    if len > i32::MAX as u64 || len > CONTROL_MAX {
        return Err(Errno::NOBUFS);
    }
    let mut buf = vec![0u8; len as usize];
    ctx.tunnel()
        .read(GuestPtr::new(at), &mut buf)
        .map_err(|_| Errno::FAULT)?;
    let mut objects: Vec<Arc<Object>> = Vec::new();
    let mut off = 0u64;
    while off + HEADER <= len {
        let o = off as usize;
        let mut w = [0u8; 8];
        w.copy_from_slice(&buf[o..o + 8]);
        let cmsg_len = u64::from_le_bytes(w);
        if cmsg_len < HEADER || cmsg_len > len - off {
            return Err(Errno::INVAL);
        }
        let (level, ty) = (u32_at(&buf, o + 8), u32_at(&buf, o + 12));
        let data = &buf[o + HEADER as usize..o + cmsg_len as usize];
        if level == SOL_SOCKET {
            match ty {
                SCM_RIGHTS => {
                    let fds: Vec<u32> = data.chunks_exact(4).map(|c| u32_at(c, 0)).collect();
                    if objects.len() + fds.len() > SCM_MAX_FD {
                        return Err(Errno::INVAL);
                    }
                    for fd in fds {
                        objects.push(ctx.process.fds.get(u64::from(fd))?);
                    }
                }
                SCM_CREDENTIALS => check_credentials(ctx, data)?,
                _ => return Err(Errno::INVAL),
            }
        }
        off += align(cmsg_len);
    }
    if objects.is_empty() {
        return Ok(Passed::default());
    }
    let limit = ctx.process.fds.limit() as u64;
    let charge = ctx
        .kernel
        .unix_in_flight
        .charge(objects.len() as u64, limit)
        .ok_or(Errno::TOOMANYREFS)?;
    Ok(Passed {
        from: None,
        objects,
        charge: Some(charge),
    })
}

/// SCM_CREDENTIALS as an unprivileged sender may send them: its own.
fn check_credentials(ctx: &Ctx<'_>, data: &[u8]) -> Result<(), Errno> {
    if data.len() as u64 != UCRED {
        return Err(Errno::INVAL);
    }
    let id = ctx.process.identity;
    let (pid, uid, gid) = (u32_at(data, 0), u32_at(data, 4), u32_at(data, 8));
    if u64::from(pid) != id.pid || u64::from(uid) != id.uid || u64::from(gid) != id.gid {
        return Err(Errno::PERM);
    }
    Ok(())
}

/// Checks the guest's control buffer (`room` bytes at `at`) writable
/// before a receive.
pub fn check_room(ctx: &mut Ctx<'_>, at: u64, room: u64) -> Result<(), Errno> {
    if room == 0 {
        return Ok(());
    }
    ctx.tunnel()
        .check(GuestPtr::new(at), room, Access::Write)
        .map(|_| ())
        .map_err(|_| Errno::FAULT)
}

/// Gives the received `objects` to the guest as new descriptors, in one
/// SCM_RIGHTS message in its control buffer (`room` bytes at `at`): the
/// bytes of control written and whether some were left out (MSG_CTRUNC;
/// those are closed).
pub fn deliver(
    ctx: &mut Ctx<'_>,
    at: u64,
    room: u64,
    objects: Vec<Arc<Object>>,
    cloexec: bool,
) -> Result<(u64, bool), Errno> {
    if objects.is_empty() {
        return Ok((0, false));
    }
    let fit = room.saturating_sub(HEADER) / 4;
    let mut fds: Vec<u64> = Vec::new();
    for obj in objects.iter().take(fit.min(SCM_MAX_FD as u64) as usize) {
        match ctx.process.fds.insert(Arc::clone(obj), cloexec, 0) {
            Ok(fd) => fds.push(fd),
            Err(_) => break,
        }
    }
    let truncated = fds.len() < objects.len();
    if fds.is_empty() {
        return Ok((0, truncated));
    }
    let cmsg_len = HEADER + 4 * fds.len() as u64;
    let mut msg = Vec::with_capacity(cmsg_len as usize);
    msg.extend_from_slice(&cmsg_len.to_le_bytes());
    msg.extend_from_slice(&SOL_SOCKET.to_le_bytes());
    msg.extend_from_slice(&SCM_RIGHTS.to_le_bytes());
    for fd in &fds {
        msg.extend_from_slice(&(*fd as u32).to_le_bytes());
    }
    if ctx.tunnel().write(GuestPtr::new(at), &msg).is_err() {
        for fd in fds {
            let _ = ctx.process.fds.close(fd);
        }
        return Err(Errno::FAULT);
    }
    Ok((align(cmsg_len).min(room), truncated))
}

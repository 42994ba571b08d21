//! System V message queues (msgget, msgsnd, msgrcv, msgctl), the
//! sandbox's own (kernel/sysv_ipc.rs), with Linux's limits (MSGMAX,
//! MSGMNB) and errors. A send to a full queue and a receive from one with
//! no matching message wait (`Wait::Poll`, no deadline: any other
//! thread's call may change the queue) unless IPC_NOWAIT; a queue removed
//! while one waits gives it EIDRM.

use super::sysv::{self, IPC_INFO, IPC_NOWAIT, IPC_RMID, IPC_SET, IPC_STAT};
use super::{Args, Ctx, Stop, SyscallResult, Wait};
use crate::abi::Errno;
use crate::kernel::sysv_ipc::{Found, Kind, Queue, MAX_QUEUES, MSGMAX, MSGMNB};
use crate::tunnel::GuestPtr;

const MSG_NOERROR: u64 = 0o10000;
const MSG_EXCEPT: u64 = 0o20000;
const MSG_COPY: u64 = 0o40000;
const MSG_STAT: u64 = 11;
const MSG_INFO: u64 = 12;
const MSG_STAT_ANY: u64 = 13;

pub fn msgget(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (key, flags) = (a[0] as i32, a[1]);
    match ctx.kernel.ipc.lookup(Kind::Queue, key, flags)? {
        Found::Existing(id) => {
            let q = ctx.kernel.ipc.queues.get(id).ok_or(Errno::INVAL)?;
            sysv::check(ctx, &q.perm, sysv::requested(flags))?;
            Ok(id as u64)
        }
        Found::Make => {
            let perm = sysv::new_perm(ctx, key, flags);
            let id = ctx
                .kernel
                .ipc
                .new_queue(perm, sysv::now())
                .ok_or(Errno::NOSPC)?;
            Ok(id as u64)
        }
    }
}

/// The queue `id` names for a call that may have waited: EIDRM when it
/// was removed while this thread waited (the call is run again), EINVAL
/// when there is none.
fn queue_index(ctx: &mut Ctx<'_>, id: u64) -> Result<i32, Errno> {
    let waited = ctx.thread.resume.take().is_some();
    let id = sysv::id_of(id)?;
    match ctx.kernel.ipc.queues.get(id) {
        Some(_) => Ok(id),
        None if waited => Err(Errno::IDRM),
        None => Err(Errno::INVAL),
    }
}

pub fn msgsnd(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (id, msgp, size, flags) = (a[0], a[1], a[2], a[3]);
    if size > MSGMAX || (id as i64) < 0 {
        return Err(Errno::INVAL.into());
    }
    let t = ctx.tunnel();
    let mtype = t.read_u64(GuestPtr::new(msgp)).map_err(|_| Errno::FAULT)? as i64;
    if mtype < 1 {
        return Err(Errno::INVAL.into());
    }
    let mut text = vec![0u8; size as usize];
    let at = GuestPtr::new(msgp).checked_add(8).ok_or(Errno::FAULT)?;
    t.read(at, &mut text).map_err(|_| Errno::FAULT)?;
    let id = queue_index(ctx, id)?;
    let pid = ctx.process.identity.pid as u32;
    let q = ctx.kernel.ipc.queues.get(id).ok_or(Errno::INVAL)?;
    sysv::check(ctx, &q.perm, 2)?;
    let q = ctx.kernel.ipc.queues.get_mut(id).ok_or(Errno::INVAL)?;
    if !q.fits(size) {
        if flags & IPC_NOWAIT != 0 {
            return Err(Errno::AGAIN.into());
        }
        return Err(Stop::Block(Wait::poll(None)));
    }
    q.cbytes += size;
    q.messages.push_back((mtype, text));
    q.lspid = pid;
    q.stime = sysv::now();
    Ok(0)
}

pub fn msgrcv(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (id, msgp, size, msgtyp, flags) = (a[0], a[1], a[2], a[3] as i64, a[4]);
    if (size as i64) < 0 || (id as i64) < 0 {
        return Err(Errno::INVAL.into());
    }
    if flags & MSG_COPY != 0 {
        // A checkpoint/restore interface: refused (reported once).
        if ctx.kernel.reports.first(REPORT_COPY) {
            crate::say!("runner: msgrcv with MSG_COPY is not supported; returned EINVAL");
        }
        return Err(Errno::INVAL.into());
    }
    let id = queue_index(ctx, id)?;
    let pid = ctx.process.identity.pid as u32;
    let q = ctx.kernel.ipc.queues.get(id).ok_or(Errno::INVAL)?;
    sysv::check(ctx, &q.perm, 4)?;
    let pick = pick(q, msgtyp, flags & MSG_EXCEPT != 0);
    let Some(index) = pick else {
        if flags & IPC_NOWAIT != 0 {
            return Err(Errno::NOMSG.into());
        }
        return Err(Stop::Block(Wait::poll(None)));
    };
    let len = q.messages.get(index).map_or(0, |(_, t)| t.len() as u64);
    if len > size && flags & MSG_NOERROR == 0 {
        return Err(Errno::TOOBIG.into());
    }
    let q = ctx.kernel.ipc.queues.get_mut(id).ok_or(Errno::INVAL)?;
    let (mtype, text) = q.messages.remove(index).ok_or(Errno::INVAL)?;
    q.cbytes -= text.len() as u64;
    q.lrpid = pid;
    q.rtime = sysv::now();
    // As on Linux, the message is gone even if copying it out fails.
    let n = (text.len() as u64).min(size) as usize;
    let mut t = ctx.tunnel();
    t.write(GuestPtr::new(msgp), &(mtype as u64).to_le_bytes())
        .map_err(|_| Errno::FAULT)?;
    let at = GuestPtr::new(msgp).checked_add(8).ok_or(Errno::FAULT)?;
    t.write(at, &text[..n]).map_err(|_| Errno::FAULT)?;
    Ok(n as u64)
}

/// Report key of MSG_COPY.
const REPORT_COPY: u64 = u64::MAX - 70;

/// The message msgrcv takes for `msgtyp`: 0 the first; > 0 the first of
/// that type (of another with MSG_EXCEPT); < 0 the first of the lowest
/// type at most -msgtyp.
fn pick(q: &Queue, msgtyp: i64, except: bool) -> Option<usize> {
    let m = &q.messages;
    match msgtyp {
        0 => (!m.is_empty()).then_some(0),
        t if t > 0 => m.iter().position(|(ty, _)| (*ty == t) != except),
        t => {
            let bound = t.checked_neg().unwrap_or(i64::MAX);
            let lowest = m
                .iter()
                .map(|(ty, _)| *ty)
                .filter(|ty| *ty <= bound)
                .min()?;
            m.iter().position(|(ty, _)| *ty == lowest)
        }
    }
}

pub fn msgctl(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (id, cmd, buf) = (a[0], sysv::command(a[1]), a[2]);
    match cmd {
        IPC_INFO | MSG_INFO => {
            let ipc = &ctx.kernel.ipc;
            let (pool, map, tql) = if cmd == MSG_INFO {
                let qs: Vec<&Queue> = (0..MAX_QUEUES as i32)
                    .filter_map(|slot| ipc.queues.slot(slot))
                    .collect();
                (
                    qs.len() as i32,
                    qs.iter().map(|q| q.messages.len() as i32).sum(),
                    qs.iter().map(|q| q.cbytes as i32).sum(),
                )
            } else {
                (
                    (MAX_QUEUES as u64 * MSGMNB / 1024) as i32,
                    MSGMNB as i32,
                    MSGMNB as i32,
                )
            };
            let fields: [i32; 7] = [
                pool,
                map,
                MSGMAX as i32,
                MSGMNB as i32,
                MAX_QUEUES as i32,
                16,
                tql,
            ];
            let mut b = Vec::with_capacity(32);
            for f in fields {
                b.extend_from_slice(&f.to_le_bytes());
            }
            b.extend_from_slice(&((MSGMNB / 16) as u16).to_le_bytes());
            b.resize(32, 0);
            sysv::write_out(ctx, buf, &b)?;
            Ok(ctx.kernel.ipc.queues.highest_slot().map_or(0, |s| s as u64))
        }
        IPC_STAT | MSG_STAT | MSG_STAT_ANY => sysv::stat(
            ctx,
            |ipc| &ipc.queues,
            id,
            (cmd != IPC_STAT, cmd == MSG_STAT_ANY),
            stat_bytes,
            buf,
        ),
        IPC_SET => {
            let mut b = [0u8; 120];
            sysv::read_in(ctx, buf, &mut b)?;
            let id = sysv::id_of(id)?;
            let q = ctx.kernel.ipc.queues.get(id).ok_or(Errno::INVAL)?;
            sysv::check_owner(ctx, &q.perm)?;
            let qbytes = u64::from_le_bytes(b[88..96].try_into().map_err(|_| Errno::INVAL)?);
            if qbytes > MSGMNB && sysv::caller(ctx).0 != 0 {
                return Err(Errno::PERM.into());
            }
            let q = ctx.kernel.ipc.queues.get_mut(id).ok_or(Errno::INVAL)?;
            sysv::set_from(&mut q.perm, &b[..48]);
            q.qbytes = qbytes.min(MSGMNB);
            q.ctime = sysv::now();
            Ok(0)
        }
        IPC_RMID => sysv::remove(
            ctx,
            |ipc| &ipc.queues,
            id,
            |ipc, id| {
                ipc.remove_queue(id);
            },
        ),
        _ => Err(Errno::INVAL.into()),
    }
}

/// `struct msqid64_ds` (120 bytes).
fn stat_bytes(q: &Queue) -> Vec<u8> {
    let mut b = [0u8; 120];
    b[..48].copy_from_slice(&sysv::perm_bytes(&q.perm));
    let mut put = |at: usize, v: u64| b[at..at + 8].copy_from_slice(&v.to_le_bytes());
    put(48, q.stime as u64);
    put(56, q.rtime as u64);
    put(64, q.ctime as u64);
    put(72, q.cbytes);
    put(80, q.messages.len() as u64);
    put(88, q.qbytes);
    b[96..100].copy_from_slice(&q.lspid.to_le_bytes());
    b[100..104].copy_from_slice(&q.lrpid.to_le_bytes());
    b.to_vec()
}

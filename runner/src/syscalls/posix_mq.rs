//! POSIX message queues (mq_open, mq_unlink, mq_timedsend,
//! mq_timedreceive, mq_notify, mq_getsetattr), the sandbox's own
//! (kernel/posix_mq.rs): a queue descriptor is a descriptor of the guest's
//! table (`Object::MsgQueue`, always opened close-on-exec, as Linux opens
//! it), which close, dup, fcntl, fork, poll, select, epoll, fstat and read
//! (the queue's status line) know.
//!
//! A send to a full queue and a receive from an empty one wait
//! (`Wait::Retry`, or `Wait::RetryUntil` at the absolute CLOCK_REALTIME
//! timeout, then ETIMEDOUT) unless the description is O_NONBLOCK
//! (EAGAIN); a handler's signal ends the wait with EINTR, or restarts the
//! call under SA_RESTART, as Linux. A sender hands its message straight to
//! a receiver that waits (no notification is due then); a message that
//! arrives on an empty queue nobody waits on fires the registration
//! (SIGEV_SIGNAL: the signal with SI_MESGQ, the sigevent's value and the
//! sender's pid and uid; SIGEV_NONE: nothing), which is one-shot.
//! SIGEV_THREAD needs a netlink socket, which the sandbox never has: it
//! fails as Linux fails without one (EBADF, ENOTSOCK, EINVAL).

use super::common::{read_path, scatter, total};
use super::signals::{self, Target};
use super::sleep::{self, read_timespec};
use super::sysv;
use super::{Args, Ctx, Recipients, SignalRequest, Stop, SyscallResult, Wait};
use crate::abi::constants::{
    NSIG, O_ACCMODE, O_CREAT, O_EXCL, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY, RLIMIT_MSGQUEUE,
    SI_MESGQ,
};
use crate::abi::sigframe::SigInfo;
use crate::abi::Errno;
use crate::kernel::fds::Object;
use crate::kernel::pipe_buffer::next_id;
use crate::kernel::posix_mq::{
    check_name, MessageQueue, MqDesc, NewQueue, Notify, Owner, Receiver, Registration, Sent,
    FILE_SIZE, MQ_PRIO_MAX, SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD,
};
use crate::kernel::sysv_ipc::Perm;
use crate::tunnel::GuestPtr;
use rustix::fs::SeekFrom;
use rustix::time::ClockId;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `struct mq_attr`: mq_flags, mq_maxmsg, mq_msgsize, mq_curmsgs and four
/// reserved longs.
const ATTR_SIZE: usize = 64;
/// `struct sigevent`.
const SIGEVENT_SIZE: usize = 64;
/// What SIGEV_THREAD's sigev_value points at (Linux's NOTIFY_COOKIE_LEN).
const COOKIE_LEN: u64 = 32;

/// Reads `N` bytes at `ptr` (EFAULT).
fn read_in<const N: usize>(ctx: &mut Ctx<'_>, ptr: u64) -> Result<[u8; N], Errno> {
    let mut b = [0u8; N];
    sysv::read_in(ctx, ptr, &mut b)?;
    Ok(b)
}

/// The `i64` at byte `at` of `b`.
fn long(b: &[u8], at: usize) -> i64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    i64::from_le_bytes(w)
}

/// A queue name as the kernel reads it (EFAULT, ENAMETOOLONG past
/// PATH_MAX, ENOENT when empty); `check_name` judges it further.
fn read_name(ctx: &mut Ctx<'_>, ptr: u64) -> Result<Vec<u8>, Errno> {
    let name = read_path(ctx, ptr)?;
    if name.is_empty() {
        return Err(Errno::NOENT);
    }
    Ok(name)
}

/// EACCES unless the caller may open `q` for `want` (4 read, 2 write), by
/// its mode bits as Linux's inode_permission (uid 0 may, as with
/// CAP_DAC_OVERRIDE).
fn may_open(ctx: &Ctx<'_>, q: &MessageQueue, want: u32) -> Result<(), Errno> {
    let o = q.owner;
    let perm = Perm {
        key: 0,
        uid: o.uid,
        gid: o.gid,
        cuid: o.uid,
        cgid: o.gid,
        mode: o.mode & 0o777,
        seq: 0,
    };
    sysv::check(ctx, &perm, want)
}

/// The time now on CLOCK_REALTIME.
fn realtime() -> (i64, i64) {
    crate::host::clock(ClockId::Realtime)
}

pub fn mq_open(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (name_ptr, oflag, mode, attr_ptr) = (a[0], a[1] as u32, a[2] as u32, a[3]);
    // As Linux: the attributes are read whenever given, then the name,
    // then a descriptor is reserved, then the name is looked up.
    let attr = if attr_ptr == 0 {
        None
    } else {
        let b: [u8; ATTR_SIZE] = read_in(ctx, attr_ptr)?;
        Some((long(&b, 8), long(&b, 16)))
    };
    let name = read_name(ctx, name_ptr)?;
    if !ctx.process.fds.has_room() {
        return Err(Errno::MFILE.into());
    }
    check_name(&name)?;
    let queue = match ctx.kernel.mqueues.get(&name) {
        Some(q) => {
            if oflag & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL {
                return Err(Errno::EXIST.into());
            }
            let want = match oflag & O_ACCMODE {
                O_RDWR => 6,
                O_WRONLY => 2,
                O_RDONLY => 4,
                _ => return Err(Errno::INVAL.into()),
            };
            may_open(ctx, &q, want)?;
            q
        }
        None if oflag & O_CREAT == 0 => return Err(Errno::NOENT.into()),
        None => {
            let now = realtime();
            let id = &ctx.process.identity;
            let new = NewQueue {
                attr,
                owner: Owner {
                    uid: id.uid as u32,
                    gid: id.gid as u32,
                    mode: mode & 0o7777 & !ctx.process.umask,
                },
                rlimit: ctx.process.limits.rlimits[RLIMIT_MSGQUEUE].0,
                id: next_id(),
                now: (now.0, now.1 as u64),
            };
            ctx.kernel.mqueues.create(&name, new)?
        }
    };
    let obj = Arc::new(Object::MsgQueue(MqDesc::new(queue, oflag)));
    Ok(ctx.process.fds.insert(obj, true, 0)?)
}

pub fn mq_unlink(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let name = read_name(ctx, a[0])?;
    check_name(&name)?;
    let q = ctx.kernel.mqueues.get(&name).ok_or(Errno::NOENT)?;
    // The queues' directory is sticky: only the owner (or root) removes
    // a queue (EPERM, which libc shows as EACCES).
    let uid = ctx.process.identity.uid as u32;
    if uid != 0 && uid != q.owner.uid {
        return Err(Errno::PERM.into());
    }
    ctx.kernel.mqueues.unlink(&name)?;
    Ok(0)
}

/// The queue description of `obj`, a descriptor's (EBADF when it is not
/// a queue's).
fn desc(obj: &Object) -> Result<&MqDesc, Errno> {
    match obj {
        Object::MsgQueue(d) => Ok(d),
        _ => Err(Errno::BADF),
    }
}

/// An absolute CLOCK_REALTIME timeout (0: none) as an instant: EFAULT,
/// EINVAL for a negative or unnormalised one.
fn deadline(ctx: &mut Ctx<'_>, ptr: u64) -> Result<Option<Instant>, Errno> {
    if ptr == 0 {
        return Ok(None);
    }
    let (sec, nsec) = read_timespec(ctx, GuestPtr::new(ptr))?;
    let (now_s, now_ns) = realtime();
    let left = (i128::from(sec) - i128::from(now_s)) * 1_000_000_000 + i128::from(nsec)
        - i128::from(now_ns);
    let left = Duration::from_nanos(u64::try_from(left.max(0)).unwrap_or(u64::MAX));
    Ok(Some(
        Instant::now()
            .checked_add(left)
            .unwrap_or_else(super::poll::far_future),
    ))
}

/// A send or receive that cannot go on: EAGAIN for a nonblocking
/// description, ETIMEDOUT once its time has come, else it waits.
fn wait(d: &MqDesc, until: Option<Instant>) -> SyscallResult {
    if d.nonblocking() {
        return Err(Errno::AGAIN.into());
    }
    match until {
        None => sleep::hang(),
        Some(u) if u <= Instant::now() => Err(Errno::TIMEDOUT.into()),
        Some(until) => Err(Stop::Block(Wait::RetryUntil { until })),
    }
}

pub fn mq_timedsend(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (fd, msg, len, prio) = (a[0], a[1], a[2], a[3] as u32);
    let until = deadline(ctx, a[4])?;
    if u64::from(prio) >= MQ_PRIO_MAX {
        return Err(Errno::INVAL.into());
    }
    let obj = ctx.process.fds.get(fd)?;
    let d = desc(&obj)?;
    if !d.writable() {
        return Err(Errno::BADF.into());
    }
    if len > d.queue.msgsize {
        return Err(Errno::MSGSIZE.into());
    }
    let mut text = vec![0u8; len as usize];
    sysv::read_in(ctx, msg, &mut text)?;
    match d.queue.send(prio, text) {
        Sent::Full => wait(d, until),
        Sent::Handed | Sent::Queued(None) => Ok(0),
        Sent::Queued(Some(due)) => notify(ctx, due),
    }
}

/// Fires registration `due`: a message arrived on an empty queue that no
/// receiver waited on. SIGEV_SIGNAL sends its signal (none for signal 0)
/// to the registered process, with SI_MESGQ, its value and the sender's
/// pid and uid; the send returns 0.
fn notify(ctx: &mut Ctx<'_>, due: Registration) -> SyscallResult {
    let Notify::Signal { signo, value } = due.how else {
        return Ok(0);
    };
    if signo == 0 {
        return Ok(0);
    }
    let info = SigInfo {
        signo: signo as i32,
        code: SI_MESGQ,
        addr: None,
        pid: ctx.process.identity.pid as u32,
        uid: ctx.process.identity.uid as u32,
        value,
    };
    if due.owner == ctx.process.identity.pid {
        signals::send(
            ctx,
            Target::Process,
            info,
            "sent by a message queue notification",
        )?;
        return Ok(0);
    }
    // Another process: the run loop reaches it and returns 0. One that
    // ended (its registrations went with it) gets nothing.
    match ctx.kernel.procs.get(due.owner) {
        Some(e) if e.zombie.is_none() => Err(Stop::SignalProcesses(Box::new(SignalRequest {
            to: Recipients::Pid(due.owner),
            sig: u64::from(signo),
            info,
        }))),
        _ => Ok(0),
    }
}

pub fn mq_timedreceive(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (fd, buf, len, prio_ptr) = (a[0], a[1], a[2], a[3]);
    // A sender handed this waiting call its message: it is this call's,
    // whatever happened since (as on Linux, where it is already taken).
    let mine = ctx.thread.mq_receiver.take();
    if let Some(m) = mine.as_ref().and_then(|r| r.take()) {
        return deliver(ctx, buf, prio_ptr, m);
    }
    let until = deadline(ctx, a[4])?;
    let obj = ctx.process.fds.get(fd)?;
    let d = desc(&obj)?;
    if !d.readable() {
        return Err(Errno::BADF.into());
    }
    if len < d.queue.msgsize {
        return Err(Errno::MSGSIZE.into());
    }
    if let Some(m) = d.queue.receive() {
        return deliver(ctx, buf, prio_ptr, m);
    }
    let blocked = wait(d, until);
    if matches!(blocked, Err(Stop::Block(_))) {
        // Waits: as the same receiver as before (its place in line), or a
        // new one.
        let q = &d.queue;
        let r = mine.filter(|r| r.queue == q.id).unwrap_or_else(|| {
            let r = Arc::new(Receiver::new(q.id));
            q.wait_to_receive(&r);
            r
        });
        ctx.thread.mq_receiver = Some(r);
    }
    blocked
}

/// Copies a received message out: its priority, then its text (EFAULT
/// loses it, as on Linux). Returns its length.
fn deliver(
    ctx: &mut Ctx<'_>,
    buf: u64,
    prio_ptr: u64,
    (prio, text): (u32, Vec<u8>),
) -> SyscallResult {
    if prio_ptr != 0 {
        sysv::write_out(ctx, prio_ptr, &prio.to_le_bytes())?;
    }
    sysv::write_out(ctx, buf, &text)?;
    Ok(text.len() as u64)
}

pub fn mq_notify(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (fd, sevp) = (a[0], a[1]);
    let how = if sevp == 0 {
        None
    } else {
        let ev: [u8; SIGEVENT_SIZE] = read_in(ctx, sevp)?;
        let value = long(&ev, 0) as u64;
        let signo = u32::from_le_bytes([ev[8], ev[9], ev[10], ev[11]]);
        let kind = u32::from_le_bytes([ev[12], ev[13], ev[14], ev[15]]);
        Some(match kind {
            SIGEV_NONE => Notify::Nothing,
            SIGEV_SIGNAL if signo <= NSIG as u32 => Notify::Signal { signo, value },
            SIGEV_THREAD => return Err(thread_notification(ctx, signo, value).into()),
            _ => return Err(Errno::INVAL.into()),
        })
    };
    let obj = ctx.process.fds.get(fd)?;
    let d = desc(&obj)?;
    let pid = ctx.process.identity.pid;
    match how {
        // Only the caller's own registration goes; otherwise nothing
        // happens (and it succeeds), as on Linux.
        None => d.queue.unregister(pid),
        Some(how) => d.queue.register(Registration { owner: pid, how })?,
    }
    Ok(0)
}

/// SIGEV_THREAD: libc's notification thread listens on a netlink socket
/// (`sigev_signo`) for the cookie `sigev_value` points at. The sandbox has
/// no netlink sockets, so this fails as Linux fails for anything else:
/// EFAULT for the cookie, EBADF, ENOTSOCK, or EINVAL for another socket.
fn thread_notification(ctx: &mut Ctx<'_>, sock: u32, cookie: u64) -> Errno {
    let mut b = [0u8; COOKIE_LEN as usize];
    if let Err(e) = sysv::read_in(ctx, cookie, &mut b) {
        return e;
    }
    match ctx.process.fds.get(u64::from(sock)) {
        Err(e) => e,
        Ok(obj) if matches!(&*obj, Object::Socket(_)) => Errno::INVAL,
        Ok(_) => Errno::NOTSOCK,
    }
}

pub fn mq_getsetattr(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (fd, new, old) = (a[0], a[1], a[2]);
    let flags = if new == 0 {
        None
    } else {
        let b: [u8; ATTR_SIZE] = read_in(ctx, new)?;
        let flags = long(&b, 0);
        if flags & !i64::from(O_NONBLOCK) != 0 {
            return Err(Errno::INVAL.into());
        }
        Some(flags)
    };
    let obj = ctx.process.fds.get(fd)?;
    let d = desc(&obj)?;
    let q = &d.queue;
    let mut b = [0u8; ATTR_SIZE];
    let was = u64::from(d.flags() & O_NONBLOCK);
    for (i, v) in [was, q.maxmsg, q.msgsize, q.curmsgs()]
        .into_iter()
        .enumerate()
    {
        b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
    }
    if let Some(f) = flags {
        d.set_nonblocking(f != 0);
    }
    if old != 0 {
        sysv::write_out(ctx, old, &b)?;
    }
    Ok(0)
}

/// read(2) (and pread, readv) of a queue descriptor: its status line
/// (Linux's mqueue_read_file), from the description's offset or `at`.
pub fn read(
    ctx: &mut Ctx<'_>,
    d: &MqDesc,
    parts: &[(GuestPtr, u64)],
    at: Option<u64>,
) -> SyscallResult {
    use std::sync::atomic::Ordering;
    if !d.readable() {
        return Err(Errno::BADF.into());
    }
    let line = d.queue.status_line();
    let pos = at.unwrap_or_else(|| d.pos.load(Ordering::SeqCst));
    let start = usize::try_from(pos).unwrap_or(usize::MAX).min(line.len());
    let n = (line.len() - start).min(usize::try_from(total(parts)).unwrap_or(usize::MAX));
    scatter(ctx, parts, &line.as_bytes()[start..start + n])?;
    if at.is_none() {
        d.pos.store(pos + n as u64, Ordering::SeqCst);
    }
    Ok(n as u64)
}

/// lseek on a queue descriptor: Linux's default_llseek over a file of
/// [`FILE_SIZE`] bytes.
pub fn seek(d: &MqDesc, pos: SeekFrom) -> SyscallResult {
    use std::sync::atomic::Ordering;
    let cur = d.pos.load(Ordering::SeqCst) as i64;
    let size = FILE_SIZE as i64;
    let to = match pos {
        SeekFrom::Start(n) => i64::try_from(n).map_err(|_| Errno::INVAL)?,
        SeekFrom::Current(off) => cur.checked_add(off).ok_or(Errno::INVAL)?,
        SeekFrom::End(off) => size.checked_add(off).ok_or(Errno::INVAL)?,
        SeekFrom::Data(n) | SeekFrom::Hole(n) if n >= FILE_SIZE => return Err(Errno::NXIO.into()),
        SeekFrom::Data(n) => n as i64,
        SeekFrom::Hole(_) => size,
    };
    if to < 0 {
        return Err(Errno::INVAL.into());
    }
    d.pos.store(to as u64, Ordering::SeqCst);
    Ok(to as u64)
}

/// A descriptor of the queue `obj` describes was closed by process
/// `pid`: its registration on the queue goes (Linux's flush).
pub fn closed(obj: &Object, pid: u64) {
    if let Object::MsgQueue(d) = obj {
        d.queue.unregister(pid);
    }
}

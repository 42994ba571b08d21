//! inotify_init, inotify_init1, inotify_add_watch, inotify_rm_watch, and
//! reads of an inotify descriptor. Each guest instance is a host inotify
//! instance the runner holds (kernel/inotify.rs), so watch descriptors,
//! events, their order, cookies and queue overflow are the host kernel's
//! own, as a native program gets them.
//!
//! A watch is placed only on an object the policy shows (fs/watch.rs):
//! the guest path is resolved as every path call resolves it, to an
//! `O_PATH` descriptor opened beneath its rule, and the host watch is
//! added through `/proc/self/fd/N` of that descriptor, the runner's own,
//! so no guest-controlled host path is ever walked (a link swapped in
//! meanwhile changes nothing: the descriptor names the object found).
//! IN_DONT_FOLLOW and IN_ONLYDIR act on that resolution; IN_MASK_ADD,
//! IN_MASK_CREATE, IN_EXCL_UNLINK and IN_ONESHOT go to the host as given.
//! Event names are entries of a watched directory, which the guest may
//! list anyway.
//!
//! Reads take whole events from the host instance (EINVAL when the buffer
//! cannot hold the next one, as Linux); a blocking read of an empty
//! instance waits with no kernel lock held (`Wait::Poll`, the host
//! descriptor looked at again every few milliseconds), and poll, select
//! and epoll see the host descriptor's readiness.

use super::common::{guest_path, scatter};
use super::{fs, Args, Ctx, Stop, SyscallResult, Wait};
use crate::abi::constants::{
    ALL_INOTIFY_BITS, AT_FDCWD, INOTIFY_EVENT_SIZE, IN_CLOEXEC, IN_DONT_FOLLOW, IN_IGNORED,
    IN_MASK_ADD, IN_MASK_CREATE, IN_NONBLOCK, IN_ONLYDIR, IN_UNMOUNT,
};
use crate::abi::Errno;
use crate::kernel::fds::Object;
use crate::kernel::inotify::{Inotify, MAX_INSTANCES, MAX_WATCHES};
use crate::kernel::pipe_buffer::next_id;
use crate::tunnel::GuestPtr;
use rustix::fd::AsRawFd;
use rustix::fs::inotify::{self as host, CreateFlags, WatchFlags};
use std::sync::Arc;

/// Report keys (`Reports::first`): the caps reached, /proc unreachable.
const REPORT_INSTANCES: u64 = u64::MAX - 43;
const REPORT_WATCHES: u64 = u64::MAX - 44;
const REPORT_NO_PROC: u64 = u64::MAX - 45;

/// The most bytes one host read takes (a larger guest buffer gets fewer
/// events than Linux would give it: a short read, which readers handle).
const READ_MAX: u64 = 64 * 1024;

pub fn inotify_init(ctx: &mut Ctx<'_>, _: &Args) -> SyscallResult {
    create(ctx, 0)
}

pub fn inotify_init1(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    create(ctx, a[0] as u32 as u64)
}

fn create(ctx: &mut Ctx<'_>, flags: u64) -> SyscallResult {
    if flags & !(IN_NONBLOCK | IN_CLOEXEC) != 0 {
        return Err(Errno::INVAL.into());
    }
    if !ctx.process.fds.has_room() {
        return Err(Errno::MFILE.into());
    }
    let Some(charge) = ctx.kernel.inotify.take_instance() else {
        if ctx.kernel.reports.first(REPORT_INSTANCES) {
            crate::say!(
                "runner: inotify_init refused: {MAX_INSTANCES} inotify instances are open, the sandbox's cap (host instances count against the host user's fs.inotify.max_user_instances); returned EMFILE"
            );
        }
        return Err(Errno::MFILE.into());
    };
    let fd = host::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)?;
    let i = Inotify::new(fd, flags & IN_NONBLOCK != 0, next_id(), charge);
    let obj = Arc::new(Object::Inotify(Arc::new(i)));
    Ok(ctx.process.fds.insert(obj, flags & IN_CLOEXEC != 0, 0)?)
}

/// The inotify instance guest fd `fd` names: EBADF for no descriptor,
/// EINVAL for another kind.
fn instance(ctx: &Ctx<'_>, fd: u64) -> Result<Arc<Inotify>, Errno> {
    match &*ctx.process.fds.get(fd)? {
        Object::Inotify(i) => Ok(i.clone()),
        _ => Err(Errno::INVAL),
    }
}

/// inotify_add_watch(fd, path, mask), checked in Linux's order: the mask's
/// bits, the descriptor, IN_MASK_ADD with IN_MASK_CREATE, the path.
pub fn inotify_add_watch(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (fd, path, mask) = (a[0], a[1], a[2] as u32);
    if mask & !ALL_INOTIFY_BITS != 0 || mask == 0 {
        return Err(Errno::INVAL.into());
    }
    ctx.process.fds.get(fd)?;
    if mask & IN_MASK_ADD != 0 && mask & IN_MASK_CREATE != 0 {
        return Err(Errno::INVAL.into());
    }
    let ino = instance(ctx, fd)?;
    let mut g = guest_path(ctx, AT_FDCWD as u64, path)?;
    // A trailing slash follows a final link even with IN_DONT_FOLLOW, as
    // Linux's lookup does; IN_ONLYDIR alone does not.
    let follow = mask & IN_DONT_FOLLOW == 0 || g.must_be_dir;
    g.must_be_dir |= mask & IN_ONLYDIR != 0;
    let (object, st) = fs::watched_object(ctx, &g, follow)?;
    let key = (st.st_dev, st.st_ino);
    if !ino.has_room_for(key) {
        if ctx.kernel.reports.first(REPORT_WATCHES) {
            crate::say!(
                "runner: inotify_add_watch refused: {MAX_WATCHES} inotify watches are held, the sandbox's cap (host watches count against the host user's fs.inotify.max_user_watches); returned ENOSPC"
            );
        }
        return Err(Errno::NOSPC.into());
    }
    // The object is resolved: the host follows the runner's own
    // descriptor to it. A mask left with no bit once those two are taken
    // out is still a watch, as on Linux: IN_UNMOUNT, which every watch
    // has anyway, keeps the host from refusing it.
    let mut host_mask = mask & !(IN_DONT_FOLLOW | IN_ONLYDIR);
    if host_mask & ALL_INOTIFY_BITS == 0 {
        host_mask |= IN_UNMOUNT;
    }
    let through = format!("/proc/self/fd/{}", object.as_raw_fd());
    let wd = match host::add_watch(&ino.fd, through, WatchFlags::from_bits_retain(host_mask)) {
        Ok(wd) => wd,
        Err(e) => {
            if e == Errno::NOENT && ctx.kernel.reports.first(REPORT_NO_PROC) {
                crate::say!(
                    "runner: inotify_add_watch: the host's /proc/self/fd cannot be reached, so no watch can be placed; returned ENOENT"
                );
            }
            return Err(e.into());
        }
    };
    ino.added(wd, key);
    Ok(wd as u64)
}

/// inotify_rm_watch(fd, wd): the host queues IN_IGNORED for it. A watch
/// the instance does not hold is EINVAL without a host call.
pub fn inotify_rm_watch(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let ino = instance(ctx, a[0])?;
    let wd = a[1] as u32 as i32;
    if !ino.holds(wd) {
        return Err(Errno::INVAL.into());
    }
    let r = host::remove_watch(&ino.fd, wd);
    // Removed, or (EINVAL) already gone: its object went away and its
    // IN_IGNORED waits unread.
    if r.is_ok() || r == Err(Errno::INVAL) {
        ino.forget(wd);
    }
    r?;
    Ok(0)
}

/// read(2) of an inotify instance into `parts` (already checked
/// writable). As Linux, which reads each iovec in turn, every part takes
/// whole events; a part that cannot hold the next event ends the read
/// (EINVAL when it is the first).
pub fn read(ctx: &mut Ctx<'_>, ino: &Inotify, parts: &[(GuestPtr, u64)]) -> SyscallResult {
    let mut done = 0u64;
    for &(ptr, len) in parts {
        let mut buf = vec![0u8; len.min(READ_MAX) as usize];
        let n = match rustix::io::read(&ino.fd, &mut buf) {
            Ok(n) => n,
            Err(_) if done > 0 => break,
            Err(Errno::AGAIN) if !ino.nonblocking() => {
                return Err(Stop::Block(Wait::Poll {
                    until: None,
                    host: true,
                    timer: None,
                    signals: 0,
                    restart: true,
                }))
            }
            Err(e) => return Err(e.into()),
        };
        let got = buf.get(..n).unwrap_or_default();
        forget_ignored(ino, got);
        scatter(ctx, &[(ptr, len)], got)?;
        done += n as u64;
        if (n as u64) < len {
            break;
        }
    }
    Ok(done)
}

/// The watches whose IN_IGNORED the guest now has are gone.
fn forget_ignored(ino: &Inotify, mut events: &[u8]) {
    while let Some(head) = events.get(..INOTIFY_EVENT_SIZE) {
        let word = |i: usize| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&head[i..i + 4]);
            b
        };
        let (wd, mask, len) = (
            i32::from_le_bytes(word(0)),
            u32::from_le_bytes(word(4)),
            u32::from_le_bytes(word(12)) as usize,
        );
        if mask & IN_IGNORED != 0 {
            ino.forget(wd);
        }
        events = events.get(INOTIFY_EVENT_SIZE + len..).unwrap_or_default();
    }
}

/// FIONREAD: the bytes of events waiting.
pub fn pending(ino: &Inotify) -> Result<u32, Errno> {
    let n = rustix::io::ioctl_fionread(&ino.fd)?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

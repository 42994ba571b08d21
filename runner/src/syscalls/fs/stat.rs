//! The stat family: fstat, stat, lstat, newfstatat and statx, over
//! descriptors and guest paths.

use super::check_out;
use crate::abi::constants::STATX_RESERVED;
use crate::abi::layouts::{self as abi, StatInfo};
use crate::abi::Errno;
use crate::kernel::fds::Object;
use crate::syscalls::common::*;
use crate::syscalls::{stream_stat, Args, Ctx, SyscallResult};
use crate::tunnel::GuestPtr;
use crate::vfs::path::{self, GuestPath, PathError};
use crate::vfs::{Located, Vfs};
use std::path::PathBuf;

fn path_errno(e: PathError) -> Errno {
    match e {
        PathError::Empty => Errno::NOENT,
        PathError::TooLong => Errno::NAMETOOLONG,
    }
}

/// Normalizes an already-read path relative to `dirfd`.
fn normalize_at(ctx: &Ctx<'_>, dirfd: u64, raw: &[u8]) -> Result<GuestPath, Errno> {
    let base = if raw.first() == Some(&b'/') {
        PathBuf::from("/")
    } else {
        base_dir(ctx, dirfd)?
    };
    path::normalize(&base, raw).map_err(path_errno)
}

/// The minor number of the device at `path`: /dev/null or a `Device`.
pub(super) fn devices(path: &std::path::Path) -> Option<u32> {
    if path == std::path::Path::new("/dev/null") {
        return Some(3);
    }
    crate::kernel::fds::Device::at(path).map(|(_, minor)| minor)
}

/// The stat of an open descriptor: files and directories as the host has
/// them; the standard streams and pipes as `stream_stat` shows them.
fn stat_object(obj: &Object, owner: Owner) -> Result<StatInfo, Errno> {
    match obj {
        Object::Null { .. } => Ok(StatInfo::null_device()),
        Object::Device { minor, .. } => Ok(StatInfo::device(*minor)),
        Object::VirtualDir(v) => Ok(StatInfo::virtual_dir(crate::vfs::virtual_ino(
            &v.guest_path,
        ))),
        Object::Stdio { stream, host, .. } => Ok(stream_stat::stream(
            *stream,
            &rustix::fs::fstat(host)?,
            owner,
        )),
        Object::Pipe(p) => Ok(stream_stat::pipe(p.id(), owner)),
        Object::EventFd(e) => Ok(stream_stat::anonymous(e.id, owner)),
        Object::TimerFd(t) => Ok(stream_stat::anonymous(t.id, owner)),
        Object::SignalFd(s) => Ok(stream_stat::anonymous(s.id, owner)),
        Object::PidFd(p) => Ok(stream_stat::anonymous(p.id, owner)),
        Object::Epoll(e) => Ok(stream_stat::anonymous(e.id, owner)),
        Object::Inotify(i) => Ok(stream_stat::anonymous(i.id, owner)),
        Object::MsgQueue(m) => Ok(stream_stat::message_queue(&m.queue)),
        Object::File(f) => Ok(guest_owned(
            StatInfo::from_host(&rustix::fs::fstat(&f.fd)?),
            f.in_writable_tree,
            owner,
        )),
        Object::Dir(d) => Ok(guest_owned(
            StatInfo::from_host(&rustix::fs::fstat(&d.fd)?),
            d.in_writable_tree,
            owner,
        )),
        other => match other.host_fd() {
            Some(fd) => Ok(StatInfo::from_host(&rustix::fs::fstat(fd)?)),
            None => Err(Errno::BADF),
        },
    }
}

/// A file or directory where the guest may write (a read-write rule)
/// is the guest's: it shows the guest's uid and gid (`owner`), whoever
/// owns it on the host (the runner, often root). Elsewhere the host's
/// owners show (root for the system's files, as the program would see them
/// natively).
fn guest_owned(mut st: StatInfo, writable: bool, owner: Owner) -> StatInfo {
    if writable {
        (st.uid, st.gid) = owner;
    }
    st
}

/// (uid, gid) of what the guest owns: its process's ids.
type Owner = (u32, u32);

fn owner_of(ctx: &Ctx<'_>) -> Owner {
    let id = &ctx.process.identity;
    (id.uid as u32, id.gid as u32)
}

/// The stat of a guest path.
fn stat_path(ctx: &Ctx<'_>, g: &GuestPath, follow: bool) -> Result<StatInfo, Errno> {
    if super::procfs::covers(&g.path) {
        let node = super::procfs::lookup(ctx, &g.path, follow)?;
        return Ok(super::procfs::stat(ctx, &g.path, &node));
    }
    // The devices every guest has, whatever the rules show.
    if let Some(minor) = devices(&g.path) {
        return Ok(StatInfo::device(minor));
    }
    let vfs: &Vfs = &ctx.process.vfs;
    let located = match vfs.locate(g, follow) {
        // `/` and `/dev` always exist (they hold `/proc` and the devices).
        Err(Errno::NOENT) if super::procfs::always_there(&g.path) => {
            return Ok(StatInfo::virtual_dir(crate::vfs::virtual_ino(&g.path)))
        }
        other => other?,
    };
    match located {
        Located::Virtual(p) => Ok(StatInfo::virtual_dir(crate::vfs::virtual_ino(&p))),
        Located::Host(fd, real) => Ok(guest_owned(
            StatInfo::from_host(&rustix::fs::fstat(&fd)?),
            real.writable(),
            owner_of(ctx),
        )),
    }
}

/// newfstatat/statx target: `(dirfd, path, flags)`, with AT_EMPTY_PATH.
fn stat_at(
    ctx: &mut Ctx<'_>,
    dirfd: u64,
    path_ptr: u64,
    flags: u64,
    allowed: u64,
) -> Result<StatInfo, Errno> {
    if flags & !allowed != 0 {
        return Err(Errno::INVAL);
    }
    let raw = read_path(ctx, path_ptr)?;
    if raw.is_empty() && flags & AT_EMPTY_PATH != 0 {
        if dirfd as u32 as i32 == AT_FDCWD {
            let g = GuestPath {
                path: ctx.process.vfs.cwd().to_path_buf(),
                must_be_dir: true,
            };
            return stat_path(ctx, &g, true);
        }
        return stat_object(&*ctx.process.fds.get(dirfd)?, owner_of(ctx));
    }
    let g = normalize_at(ctx, dirfd, &raw)?;
    stat_path(ctx, &g, flags & AT_SYMLINK_NOFOLLOW == 0)
}

fn put_stat(ctx: &mut Ctx<'_>, buf: u64, st: &StatInfo) -> SysResult {
    ctx.tunnel()
        .write(GuestPtr::new(buf), &st.encode_stat())
        .map_err(|_| Errno::FAULT)?;
    Ok(0)
}

pub fn fstat(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let obj = ctx.process.fds.get(a[0])?;
    check_out(ctx, a[1], abi::STAT_SIZE)?;
    let st = stat_object(&obj, owner_of(ctx))?;
    Ok(put_stat(ctx, a[1], &st)?)
}

fn stat_common(ctx: &mut Ctx<'_>, path_ptr: u64, buf: u64, follow: bool) -> SysResult {
    check_out(ctx, buf, abi::STAT_SIZE)?;
    let g = guest_path(ctx, AT_FDCWD as u64, path_ptr)?;
    let st = stat_path(ctx, &g, follow)?;
    put_stat(ctx, buf, &st)
}

pub fn stat(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(stat_common(ctx, a[0], a[1], true)?)
}

pub fn lstat(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(stat_common(ctx, a[0], a[1], false)?)
}

pub fn newfstatat(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    check_out(ctx, a[2], abi::STAT_SIZE)?;
    let st = stat_at(
        ctx,
        a[0],
        a[1],
        a[3],
        AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT,
    )?;
    Ok(put_stat(ctx, a[2], &st)?)
}

/// statx(dirfd, path, flags, mask, buf): the basic fields whatever the
/// mask (Linux may return more than asked); no birth time.
pub fn statx(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    if a[3] & STATX_RESERVED != 0 || a[2] & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE {
        return Err(Errno::INVAL.into());
    }
    check_out(ctx, a[4], abi::STATX_SIZE)?;
    let st = stat_at(
        ctx,
        a[0],
        a[1],
        a[2],
        AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE,
    )?;
    ctx.tunnel()
        .write(GuestPtr::new(a[4]), &st.encode_statx())
        .map_err(|_| Errno::FAULT)?;
    Ok(0)
}

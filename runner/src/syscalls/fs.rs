//! Path syscalls over the policy's `[[files]]` (see `crate::vfs` for the
//! resolution rules): open/openat/creat, stat family, statx, getdents64,
//! readlink, unlink/rmdir, mkdir, rename, truncate, access, getcwd, chdir;
//! and fstat, ftruncate, fsync on descriptors.
//!
//! Refusals: modifying anything under a `"read"` rule, or a synthesized
//! directory, is `EACCES` (`EEXIST`/`ENOENT` first where Linux would report
//! those on a read-only file system); removing or renaming a rule's own path
//! or one of its ancestors is `EBUSY` (they are mount points); a rename
//! between two rules is `EXDEV`.

use super::common::*;
use super::{stream_stat, Args, Ctx, SyscallResult};
use crate::abi::constants::{
    O_ACCMODE, O_APPEND, O_CLOEXEC, O_CREAT, O_DIRECT, O_DIRECTORY, O_DSYNC, O_EXCL, O_LARGEFILE,
    O_NOFOLLOW, O_NONBLOCK, O_PATH, O_RDONLY, O_SYNC_BIT, O_TMPFILE_BIT, O_TRUNC, O_WRONLY,
};
use crate::abi::layouts::{self as abi, StatInfo};
use crate::kernel::fds::{DirCursor, DirObj, FileObj, Object, VirtualDirObj};
use crate::tunnel::{Access, GuestPtr};
use crate::vfs::path::{self, GuestPath, PathError};
use crate::vfs::{self, Located, Node, Real, Vfs};
use rustix::fd::AsFd;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawDir, RenameFlags, SeekFrom};
use rustix::io::Errno;
use std::cell::{Cell, RefCell};
use std::ffi::OsString;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::rc::Rc;

/// Open flags passed to the host as the guest gave them. O_NOCTTY and
/// O_CLOEXEC are always set on the host fd; O_ASYNC and O_NOATIME are
/// dropped; unknown bits are ignored (as open(2) does).
const PASSED: u32 = O_ACCMODE
    | O_CREAT
    | O_EXCL
    | O_TRUNC
    | O_APPEND
    | O_NONBLOCK
    | O_DSYNC
    | O_DIRECT
    | O_LARGEFILE
    | O_DIRECTORY
    | O_NOFOLLOW
    | O_SYNC_BIT;

/// d_off of the synthesized entries appended to a host directory listing.
const EXTRA_OFF: i64 = 0x7fff_ffff_0000_0000;

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

fn virtual_dir(vfs: &Vfs, p: PathBuf) -> Object {
    let mut entries = vec![
        (OsString::from("."), vfs::DT_DIR),
        (OsString::from(".."), vfs::DT_DIR),
    ];
    entries.extend(vfs.children(&p));
    Object::VirtualDir(VirtualDirObj {
        guest_path: p,
        entries,
        pos: Cell::new(0),
    })
}

/// open() of a synthesized directory: read-only, like a directory on a
/// read-only file system.
fn open_virtual(vfs: &Vfs, p: PathBuf, flags: u32) -> Result<Object, Errno> {
    if flags & O_CREAT != 0 && flags & O_EXCL != 0 {
        return Err(Errno::EXIST);
    }
    if flags & O_ACCMODE != O_RDONLY || flags & (O_CREAT | O_TRUNC) != 0 {
        return Err(Errno::ISDIR);
    }
    Ok(virtual_dir(vfs, p))
}

fn do_open(ctx: &mut Ctx<'_>, dirfd: u64, path_ptr: u64, flags: u32, mode: u32) -> SysResult {
    let g = guest_path(ctx, dirfd, path_ptr)?;
    if flags & (O_PATH | O_TMPFILE_BIT) != 0 {
        return Err(Errno::OPNOTSUPP);
    }
    let acc = flags & O_ACCMODE;
    if acc == O_ACCMODE {
        return Err(Errno::INVAL);
    }
    // Like Linux, a descriptor is reserved before anything is created.
    if !ctx.process.fds.has_room() {
        return Err(Errno::MFILE);
    }
    let creat = flags & O_CREAT != 0;
    if g.must_be_dir && creat {
        return Err(Errno::ISDIR);
    }
    let wants_write = acc != O_RDONLY || flags & (O_CREAT | O_TRUNC) != 0;
    let mut host = OFlags::from_bits_retain(flags & PASSED) | OFlags::CLOEXEC | OFlags::NOCTTY;
    if g.must_be_dir {
        host |= OFlags::DIRECTORY;
    }
    let vfs = &ctx.process.vfs;
    let obj = match vfs.resolve(&g.path)? {
        Node::Virtual(p) => open_virtual(vfs, p, flags)?,
        Node::Real(real) => {
            if wants_write && !real.writable() {
                // A read rule: only O_CREAT of a file that exists, opened
                // read-only without O_TRUNC/O_EXCL, goes on.
                if acc == O_RDONLY && flags & (O_TRUNC | O_EXCL) == 0 {
                    host.remove(OFlags::CREATE);
                } else {
                    return Err(Errno::ACCESS);
                }
            }
            let mode = if host.contains(OFlags::CREATE) {
                // No set-id or sticky bits: the runner may run as root.
                Mode::from_bits_truncate(mode & 0o777)
            } else {
                Mode::empty()
            };
            match real.open(host, mode) {
                Ok(fd) => host_object(vfs, fd, &real, acc)?,
                Err(e)
                    if (e == Errno::NOENT || e == Errno::NOTDIR)
                        && vfs.is_strict_ancestor(&g.path) =>
                {
                    open_virtual(vfs, g.path.clone(), flags)?
                }
                Err(e) if e == Errno::NOENT && creat && !real.writable() => {
                    return Err(Errno::ACCESS)
                }
                Err(e) => return Err(e),
            }
        }
    };
    ctx.process
        .fds
        .insert(Rc::new(obj), flags & O_CLOEXEC != 0, 0)
}

fn host_object(
    vfs: &Vfs,
    fd: rustix::fd::OwnedFd,
    real: &Real<'_>,
    acc: u32,
) -> Result<Object, Errno> {
    let st = rustix::fs::fstat(&fd)?;
    if StatInfo::from_host(&st).is_dir() {
        Ok(Object::Dir(DirObj {
            fd,
            guest_path: real.guest.clone(),
            extras: vfs.children(&real.guest),
            cursor: RefCell::new(DirCursor::default()),
        }))
    } else {
        Ok(Object::File(FileObj {
            fd,
            readable: acc != O_WRONLY,
            writable: acc != O_RDONLY,
            guest_path: real.guest.clone(),
        }))
    }
}

pub fn openat(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_open(ctx, a[0], a[1], a[2] as u32, a[3] as u32)?)
}

pub fn open(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_open(
        ctx,
        AT_FDCWD as u64,
        a[0],
        a[1] as u32,
        a[2] as u32,
    )?)
}

pub fn creat(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_open(
        ctx,
        AT_FDCWD as u64,
        a[0],
        O_CREAT | O_WRONLY | O_TRUNC,
        a[1] as u32,
    )?)
}

// ---- stat family --------------------------------------------------------

/// The stat of an open descriptor: files and directories as the host has
/// them; the standard streams and pipes as `stream_stat` shows them.
fn stat_object(obj: &Object) -> Result<StatInfo, Errno> {
    match obj {
        Object::Null { .. } => Ok(StatInfo::null_device()),
        Object::VirtualDir(v) => Ok(StatInfo::virtual_dir(crate::vfs::virtual_ino(
            &v.guest_path,
        ))),
        Object::Stdio { stream, host } => {
            Ok(stream_stat::stream(*stream, &rustix::fs::fstat(host)?))
        }
        Object::Pipe(p) => Ok(stream_stat::pipe(p.id())),
        other => match other.host_fd() {
            Some(fd) => Ok(StatInfo::from_host(&rustix::fs::fstat(fd)?)),
            None => Err(Errno::BADF),
        },
    }
}

/// The stat of a guest path.
fn stat_path(vfs: &Vfs, g: &GuestPath, follow: bool) -> Result<StatInfo, Errno> {
    match vfs.locate(g, follow)? {
        Located::Virtual(p) => Ok(StatInfo::virtual_dir(crate::vfs::virtual_ino(&p))),
        Located::Host(fd, _) => Ok(StatInfo::from_host(&rustix::fs::fstat(&fd)?)),
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
            return stat_path(&ctx.process.vfs, &g, true);
        }
        return stat_object(&*ctx.process.fds.get(dirfd)?);
    }
    let g = normalize_at(ctx, dirfd, &raw)?;
    stat_path(&ctx.process.vfs, &g, flags & AT_SYMLINK_NOFOLLOW == 0)
}

fn put_stat(ctx: &mut Ctx<'_>, buf: u64, st: &StatInfo) -> SysResult {
    ctx.tunnel()
        .write(GuestPtr::new(buf), &st.encode_stat())
        .map_err(|_| Errno::FAULT)?;
    Ok(0)
}

fn check_out(ctx: &mut Ctx<'_>, buf: u64, len: usize) -> Result<(), Errno> {
    ctx.tunnel()
        .check(GuestPtr::new(buf), len as u64, Access::Write)
        .map(|_| ())
        .map_err(|_| Errno::FAULT)
}

pub fn fstat(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let obj = ctx.process.fds.get(a[0])?;
    check_out(ctx, a[1], abi::STAT_SIZE)?;
    let st = stat_object(&obj)?;
    Ok(put_stat(ctx, a[1], &st)?)
}

fn stat_common(ctx: &mut Ctx<'_>, path_ptr: u64, buf: u64, follow: bool) -> SysResult {
    check_out(ctx, buf, abi::STAT_SIZE)?;
    let g = guest_path(ctx, AT_FDCWD as u64, path_ptr)?;
    let st = stat_path(&ctx.process.vfs, &g, follow)?;
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
    const STATX_RESERVED: u64 = 0x8000_0000;
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

// ---- directories --------------------------------------------------------

fn d_type(t: FileType) -> u8 {
    match t {
        FileType::Fifo => 1,
        FileType::CharacterDevice => 2,
        FileType::Directory => 4,
        FileType::BlockDevice => 6,
        FileType::RegularFile => 8,
        FileType::Symlink => 10,
        FileType::Socket => 12,
        _ => 0,
    }
}

/// One getdents64 batch from a host directory, then its synthesized
/// entries (rule paths below it that the host does not have).
fn list_host(d: &DirObj, count: usize) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::new();
    let mut c = d.cursor.borrow_mut();
    let mut full = false;
    if !c.host_done {
        let start = rustix::fs::seek(&d.fd, SeekFrom::Current(0))?;
        let mut buf = vec![MaybeUninit::<u8>::uninit(); count.clamp(1024, 32 * 1024)];
        let mut it = RawDir::new(&d.fd, &mut buf);
        let mut last: Option<u64> = None;
        let mut rewind = false;
        loop {
            match it.next() {
                None => {
                    c.host_done = true;
                    break;
                }
                Some(Err(e)) => {
                    if out.is_empty() {
                        return Err(e);
                    }
                    rewind = true;
                    break;
                }
                Some(Ok(ent)) => {
                    let name = ent.file_name().to_bytes();
                    if out.len() + abi::dirent_len(name.len()) > count {
                        full = true;
                        rewind = true;
                        break;
                    }
                    abi::push_dirent(
                        &mut out,
                        ent.ino(),
                        ent.next_entry_cookie() as i64,
                        d_type(ent.file_type()),
                        name,
                    );
                    if let Some((n, _)) = d.extras.iter().find(|(n, _)| n.as_bytes() == name) {
                        c.seen.push(n.clone());
                    }
                    last = Some(ent.next_entry_cookie());
                }
            }
        }
        if rewind {
            rustix::fs::seek(&d.fd, SeekFrom::Start(last.unwrap_or(start)))?;
        }
    }
    if c.host_done && !full {
        while let Some((name, t)) = d.extras.get(c.extra_next) {
            let idx = c.extra_next;
            if c.seen.contains(name) {
                c.extra_next += 1;
                continue;
            }
            if out.len() + abi::dirent_len(name.len()) > count {
                full = true;
                break;
            }
            let ino = vfs::virtual_ino(&d.guest_path.join(name));
            abi::push_dirent(
                &mut out,
                ino,
                EXTRA_OFF + idx as i64 + 1,
                *t,
                name.as_bytes(),
            );
            c.extra_next += 1;
        }
    }
    if out.is_empty() && full {
        return Err(Errno::INVAL);
    }
    Ok(out)
}

fn list_virtual(v: &VirtualDirObj, count: usize) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::new();
    let mut i = v.pos.get();
    while let Some((name, t)) = v.entries.get(i) {
        if out.len() + abi::dirent_len(name.len()) > count {
            if out.is_empty() {
                return Err(Errno::INVAL);
            }
            break;
        }
        let ino = vfs::virtual_ino(&v.guest_path.join(name));
        abi::push_dirent(&mut out, ino, i as i64 + 1, *t, name.as_bytes());
        i += 1;
    }
    v.pos.set(i);
    Ok(out)
}

pub fn getdents64(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let obj = ctx.process.fds.get(a[0])?;
    let count = (a[2] as u32 as usize).min(MAX_RW as usize);
    check_out(ctx, a[1], count)?;
    let out = match &*obj {
        Object::Dir(d) => list_host(d, count)?,
        Object::VirtualDir(v) => list_virtual(v, count)?,
        _ => return Err(Errno::NOTDIR.into()),
    };
    ctx.tunnel()
        .write(GuestPtr::new(a[1]), &out)
        .map_err(|_| Errno::FAULT)?;
    Ok(out.len() as u64)
}

// ---- links --------------------------------------------------------------

/// readlink: the link text, only for a link that resolves inside its rule
/// (followed beneath the root, or, when its target does not exist, a
/// relative text that stays below the root lexically). Others: EACCES.
fn do_readlink(ctx: &mut Ctx<'_>, dirfd: u64, path_ptr: u64, buf: u64, size: u64) -> SysResult {
    let size = size as u32 as i32;
    if size <= 0 {
        return Err(Errno::INVAL);
    }
    let g = guest_path(ctx, dirfd, path_ptr)?;
    let text = {
        let vfs = &ctx.process.vfs;
        match vfs.locate(&g, false)? {
            Located::Virtual(_) => return Err(Errno::INVAL),
            Located::Host(fd, real) => {
                if !StatInfo::from_host(&rustix::fs::fstat(&fd)?).is_symlink() {
                    return Err(Errno::INVAL);
                }
                let text = rustix::fs::readlinkat(&fd, "", Vec::new())?.into_bytes();
                match real.open(OFlags::PATH | OFlags::CLOEXEC, Mode::empty()) {
                    Ok(_) => {}
                    Err(e) if e == Errno::ACCESS || e == Errno::LOOP => return Err(Errno::ACCESS),
                    Err(_) => {
                        if !path::link_stays_inside(real.rest_dir(), &text) {
                            return Err(Errno::ACCESS);
                        }
                    }
                }
                text
            }
        }
    };
    let n = text.len().min(size as usize);
    ctx.tunnel()
        .write(GuestPtr::new(buf), &text[..n])
        .map_err(|_| Errno::FAULT)?;
    Ok(n as u64)
}

pub fn readlink(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_readlink(ctx, AT_FDCWD as u64, a[0], a[1], a[2])?)
}

pub fn readlinkat(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_readlink(ctx, a[0], a[1], a[2], a[3])?)
}

// ---- modification -------------------------------------------------------

/// Whether the object exists (not following a final symlink).
fn exists(real: &Real<'_>) -> bool {
    real.open(
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .is_ok()
}

fn do_unlink(ctx: &mut Ctx<'_>, dirfd: u64, path_ptr: u64, flags: u64) -> SysResult {
    if flags & !AT_REMOVEDIR != 0 {
        return Err(Errno::INVAL);
    }
    let g = guest_path(ctx, dirfd, path_ptr)?;
    let vfs = &ctx.process.vfs;
    if vfs.holds_a_root(&g.path) {
        return Err(Errno::BUSY);
    }
    let Node::Real(real) = vfs.resolve(&g.path)? else {
        return Err(Errno::BUSY);
    };
    if real.writable() && real.holds_protected() {
        return Err(Errno::BUSY);
    }
    if !real.writable() {
        return Err(if exists(&real) {
            Errno::ACCESS
        } else {
            Errno::NOENT
        });
    }
    let (parent, name) = real.parent()?;
    let at = if flags & AT_REMOVEDIR != 0 {
        AtFlags::REMOVEDIR
    } else {
        if g.must_be_dir {
            return Err(if exists(&real) {
                Errno::ISDIR
            } else {
                Errno::NOENT
            });
        }
        AtFlags::empty()
    };
    rustix::fs::unlinkat(&parent, name, at)?;
    Ok(0)
}

pub fn unlinkat(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_unlink(ctx, a[0], a[1], a[2])?)
}

pub fn unlink(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_unlink(ctx, AT_FDCWD as u64, a[0], 0)?)
}

pub fn rmdir(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_unlink(ctx, AT_FDCWD as u64, a[0], AT_REMOVEDIR)?)
}

fn do_mkdir(ctx: &mut Ctx<'_>, dirfd: u64, path_ptr: u64, mode: u64) -> SysResult {
    let g = guest_path(ctx, dirfd, path_ptr)?;
    let vfs = &ctx.process.vfs;
    let Node::Real(real) = vfs.resolve(&g.path)? else {
        return Err(Errno::EXIST);
    };
    if real.rest.as_os_str().is_empty() {
        return Err(Errno::EXIST);
    }
    if !real.writable() {
        return Err(if exists(&real) {
            Errno::EXIST
        } else {
            Errno::ACCESS
        });
    }
    let (parent, name) = real.parent()?;
    rustix::fs::mkdirat(
        &parent,
        name,
        Mode::from_bits_truncate(mode as u32 & 0o1777),
    )?;
    Ok(0)
}

pub fn mkdirat(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_mkdir(ctx, a[0], a[1], a[2])?)
}

pub fn mkdir(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_mkdir(ctx, AT_FDCWD as u64, a[0], a[1])?)
}

fn do_rename(ctx: &mut Ctx<'_>, od: u64, op: u64, nd: u64, np: u64, flags: u64) -> SysResult {
    let known = RenameFlags::NOREPLACE.bits() | RenameFlags::EXCHANGE.bits();
    if flags & !u64::from(known) != 0 || flags == u64::from(known) {
        return Err(Errno::INVAL);
    }
    let from = guest_path(ctx, od, op)?;
    let to = guest_path(ctx, nd, np)?;
    let vfs = &ctx.process.vfs;
    if vfs.holds_a_root(&from.path) || vfs.holds_a_root(&to.path) {
        return Err(Errno::BUSY);
    }
    let (Node::Real(a), Node::Real(b)) = (vfs.resolve(&from.path)?, vfs.resolve(&to.path)?) else {
        return Err(Errno::BUSY);
    };
    if (a.writable() && a.holds_protected()) || (b.writable() && b.holds_protected()) {
        return Err(Errno::BUSY);
    }
    if !a.writable() {
        return Err(if exists(&a) {
            Errno::ACCESS
        } else {
            Errno::NOENT
        });
    }
    if !b.writable() {
        return Err(Errno::ACCESS);
    }
    if a.index != b.index {
        return Err(Errno::XDEV);
    }
    let (pa, na) = a.parent()?;
    let (pb, nb) = b.parent()?;
    rustix::fs::renameat_with(
        &pa,
        na,
        &pb,
        nb,
        RenameFlags::from_bits_retain(flags as u32),
    )?;
    Ok(0)
}

pub fn rename(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_rename(
        ctx,
        AT_FDCWD as u64,
        a[0],
        AT_FDCWD as u64,
        a[1],
        0,
    )?)
}

pub fn renameat(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_rename(ctx, a[0], a[1], a[2], a[3], 0)?)
}

pub fn renameat2(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_rename(ctx, a[0], a[1], a[2], a[3], a[4] as u32 as u64)?)
}

pub fn ftruncate(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let obj = ctx.process.fds.get(a[0])?;
    if (a[1] as i64) < 0 {
        return Err(Errno::INVAL.into());
    }
    match &*obj {
        Object::File(f) if f.writable => {
            rustix::fs::ftruncate(&f.fd, a[1])?;
            Ok(0)
        }
        // Not open for writing, not a file in a rule (the runner's own
        // standard streams are never truncated).
        _ => Err(Errno::INVAL.into()),
    }
}

pub fn truncate(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let g = guest_path(ctx, AT_FDCWD as u64, a[0])?;
    if (a[1] as i64) < 0 {
        return Err(Errno::INVAL.into());
    }
    let vfs = &ctx.process.vfs;
    let real = match vfs.resolve(&g.path)? {
        Node::Virtual(_) => return Err(Errno::ISDIR.into()),
        Node::Real(r) => r,
    };
    if !real.writable() {
        return Err(if exists(&real) {
            Errno::ACCESS
        } else {
            Errno::NOENT
        }
        .into());
    }
    let fd = real.open(
        OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
        Mode::empty(),
    )?;
    rustix::fs::ftruncate(&fd, a[1])?;
    Ok(0)
}

fn do_sync(ctx: &mut Ctx<'_>, fd: u64, data_only: bool) -> SysResult {
    let obj = ctx.process.fds.get(fd)?;
    let host = match &*obj {
        Object::File(f) => f.fd.as_fd(),
        Object::Dir(d) => d.fd.as_fd(),
        Object::Stdio { host, .. } => host.as_fd(),
        _ => return Err(Errno::INVAL),
    };
    if data_only {
        rustix::fs::fdatasync(host)?;
    } else {
        rustix::fs::fsync(host)?;
    }
    Ok(0)
}

pub fn fsync(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_sync(ctx, a[0], false)?)
}

pub fn fdatasync(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_sync(ctx, a[0], true)?)
}

// ---- access, cwd ---------------------------------------------------------

const W_OK: u64 = 2;
const X_OK: u64 = 1;

/// access(2) answers for the policy: W_OK needs a read-write rule; X_OK
/// needs an execute bit (directories are always searchable); R_OK and F_OK
/// need the object to exist. Host ownership is not consulted.
fn do_access(ctx: &mut Ctx<'_>, dirfd: u64, path_ptr: u64, mode: u64, flags: u64) -> SysResult {
    if mode & !7 != 0 || flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::INVAL);
    }
    let g = guest_path(ctx, dirfd, path_ptr)?;
    let vfs = &ctx.process.vfs;
    match vfs.locate(&g, flags & AT_SYMLINK_NOFOLLOW == 0)? {
        Located::Virtual(_) => {
            if mode & W_OK != 0 {
                return Err(Errno::ACCESS);
            }
        }
        Located::Host(fd, real) => {
            if mode & W_OK != 0 && !real.writable() {
                return Err(Errno::ACCESS);
            }
            if mode & X_OK != 0 {
                let st = StatInfo::from_host(&rustix::fs::fstat(&fd)?);
                if !st.is_dir() && st.mode & 0o111 == 0 {
                    return Err(Errno::ACCESS);
                }
            }
        }
    }
    Ok(0)
}

pub fn access(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_access(ctx, AT_FDCWD as u64, a[0], a[1], 0)?)
}

pub fn faccessat(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_access(ctx, a[0], a[1], a[2], 0)?)
}

pub fn faccessat2(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_access(ctx, a[0], a[1], a[2], a[3])?)
}

pub fn getcwd(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let mut bytes = ctx.process.vfs.cwd().as_os_str().as_bytes().to_vec();
    bytes.push(0);
    if (a[1] as usize) < bytes.len() {
        return Err(Errno::RANGE.into());
    }
    ctx.tunnel()
        .write(GuestPtr::new(a[0]), &bytes)
        .map_err(|_| Errno::FAULT)?;
    Ok(bytes.len() as u64)
}

/// chdir: the cwd is kept as the normalized guest path (symlinks in it are
/// not resolved into their targets).
pub fn chdir(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let g = guest_path(ctx, AT_FDCWD as u64, a[0])?;
    match ctx.process.vfs.locate(&g, true)? {
        Located::Virtual(_) => {}
        Located::Host(fd, _) => {
            if !StatInfo::from_host(&rustix::fs::fstat(&fd)?).is_dir() {
                return Err(Errno::NOTDIR.into());
            }
        }
    }
    ctx.process.vfs.set_cwd(g.path);
    Ok(0)
}

pub fn fchdir(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let obj = ctx.process.fds.get(a[0])?;
    let p = obj.dir_path().cloned().ok_or(Errno::NOTDIR)?;
    ctx.process.vfs.set_cwd(p);
    Ok(0)
}

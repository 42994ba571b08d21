//! Changes to existing names and files: link/linkat, symlink/symlinkat (in
//! private trees), rename/renameat/renameat2,
//! truncate/ftruncate, fallocate, sync/syncfs/fsync/fdatasync; and access/faccessat/faccessat2,
//! which answer what the policy would let the guest do.

use super::exists;
use crate::abi::constants::{R_OK, W_OK, X_OK};
use crate::abi::layouts::StatInfo;
use crate::abi::Errno;
use crate::kernel::fds::Object;
use crate::syscalls::common::*;
use crate::syscalls::{file_pages, Args, Ctx, SyscallResult};
use crate::vfs::{Located, Node};
use rustix::fd::AsFd;
use rustix::fs::{Mode, OFlags, RenameFlags};
use std::os::unix::ffi::OsStrExt;

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

/// link/linkat: a second name for a file, both names inside one
/// read-write tree (a hard link cannot point anywhere new: it is the same
/// file). The existing name must be writable by the guest too: a link to a
/// file the guest may only read would let it change that file through the
/// new name (EPERM, as Linux's protected_hardlinks answers for a file one
/// may not write). Across trees: EXDEV. The new name counts against
/// `created_entries`. A final symlink in the old path is followed only
/// with AT_SYMLINK_FOLLOW, in the guest's namespace; the host call never
/// follows one. A link to a symlink itself would make a symlink the guest
/// could then move anywhere in the tree: the host's Landlock rules refuse
/// it (EACCES; Linux would make it). AT_EMPTY_PATH needs
/// CAP_DAC_READ_SEARCH: ENOENT.
fn do_link(ctx: &mut Ctx<'_>, od: u64, op: u64, nd: u64, np: u64, flags: u64) -> SysResult {
    const AT_SYMLINK_FOLLOW: u64 = 0x400;
    const AT_EMPTY_PATH: u64 = 0x1000;
    if flags & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::INVAL);
    }
    if flags & AT_EMPTY_PATH != 0 {
        return Err(Errno::NOENT);
    }
    let from = guest_path(ctx, od, op)?;
    let to = guest_path(ctx, nd, np)?;
    let vfs = &ctx.process.vfs;
    let old = if flags & AT_SYMLINK_FOLLOW != 0 {
        let target = vfs.follow_every_link(&from.path)?;
        vfs.resolve(&target)?
    } else {
        vfs.resolve(&from.path)?
    };
    let Node::Real(a) = old else {
        return Err(Errno::PERM);
    };
    if !exists(&a) {
        return Err(Errno::NOENT);
    }
    let Node::Real(b) = vfs.resolve(&to.path)? else {
        return Err(Errno::EXIST);
    };
    if !b.writable() {
        return Err(if exists(&b) {
            Errno::EXIST
        } else {
            Errno::ACCESS
        });
    }
    if !a.writable() {
        return Err(Errno::PERM);
    }
    if a.index != b.index {
        return Err(Errno::XDEV);
    }
    let (pa, na) = a.parent()?;
    let (pb, nb) = b.parent()?;
    ctx.kernel.created.take()?;
    if let Err(e) = rustix::fs::linkat(&pa, na, &pb, nb, rustix::fs::AtFlags::empty()) {
        ctx.kernel.created.give_back();
        return Err(e);
    }
    Ok(0)
}

/// symlink/symlinkat: a symbolic link in a private tree (`[[files]]`
/// `private = true`: made for the run and removed at its end), with any
/// target text. The runner follows links in the guest's namespace
/// (vfs/links.rs), so a link leads only to what the policy shows at its
/// target's guest path, with that path's access, wherever it is moved in
/// the tree. Elsewhere EPERM, as a file system without symbolic links
/// answers: a link left in a tree the host keeps could lead a host program
/// that follows it later anywhere on the host. An empty target is ENOENT,
/// as on Linux. The new name counts against `created_entries`.
fn do_symlink(ctx: &mut Ctx<'_>, target: u64, nd: u64, np: u64) -> SysResult {
    let text = read_path(ctx, target)?;
    if text.is_empty() {
        return Err(Errno::NOENT);
    }
    let to = guest_path(ctx, nd, np)?;
    let Node::Real(b) = ctx.process.vfs.resolve(&to.path)? else {
        return Err(Errno::EXIST);
    };
    if exists(&b) {
        return Err(Errno::EXIST);
    }
    if !b.writable() {
        return Err(Errno::ACCESS);
    }
    if !b.root.private {
        return Err(Errno::PERM);
    }
    let (pb, nb) = b.parent()?;
    ctx.kernel.created.take()?;
    let target = std::ffi::OsStr::from_bytes(&text);
    if let Err(e) = rustix::fs::symlinkat(target, &pb, nb) {
        ctx.kernel.created.give_back();
        return Err(e);
    }
    Ok(0)
}

pub fn symlink(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_symlink(ctx, a[0], AT_FDCWD as u64, a[1])?)
}

pub fn symlinkat(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_symlink(ctx, a[0], a[1], a[2])?)
}

pub fn link(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_link(
        ctx,
        AT_FDCWD as u64,
        a[0],
        AT_FDCWD as u64,
        a[1],
        0,
    )?)
}

pub fn linkat(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_link(ctx, a[0], a[1], a[2], a[3], a[4] as u32 as u64)?)
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
            file_pages::after_truncate(ctx, f.fd.as_fd(), a[1]);
            Ok(0)
        }
        // Not open for writing, not a file in a rule (the runner's own
        // standard streams are never truncated).
        _ => Err(Errno::INVAL.into()),
    }
}

/// fallocate(fd, mode, offset, len): mode 0 (allocate, growing the file)
/// and FALLOC_FL_KEEP_SIZE, by the host on a file opened for writing; the
/// allocation (`len` bytes of disk) counts against bytes_written whole or
/// not at all (EFBIG). The modes that change what the file holds (punch,
/// zero, collapse, insert a range) answer EOPNOTSUPP, as a file system
/// without them does: programs fall back to writing zeros.
pub fn fallocate(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    const KEEP_SIZE: u64 = 1;
    let (mode, offset, len) = (a[1] as u32 as u64, a[2] as i64, a[3] as i64);
    let obj = ctx.process.fds.get(a[0])?;
    let f = match &*obj {
        Object::File(f) if !f.writable => return Err(Errno::BADF.into()),
        Object::File(f) if f.memfd => return Err(Errno::OPNOTSUPP.into()),
        Object::File(f) => f,
        Object::Pipe(_) => return Err(Errno::SPIPE.into()),
        Object::Stdio { .. } | Object::Null { .. } => return Err(Errno::NODEV.into()),
        _ => return Err(Errno::NODEV.into()),
    };
    if offset < 0 || len <= 0 {
        return Err(Errno::INVAL.into());
    }
    if mode & !KEEP_SIZE != 0 {
        return Err(Errno::OPNOTSUPP.into());
    }
    if offset.checked_add(len).is_none() {
        return Err(Errno::FBIG.into());
    }
    let len = len as u64;
    if ctx.kernel.budget.grant(len)? < len {
        return Err(Errno::FBIG.into());
    }
    rustix::fs::fallocate(
        &f.fd,
        rustix::fs::FallocateFlags::from_bits_retain(mode as u32),
        offset as u64,
        len,
    )?;
    ctx.kernel.budget.consume(len);
    if mode & KEEP_SIZE == 0 {
        let size = rustix::fs::fstat(&f.fd)?.st_size.max(0) as u64;
        file_pages::after_truncate(ctx, f.fd.as_fd(), size);
    }
    Ok(0)
}

pub fn truncate(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let g = guest_path(ctx, AT_FDCWD as u64, a[0])?;
    if (a[1] as i64) < 0 {
        return Err(Errno::INVAL.into());
    }
    let vfs = &ctx.process.vfs;
    let real = match vfs.resolve_following(&g.path)? {
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
    file_pages::after_truncate(ctx, fd.as_fd(), a[1]);
    Ok(0)
}

/// sync: the file systems of the sandbox's read-write trees are synced
/// (host syncfs of each), not every file system of the host: a sandbox may
/// not make the whole host flush. Never fails, as on Linux.
pub fn sync(ctx: &mut Ctx<'_>, _: &Args) -> SyscallResult {
    for root in ctx.process.vfs.roots() {
        if root.access != sandbox_policy::FileAccess::ReadWrite || !root.is_dir {
            continue;
        }
        let dir = rustix::fs::openat(
            root.fd,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        );
        if let Ok(dir) = dir {
            let _ = rustix::fs::syncfs(&dir);
        }
    }
    Ok(0)
}

/// syncfs(fd): the host file system of a file or directory the process
/// holds; its other objects (pipes, sockets, standard streams, the
/// synthesized files) are on nothing the sandbox writes to disk: 0.
pub fn syncfs(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let obj = ctx.process.fds.get(a[0])?;
    match &*obj {
        Object::File(f) => rustix::fs::syncfs(&f.fd)?,
        Object::Dir(d) => rustix::fs::syncfs(&d.fd)?,
        _ => {}
    }
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

/// sync_file_range(fd, offset, nbytes, flags): checked as Linux checks it
/// (EINVAL for an unknown flag, a negative offset or length, or a range
/// past the largest offset; ESPIPE for what is not a file or directory),
/// then, when the flags ask for the range to be written, the whole file's
/// data is synced (more than asked, never less).
pub fn sync_file_range(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    /// SYNC_FILE_RANGE_WAIT_BEFORE | _WRITE | _WAIT_AFTER.
    const VALID: u64 = 0x7;
    const WRITE: u64 = 0x2;
    let (off, len, flags) = (a[1] as i64, a[2] as i64, a[3] as u32 as u64);
    let obj = ctx.process.fds.get(a[0])?;
    if flags & !VALID != 0 || off < 0 || len < 0 || off.checked_add(len).is_none() {
        return Err(Errno::INVAL.into());
    }
    if !matches!(&*obj, Object::File(_) | Object::Dir(_)) {
        return Err(Errno::SPIPE.into());
    }
    drop(obj);
    if flags & WRITE != 0 {
        do_sync(ctx, a[0], true)?;
    }
    Ok(0)
}

// ---- access -------------------------------------------------------------

/// access(2) answers for the policy: W_OK needs a read-write rule; X_OK
/// needs an execute bit (directories are always searchable); R_OK and F_OK
/// need the object to exist. Host ownership is not consulted.
fn do_access(ctx: &mut Ctx<'_>, dirfd: u64, path_ptr: u64, mode: u64, flags: u64) -> SysResult {
    if mode & !(R_OK | W_OK | X_OK) != 0
        || flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0
    {
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

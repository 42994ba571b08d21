//! Directories and the names in them: getdents64 (host listings with the
//! synthesized entries, and synthesized directories), readlink, unlink and
//! rmdir, mkdir, and the cwd (getcwd, chdir, fchdir).

use super::{check_out, exists};
use crate::abi::constants::{DT_BLK, DT_CHR, DT_DIR, DT_FIFO, DT_LNK, DT_REG, DT_SOCK, DT_UNKNOWN};
use crate::abi::constants::{S_IFCHR, S_IFDIR, S_IFIFO, S_IFREG};
use crate::abi::layouts::{DirentFormat, StatInfo};
use crate::abi::Errno;
use crate::kernel::fds::{DirObj, Object, VirtualDirObj};
use crate::syscalls::common::*;
use crate::syscalls::{Args, Ctx, SyscallResult};
use crate::tunnel::GuestPtr;
use crate::vfs::{self, Located, Node};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawDir, SeekFrom};
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::Ordering;

/// d_off of the synthesized entries appended to a host directory listing.
const EXTRA_OFF: i64 = 0x7fff_ffff_0000_0000;

// ---- listing ------------------------------------------------------------

fn d_type(t: FileType) -> u8 {
    match t {
        FileType::Fifo => DT_FIFO,
        FileType::CharacterDevice => DT_CHR,
        FileType::Directory => DT_DIR,
        FileType::BlockDevice => DT_BLK,
        FileType::RegularFile => DT_REG,
        FileType::Symlink => DT_LNK,
        FileType::Socket => DT_SOCK,
        _ => DT_UNKNOWN,
    }
}

/// One listing batch (records in `fmt`) from a host directory, then its synthesized
/// entries (rule paths below it that the host does not have).
fn list_host(d: &DirObj, count: usize, fmt: DirentFormat) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::new();
    let mut c = crate::kernel::lock(&d.cursor);
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
                    if out.len() + fmt.len(name.len()) > count {
                        full = true;
                        rewind = true;
                        break;
                    }
                    fmt.push(
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
            if out.len() + fmt.len(name.len()) > count {
                full = true;
                break;
            }
            let ino = vfs::virtual_ino(&d.guest_path.join(name));
            fmt.push(
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

fn list_virtual(v: &VirtualDirObj, count: usize, fmt: DirentFormat) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::new();
    let mut i = v.pos.load(Ordering::Relaxed);
    while let Some((name, t)) = v.entries.get(i) {
        if out.len() + fmt.len(name.len()) > count {
            if out.is_empty() {
                return Err(Errno::INVAL);
            }
            break;
        }
        let ino = vfs::virtual_ino(&v.guest_path.join(name));
        fmt.push(&mut out, ino, i as i64 + 1, *t, name.as_bytes());
        i += 1;
    }
    v.pos.store(i, Ordering::Relaxed);
    Ok(out)
}

pub fn getdents64(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    list(ctx, a, DirentFormat::Sixty4)
}

/// The original getdents: the same listing as `struct linux_dirent`
/// records (the type in each record's last byte).
pub fn getdents(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    list(ctx, a, DirentFormat::Legacy)
}

fn list(ctx: &mut Ctx<'_>, a: &Args, fmt: DirentFormat) -> SyscallResult {
    let obj = ctx.process.fds.get(a[0])?;
    let count = (a[2] as u32 as usize).min(MAX_RW as usize);
    check_out(ctx, a[1], count)?;
    let out = match &*obj {
        Object::Dir(d) => list_host(d, count, fmt)?,
        Object::VirtualDir(v) => list_virtual(v, count, fmt)?,
        _ => return Err(Errno::NOTDIR.into()),
    };
    ctx.tunnel()
        .write(GuestPtr::new(a[1]), &out)
        .map_err(|_| Errno::FAULT)?;
    Ok(out.len() as u64)
}

// ---- links --------------------------------------------------------------

/// readlink: the link's text, which is data of the granted tree (the
/// guest follows it in its own namespace: vfs/links.rs). A `/proc` magic
/// link's text would name host objects: EACCES.
fn do_readlink(ctx: &mut Ctx<'_>, dirfd: u64, path_ptr: u64, buf: u64, size: u64) -> SysResult {
    let size = size as u32 as i32;
    if size <= 0 {
        return Err(Errno::INVAL);
    }
    let g = guest_path(ctx, dirfd, path_ptr)?;
    let text = if super::procfs::covers(&g.path) {
        match super::procfs::lookup(ctx, &g.path, false)? {
            super::procfs::Node::Link(text) => text,
            _ => return Err(Errno::INVAL),
        }
    } else {
        let vfs = &ctx.process.vfs;
        match vfs.locate(&g, false)? {
            Located::Virtual(_) => return Err(Errno::INVAL),
            Located::Host(fd, _) => {
                if !StatInfo::from_host(&rustix::fs::fstat(&fd)?).is_symlink() {
                    return Err(Errno::INVAL);
                }
                if crate::vfs::on_procfs(&fd) {
                    return Err(Errno::ACCESS);
                }
                rustix::fs::readlinkat(&fd, "", Vec::new())?.into_bytes()
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

// ---- unlink, mkdir ------------------------------------------------------

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
    // A bound AF_UNIX path name has no host node (syscalls/unix.rs):
    // unlinking it forgets the name.
    if flags & AT_REMOVEDIR == 0 && !exists(&real) && ctx.kernel.unix_names.unlink_path(&real.guest)
    {
        return Ok(0);
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
    ctx.kernel.created.take()?;
    // No set-id or sticky bits (docs/policy.md): permission bits only,
    // without the process's umask.
    let mode = mode as u32 & 0o777 & !ctx.process.umask;
    if let Err(e) = rustix::fs::mkdirat(&parent, name, Mode::from_bits_truncate(mode)) {
        ctx.kernel.created.give_back();
        return Err(e);
    }
    Ok(0)
}

/// mknod and mknodat: a regular file (S_IFREG, or no type) in a
/// read-write tree, or a named pipe (S_IFIFO) in a private one, taking
/// one of `limits.created_entries`, with the permission bits less the
/// umask. A named pipe elsewhere is EPERM, as a symbolic link is: a FIFO
/// left in a tree the host keeps would make a host program that opens it
/// later wait forever. As Linux answers an unprivileged process: a
/// directory type is EPERM, an unknown one EINVAL, a device node EPERM
/// (CAP_MKNOD). What flows through a named pipe is the runner's
/// (kernel/fifos.rs). A socket file is EPERM too, reported: a socket's
/// path name is the sandbox's own (bind, syscalls/unix.rs), with no host
/// node.
fn do_mknod(ctx: &mut Ctx<'_>, dirfd: u64, path_ptr: u64, mode: u64) -> SysResult {
    const S_IFMT: u32 = 0o170_000;
    const S_IFBLK: u32 = 0o060_000;
    const S_IFSOCK: u32 = 0o140_000;
    let kind = mode as u32 & S_IFMT;
    match kind {
        0 | S_IFREG | S_IFIFO | S_IFCHR | S_IFBLK | S_IFSOCK => {}
        S_IFDIR => return Err(Errno::PERM),
        _ => return Err(Errno::INVAL),
    }
    let g = guest_path(ctx, dirfd, path_ptr)?;
    let vfs = &ctx.process.vfs;
    let Node::Real(real) = vfs.resolve(&g.path)? else {
        return Err(Errno::EXIST);
    };
    if real.rest.as_os_str().is_empty() || exists(&real) {
        return Err(Errno::EXIST);
    }
    if !real.writable() {
        return Err(Errno::ACCESS);
    }
    match kind {
        S_IFCHR | S_IFBLK => return Err(Errno::PERM),
        S_IFIFO if !real.root.private => return Err(Errno::PERM),
        S_IFSOCK => {
            if ctx.kernel.reports.first(MKNOD_SOCKET) {
                crate::say!("runner: mknod of a socket file is not supported (a named UNIX socket's path is the sandbox's own, made by bind, with no host node); returned EPERM");
            }
            return Err(Errno::PERM);
        }
        _ => {}
    }
    let (parent, name) = real.parent()?;
    ctx.kernel.created.take()?;
    let perm = Mode::from_bits_truncate(mode as u32 & 0o777 & !ctx.process.umask);
    let made = if kind == S_IFIFO {
        rustix::fs::mknodat(&parent, name, FileType::Fifo, perm, 0)
    } else {
        let create = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW;
        rustix::fs::openat(&parent, name, create | OFlags::CLOEXEC, perm).map(drop)
    };
    if let Err(e) = made {
        ctx.kernel.created.give_back();
        return Err(e);
    }
    Ok(0)
}

/// The report key of a socket file's mknod (not a syscall number).
const MKNOD_SOCKET: u64 = u64::MAX - 81;

pub fn mknod(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_mknod(ctx, AT_FDCWD as u64, a[0], a[1])?)
}

pub fn mknodat(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_mknod(ctx, a[0], a[1], a[2])?)
}

pub fn mkdirat(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_mkdir(ctx, a[0], a[1], a[2])?)
}

pub fn mkdir(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_mkdir(ctx, AT_FDCWD as u64, a[0], a[1])?)
}

// ---- cwd ----------------------------------------------------------------

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

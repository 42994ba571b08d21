//! File modes and times: umask, chmod/fchmod/fchmodat/fchmodat2 and
//! utimensat (and the older utime, utimes, futimesat) in read-write trees.
//!
//! - **umask** is the process's own (inherited at fork and execve, 022 at
//!   the start): open with O_CREAT and mkdir take it off the mode they
//!   give the host (where the runner's own umask applies as well).
//! - **chmod** changes the permission bits of a file or directory under a
//!   `"read-write"` rule (elsewhere EACCES, as every modification there).
//!   The set-user-ID, set-group-ID and sticky bits are dropped, as at
//!   creation: the runner may run as root, and a set-ID file it made would
//!   be a way out of the sandbox for whoever runs it on the host. The
//!   object is opened beneath the rule's root (read-only, or write-only
//!   when it cannot be read) and changed with `fchmod`: a file the guest
//!   can neither read nor write cannot have its mode changed (EACCES).
//!   A final symlink is followed (AT_SYMLINK_NOFOLLOW is EOPNOTSUPP, as
//!   Linux answers for a link).
//! - **utimensat** (`touch`, `cp -p`, `tar`) sets access and modification
//!   times the same way, under a read-write rule only: the guest's
//!   timespecs (UTIME_NOW, UTIME_OMIT, or NULL for now) through `futimens`.
//!   AT_SYMLINK_NOFOLLOW on a link is EOPNOTSUPP (a link's own times are
//!   not changed).

use crate::abi::constants::AT_FDCWD;
use crate::abi::Errno;
use crate::kernel::fds::Object;
use crate::syscalls::common::*;
use crate::syscalls::{Args, Ctx, SyscallResult};
use crate::vfs::Node;
use rustix::fs::{Mode, OFlags};

/// The permission bits a guest may set: no set-ID, no sticky bit.
const ALLOWED: u32 = 0o777;
const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
const AT_EMPTY_PATH: u64 = 0x1000;

pub fn umask(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let old = ctx.process.umask;
    ctx.process.umask = a[0] as u32 & 0o777;
    Ok(u64::from(old))
}

/// The object `path` (relative to `dirfd`; with AT_EMPTY_PATH and an
/// empty path, or a NULL path for utimensat, `dirfd` itself) opened for a
/// change of its metadata, if the guest may change it: under a read-write
/// rule, a final link followed.
enum Target {
    Opened(rustix::fd::OwnedFd),
    Descriptor(std::sync::Arc<Object>),
}

impl Target {
    fn with<T>(
        &self,
        f: impl FnOnce(rustix::fd::BorrowedFd<'_>) -> rustix::io::Result<T>,
    ) -> Result<T, Errno> {
        use rustix::fd::AsFd;
        match self {
            Target::Opened(fd) => Ok(f(fd.as_fd())?),
            Target::Descriptor(obj) => match &**obj {
                Object::File(file) => Ok(f(file.fd.as_fd())?),
                Object::Dir(dir) => Ok(f(dir.fd.as_fd())?),
                _ => Err(Errno::PERM),
            },
        }
    }
}

fn target(ctx: &mut Ctx<'_>, dirfd: u64, path: Option<u64>, flags: u64) -> Result<Target, Errno> {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::INVAL);
    }
    let raw = match path {
        Some(p) => read_path(ctx, p)?,
        None => Vec::new(),
    };
    if raw.is_empty() {
        if path.is_some() && flags & AT_EMPTY_PATH == 0 {
            return Err(Errno::NOENT);
        }
        let obj = ctx.process.fds.get(dirfd)?;
        let writable_tree = match &*obj {
            Object::File(f) => f.in_writable_tree,
            Object::Dir(d) => d.in_writable_tree,
            // Streams, pipes and the runner's own objects: not files the
            // policy lets the guest change.
            _ => return Err(Errno::PERM),
        };
        if !writable_tree {
            return Err(Errno::ACCESS);
        }
        return Ok(Target::Descriptor(obj));
    }
    if flags & AT_SYMLINK_NOFOLLOW != 0 {
        return Err(Errno::OPNOTSUPP);
    }
    let g = guest_path(ctx, dirfd, path.unwrap_or_default())?;
    let real = match ctx.process.vfs.resolve_following(&g.path)? {
        Node::Real(real) => real,
        Node::Virtual(_) => return Err(Errno::ACCESS),
    };
    if !real.writable() {
        return Err(if super::exists(&real) {
            Errno::ACCESS
        } else {
            Errno::NOENT
        });
    }
    let open = |access: OFlags| {
        real.open(
            access | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
            Mode::empty(),
        )
    };
    let fd = open(OFlags::RDONLY)
        .or_else(|e| {
            if e == Errno::ACCESS {
                open(OFlags::WRONLY)
            } else {
                Err(e)
            }
        })
        // A directory cannot be opened for writing (EISDIR): the read
        // refusal is the answer.
        .map_err(|e| if e == Errno::ISDIR { Errno::ACCESS } else { e })?;
    Ok(Target::Opened(fd))
}

fn do_chmod(ctx: &mut Ctx<'_>, dirfd: u64, path: Option<u64>, mode: u64, flags: u64) -> SysResult {
    let t = target(ctx, dirfd, path, flags)?;
    t.with(|fd| rustix::fs::fchmod(fd, Mode::from_bits_truncate(mode as u32 & ALLOWED)))?;
    Ok(0)
}

/// A guest timespec for utimensat: seconds and nanoseconds, the latter
/// below a second or UTIME_NOW / UTIME_OMIT.
fn read_time(ctx: &mut Ctx<'_>, at: u64) -> Result<rustix::fs::Timespec, Errno> {
    let mut b = [0u8; 16];
    ctx.tunnel()
        .read(crate::tunnel::GuestPtr::new(at), &mut b)
        .map_err(|_| Errno::FAULT)?;
    let word = |o: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[o..o + 8]);
        i64::from_le_bytes(w)
    };
    let (sec, nsec) = (word(0), word(8));
    let special = nsec == rustix::fs::UTIME_NOW || nsec == rustix::fs::UTIME_OMIT;
    if !special && !(0..1_000_000_000).contains(&nsec) {
        return Err(Errno::INVAL);
    }
    Ok(rustix::fs::Timespec {
        tv_sec: sec,
        tv_nsec: nsec as _,
    })
}

pub fn utimensat(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (dirfd, path, times, flags) = (a[0], a[1], a[2], a[3]);
    let now = rustix::fs::Timespec {
        tv_sec: 0,
        tv_nsec: rustix::fs::UTIME_NOW,
    };
    let stamps = if times == 0 {
        rustix::fs::Timestamps {
            last_access: now,
            last_modification: now,
        }
    } else {
        rustix::fs::Timestamps {
            last_access: read_time(ctx, times)?,
            last_modification: read_time(ctx, times.wrapping_add(16))?,
        }
    };
    // A NULL path is the descriptor itself (futimens).
    let t = target(ctx, dirfd, (path != 0).then_some(path), flags)?;
    t.with(|fd| rustix::fs::futimens(fd, &stamps))?;
    Ok(0)
}

/// A `struct timeval` (seconds, microseconds below a second) as a
/// timespec, for utimes and futimesat.
fn read_timeval(ctx: &mut Ctx<'_>, at: u64) -> Result<rustix::fs::Timespec, Errno> {
    let mut b = [0u8; 16];
    ctx.tunnel()
        .read(crate::tunnel::GuestPtr::new(at), &mut b)
        .map_err(|_| Errno::FAULT)?;
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    let sec = i64::from_le_bytes(w);
    w.copy_from_slice(&b[8..]);
    let usec = i64::from_le_bytes(w);
    if !(0..1_000_000).contains(&usec) {
        return Err(Errno::INVAL);
    }
    Ok(rustix::fs::Timespec {
        tv_sec: sec,
        tv_nsec: (usec * 1000) as _,
    })
}

/// The older time setters, as utimensat with their own formats: both
/// times now when the pointer is NULL.
fn set_times(
    ctx: &mut Ctx<'_>,
    dirfd: u64,
    path: Option<u64>,
    stamps: Option<(rustix::fs::Timespec, rustix::fs::Timespec)>,
) -> SysResult {
    let now = rustix::fs::Timespec {
        tv_sec: 0,
        tv_nsec: rustix::fs::UTIME_NOW,
    };
    let (last_access, last_modification) = stamps.unwrap_or((now, now));
    let stamps = rustix::fs::Timestamps {
        last_access,
        last_modification,
    };
    let t = target(ctx, dirfd, path, 0)?;
    t.with(|fd| rustix::fs::futimens(fd, &stamps))?;
    Ok(0)
}

/// utime(path, times): a `struct utimbuf` (access, modification: whole
/// seconds).
pub fn utime(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let stamps = if a[1] == 0 {
        None
    } else {
        let mut b = [0u8; 16];
        ctx.tunnel()
            .read(crate::tunnel::GuestPtr::new(a[1]), &mut b)
            .map_err(|_| Errno::FAULT)?;
        let second = |o: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[o..o + 8]);
            rustix::fs::Timespec {
                tv_sec: i64::from_le_bytes(w),
                tv_nsec: 0,
            }
        };
        Some((second(0), second(8)))
    };
    Ok(set_times(ctx, AT_FDCWD as u64, Some(a[0]), stamps)?)
}

/// utimes(path, times): two `struct timeval`s.
pub fn utimes(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    futimesat(ctx, &[AT_FDCWD as u64, a[0], a[1], 0, 0, 0])
}

/// futimesat(dirfd, path, times): utimes relative to `dirfd`; a NULL path
/// is `dirfd` itself.
pub fn futimesat(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let stamps = if a[2] == 0 {
        None
    } else {
        Some((
            read_timeval(ctx, a[2])?,
            read_timeval(ctx, a[2].wrapping_add(16))?,
        ))
    };
    Ok(set_times(ctx, a[0], (a[1] != 0).then_some(a[1]), stamps)?)
}

pub fn chmod(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_chmod(ctx, AT_FDCWD as u64, Some(a[0]), a[1], 0)?)
}

pub fn fchmodat(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    // fchmodat has no flags argument (glibc's AT_SYMLINK_NOFOLLOW goes to
    // fchmodat2).
    Ok(do_chmod(ctx, a[0], Some(a[1]), a[2], 0)?)
}

pub fn fchmodat2(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_chmod(ctx, a[0], Some(a[1]), a[2], a[3])?)
}

pub fn fchmod(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(do_chmod(ctx, a[0], None, a[1], 0)?)
}

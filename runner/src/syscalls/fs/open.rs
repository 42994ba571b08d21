//! open, openat and creat: the open flags, and the object a path opens
//! (a host file or directory, or a synthesized directory).

use crate::abi::constants::{
    DT_DIR, O_ACCMODE, O_APPEND, O_CLOEXEC, O_CREAT, O_DIRECT, O_DIRECTORY, O_DSYNC, O_EXCL,
    O_LARGEFILE, O_NOFOLLOW, O_NONBLOCK, O_PATH, O_RDONLY, O_RDWR, O_SYNC_BIT, O_TMPFILE_BIT,
    O_TRUNC, O_WRONLY,
};
use crate::abi::Errno;
use crate::kernel::fds::{Device, DirCursor, DirObj, FileObj, Object, Stream, VirtualDirObj};
use crate::kernel::fifos::{FifoId, FifoOpen, FifoWait};
use crate::syscalls::common::*;
use crate::syscalls::{file_pages, Args, Ctx, SyscallResult};
use crate::syscalls::{Stop, Wait};
use crate::vfs::{Node, Opened, Real, Vfs};
use rustix::fs::{Mode, OFlags};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::sync::Mutex;

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

fn virtual_dir(vfs: &Vfs, p: PathBuf) -> Object {
    let mut entries = vec![
        (OsString::from("."), DT_DIR),
        (OsString::from(".."), DT_DIR),
    ];
    entries.extend(vfs.children(&p));
    for extra in super::procfs::extra_entries(&p) {
        if !entries.iter().any(|(n, _)| *n == extra.0) {
            entries.push(extra);
        }
    }
    Object::VirtualDir(VirtualDirObj {
        guest_path: p,
        entries,
        pos: AtomicUsize::new(0),
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

/// The device file every guest has, with those of `Device::ALL`.
const DEV_NULL: &str = "/dev/null";

/// What an open comes to: a descriptor, or a named pipe to open.
enum Opening {
    Fd(u64),
    NamedPipe(FifoId),
}

fn open_at(ctx: &mut Ctx<'_>, dirfd: u64, path_ptr: u64, flags: u32, mode: u32) -> SyscallResult {
    // An open of a named pipe that waits runs again with the node it
    // found, as Linux's waits on the inode it resolved (the path may be
    // renamed or unlinked meanwhile).
    if let Some(pending) = ctx.thread.fifo_wait.take() {
        return open_named_pipe(ctx, pending.id(), flags, Some(pending));
    }
    match do_open(ctx, dirfd, path_ptr, flags, mode)? {
        Opening::Fd(fd) => Ok(fd),
        Opening::NamedPipe(id) => open_named_pipe(ctx, id, flags, None),
    }
}

fn do_open(
    ctx: &mut Ctx<'_>,
    dirfd: u64,
    path_ptr: u64,
    flags: u32,
    mode: u32,
) -> Result<Opening, Errno> {
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
    // A final link is followed, except with O_NOFOLLOW (ELOOP from the
    // host) and O_CREAT|O_EXCL (EEXIST), as on Linux.
    let follow = flags & O_NOFOLLOW == 0 && flags & (O_CREAT | O_EXCL) != (O_CREAT | O_EXCL);
    if super::procfs::covers(&g.path) {
        // The synthesized /proc: read-only.
        let node = super::procfs::lookup(ctx, &g.path, follow)?;
        if wants_write {
            return Err(Errno::ACCESS);
        }
        let obj = super::procfs::open(ctx, &g.path, node)?;
        return ctx
            .process
            .fds
            .insert(obj, flags & O_CLOEXEC != 0, 0)
            .map(Opening::Fd);
    }
    let mut named_pipe: Option<FifoId> = None;
    let vfs = &ctx.process.vfs;
    let node = if follow {
        vfs.resolve_following(&g.path)
    } else {
        vfs.resolve(&g.path)
    };
    let obj = match node {
        // /dev/null exists whatever the rules show (shells redirect
        // background jobs' stdin from it); a host /dev a rule shows is
        // never opened for it (host devices are not opened: `Real::open`).
        _ if g.path == std::path::Path::new(DEV_NULL) => Object::Null {
            stream: Stream::DevNull {
                read: acc != O_WRONLY,
                write: acc != O_RDONLY,
            },
        },
        // So do the other memory devices, answered by the runner.
        _ if Device::at(&g.path).is_some() => {
            let (device, minor) = Device::at(&g.path).ok_or(Errno::NOENT)?;
            Object::Device {
                device,
                minor,
                read: acc != O_WRONLY,
                write: acc != O_RDONLY,
            }
        }
        // `/` and `/dev` always exist (they hold /proc and the devices).
        Err(Errno::NOENT) if super::procfs::always_there(&g.path) => {
            open_virtual(vfs, g.path.clone(), flags)?
        }
        Err(e) => return Err(e),
        Ok(Node::Virtual(p)) => open_virtual(vfs, p, flags)?,
        Ok(Node::Real(real)) => {
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
                Mode::from_bits_truncate(mode & 0o777 & !ctx.process.umask)
            } else {
                Mode::empty()
            };
            let opened = if host.contains(OFlags::CREATE) {
                open_counted(&mut ctx.kernel.created, &real, host, mode)
            } else {
                real.open_file(host, mode)
            };
            match opened {
                Ok(Opened::Fd(fd, is_dir)) => host_object(vfs, fd, is_dir, &real, acc)?,
                Ok(Opened::NamedPipe(dev, ino)) => {
                    if flags & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL {
                        return Err(Errno::EXIST);
                    }
                    if acc != O_RDONLY && !real.writable() {
                        return Err(Errno::ACCESS);
                    }
                    named_pipe = Some((dev, ino));
                    Object::Null {
                        stream: Stream::DevNull {
                            read: false,
                            write: false,
                        },
                    }
                }
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
    if let Object::File(f) = &obj {
        if flags & O_TRUNC != 0 && !ctx.kernel.shared_pages.is_empty() {
            let size = rustix::fs::fstat(&f.fd)?.st_size.max(0) as u64;
            file_pages::after_truncate(ctx, rustix::fd::AsFd::as_fd(&f.fd), size);
        }
    }
    if let Some(id) = named_pipe {
        return Ok(Opening::NamedPipe(id));
    }
    ctx.process
        .fds
        .insert(Arc::new(obj), flags & O_CLOEXEC != 0, 0)
        .map(Opening::Fd)
}

/// Opens the named pipe `id` (kernel/fifos.rs): the runner's pipe for
/// it, after the other side opened if the open must wait for it.
fn open_named_pipe(
    ctx: &mut Ctx<'_>,
    id: FifoId,
    flags: u32,
    pending: Option<FifoWait>,
) -> SyscallResult {
    let acc = flags & O_ACCMODE;
    if acc == O_RDWR {
        // One descriptor that reads and writes a pipe is not emulated.
        if ctx.kernel.reports.first(NAMED_PIPE_RDWR) {
            crate::say!("runner: a named pipe opened O_RDWR is not supported; returned EINVAL");
        }
        return Err(Errno::INVAL.into());
    }
    // Like Linux, a descriptor is reserved before the other side hears
    // of this end.
    if !ctx.process.fds.has_room() {
        return Err(Errno::MFILE.into());
    }
    let nonblocking = flags & O_NONBLOCK != 0;
    let pipes = ctx.kernel.pipes.clone();
    match ctx
        .kernel
        .fifos
        .open(id, acc == O_WRONLY, flags, nonblocking, pending, &pipes)
    {
        FifoOpen::Ready(end) => {
            Ok(ctx
                .process
                .fds
                .insert(Arc::new(Object::Pipe(end)), flags & O_CLOEXEC != 0, 0)?)
        }
        FifoOpen::NoReader => Err(Errno::NXIO.into()),
        FifoOpen::Wait(w) => {
            ctx.thread.fifo_wait = Some(w);
            Err(Stop::Block(Wait::Retry))
        }
    }
}

/// The report key of a named pipe's O_RDWR open (not a syscall number).
const NAMED_PIPE_RDWR: u64 = u64::MAX - 80;

/// Opens with O_CREAT, taking one of `limits.created_entries` when (and
/// only when) a new file is made: O_CREAT|O_EXCL first (made: counted),
/// then, if the name exists and the caller did not ask for O_EXCL, the
/// existing file without O_CREAT.
fn open_counted(
    created: &mut crate::kernel::budget::CreateBudget,
    real: &Real<'_>,
    host: OFlags,
    mode: Mode,
) -> Result<Opened, Errno> {
    if let Err(quota) = created.take() {
        // Nothing may be made; an existing file still opens.
        // (openat2 refuses a mode without O_CREAT.)
        return match real.open_file(host - OFlags::CREATE, Mode::empty()) {
            Err(Errno::NOENT) if !host.contains(OFlags::EXCL) => Err(quota),
            Ok(_) if host.contains(OFlags::EXCL) => Err(Errno::EXIST),
            Err(Errno::NOENT) => Err(quota),
            other => other,
        };
    }
    match real.open_file(host | OFlags::EXCL, mode) {
        // A named pipe was there: nothing was made.
        Ok(Opened::NamedPipe(dev, ino)) => {
            created.give_back();
            Ok(Opened::NamedPipe(dev, ino))
        }
        Ok(fd) => Ok(fd),
        Err(Errno::EXIST) if !host.contains(OFlags::EXCL) => {
            created.give_back();
            real.open_file(host - OFlags::CREATE, Mode::empty())
        }
        Err(e) => {
            created.give_back();
            Err(e)
        }
    }
}

/// The object for `fd`, opened at `real`: a directory (`is_dir`, as the
/// open found it) or a file.
fn host_object(
    vfs: &Vfs,
    fd: rustix::fd::OwnedFd,
    is_dir: bool,
    real: &Real<'_>,
    acc: u32,
) -> Result<Object, Errno> {
    if is_dir {
        let mut extras = vfs.children(&real.guest);
        // A rule for `/` (a root tree): the synthesized /dev and /proc
        // are listed as its mount points would be.
        for extra in super::procfs::extra_entries(&real.guest) {
            if !extras.iter().any(|(n, _)| *n == extra.0) {
                extras.push(extra);
            }
        }
        Ok(Object::Dir(DirObj {
            fd,
            in_writable_tree: real.writable(),
            guest_path: real.guest.clone(),
            extras,
            cursor: Mutex::new(DirCursor::default()),
        }))
    } else {
        Ok(Object::File(FileObj {
            fd,
            readable: acc != O_WRONLY,
            writable: acc != O_RDONLY,
            exec: real.root.exec,
            in_writable_tree: real.writable(),
            memfd: false,
            guest_path: real.guest.clone(),
        }))
    }
}

pub fn openat(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    open_at(ctx, a[0], a[1], a[2] as u32, a[3] as u32)
}

pub fn open(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    open_at(ctx, AT_FDCWD as u64, a[0], a[1] as u32, a[2] as u32)
}

pub fn creat(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    open_at(
        ctx,
        AT_FDCWD as u64,
        a[0],
        O_CREAT | O_WRONLY | O_TRUNC,
        a[1] as u32,
    )
}

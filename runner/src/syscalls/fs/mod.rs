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
//!
//! The handlers by job, re-exported here as `fs::NAME` for the syscall
//! table: `open` (open/openat/creat and the flags), `stat` (the stat family
//! and statx), `dirs` (getdents64, mkdir, unlink/rmdir, readlink, the cwd),
//! `change` (rename, truncate, fsync, access), and `watch` (what an
//! inotify watch may be placed on).

mod change;
mod dirs;
mod modes;
mod open;
mod owners;
mod procfs;
mod stat;
mod statfs;
mod watch;

pub use change::{
    access, faccessat, faccessat2, fallocate, fdatasync, fsync, ftruncate, link, linkat, rename,
    renameat, renameat2, symlink, symlinkat, sync, sync_file_range, syncfs, truncate,
};
pub use dirs::{
    chdir, fchdir, getcwd, getdents, getdents64, mkdir, mkdirat, mknod, mknodat, readlink,
    readlinkat, rmdir, unlink, unlinkat,
};
pub use modes::{chmod, fchmod, fchmodat, fchmodat2, futimesat, umask, utime, utimensat, utimes};
pub use open::{creat, open, openat};
pub use owners::{chown, fchown, fchownat, lchown};
pub use stat::{fstat, lstat, newfstatat, stat, statx};
pub use statfs::{fstatfs, statfs};
pub use watch::watched_object;

use super::Ctx;
use crate::abi::Errno;
use crate::tunnel::{Access, GuestPtr};
use crate::vfs::Real;
use rustix::fs::{Mode, OFlags};

/// `EFAULT` unless `len` bytes at `buf` are writable guest memory.
fn check_out(ctx: &mut Ctx<'_>, buf: u64, len: usize) -> Result<(), Errno> {
    ctx.tunnel()
        .check(GuestPtr::new(buf), len as u64, Access::Write)
        .map(|_| ())
        .map_err(|_| Errno::FAULT)
}

/// Whether the object exists (not following a final symlink).
pub(in crate::syscalls) fn exists(real: &Real<'_>) -> bool {
    real.open(
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .is_ok()
}

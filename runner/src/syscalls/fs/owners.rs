//! chown, fchown, lchown and fchownat, as for an unprivileged user (the
//! guest has no CAP_CHOWN): a call that changes nothing succeeds, any
//! change is EPERM. What the guest owns is what stat shows it owning:
//! everything under a `"read-write"` rule (and its own pipes, sockets and
//! other descriptors); there it may "change" the owner to itself and the
//! group to its own. Elsewhere only `-1, -1` (no change at all) succeeds.
//! The host file is never touched: its owner on the host stays the
//! runner's.

use crate::abi::constants::AT_FDCWD;
use crate::abi::Errno;
use crate::kernel::fds::Object;
use crate::syscalls::common::*;
use crate::syscalls::{Args, Ctx, SyscallResult};
use crate::vfs::Node;

const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
const AT_EMPTY_PATH: u64 = 0x1000;
/// "Leave it as it is".
const UNCHANGED: u32 = u32::MAX;

/// Whether the guest owns what the call names.
fn owned_by_guest_fd(ctx: &Ctx<'_>, fd: u64) -> Result<bool, Errno> {
    let obj = ctx.process.fds.get(fd)?;
    Ok(match &*obj {
        Object::File(f) => f.in_writable_tree,
        Object::Dir(d) => d.in_writable_tree,
        _ => true,
    })
}

fn owned_by_guest_path(
    ctx: &mut Ctx<'_>,
    dirfd: u64,
    path: u64,
    follow: bool,
) -> Result<bool, Errno> {
    let g = guest_path(ctx, dirfd, path)?;
    let vfs = &ctx.process.vfs;
    let node = if follow {
        vfs.resolve_following(&g.path)?
    } else {
        vfs.resolve(&g.path)?
    };
    match node {
        Node::Virtual(_) => Ok(false),
        Node::Real(real) => {
            if !super::exists(&real) {
                return Err(Errno::NOENT);
            }
            Ok(real.writable())
        }
    }
}

/// The answer for an owner `owned` (the guest's or not) and the call's
/// `uid` and `gid`.
fn answer(ctx: &Ctx<'_>, owned: bool, uid: u64, gid: u64) -> SyscallResult {
    let (uid, gid) = (uid as u32, gid as u32);
    let id = &ctx.process.identity;
    let nothing = uid == UNCHANGED && gid == UNCHANGED;
    let to_itself = (uid == UNCHANGED || u64::from(uid) == id.uid)
        && (gid == UNCHANGED || u64::from(gid) == id.gid);
    if nothing || (owned && to_itself) {
        Ok(0)
    } else {
        Err(Errno::PERM.into())
    }
}

pub fn chown(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let owned = owned_by_guest_path(ctx, AT_FDCWD as u64, a[0], true)?;
    answer(ctx, owned, a[1], a[2])
}

pub fn lchown(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let owned = owned_by_guest_path(ctx, AT_FDCWD as u64, a[0], false)?;
    answer(ctx, owned, a[1], a[2])
}

pub fn fchown(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let owned = owned_by_guest_fd(ctx, a[0])?;
    answer(ctx, owned, a[1], a[2])
}

/// fchownat(dirfd, path, uid, gid, flags).
pub fn fchownat(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let flags = a[4];
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::INVAL.into());
    }
    let raw = read_path(ctx, a[1])?;
    let owned = if raw.is_empty() {
        if flags & AT_EMPTY_PATH == 0 {
            return Err(Errno::NOENT.into());
        }
        owned_by_guest_fd(ctx, a[0])?
    } else {
        owned_by_guest_path(ctx, a[0], a[1], flags & AT_SYMLINK_NOFOLLOW == 0)?
    };
    answer(ctx, owned, a[2], a[3])
}

//! What an inotify watch may be placed on (syscalls/inotify.rs): the host
//! object a guest path names inside a rule, found as every path call finds
//! it (an `O_PATH` descriptor opened beneath the rule's root, links
//! followed in the guest's namespace), and only a directory, a regular
//! file or a symbolic link.
//!
//! Everything the runner makes up itself is refused with EACCES, as a
//! directory the caller may not read would be: a synthesized ancestor of
//! rule paths (its host counterpart lists names the policy does not show;
//! the synthesized one never changes), the synthesized `/proc`, and the
//! devices every guest has. So are device nodes, FIFOs and sockets in a
//! granted tree, which the runner never opens for I/O either (`Real::open`).

use super::stat::devices;
use super::{procfs, Ctx};
use crate::abi::Errno;
use crate::vfs::path::GuestPath;
use crate::vfs::Located;
use rustix::fd::OwnedFd;
use rustix::fs::FileType;

/// An `O_PATH` descriptor of the object `g` names (a final link followed
/// when `follow`) and its host metadata, when a watch may be placed on it.
pub fn watched_object(
    ctx: &Ctx<'_>,
    g: &GuestPath,
    follow: bool,
) -> Result<(OwnedFd, rustix::fs::Stat), Errno> {
    if procfs::covers(&g.path) {
        procfs::lookup(ctx, &g.path, follow)?;
        return Err(Errno::ACCESS);
    }
    if devices(&g.path).is_some() {
        return Err(Errno::ACCESS);
    }
    match ctx.process.vfs.locate(g, follow) {
        Ok(Located::Host(fd, _)) => {
            let st = rustix::fs::fstat(&fd)?;
            match FileType::from_raw_mode(st.st_mode) {
                FileType::Directory | FileType::RegularFile | FileType::Symlink => Ok((fd, st)),
                _ => Err(Errno::ACCESS),
            }
        }
        Ok(Located::Virtual(_)) => Err(Errno::ACCESS),
        Err(Errno::NOENT) if procfs::always_there(&g.path) => Err(Errno::ACCESS),
        Err(e) => Err(e),
    }
}

//! memfd_create: an anonymous file in memory, as on Linux: read, write,
//! lseek, ftruncate, fstat and mmap (MAP_SHARED mappings of it are its
//! shared pages: two mappings, in one process or across a fork, are one
//! memory) work as on any file of a read-write tree.
//!
//! The file is a host memfd the runner makes: host memory. A write to it
//! needs room in `bytes_written` for every page it may fill, and is
//! charged what the memfd's allocation grew (a 1-byte write to a new page
//! costs the page: sparse writes cannot make the host hold more than the
//! budget), as are the pages a shared mapping writes back; each one is a
//! descriptor of `open_files`; it names no host path. `sendfile` into one
//! is EINVAL (callers fall back to read and write). Not emulated: sealing
//! (MFD_ALLOW_SEALING is accepted, F_ADD_SEALS refused), huge pages
//! (MFD_HUGETLB: EINVAL), and mapping it executable (no rule makes it
//! code: PROT_EXEC is EPERM, as for files under rules without `-exec`).

use super::{Args, Ctx, SyscallResult};
use crate::abi::Errno;
use crate::kernel::fds::{FileObj, Object};
use crate::tunnel::{GuestPtr, TunnelError};
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::sync::Arc;

const MFD_CLOEXEC: u64 = 0x1;
const MFD_ALLOW_SEALING: u64 = 0x2;
const MFD_NOEXEC_SEAL: u64 = 0x8;
const MFD_EXEC: u64 = 0x10;
/// The longest name Linux takes (249 bytes, "memfd:" making 255).
const NAME_MAX: usize = 249;

pub fn memfd_create(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let flags = a[1];
    if flags & !(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL | MFD_EXEC) != 0
        || flags & (MFD_NOEXEC_SEAL | MFD_EXEC) == (MFD_NOEXEC_SEAL | MFD_EXEC)
    {
        return Err(Errno::INVAL.into());
    }
    let name = match ctx.tunnel().read_cstring(GuestPtr::new(a[0]), NAME_MAX) {
        Ok(n) => n,
        Err(TunnelError::TooLong(_)) => return Err(Errno::INVAL.into()),
        Err(TunnelError::Fault(_)) => return Err(Errno::FAULT.into()),
    };
    if !ctx.process.fds.has_room() {
        return Err(Errno::MFILE.into());
    }
    let fd = rustix::fs::memfd_create("thinvisor-guest", rustix::fs::MemfdFlags::CLOEXEC)?;
    let mut guest_path = b"/memfd:".to_vec();
    guest_path.extend_from_slice(&name);
    // What /proc/self/fd shows for it, as on Linux.
    guest_path.extend_from_slice(b" (deleted)");
    let obj = Object::File(FileObj::memfd(
        fd,
        PathBuf::from(OsString::from_vec(guest_path)),
    ));
    ctx.process
        .fds
        .insert(Arc::new(obj), flags & MFD_CLOEXEC != 0, 0)
        .map_err(Into::into)
}

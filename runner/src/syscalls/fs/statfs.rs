//! statfs and fstatfs: the file system a guest path or descriptor lies on.
//!
//! A host object reports its host file system as `fstatfs` sees it (type,
//! sizes, free space, name length, mount flags), as for `stat`, which shows
//! the host's sizes too. A synthesized directory, a stream, a pipe or
//! another runner object reports an empty, read-only file system of the
//! type Linux gives anonymous inodes and pipes (`PIPEFS_MAGIC`, and
//! `TMPFS_MAGIC` for synthesized directories, `PROC_SUPER_MAGIC` for the
//! synthesized `/proc`). `f_fsid` is 0.

use super::check_out;
use crate::abi::Errno;
use crate::kernel::fds::Object;
use crate::syscalls::common::*;
use crate::syscalls::{Args, Ctx, SyscallResult};
use crate::tunnel::GuestPtr;
use crate::vfs::Located;

/// sizeof(struct statfs) on x86-64.
const STATFS_SIZE: usize = 120;
const TMPFS_MAGIC: u64 = 0x0102_1994;
const PIPEFS_MAGIC: u64 = 0x5049_5045;
const PROC_SUPER_MAGIC: u64 = 0x9fa0;
/// ST_RDONLY.
const ST_RDONLY: u64 = 1;

/// The fields the guest sees, in `struct statfs` order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct FsInfo {
    kind: u64,
    block_size: u64,
    blocks: u64,
    blocks_free: u64,
    blocks_avail: u64,
    files: u64,
    files_free: u64,
    fsid: [u32; 2],
    name_len: u64,
    fragment_size: u64,
    flags: u64,
}

impl FsInfo {
    fn host(s: &rustix::fs::StatFs) -> FsInfo {
        FsInfo {
            kind: s.f_type as u64,
            block_size: s.f_bsize as u64,
            blocks: s.f_blocks,
            blocks_free: s.f_bfree,
            blocks_avail: s.f_bavail,
            files: s.f_files,
            files_free: s.f_ffree,
            // rustix keeps the host's file-system id private: none shown.
            fsid: [0, 0],
            name_len: s.f_namelen as u64,
            fragment_size: s.f_frsize as u64,
            flags: s.f_flags as u64,
        }
    }

    fn synthesized(kind: u64) -> FsInfo {
        FsInfo {
            kind,
            block_size: 4096,
            name_len: 255,
            fragment_size: 4096,
            flags: ST_RDONLY,
            ..FsInfo::default()
        }
    }

    fn bytes(&self) -> [u8; STATFS_SIZE] {
        let mut b = [0u8; STATFS_SIZE];
        let words = [
            self.kind,
            self.block_size,
            self.blocks,
            self.blocks_free,
            self.blocks_avail,
            self.files,
            self.files_free,
            u64::from(self.fsid[0]) | u64::from(self.fsid[1]) << 32,
            self.name_len,
            self.fragment_size,
            self.flags,
        ];
        for (i, w) in words.iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        b
    }
}

fn put(ctx: &mut Ctx<'_>, buf: u64, info: &FsInfo) -> SysResult {
    ctx.tunnel()
        .write(GuestPtr::new(buf), &info.bytes())
        .map_err(|_| Errno::FAULT)?;
    Ok(0)
}

pub fn statfs(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    check_out(ctx, a[1], STATFS_SIZE)?;
    let g = guest_path(ctx, AT_FDCWD as u64, a[0])?;
    // The synthesized /proc (what /proc/mounts lists besides the rules).
    if super::procfs::covers(&g.path) {
        super::procfs::lookup(ctx, &g.path, true)?;
        return Ok(put(ctx, a[1], &FsInfo::synthesized(PROC_SUPER_MAGIC))?);
    }
    let info = match ctx.process.vfs.locate(&g, true)? {
        Located::Virtual(_) => FsInfo::synthesized(TMPFS_MAGIC),
        Located::Host(fd, _) => FsInfo::host(&rustix::fs::fstatfs(&fd)?),
    };
    Ok(put(ctx, a[1], &info)?)
}

pub fn fstatfs(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let obj = ctx.process.fds.get(a[0])?;
    check_out(ctx, a[1], STATFS_SIZE)?;
    let info = match &*obj {
        Object::VirtualDir(_) => FsInfo::synthesized(TMPFS_MAGIC),
        other => match other.host_fd() {
            Some(fd) if !matches!(other, Object::Stdio { .. }) => {
                FsInfo::host(&rustix::fs::fstatfs(fd)?)
            }
            _ => FsInfo::synthesized(PIPEFS_MAGIC),
        },
    };
    Ok(put(ctx, a[1], &info)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_linuxs() {
        let b = FsInfo {
            kind: TMPFS_MAGIC,
            fsid: [1, 2],
            flags: ST_RDONLY,
            ..FsInfo::default()
        }
        .bytes();
        assert_eq!(&b[0..8], &TMPFS_MAGIC.to_le_bytes());
        assert_eq!(&b[56..64], &(1u64 | 2 << 32).to_le_bytes());
        assert_eq!(&b[80..88], &1u64.to_le_bytes());
        assert!(b[88..].iter().all(|&x| x == 0));
    }
}

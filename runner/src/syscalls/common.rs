//! Helpers shared by the file and socket handlers: errno plumbing, guest
//! paths and iovec arrays read through the tunnel, host fds as std I/O.

use super::Ctx;
pub use super::{Stop, SyscallResult};
use crate::abi::constants::PATH_MAX;
pub use crate::abi::constants::{
    AT_EACCESS, AT_EMPTY_PATH, AT_FDCWD, AT_NO_AUTOMOUNT, AT_REMOVEDIR, AT_STATX_SYNC_TYPE,
    AT_SYMLINK_NOFOLLOW, MAX_IOV, MAX_RW,
};
use crate::abi::layouts as abi;
use crate::abi::Errno;
use crate::tunnel::{Access, GuestPtr};
use crate::vfs::path::{self, GuestPath, PathError};
use rustix::fd::BorrowedFd;
use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::path::PathBuf;

/// A helper's result that can only fail with an errno.
pub type SysResult = Result<u64, Errno>;

/// The errno of a host I/O error (EIO if it has none).
pub fn host_errno(e: &std::io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::IO, Errno::from_raw_os_error)
}

/// A host I/O result as a syscall result.
pub fn host_io(r: std::io::Result<usize>) -> SysResult {
    r.map(|n| n as u64).map_err(|e| host_errno(&e))
}

/// A guest path string (NUL-terminated, at most PATH_MAX with the NUL).
pub fn read_path(ctx: &mut Ctx<'_>, ptr: u64) -> Result<Vec<u8>, Errno> {
    match ctx.tunnel().read_cstring(GuestPtr::new(ptr), PATH_MAX - 1) {
        Ok(p) => Ok(p),
        Err(crate::tunnel::TunnelError::TooLong(_)) => Err(Errno::NAMETOOLONG),
        Err(crate::tunnel::TunnelError::Fault(_)) => Err(Errno::FAULT),
    }
}

/// The guest directory a `*at` path is relative to: the cwd for
/// `AT_FDCWD`, else the guest path of directory fd `dirfd`.
pub fn base_dir(ctx: &Ctx<'_>, dirfd: u64) -> Result<PathBuf, Errno> {
    if dirfd as u32 as i32 == AT_FDCWD {
        return Ok(ctx.process.vfs.cwd().to_path_buf());
    }
    let obj = ctx.process.fds.get(dirfd)?;
    obj.dir_path().cloned().ok_or(Errno::NOTDIR)
}

/// Reads and normalizes the path at `ptr`, relative to `dirfd`.
pub fn guest_path(ctx: &mut Ctx<'_>, dirfd: u64, ptr: u64) -> Result<GuestPath, Errno> {
    let raw = read_path(ctx, ptr)?;
    let base = if raw.first() == Some(&b'/') {
        PathBuf::from("/")
    } else {
        base_dir(ctx, dirfd)?
    };
    path::normalize(&base, &raw).map_err(|e| match e {
        PathError::Empty => Errno::NOENT,
        PathError::TooLong => Errno::NAMETOOLONG,
    })
}

/// Reads an iovec array and checks every buffer for `access` before
/// anything is done. The total is capped at MAX_RW (as Linux does).
pub fn read_iovecs(
    ctx: &mut Ctx<'_>,
    iov: u64,
    count: u64,
    access: Access,
) -> Result<Vec<(GuestPtr, u64)>, Errno> {
    if count > MAX_IOV {
        return Err(Errno::INVAL);
    }
    let mut raw = vec![0u8; count as usize * abi::IOVEC_SIZE];
    ctx.tunnel()
        .read(GuestPtr::new(iov), &mut raw)
        .map_err(|_| Errno::FAULT)?;
    let mut total: u64 = 0;
    let mut parts = Vec::with_capacity(count as usize);
    for chunk in raw.chunks_exact(abi::IOVEC_SIZE) {
        let (base, len) = abi::iovec(chunk);
        total = match total.checked_add(len) {
            Some(t) if t <= i64::MAX as u64 => t,
            _ => return Err(Errno::INVAL),
        };
        ctx.tunnel()
            .check(GuestPtr::new(base), len, access)
            .map_err(|_| Errno::FAULT)?;
        parts.push((GuestPtr::new(base), len));
    }
    Ok(clamp(&parts, MAX_RW))
}

/// One guest buffer as a checked part list.
pub fn one_buffer(
    ctx: &mut Ctx<'_>,
    ptr: u64,
    len: u64,
    access: Access,
) -> Result<Vec<(GuestPtr, u64)>, Errno> {
    let len = len.min(MAX_RW);
    ctx.tunnel()
        .check(GuestPtr::new(ptr), len, access)
        .map_err(|_| Errno::FAULT)?;
    Ok(vec![(GuestPtr::new(ptr), len)])
}

/// The first `max` bytes of `parts`.
pub fn clamp(parts: &[(GuestPtr, u64)], max: u64) -> Vec<(GuestPtr, u64)> {
    let mut left = max;
    let mut out = Vec::with_capacity(parts.len());
    for &(p, len) in parts {
        if left == 0 {
            break;
        }
        let n = len.min(left);
        out.push((p, n));
        left -= n;
    }
    out
}

pub fn total(parts: &[(GuestPtr, u64)]) -> u64 {
    parts.iter().map(|p| p.1).sum()
}

/// Copies `data` into the start of `parts`.
pub fn scatter(ctx: &mut Ctx<'_>, parts: &[(GuestPtr, u64)], data: &[u8]) -> Result<(), Errno> {
    let mut at = 0usize;
    for &(ptr, len) in parts {
        if at == data.len() {
            break;
        }
        let k = (len as usize).min(data.len() - at);
        ctx.tunnel()
            .write(ptr, &data[at..at + k])
            .map_err(|_| Errno::FAULT)?;
        at += k;
    }
    Ok(())
}

/// Writes `data` into `parts` from byte `skip` of them on (as far as they
/// go).
pub fn write_parts_at(
    ctx: &mut Ctx<'_>,
    parts: &[(GuestPtr, u64)],
    mut skip: u64,
    mut data: &[u8],
) -> Result<(), Errno> {
    for &(ptr, len) in parts {
        if data.is_empty() {
            break;
        }
        if skip >= len {
            skip -= len;
            continue;
        }
        let k = ((len - skip) as usize).min(data.len());
        let at = ptr.checked_add(skip).ok_or(Errno::FAULT)?;
        ctx.tunnel()
            .write(at, &data[..k])
            .map_err(|_| Errno::FAULT)?;
        data = &data[k..];
        skip = 0;
    }
    Ok(())
}

/// Fills `buf` from `parts`, from byte `skip` of them on (as far as they
/// go).
pub fn read_parts_at(
    ctx: &mut Ctx<'_>,
    parts: &[(GuestPtr, u64)],
    mut skip: u64,
    mut buf: &mut [u8],
) -> Result<(), Errno> {
    for &(ptr, len) in parts {
        if buf.is_empty() {
            break;
        }
        if skip >= len {
            skip -= len;
            continue;
        }
        let k = ((len - skip) as usize).min(buf.len());
        let at = ptr.checked_add(skip).ok_or(Errno::FAULT)?;
        let (now, rest) = std::mem::take(&mut buf).split_at_mut(k);
        ctx.tunnel().read(at, now).map_err(|_| Errno::FAULT)?;
        buf = rest;
        skip = 0;
    }
    Ok(())
}

/// Fills `buf` from the start of `parts`.
pub fn gather(ctx: &mut Ctx<'_>, parts: &[(GuestPtr, u64)], buf: &mut [u8]) -> Result<(), Errno> {
    let mut at = 0usize;
    for &(ptr, len) in parts {
        if at == buf.len() {
            break;
        }
        let k = (len as usize).min(buf.len() - at);
        ctx.tunnel()
            .read(ptr, &mut buf[at..at + k])
            .map_err(|_| Errno::FAULT)?;
        at += k;
    }
    Ok(())
}

/// A host fd as std `Read`/`Write`: `read`/`readv`/`write`/`writev`, or
/// at a fixed offset `pread`/`preadv`/`pwrite`/`pwritev`.
pub struct HostIo<'a> {
    fd: BorrowedFd<'a>,
    at: Option<u64>,
}

impl<'a> HostIo<'a> {
    pub fn new(fd: BorrowedFd<'a>, at: Option<u64>) -> HostIo<'a> {
        HostIo { fd, at }
    }
}

impl Read for HostIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        Ok(match self.at {
            None => rustix::io::read(self.fd, buf)?,
            Some(off) => rustix::io::pread(self.fd, buf, off)?,
        })
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> std::io::Result<usize> {
        Ok(match self.at {
            None => rustix::io::readv(self.fd, bufs)?,
            Some(off) => rustix::io::preadv(self.fd, bufs, off)?,
        })
    }
}

impl Write for HostIo<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(match self.at {
            None => rustix::io::write(self.fd, buf)?,
            Some(off) => rustix::io::pwrite(self.fd, buf, off)?,
        })
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
        Ok(match self.at {
            None => rustix::io::writev(self.fd, bufs)?,
            Some(off) => rustix::io::pwritev(self.fd, bufs, off)?,
        })
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamping() {
        let p = [(GuestPtr::new(0x1000), 5), (GuestPtr::new(0x2000), 5)];
        assert_eq!(
            clamp(&p, 7),
            vec![(GuestPtr::new(0x1000), 5), (GuestPtr::new(0x2000), 2)]
        );
        assert_eq!(clamp(&p, 0), vec![]);
        assert_eq!(total(&p), 10);
    }
}

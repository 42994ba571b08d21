//! Reads, writes and truncations of a file that MAP_SHARED mappings show,
//! kept coherent with its shared pages (kernel/shared_file_pages.rs): a
//! read takes the pages' bytes (stores not yet written back included), a
//! write and a truncation change the pages as they change the file.
//!
//! Each step costs nothing while no file in the sandbox is mapped shared,
//! and one `fstat` per call on a file while one is.

use super::common::write_parts_at;
use super::Ctx;
use crate::abi::Errno;
use crate::kernel::fds::Object;
use crate::kernel::file_locks::FileKey;
use crate::tunnel::GuestPtr;
use rustix::fd::{AsFd, BorrowedFd};
use thinvisor_kmod::PAGE_SIZE;

/// The file `fd` is (its device and inode).
pub fn key_of_fd(fd: BorrowedFd<'_>) -> Option<FileKey> {
    let st = rustix::fs::fstat(fd).ok()?;
    Some((st.st_dev, st.st_ino))
}

/// The host file and key of `obj`, when it is a file with shared pages.
fn shared_file<'o>(ctx: &Ctx<'_>, obj: &'o Object) -> Option<(BorrowedFd<'o>, FileKey)> {
    if ctx.kernel.shared_pages.is_empty() {
        return None;
    }
    let Object::File(f) = obj else {
        return None;
    };
    let key = key_of_fd(f.fd.as_fd())?;
    ctx.kernel
        .shared_pages
        .has(key)
        .then_some((f.fd.as_fd(), key))
}

/// Where a transfer of `n` bytes that just ended started: at `at`, or
/// (at the file's position) `n` bytes before the position now.
fn start_of(fd: BorrowedFd<'_>, at: Option<u64>, n: u64) -> Result<u64, Errno> {
    match at {
        Some(a) => Ok(a),
        None => {
            let now = rustix::fs::seek(fd, rustix::fs::SeekFrom::Current(0))?;
            Ok(now.saturating_sub(n))
        }
    }
}

/// After `n` bytes of `obj` were read into `parts` (at `at`, or at its
/// position): the shared pages' bytes replace the host's.
pub fn after_read(
    ctx: &mut Ctx<'_>,
    obj: &Object,
    at: Option<u64>,
    parts: &[(GuestPtr, u64)],
    n: u64,
) -> Result<(), Errno> {
    let Some((fd, key)) = shared_file(ctx, obj) else {
        return Ok(());
    };
    let start = start_of(fd, at, n)?;
    let end = start + n;
    let mut page = [0u8; PAGE_SIZE as usize];
    for (index, pa) in ctx.kernel.shared_pages.pages_in(key, start, end) {
        let base = index * PAGE_SIZE;
        let (from, to) = (base.max(start), (base + PAGE_SIZE).min(end));
        let bytes = &mut page[..(to - from) as usize];
        let (_, mem) = ctx.kernel_and_memory();
        mem.read(pa + (from - base), bytes).map_err(|_| Errno::IO)?;
        write_parts_at(ctx, parts, from - start, bytes)?;
    }
    Ok(())
}

/// After `buf` was read from `obj` (at `at`, or at its position) into a
/// runner buffer (sendfile): the shared pages' bytes replace the host's.
pub fn after_read_buffer(
    ctx: &mut Ctx<'_>,
    obj: &Object,
    at: Option<u64>,
    buf: &mut [u8],
) -> Result<(), Errno> {
    let Some((fd, key)) = shared_file(ctx, obj) else {
        return Ok(());
    };
    let start = start_of(fd, at, buf.len() as u64)?;
    let (kernel, mem) = ctx.kernel_and_memory();
    kernel
        .shared_pages
        .overlay(key, mem, start, buf)
        .map_err(|_| Errno::IO)
}

/// After `n` bytes were written to `obj` (at `at`, or at its position):
/// the shared pages there take the file's new bytes.
pub fn after_write(ctx: &mut Ctx<'_>, obj: &Object, at: Option<u64>, n: u64) -> Result<(), Errno> {
    let Some((fd, key)) = shared_file(ctx, obj) else {
        return Ok(());
    };
    let start = start_of(fd, at, n)?;
    let (kernel, mem) = ctx.kernel_and_memory();
    kernel.shared_pages.refresh(key, fd, mem, start, start + n)
}

/// After the host file `fd` was cut (or grown) to `size` bytes: its
/// shared pages past the end are no longer the file's.
pub fn after_truncate(ctx: &mut Ctx<'_>, fd: BorrowedFd<'_>, size: u64) -> Result<(), Errno> {
    if ctx.kernel.shared_pages.is_empty() {
        return Ok(());
    }
    let Some(key) = key_of_fd(fd) else {
        return Ok(());
    };
    let (kernel, mem) = ctx.kernel_and_memory();
    kernel
        .shared_pages
        .truncate(key, mem, size)
        .map_err(|_| Errno::IO)
}

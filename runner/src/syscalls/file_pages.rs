//! Reads, writes and truncations of a file that MAP_SHARED mappings show,
//! kept coherent with its shared pages (kernel/shared_file_pages.rs): a
//! read takes the pages' bytes (stores not yet written back included), a
//! write and a truncation change the pages as they change the file.
//!
//! Each step costs nothing while no file in the sandbox is mapped shared,
//! and an `fstat` (and an `lseek`) per call on a file while one is. None
//! fails a call whose host I/O was done: the bytes moved, and the pages
//! are kept as well as they can be.

use super::common::{host_io, read_parts_at, write_parts_at, HostIo};
use super::Ctx;
use crate::abi::Errno;
use crate::kernel::fds::Object;
use crate::kernel::file_locks::FileKey;
use crate::tunnel::GuestPtr;
use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::{OFlags, SeekFrom};
use std::io::Read;
use thinvisor_kmod::PAGE_SIZE;

/// Bytes read at a time by a read of a file with shared pages.
const CHUNK: usize = 1 << 20;

/// The file `fd` is (its device and inode).
pub fn key_of_fd(fd: BorrowedFd<'_>) -> Option<FileKey> {
    let st = rustix::fs::fstat(fd).ok()?;
    Some((st.st_dev, st.st_ino))
}

/// The host file and key of `obj`, when it is a file with shared pages.
pub fn shared_file<'o>(ctx: &mut Ctx<'_>, obj: &'o Object) -> Option<(BorrowedFd<'o>, FileKey)> {
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

/// A read of a file with shared pages (`fd`, `key`) into `parts`, at `at`
/// or at its position (moved past what was read): through a runner
/// buffer, the pages' bytes over the host's, so that a read into a
/// mapping of the same file cannot lose what the mapping held.
pub fn read(
    ctx: &mut Ctx<'_>,
    fd: BorrowedFd<'_>,
    key: FileKey,
    parts: &[(GuestPtr, u64)],
    at: Option<u64>,
) -> Result<u64, Errno> {
    let start = match at {
        Some(a) => a,
        None => rustix::fs::seek(fd, SeekFrom::Current(0))?,
    };
    let want: u64 = parts.iter().map(|&(_, l)| l).sum();
    let mut buf = vec![0u8; CHUNK.min(want as usize)];
    let mut done = 0u64;
    while done < want {
        let k = (want - done).min(buf.len() as u64) as usize;
        let n = host_io(HostIo::new(fd, Some(start + done)).read(&mut buf[..k]))? as usize;
        if n == 0 {
            break;
        }
        let (kernel, mem) = ctx.kernel_and_memory();
        kernel
            .shared_pages
            .overlay(key, mem, start + done, &mut buf[..n])
            .map_err(|_| Errno::IO)?;
        write_parts_at(ctx, parts, done, &buf[..n])?;
        done += n as u64;
        if n < k {
            break;
        }
    }
    if at.is_none() {
        rustix::fs::seek(fd, SeekFrom::Start(start + done))?;
    }
    Ok(done)
}

/// After `buf` was read from `obj` (at `at`, or at its position) into a
/// runner buffer (sendfile): the shared pages' bytes replace the host's.
pub fn after_read_buffer(ctx: &mut Ctx<'_>, obj: &Object, at: Option<u64>, buf: &mut [u8]) {
    let Some((fd, key)) = shared_file(ctx, obj) else {
        return;
    };
    let start = match at {
        Some(a) => a,
        None => match rustix::fs::seek(fd, SeekFrom::Current(0)) {
            Ok(now) => now.saturating_sub(buf.len() as u64),
            Err(_) => return,
        },
    };
    let (kernel, mem) = ctx.kernel_and_memory();
    let _ = kernel.shared_pages.overlay(key, mem, start, buf);
}

/// What a write took its bytes from.
pub enum Written<'a> {
    /// The program's buffers.
    Guest(&'a [(GuestPtr, u64)]),
    /// A runner buffer (sendfile).
    Runner(&'a [u8]),
}

/// Where a write of `n` bytes that just ended started: at the end of the
/// file for a descriptor in append mode (a `pwrite` too, as on Linux), else
/// at `at`, or `n` bytes before the position now.
fn write_start(fd: BorrowedFd<'_>, at: Option<u64>, n: u64) -> Option<u64> {
    let append = rustix::fs::fcntl_getfl(fd).ok()?.contains(OFlags::APPEND);
    match at {
        Some(_) if append => {
            let size = rustix::fs::fstat(fd).ok()?.st_size.max(0) as u64;
            Some(size.saturating_sub(n))
        }
        Some(a) => Some(a),
        None => {
            let now = rustix::fs::seek(fd, SeekFrom::Current(0)).ok()?;
            Some(now.saturating_sub(n))
        }
    }
}

/// After the first `n` bytes of `written` went to `obj` (at `at`, or at
/// its position): the shared pages there take them. The host descriptor
/// need not be readable (a write-only one, an append-only log).
pub fn after_write(ctx: &mut Ctx<'_>, obj: &Object, at: Option<u64>, written: Written<'_>, n: u64) {
    if n == 0 {
        return;
    }
    let Some((fd, key)) = shared_file(ctx, obj) else {
        return;
    };
    let Some(start) = write_start(fd, at, n) else {
        return;
    };
    let end = start + n;
    let mut page = [0u8; PAGE_SIZE as usize];
    for (index, pa) in ctx.kernel.shared_pages.pages_in(key, start, end) {
        let base = index * PAGE_SIZE;
        let (from, to) = (base.max(start), (base + PAGE_SIZE).min(end));
        let bytes = &mut page[..(to - from) as usize];
        let skip = from - start;
        let got = match written {
            Written::Guest(parts) => read_parts_at(ctx, parts, skip, bytes),
            Written::Runner(data) => {
                bytes.copy_from_slice(&data[skip as usize..(to - start) as usize]);
                Ok(())
            }
        };
        if got.is_ok() {
            let (_, mem) = ctx.kernel_and_memory();
            let _ = mem.write(pa + (from - base), bytes);
        }
    }
}

/// After the host file `fd` was cut (or grown) to `size` bytes: its
/// shared pages read zero past the end, and this process's own mappings of
/// it fault (SIGBUS) on the pages wholly past it.
pub fn after_truncate(ctx: &mut Ctx<'_>, fd: BorrowedFd<'_>, size: u64) {
    if ctx.kernel.shared_pages.is_empty() {
        return;
    }
    let Some(key) = key_of_fd(fd) else {
        return;
    };
    let (kernel, mem) = ctx.kernel_and_memory();
    let _ = kernel.shared_pages.truncate(key, mem, size);
    for m in ctx.process.file_maps.of_file(key) {
        let _ = hide_past_end(ctx, m.start, m.end, m.offset, size);
    }
}

/// Hides the pages of the shared file mapping `[start, end)` (showing the
/// file from `offset`) that lie wholly past `size`, the end of the file:
/// a touch of one is SIGBUS, as on Linux (run/file_faults.rs), until the
/// file grows over it. PROT_NONE pages stay as they are.
pub fn hide_past_end(
    ctx: &mut Ctx<'_>,
    start: u64,
    end: u64,
    offset: u64,
    size: u64,
) -> Result<(), crate::guest::address_space::MapError> {
    let first = start + size.saturating_sub(offset).next_multiple_of(PAGE_SIZE);
    let (aspace, mem) = ctx.memory();
    // In runs of pages of accessible mappings.
    let mut run: Option<u64> = None;
    let mut va = first;
    while va <= end {
        let accessible = va < end && aspace.prot_at(va).is_some_and(|p| !p.is_none());
        match (accessible, run) {
            (true, None) => run = Some(va),
            (false, Some(s)) => {
                aspace.hide_pages(mem, s, va)?;
                run = None;
            }
            _ => {}
        }
        va += PAGE_SIZE;
    }
    Ok(())
}

//! mmap of a file.
//!
//! What is mapped and how (docs/compatibility.md, "File mappings"):
//!
//! - `MAP_PRIVATE`, any protection: fresh pages with the file's bytes
//!   from `offset` as they are at the mmap (its shared pages' bytes where
//!   it has some); the rest of the last page, and whole pages past the end
//!   of the file, are zero. Writes stay in the process (copy-on-write, as
//!   on Linux); a fork shares them copy-on-write.
//! - `MAP_SHARED`: the file's shared pages (kernel/shared_file_pages.rs),
//!   the same frames in every shared mapping of the file in the sandbox,
//!   kept in step with its `read`s and `write`s; a page no mapping has yet
//!   is filled from the file. Through a descriptor open for writing, the
//!   pages the program writes are written back at msync, munmap, exec and
//!   exit (kernel/file_maps.rs); through a read-only one they may not be
//!   made writable (mprotect: EACCES). Pages wholly past the end of the
//!   file are hidden: a touch is SIGBUS, as on Linux, until the file grows
//!   over them (run/file_faults.rs).
//! - Linux's checks, in Linux's order: a descriptor that is not a regular
//!   file is `ENODEV` (`EACCES` for one not open for reading), `MAP_SHARED`
//!   with `PROT_WRITE` of a descriptor not open for writing is `EACCES`, and
//!   `PROT_EXEC` of a file under a rule without an `-exec` access is `EPERM`
//!   (Linux's answer on a `noexec` mount): a policy decides which files may
//!   become code, as it decides which may be run.
//!
//! Pages are filled at map time rather than at the first fault: one
//! `pread` per run of pages, no fault path through the runner. The cost is
//! the copy of every mapped byte, used or not (glibc's loader maps a
//! library's whole span, then each segment over it: docs/benchmarks.md,
//! "Dynamic programs").

use super::file_pages;
use super::memory::map_errno;
use super::{decode::MmapRequest, Ctx, SyscallResult};
use crate::abi::Errno;
use crate::guest::page_table::Prot;
use crate::kernel::fds::{Device, Object};
use crate::kernel::file_locks::FileKey;
use crate::kernel::file_maps::FileMap;
use crate::tunnel::{GuestPtr, Tunnel};
use rustix::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use thinvisor_kmod::PAGE_SIZE;

/// Bytes read from the file and written into the guest at a time.
const CHUNK: usize = 1 << 20;

pub fn mmap_file(ctx: &mut Ctx<'_>, req: &MmapRequest, fd: u64, offset: u64) -> SyscallResult {
    let obj = ctx.process.fds.get(fd)?;
    mmap_object(ctx, req, obj, offset)
}

/// mmap of the open file `obj` (a descriptor's, or a System V shared
/// memory segment's: sysv_shm.rs).
pub fn mmap_object(
    ctx: &mut Ctx<'_>,
    req: &MmapRequest,
    obj: Arc<Object>,
    offset: u64,
) -> SyscallResult {
    if let Object::Device {
        device: Device::Zero,
        read,
        write,
        ..
    } = &*obj
    {
        // /dev/zero: anonymous memory, private or shared, as on Linux.
        if !read || (req.flags.shared && req.prot.write && !write) {
            return Err(Errno::ACCESS.into());
        }
        let (aspace, mem) = ctx.memory();
        return aspace
            .mmap_anonymous(mem, req.hint, req.len, req.prot, req.flags)
            .map_err(|e| map_errno(e).into());
    }
    let Object::File(file) = &*obj else {
        return Err(Errno::NODEV.into());
    };
    if !file.readable {
        return Err(Errno::ACCESS.into());
    }
    if req.flags.shared && req.prot.write && !file.writable {
        return Err(Errno::ACCESS.into());
    }
    if req.prot.exec && !file.exec {
        return Err(Errno::PERM.into());
    }
    let len = req.len;
    if offset.checked_add(len).is_none_or(|e| e > i64::MAX as u64) {
        return Err(Errno::OVERFLOW.into());
    }
    let host = file.fd.as_fd();
    let size = rustix::fs::fstat(host)?.st_size as u64;
    let key = file_pages::key_of_fd(host).ok_or(Errno::NODEV)?;
    if req.flags.shared {
        return mmap_shared(ctx, req, &obj, key, offset, size);
    }
    let (aspace, mem) = ctx.memory();
    let addr = aspace
        .mmap_anonymous(mem, req.hint, len, Prot::RW, req.flags)
        .map_err(map_errno)?;
    let filled = copy_in(
        ctx,
        key,
        host,
        addr,
        offset,
        len.min(size.saturating_sub(offset)),
    );
    let (aspace, mem) = ctx.memory();
    let protected = if req.prot == Prot::RW {
        Ok(())
    } else {
        aspace.mprotect(mem, addr, len, req.prot)
    };
    match (filled, protected) {
        (Ok(()), Ok(())) => Ok(addr),
        (filled, protected) => {
            let _ = aspace.munmap(mem, addr, len);
            Err(filled
                .err()
                .unwrap_or_else(|| protected.err().map_or(Errno::NOMEM, map_errno))
                .into())
        }
    }
}

/// A MAP_SHARED mapping of the file `obj` (`key`, `size` bytes long now):
/// mapped with the protection asked for from the start (the program's
/// other threads never find it writable when it should not be), its pages
/// the file's shared pages, filled through their frames.
fn mmap_shared(
    ctx: &mut Ctx<'_>,
    req: &MmapRequest,
    obj: &Arc<Object>,
    key: FileKey,
    offset: u64,
    size: u64,
) -> SyscallResult {
    let Object::File(file) = &**obj else {
        return Err(Errno::NODEV.into());
    };
    let len = req.len;
    let (aspace, mem) = ctx.memory();
    let addr = aspace
        .mmap_small_pages(mem, req.hint, len, req.prot, req.flags)
        .map_err(map_errno)?;
    let at = Placement {
        key,
        host: file.fd.as_fd(),
        addr,
        offset,
        size,
    };
    let filled = fill_shared(ctx, &at, len);
    let (aspace, mem) = ctx.memory();
    match filled.and_then(|()| aspace.clear_dirty(mem, addr, addr + len).map_err(map_errno)) {
        Ok(()) => {
            let end = addr + len.next_multiple_of(PAGE_SIZE);
            ctx.process.file_maps.add(FileMap {
                start: addr,
                end,
                file: obj.clone(),
                offset,
                key,
                writable: file.writable,
            });
            // Pages wholly past the end of the file: SIGBUS at a touch.
            file_pages::hide_past_end(ctx, addr, end, offset, size).map_err(map_errno)?;
            Ok(addr)
        }
        Err(e) => {
            // The frames recorded so far go with the mapping (the registry
            // hears of it: kernel/shared_file_pages.rs).
            let _ = aspace.munmap(mem, addr, len);
            Err(e.into())
        }
    }
}

/// A shared mapping being made: the fresh pages at `addr` show the file
/// `key` (`host`, `size` bytes long now) from `offset`.
struct Placement<'a> {
    key: FileKey,
    host: BorrowedFd<'a>,
    addr: u64,
    offset: u64,
    size: u64,
}

/// Makes the `len` bytes of fresh shared pages of `at` the file's shared
/// pages: each page another mapping has takes its frame; the others are
/// filled from the file (zero past its end), in runs, and recorded.
fn fill_shared(ctx: &mut Ctx<'_>, at: &Placement<'_>, len: u64) -> Result<(), Errno> {
    let Placement {
        key, addr, offset, ..
    } = *at;
    let pages = len.div_ceil(PAGE_SIZE);
    let first = offset / PAGE_SIZE;
    let mut run: Option<u64> = None;
    for i in 0..=pages {
        let va = addr + i * PAGE_SIZE;
        let held = (i < pages)
            .then(|| ctx.kernel.shared_pages.frame(key, first + i))
            .flatten();
        let ends_run = i == pages || held.is_some();
        if ends_run {
            if let Some(r) = run.take() {
                fill_run(ctx, at, r, i)?;
            }
        } else if run.is_none() {
            run = Some(i);
        }
        if let Some(pa) = held {
            let (aspace, mem) = ctx.memory();
            aspace.adopt_frame(mem, va, pa).map_err(map_errno)?;
        }
    }
    Ok(())
}

/// Pages `[from, to)` of the fresh mapping of `at`: their frames filled
/// from the file (fresh frames are zero past its end), then recorded as
/// its shared pages.
fn fill_run(ctx: &mut Ctx<'_>, at: &Placement<'_>, from: u64, to: u64) -> Result<(), Errno> {
    let Placement {
        key,
        host,
        addr,
        offset,
        size,
    } = *at;
    const PAGES_AT_ONCE: u64 = (CHUNK as u64) / PAGE_SIZE;
    let mut buf = vec![0u8; (PAGES_AT_ONCE.min(to - from) * PAGE_SIZE) as usize];
    let mut first = from;
    while first < to {
        let last = to.min(first + PAGES_AT_ONCE);
        let at = offset + first * PAGE_SIZE;
        let want = (((last - first) * PAGE_SIZE).min(size.saturating_sub(at))) as usize;
        let mut got = 0usize;
        while got < want {
            let n = rustix::io::pread(host, &mut buf[got..want], at + got as u64)?;
            if n == 0 {
                // The file shrank since fstat: the rest stays zero.
                break;
            }
            got += n;
        }
        for i in first..last {
            let va = addr + i * PAGE_SIZE;
            let (aspace, mem) = ctx.memory();
            let pa = aspace.tables.frame_of(mem, va).ok_or(Errno::NOMEM)?;
            let within = (((i - first) * PAGE_SIZE) as usize).min(got);
            let end = (within + PAGE_SIZE as usize).min(got);
            mem.write(pa, &buf[within..end]).map_err(|_| Errno::NOMEM)?;
            let index = offset / PAGE_SIZE + i;
            let (kernel, process) = ctx.kernel_and_process();
            kernel
                .shared_pages
                .insert(&mut process.mm.frames, key, index, pa);
        }
        first = last;
    }
    Ok(())
}

/// Reads `len` bytes of `host` from `offset` into the fresh private pages
/// at `addr` (the runner's layout: the pages were just mapped writable),
/// the file's shared pages' bytes over the host's.
fn copy_in(
    ctx: &mut Ctx<'_>,
    key: FileKey,
    host: BorrowedFd<'_>,
    addr: u64,
    offset: u64,
    len: u64,
) -> Result<(), Errno> {
    let mut buf = vec![0u8; CHUNK.min(len as usize)];
    let mut done = 0u64;
    while done < len {
        let want = (len - done).min(buf.len() as u64) as usize;
        let n = rustix::io::pread(host, &mut buf[..want], offset + done)?;
        if n == 0 {
            // The file shrank since fstat: the rest stays zero.
            break;
        }
        let (kernel, mem) = ctx.kernel_and_memory();
        kernel
            .shared_pages
            .overlay(key, mem, offset + done, &mut buf[..n])
            .map_err(|_| Errno::IO)?;
        let (aspace, mem) = ctx.memory();
        Tunnel::for_runner_layout(aspace, mem)
            .write(GuestPtr::new(addr + done), &buf[..n])
            .map_err(|_| Errno::NOMEM)?;
        done += n as u64;
    }
    Ok(())
}

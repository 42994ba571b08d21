//! brk, mmap, munmap, mprotect over the guest address space (mmap of a
//! file: `file_map.rs`).

use super::decode;
use super::{Args, Ctx, SyscallResult};
use crate::abi::Errno;
use crate::guest::address_space::MapError;

/// The errno Linux gives for each way a memory call can fail.
pub(super) fn map_errno(e: MapError) -> Errno {
    match e {
        MapError::NoMemory | MapError::Internal(_) => Errno::NOMEM,
        MapError::Invalid | MapError::Reserved => Errno::INVAL,
        MapError::Exists => Errno::EXIST,
        MapError::NotMapped => Errno::FAULT,
    }
}

fn map_err(e: MapError) -> SyscallResult {
    Err(map_errno(e).into())
}

pub fn brk(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (aspace, mem) = ctx.memory();
    Ok(aspace.brk(mem, a[0]))
}

pub fn mmap(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let req = decode::mmap(a)?;
    if req.flags.fixed {
        // What the new mapping replaces: its writes reach its file first,
        // and a System V segment there is detached.
        let end = req.hint.saturating_add(req.len);
        let _ = ctx.write_back_files(req.hint, end, true);
        super::sysv_shm::unmapped(ctx, req.hint, end);
    }
    if let Some((fd, offset)) = req.file {
        return super::file_map::mmap_file(ctx, &req, fd, offset);
    }
    let map = |ctx: &mut Ctx<'_>| {
        let (aspace, mem) = ctx.memory();
        aspace.mmap_anonymous(mem, req.hint, req.len, req.prot, req.flags)
    };
    let mut result = map(ctx);
    // Out of memory: give back the heap headroom kept for the in-VM
    // monitor's brk (none without it), and try once more.
    if result == Err(MapError::NoMemory) && {
        let (aspace, mem) = ctx.memory();
        aspace.release_heap_headroom(mem)
    } {
        result = map(ctx);
    }
    match result {
        Ok(a) => Ok(a),
        Err(e) => map_err(e),
    }
}

pub fn munmap(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    // Shared file mappings' writes reach their files first (an error there
    // is not munmap's, as on Linux).
    let end = a[0].saturating_add(a[1]);
    let _ = ctx.write_back_files(a[0], end, false);
    let (aspace, mem) = ctx.memory();
    match aspace.munmap(mem, a[0], a[1]) {
        Ok(()) => {
            ctx.process.file_maps.forget(a[0], end);
            super::sysv_shm::unmapped(ctx, a[0], end);
            Ok(0)
        }
        Err(e) => map_err(e),
    }
}

pub fn mprotect(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let prot = decode::mprotect_prot(a[2])?;
    // A shared file mapping made through a read-only descriptor stays
    // read-only (its pages are the file's, never written back).
    if prot.write
        && ctx
            .process
            .file_maps
            .read_only_inside(a[0], a[0].saturating_add(a[1]))
    {
        return Err(Errno::ACCESS.into());
    }
    let (aspace, mem) = ctx.memory();
    match aspace.mprotect(mem, a[0], a[1], prot) {
        Ok(()) => {
            // Pages of shared file mappings past the end of their file stay
            // inaccessible (SIGBUS).
            let end = a[0].saturating_add(a[1]);
            for m in ctx.process.file_maps.inside(a[0], end) {
                let crate::kernel::fds::Object::File(f) = &*m.file else {
                    continue;
                };
                let size = rustix::fs::fstat(&f.fd).map_or(0, |st| st.st_size.max(0) as u64);
                super::file_pages::hide_past_end(ctx, m.start, m.end, m.offset, size)
                    .map_err(map_errno)?;
            }
            Ok(0)
        }
        // As Linux answers a change to its vvar page.
        Err(MapError::Reserved) => Err(Errno::ACCESS.into()),
        Err(e) => map_err(e),
    }
}

/// msync: the arguments checked as Linux checks them, then the written
/// pages of the shared file mappings in the range are written to their
/// files (kernel/file_maps.rs); EIO (or the host's error) when that fails.
/// Other mappings are the process's own memory: nothing to do.
pub fn msync(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    const MS_ASYNC: u64 = 1;
    const MS_INVALIDATE: u64 = 2;
    const MS_SYNC: u64 = 4;
    let (start, len, flags) = (a[0], a[1], a[2]);
    if flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0
        || flags & (MS_ASYNC | MS_SYNC) == (MS_ASYNC | MS_SYNC)
    {
        return Err(Errno::INVAL.into());
    }
    let end = match crate::guest::address_space::page_range(start, len) {
        Ok(Some(end)) => end,
        Ok(None) => return Ok(0),
        Err(e) => return map_err(e),
    };
    let (aspace, _) = ctx.memory();
    if !aspace.covered(start, end) {
        return Err(Errno::NOMEM.into());
    }
    ctx.write_back_files(start, end, false)?;
    Ok(0)
}

//! mremap and madvise over the guest's anonymous memory.

use super::{Args, Ctx, SyscallResult};
use crate::abi::constants::{
    MADV_DONTNEED, MADV_DONTNEED_LOCKED, MADV_FREE, MADV_HWPOISON, MADV_REMOVE, MREMAP_DONTUNMAP,
    MREMAP_FIXED, MREMAP_MAYMOVE,
};
use crate::abi::Errno;
use crate::guest::address_space::MapError;
use thinvisor_kmod::PAGE_SIZE;

fn map_err(e: MapError) -> SyscallResult {
    Err(super::memory::map_errno(e).into())
}

/// mremap: shrink, grow in place, or move (pages move; nothing is copied).
/// MREMAP_DONTUNMAP is not supported (EINVAL).
pub fn mremap(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (old, old_len, new_len, flags, new_addr) = (a[0], a[1], a[2], a[3], a[4]);
    if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != 0
        || flags & MREMAP_DONTUNMAP != 0
    {
        return Err(Errno::INVAL.into());
    }
    let fixed = (flags & MREMAP_FIXED != 0).then_some(new_addr);
    // What a MREMAP_FIXED target replaces reaches its file first; a shared
    // file mapping moved or resized stays linked to its file (its pages
    // are the file's shared pages wherever they go).
    if let Some(to) = fixed {
        let _ = ctx.write_back_files(to, to.saturating_add(new_len), true);
    }
    let (aspace, mem) = ctx.memory();
    match aspace.mremap(
        mem,
        old,
        old_len,
        new_len,
        flags & MREMAP_MAYMOVE != 0,
        fixed,
    ) {
        Ok(addr) => {
            if old_len != 0 {
                ctx.process.file_maps.relocate(
                    old,
                    old_len.next_multiple_of(PAGE_SIZE),
                    addr,
                    new_len,
                );
            }
            Ok(addr)
        }
        Err(e) => map_err(e),
    }
}

/// madvise: MADV_DONTNEED zeroes the pages of private mappings (their
/// frames are given back to the host and read as zeros, as anonymous memory
/// does on Linux) and keeps those of shared ones (their data persists, as
/// a shmem page's does on Linux: `AddressSpace::madvise_dontneed`); the
/// other advice values (MADV_FREE included, which Linux may also leave
/// untouched) are accepted without effect; MADV_REMOVE and MADV_HWPOISON
/// are refused (EINVAL, as for private memory / without privilege).
pub fn madvise(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (start, len, advice) = (a[0], a[1], a[2]);
    let dontneed = match advice {
        MADV_DONTNEED | MADV_DONTNEED_LOCKED => true,
        MADV_REMOVE | MADV_HWPOISON => return Err(Errno::INVAL.into()),
        0..=3 | 10..=23 | 25 | MADV_FREE => false,
        _ => return Err(Errno::INVAL.into()),
    };
    let (aspace, mem) = ctx.memory();
    match aspace.madvise_dontneed(mem, start, len, dontneed) {
        Ok(()) => Ok(0),
        Err(e) => map_err(e),
    }
}

//! brk, mmap, munmap, mprotect over the guest address space.

use super::errno::*;
use super::{Args, Ctx, Outcome};
use crate::guest::address_space::MapError;
use crate::guest::page_table::Prot;

const MAP_SHARED: u64 = 0x01;
const MAP_PRIVATE: u64 = 0x02;
const MAP_TYPE: u64 = 0x0f;
const MAP_FIXED: u64 = 0x10;
const MAP_ANONYMOUS: u64 = 0x20;
const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;
const PROT_MASK: u64 = 0x7;

fn map_err(e: MapError) -> Outcome {
    Outcome::err(match e {
        MapError::NoMemory => ENOMEM,
        MapError::Invalid => EINVAL,
        MapError::Exists => EEXIST,
        MapError::Internal(_) => ENOMEM,
        MapError::NotMapped => EFAULT,
    })
}

pub fn brk(ctx: &mut Ctx<'_>, a: &Args) -> Outcome {
    Outcome::ok(ctx.aspace.brk(ctx.mem, a[0]))
}

pub fn mmap(ctx: &mut Ctx<'_>, a: &Args) -> Outcome {
    let (addr, len, prot, flags, fd, offset) = (a[0], a[1], a[2], a[3], a[4] as i32, a[5]);
    if prot & !PROT_MASK != 0 || len == 0 {
        return Outcome::err(EINVAL);
    }
    let kind = flags & MAP_TYPE;
    if kind != MAP_PRIVATE && kind != MAP_SHARED {
        return Outcome::err(EINVAL);
    }
    if flags & MAP_ANONYMOUS == 0 {
        // File mappings need the file layer (see docs/compatibility.md).
        return Outcome::err(if fd < 0 { EBADF } else { ENODEV });
    }
    if offset % 4096 != 0 {
        return Outcome::err(EINVAL);
    }
    // A single process: MAP_SHARED anonymous memory behaves as private.
    let map = |ctx: &mut Ctx<'_>| {
        ctx.aspace.mmap_anonymous(
            ctx.mem,
            addr,
            len,
            Prot::from_linux(prot),
            flags & MAP_FIXED != 0,
            flags & MAP_FIXED_NOREPLACE != 0,
        )
    };
    let mut result = map(ctx);
    // Out of memory: give back the heap headroom kept for the in-VM
    // monitor's brk (none without it), and try once more.
    if result == Err(MapError::NoMemory) && ctx.aspace.release_heap_headroom(ctx.mem) {
        result = map(ctx);
    }
    match result {
        Ok(a) => Outcome::ok(a),
        Err(e) => map_err(e),
    }
}

pub fn munmap(ctx: &mut Ctx<'_>, a: &Args) -> Outcome {
    match ctx.aspace.munmap(ctx.mem, a[0], a[1]) {
        Ok(()) => Outcome::ok(0),
        Err(e) => map_err(e),
    }
}

pub fn mprotect(ctx: &mut Ctx<'_>, a: &Args) -> Outcome {
    if a[2] & !(PROT_MASK | 0x0100_0000 | 0x0200_0000) != 0 {
        return Outcome::err(EINVAL);
    }
    match ctx
        .aspace
        .mprotect(ctx.mem, a[0], a[1], Prot::from_linux(a[2]))
    {
        Ok(()) => Outcome::ok(0),
        Err(e) => map_err(e),
    }
}

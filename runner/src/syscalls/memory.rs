//! brk, mmap, munmap, mprotect over the guest address space.

use super::decode;
use super::errno::*;
use super::{Args, Ctx, Outcome};
use crate::guest::address_space::MapError;

fn map_err(e: MapError) -> Outcome {
    Outcome::err(match e {
        MapError::NoMemory => ENOMEM,
        MapError::Invalid => EINVAL,
        MapError::Exists => EEXIST,
        MapError::Internal(_) => ENOMEM,
        MapError::NotMapped => EFAULT,
        MapError::Reserved => EINVAL,
    })
}

pub fn brk(ctx: &mut Ctx<'_>, a: &Args) -> Outcome {
    Outcome::ok(ctx.aspace.brk(ctx.mem, a[0]))
}

pub fn mmap(ctx: &mut Ctx<'_>, a: &Args) -> Outcome {
    let req = match decode::mmap(a) {
        Ok(r) => r,
        Err(e) => return Outcome::err(e),
    };
    let map = |ctx: &mut Ctx<'_>| {
        ctx.aspace.mmap_anonymous(
            ctx.mem,
            req.hint,
            req.len,
            req.prot,
            req.fixed,
            req.noreplace,
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
    let prot = match decode::mprotect_prot(a[2]) {
        Ok(p) => p,
        Err(e) => return Outcome::err(e),
    };
    match ctx.aspace.mprotect(ctx.mem, a[0], a[1], prot) {
        Ok(()) => Outcome::ok(0),
        // As Linux answers a change to its vvar page.
        Err(MapError::Reserved) => Outcome::err(EACCES),
        Err(e) => map_err(e),
    }
}

//! mlock, mlock2, mlockall, munlock and munlockall as Linux answers an
//! unprivileged process: locking needs CAP_IPC_LOCK or a non-zero
//! RLIMIT_MEMLOCK, and the sandbox's RLIMIT_MEMLOCK is 0 (a process may
//! only lower its limits): EPERM, after the one check Linux makes first
//! (the flags: EINVAL). Unlocking has nothing to undo: 0 for a mapped
//! range (ENOMEM otherwise, as Linux). A guest page is never paged out by the
//! guest's kernel (the runner) anyway; whether the host keeps the runner's
//! memory in RAM is the host's business, as for any hypervisor.
//! mincore answers which pages are in memory from the guest's page
//! tables' accessed and dirty bits.

use super::{Args, Ctx, SyscallResult};
use crate::abi::constants::RLIMIT_MEMLOCK;
use crate::abi::Errno;
use thinvisor_kmod::PAGE_SIZE;

const MLOCK_ONFAULT: u64 = 1;
const MCL_CURRENT: u64 = 1;
const MCL_FUTURE: u64 = 2;
const MCL_ONFAULT: u64 = 4;

/// `[addr, addr + len)` widened to whole pages must be mapped (ENOMEM);
/// EINVAL when it wraps.
fn mapped(ctx: &mut Ctx<'_>, addr: u64, len: u64) -> Result<(), Errno> {
    let start = addr & !(PAGE_SIZE - 1);
    let end = addr
        .checked_add(len)
        .and_then(|e| e.checked_add(PAGE_SIZE - 1))
        .ok_or(Errno::INVAL)?
        & !(PAGE_SIZE - 1);
    if end == start {
        return Ok(());
    }
    let (aspace, _) = ctx.memory();
    if aspace.covered(start, end) {
        Ok(())
    } else {
        Err(Errno::NOMEM)
    }
}

/// How much the process may lock: its RLIMIT_MEMLOCK, EPERM when 0 (as
/// Linux's `can_do_mlock` without CAP_IPC_LOCK).
fn may_lock(ctx: &Ctx<'_>) -> Result<u64, Errno> {
    match ctx.process.limits.rlimits[RLIMIT_MEMLOCK].0 {
        0 => Err(Errno::PERM),
        limit => Ok(limit),
    }
}

pub fn mlock(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    mlock2(ctx, &[a[0], a[1], 0, 0, 0, 0])
}

pub fn mlock2(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    if a[2] & !MLOCK_ONFAULT != 0 {
        return Err(Errno::INVAL.into());
    }
    let limit = may_lock(ctx)?;
    mapped(ctx, a[0], a[1])?;
    // (A limit above 0 cannot be set here: guest pages stay resident, so
    // a lock within it would hold already.)
    if a[1] > limit {
        return Err(Errno::NOMEM.into());
    }
    Ok(0)
}

pub fn munlock(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    mapped(ctx, a[0], a[1])?;
    Ok(0)
}

pub fn mlockall(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let flags = a[0];
    if flags == 0
        || flags & !(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0
        || flags & (MCL_CURRENT | MCL_FUTURE) == 0
    {
        return Err(Errno::INVAL.into());
    }
    may_lock(ctx)?;
    Ok(0)
}

pub fn munlockall(_: &mut Ctx<'_>, _: &Args) -> SyscallResult {
    Ok(0)
}

/// mincore(addr, length, vec): one byte per page of the range, 1 for a
/// page in memory, which here is a page the program has used since it was
/// mapped (the A and D bits of its page-table entry: read or written, by
/// it or by the runner for it), 0 for one it has not touched yet, as
/// Linux answers for anonymous memory (for a file's pages Linux answers
/// whether the host caches them; here only use counts). As Linux:
/// EINVAL for an unaligned `addr`, ENOMEM for a range not wholly mapped,
/// EFAULT for a `vec` the guest cannot write.
pub fn mincore(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    /// Pages answered per write to `vec`.
    const CHUNK: u64 = 4096;
    let (start, len, vec) = (a[0], a[1], crate::tunnel::GuestPtr::new(a[2]));
    if !start.is_multiple_of(PAGE_SIZE) {
        return Err(Errno::INVAL.into());
    }
    let pages = len.div_ceil(PAGE_SIZE);
    let end = pages
        .checked_mul(PAGE_SIZE)
        .and_then(|n| start.checked_add(n))
        .ok_or(Errno::NOMEM)?;
    if pages == 0 {
        return Ok(0);
    }
    if !ctx.memory().0.covered(start, end) {
        return Err(Errno::NOMEM.into());
    }
    let mut done = 0;
    while done < pages {
        let n = (pages - done).min(CHUNK);
        let out = {
            let (aspace, mem) = ctx.memory();
            aspace.used_pages(mem, start + done * PAGE_SIZE, n)
        };
        let at = vec.checked_add(done).ok_or(Errno::FAULT)?;
        ctx.tunnel().write(at, &out).map_err(|_| Errno::FAULT)?;
        done += n;
    }
    Ok(0)
}

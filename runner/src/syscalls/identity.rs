//! The identity the guest sees: the policy's `[identity]` uid and gid
//! (default 1000, also in the auxv), pid 2
//! with parent 1, its own session and process group. Nothing of the host's.
//! The guest cannot change its identity except to itself.

use super::{Args, Ctx, SyscallResult};
use crate::abi::constants::{
    ID_UNCHANGED, PR_GET_DUMPABLE, PR_GET_NAME, PR_GET_NO_NEW_PRIVS, PR_GET_PDEATHSIG,
    PR_SET_DUMPABLE, PR_SET_NAME, PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG,
};
use crate::abi::Errno;
use crate::tunnel::GuestPtr;

/// getuid, geteuid.
pub fn get_uid(ctx: &mut Ctx<'_>, _: &Args) -> SyscallResult {
    Ok(ctx.process.identity.uid)
}

/// getgid, getegid.
pub fn get_gid(ctx: &mut Ctx<'_>, _: &Args) -> SyscallResult {
    Ok(ctx.process.identity.gid)
}

/// getppid: the parent in the process table (orphans belong to the first
/// program; the first program's parent, 1, is outside the sandbox).
pub fn getppid(ctx: &mut Ctx<'_>, _: &Args) -> SyscallResult {
    let me = ctx.process.identity.pid;
    Ok(ctx
        .kernel
        .procs
        .get(me)
        .map_or(ctx.process.identity.ppid, |e| e.ppid))
}

/// Whether a set*id call may set `id`: only to the id it already has (or
/// "unchanged").
fn allowed(current: u64, id: u64) -> bool {
    let id = id & 0xffff_ffff;
    id == current || id == ID_UNCHANGED
}

/// setuid/setgid to `id` when the current one is `current`: only to itself
/// (an unprivileged process).
fn set_one(current: u64, id: u64) -> SyscallResult {
    if id & 0xffff_ffff == ID_UNCHANGED {
        return Err(Errno::INVAL.into());
    }
    if allowed(current, id) {
        Ok(0)
    } else {
        Err(Errno::PERM.into())
    }
}

pub fn set_uid(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    set_one(ctx.process.identity.uid, a[0])
}

pub fn set_gid(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    set_one(ctx.process.identity.gid, a[0])
}

/// setre*id and setres*id: each of `ids` must be the current id or "keep".
fn set_many(current: u64, ids: &[u64]) -> SyscallResult {
    if ids.iter().all(|&id| allowed(current, id)) {
        Ok(0)
    } else {
        Err(Errno::PERM.into())
    }
}

/// setreuid(ruid, euid): two arguments (RDX is not one of them).
pub fn setreuid(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    set_many(ctx.process.identity.uid, &a[..2])
}

pub fn setregid(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    set_many(ctx.process.identity.gid, &a[..2])
}

/// setresuid(ruid, euid, suid).
pub fn setresuid(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    set_many(ctx.process.identity.uid, &a[..3])
}

pub fn setresgid(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    set_many(ctx.process.identity.gid, &a[..3])
}

/// getresuid: three 32-bit ids.
pub fn getresuid(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    put_ids(ctx, ctx.process.identity.uid, a)
}

/// getresgid: three 32-bit ids.
pub fn getresgid(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    put_ids(ctx, ctx.process.identity.gid, a)
}

/// Writes `id` to the three pointers of getres*id.
fn put_ids(ctx: &mut Ctx<'_>, id: u64, a: &Args) -> SyscallResult {
    let id = (id as u32).to_le_bytes();
    for p in &a[..3] {
        if ctx.tunnel().write(GuestPtr::new(*p), &id).is_err() {
            return Err(Errno::FAULT.into());
        }
    }
    Ok(0)
}

/// getgroups: the policy's supplementary groups (`identity.groups`).
pub fn getgroups(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let size = a[0] as i32;
    if size < 0 {
        return Err(Errno::INVAL.into());
    }
    let groups = &ctx.kernel.groups;
    let n = groups.len() as u64;
    if size == 0 {
        return Ok(n);
    }
    if (size as u64) < n {
        return Err(Errno::INVAL.into());
    }
    let bytes: Vec<u8> = groups.iter().flat_map(|g| g.to_le_bytes()).collect();
    ctx.tunnel()
        .write(GuestPtr::new(a[1]), &bytes)
        .map_err(|_| Errno::FAULT)?;
    Ok(n)
}

/// setgroups: only to the groups the guest has (as its ids: unchanged).
pub fn setgroups(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let size = a[0] as i64;
    if !(0..=65536).contains(&size) {
        return Err(Errno::INVAL.into());
    }
    let mut bytes = vec![0u8; size as usize * 4];
    ctx.tunnel()
        .read(GuestPtr::new(a[1]), &mut bytes)
        .map_err(|_| Errno::FAULT)?;
    let asked: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if asked == ctx.kernel.groups {
        Ok(0)
    } else {
        Err(Errno::PERM.into())
    }
}

/// getpgrp: the caller's process group.
pub fn getpgrp(ctx: &mut Ctx<'_>, _: &Args) -> SyscallResult {
    let me = ctx.process.identity.pid;
    Ok(ctx.kernel.procs.get(me).map_or(me, |e| e.pgid))
}

/// The process `pid` names (0: the caller), if it lives in the sandbox.
fn entry_of<'c>(
    ctx: &'c Ctx<'_>,
    pid: u64,
) -> Result<&'c crate::kernel::process_table::Entry, Errno> {
    let pid = if pid == 0 {
        ctx.process.identity.pid
    } else {
        pid
    };
    if pid > i32::MAX as u64 {
        return Err(Errno::SRCH);
    }
    ctx.kernel.procs.get(pid).ok_or(Errno::SRCH)
}

/// getpgid(pid): that process's group (pid 0: the caller's).
pub fn getpgid(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(entry_of(ctx, a[0])?.pgid)
}

/// getsid(pid): that process's session (pid 0: the caller's).
pub fn getsid(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Ok(entry_of(ctx, a[0])?.sid)
}

/// setpgid(pid, pgid): Linux's rules, within the sandbox's processes
/// (kernel/process_table.rs).
pub fn setpgid(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let me = ctx.process.identity.pid;
    if (a[1] as i64) < 0 {
        return Err(Errno::INVAL.into());
    }
    ctx.kernel.procs.set_pgid(me, a[0], a[1])?;
    Ok(0)
}

/// setsid: a new session, unless the caller already leads a group (the
/// first program does: EPERM, as for any group leader).
pub fn setsid(ctx: &mut Ctx<'_>, _: &Args) -> SyscallResult {
    let me = ctx.process.identity.pid;
    Ok(ctx.kernel.procs.set_sid(me)?)
}

/// prctl: the process name, dumpable and no_new_privs (always set: the
/// guest can never gain privileges); anything else is EINVAL.
pub fn prctl(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    match a[0] {
        PR_SET_NAME => {
            // At most 15 bytes are taken, up to a NUL, byte by byte as Linux
            // does (the name may end right before an unmapped page).
            let mut comm = [0u8; 16];
            for (i, slot) in comm.iter_mut().take(15).enumerate() {
                let mut b = [0u8; 1];
                let Some(p) = GuestPtr::new(a[1]).checked_add(i as u64) else {
                    return Err(Errno::FAULT.into());
                };
                if ctx.tunnel().read(p, &mut b).is_err() {
                    return Err(Errno::FAULT.into());
                }
                if b[0] == 0 {
                    break;
                }
                *slot = b[0];
            }
            ctx.thread.comm = comm;
            Ok(0)
        }
        PR_GET_NAME => {
            let comm = ctx.thread.comm;
            match ctx.tunnel().write(GuestPtr::new(a[1]), &comm) {
                Ok(()) => Ok(0),
                Err(_) => Err(Errno::FAULT.into()),
            }
        }
        PR_GET_DUMPABLE => Ok(0),
        PR_SET_DUMPABLE if a[1] <= 1 => Ok(0),
        // The signal this process gets when its parent ends
        // (run/processes.rs, `tear_down`).
        PR_SET_PDEATHSIG if a[1] <= 64 => {
            ctx.process.parent_death_signal = a[1];
            Ok(0)
        }
        PR_GET_PDEATHSIG => {
            let sig = (ctx.process.parent_death_signal as u32).to_le_bytes();
            match ctx.tunnel().write(GuestPtr::new(a[1]), &sig) {
                Ok(()) => Ok(0),
                Err(_) => Err(Errno::FAULT.into()),
            }
        }
        PR_SET_NO_NEW_PRIVS if a[1] == 1 => Ok(0),
        PR_GET_NO_NEW_PRIVS => Ok(1),
        _ => Err(Errno::INVAL.into()),
    }
}

/// personality(persona): 0xffffffff reads the execution domain; any other
/// value sets it and returns the old one. The runner honours PER_LINUX
/// (0) with ADDR_NO_RANDOMIZE, which its layout always is (nothing is
/// randomised: abi.md); any other domain or flag (READ_IMPLIES_EXEC,
/// PER_LINUX32's 32-bit uname, UNAME26, ...) would change what the
/// program sees in ways it does not emulate: EINVAL, reported once,
/// rather than a domain set and not kept.
pub fn personality(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    const QUERY: u32 = 0xffff_ffff;
    const ADDR_NO_RANDOMIZE: u32 = 0x0004_0000;
    let (asked, old) = (a[0] as u32, ctx.process.personality);
    if asked == QUERY {
        return Ok(u64::from(old));
    }
    if asked & !ADDR_NO_RANDOMIZE != 0 {
        // Reported under its own number, as refusals are.
        if ctx.kernel.reports.first(135) {
            crate::say!(
                "runner: personality {asked:#x} refused: only PER_LINUX, with or without ADDR_NO_RANDOMIZE, is emulated; returned EINVAL"
            );
        }
        return Err(Errno::INVAL.into());
    }
    ctx.process.personality = asked;
    Ok(u64::from(old))
}

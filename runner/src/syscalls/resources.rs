//! Resource queries: getrlimit/setrlimit/prlimit64 (the policy's limits),
//! sysinfo, getrusage, the CPU set (one CPU), sched_yield, and the robust
//! futex list and rseq registrations libc makes at start-up.

use super::{Args, Ctx, SyscallResult};
use crate::abi::constants::{
    RLIMIT_COUNT, RLIMIT_NOFILE, RUSAGE_CHILDREN, RUSAGE_SELF, RUSAGE_THREAD,
};
use crate::abi::Errno;
use crate::tunnel::GuestPtr;
use rustix::time::ClockId;

fn write_limit(ctx: &mut Ctx<'_>, ptr: GuestPtr, (soft, hard): (u64, u64)) -> Result<(), Errno> {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&soft.to_le_bytes());
    b[8..].copy_from_slice(&hard.to_le_bytes());
    ctx.tunnel().write(ptr, &b).map_err(|_| Errno::FAULT)
}

fn read_limit(ctx: &mut Ctx<'_>, ptr: GuestPtr) -> Result<(u64, u64), Errno> {
    let mut b = [0u8; 16];
    ctx.tunnel().read(ptr, &mut b).map_err(|_| Errno::FAULT)?;
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    let soft = u64::from_le_bytes(w);
    w.copy_from_slice(&b[8..]);
    Ok((soft, u64::from_le_bytes(w)))
}

/// The core of prlimit64: old written first, then new applied. A limit may
/// be lowered, never raised above its hard value.
fn prlimit(ctx: &mut Ctx<'_>, resource: u64, new: GuestPtr, old: GuestPtr) -> SyscallResult {
    let Some(r) = usize::try_from(resource).ok().filter(|&r| r < RLIMIT_COUNT) else {
        return Err(Errno::INVAL.into());
    };
    let new_limit = if new.addr() != 0 {
        match read_limit(ctx, new) {
            Ok(l) => Some(l),
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    let current = ctx.process.limits.rlimits[r];
    if old.addr() != 0 {
        if let Err(e) = write_limit(ctx, old, current) {
            return Err(e.into());
        }
    }
    if let Some((soft, hard)) = new_limit {
        if soft > hard {
            return Err(Errno::INVAL.into());
        }
        if hard > current.1 {
            return Err(Errno::PERM.into());
        }
        ctx.process.limits.rlimits[r] = (soft, hard);
        if r == RLIMIT_NOFILE {
            // The descriptor table enforces it (EMFILE, EBADF for dup2).
            let limit = u32::try_from(ctx.process.limits.fd_limit()).unwrap_or(u32::MAX);
            ctx.process.fds.set_limit(limit);
        }
    }
    Ok(0)
}

pub fn prlimit64(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    if a[0] != 0 && a[0] != ctx.process.identity.pid {
        return Err(Errno::SRCH.into());
    }
    prlimit(ctx, a[1], GuestPtr::new(a[2]), GuestPtr::new(a[3]))
}

pub fn getrlimit(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    if a[1] == 0 {
        return Err(Errno::FAULT.into());
    }
    prlimit(ctx, a[0], GuestPtr::new(0), GuestPtr::new(a[1]))
}

pub fn setrlimit(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    if a[1] == 0 {
        return Err(Errno::FAULT.into());
    }
    prlimit(ctx, a[0], GuestPtr::new(a[1]), GuestPtr::new(0))
}

/// struct sysinfo (112 bytes): the guest's own view: uptime since the run
/// started, RAM = the memory limit, no swap, one process.
pub fn sysinfo(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let uptime = ctx.kernel.clock.start.elapsed().as_secs();
    let total = ctx.process.limits.memory_limit;
    let free = total.saturating_sub(ctx.memory().0.user_bytes());
    let mut b = [0u8; 112];
    let mut put = |off: usize, v: u64| b[off..off + 8].copy_from_slice(&v.to_le_bytes());
    put(0, uptime);
    put(32, total);
    put(40, free);
    b[80..82].copy_from_slice(&1u16.to_le_bytes());
    b[104..108].copy_from_slice(&1u32.to_le_bytes());
    match ctx.tunnel().write(GuestPtr::new(a[0]), &b) {
        Ok(()) => Ok(0),
        Err(_) => Err(Errno::FAULT.into()),
    }
}

/// getrusage: user time = the runner's CPU time (nearly all of it is the
/// guest's), everything else 0; children: none.
pub fn getrusage(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let who = a[0] as i64;
    let mut b = [0u8; 144];
    match who {
        RUSAGE_SELF | RUSAGE_THREAD => {
            let (sec, nsec) = crate::host::clock(ClockId::ProcessCPUTime);
            b[..8].copy_from_slice(&sec.to_le_bytes());
            b[8..16].copy_from_slice(&(nsec / 1000).to_le_bytes());
            // ru_maxrss in KiB.
            let kib = ctx.memory().0.peak_bytes() / 1024;
            b[32..40].copy_from_slice(&kib.to_le_bytes());
        }
        RUSAGE_CHILDREN => {}
        _ => return Err(Errno::INVAL.into()),
    }
    match ctx.tunnel().write(GuestPtr::new(a[1]), &b) {
        Ok(()) => Ok(0),
        Err(_) => Err(Errno::FAULT.into()),
    }
}

/// Whether `pid` names the calling process or one of its threads.
fn own(ctx: &Ctx<'_>, pid: u64) -> bool {
    pid == 0 || pid == ctx.process.identity.pid || ctx.process.threads.is_alive(pid)
}

/// sched_getaffinity: CPUs 0 .. the sandbox's CPU count (`Kernel::cpus`:
/// the host CPUs the runner may use, at most `limits.threads`). Returns
/// the bytes written.
pub fn sched_getaffinity(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (pid, len, mask) = (a[0], a[1], GuestPtr::new(a[2]));
    if !own(ctx, pid) {
        return Err(Errno::SRCH.into());
    }
    if len < 8 || len % 8 != 0 {
        return Err(Errno::INVAL.into());
    }
    let cpus = ctx.kernel.cpus.clamp(1, 64);
    let bits = if cpus == 64 {
        u64::MAX
    } else {
        (1u64 << cpus) - 1
    };
    match ctx.tunnel().write(mask, &bits.to_le_bytes()) {
        Ok(()) => Ok(8),
        Err(_) => Err(Errno::FAULT.into()),
    }
}

/// sched_setaffinity: any set holding at least one of the sandbox's CPUs
/// is accepted (threads are not pinned: the host schedules the vCPUs).
pub fn sched_setaffinity(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (pid, len, mask) = (a[0], a[1], GuestPtr::new(a[2]));
    if !own(ctx, pid) {
        return Err(Errno::SRCH.into());
    }
    if len == 0 {
        return Err(Errno::INVAL.into());
    }
    let mut first = [0u8; 8];
    let n = len.min(8) as usize;
    if ctx.tunnel().read(mask, &mut first[..n]).is_err() {
        return Err(Errno::FAULT.into());
    }
    let cpus = ctx.kernel.cpus.clamp(1, 64);
    let ours = if cpus == 64 {
        u64::MAX
    } else {
        (1u64 << cpus) - 1
    };
    if u64::from_le_bytes(first) & ours == 0 {
        return Err(Errno::INVAL.into());
    }
    Ok(0)
}

pub fn sched_yield(_: &mut Ctx<'_>, _: &Args) -> SyscallResult {
    std::thread::yield_now();
    Ok(0)
}

/// getcpu: the calling thread's vCPU, folded into the sandbox's CPUs;
/// node 0.
pub fn getcpu(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let cpu = (ctx.thread.cpu.index % ctx.kernel.cpus.max(1)) as u32;
    for (p, v) in [(a[0], cpu), (a[1], 0)] {
        if p != 0
            && ctx
                .tunnel()
                .write(GuestPtr::new(p), &v.to_le_bytes())
                .is_err()
        {
            return Err(Errno::FAULT.into());
        }
    }
    Ok(0)
}

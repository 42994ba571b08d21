//! sched_setattr, sched_getattr and sched_rr_get_interval, and the one
//! check every change of a process's scheduling goes through
//! ([`change`]: sched_setscheduler and sched_setparam use it too), made
//! as Linux's `__sched_setscheduler` makes it for an unprivileged caller:
//! EINVAL for what no caller may ask, then EPERM for what needs
//! CAP_SYS_NICE (a lower nice value, a real-time or deadline policy,
//! leaving SCHED_IDLE, dropping SCHED_RESET_ON_FORK), which no sandboxed
//! process has. The calling process only, as in `scheduling.rs`.

use super::scheduling::{
    own, SCHED_BATCH, SCHED_DEADLINE, SCHED_FIFO, SCHED_IDLE, SCHED_OTHER, SCHED_RR,
};
use super::{Args, Ctx, SyscallResult};
use crate::abi::Errno;
use crate::kernel::process::Scheduling;
use crate::tunnel::GuestPtr;
use thinvisor_kmod::PAGE_SIZE;

const SCHED_FLAG_RESET_ON_FORK: u64 = 0x01;
const SCHED_FLAG_KEEP_POLICY: u64 = 0x08;
const SCHED_FLAG_KEEP_PARAMS: u64 = 0x10;
const SCHED_FLAG_UTIL_CLAMP_MIN: u64 = 0x20;
const SCHED_FLAG_UTIL_CLAMP_MAX: u64 = 0x40;
/// Every flag Linux knows (SCHED_FLAG_ALL).
const SCHED_FLAG_ALL: u64 = 0x7f;
/// `struct sched_attr` without (VER0) and with (VER1) the clamps.
const SCHED_ATTR_SIZE_VER0: u64 = 48;
const SCHED_ATTR_SIZE_VER1: usize = 56;
/// The utilization scale of the clamps (SCHED_CAPACITY_SCALE).
const CAPACITY: u32 = 1024;

/// One change of the caller's scheduling, as `sched_attr` carries it.
pub(super) struct Change {
    /// None: keep the policy and its SCHED_RESET_ON_FORK (sched_setparam).
    pub policy: Option<u32>,
    pub priority: u32,
    pub flags: u64,
    pub nice: i32,
    /// The deadline policy's (runtime, deadline, period).
    pub deadline: (u64, u64, u64),
    /// The clamps asked for (-1: back to the default).
    pub util: (i32, i32),
}

impl Change {
    /// A change to `policy` (None: the current one) at `priority`, the
    /// nice value kept: what sched_setscheduler and sched_setparam ask.
    pub fn policy(now: &Scheduling, policy: Option<u32>, priority: u32, reset: bool) -> Change {
        Change {
            policy,
            priority,
            flags: if reset { SCHED_FLAG_RESET_ON_FORK } else { 0 },
            nice: now.nice,
            deadline: (0, 0, 0),
            util: (0, 0),
        }
    }
}

/// The deadline parameters Linux accepts (`__checkparam_dl`): a deadline,
/// runtime at least 1024 ns and no more than the deadline, the deadline no
/// more than a period that is not 0.
fn deadline_valid((runtime, deadline, period): (u64, u64, u64)) -> bool {
    deadline != 0
        && runtime >= 1024
        && runtime <= deadline
        && (period == 0 || deadline <= period)
        && deadline < 1 << 63
        && period < 1 << 63
}

/// Checks `c` against the caller's scheduling `now`, and returns what it
/// becomes.
pub(super) fn change(now: Scheduling, c: &Change) -> Result<Scheduling, Errno> {
    let (policy, reset) = match c.policy {
        None => (now.policy, now.reset_on_fork),
        Some(p) => {
            if !matches!(
                p,
                SCHED_OTHER | SCHED_BATCH | SCHED_IDLE | SCHED_FIFO | SCHED_RR | SCHED_DEADLINE
            ) {
                return Err(Errno::INVAL);
            }
            (p, c.flags & SCHED_FLAG_RESET_ON_FORK != 0)
        }
    };
    let real_time = matches!(policy, SCHED_FIFO | SCHED_RR);
    if c.flags & !SCHED_FLAG_ALL != 0
        || c.priority > 99
        || (policy == SCHED_DEADLINE && !deadline_valid(c.deadline))
        || real_time != (c.priority != 0)
    {
        return Err(Errno::INVAL);
    }
    let fair = matches!(policy, SCHED_OTHER | SCHED_BATCH);
    if (fair && c.nice < now.nice)
        || real_time
        || policy == SCHED_DEADLINE
        || (now.policy == SCHED_IDLE && policy != SCHED_IDLE)
        || (now.reset_on_fork && !reset)
    {
        return Err(Errno::PERM);
    }
    let mut uclamp = now.uclamp.unwrap_or((0, CAPACITY));
    if c.flags & (SCHED_FLAG_UTIL_CLAMP_MIN | SCHED_FLAG_UTIL_CLAMP_MAX) != 0 {
        let pick = |flag: u64, asked: i32, default: u32, current: u32| -> Result<u32, Errno> {
            if c.flags & flag == 0 {
                return Ok(current);
            }
            match asked {
                -1 => Ok(default),
                v if (0..=CAPACITY as i32).contains(&v) => Ok(v as u32),
                _ => Err(Errno::INVAL),
            }
        };
        let min = pick(SCHED_FLAG_UTIL_CLAMP_MIN, c.util.0, 0, uclamp.0)?;
        let max = pick(SCHED_FLAG_UTIL_CLAMP_MAX, c.util.1, CAPACITY, uclamp.1)?;
        if min > max {
            return Err(Errno::INVAL);
        }
        uclamp = (min, max);
    }
    let keep = c.flags & SCHED_FLAG_KEEP_PARAMS != 0;
    Ok(Scheduling {
        policy,
        reset_on_fork: reset,
        nice: if fair && !keep { c.nice } else { now.nice },
        uclamp: (uclamp != (0, CAPACITY)).then_some(uclamp),
        ..now
    })
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// sched_setattr(pid, attr, flags): `struct sched_attr` of any size from
/// VER0 (48 bytes; a size of 0 means it) to a page, bytes past the 56 the
/// runner knows all zero (else E2BIG, the size it knows written back);
/// the nice value clamped to -20..=19 as Linux clamps it.
pub fn sched_setattr(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (pid, ptr) = (a[0], GuestPtr::new(a[1]));
    if ptr.addr() == 0 || (pid as i32) < 0 || a[2] as u32 != 0 {
        return Err(Errno::INVAL.into());
    }
    let mut head = [0u8; 4];
    ctx.tunnel()
        .read(ptr, &mut head)
        .map_err(|_| Errno::FAULT)?;
    let size = match u64::from(u32::from_le_bytes(head)) {
        0 => SCHED_ATTR_SIZE_VER0,
        s => s,
    };
    if !(SCHED_ATTR_SIZE_VER0..=PAGE_SIZE).contains(&size) {
        let known = (SCHED_ATTR_SIZE_VER1 as u32).to_le_bytes();
        ctx.tunnel().write(ptr, &known).map_err(|_| Errno::FAULT)?;
        return Err(Errno::TOOBIG.into());
    }
    let mut b = vec![0u8; size as usize];
    ctx.tunnel().read(ptr, &mut b).map_err(|_| Errno::FAULT)?;
    if b.iter().skip(SCHED_ATTR_SIZE_VER1).any(|&x| x != 0) {
        let known = (SCHED_ATTR_SIZE_VER1 as u32).to_le_bytes();
        ctx.tunnel().write(ptr, &known).map_err(|_| Errno::FAULT)?;
        return Err(Errno::TOOBIG.into());
    }
    b.resize(SCHED_ATTR_SIZE_VER1.max(b.len()), 0);
    let flags = u64_at(&b, 8);
    if flags & (SCHED_FLAG_UTIL_CLAMP_MIN | SCHED_FLAG_UTIL_CLAMP_MAX) != 0
        && (size as usize) < SCHED_ATTR_SIZE_VER1
    {
        return Err(Errno::INVAL.into());
    }
    let policy = u32_at(&b, 4);
    if (policy as i32) < 0 {
        return Err(Errno::INVAL.into());
    }
    own(ctx, pid)?;
    let now = ctx.process.sched;
    let c = Change {
        policy: (flags & SCHED_FLAG_KEEP_POLICY == 0).then_some(policy),
        priority: u32_at(&b, 20),
        flags,
        nice: if flags & SCHED_FLAG_KEEP_PARAMS != 0 {
            now.nice
        } else {
            (u32_at(&b, 16) as i32).clamp(-20, 19)
        },
        deadline: (u64_at(&b, 24), u64_at(&b, 32), u64_at(&b, 40)),
        util: (u32_at(&b, 48) as i32, u32_at(&b, 52) as i32),
    };
    ctx.process.sched = change(now, &c)?;
    Ok(0)
}

/// sched_getattr(pid, attr, size, flags): the caller's policy, its
/// SCHED_RESET_ON_FORK flag, nice value and clamps, as many bytes of the
/// 56 the runner knows as `size` holds (at least VER0's 48), `size` field
/// set to what was written.
pub fn sched_getattr(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (pid, ptr, size) = (a[0], GuestPtr::new(a[1]), a[2] as u32 as u64);
    if ptr.addr() == 0
        || (pid as i32) < 0
        || !(SCHED_ATTR_SIZE_VER0..=PAGE_SIZE).contains(&size)
        || a[3] as u32 != 0
    {
        return Err(Errno::INVAL.into());
    }
    own(ctx, pid)?;
    let s = ctx.process.sched;
    let n = (size as usize).min(SCHED_ATTR_SIZE_VER1);
    let (min, max) = s.uclamp.unwrap_or((0, CAPACITY));
    let mut b = Vec::with_capacity(SCHED_ATTR_SIZE_VER1);
    b.extend_from_slice(&(n as u32).to_le_bytes());
    b.extend_from_slice(&s.policy.to_le_bytes());
    let flags = if s.reset_on_fork {
        SCHED_FLAG_RESET_ON_FORK
    } else {
        0
    };
    b.extend_from_slice(&flags.to_le_bytes());
    b.extend_from_slice(&s.nice.to_le_bytes());
    b.extend_from_slice(&[0u8; 4 + 24]); // priority; runtime, deadline, period
    b.extend_from_slice(&min.to_le_bytes());
    b.extend_from_slice(&max.to_le_bytes());
    ctx.tunnel().write(ptr, &b[..n]).map_err(|_| Errno::FAULT)?;
    Ok(0)
}

/// sched_rr_get_interval(pid, tp): the time slice of the caller's policy.
/// None of its policies is round-robin; Linux answers the fair class's
/// slice for a lone task, its scheduling latency: 6 ms times one plus the
/// log2 of the CPUs (at most 8), as here with the sandbox's CPUs.
pub fn sched_rr_get_interval(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    if (a[0] as i32) < 0 {
        return Err(Errno::INVAL.into());
    }
    own(ctx, a[0])?;
    let cpus = ctx.kernel.cpus.clamp(1, 8);
    let nsec = 6_000_000 * (1 + u64::from(cpus.ilog2()));
    let mut ts = [0u8; 16];
    ts[8..].copy_from_slice(&nsec.to_le_bytes());
    ctx.tunnel()
        .write(GuestPtr::new(a[1]), &ts)
        .map_err(|_| Errno::FAULT)?;
    Ok(0)
}

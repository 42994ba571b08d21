//! System V semaphore sets (semget, semop, semtimedop, semctl), the
//! sandbox's own (kernel/sysv_ipc.rs). A semop applies all its
//! operations at once or none; one that cannot go on waits (`Wait::Poll`,
//! until semtimedop's timeout, which ends it with EAGAIN) unless the
//! operation that blocks has IPC_NOWAIT. SEM_UNDO adjustments are kept
//! per process and applied when it ends (run/processes.rs). GETNCNT and
//! GETZCNT (how many wait) are refused, reported: the runner does not
//! keep waiters on a set.

use super::sysv::{self, IPC_INFO, IPC_NOWAIT, IPC_RMID, IPC_SET, IPC_STAT};
use super::{poll, Args, Ctx, Stop, SyscallResult, Wait};
use crate::abi::Errno;
use crate::kernel::sysv_ipc::{Found, Kind, SemSet, MAX_SEM_SETS, SEMMSL, SEMOPM, SEMVMX};
use crate::tunnel::GuestPtr;
use std::time::Duration;

const SEM_UNDO: u64 = 0x1000;
const GETPID: u64 = 11;
const GETVAL: u64 = 12;
const GETALL: u64 = 13;
const GETNCNT: u64 = 14;
const GETZCNT: u64 = 15;
const SETVAL: u64 = 16;
const SETALL: u64 = 17;
const SEM_STAT: u64 = 18;
const SEM_INFO: u64 = 19;
const SEM_STAT_ANY: u64 = 20;
/// Linux's SEMUSZ (IPC_INFO's semusz).
const SEMUSZ: i32 = 20;
/// The largest SEM_UNDO adjustment, either way (Linux's SEMAEM).
const SEMAEM: i64 = SEMVMX;

pub fn semget(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (key, n, flags) = (a[0] as i32, a[1] as i32, a[2]);
    if n < 0 || n as u64 > SEMMSL {
        return Err(Errno::INVAL.into());
    }
    match ctx.kernel.ipc.lookup(Kind::Sems, key, flags)? {
        Found::Existing(id) => {
            let s = ctx.kernel.ipc.sems.get(id).ok_or(Errno::INVAL)?;
            if n as usize > s.sems.len() {
                return Err(Errno::INVAL.into());
            }
            sysv::check(ctx, &s.perm, sysv::requested(flags))?;
            Ok(id as u64)
        }
        Found::Make => {
            if n == 0 {
                return Err(Errno::INVAL.into());
            }
            let perm = sysv::new_perm(ctx, key, flags);
            let id = ctx
                .kernel
                .ipc
                .new_sems(perm, n as usize, sysv::now())
                .ok_or(Errno::NOSPC)?;
            Ok(id as u64)
        }
    }
}

pub fn semop(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    operate(ctx, a[0], a[1], a[2], 0)
}

pub fn semtimedop(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    operate(ctx, a[0], a[1], a[2], a[3])
}

/// One `struct sembuf`.
#[derive(Debug, Clone, Copy)]
struct Op {
    num: u16,
    op: i16,
    flags: u64,
}

fn operate(ctx: &mut Ctx<'_>, id: u64, sops: u64, nsops: u64, timeout: u64) -> SyscallResult {
    if nsops < 1 || (id as i64) < 0 {
        return Err(Errno::INVAL.into());
    }
    if nsops > SEMOPM {
        return Err(Errno::TOOBIG.into());
    }
    let mut raw = vec![0u8; nsops as usize * 6];
    ctx.tunnel()
        .read(GuestPtr::new(sops), &mut raw)
        .map_err(|_| Errno::FAULT)?;
    let ops: Vec<Op> = raw
        .chunks_exact(6)
        .map(|c| Op {
            num: u16::from_le_bytes([c[0], c[1]]),
            op: i16::from_le_bytes([c[2], c[3]]),
            flags: u64::from(u16::from_le_bytes([c[4], c[5]])),
        })
        .collect();
    let wait = if timeout == 0 {
        None
    } else {
        let mut ts = [0u8; 16];
        ctx.tunnel()
            .read(GuestPtr::new(timeout), &mut ts)
            .map_err(|_| Errno::FAULT)?;
        let sec = i64::from_le_bytes(ts[..8].try_into().map_err(|_| Errno::INVAL)?);
        let nsec = i64::from_le_bytes(ts[8..].try_into().map_err(|_| Errno::INVAL)?);
        if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
            return Err(Errno::INVAL.into());
        }
        Some(Duration::new(sec as u64, nsec as u32))
    };
    // The first run's end, kept across the runs of a call that waited; a
    // rerun whose set is gone was removed while it waited.
    let waited = ctx.thread.resume.is_some();
    let until = poll::wait_end(ctx, wait);
    let id = sysv::id_of(id)?;
    let pid = ctx.process.identity.pid;
    let Some(s) = ctx.kernel.ipc.sems.get(id) else {
        return Err(if waited { Errno::IDRM } else { Errno::INVAL }.into());
    };
    if ops.iter().any(|o| usize::from(o.num) >= s.sems.len()) {
        return Err(Errno::FBIG.into());
    }
    let alter = ops.iter().any(|o| o.op != 0);
    sysv::check(ctx, &s.perm, if alter { 2 } else { 4 })?;
    // All at once on a copy, or none.
    let mut vals: Vec<i64> = s.sems.iter().map(|x| x.val).collect();
    let mut blocked_by: Option<Op> = None;
    for o in &ops {
        let v = &mut vals[usize::from(o.num)];
        let op = i64::from(o.op);
        if op > 0 {
            if *v + op > SEMVMX {
                return Err(Errno::RANGE.into());
            }
            *v += op;
        } else if op < 0 {
            if *v + op < 0 {
                blocked_by = Some(*o);
                break;
            }
            *v += op;
        } else if *v != 0 {
            blocked_by = Some(*o);
            break;
        }
    }
    // A SEM_UNDO adjustment past SEMAEM is ERANGE, as on Linux.
    for o in ops.iter().filter(|o| o.flags & SEM_UNDO != 0) {
        let adj = ctx
            .kernel
            .ipc
            .undo
            .get(&(pid, id, o.num))
            .copied()
            .unwrap_or(0);
        let next = adj - i64::from(o.op);
        if !(-(SEMAEM + 1)..=SEMAEM).contains(&next) {
            return Err(Errno::RANGE.into());
        }
    }
    if let Some(o) = blocked_by {
        if o.flags & IPC_NOWAIT != 0 {
            return Err(Errno::AGAIN.into());
        }
        if until.is_some_and(|u| std::time::Instant::now() >= u) {
            return Err(Errno::AGAIN.into());
        }
        return Err(Stop::Block(Wait::poll(until)));
    }
    let s = ctx.kernel.ipc.sems.get_mut(id).ok_or(Errno::INVAL)?;
    for o in &ops {
        let sem = &mut s.sems[usize::from(o.num)];
        sem.pid = pid as u32;
    }
    for (sem, v) in s.sems.iter_mut().zip(vals) {
        sem.val = v;
    }
    s.otime = sysv::now();
    for o in ops.iter().filter(|o| o.flags & SEM_UNDO != 0 && o.op != 0) {
        let adj = ctx.kernel.ipc.undo.entry((pid, id, o.num)).or_default();
        *adj -= i64::from(o.op);
    }
    Ok(0)
}

pub fn semctl(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (id, num, cmd, arg) = (a[0], a[1] as i32, sysv::command(a[2]), a[3]);
    match cmd {
        IPC_INFO | SEM_INFO => {
            let ipc = &ctx.kernel.ipc;
            let used = ipc.sems.len() as i32;
            let total: i32 = (0..MAX_SEM_SETS as i32)
                .filter_map(|s| ipc.sems.slot(s))
                .map(|s| s.sems.len() as i32)
                .sum();
            // As Linux's semctl_info: SEM_INFO puts the sets in use in
            // semusz and their semaphores in semaem; IPC_INFO the limits.
            let map = (MAX_SEM_SETS as u64 * SEMMSL) as i32;
            let (usz, aem) = if cmd == SEM_INFO {
                (used, total)
            } else {
                (SEMUSZ, SEMVMX as i32)
            };
            let fields: [i32; 10] = [
                map,
                MAX_SEM_SETS as i32,
                (MAX_SEM_SETS as u64 * SEMMSL) as i32,
                (MAX_SEM_SETS as u64 * SEMMSL) as i32,
                SEMMSL as i32,
                SEMOPM as i32,
                SEMOPM as i32,
                usz,
                SEMVMX as i32,
                aem,
            ];
            let b: Vec<u8> = fields.iter().flat_map(|f| f.to_le_bytes()).collect();
            sysv::write_out(ctx, arg, &b)?;
            Ok(ctx.kernel.ipc.sems.highest_slot().map_or(0, |s| s as u64))
        }
        IPC_STAT | SEM_STAT | SEM_STAT_ANY => sysv::stat(
            ctx,
            |ipc| &ipc.sems,
            id,
            (cmd != IPC_STAT, cmd == SEM_STAT_ANY),
            stat_bytes,
            arg,
        ),
        IPC_SET => {
            let mut b = [0u8; 104];
            sysv::read_in(ctx, arg, &mut b)?;
            let id = sysv::id_of(id)?;
            let s = ctx.kernel.ipc.sems.get(id).ok_or(Errno::INVAL)?;
            sysv::check_owner(ctx, &s.perm)?;
            let s = ctx.kernel.ipc.sems.get_mut(id).ok_or(Errno::INVAL)?;
            sysv::set_from(&mut s.perm, &b[..48]);
            s.ctime = sysv::now();
            Ok(0)
        }
        IPC_RMID => sysv::remove(
            ctx,
            |ipc| &ipc.sems,
            id,
            |ipc, id| {
                ipc.remove_sems(id);
            },
        ),
        GETVAL | GETPID | SETVAL => {
            let id = sysv::id_of(id)?;
            let s = ctx.kernel.ipc.sems.get(id).ok_or(Errno::INVAL)?;
            let i = usize::try_from(num)
                .ok()
                .filter(|&i| i < s.sems.len())
                .ok_or(Errno::INVAL)?;
            if cmd == SETVAL {
                let v = i64::from(arg as i32);
                if !(0..=SEMVMX).contains(&v) {
                    return Err(Errno::RANGE.into());
                }
                sysv::check(ctx, &s.perm, 2)?;
                let pid = ctx.process.identity.pid as u32;
                let s = ctx.kernel.ipc.sems.get_mut(id).ok_or(Errno::INVAL)?;
                s.sems[i] = crate::kernel::sysv_ipc::Sem { val: v, pid };
                s.ctime = sysv::now();
                ctx.kernel
                    .ipc
                    .undo
                    .retain(|&(_, set, n), _| !(set == id && usize::from(n) == i));
                return Ok(0);
            }
            sysv::check(ctx, &s.perm, 4)?;
            Ok(if cmd == GETVAL {
                s.sems[i].val as u64
            } else {
                u64::from(s.sems[i].pid)
            })
        }
        GETALL => {
            let id = sysv::id_of(id)?;
            let s = ctx.kernel.ipc.sems.get(id).ok_or(Errno::INVAL)?;
            sysv::check(ctx, &s.perm, 4)?;
            let b: Vec<u8> = s
                .sems
                .iter()
                .flat_map(|x| (x.val as u16).to_le_bytes())
                .collect();
            sysv::write_out(ctx, arg, &b)?;
            Ok(0)
        }
        SETALL => {
            let id = sysv::id_of(id)?;
            let s = ctx.kernel.ipc.sems.get(id).ok_or(Errno::INVAL)?;
            let mut b = vec![0u8; s.sems.len() * 2];
            sysv::check(ctx, &s.perm, 2)?;
            sysv::read_in(ctx, arg, &mut b)?;
            let vals: Vec<i64> = b
                .chunks_exact(2)
                .map(|c| i64::from(u16::from_le_bytes([c[0], c[1]])))
                .collect();
            if vals.iter().any(|&v| v > SEMVMX) {
                return Err(Errno::RANGE.into());
            }
            let pid = ctx.process.identity.pid as u32;
            let s = ctx.kernel.ipc.sems.get_mut(id).ok_or(Errno::INVAL)?;
            for (sem, v) in s.sems.iter_mut().zip(vals) {
                *sem = crate::kernel::sysv_ipc::Sem { val: v, pid };
            }
            s.ctime = sysv::now();
            ctx.kernel.ipc.undo.retain(|&(_, set, _), _| set != id);
            Ok(0)
        }
        GETNCNT | GETZCNT => {
            if ctx.kernel.reports.first(REPORT_COUNTS) {
                crate::say!(
                    "runner: semctl GETNCNT/GETZCNT (how many wait) is not supported; returned EINVAL"
                );
            }
            Err(Errno::INVAL.into())
        }
        _ => Err(Errno::INVAL.into()),
    }
}

/// Report key of GETNCNT/GETZCNT.
const REPORT_COUNTS: u64 = u64::MAX - 71;

/// `struct semid64_ds` (104 bytes).
fn stat_bytes(s: &SemSet) -> Vec<u8> {
    let mut b = [0u8; 104];
    b[..48].copy_from_slice(&sysv::perm_bytes(&s.perm));
    b[48..56].copy_from_slice(&(s.otime as u64).to_le_bytes());
    b[64..72].copy_from_slice(&(s.ctime as u64).to_le_bytes());
    b[80..88].copy_from_slice(&(s.sems.len() as u64).to_le_bytes());
    b.to_vec()
}

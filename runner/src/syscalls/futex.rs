//! futex(2): WAIT, WAKE, their BITSET forms, REQUEUE, CMP_REQUEUE and
//! WAKE_OP, private or shared, with relative and absolute timeouts on
//! CLOCK_MONOTONIC or CLOCK_REALTIME. The PI operations are refused
//! (ENOSYS): glibc uses them only for mutexes with PTHREAD_PRIO_INHERIT,
//! and musl not at all.
//!
//! Futexes are keyed by process and virtual address, except a shared
//! operation's (no FUTEX_PRIVATE_FLAG) on a word of a shared mapping,
//! keyed by the word's guest-physical address so that processes meet
//! there (`kernel/futex.rs`). The word is read and changed atomically,
//! through the tunnel, while other vCPUs run.

use super::{sleep, Args, Ctx, Stop, SyscallResult, Wait};
use crate::abi::constants::{
    FUTEX_BITSET_MATCH_ANY, FUTEX_CLOCK_REALTIME, FUTEX_CMP_REQUEUE, FUTEX_PRIVATE_FLAG,
    FUTEX_REQUEUE, FUTEX_WAIT, FUTEX_WAIT_BITSET, FUTEX_WAKE, FUTEX_WAKE_BITSET, FUTEX_WAKE_OP,
};
use crate::abi::Errno;
use crate::kernel::futex::{FutexKey, Waiter};
use crate::tunnel::{Access, GuestPtr};
use rustix::time::ClockId;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub fn futex(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (uaddr, op, val) = (GuestPtr::new(a[0]), a[1] as u32, a[2] as u32);
    let (timeout, uaddr2, val3) = (GuestPtr::new(a[3]), GuestPtr::new(a[4]), a[5] as u32);
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    let private = op & FUTEX_PRIVATE_FLAG != 0;
    if realtime && cmd != FUTEX_WAIT && cmd != FUTEX_WAIT_BITSET {
        return Err(Errno::NOSYS.into());
    }
    match cmd {
        FUTEX_WAIT => {
            let until = deadline(ctx, timeout, false, realtime)?;
            wait(ctx, (uaddr, private), val, FUTEX_BITSET_MATCH_ANY, until)
        }
        FUTEX_WAIT_BITSET => {
            if val3 == 0 {
                return Err(Errno::INVAL.into());
            }
            let until = deadline(ctx, timeout, true, realtime)?;
            wait(ctx, (uaddr, private), val, val3, until)
        }
        FUTEX_WAKE => wake(ctx, (uaddr, private), FUTEX_BITSET_MATCH_ANY, val),
        FUTEX_WAKE_BITSET => {
            if val3 == 0 {
                return Err(Errno::INVAL.into());
            }
            wake(ctx, (uaddr, private), val3, val)
        }
        FUTEX_REQUEUE => requeue(ctx, private, (uaddr, uaddr2), val, a[3] as u32, None),
        FUTEX_CMP_REQUEUE => requeue(ctx, private, (uaddr, uaddr2), val, a[3] as u32, Some(val3)),
        FUTEX_WAKE_OP => wake_op(ctx, private, (uaddr, uaddr2), val, a[3] as u32, val3),
        _ => Err(Errno::NOSYS.into()),
    }
}

/// A futex word: where it is, and whether the operation on it is private
/// (FUTEX_PRIVATE_FLAG).
pub(super) type Word = (GuestPtr, bool);

/// The key of the futex word at `ptr`, which must be readable.
pub(super) fn key(ctx: &mut Ctx<'_>, (ptr, private): Word) -> Result<FutexKey, Errno> {
    if !ptr.addr().is_multiple_of(4) {
        return Err(Errno::INVAL);
    }
    let (pa, _) = ctx
        .tunnel()
        .atomic_u32(ptr, Access::Read)
        .map_err(|_| Errno::FAULT)?;
    Ok(key_of(ctx, (ptr, private), pa))
}

/// The key of the futex word at `ptr` in the caller's process, whose
/// guest-physical address is `pa`: by that address for a shared operation
/// on a word of a shared mapping, as Linux keys it by the shared object's
/// page (a private operation there stays the process's own, as on Linux).
fn key_of(ctx: &Ctx<'_>, (ptr, private): Word, pa: u64) -> FutexKey {
    let shared = !private && ctx.process.mm.shared_at(ptr.addr());
    FutexKey::of(ctx.process.identity.pid, ptr.addr(), shared.then_some(pa))
}

/// The wait's end: `timeout` (null: none) relative, or absolute on the
/// monotonic clock (or the realtime one with FUTEX_CLOCK_REALTIME).
pub(super) fn deadline(
    ctx: &mut Ctx<'_>,
    timeout: GuestPtr,
    absolute: bool,
    realtime: bool,
) -> Result<Option<Instant>, Stop> {
    if timeout.addr() == 0 {
        return Ok(None);
    }
    let (sec, nsec) = sleep::read_timespec(ctx, timeout)?;
    let ask = i128::from(sec) * 1_000_000_000 + i128::from(nsec);
    let left = if absolute {
        let clock = if realtime {
            ClockId::Realtime
        } else {
            ClockId::Monotonic
        };
        let (s, ns) = crate::host::clock(clock);
        (ask - (i128::from(s) * 1_000_000_000 + i128::from(ns))).max(0)
    } else {
        ask
    };
    let left = Duration::from_nanos(u64::try_from(left).unwrap_or(u64::MAX));
    Ok(Some(Instant::now().checked_add(left).unwrap_or_else(
        || Instant::now() + Duration::from_secs(86_400 * 365),
    )))
}

pub(super) fn wait(
    ctx: &mut Ctx<'_>,
    (uaddr, private): Word,
    val: u32,
    bitset: u32,
    until: Option<Instant>,
) -> SyscallResult {
    if !uaddr.addr().is_multiple_of(4) {
        return Err(Errno::INVAL.into());
    }
    let (pa, current) = {
        let mut tunnel = ctx.tunnel();
        let (pa, word) = tunnel
            .atomic_u32(uaddr, Access::Read)
            .map_err(|_| Errno::FAULT)?;
        (pa, word.load(Ordering::SeqCst))
    };
    let key = key_of(ctx, (uaddr, private), pa);
    if current != val {
        return Err(Errno::AGAIN.into());
    }
    if until.is_some_and(|u| u <= Instant::now()) {
        return Err(Errno::TIMEDOUT.into());
    }
    let waiter = Waiter {
        tid: ctx.thread.tid,
        bitset,
        parker: ctx.thread.parker.clone(),
    };
    ctx.kernel.futexes.enqueue(key, waiter);
    Err(Stop::Block(Wait::Futex { until }))
}

pub(super) fn wake(ctx: &mut Ctx<'_>, word: Word, bitset: u32, n: u32) -> SyscallResult {
    let key = key(ctx, word)?;
    Ok(ctx.kernel.futexes.wake(key, bitset, u64::from(n)))
}

fn requeue(
    ctx: &mut Ctx<'_>,
    private: bool,
    (uaddr, uaddr2): (GuestPtr, GuestPtr),
    wake: u32,
    requeue: u32,
    expect: Option<u32>,
) -> SyscallResult {
    let from = key(ctx, (uaddr, private))?;
    let to = key(ctx, (uaddr2, private))?;
    if let Some(expect) = expect {
        let mut tunnel = ctx.tunnel();
        let (_, word) = tunnel
            .atomic_u32(uaddr, Access::Read)
            .map_err(|_| Errno::FAULT)?;
        if word.load(Ordering::SeqCst) != expect {
            return Err(Errno::AGAIN.into());
        }
    }
    let (woken, moved) = ctx
        .kernel
        .futexes
        .requeue(from, to, u64::from(wake), u64::from(requeue));
    // CMP_REQUEUE returns both; REQUEUE only the woken.
    Ok(if expect.is_some() {
        woken + moved
    } else {
        woken
    })
}

/// FUTEX_WAKE_OP: atomically `*uaddr2 = op(*uaddr2, oparg)`, wake `n` on
/// `uaddr`, and `n2` on `uaddr2` too if the old value meets the comparison.
fn wake_op(
    ctx: &mut Ctx<'_>,
    private: bool,
    (uaddr, uaddr2): (GuestPtr, GuestPtr),
    n: u32,
    n2: u32,
    encoded: u32,
) -> SyscallResult {
    let op = WakeOp::decode(encoded).ok_or(Errno::NOSYS)?;
    let key1 = key(ctx, (uaddr, private))?;
    if !uaddr2.addr().is_multiple_of(4) {
        return Err(Errno::INVAL.into());
    }
    let (pa, old) = {
        let mut tunnel = ctx.tunnel();
        let (pa, word) = tunnel
            .atomic_u32(uaddr2, Access::Write)
            .map_err(|_| Errno::FAULT)?;
        let old = word
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| Some(op.apply(v)))
            .unwrap_or_else(|v| v);
        (pa, old)
    };
    let key2 = key_of(ctx, (uaddr2, private), pa);
    let mut woken = ctx
        .kernel
        .futexes
        .wake(key1, FUTEX_BITSET_MATCH_ANY, u64::from(n));
    if op.compare(old) {
        woken += ctx
            .kernel
            .futexes
            .wake(key2, FUTEX_BITSET_MATCH_ANY, u64::from(n2));
    }
    Ok(woken)
}

/// FUTEX_WAKE_OP's encoded operation: `op:4 cmp:4 oparg:12 cmparg:12`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WakeOp {
    op: u32,
    oparg: u32,
    cmp: u32,
    cmparg: u32,
}

/// FUTEX_OP_OPARG_SHIFT: oparg is a shift count (1 << oparg).
const FUTEX_OP_OPARG_SHIFT: u32 = 8;

impl WakeOp {
    /// Decodes `v`; None for an unknown operation or comparison.
    pub fn decode(v: u32) -> Option<WakeOp> {
        let raw_op = (v >> 28) & 0xf;
        let sext12 = |x: u32| (((x << 20) as i32) >> 20) as u32;
        let mut oparg = sext12((v >> 12) & 0xfff);
        if raw_op & FUTEX_OP_OPARG_SHIFT != 0 {
            if oparg > 31 {
                return None;
            }
            oparg = 1 << oparg;
        }
        let op = raw_op & 7;
        let cmp = (v >> 24) & 0xf;
        if op > 4 || cmp > 5 {
            return None;
        }
        Some(WakeOp {
            op,
            oparg,
            cmp,
            cmparg: sext12(v & 0xfff),
        })
    }

    /// SET, ADD, OR, ANDN, XOR.
    pub fn apply(&self, old: u32) -> u32 {
        match self.op {
            0 => self.oparg,
            1 => old.wrapping_add(self.oparg),
            2 => old | self.oparg,
            3 => old & !self.oparg,
            _ => old ^ self.oparg,
        }
    }

    /// EQ, NE, LT, LE, GT, GE, signed as Linux compares them.
    pub fn compare(&self, old: u32) -> bool {
        let (a, b) = (old as i32, self.cmparg as i32);
        match self.cmp {
            0 => a == b,
            1 => a != b,
            2 => a < b,
            3 => a <= b,
            4 => a > b,
            _ => a >= b,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::WakeOp;

    /// glibc's FUTEX_OP_CLEAR_WAKE_IF_GT_ONE: set 0, wake if old > 1.
    #[test]
    fn glibc_wake_op_decodes_and_applies() {
        let op = WakeOp::decode((4 << 24) | 1).unwrap_or(WakeOp {
            op: 9,
            oparg: 0,
            cmp: 9,
            cmparg: 0,
        });
        assert_eq!(op.apply(5), 0);
        assert!(op.compare(2));
        assert!(!op.compare(1));
    }

    #[test]
    fn shifted_oparg_and_bad_encodings() {
        // OR with 1 << 3, compare NE 0.
        let op = WakeOp::decode(((2 | 8) << 28) | (1 << 24) | (3 << 12));
        assert_eq!(op.map(|o| o.apply(0)), Some(8));
        assert!(WakeOp::decode(7 << 28).is_none(), "no such op");
        assert!(WakeOp::decode(9 << 24).is_none(), "no such comparison");
        assert!(
            WakeOp::decode(((8) << 28) | (40 << 12)).is_none(),
            "shift too far"
        );
    }
}

//! The futex2 calls futex_wait, futex_wake and futex_requeue: the same
//! wait queues as futex(2) (`futex.rs`, `kernel/futex.rs`), with flags per
//! futex (FUTEX2_SIZE_U32, the one size Linux implements, and
//! FUTEX2_PRIVATE), a 64-bit mask, absolute timeouts on a named clock,
//! and the strict counts of futex2 (waking 0 wakes none).
//! futex_waitv (waiting on several futexes at once) is not emulated: a
//! thread here waits on one queue at a time.

use super::futex::{deadline, key, wait, wake, Word};
use super::{Args, Ctx, SyscallResult};
use crate::abi::Errno;
use crate::tunnel::{Access, GuestPtr};
use std::sync::atomic::Ordering;

const FUTEX2_SIZE_U32: u64 = 0x02;
const FUTEX2_SIZE_MASK: u64 = 0x03;
const FUTEX2_PRIVATE: u64 = 0x80;
const CLOCK_REALTIME: u64 = 0;
const CLOCK_MONOTONIC: u64 = 1;

/// A futex2 word: `flags` checked (32 bits; nothing but FUTEX2_PRIVATE
/// besides the size), and `values` (the value or mask that go with it)
/// fitting in 32 bits; EINVAL otherwise, as Linux answers.
fn word(ptr: u64, flags: u64, values: &[u64]) -> Result<Word, Errno> {
    if flags & !(FUTEX2_SIZE_MASK | FUTEX2_PRIVATE) != 0
        || flags & FUTEX2_SIZE_MASK != FUTEX2_SIZE_U32
        || values.iter().any(|v| v >> 32 != 0)
    {
        return Err(Errno::INVAL);
    }
    Ok((GuestPtr::new(ptr), flags & FUTEX2_PRIVATE != 0))
}

/// futex_wait(uaddr, val, mask, flags, timeout, clockid): waits while
/// the word holds `val`, for a wake whose mask meets `mask`, until the
/// absolute `timeout` on CLOCK_MONOTONIC or CLOCK_REALTIME.
pub fn futex_wait(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (val, mask, timeout, clock) = (a[1], a[2], GuestPtr::new(a[4]), a[5]);
    let w = word(a[0], a[3], &[val, mask])?;
    if timeout.addr() != 0 && clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC {
        return Err(Errno::INVAL.into());
    }
    let until = deadline(ctx, timeout, true, clock == CLOCK_REALTIME)?;
    if mask == 0 {
        return Err(Errno::INVAL.into());
    }
    wait(ctx, w, val as u32, mask as u32, until)
}

/// futex_wake(uaddr, mask, nr, flags): wakes up to `nr` waiters whose
/// mask meets `mask`; returns how many.
pub fn futex_wake(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (mask, nr) = (a[1], a[2] as i32);
    let w = word(a[0], a[3], &[mask])?;
    if mask == 0 {
        return Err(Errno::INVAL.into());
    }
    wake(ctx, w, mask as u32, nr.max(0) as u32)
}

/// One `struct futex_waitv`: (val, uaddr, flags), its reserved word 0.
fn read_waitv(ctx: &mut Ctx<'_>, at: GuestPtr) -> Result<(u64, Word), Errno> {
    let mut b = [0u8; 24];
    ctx.tunnel().read(at, &mut b).map_err(|_| Errno::FAULT)?;
    let field = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i * 8..i * 8 + 8]);
        u64::from_le_bytes(w)
    };
    let (val, uaddr, flags_and_reserved) = (field(0), field(1), field(2));
    if flags_and_reserved >> 32 != 0 {
        return Err(Errno::INVAL);
    }
    Ok((val, word(uaddr, flags_and_reserved, &[val])?))
}

/// futex_requeue(waiters, flags, nr_wake, nr_requeue): `waiters` is two
/// `struct futex_waitv`; if the first word still holds its `val`, wakes
/// up to `nr_wake` of its waiters and moves up to `nr_requeue` of the
/// rest to the second (else EAGAIN). Returns both counts together.
pub fn futex_requeue(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (waiters, nr_wake, nr_requeue) = (GuestPtr::new(a[0]), a[2] as i32, a[3] as i32);
    if a[1] as u32 != 0 || waiters.addr() == 0 {
        return Err(Errno::INVAL.into());
    }
    let (expect, from) = read_waitv(ctx, waiters)?;
    let second = waiters.checked_add(24).ok_or(Errno::FAULT)?;
    let (_, to) = read_waitv(ctx, second)?;
    if nr_wake < 0 || nr_requeue < 0 {
        return Err(Errno::INVAL.into());
    }
    let (from_key, to_key) = (key(ctx, from)?, key(ctx, to)?);
    {
        let mut tunnel = ctx.tunnel();
        let (_, current) = tunnel
            .atomic_u32(from.0, Access::Read)
            .map_err(|_| Errno::FAULT)?;
        if u64::from(current.load(Ordering::SeqCst)) != expect {
            return Err(Errno::AGAIN.into());
        }
    }
    let (woken, moved) =
        ctx.kernel
            .futexes
            .requeue(from_key, to_key, nr_wake as u64, nr_requeue as u64);
    Ok(woken + moved)
}

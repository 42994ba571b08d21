//! clock_gettime and getrandom.

use super::errno::*;
use super::{Args, Ctx, Outcome};
use crate::tunnel::{Access, GuestPtr};
use rustix::time::ClockId;

fn clock_id(id: u64) -> Option<ClockId> {
    Some(match id {
        0 => ClockId::Realtime,
        1 => ClockId::Monotonic,
        2 => ClockId::ProcessCPUTime,
        3 => ClockId::ThreadCPUTime,
        4 => ClockId::MonotonicRaw,
        5 => ClockId::RealtimeCoarse,
        6 => ClockId::MonotonicCoarse,
        7 => ClockId::Boottime,
        _ => return None,
    })
}

pub fn clock_gettime(ctx: &mut Ctx<'_>, a: &Args) -> Outcome {
    let Some(id) = clock_id(a[0]) else {
        return Outcome::err(EINVAL);
    };
    let (sec, nsec) = crate::host::clock(id);
    let mut ts = [0u8; 16];
    ts[..8].copy_from_slice(&sec.to_le_bytes());
    ts[8..].copy_from_slice(&nsec.to_le_bytes());
    match ctx.tunnel().write(GuestPtr::new(a[1]), &ts) {
        Ok(()) => Outcome::ok(0),
        Err(_) => Outcome::err(EFAULT),
    }
}

/// Linux returns at most this many bytes per getrandom call.
const MAX_RANDOM: u64 = 0x01ff_ffff;

pub fn getrandom(ctx: &mut Ctx<'_>, a: &Args) -> Outcome {
    let (buf, len, flags) = (GuestPtr::new(a[0]), a[1].min(MAX_RANDOM), a[2]);
    if flags & !0x7 != 0 {
        return Outcome::err(EINVAL);
    }
    if ctx.tunnel().check(buf, len, Access::Write).is_err() {
        return Outcome::err(EFAULT);
    }
    let mut chunk = [0u8; 4096];
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(4096) as usize;
        crate::host::random_bytes(&mut chunk[..n]);
        let Some(at) = buf.add(done) else {
            return Outcome::err(EFAULT);
        };
        if ctx.tunnel().write(at, &chunk[..n]).is_err() {
            return Outcome::err(EFAULT);
        }
        done += n as u64;
    }
    Outcome::ok(len)
}

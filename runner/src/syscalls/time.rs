//! clock_gettime and getrandom.

use super::{Args, Ctx, SyscallResult};
use crate::abi::constants::MAX_RANDOM;
use crate::abi::Errno;
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

pub fn clock_gettime(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let Some(id) = clock_id(a[0]) else {
        return Err(Errno::INVAL.into());
    };
    let (sec, nsec) = crate::host::clock(id);
    let mut ts = [0u8; 16];
    ts[..8].copy_from_slice(&sec.to_le_bytes());
    ts[8..].copy_from_slice(&nsec.to_le_bytes());
    match ctx.tunnel().write(GuestPtr::new(a[1]), &ts) {
        Ok(()) => Ok(0),
        Err(_) => Err(Errno::FAULT.into()),
    }
}

pub fn getrandom(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (buf, len, flags) = (GuestPtr::new(a[0]), a[1].min(MAX_RANDOM), a[2]);
    if flags & !0x7 != 0 {
        return Err(Errno::INVAL.into());
    }
    if ctx.tunnel().check(buf, len, Access::Write).is_err() {
        return Err(Errno::FAULT.into());
    }
    let mut chunk = [0u8; 4096];
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(4096) as usize;
        crate::host::random_bytes(&mut chunk[..n]);
        let Some(at) = buf.checked_add(done) else {
            return Err(Errno::FAULT.into());
        };
        if ctx.tunnel().write(at, &chunk[..n]).is_err() {
            return Err(Errno::FAULT.into());
        }
        done += n as u64;
    }
    Ok(len)
}

//! time, gettimeofday, clock_getres: the host's clocks (the guest sees real
//! time; nothing else of the host).

use super::{Args, Ctx, SyscallResult};
use crate::abi::Errno;
use crate::tunnel::GuestPtr;
use rustix::time::ClockId;

pub fn time(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (sec, _) = crate::host::clock(ClockId::Realtime);
    if a[0] != 0
        && ctx
            .tunnel()
            .write(GuestPtr::new(a[0]), &sec.to_le_bytes())
            .is_err()
    {
        return Err(Errno::FAULT.into());
    }
    Ok(sec as u64)
}

pub fn gettimeofday(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (tv, tz) = (GuestPtr::new(a[0]), GuestPtr::new(a[1]));
    if tv.addr() != 0 {
        let (sec, nsec) = crate::host::clock(ClockId::Realtime);
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&sec.to_le_bytes());
        b[8..].copy_from_slice(&(nsec / 1000).to_le_bytes());
        if ctx.tunnel().write(tv, &b).is_err() {
            return Err(Errno::FAULT.into());
        }
    }
    // struct timezone: minutes west of UTC and DST type, both 0 (UTC).
    if tz.addr() != 0 && ctx.tunnel().write(tz, &[0u8; 8]).is_err() {
        return Err(Errno::FAULT.into());
    }
    Ok(0)
}

pub fn clock_getres(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let ns: i64 = match a[0] {
        0..=4 | 7 | 11 => 1,
        // The coarse clocks tick with the host's scheduler (typically 4 ms).
        5 | 6 => 4_000_000,
        _ => return Err(Errno::INVAL.into()),
    };
    if a[1] != 0 {
        let mut b = [0u8; 16];
        b[8..].copy_from_slice(&ns.to_le_bytes());
        if ctx.tunnel().write(GuestPtr::new(a[1]), &b).is_err() {
            return Err(Errno::FAULT.into());
        }
    }
    Ok(0)
}

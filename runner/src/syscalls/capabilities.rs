//! capget and capset: the capability sets of a sandboxed process, which
//! are empty, as an unprivileged process's are (the guest's identity is
//! an ordinary user: its `[identity]`). capget reads them (every process
//! of the sandbox has the same, none); capset may only set them to what
//! they are. The header's version is checked as Linux checks it: an
//! unknown one is answered with the version the runner speaks (v3) and
//! EINVAL, or success when no data pointer was given (libcap's probe).

use super::{Args, Ctx, SyscallResult};
use crate::abi::Errno;
use crate::tunnel::GuestPtr;

const VERSION_1: u32 = 0x1998_0330;
const VERSION_2: u32 = 0x2007_1026;
const VERSION_3: u32 = 0x2008_0522;
/// One `struct __user_cap_data_struct`: effective, permitted, inheritable.
const DATA_LEN: usize = 12;

/// The header's (words of data its version has, pid), or the error.
fn header(ctx: &mut Ctx<'_>, ptr: GuestPtr) -> Result<(usize, i32), Errno> {
    let mut b = [0u8; 8];
    ctx.tunnel()
        .read(ptr, &mut b[..4])
        .map_err(|_| Errno::FAULT)?;
    let words = match u32::from_le_bytes([b[0], b[1], b[2], b[3]]) {
        VERSION_1 => 1,
        VERSION_2 | VERSION_3 => 2,
        _ => {
            ctx.tunnel()
                .write(ptr, &VERSION_3.to_le_bytes())
                .map_err(|_| Errno::FAULT)?;
            return Err(Errno::INVAL);
        }
    };
    let pid = ptr.checked_add(4).ok_or(Errno::FAULT)?;
    ctx.tunnel()
        .read(pid, &mut b[4..])
        .map_err(|_| Errno::FAULT)?;
    Ok((words, i32::from_le_bytes([b[4], b[5], b[6], b[7]])))
}

/// capget(header, data): all three sets empty, for the caller or any
/// process or thread of the sandbox (ESRCH for one that is not there).
pub fn capget(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let data = GuestPtr::new(a[1]);
    let (words, pid) = match header(ctx, GuestPtr::new(a[0])) {
        Err(Errno::INVAL) if data.addr() == 0 => return Ok(0),
        Err(e) => return Err(e.into()),
        Ok(_) if data.addr() == 0 => return Ok(0),
        Ok(h) => h,
    };
    if pid < 0 {
        return Err(Errno::INVAL.into());
    }
    let pid = pid as u64;
    let known = pid == 0
        || pid == ctx.process.identity.pid
        || ctx.process.threads.is_alive(pid)
        || ctx.kernel.procs.get(pid).is_some();
    if !known {
        return Err(Errno::SRCH.into());
    }
    ctx.tunnel()
        .write(data, &vec![0u8; words * DATA_LEN])
        .map_err(|_| Errno::FAULT)?;
    Ok(0)
}

/// capset(header, data): only the caller's own sets (another pid: EPERM),
/// and only to the empty sets they are: any capability asked for is one
/// the process does not have (EPERM).
pub fn capset(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (words, pid) = header(ctx, GuestPtr::new(a[0]))?;
    if pid != 0 && pid as u64 != ctx.process.identity.pid {
        return Err(Errno::PERM.into());
    }
    let mut sets = vec![0u8; words * DATA_LEN];
    ctx.tunnel()
        .read(GuestPtr::new(a[1]), &mut sets)
        .map_err(|_| Errno::FAULT)?;
    if sets.iter().any(|&b| b != 0) {
        return Err(Errno::PERM.into());
    }
    Ok(0)
}

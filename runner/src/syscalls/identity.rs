//! The identity the guest sees: uid = gid = 1000 (also in the auxv), pid 2
//! with parent 1, its own session and process group. Nothing of the host's.
//! The guest cannot change its identity except to itself.

use super::errno::*;
use super::process::GUEST_PID;
use super::{Args, Ctx, Outcome};
use crate::tunnel::GuestPtr;

/// uid, euid, gid, egid of the guest (matches AT_UID and friends).
pub const GUEST_ID: u64 = 1000;
/// The parent the guest sees (init).
pub const GUEST_PPID: u64 = 1;
/// "Unchanged" in setreuid/setresuid (-1 as a 32-bit id).
const KEEP: u64 = 0xffff_ffff;

pub fn get_id(_: &mut Ctx<'_>, _: &Args) -> Outcome {
    Outcome::ok(GUEST_ID)
}

pub fn getppid(_: &mut Ctx<'_>, _: &Args) -> Outcome {
    Outcome::ok(GUEST_PPID)
}

fn allowed(id: u64) -> bool {
    let id = id & 0xffff_ffff;
    id == GUEST_ID || id == KEEP
}

/// setuid/setgid: only to the current id (an unprivileged process).
pub fn set_id(_: &mut Ctx<'_>, a: &Args) -> Outcome {
    if a[0] & 0xffff_ffff == KEEP {
        return Outcome::err(EINVAL);
    }
    if allowed(a[0]) {
        Outcome::ok(0)
    } else {
        Outcome::err(EPERM)
    }
}

/// setreuid/setregid (two ids) and setresuid/setresgid (three).
pub fn set_ids(_: &mut Ctx<'_>, a: &Args) -> Outcome {
    if allowed(a[0]) && allowed(a[1]) && allowed(a[2]) {
        Outcome::ok(0)
    } else {
        Outcome::err(EPERM)
    }
}

/// getresuid/getresgid: three 32-bit ids.
pub fn get_res_ids(ctx: &mut Ctx<'_>, a: &Args) -> Outcome {
    let id = (GUEST_ID as u32).to_le_bytes();
    for p in &a[..3] {
        if ctx.tunnel().write(GuestPtr::new(*p), &id).is_err() {
            return Outcome::err(EFAULT);
        }
    }
    Outcome::ok(0)
}

/// getgroups: no supplementary groups.
pub fn getgroups(_: &mut Ctx<'_>, a: &Args) -> Outcome {
    if (a[0] as i32) < 0 {
        return Outcome::err(EINVAL);
    }
    Outcome::ok(0)
}

pub fn setgroups(_: &mut Ctx<'_>, _: &Args) -> Outcome {
    Outcome::err(EPERM)
}

/// getpgrp, getsid(0): the guest leads its own group and session.
pub fn getpgrp(_: &mut Ctx<'_>, _: &Args) -> Outcome {
    Outcome::ok(GUEST_PID)
}

/// getpgid(pid) and getsid(pid).
pub fn getpgid(_: &mut Ctx<'_>, a: &Args) -> Outcome {
    if a[0] == 0 || a[0] == GUEST_PID {
        Outcome::ok(GUEST_PID)
    } else {
        Outcome::err(ESRCH)
    }
}

/// setpgid: only "stay in my own group".
pub fn setpgid(_: &mut Ctx<'_>, a: &Args) -> Outcome {
    let (pid, pgid) = (a[0], a[1]);
    if pid != 0 && pid != GUEST_PID {
        return Outcome::err(ESRCH);
    }
    if pgid == 0 || pgid == GUEST_PID {
        Outcome::ok(0)
    } else {
        Outcome::err(EPERM)
    }
}

/// setsid: the guest already leads its session.
pub fn setsid(_: &mut Ctx<'_>, _: &Args) -> Outcome {
    Outcome::err(EPERM)
}

const PR_SET_PDEATHSIG: u64 = 1;
const PR_GET_PDEATHSIG: u64 = 2;
const PR_GET_DUMPABLE: u64 = 3;
const PR_SET_DUMPABLE: u64 = 4;
const PR_SET_NAME: u64 = 15;
const PR_GET_NAME: u64 = 16;
const PR_GET_NO_NEW_PRIVS: u64 = 39;
const PR_SET_NO_NEW_PRIVS: u64 = 38;

/// prctl: the process name, dumpable and no_new_privs (always set: the
/// guest can never gain privileges); anything else is EINVAL.
pub fn prctl(ctx: &mut Ctx<'_>, a: &Args) -> Outcome {
    match a[0] {
        PR_SET_NAME => {
            // At most 15 bytes are taken, up to a NUL, byte by byte as Linux
            // does (the name may end right before an unmapped page).
            let mut comm = [0u8; 16];
            for (i, slot) in comm.iter_mut().take(15).enumerate() {
                let mut b = [0u8; 1];
                let Some(p) = GuestPtr::new(a[1]).add(i as u64) else {
                    return Outcome::err(EFAULT);
                };
                if ctx.tunnel().read(p, &mut b).is_err() {
                    return Outcome::err(EFAULT);
                }
                if b[0] == 0 {
                    break;
                }
                *slot = b[0];
            }
            ctx.state.run.comm = comm;
            Outcome::ok(0)
        }
        PR_GET_NAME => {
            let comm = ctx.state.run.comm;
            match ctx.tunnel().write(GuestPtr::new(a[1]), &comm) {
                Ok(()) => Outcome::ok(0),
                Err(_) => Outcome::err(EFAULT),
            }
        }
        PR_GET_DUMPABLE => Outcome::ok(0),
        PR_SET_DUMPABLE if a[1] <= 1 => Outcome::ok(0),
        PR_SET_PDEATHSIG if a[1] <= 64 => Outcome::ok(0),
        PR_GET_PDEATHSIG => match ctx.tunnel().write(GuestPtr::new(a[1]), &[0u8; 4]) {
            Ok(()) => Outcome::ok(0),
            Err(_) => Outcome::err(EFAULT),
        },
        PR_SET_NO_NEW_PRIVS if a[1] == 1 => Outcome::ok(0),
        PR_GET_NO_NEW_PRIVS => Outcome::ok(1),
        _ => Outcome::err(EINVAL),
    }
}

//! Process identity and lifetime: exit, getpid, uname, arch_prctl,
//! set_tid_address.

use super::{Args, Ctx, Stop, SyscallResult};
use crate::abi::constants::{
    ARCH_GET_FS, ARCH_GET_GS, ARCH_SET_FS, ARCH_SET_GS, MSR_FS_BASE, MSR_GS_BASE,
};
use crate::abi::layouts::UTSNAME_LEN;
use crate::abi::Errno;
use crate::guest::layout::USER_END;
use crate::kernel::process::Identity;
use crate::tunnel::GuestPtr;

/// Identity queries answered with a constant: the syscall numbers. The
/// in-VM monitor answers these from [`identity_answers`], the runner's
/// handlers from the process's `identity`, which starts as the same.
pub const IDENTITY: &[u64] = &[
    39,  // getpid
    186, // gettid
    110, // getppid
    102, // getuid
    107, // geteuid
    104, // getgid
    108, // getegid
];

/// (syscall number, answer) for each of [`IDENTITY`], for a process
/// whose identity is `id` and whose only thread is its leader.
pub fn identity_answers(id: &Identity) -> [(u64, u64); 7] {
    [
        (39, id.pid),
        (186, id.pid),
        (110, id.ppid),
        (102, id.uid),
        (107, id.uid),
        (104, id.gid),
        (108, id.gid),
    ]
}

pub fn exit(_: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    Err(Stop::Exit((a[0] & 0xff) as i32))
}

pub fn getpid(ctx: &mut Ctx<'_>, _: &Args) -> SyscallResult {
    Ok(ctx.process.identity.pid)
}

pub fn gettid(ctx: &mut Ctx<'_>, _: &Args) -> SyscallResult {
    Ok(ctx.thread.tid)
}

pub fn set_tid_address(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    ctx.thread.clear_child_tid = a[0];
    Ok(ctx.thread.tid)
}

/// The guest's struct utsname. Fixed values: nothing of the host. The
/// in-VM monitor answers uname with the same bytes.
pub fn utsname() -> [u8; UTSNAME_LEN] {
    let fields: [&[u8]; 6] = [
        b"Linux",
        b"thinvisor",
        b"6.1.0-thinvisor",
        b"#1 SMP thinvisor",
        b"x86_64",
        b"(none)",
    ];
    let mut buf = [0u8; UTSNAME_LEN];
    for (i, f) in fields.iter().enumerate() {
        buf[i * 65..i * 65 + f.len()].copy_from_slice(f);
    }
    buf
}

pub fn uname(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let buf = utsname();
    match ctx.tunnel().write(GuestPtr::new(a[0]), &buf) {
        Ok(()) => Ok(0),
        Err(_) => Err(Errno::FAULT.into()),
    }
}

pub fn arch_prctl(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (code, addr) = (a[0], a[1]);
    match code {
        ARCH_SET_FS | ARCH_SET_GS => {
            if addr >= USER_END {
                return Err(Errno::PERM.into());
            }
            let msr = if code == ARCH_SET_FS {
                MSR_FS_BASE
            } else {
                MSR_GS_BASE
            };
            if ctx.set_msr(msr, addr).is_err() {
                return Err(Errno::INVAL.into());
            }
            if code == ARCH_SET_FS {
                ctx.thread.fs_base = addr;
            } else {
                ctx.thread.gs_base = addr;
            }
            Ok(0)
        }
        ARCH_GET_FS | ARCH_GET_GS => {
            let v = if code == ARCH_GET_FS {
                ctx.thread.fs_base
            } else {
                ctx.thread.gs_base
            };
            match ctx.tunnel().write(GuestPtr::new(addr), &v.to_le_bytes()) {
                Ok(()) => Ok(0),
                Err(_) => Err(Errno::FAULT.into()),
            }
        }
        _ => Err(Errno::INVAL.into()),
    }
}

//! What System V message queues and semaphores share (sysv_msg.rs,
//! sysv_sem.rs): making or finding an object by key, permission checks
//! as Linux's ipcperms makes them, `struct ipc64_perm`, and the commands
//! every `*ctl` has. The objects are the sandbox's own
//! (kernel/sysv_ipc.rs).

use super::{Ctx, SyscallResult};
use crate::abi::Errno;
use crate::kernel::sysv_ipc::{Ipc, IpcObject, Perm, Table};

/// The `*ctl` commands (with IPC_64, 0x100, which x86-64 callers may set,
/// taken off).
pub const IPC_RMID: u64 = 0;
pub const IPC_SET: u64 = 1;
pub const IPC_STAT: u64 = 2;
pub const IPC_INFO: u64 = 3;
const IPC_64: u64 = 0x100;

/// `IPC_NOWAIT`, in msgsnd/msgrcv flags and a sembuf's sem_flg.
pub const IPC_NOWAIT: u64 = 0o4000;

/// The command `cmd` names, IPC_64 taken off.
pub fn command(cmd: u64) -> u64 {
    (cmd as u32 as u64) & !IPC_64
}

/// The calling process's uid and gid.
pub fn caller(ctx: &Ctx<'_>) -> (u32, u32) {
    let id = &ctx.process.identity;
    (id.uid as u32, id.gid as u32)
}

/// A new object's permissions: key, the caller as owner and creator, the
/// mode's low 9 bits.
pub fn new_perm(ctx: &Ctx<'_>, key: i32, flags: u64) -> Perm {
    let (uid, gid) = caller(ctx);
    Perm {
        key,
        uid,
        gid,
        cuid: uid,
        cgid: gid,
        mode: (flags & 0o777) as u32,
        seq: 0,
    }
}

/// Whether the caller may access `p` for `want` (0o4 read, 0o2 write, in
/// each class), as Linux's ipcperms: owner or creator bits, else group,
/// else other; uid 0 may do anything.
pub fn permits(ctx: &Ctx<'_>, p: &Perm, want: u32) -> bool {
    let (uid, gid) = caller(ctx);
    if uid == 0 {
        return true;
    }
    let granted = if uid == p.uid || uid == p.cuid {
        p.mode >> 6
    } else if gid == p.gid
        || gid == p.cgid
        || ctx.kernel.groups.iter().any(|&g| g == p.gid || g == p.cgid)
    {
        p.mode >> 3
    } else {
        p.mode
    } & 7;
    want & !granted == 0
}

/// EACCES unless the caller may access `p` for `want`.
pub fn check(ctx: &Ctx<'_>, p: &Perm, want: u32) -> Result<(), Errno> {
    if permits(ctx, p, want) {
        Ok(())
    } else {
        Err(Errno::ACCESS)
    }
}

/// EPERM unless the caller owns or created `p` (IPC_SET, IPC_RMID).
pub fn check_owner(ctx: &Ctx<'_>, p: &Perm) -> Result<(), Errno> {
    let (uid, _) = caller(ctx);
    if uid == 0 || uid == p.uid || uid == p.cuid {
        Ok(())
    } else {
        Err(Errno::PERM)
    }
}

/// What the mode bits a `*get` asks for (its flags' low 9) need of an
/// object that exists.
pub fn requested(flags: u64) -> u32 {
    let m = (flags & 0o777) as u32;
    // ipcperms compares the requested bits of every class at once.
    ((m >> 6) | (m >> 3) | m) & 7
}

/// `struct ipc64_perm` (48 bytes).
pub fn perm_bytes(p: &Perm) -> [u8; 48] {
    let mut b = [0u8; 48];
    b[0..4].copy_from_slice(&p.key.to_le_bytes());
    b[4..8].copy_from_slice(&p.uid.to_le_bytes());
    b[8..12].copy_from_slice(&p.gid.to_le_bytes());
    b[12..16].copy_from_slice(&p.cuid.to_le_bytes());
    b[16..20].copy_from_slice(&p.cgid.to_le_bytes());
    b[20..24].copy_from_slice(&p.mode.to_le_bytes());
    b[24..26].copy_from_slice(&p.seq.to_le_bytes());
    b
}

/// What IPC_SET takes from a `struct ipc64_perm`: uid, gid, mode.
pub fn set_from(p: &mut Perm, b: &[u8]) {
    let word = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    p.uid = word(4);
    p.gid = word(8);
    p.mode = word(20) & 0o777;
}

/// Copies `bytes` out to the guest's `ptr` (EFAULT).
pub fn write_out(ctx: &mut Ctx<'_>, ptr: u64, bytes: &[u8]) -> Result<(), Errno> {
    ctx.tunnel()
        .write(crate::tunnel::GuestPtr::new(ptr), bytes)
        .map_err(|_| Errno::FAULT)
}

/// Copies the guest's `ptr` into `bytes` (EFAULT).
pub fn read_in(ctx: &mut Ctx<'_>, ptr: u64, bytes: &mut [u8]) -> Result<(), Errno> {
    ctx.tunnel()
        .read(crate::tunnel::GuestPtr::new(ptr), bytes)
        .map_err(|_| Errno::FAULT)
}

/// An id as the `*ctl` and `*op` calls take it (EINVAL when negative or
/// past an int).
pub fn id_of(raw: u64) -> Result<i32, Errno> {
    i32::try_from(raw as i64).map_err(|_| Errno::INVAL)
}

/// IPC_STAT of object `n` of `table` (by id), or MSG_STAT, SEM_STAT and
/// SHM_STAT (`by_slot`: `n` is a slot; `any`: their *_STAT_ANY, with no
/// read check): its `struct *id64_ds`, as `bytes` lays it out, to `buf`.
/// Returns 0 for IPC_STAT, the id for a stat by slot.
pub fn stat<T: IpcObject>(
    ctx: &mut Ctx<'_>,
    table: fn(&Ipc) -> &Table<T>,
    n: u64,
    (by_slot, any): (bool, bool),
    bytes: fn(&T) -> Vec<u8>,
    buf: u64,
) -> SyscallResult {
    let n = id_of(n)?;
    let (id, o) = table(&ctx.kernel.ipc)
        .stat_target(n, by_slot)
        .ok_or(Errno::INVAL)?;
    if !any {
        check(ctx, o.perm(), 4)?;
    }
    let b = bytes(o);
    write_out(ctx, buf, &b)?;
    Ok(if by_slot { id as u64 } else { 0 })
}

/// IPC_RMID of object `id` of `table`, by its owner or creator: `remove`.
pub fn remove<T: IpcObject>(
    ctx: &mut Ctx<'_>,
    table: fn(&Ipc) -> &Table<T>,
    id: u64,
    remove: fn(&mut Ipc, i32),
) -> SyscallResult {
    let id = id_of(id)?;
    let o = table(&ctx.kernel.ipc).get(id).ok_or(Errno::INVAL)?;
    check_owner(ctx, o.perm())?;
    remove(&mut ctx.kernel.ipc, id);
    Ok(0)
}

/// The time now, in seconds since the epoch (the objects' times).
pub fn now() -> i64 {
    rustix::time::clock_gettime(rustix::time::ClockId::Realtime).tv_sec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_perm_layout_is_the_kernels() {
        let p = Perm {
            key: 0x1234,
            uid: 1,
            gid: 2,
            cuid: 3,
            cgid: 4,
            mode: 0o640,
            seq: 5,
        };
        let b = perm_bytes(&p);
        assert_eq!(&b[0..4], &0x1234i32.to_le_bytes());
        assert_eq!(&b[20..24], &0o640u32.to_le_bytes());
        assert_eq!(&b[24..26], &5u16.to_le_bytes());
        let mut q = p;
        let mut changed = b;
        changed[4..8].copy_from_slice(&9u32.to_le_bytes());
        changed[20..24].copy_from_slice(&0o7777u32.to_le_bytes());
        set_from(&mut q, &changed);
        assert_eq!((q.uid, q.gid, q.mode, q.cuid), (9, 2, 0o777, 3));
        assert_eq!(requested(0o1600), 6);
        assert_eq!(command(IPC_STAT | 0x100), IPC_STAT);
    }
}

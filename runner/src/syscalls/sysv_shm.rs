//! System V shared memory (shmget, shmat, shmdt, shmctl), the sandbox's
//! own (kernel/sysv_ipc.rs). A segment is a host memfd the runner holds;
//! shmat maps it MAP_SHARED as any shared file mapping (file_map.rs), so
//! every process that attaches it, and a fork's child, sees the same
//! frames. IPC_RMID frees its key at once and the segment with its last
//! attachment; Linux's attaching of a removed segment by id works too.

use super::decode::MmapRequest;
use super::sysv::{self, IPC_INFO, IPC_RMID, IPC_SET, IPC_STAT};
use super::{Args, Ctx, SyscallResult};
use crate::abi::Errno;
use crate::guest::address_space::MmapFlags;
use crate::guest::page_table::Prot;
use crate::kernel::fds::{FileObj, Object};
use crate::kernel::sysv_ipc::{Attached, Found, Ipc, Kind, Segment, MAX_SEGMENTS};
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::sync::Arc;
use thinvisor_kmod::PAGE_SIZE;

const SHM_RDONLY: u64 = 0o10000;
const SHM_RND: u64 = 0o20000;
const SHM_REMAP: u64 = 0o40000;
const SHM_EXEC: u64 = 0o100000;
const SHM_LOCK: u64 = 11;
const SHM_UNLOCK: u64 = 12;
const SHM_STAT: u64 = 13;
const SHM_INFO: u64 = 14;
const SHM_STAT_ANY: u64 = 15;
/// In IPC_STAT's mode: removed, going with its last attachment.
const SHM_DEST: u32 = 0o1000;

pub fn shmget(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (key, size, flags) = (a[0] as i32, a[1], a[2]);
    let max = ctx.process.limits.memory_limit;
    match ctx.kernel.ipc.lookup(Kind::Shm, key, flags)? {
        Found::Existing(id) => {
            let s = ctx.kernel.ipc.segments.get(id).ok_or(Errno::INVAL)?;
            if size > s.size {
                return Err(Errno::INVAL.into());
            }
            sysv::check(ctx, &s.perm, sysv::requested(flags))?;
            Ok(id as u64)
        }
        Found::Make => {
            if size < 1 || size > max {
                return Err(Errno::INVAL.into());
            }
            ctx.kernel.ipc.purge_segments();
            if ctx.kernel.ipc.segments.len() >= MAX_SEGMENTS {
                return Err(Errno::NOSPC.into());
            }
            let fd =
                rustix::fs::memfd_create("thinvisor-sysv-shm", rustix::fs::MemfdFlags::CLOEXEC)?;
            // Past RLIMIT_FSIZE (the runner's bytes_written backstop) the
            // memfd cannot be that large: no room, as shmget says it.
            rustix::fs::ftruncate(&fd, size.next_multiple_of(PAGE_SIZE)).map_err(|e| {
                if e == Errno::FBIG {
                    Errno::NOSPC
                } else {
                    e
                }
            })?;
            // What /proc/self/maps names it on Linux.
            let name = format!("/SYSV{:08x} (deleted)", key as u32);
            let file = Arc::new(Object::File(FileObj::memfd(
                fd,
                PathBuf::from(OsString::from_vec(name.into_bytes())),
            )));
            let perm = sysv::new_perm(ctx, key, flags);
            let pid = ctx.process.identity.pid as u32;
            let now = sysv::now();
            let id = ctx
                .kernel
                .ipc
                .new_segment(|seq| Segment {
                    perm: crate::kernel::sysv_ipc::Perm { seq, ..perm },
                    size,
                    file,
                    token: Arc::new(()),
                    removed: false,
                    cpid: pid,
                    lpid: 0,
                    atime: 0,
                    dtime: 0,
                    ctime: now,
                })
                .ok_or(Errno::NOSPC)?;
            Ok(id as u64)
        }
    }
}

pub fn shmat(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (id, addr, flags) = (sysv::id_of(a[0])?, a[1], a[2]);
    let s = ctx.kernel.ipc.segments.get(id).ok_or(Errno::INVAL)?;
    let read_only = flags & SHM_RDONLY != 0;
    sysv::check(ctx, &s.perm, if read_only { 4 } else { 6 })?;
    // Code from shared memory: EACCES without the segment's x bits (as
    // Linux); with them still EPERM, as for a memfd: no rule makes it code.
    if flags & SHM_EXEC != 0 {
        sysv::check(ctx, &s.perm, 1)?;
        return Err(Errno::PERM.into());
    }
    let hint = if addr != 0 && flags & SHM_RND != 0 {
        addr & !(PAGE_SIZE - 1)
    } else {
        addr
    };
    let len = s.size.next_multiple_of(PAGE_SIZE);
    if hint % PAGE_SIZE != 0 || hint.checked_add(len).is_none() {
        return Err(Errno::INVAL.into());
    }
    let (file, token) = (s.file.clone(), s.token.clone());
    let req = MmapRequest {
        hint,
        len,
        prot: Prot {
            read: true,
            write: !read_only,
            exec: false,
        },
        flags: MmapFlags {
            fixed: hint != 0 && flags & SHM_REMAP != 0,
            noreplace: hint != 0 && flags & SHM_REMAP == 0,
            shared: true,
        },
        file: None,
    };
    if req.flags.fixed {
        let _ = ctx.write_back_files(hint, hint + len, true);
    }
    let at = match super::file_map::mmap_object(ctx, &req, file, 0) {
        Ok(at) => at,
        // A range in use without SHM_REMAP is EINVAL for shmat.
        Err(super::Stop::Fail(Errno::EXIST)) => return Err(Errno::INVAL.into()),
        Err(e) => return Err(e),
    };
    // What SHM_REMAP replaced is detached only now that it is replaced.
    unmapped(ctx, at, at + len);
    if read_only {
        ctx.process.file_maps.make_read_only(at);
    }
    ctx.process
        .shm_attached
        .insert(at, Attached { id, len, token });
    let pid = ctx.process.identity.pid as u32;
    if let Some(s) = ctx.kernel.ipc.segments.get_mut(id) {
        s.lpid = pid;
        s.atime = sysv::now();
    }
    Ok(at)
}

pub fn shmdt(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let addr = a[0];
    let Some(att) = ctx.process.shm_attached.remove(&addr) else {
        return Err(Errno::INVAL.into());
    };
    let end = addr + att.len;
    let _ = ctx.write_back_files(addr, end, false);
    let (aspace, mem) = ctx.memory();
    let _ = aspace.munmap(mem, addr, att.len);
    ctx.process.file_maps.forget(addr, end);
    let pid = ctx.process.identity.pid as u32;
    drop(att.token);
    if let Some(s) = ctx.kernel.ipc.segments.get_mut(att.id) {
        s.lpid = pid;
        s.dtime = sysv::now();
    }
    ctx.kernel.ipc.purge_segments();
    Ok(0)
}

/// What munmap of `[start, end)` detaches (as Linux, where a segment's
/// attachment is its mapping).
pub fn unmapped(ctx: &mut Ctx<'_>, start: u64, end: u64) {
    let before = ctx.process.shm_attached.len();
    ctx.process
        .shm_attached
        .retain(|&at, a| at + a.len <= start || at >= end);
    if ctx.process.shm_attached.len() != before {
        ctx.kernel.ipc.purge_segments();
    }
}

pub fn shmctl(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (id, cmd, buf) = (a[0], sysv::command(a[1]), a[2]);
    match cmd {
        IPC_INFO | SHM_INFO => {
            let b = if cmd == IPC_INFO {
                // struct shminfo64: shmmax, shmmin, shmmni, shmseg, shmall.
                let max = ctx.process.limits.memory_limit;
                let fields = [
                    max,
                    1,
                    MAX_SEGMENTS as u64,
                    MAX_SEGMENTS as u64,
                    max / PAGE_SIZE,
                    0,
                    0,
                    0,
                    0,
                ];
                fields
                    .iter()
                    .flat_map(|f| f.to_le_bytes())
                    .collect::<Vec<u8>>()
            } else {
                // struct shm_info: used_ids, then shm_tot, shm_rss (pages).
                let ipc = &ctx.kernel.ipc;
                let segs: Vec<&Segment> = (0..MAX_SEGMENTS as i32)
                    .filter_map(|s| ipc.segments.slot(s))
                    .collect();
                let pages: u64 = segs.iter().map(|s| s.size.div_ceil(PAGE_SIZE)).sum();
                let mut b = (segs.len() as i32).to_le_bytes().to_vec();
                b.extend_from_slice(&[0u8; 4]);
                for f in [pages, pages, 0, 0, 0] {
                    b.extend_from_slice(&f.to_le_bytes());
                }
                b
            };
            sysv::write_out(ctx, buf, &b)?;
            let highest = ctx.kernel.ipc.segments.highest_slot();
            Ok(highest.map_or(0, |s| s as u64))
        }
        IPC_STAT | SHM_STAT | SHM_STAT_ANY => sysv::stat(
            ctx,
            |ipc| &ipc.segments,
            id,
            (cmd != IPC_STAT, cmd == SHM_STAT_ANY),
            stat_bytes,
            buf,
        ),
        IPC_SET => {
            let mut b = [0u8; 112];
            sysv::read_in(ctx, buf, &mut b)?;
            let id = sysv::id_of(id)?;
            let s = ctx.kernel.ipc.segments.get(id).ok_or(Errno::INVAL)?;
            sysv::check_owner(ctx, &s.perm)?;
            let s = ctx.kernel.ipc.segments.get_mut(id).ok_or(Errno::INVAL)?;
            sysv::set_from(&mut s.perm, &b[..48]);
            s.ctime = sysv::now();
            Ok(0)
        }
        IPC_RMID => sysv::remove(ctx, |ipc| &ipc.segments, id, Ipc::remove_segment),
        // RLIMIT_MEMLOCK is 0 in the sandbox: no locking, as for an
        // unprivileged process.
        SHM_LOCK | SHM_UNLOCK => {
            let id = sysv::id_of(id)?;
            ctx.kernel.ipc.segments.get(id).ok_or(Errno::INVAL)?;
            Err(Errno::PERM.into())
        }
        _ => Err(Errno::INVAL.into()),
    }
}

/// `struct shmid64_ds` (112 bytes).
fn stat_bytes(s: &Segment) -> Vec<u8> {
    let mut b = [0u8; 112];
    let mut perm = s.perm;
    if s.removed {
        perm.mode |= SHM_DEST;
    }
    b[..48].copy_from_slice(&sysv::perm_bytes(&perm));
    let mut put = |at: usize, v: u64| b[at..at + 8].copy_from_slice(&v.to_le_bytes());
    put(48, s.size);
    put(56, s.atime as u64);
    put(64, s.dtime as u64);
    put(72, s.ctime as u64);
    put(88, s.nattch());
    b[80..84].copy_from_slice(&s.cpid.to_le_bytes());
    b[84..88].copy_from_slice(&s.lpid.to_le_bytes());
    b.to_vec()
}

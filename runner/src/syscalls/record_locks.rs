//! fcntl's POSIX record locks: F_GETLK, F_SETLK, F_SETLKW on files, kept
//! by the runner between the sandbox's processes (kernel/file_locks.rs).
//!
//! F_SETLKW on a range another process holds waits (`Wait::Retry`: the
//! call runs again after another thread's syscall, which may have
//! released it), interrupted by a signal as on Linux. Not done: Linux's
//! deadlock detection (EDEADLK); a deadlock waits until the wall-clock
//! limit ends the run.

use super::{Args, Ctx, Stop, SyscallResult, Wait};
use crate::abi::constants::{F_GETLK, F_RDLCK, F_SETLKW, F_UNLCK, F_WRLCK};
use crate::abi::Errno;
use crate::kernel::fds::Object;
use crate::kernel::file_locks::{FileKey, Lock};
use crate::tunnel::GuestPtr;

/// sizeof(struct flock) on x86-64.
const FLOCK_SIZE: usize = 32;
const SEEK_SET: i16 = 0;
const SEEK_CUR: i16 = 1;
const SEEK_END: i16 = 2;

/// The file a descriptor's locks are about, if it is one.
pub fn key_of(obj: &Object) -> Option<FileKey> {
    let Object::File(f) = obj else {
        return None;
    };
    super::file_pages::key_of_fd(rustix::fd::AsFd::as_fd(&f.fd))
}

/// `struct flock`'s fields.
struct Flock {
    kind: i16,
    whence: i16,
    start: i64,
    len: i64,
}

fn read_flock(ctx: &mut Ctx<'_>, at: u64) -> Result<Flock, Errno> {
    let mut b = [0u8; FLOCK_SIZE];
    ctx.tunnel()
        .read(GuestPtr::new(at), &mut b)
        .map_err(|_| Errno::FAULT)?;
    let i16_at = |o: usize| i16::from_le_bytes([b[o], b[o + 1]]);
    let i64_at = |o: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[o..o + 8]);
        i64::from_le_bytes(w)
    };
    Ok(Flock {
        kind: i16_at(0),
        whence: i16_at(2),
        start: i64_at(8),
        len: i64_at(16),
    })
}

/// The absolute byte range `[start, end)` a flock names.
fn range(f: &Flock, obj: &Object) -> Result<(u64, u64), Errno> {
    let Object::File(file) = obj else {
        return Err(Errno::BADF);
    };
    let base: i64 = match f.whence {
        SEEK_SET => 0,
        SEEK_CUR => rustix::fs::seek(&file.fd, rustix::fs::SeekFrom::Current(0))? as i64,
        SEEK_END => rustix::fs::fstat(&file.fd)?.st_size,
        _ => return Err(Errno::INVAL),
    };
    let start = base.checked_add(f.start).ok_or(Errno::OVERFLOW)?;
    let (start, end) = match f.len {
        0 => (start, None),
        n if n > 0 => (start, Some(start.checked_add(n).ok_or(Errno::OVERFLOW)?)),
        n => (start.checked_add(n).ok_or(Errno::INVAL)?, Some(start)),
    };
    if start < 0 {
        return Err(Errno::INVAL);
    }
    Ok((start as u64, end.map_or(u64::MAX, |e| e as u64)))
}

pub fn fcntl_lock(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (fd, cmd, at) = (a[0], a[1] as u32 as u64, a[2]);
    let obj = ctx.process.fds.get(fd)?;
    let f = read_flock(ctx, at)?;
    let write = match f.kind {
        F_RDLCK => Some(false),
        F_WRLCK => Some(true),
        F_UNLCK if cmd != F_GETLK => None,
        _ => return Err(Errno::INVAL.into()),
    };
    let (start, end) = range(&f, &obj)?;
    let Some(key) = key_of(&obj) else {
        return Err(Errno::BADF.into());
    };
    let pid = ctx.process.identity.pid;
    let want = Lock {
        pid,
        start,
        end,
        write: write == Some(true),
    };
    let conflict = write.and_then(|_| ctx.kernel.file_locks.conflict(key, &want));
    if cmd == F_GETLK {
        let mut b = [0u8; FLOCK_SIZE];
        match conflict {
            Some(l) => {
                b[0..2].copy_from_slice(&(if l.write { F_WRLCK } else { F_RDLCK }).to_le_bytes());
                b[2..4].copy_from_slice(&SEEK_SET.to_le_bytes());
                b[8..16].copy_from_slice(&l.start.to_le_bytes());
                let len = if l.end == u64::MAX {
                    0
                } else {
                    l.end - l.start
                };
                b[16..24].copy_from_slice(&len.to_le_bytes());
                b[24..28].copy_from_slice(&(l.pid as u32).to_le_bytes());
                ctx.tunnel()
                    .write(GuestPtr::new(at), &b)
                    .map_err(|_| Errno::FAULT)?;
            }
            None => {
                ctx.tunnel()
                    .write(GuestPtr::new(at), &F_UNLCK.to_le_bytes())
                    .map_err(|_| Errno::FAULT)?;
            }
        }
        return Ok(0);
    }
    let Object::File(file) = &*obj else {
        return Err(Errno::BADF.into());
    };
    match write {
        Some(false) if !file.readable => return Err(Errno::BADF.into()),
        Some(true) if !file.writable => return Err(Errno::BADF.into()),
        _ => {}
    }
    if conflict.is_some() {
        return Err(if cmd == F_SETLKW {
            Stop::Block(Wait::Retry)
        } else {
            Errno::AGAIN.into()
        });
    }
    ctx.kernel.file_locks.set(key, pid, start, end, write)?;
    Ok(0)
}

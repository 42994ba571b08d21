//! fstat and newfstatat for descriptors that are not files: the standard
//! streams (what the runner's own stream is: a pipe, a terminal, a regular
//! file, /dev/null) and pipes inside the process. C libraries stat their
//! streams to size buffers, and some programs fail when that fails.
//!
//! The answer keeps the type, size and device number of the host stream
//! (programs use them: `st_size` of a redirected file, `/dev/null`
//! detection) and replaces the identity: owner 1000, no host inode or
//! device numbers. Paths name no file here: without the file layer every
//! path is ENOENT (the default policy shows no host files).

use super::errno::*;
use super::fds::FdEntry;
use super::identity::GUEST_ID;
use super::{Args, Ctx, Outcome};
use crate::tunnel::GuestPtr;
use std::os::unix::fs::MetadataExt;

const S_IFMT: u32 = 0o170000;
const S_IFIFO: u32 = 0o010000;
const S_IFCHR: u32 = 0o020000;
const S_IFREG: u32 = 0o100000;
const AT_EMPTY_PATH: u64 = 0x1000;
const ENOENT: i64 = 2;
/// The pseudo device number of the streams' "file system".
const STREAM_DEV: u64 = 0x12;

/// `struct stat` for a descriptor (x86-64 layout, 144 bytes).
pub fn stat_bytes(fd: u64, entry: &FdEntry) -> Result<[u8; 144], i64> {
    let (mode, size, rdev, blocks, times) = match entry {
        FdEntry::Pipe(_) => (S_IFIFO | 0o600, 0u64, 0u64, 0u64, [(0i64, 0i64); 3]),
        FdEntry::Stdin(f) | FdEntry::Stdout(f) | FdEntry::Stderr(f) => {
            let m = f
                .metadata()
                .map_err(|e| e.raw_os_error().map_or(EIO, i64::from))?;
            let kind = m.mode() & S_IFMT;
            let size = if kind == S_IFREG { m.size() } else { 0 };
            let rdev = if kind == S_IFCHR { m.rdev() } else { 0 };
            (
                kind | (m.mode() & 0o777),
                size,
                rdev,
                m.blocks(),
                [
                    (m.atime(), m.atime_nsec()),
                    (m.mtime(), m.mtime_nsec()),
                    (m.ctime(), m.ctime_nsec()),
                ],
            )
        }
        // Other kinds of descriptor are the file layer's.
        #[allow(unreachable_patterns)]
        _ => return Err(EBADF),
    };
    let mut b = [0u8; 144];
    let mut put = |off: usize, v: u64| b[off..off + 8].copy_from_slice(&v.to_le_bytes());
    put(0, STREAM_DEV);
    put(8, fd + 1);
    put(16, 1);
    put(40, rdev);
    put(48, size);
    put(56, 4096);
    put(64, blocks);
    for (i, (s, ns)) in times.iter().enumerate() {
        put(72 + i * 16, *s as u64);
        put(80 + i * 16, *ns as u64);
    }
    b[24..28].copy_from_slice(&mode.to_le_bytes());
    b[28..32].copy_from_slice(&(GUEST_ID as u32).to_le_bytes());
    b[32..36].copy_from_slice(&(GUEST_ID as u32).to_le_bytes());
    Ok(b)
}

fn stat_fd(ctx: &mut Ctx<'_>, fd: u64, buf: GuestPtr) -> Outcome {
    let Some(entry) = ctx.state.fds.get_ref(fd) else {
        return Outcome::err(EBADF);
    };
    let bytes = match stat_bytes(fd, entry) {
        Ok(b) => b,
        Err(e) => return Outcome::err(e),
    };
    match ctx.tunnel().write(buf, &bytes) {
        Ok(()) => Outcome::ok(0),
        Err(_) => Outcome::err(EFAULT),
    }
}

pub fn fstat(ctx: &mut Ctx<'_>, a: &Args) -> Outcome {
    stat_fd(ctx, a[0], GuestPtr::new(a[1]))
}

pub fn newfstatat(ctx: &mut Ctx<'_>, a: &Args) -> Outcome {
    let (dirfd, path, buf, flags) = (a[0] as i32, GuestPtr::new(a[1]), GuestPtr::new(a[2]), a[3]);
    let name = match ctx.tunnel().read_cstring(path, 4096) {
        Ok(n) => n,
        Err(_) => return Outcome::err(EFAULT),
    };
    if name.is_empty() {
        if flags & AT_EMPTY_PATH == 0 || dirfd < 0 {
            return Outcome::err(ENOENT);
        }
        return stat_fd(ctx, dirfd as u64, buf);
    }
    Outcome::err(ENOENT)
}

//! What fstat (and newfstatat/statx with AT_EMPTY_PATH) shows for
//! descriptors that are not files: the standard streams (what the runner's
//! own stream is: a pipe, a terminal, a regular file, /dev/null) and pipes
//! inside the process. C libraries stat their streams to size buffers, and
//! some programs fail when that fails. Files and directories are the file
//! layer's (`fs/stat.rs`, the host's metadata as is).
//!
//! The answer keeps the type, size and device number of the host stream
//! (programs use them: `st_size` of a redirected file, `/dev/null`
//! detection) and replaces the identity: owner 1000, no host inode or
//! device numbers.

use crate::abi::constants::S_IFIFO;
use crate::abi::layouts::{StatInfo, S_IFCHR, S_IFMT, S_IFREG};
use crate::kernel::fds::Stream;

/// The pseudo device number of the streams' and pipes' "file system".
const STREAM_DEV: u64 = 0x12;
/// Pipes are numbered from here (the streams are inodes 1 to 3).
const PIPE_INO_BASE: u64 = 0x1000;

/// A standard stream connected to the runner's own, whose host fstat is
/// `host`.
pub fn stream(stream: Stream, host: &rustix::fs::Stat, owner: (u32, u32)) -> StatInfo {
    let kind = host.st_mode & S_IFMT;
    StatInfo {
        dev: STREAM_DEV,
        ino: match stream {
            Stream::Stdin => 1,
            Stream::Stdout => 2,
            Stream::Stderr => 3,
            Stream::DevNull { .. } => 4,
        },
        nlink: 1,
        mode: kind | (host.st_mode & 0o777),
        uid: owner.0,
        gid: owner.1,
        rdev: if kind == S_IFCHR { host.st_rdev } else { 0 },
        size: if kind == S_IFREG { host.st_size } else { 0 },
        blksize: 4096,
        blocks: host.st_blocks,
        atime: (host.st_atime, host.st_atime_nsec),
        mtime: (host.st_mtime, host.st_mtime_nsec),
        ctime: (host.st_ctime, host.st_ctime_nsec),
    }
}

/// Either end of pipe number `id` (both ends show the same inode).
pub fn pipe(id: u64, owner: (u32, u32)) -> StatInfo {
    runner_object(id, S_IFIFO | 0o600, owner)
}

/// An eventfd or epoll instance (Linux's anonymous inodes: mode 0600, no
/// file type bits).
pub fn anonymous(id: u64, owner: (u32, u32)) -> StatInfo {
    runner_object(id, 0o600, owner)
}

/// A POSIX message queue (kernel/posix_mq.rs), as Linux's mqueue file
/// system shows one: a regular file of 80 bytes with the queue's owner and
/// mode, no link once unlinked.
pub fn message_queue(q: &crate::kernel::posix_mq::MessageQueue) -> StatInfo {
    let t = q.created;
    StatInfo {
        nlink: u64::from(q.linked()),
        size: crate::kernel::posix_mq::FILE_SIZE as i64,
        atime: t,
        mtime: t,
        ctime: t,
        ..runner_object(q.id, S_IFREG | q.owner.mode, (q.owner.uid, q.owner.gid))
    }
}

fn runner_object(id: u64, mode: u32, owner: (u32, u32)) -> StatInfo {
    StatInfo {
        dev: STREAM_DEV,
        ino: PIPE_INO_BASE + id,
        nlink: 1,
        mode,
        uid: owner.0,
        gid: owner.1,
        blksize: 4096,
        ..StatInfo::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_replaced() {
        let stderr = std::io::stderr();
        let host = rustix::fs::fstat(std::os::fd::AsFd::as_fd(&stderr)).expect("fstat stderr");
        let s = stream(Stream::Stderr, &host, (0, 5));
        assert_eq!((s.dev, s.ino, s.uid, s.gid), (STREAM_DEV, 3, 0, 5));
        assert_eq!(s.mode & S_IFMT, host.st_mode & S_IFMT);
        let p = pipe(7, (1000, 1000));
        assert_eq!(p.mode, S_IFIFO | 0o600);
        assert_eq!((p.ino, p.size), (PIPE_INO_BASE + 7, 0));
    }
}

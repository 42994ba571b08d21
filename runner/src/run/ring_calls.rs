//! Which calls the ring serves while the guest keeps running, and why each
//! is safe to serve that way. A call qualifies when its handler can only
//! return a value, ask to wait (`Outcome::Return` or `Outcome::Block`,
//! with no effect before a wait: the trap path runs it again from the
//! start) or end the process (a write's SIGPIPE: the server ends it as
//! the trap path would), touches no vCPU state and maps nothing; a signal
//! it raises is delivered at the exit the server forces before the guest
//! goes on.
//! Every other call, and every call of these that would wait, is made by
//! trap exactly as without the ring (the stub falls back).

use crate::kernel::fds::Object;
use crate::kernel::Process;

/// What a call does with a descriptor, which decides whether the ring may
/// serve it without blocking the runner's thread in a host call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fd {
    /// No descriptor.
    None,
    /// Reads from the descriptor in argument 0: a standard stream that is
    /// a pipe, socket or terminal reads from the host and may block there,
    /// so it goes by trap; one that is a regular file never waits.
    Reads,
    /// Writes to (or asks about) the descriptor in argument 0: any kind
    /// but sockets, whose host calls may wait for a peer.
    Writes,
    /// Copies from the descriptor in argument 1 to the one in argument 0:
    /// as `Reads` for the first, `Writes` for the second.
    Copies,
}

/// (number, descriptor use, why it is served). Sorted by number.
const SERVED: &[(u64, Fd, &str)] = &[
    (
        0,
        Fd::Reads,
        "read: files, pipes and devices answer at once or ask to wait",
    ),
    (1, Fd::Writes, "write: a full pipe asks to wait (by trap)"),
    (2, Fd::None, "open: the file system view; no wait"),
    (3, Fd::None, "close: a descriptor table change"),
    (4, Fd::None, "stat"),
    (5, Fd::Writes, "fstat"),
    (6, Fd::None, "lstat"),
    (
        7,
        Fd::None,
        "poll: a zero timeout answers at once, any other waits by trap",
    ),
    (8, Fd::Writes, "lseek"),
    (16, Fd::Writes, "ioctl: terminal and descriptor queries"),
    (17, Fd::Reads, "pread64"),
    (18, Fd::Writes, "pwrite64"),
    (19, Fd::Reads, "readv"),
    (20, Fd::Writes, "writev"),
    (21, Fd::None, "access"),
    (32, Fd::None, "dup"),
    (33, Fd::None, "dup2"),
    (39, Fd::None, "getpid"),
    (
        40,
        Fd::Copies,
        "sendfile: a pipe that is full or empty asks to wait",
    ),
    (63, Fd::None, "uname"),
    (72, Fd::Writes, "fcntl: a lock that must wait waits by trap"),
    (74, Fd::Writes, "fsync"),
    (75, Fd::Writes, "fdatasync"),
    (77, Fd::Writes, "ftruncate"),
    (79, Fd::None, "getcwd"),
    (80, Fd::None, "chdir"),
    (81, Fd::None, "fchdir"),
    (82, Fd::None, "rename"),
    (83, Fd::None, "mkdir"),
    (84, Fd::None, "rmdir"),
    (87, Fd::None, "unlink"),
    (89, Fd::None, "readlink"),
    (95, Fd::None, "umask"),
    (96, Fd::None, "gettimeofday"),
    (97, Fd::None, "getrlimit"),
    (98, Fd::None, "getrusage"),
    (100, Fd::None, "times"),
    (102, Fd::None, "getuid"),
    (104, Fd::None, "getgid"),
    (107, Fd::None, "geteuid"),
    (108, Fd::None, "getegid"),
    (110, Fd::None, "getppid"),
    (186, Fd::None, "gettid"),
    (201, Fd::None, "time"),
    (217, Fd::Writes, "getdents64"),
    (228, Fd::None, "clock_gettime"),
    (257, Fd::None, "openat"),
    (258, Fd::None, "mkdirat"),
    (262, Fd::None, "newfstatat"),
    (263, Fd::None, "unlinkat"),
    (264, Fd::None, "renameat"),
    (267, Fd::None, "readlinkat"),
    (269, Fd::None, "faccessat"),
    (292, Fd::None, "dup3"),
    (316, Fd::None, "renameat2"),
    (332, Fd::None, "statx"),
    (439, Fd::None, "faccessat2"),
];

fn entry(nr: u64) -> Option<Fd> {
    SERVED
        .binary_search_by_key(&nr, |&(n, _, _)| n)
        .ok()
        .and_then(|i| SERVED.get(i))
        .map(|&(_, fd, _)| fd)
}

/// Whether a site of call `nr` is worth patching (the ring may serve it).
pub fn patchable(nr: u64) -> bool {
    entry(nr).is_some()
}

/// Whether the ring serves call `nr` with `args` for `process` now.
pub fn serves(process: &Process, nr: u64, args: &[u64; 6]) -> bool {
    let Some(fd) = entry(nr) else {
        return false;
    };
    let readable = |fd: u64| {
        process.fds.get(fd).ok().is_none_or(|o| match &*o {
            Object::Stdio { never_waits, .. } => *never_waits,
            Object::Socket(_) => false,
            _ => true,
        })
    };
    let writable = |fd: u64| {
        process
            .fds
            .get(fd)
            .ok()
            .is_none_or(|o| !matches!(&*o, Object::Socket(_)))
    };
    match fd {
        Fd::None => true,
        Fd::Reads => readable(args[0]),
        Fd::Writes => writable(args[0]),
        Fd::Copies => writable(args[0]) && readable(args[1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_names_real_calls() {
        assert!(SERVED.windows(2).all(|w| w[0].0 < w[1].0));
        for &(nr, _, why) in SERVED {
            let name = crate::syscalls::table::name_of(nr);
            assert!(why.starts_with(&*name), "{nr}: {why} is not {name}");
        }
    }

    #[test]
    fn calls_that_touch_the_vcpu_or_memory_are_not_served() {
        // rt_sigreturn, clone, fork, execve, exit, mmap, munmap, brk,
        // mprotect, arch_prctl, rt_sigprocmask, futex, nanosleep
        for nr in [15, 56, 57, 59, 60, 231, 9, 11, 12, 10, 158, 14, 202, 35] {
            assert!(!patchable(nr), "{nr}");
        }
    }
}

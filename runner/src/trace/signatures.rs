//! How `--trace` shows each syscall's arguments, as data: one entry per
//! call, one kind per argument, in the order strace shows them. A call
//! missing here shows its six registers in hex.

/// How one argument is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    /// A signed number.
    Int,
    /// An unsigned number.
    UInt,
    /// A number in hex (addresses, request codes).
    Hex,
    /// A pointer: NULL, or its address in hex.
    Ptr,
    /// A file descriptor.
    Fd,
    /// A directory descriptor: AT_FDCWD or a number.
    DirFd,
    /// A NUL-terminated string in guest memory, read before the call.
    Path,
    /// Bytes the call reads from guest memory: as many as argument N says,
    /// read before the call.
    InBuf(usize),
    /// Bytes the call writes to guest memory: as many as it returns, read
    /// after it.
    OutBuf,
    /// Two descriptors the call writes (pipe, socketpair), read after it.
    FdPair,
    /// A NULL-terminated array of strings (execve's argv).
    Argv,
    /// open/openat flags (O_RDONLY|O_CLOEXEC).
    OpenFlags,
    /// A file mode in octal.
    Mode,
    /// mmap/mprotect protection (PROT_READ|PROT_WRITE).
    Prot,
    /// mmap flags (MAP_PRIVATE|MAP_ANONYMOUS).
    MapFlags,
    /// A signal number (SIGINT).
    Signal,
    /// rt_sigprocmask's how (SIG_BLOCK).
    SigHow,
    /// lseek's whence (SEEK_SET).
    Whence,
    /// *at flags (AT_SYMLINK_NOFOLLOW|AT_EMPTY_PATH).
    AtFlags,
    /// fcntl's command (F_GETFL).
    FcntlCmd,
    /// arch_prctl's code (ARCH_SET_FS).
    ArchCode,
    /// futex's operation (FUTEX_WAIT_PRIVATE).
    FutexOp,
    /// clone's flags (CLONE_VM|CLONE_FS|...).
    CloneFlags,
    /// socket's domain (AF_INET).
    Domain,
    /// socket's type (SOCK_STREAM|SOCK_CLOEXEC).
    SockType,
    /// An ioctl request (TCGETS), else in hex.
    IoctlReq,
    /// A resource (RLIMIT_NOFILE).
    Resource,
}

use Arg::*;

/// The calls whose arguments are shown decoded.
pub const SIGNATURES: &[(&str, &[Arg])] = &[
    ("read", &[Fd, OutBuf, UInt]),
    ("write", &[Fd, InBuf(2), UInt]),
    ("pread64", &[Fd, OutBuf, UInt, Int]),
    ("pwrite64", &[Fd, InBuf(2), UInt, Int]),
    ("readv", &[Fd, Ptr, Int]),
    ("writev", &[Fd, Ptr, Int]),
    ("open", &[Path, OpenFlags, Mode]),
    ("openat", &[DirFd, Path, OpenFlags, Mode]),
    ("creat", &[Path, Mode]),
    ("close", &[Fd]),
    ("stat", &[Path, Ptr]),
    ("lstat", &[Path, Ptr]),
    ("fstat", &[Fd, Ptr]),
    ("newfstatat", &[DirFd, Path, Ptr, AtFlags]),
    ("statx", &[DirFd, Path, AtFlags, Hex, Ptr]),
    ("lseek", &[Fd, Int, Whence]),
    ("mmap", &[Ptr, UInt, Prot, MapFlags, Fd, Int]),
    ("mprotect", &[Ptr, UInt, Prot]),
    ("munmap", &[Ptr, UInt]),
    ("mremap", &[Ptr, UInt, UInt, Hex]),
    ("madvise", &[Ptr, UInt, Int]),
    ("brk", &[Ptr]),
    ("rt_sigaction", &[Signal, Ptr, Ptr, UInt]),
    ("rt_sigprocmask", &[SigHow, Ptr, Ptr, UInt]),
    ("rt_sigreturn", &[]),
    ("ioctl", &[Fd, IoctlReq, Hex]),
    ("access", &[Path, Mode]),
    ("faccessat", &[DirFd, Path, Mode]),
    ("faccessat2", &[DirFd, Path, Mode, AtFlags]),
    ("pipe", &[FdPair]),
    ("pipe2", &[FdPair, OpenFlags]),
    ("dup", &[Fd]),
    ("dup2", &[Fd, Fd]),
    ("dup3", &[Fd, Fd, OpenFlags]),
    ("getpid", &[]),
    ("getppid", &[]),
    ("gettid", &[]),
    ("getuid", &[]),
    ("geteuid", &[]),
    ("getgid", &[]),
    ("getegid", &[]),
    ("getpgrp", &[]),
    ("setpgid", &[Int, Int]),
    ("setsid", &[]),
    ("sched_yield", &[]),
    ("clone", &[CloneFlags, Ptr, Ptr, Ptr, Hex]),
    ("clone3", &[Ptr, UInt]),
    ("fork", &[]),
    ("vfork", &[]),
    ("execve", &[Path, Argv, Ptr]),
    ("exit", &[Int]),
    ("exit_group", &[Int]),
    ("wait4", &[Int, Ptr, Int, Ptr]),
    ("kill", &[Int, Signal]),
    ("tgkill", &[Int, Int, Signal]),
    ("uname", &[Ptr]),
    ("fcntl", &[Fd, FcntlCmd, Hex]),
    ("getcwd", &[Ptr, UInt]),
    ("chdir", &[Path]),
    ("fchdir", &[Fd]),
    ("mkdir", &[Path, Mode]),
    ("mkdirat", &[DirFd, Path, Mode]),
    ("rmdir", &[Path]),
    ("unlink", &[Path]),
    ("unlinkat", &[DirFd, Path, AtFlags]),
    ("rename", &[Path, Path]),
    ("renameat", &[DirFd, Path, DirFd, Path]),
    ("renameat2", &[DirFd, Path, DirFd, Path, Hex]),
    ("readlink", &[Path, Ptr, UInt]),
    ("readlinkat", &[DirFd, Path, Ptr, UInt]),
    ("chmod", &[Path, Mode]),
    ("fchmod", &[Fd, Mode]),
    ("fchmodat", &[DirFd, Path, Mode]),
    ("umask", &[Mode]),
    ("getdents64", &[Fd, Ptr, UInt]),
    ("set_tid_address", &[Ptr]),
    ("set_robust_list", &[Ptr, UInt]),
    ("arch_prctl", &[ArchCode, Hex]),
    ("prlimit64", &[Int, Resource, Ptr, Ptr]),
    ("getrandom", &[Ptr, UInt, Hex]),
    ("nanosleep", &[Ptr, Ptr]),
    ("clock_nanosleep", &[Int, Int, Ptr, Ptr]),
    ("clock_gettime", &[Int, Ptr]),
    ("futex", &[Ptr, FutexOp, Int, Ptr, Ptr, Int]),
    ("socket", &[Domain, SockType, Int]),
    ("connect", &[Fd, Ptr, UInt]),
    ("bind", &[Fd, Ptr, UInt]),
    ("listen", &[Fd, Int]),
    ("accept", &[Fd, Ptr, Ptr]),
    ("accept4", &[Fd, Ptr, Ptr, Hex]),
    ("sendto", &[Fd, InBuf(2), UInt, Hex, Ptr, UInt]),
    ("recvfrom", &[Fd, OutBuf, UInt, Hex, Ptr, Ptr]),
    ("shutdown", &[Fd, Int]),
    ("socketpair", &[Domain, SockType, Int, FdPair]),
    ("poll", &[Ptr, UInt, Int]),
    ("ppoll", &[Ptr, UInt, Ptr, Ptr, UInt]),
    ("sendfile", &[Fd, Fd, Ptr, UInt]),
    ("ftruncate", &[Fd, Int]),
    ("truncate", &[Path, Int]),
    ("fsync", &[Fd]),
    ("sysinfo", &[Ptr]),
    ("sched_getaffinity", &[Int, UInt, Ptr]),
    ("rseq", &[Ptr, UInt, Hex, Hex]),
    ("prctl", &[Int, Hex, Hex, Hex, Hex]),
    ("alarm", &[UInt]),
    ("pause", &[]),
    ("setitimer", &[Int, Ptr, Ptr]),
    ("getitimer", &[Int, Ptr]),
    ("epoll_create1", &[OpenFlags]),
    ("epoll_ctl", &[Fd, Int, Fd, Ptr]),
    ("epoll_wait", &[Fd, Ptr, Int, Int]),
    ("eventfd2", &[UInt, OpenFlags]),
    ("inotify_init1", &[OpenFlags]),
    ("inotify_add_watch", &[Fd, Path, Hex]),
    ("inotify_rm_watch", &[Fd, Int]),
    ("mq_open", &[Path, OpenFlags, Mode, Ptr]),
    ("mq_unlink", &[Path]),
    ("mq_timedsend", &[Fd, InBuf(2), UInt, UInt, Ptr]),
    ("mq_timedreceive", &[Fd, OutBuf, UInt, Ptr, Ptr]),
    ("mq_notify", &[Fd, Ptr]),
    ("mq_getsetattr", &[Fd, Ptr, Ptr]),
];

/// The argument kinds of the call named `name`, if it has an entry.
pub fn of(name: &str) -> Option<&'static [Arg]> {
    SIGNATURES.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_names_a_syscall_once_with_at_most_six_arguments() {
        let mut seen = std::collections::BTreeSet::new();
        for (name, args) in SIGNATURES {
            assert!(sandbox_policy::syscall_number(name).is_some(), "{name}");
            assert!(seen.insert(*name), "{name} twice");
            assert!(args.len() <= 6, "{name}");
            for a in *args {
                if let InBuf(i) = a {
                    assert!(*i < args.len(), "{name}: InBuf names argument {i}");
                }
            }
        }
    }
}

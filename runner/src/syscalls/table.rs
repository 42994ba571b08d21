//! The syscall table as data: number, name, handler, and why the runner
//! emulates it. Anything not here returns -ENOSYS (and is reported).

use super::{
    clocks, copy, fdctl, fs, identity, io, memory, net, pipe, poll, process, refused, remap,
    resources, signals, sleep, time, Handler,
};
use std::borrow::Cow;
use std::sync::OnceLock;

/// One emulated syscall.
pub struct Entry {
    pub nr: u64,
    pub name: &'static str,
    pub handler: Handler,
    #[allow(dead_code)] // data for readers; checked non-empty by the tests and listed in docs/compatibility.md
    /// Why it is emulated and how (for readers and docs/compatibility.md).
    pub why: &'static str,
}

/// Every emulated syscall.
pub static TABLE: &[Entry] = &[
    Entry {
        nr: 0,
        name: "read",
        handler: io::read,
        why: "stdin, files, sockets, pipes; read straight into guest memory through the tunnel (a pipe from its runner buffer)",
    },
    Entry {
        nr: 1,
        name: "write",
        handler: io::write,
        why: "stdout/stderr, files, sockets, pipes; written from guest memory without a copy, within bytes_written (pipes stay in the runner, uncounted); no reader: SIGPIPE",
    },
    Entry {
        nr: 7,
        name: "poll",
        handler: poll::poll,
        why: "readiness of the guest's descriptors: pipes and /dev/null answered in the runner, stdio, files and sockets by one host poll; waits honour the wall-clock limit",
    },
    Entry {
        nr: 9,
        name: "mmap",
        handler: memory::mmap,
        why: "anonymous private memory, counted against the memory limit",
    },
    Entry {
        nr: 10,
        name: "mprotect",
        handler: memory::mprotect,
        why: "page protections of the guest's own mappings",
    },
    Entry {
        nr: 11,
        name: "munmap",
        handler: memory::munmap,
        why: "frees guest pages back to the limit",
    },
    Entry {
        nr: 12,
        name: "brk",
        handler: memory::brk,
        why: "heap after the image, counted against the memory limit",
    },
    Entry {
        nr: 13,
        name: "rt_sigaction",
        handler: signals::rt_sigaction,
        why: "records dispositions; handlers are never run (no signal delivery)",
    },
    Entry {
        nr: 14,
        name: "rt_sigprocmask",
        handler: signals::rt_sigprocmask,
        why: "records the mask; a pending self-raised signal takes effect when unblocked",
    },
    Entry {
        nr: 20,
        name: "writev",
        handler: io::writev,
        why: "any writable fd; all iovecs checked before one vectored host write (or one pipe write); no reader: SIGPIPE",
    },
    Entry {
        nr: 22,
        name: "pipe",
        handler: pipe::pipe,
        why: "a pipe inside the process, buffered in the runner (64 KiB); both ends are guest descriptors (within open_files)",
    },
    Entry {
        nr: 24,
        name: "sched_yield",
        handler: resources::sched_yield,
        why: "yields the runner's thread",
    },
    Entry {
        nr: 25,
        name: "mremap",
        handler: remap::mremap,
        why: "shrink, grow in place or move anonymous memory (pages move, nothing is copied)",
    },
    Entry {
        nr: 28,
        name: "madvise",
        handler: remap::madvise,
        why: "MADV_DONTNEED zeroes pages; other advice accepted without effect",
    },
    Entry {
        nr: 34,
        name: "pause",
        handler: sleep::pause,
        why: "no signal can arrive: hangs until the wall-clock limit (137)",
    },
    Entry {
        nr: 35,
        name: "nanosleep",
        handler: sleep::nanosleep,
        why: "host sleep, cut at the wall-clock limit (then 137)",
    },
    Entry {
        nr: 39,
        name: "getpid",
        handler: process::getpid,
        why: "a fixed pid: the guest is alone in its VM",
    },
    Entry {
        nr: 40,
        name: "sendfile",
        handler: copy::sendfile,
        why: "between the guest's descriptors through a runner buffer, within bytes_written; from a pipe or socket, or into a pipe, EINVAL (callers fall back to read/write)",
    },
    Entry {
        nr: 56,
        name: "clone",
        handler: refused::clone,
        why: "refused with a stderr line: one single-threaded process (ENOSYS)",
    },
    Entry {
        nr: 57,
        name: "fork",
        handler: refused::fork,
        why: "refused with a stderr line: no child processes (ENOSYS)",
    },
    Entry {
        nr: 58,
        name: "vfork",
        handler: refused::vfork,
        why: "refused with a stderr line: no child processes (ENOSYS)",
    },
    Entry {
        nr: 59,
        name: "execve",
        handler: refused::execve,
        why: "refused with a stderr line: a program cannot run another (ENOSYS)",
    },
    Entry {
        nr: 60,
        name: "exit",
        handler: process::exit,
        why: "single-threaded: ends the process",
    },
    Entry {
        nr: 61,
        name: "wait4",
        handler: refused::wait,
        why: "no children ever exist (ECHILD)",
    },
    Entry {
        nr: 62,
        name: "kill",
        handler: signals::kill,
        why: "only the process itself: a signal it raises takes its default effect (128+N); no other process exists",
    },
    Entry {
        nr: 63,
        name: "uname",
        handler: process::uname,
        why: "fixed identity; no host details leak",
    },
    Entry {
        nr: 96,
        name: "gettimeofday",
        handler: clocks::gettimeofday,
        why: "host realtime clock; timezone UTC (through a C library: the vDSO answers without an exit)",
    },
    Entry {
        nr: 97,
        name: "getrlimit",
        handler: resources::getrlimit,
        why: "the policy's limits (memory, descriptors, stack, CPU)",
    },
    Entry {
        nr: 98,
        name: "getrusage",
        handler: resources::getrusage,
        why: "the runner's CPU time and peak guest memory; no children",
    },
    Entry {
        nr: 99,
        name: "sysinfo",
        handler: resources::sysinfo,
        why: "the guest's own view: RAM = memory limit, uptime since the run began, one process",
    },
    Entry {
        nr: 102,
        name: "getuid",
        handler: identity::get_id,
        why: "fixed identity 1000 (matches AT_UID)",
    },
    Entry {
        nr: 104,
        name: "getgid",
        handler: identity::get_id,
        why: "fixed identity 1000 (matches AT_GID)",
    },
    Entry {
        nr: 105,
        name: "setuid",
        handler: identity::set_id,
        why: "only to the current id (unprivileged); else EPERM",
    },
    Entry {
        nr: 106,
        name: "setgid",
        handler: identity::set_id,
        why: "only to the current id (unprivileged); else EPERM",
    },
    Entry {
        nr: 107,
        name: "geteuid",
        handler: identity::get_id,
        why: "fixed identity 1000 (matches AT_EUID)",
    },
    Entry {
        nr: 108,
        name: "getegid",
        handler: identity::get_id,
        why: "fixed identity 1000 (matches AT_EGID)",
    },
    Entry {
        nr: 109,
        name: "setpgid",
        handler: identity::setpgid,
        why: "the process stays in its own group",
    },
    Entry {
        nr: 110,
        name: "getppid",
        handler: identity::getppid,
        why: "a fixed parent, 1",
    },
    Entry {
        nr: 111,
        name: "getpgrp",
        handler: identity::getpgrp,
        why: "the process leads its own group (2)",
    },
    Entry {
        nr: 112,
        name: "setsid",
        handler: identity::setsid,
        why: "already a session leader (EPERM, as Linux)",
    },
    Entry {
        nr: 113,
        name: "setreuid",
        handler: identity::set_ids,
        why: "only to the current ids",
    },
    Entry {
        nr: 114,
        name: "setregid",
        handler: identity::set_ids,
        why: "only to the current ids",
    },
    Entry {
        nr: 115,
        name: "getgroups",
        handler: identity::getgroups,
        why: "no supplementary groups",
    },
    Entry {
        nr: 116,
        name: "setgroups",
        handler: identity::setgroups,
        why: "unprivileged (EPERM)",
    },
    Entry {
        nr: 117,
        name: "setresuid",
        handler: identity::set_ids,
        why: "only to the current ids",
    },
    Entry {
        nr: 118,
        name: "getresuid",
        handler: identity::get_res_ids,
        why: "fixed identity 1000",
    },
    Entry {
        nr: 119,
        name: "setresgid",
        handler: identity::set_ids,
        why: "only to the current ids",
    },
    Entry {
        nr: 120,
        name: "getresgid",
        handler: identity::get_res_ids,
        why: "fixed identity 1000",
    },
    Entry {
        nr: 121,
        name: "getpgid",
        handler: identity::getpgid,
        why: "its own group (2); no other process",
    },
    Entry {
        nr: 124,
        name: "getsid",
        handler: identity::getpgid,
        why: "its own session (2); no other process",
    },
    Entry {
        nr: 127,
        name: "rt_sigpending",
        handler: signals::rt_sigpending,
        why: "blocked self-raised signals",
    },
    Entry {
        nr: 131,
        name: "sigaltstack",
        handler: signals::sigaltstack,
        why: "recorded (handlers are never run)",
    },
    Entry {
        nr: 157,
        name: "prctl",
        handler: identity::prctl,
        why: "process name, dumpable, no_new_privs (always on); others EINVAL",
    },
    Entry {
        nr: 158,
        name: "arch_prctl",
        handler: process::arch_prctl,
        why: "FS/GS base for TLS, through the vCPU cache",
    },
    Entry {
        nr: 160,
        name: "setrlimit",
        handler: resources::setrlimit,
        why: "limits may be lowered, never raised",
    },
    Entry {
        nr: 186,
        name: "gettid",
        handler: process::getpid,
        why: "single thread: tid = pid",
    },
    Entry {
        nr: 200,
        name: "tkill",
        handler: signals::tkill,
        why: "only the process itself (see kill)",
    },
    Entry {
        nr: 201,
        name: "time",
        handler: clocks::time,
        why: "host realtime clock (through a C library: the vDSO)",
    },
    Entry {
        nr: 203,
        name: "sched_setaffinity",
        handler: resources::sched_setaffinity,
        why: "one CPU: a set holding CPU 0",
    },
    Entry {
        nr: 204,
        name: "sched_getaffinity",
        handler: resources::sched_getaffinity,
        why: "one CPU (CPU 0)",
    },
    Entry {
        nr: 218,
        name: "set_tid_address",
        handler: process::set_tid_address,
        why: "libc start-up; returns the tid",
    },
    Entry {
        nr: 228,
        name: "clock_gettime",
        handler: time::clock_gettime,
        why: "host clocks (realtime, monotonic, boottime, cpu); through a C library the vDSO answers all but the CPU-time clocks without an exit",
    },
    Entry {
        nr: 229,
        name: "clock_getres",
        handler: clocks::clock_getres,
        why: "nanosecond clocks (coarse ones 4 ms)",
    },
    Entry {
        nr: 230,
        name: "clock_nanosleep",
        handler: sleep::clock_nanosleep,
        why: "relative or absolute host sleep, cut at the wall-clock limit (then 137)",
    },
    Entry {
        nr: 231,
        name: "exit_group",
        handler: process::exit,
        why: "ends the process",
    },
    Entry {
        nr: 234,
        name: "tgkill",
        handler: signals::tgkill,
        why: "only the process itself (abort() and raise() use it; see kill)",
    },
    Entry {
        nr: 247,
        name: "waitid",
        handler: refused::wait,
        why: "no children ever exist (ECHILD)",
    },
    Entry {
        nr: 271,
        name: "ppoll",
        handler: poll::ppoll,
        why: "as poll, with a timespec; the signal mask is irrelevant (no delivery)",
    },
    Entry {
        nr: 273,
        name: "set_robust_list",
        handler: resources::set_robust_list,
        why: "libc start-up; recorded (no other thread)",
    },
    Entry {
        nr: 293,
        name: "pipe2",
        handler: pipe::pipe2,
        why: "pipe with O_NONBLOCK/O_CLOEXEC",
    },
    Entry {
        nr: 302,
        name: "prlimit64",
        handler: resources::prlimit64,
        why: "the policy's limits, for the process itself only",
    },
    Entry {
        nr: 309,
        name: "getcpu",
        handler: resources::getcpu,
        why: "always CPU 0, node 0",
    },
    Entry {
        nr: 318,
        name: "getrandom",
        handler: time::getrandom,
        why: "host getrandom, copied through the tunnel",
    },
    Entry {
        nr: 322,
        name: "execveat",
        handler: refused::execveat,
        why: "refused with a stderr line: a program cannot run another (ENOSYS)",
    },
    Entry {
        nr: 334,
        name: "rseq",
        handler: resources::rseq,
        why: "not provided (ENOSYS, on purpose and without a report): libc works without it",
    },
    Entry {
        nr: 435,
        name: "clone3",
        handler: refused::clone3,
        why: "refused with a stderr line: one single-threaded process (ENOSYS)",
    },
    // ---- files and sockets, policy-driven (syscalls/fs.rs, io.rs, fdctl.rs, net.rs);
    // their descriptor handlers also serve the standard streams and pipes
    Entry {
        nr: 2,
        name: "open",
        handler: fs::open,
        why: "open(AT_FDCWD, ...): see openat",
    },
    Entry {
        nr: 3,
        name: "close",
        handler: fdctl::close,
        why: "drops the guest fd; the host fd (or pipe end) closes with its last duplicate",
    },
    Entry {
        nr: 4,
        name: "stat",
        handler: fs::stat,
        why: "stat of a policy path (host fstat through an O_PATH fd opened beneath the rule), or of a synthesized ancestor directory",
    },
    Entry {
        nr: 5,
        name: "fstat",
        handler: fs::fstat,
        why: "files: host fstat as is; standard streams and pipes: type, size and device of the stream, identity replaced (owner 1000, no host inode); /dev/null for a disconnected stream",
    },
    Entry {
        nr: 6,
        name: "lstat",
        handler: fs::lstat,
        why: "stat without following a final symlink (O_PATH|O_NOFOLLOW beneath the rule)",
    },
    Entry {
        nr: 8,
        name: "lseek",
        handler: io::lseek,
        why: "host lseek on files, stdio and directories (rewinds the listing); ESPIPE on sockets and pipes",
    },
    Entry {
        nr: 16,
        name: "ioctl",
        handler: fdctl::ioctl,
        why: "FIOCLEX/FIONCLEX on the guest table, FIONBIO (F_SETFL's O_NONBLOCK), FIONREAD on a pipe; everything else (TCGETS, TIOCGWINSZ, ...) ENOTTY: no terminal, and no ioctl reaches a host fd",
    },
    Entry {
        nr: 17,
        name: "pread64",
        handler: io::pread64,
        why: "positional read of a file straight into guest memory",
    },
    Entry {
        nr: 18,
        name: "pwrite64",
        handler: io::pwrite64,
        why: "positional write to a read-write file, counted against bytes_written",
    },
    Entry {
        nr: 19,
        name: "readv",
        handler: io::readv,
        why: "every iovec checked writable, then one host readv into guest memory (or one pipe read)",
    },
    Entry {
        nr: 21,
        name: "access",
        handler: fs::access,
        why: "answers for the policy: W_OK needs a read-write rule",
    },
    Entry {
        nr: 32,
        name: "dup",
        handler: fdctl::dup,
        why: "shares the open file description (offset, status flags, pipe end) in the guest table",
    },
    Entry {
        nr: 33,
        name: "dup2",
        handler: fdctl::dup2,
        why: "guest table only; the target must be below open_files",
    },
    Entry {
        nr: 41,
        name: "socket",
        handler: net::socket,
        why: "AF_INET/AF_INET6 TCP/UDP, only when a [[network]] rule names the protocol",
    },
    Entry {
        nr: 42,
        name: "connect",
        handler: net::connect,
        why: "only to a peer listed in [[network]] (EACCES otherwise, before any packet leaves)",
    },
    Entry {
        nr: 44,
        name: "sendto",
        handler: net::sendto,
        why: "send on a socket (also send()); UDP destinations must be listed; the host call always has MSG_NOSIGNAL, a broken connection raises the guest's SIGPIPE unless it passed MSG_NOSIGNAL",
    },
    Entry {
        nr: 45,
        name: "recvfrom",
        handler: net::recvfrom,
        why: "receive (also recv()); datagrams from unlisted peers are dropped",
    },
    Entry {
        nr: 48,
        name: "shutdown",
        handler: net::shutdown,
        why: "host shutdown of the guest's own socket",
    },
    Entry {
        nr: 55,
        name: "getsockopt",
        handler: net::getsockopt,
        why: "SOL_SOCKET SO_ERROR/SO_TYPE/SO_PROTOCOL/SO_DOMAIN only",
    },
    Entry {
        nr: 72,
        name: "fcntl",
        handler: fdctl::fcntl,
        why: "F_DUPFD(_CLOEXEC), F_GETFD/F_SETFD on the guest table; F_GETFL/F_SETFL (O_APPEND, O_NONBLOCK; a pipe's O_NONBLOCK in the runner); F_GETPIPE_SZ/F_SETPIPE_SZ (64 KiB)",
    },
    Entry {
        nr: 74,
        name: "fsync",
        handler: fs::fsync,
        why: "host fsync of a file or directory",
    },
    Entry {
        nr: 75,
        name: "fdatasync",
        handler: fs::fdatasync,
        why: "host fdatasync of a file or directory",
    },
    Entry {
        nr: 76,
        name: "truncate",
        handler: fs::truncate,
        why: "inside read-write rules only",
    },
    Entry {
        nr: 77,
        name: "ftruncate",
        handler: fs::ftruncate,
        why: "files opened for writing (inside read-write rules) only",
    },
    Entry {
        nr: 79,
        name: "getcwd",
        handler: fs::getcwd,
        why: "the guest cwd, a guest path: no host path leaks",
    },
    Entry {
        nr: 80,
        name: "chdir",
        handler: fs::chdir,
        why: "to a directory the policy shows; kept as a normalized guest path",
    },
    Entry {
        nr: 81,
        name: "fchdir",
        handler: fs::fchdir,
        why: "to the guest path of a directory fd",
    },
    Entry {
        nr: 82,
        name: "rename",
        handler: fs::rename,
        why: "see renameat2",
    },
    Entry {
        nr: 83,
        name: "mkdir",
        handler: fs::mkdir,
        why: "see mkdirat",
    },
    Entry {
        nr: 84,
        name: "rmdir",
        handler: fs::rmdir,
        why: "see unlinkat",
    },
    Entry {
        nr: 85,
        name: "creat",
        handler: fs::creat,
        why: "open(O_CREAT|O_WRONLY|O_TRUNC)",
    },
    Entry {
        nr: 87,
        name: "unlink",
        handler: fs::unlink,
        why: "see unlinkat",
    },
    Entry {
        nr: 89,
        name: "readlink",
        handler: fs::readlink,
        why: "see readlinkat",
    },
    Entry {
        nr: 217,
        name: "getdents64",
        handler: fs::getdents64,
        why: "host directory entries, then synthesized ones for rule paths below; synthesized directories list their children",
    },
    Entry {
        nr: 257,
        name: "openat",
        handler: fs::openat,
        why: "policy-driven: openat2(rule root, rest, RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS) from fds opened before the run",
    },
    Entry {
        nr: 258,
        name: "mkdirat",
        handler: fs::mkdirat,
        why: "inside read-write rules only; no set-id bits",
    },
    Entry {
        nr: 262,
        name: "newfstatat",
        handler: fs::newfstatat,
        why: "stat by path (AT_SYMLINK_NOFOLLOW); AT_EMPTY_PATH as fstat, for streams and pipes too",
    },
    Entry {
        nr: 263,
        name: "unlinkat",
        handler: fs::unlinkat,
        why: "inside read-write rules only; rule paths and their ancestors are EBUSY",
    },
    Entry {
        nr: 264,
        name: "renameat",
        handler: fs::renameat,
        why: "see renameat2",
    },
    Entry {
        nr: 267,
        name: "readlinkat",
        handler: fs::readlinkat,
        why: "link text only for links that resolve inside their rule",
    },
    Entry {
        nr: 269,
        name: "faccessat",
        handler: fs::faccessat,
        why: "see access",
    },
    Entry {
        nr: 292,
        name: "dup3",
        handler: fdctl::dup3,
        why: "dup2 with O_CLOEXEC",
    },
    Entry {
        nr: 295,
        name: "preadv",
        handler: io::preadv,
        why: "positional readv",
    },
    Entry {
        nr: 296,
        name: "pwritev",
        handler: io::pwritev,
        why: "positional writev, counted against bytes_written",
    },
    Entry {
        nr: 316,
        name: "renameat2",
        handler: fs::renameat2,
        why: "both ends in the same read-write rule (EXDEV across rules); RENAME_NOREPLACE/EXCHANGE",
    },
    Entry {
        nr: 332,
        name: "statx",
        handler: fs::statx,
        why: "the basic stats (no birth time, mount id)",
    },
    Entry {
        nr: 439,
        name: "faccessat2",
        handler: fs::faccessat2,
        why: "see access; AT_SYMLINK_NOFOLLOW, AT_EACCESS",
    },
];

fn index() -> &'static [Option<u16>] {
    static INDEX: OnceLock<Vec<Option<u16>>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let max = TABLE.iter().map(|e| e.nr).max().unwrap_or(0) as usize;
        let mut v = vec![None; max + 1];
        for (i, e) in TABLE.iter().enumerate() {
            v[e.nr as usize] = Some(i as u16);
        }
        v
    })
}

/// The entry for `nr`, if emulated.
pub fn lookup(nr: u64) -> Option<&'static Entry> {
    let i = (*index().get(usize::try_from(nr).ok()?)?)?;
    TABLE.get(i as usize)
}

/// A syscall's name for reports: the table's, else Linux's, else `nr_N`.
pub fn name_of(nr: u64) -> Cow<'static, str> {
    if let Some(e) = lookup(nr) {
        return Cow::Borrowed(e.name);
    }
    u32::try_from(nr)
        .ok()
        .and_then(sandbox_policy::syscall_name)
        .map_or_else(|| Cow::Owned(format!("nr_{nr}")), Cow::Borrowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        let mut seen = std::collections::BTreeSet::new();
        for e in TABLE {
            assert!(seen.insert(e.nr), "duplicate {}", e.nr);
            assert!(std::ptr::eq(lookup(e.nr).expect("indexed"), e));
            assert!(!e.why.is_empty());
        }
        assert!(lookup(999).is_none());
        assert_eq!(name_of(999), "nr_999");
    }

    #[test]
    fn compatibility_doc_lists_every_syscall() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/compatibility.md");
        let doc = std::fs::read_to_string(path).expect("docs/compatibility.md");
        let missing: Vec<String> = TABLE
            .iter()
            .filter(|e| !doc.contains(&format!("| {} | `{}` |", e.nr, e.name)))
            .map(|e| format!("{} ({})", e.name, e.nr))
            .collect();
        assert!(
            missing.is_empty(),
            "docs/compatibility.md does not list these emulated syscalls: {missing:?}"
        );
    }
}

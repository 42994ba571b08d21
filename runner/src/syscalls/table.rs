//! The syscall table as data: number, name, handler, and why the runner
//! emulates it. Anything not here returns -ENOSYS (and is reported).

use super::{fdctl, fs, io, memory, net, process, time, Handler};
use std::borrow::Cow;
use std::sync::OnceLock;

/// One emulated syscall.
pub struct Entry {
    pub nr: u64,
    pub name: &'static str,
    pub handler: Handler,
    /// Why it is emulated and how (for readers and docs/compatibility.md).
    pub why: &'static str,
}

/// Every emulated syscall.
pub static TABLE: &[Entry] = &[
    Entry {
        nr: 0,
        name: "read",
        handler: io::read,
        why: "stdin, files, sockets; read straight into guest memory through the tunnel",
    },
    Entry {
        nr: 1,
        name: "write",
        handler: io::write,
        why: "stdout/stderr, files, sockets; written from guest memory without a copy, within bytes_written",
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
        nr: 20,
        name: "writev",
        handler: io::writev,
        why: "any writable fd; all iovecs checked before one vectored host write",
    },
    Entry {
        nr: 39,
        name: "getpid",
        handler: process::getpid,
        why: "a fixed pid: the guest is alone in its VM",
    },
    Entry {
        nr: 60,
        name: "exit",
        handler: process::exit,
        why: "single-threaded: ends the process",
    },
    Entry {
        nr: 63,
        name: "uname",
        handler: process::uname,
        why: "fixed identity; no host details leak",
    },
    Entry {
        nr: 158,
        name: "arch_prctl",
        handler: process::arch_prctl,
        why: "FS/GS base for TLS, through the vCPU cache",
    },
    Entry {
        nr: 186,
        name: "gettid",
        handler: process::getpid,
        why: "single thread: tid = pid",
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
        why: "host clocks (realtime, monotonic, boottime, cpu)",
    },
    Entry {
        nr: 231,
        name: "exit_group",
        handler: process::exit,
        why: "ends the process",
    },
    Entry {
        nr: 318,
        name: "getrandom",
        handler: time::getrandom,
        why: "host getrandom, copied through the tunnel",
    },
    // ---- files and sockets, policy-driven (syscalls/fs.rs, io.rs, fdctl.rs, net.rs)
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
        why: "drops the guest fd; the host fd closes with its last duplicate",
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
        why: "host fstat of the object behind a guest fd; /dev/null for a disconnected stream",
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
        why: "host lseek on files, stdio and directories (rewinds the listing); ESPIPE on sockets",
    },
    Entry {
        nr: 16,
        name: "ioctl",
        handler: fdctl::ioctl,
        why: "FIOCLEX/FIONCLEX on the guest table; everything else (TCGETS, TIOCGWINSZ, ...) ENOTTY: no ioctl reaches a host fd",
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
        why: "every iovec checked writable, then one host readv into guest memory",
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
        why: "shares the open file description in the guest table",
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
        why: "send on a socket (also send()); UDP destinations must be listed; always MSG_NOSIGNAL",
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
        why: "F_DUPFD(_CLOEXEC), F_GETFD/F_SETFD on the guest table; F_GETFL/F_SETFL (O_APPEND, O_NONBLOCK)",
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
        why: "stat by path (AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH)",
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
}

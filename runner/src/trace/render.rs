//! Pieces of a trace line as strace writes them: strings quoted and
//! escaped (at most [`STRING_BYTES`] shown, then `...`), flags by name,
//! numbers by kind, results with their errno's name and text.

use super::signatures::Arg;
use std::borrow::Cow;

/// The bytes of a string or buffer shown (strace's default `-s 32`).
pub const STRING_BYTES: usize = 32;

/// The most elements of an argv shown.
pub const ARGV_ITEMS: usize = 32;

/// `bytes` quoted as C would write them; `more`: the data went on.
pub fn quoted(bytes: &[u8], more: bool) -> String {
    let shown = &bytes[..bytes.len().min(STRING_BYTES)];
    let mut out = String::with_capacity(shown.len() + 8);
    out.push('"');
    for (i, &b) in shown.iter().enumerate() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            0x0b => out.push_str("\\v"),
            0x0c => out.push_str("\\f"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                // Octal as strace: short unless a digit follows.
                let next_is_digit = shown.get(i + 1).is_some_and(u8::is_ascii_digit);
                if next_is_digit {
                    out.push_str(&format!("\\{b:03o}"));
                } else {
                    out.push_str(&format!("\\{b:o}"));
                }
            }
        }
    }
    out.push('"');
    if more || bytes.len() > STRING_BYTES {
        out.push_str("...");
    }
    out
}

/// `value`'s named bits joined by `|`, with what is left in hex; `zero`
/// when nothing is set.
fn bits(value: u64, names: &[(&str, u64)], zero: &str) -> String {
    let mut parts = Vec::new();
    let mut left = value;
    for &(name, bit) in names {
        if bit != 0 && left & bit == bit {
            parts.push(name.to_string());
            left &= !bit;
        }
    }
    if left != 0 {
        parts.push(format!("{left:#x}"));
    }
    if parts.is_empty() {
        zero.to_string()
    } else {
        parts.join("|")
    }
}

/// One of `names` equal to `value`, else the number.
fn one_of(value: u64, names: &[(&str, u64)]) -> String {
    names
        .iter()
        .find(|&&(_, v)| v == value)
        .map_or_else(|| (value as i64).to_string(), |&(n, _)| n.to_string())
}

macro_rules! named {
    ($($c:ident),* $(,)?) => { &[$((stringify!($c), libc::$c as u64)),*] };
}

const OPEN_FLAGS: &[(&str, u64)] = named!(
    O_WRONLY,
    O_RDWR,
    O_CREAT,
    O_EXCL,
    O_NOCTTY,
    O_TRUNC,
    O_APPEND,
    O_NONBLOCK,
    O_DSYNC,
    O_DIRECT,
    O_LARGEFILE,
    O_DIRECTORY,
    O_NOFOLLOW,
    O_NOATIME,
    O_CLOEXEC,
    O_PATH,
    O_TMPFILE,
    O_SYNC,
    O_ASYNC,
);
const PROT: &[(&str, u64)] = named!(
    PROT_READ,
    PROT_WRITE,
    PROT_EXEC,
    PROT_GROWSDOWN,
    PROT_GROWSUP
);
const MAP_FLAGS: &[(&str, u64)] = named!(
    MAP_SHARED_VALIDATE,
    MAP_SHARED,
    MAP_PRIVATE,
    MAP_FIXED_NOREPLACE,
    MAP_FIXED,
    MAP_ANONYMOUS,
    MAP_GROWSDOWN,
    MAP_DENYWRITE,
    MAP_EXECUTABLE,
    MAP_LOCKED,
    MAP_NORESERVE,
    MAP_POPULATE,
    MAP_NONBLOCK,
    MAP_STACK,
    MAP_HUGETLB,
    MAP_32BIT,
);
const AT_FLAGS: &[(&str, u64)] = named!(
    AT_SYMLINK_NOFOLLOW,
    AT_REMOVEDIR,
    AT_SYMLINK_FOLLOW,
    AT_NO_AUTOMOUNT,
    AT_EMPTY_PATH,
    AT_EACCESS,
);
const CLONE_FLAGS: &[(&str, u64)] = named!(
    CLONE_VM,
    CLONE_FS,
    CLONE_FILES,
    CLONE_SIGHAND,
    CLONE_PIDFD,
    CLONE_PTRACE,
    CLONE_VFORK,
    CLONE_PARENT,
    CLONE_THREAD,
    CLONE_NEWNS,
    CLONE_SYSVSEM,
    CLONE_SETTLS,
    CLONE_PARENT_SETTID,
    CLONE_CHILD_CLEARTID,
    CLONE_DETACHED,
    CLONE_UNTRACED,
    CLONE_CHILD_SETTID,
    CLONE_NEWCGROUP,
    CLONE_NEWUTS,
    CLONE_NEWIPC,
    CLONE_NEWUSER,
    CLONE_NEWPID,
    CLONE_NEWNET,
    CLONE_IO,
);
const SOCK_FLAGS: &[(&str, u64)] = named!(SOCK_NONBLOCK, SOCK_CLOEXEC);
const SOCK_TYPES: &[(&str, u64)] = named!(SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET);
const DOMAINS: &[(&str, u64)] = named!(AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET);
const WHENCE: &[(&str, u64)] = named!(SEEK_SET, SEEK_CUR, SEEK_END, SEEK_DATA, SEEK_HOLE);
const SIG_HOW: &[(&str, u64)] = named!(SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK);
const FCNTL: &[(&str, u64)] = named!(
    F_DUPFD,
    F_GETFD,
    F_SETFD,
    F_GETFL,
    F_SETFL,
    F_GETLK,
    F_SETLK,
    F_SETLKW,
    F_SETOWN,
    F_GETOWN,
    F_DUPFD_CLOEXEC,
    F_SETPIPE_SZ,
    F_GETPIPE_SZ,
    F_ADD_SEALS,
    F_GET_SEALS,
);
const IOCTLS: &[(&str, u64)] = named!(
    TCGETS, TCSETS, TCSETSW, TCSETSF, TCSBRK, TCXONC, TCFLSH, TIOCSCTTY, TIOCGPGRP, TIOCSPGRP,
    TIOCGWINSZ, TIOCSWINSZ, FIONREAD, TIOCGSID, FIONBIO, FIONCLEX, FIOCLEX, TIOCNOTTY,
);
const RESOURCES: &[(&str, u64)] = named!(
    RLIMIT_CPU,
    RLIMIT_FSIZE,
    RLIMIT_DATA,
    RLIMIT_STACK,
    RLIMIT_CORE,
    RLIMIT_RSS,
    RLIMIT_NPROC,
    RLIMIT_NOFILE,
    RLIMIT_MEMLOCK,
    RLIMIT_AS,
    RLIMIT_LOCKS,
    RLIMIT_SIGPENDING,
    RLIMIT_MSGQUEUE,
    RLIMIT_NICE,
    RLIMIT_RTPRIO,
    RLIMIT_RTTIME,
);
const ARCH: &[(&str, u64)] = &[
    ("ARCH_SET_GS", 0x1001),
    ("ARCH_SET_FS", 0x1002),
    ("ARCH_GET_FS", 0x1003),
    ("ARCH_GET_GS", 0x1004),
    ("ARCH_GET_CPUID", 0x1011),
    ("ARCH_SET_CPUID", 0x1012),
];
const FUTEX_OPS: &[(&str, u64)] = named!(
    FUTEX_WAIT,
    FUTEX_WAKE,
    FUTEX_FD,
    FUTEX_REQUEUE,
    FUTEX_CMP_REQUEUE,
    FUTEX_WAKE_OP,
    FUTEX_LOCK_PI,
    FUTEX_UNLOCK_PI,
    FUTEX_TRYLOCK_PI,
    FUTEX_WAIT_BITSET,
    FUTEX_WAKE_BITSET,
    FUTEX_WAIT_REQUEUE_PI,
    FUTEX_CMP_REQUEUE_PI,
    FUTEX_LOCK_PI2,
);

/// A number-like argument of kind `kind` (not a memory one).
pub fn scalar(kind: Arg, v: u64) -> String {
    match kind {
        Arg::Int | Arg::Fd => (v as i64).to_string(),
        Arg::UInt => v.to_string(),
        Arg::Hex => format!("{v:#x}"),
        Arg::Ptr if v == 0 => "NULL".into(),
        Arg::Ptr => format!("{v:#x}"),
        Arg::DirFd if v as i32 == libc::AT_FDCWD => "AT_FDCWD".into(),
        Arg::DirFd => (v as i32).to_string(),
        Arg::OpenFlags => {
            let access = match v & 3 {
                0 => "O_RDONLY",
                1 => "O_WRONLY",
                2 => "O_RDWR",
                _ => "O_ACCMODE",
            };
            let rest = bits(v & !3, OPEN_FLAGS, "");
            if rest.is_empty() {
                access.into()
            } else {
                format!("{access}|{rest}")
            }
        }
        // C's "%#03o", as strace: 0644, 022, 000.
        Arg::Mode => match v & 0o7777 {
            0 => "000".into(),
            m => format!("{:0>3}", format!("0{m:o}")),
        },
        Arg::Prot => bits(v, PROT, "PROT_NONE"),
        Arg::MapFlags => bits(v, MAP_FLAGS, "0"),
        Arg::AtFlags => bits(v, AT_FLAGS, "0"),
        Arg::CloneFlags => {
            let sig = v & 0xff;
            let flags = bits(v & !0xff, CLONE_FLAGS, "");
            match (flags.is_empty(), sig) {
                (true, 0) => "0".into(),
                (true, s) => signal(s),
                (false, 0) => flags,
                (false, s) => format!("{flags}|{}", signal(s)),
            }
        }
        Arg::Signal => signal(v),
        Arg::SigHow => one_of(v, SIG_HOW),
        Arg::Whence => one_of(v, WHENCE),
        Arg::FcntlCmd => one_of(v, FCNTL),
        Arg::ArchCode => one_of(v, ARCH),
        Arg::Domain => one_of(v, DOMAINS),
        Arg::IoctlReq => IOCTLS
            .iter()
            .find(|&&(_, r)| r == v & 0xffff_ffff)
            .map_or_else(|| format!("{v:#x}"), |&(n, _)| n.to_string()),
        Arg::Resource => one_of(v, RESOURCES),
        Arg::SockType => {
            let kind = one_of(v & 0xf, SOCK_TYPES);
            let rest = bits(v & !0xf, SOCK_FLAGS, "");
            if rest.is_empty() {
                kind
            } else {
                format!("{kind}|{rest}")
            }
        }
        Arg::FutexOp => {
            let private = v & libc::FUTEX_PRIVATE_FLAG as u64 != 0;
            let realtime = v & libc::FUTEX_CLOCK_REALTIME as u64 != 0;
            let op = v & !(libc::FUTEX_PRIVATE_FLAG as u64 | libc::FUTEX_CLOCK_REALTIME as u64);
            let mut s = one_of(op, FUTEX_OPS);
            if private {
                s.push_str("_PRIVATE");
            }
            if realtime {
                s.push_str("|FUTEX_CLOCK_REALTIME");
            }
            s
        }
        // Memory kinds are shown by the caller; their pointer if it cannot.
        Arg::Path | Arg::InBuf(_) | Arg::OutBuf | Arg::FdPair | Arg::Argv => scalar(Arg::Ptr, v),
    }
}

const SIGNALS: &[(&str, u64)] = named!(
    SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGKILL, SIGUSR1, SIGSEGV,
    SIGUSR2, SIGPIPE, SIGALRM, SIGTERM, SIGSTKFLT, SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN,
    SIGTTOU, SIGURG, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF, SIGWINCH, SIGIO, SIGPWR, SIGSYS,
);

/// A syscall's name (`openat`), or `nr_N` for a number that names none.
pub fn syscall_name(nr: u64) -> Cow<'static, str> {
    u32::try_from(nr)
        .ok()
        .and_then(sandbox_policy::syscall_name)
        .map_or_else(|| Cow::Owned(format!("nr_{nr}")), Cow::Borrowed)
}

/// An errno's name (`ENOENT`), or its number.
pub fn errno_name(e: i32) -> String {
    sandbox_policy::errno_name(e).map_or_else(|| e.to_string(), str::to_owned)
}

/// A signal's name (SIGINT), or its number.
pub fn signal(v: u64) -> String {
    match i32::try_from(v) {
        Ok(1..=31) => one_of(v, SIGNALS),
        Ok(n @ 32..=64) => format!("SIGRT_{}", n - 32),
        _ => (v as i64).to_string(),
    }
}

/// A call's result as strace shows it: the number, or `-1 ENAME (text)`.
pub fn result(value: u64, kind_hex: bool) -> String {
    let signed = value as i64;
    if (-4095..0).contains(&signed) {
        let name = errno_name((-signed) as i32);
        let text = std::io::Error::from_raw_os_error((-signed) as i32).to_string();
        // "No such file or directory (os error 2)" -> the text alone.
        let text = text.split(" (os error").next().unwrap_or(&text).to_string();
        return format!("-1 {name} ({text})");
    }
    if kind_hex {
        format!("{value:#x}")
    } else {
        signed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_look_as_strace_writes_them() {
        assert_eq!(quoted(b"hi\n", false), "\"hi\\n\"");
        assert_eq!(quoted(&[0, b'1'], false), "\"\\0001\"");
        assert_eq!(quoted(&[0x7f], false), "\"\\177\"");
        assert_eq!(
            quoted(&[b'a'; 40], false),
            format!("\"{}\"...", "a".repeat(32))
        );
        assert_eq!(
            scalar(Arg::OpenFlags, (libc::O_RDONLY | libc::O_CLOEXEC) as u64),
            "O_RDONLY|O_CLOEXEC"
        );
        assert_eq!(
            scalar(
                Arg::OpenFlags,
                (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC) as u64
            ),
            "O_WRONLY|O_CREAT|O_TRUNC"
        );
        assert_eq!(scalar(Arg::DirFd, libc::AT_FDCWD as u32 as u64), "AT_FDCWD");
        assert_eq!(scalar(Arg::Prot, 3), "PROT_READ|PROT_WRITE");
        assert_eq!(scalar(Arg::Prot, 0), "PROT_NONE");
        assert_eq!(scalar(Arg::MapFlags, 0x22), "MAP_PRIVATE|MAP_ANONYMOUS");
        assert_eq!(
            scalar(Arg::CloneFlags, 0x1200011),
            "CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD"
        );
        assert_eq!(scalar(Arg::FutexOp, 128), "FUTEX_WAIT_PRIVATE");
        assert_eq!(scalar(Arg::Mode, 0o644), "0644");
        assert_eq!(
            scalar(
                Arg::SockType,
                (libc::SOCK_STREAM | libc::SOCK_CLOEXEC) as u64
            ),
            "SOCK_STREAM|SOCK_CLOEXEC"
        );
        assert_eq!(result(3, false), "3");
        assert_eq!(
            result((-2i64) as u64, false),
            "-1 ENOENT (No such file or directory)"
        );
        assert_eq!(result(0x7f00_0000_1000, true), "0x7f0000001000");
    }
}

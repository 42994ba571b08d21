//! What the audit makes of syscalls: how one was entered (a forged
//! entry, a W^X request) and why one failed (the policy refused it, a
//! pointer was bad, a limit was reached). The run loop calls these only
//! in an audited run; the strings a finding quotes (a path, a peer) are
//! read through the tunnel by the caller first.

use super::places::{Places, Region};
use super::{Finding, Reason};
use crate::trace::signatures::{self, Arg};
use libc::{EACCES, EAGAIN, EDQUOT, EFAULT, EFBIG, EINVAL, EMFILE, ENFILE, ENOMEM, EPERM, EROFS};

/// A call as the audit sees it.
#[derive(Debug, Clone, Copy)]
pub struct CallSeen<'a> {
    pub pid: u64,
    pub name: &'a str,
    pub args: [u64; 6],
    /// The `syscall` instruction's address.
    pub site: u64,
}

/// What the caller read for a finding's words: the call's path argument
/// and the socket address it names, as text.
#[derive(Debug, Clone, Default)]
pub struct Quoted {
    pub path: Option<String>,
    pub peer: Option<String>,
}

/// Linux's UIO_MAXIOV.
const IOV_MAX: u64 = 1024;

/// RFLAGS.IOPL: never set in what a real `syscall` saves from user mode.
const IOPL: u64 = 3 << 12;

const PROT_WRITE: u64 = 2;
const PROT_EXEC: u64 = 4;

fn finding(places: &Places<'_>, c: &CallSeen<'_>, reason: Reason, what: String) -> Finding {
    Finding::new(reason, c.pid, what).at(c.site, places.describe(c.site))
}

/// Findings about how call `c` was entered: the flags its `syscall` saved
/// (R11), the stack it was made on, and memory it asks to be both
/// writable and executable.
pub fn entering(places: &Places<'_>, c: &CallSeen<'_>, rsp: u64, flags: u64) -> Vec<Finding> {
    let mut out = Vec::new();
    if flags & IOPL != 0 {
        out.push(finding(
            places,
            c,
            Reason::ForgedEntry,
            format!(
                "{} entered with IOPL {} in its saved flags (R11 {flags:#x}): not a real syscall",
                c.name,
                (flags & IOPL) >> 12
            ),
        ));
    }
    // Unmapped user memory is no evidence: musl's pthread_exit unmaps its
    // own stack and then calls exit with RSP still in it.
    if rsp >= crate::guest::layout::USER_END {
        out.push(
            finding(
                places,
                c,
                Reason::ForgedEntry,
                format!(
                    "{} made with its stack pointer in {}",
                    c.name,
                    places.describe(rsp)
                ),
            )
            .aimed_at(rsp, places.describe(rsp)),
        );
    }
    let prot = match c.name {
        "mmap" | "mprotect" => Some(c.args[2]),
        "pkey_mprotect" => Some(c.args[2]),
        _ => None,
    };
    if let Some(prot) = prot.filter(|p| p & PROT_EXEC != 0) {
        let addr = c.args[0];
        let len = c.args[1];
        if prot & PROT_WRITE != 0 {
            out.push(finding(
                places,
                c,
                Reason::WxMapping,
                format!("{} of {len} bytes writable and executable", c.name),
            ));
        } else if c.name != "mmap"
            && matches!(
                places.region(addr),
                Region::Mapped {
                    write: true,
                    exec: false,
                    ..
                }
            )
        {
            out.push(
                finding(
                    places,
                    c,
                    Reason::WxMapping,
                    format!("{} makes writable memory executable", c.name),
                )
                .aimed_at(addr, places.describe(addr)),
            );
        }
    }
    out
}

/// The finding for call `c` failing with `errno`, when its failure says
/// something: the policy refused it, a pointer was bad, a limit was
/// reached. None for an ordinary failure (a missing file, EAGAIN on a
/// pipe).
pub fn failed(places: &Places<'_>, c: &CallSeen<'_>, errno: i32, q: &Quoted) -> Option<Finding> {
    let e = crate::trace::render::errno_name(errno);
    let limit = |what: String| Some(finding(places, c, Reason::Limit, what));
    match errno {
        EFAULT => Some(bad_pointer(places, c)),
        // access(2) asks; it does not try.
        EACCES | EPERM | EROFS if matches!(c.name, "access" | "faccessat" | "faccessat2") => None,
        EACCES | EPERM | EROFS if q.path.is_some() => Some(finding(
            places,
            c,
            Reason::RefusedFile,
            format!("{} of \"{}\": {e}", c.name, q.path.as_deref().unwrap_or("")),
        )),
        EACCES | EPERM if is_network(c.name) => {
            let to = q
                .peer
                .as_deref()
                .map(|p| format!(" {p}"))
                .unwrap_or_default();
            Some(finding(
                places,
                c,
                Reason::RefusedNetwork,
                format!("{}{to}: {e}", c.name),
            ))
        }
        ENOMEM if is_memory(c.name) => limit(format!(
            "memory (limits.memory): {} refused with ENOMEM",
            c.name
        )),
        EMFILE | ENFILE => limit(format!("descriptors: {} refused with {e}", c.name)),
        EAGAIN if is_process(c.name) => limit(format!(
            "processes or threads (limits.processes, limits.threads): {} refused with EAGAIN",
            c.name
        )),
        EFBIG | EDQUOT if is_write(c.name) => limit(format!(
            "bytes written (limits.bytes_written): {} refused with {e}",
            c.name
        )),
        EINVAL if is_vector(c.name) && c.args[2] > IOV_MAX => limit(format!(
            "{} with {} iovecs, more than Linux's {IOV_MAX}",
            c.name, c.args[2]
        )),
        _ => None,
    }
}

/// EFAULT: the pointer argument the tunnel must have refused, and where
/// it points. A pointer the call's signature does not show (one inside a
/// structure) is named by the call alone, as a note: the audit cannot
/// tell where it pointed.
fn bad_pointer(places: &Places<'_>, c: &CallSeen<'_>) -> Finding {
    let kinds = signatures::of(c.name).unwrap_or(&[]);
    let culprit = kinds.iter().zip(c.args).find_map(|(k, v)| {
        let wants_write = matches!(k, Arg::OutBuf | Arg::FdPair);
        let pointer = matches!(
            k,
            Arg::Ptr | Arg::Path | Arg::InBuf(_) | Arg::OutBuf | Arg::Argv | Arg::FdPair
        );
        let usable = match places.region(v) {
            Region::Mapped { write, read, .. } => read && (write || !wants_write),
            _ => false,
        };
        (pointer && v != 0 && !usable).then_some(v)
    });
    match culprit {
        // NULL, unmapped or read-only memory: what a buggy program passes
        // too; only a pointer out of user reach is evidence.
        Some(p) => {
            let reason = if places.region(p).is_forbidden() {
                Reason::BadPointer
            } else {
                Reason::FaultyPointer
            };
            finding(
                places,
                c,
                reason,
                format!("{} given a pointer into {}", c.name, places.describe(p)),
            )
            .aimed_at(p, places.describe(p))
        }
        None => finding(
            places,
            c,
            Reason::FaultyPointer,
            format!("{} given a pointer the tunnel refused (EFAULT)", c.name),
        ),
    }
}

fn is_network(name: &str) -> bool {
    matches!(
        name,
        "socket"
            | "connect"
            | "bind"
            | "listen"
            | "sendto"
            | "sendmsg"
            | "sendmmsg"
            | "accept"
            | "accept4"
    )
}

fn is_memory(name: &str) -> bool {
    matches!(
        name,
        "mmap"
            | "mremap"
            | "mprotect"
            | "brk"
            | "clone"
            | "clone3"
            | "fork"
            | "vfork"
            | "shmget"
            | "mlock"
            | "mlockall"
            | "memfd_create"
    )
}

fn is_process(name: &str) -> bool {
    matches!(name, "clone" | "clone3" | "fork" | "vfork")
}

fn is_write(name: &str) -> bool {
    matches!(
        name,
        "write"
            | "writev"
            | "pwrite64"
            | "pwritev"
            | "pwritev2"
            | "sendfile"
            | "splice"
            | "copy_file_range"
            | "fallocate"
            | "ftruncate"
            | "truncate"
    )
}

fn is_vector(name: &str) -> bool {
    matches!(
        name,
        "readv" | "writev" | "preadv" | "pwritev" | "preadv2" | "pwritev2"
    )
}

/// Which argument of call `name` is a socket address, and which its
/// length.
pub fn sockaddr_arg(name: &str) -> Option<(usize, usize)> {
    match name {
        "connect" | "bind" => Some((1, 2)),
        "sendto" => Some((4, 5)),
        _ => None,
    }
}

/// A socket address as text: `10.0.0.1:80`, `[::1]:443`, or its family.
pub fn sockaddr_text(b: &[u8]) -> String {
    let family = b.get(..2).map_or(0, |f| u16::from_ne_bytes([f[0], f[1]]));
    let port = |b: &[u8]| b.get(2..4).map_or(0, |p| u16::from_be_bytes([p[0], p[1]]));
    match i32::from(family) {
        libc::AF_INET if b.len() >= 8 => {
            let ip = std::net::Ipv4Addr::new(b[4], b[5], b[6], b[7]);
            format!("{ip}:{}", port(b))
        }
        libc::AF_INET6 if b.len() >= 24 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(&b[8..24]);
            format!("[{}]:{}", std::net::Ipv6Addr::from(o), port(b))
        }
        libc::AF_UNIX => "a UNIX socket".to_string(),
        f => format!("an address of family {f}"),
    }
}

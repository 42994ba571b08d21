//! The syscall contract as data: one entry for every x86-64 Linux syscall,
//! each with its status (gVisor's `linux64.go` is the model):
//!
//! - **emulated**: a handler runs it (`Status::Emulated`), with notes on how;
//! - **refused**: it fails with a chosen errno on purpose, with the reason
//!   (reported once on stderr, or silently where libc probes it routinely);
//! - **unsupported**: not emulated (yet), with the reason; `-ENOSYS` and one
//!   stderr line per number.
//!
//! Entries are named, not numbered: numbers and names are Linux's table in
//! `sandbox_policy::syscall_names`, which the policy uses too, so there is
//! one place for each. The tests check that every named number has exactly
//! one entry here, in number order. Numbers with no name (335..=423, which
//! x86-64 never assigned, and anything above the table) are not syscalls:
//! `-ENOSYS`, reported as `nr_N`. `docs/compatibility.md`'s contract table is
//! generated from this one (`doc_table`); a test fails when it is stale.

use super::{
    alarm, capabilities, clocks, copy, epoll, eventfd, exec, fdctl, flock, fs, futex, futex2,
    identity, io, ioprio, memfd, memlock, memory, net, net_messages, net_options, net_server,
    pidfd, pipe, poll, posix_timers, process, remap, resources, sched_attr, scheduling, select,
    signalfd, signals, sigwait, sleep, socketpair, splice, sysv_msg, sysv_sem, sysv_shm, thread,
    time, timerfd, wait, Handler,
};
use crate::abi::Errno;
use std::borrow::Cow;
use std::sync::OnceLock;

/// What the runner does with one syscall.
#[derive(Clone, Copy)]
pub enum Status {
    /// A handler emulates it.
    Emulated {
        handler: Handler,
        /// The file of `syscalls/` that holds the handler (for the docs).
        module: &'static str,
        /// How, and within which limits.
        notes: &'static str,
    },
    /// Fails with `errno` on purpose.
    Refused {
        errno: Errno,
        why: &'static str,
        /// Whether the first call is reported on stderr.
        report: bool,
    },
    /// Not emulated: `-ENOSYS`, reported once.
    Unsupported { why: &'static str },
}

/// One syscall's entry.
#[derive(Clone, Copy)]
pub struct Entry {
    pub name: &'static str,
    pub status: Status,
}

/// An emulated syscall: `emulated!("read", io::read, "notes")`.
macro_rules! emulated {
    ($name:literal, $module:ident :: $handler:ident, $notes:expr) => {
        Entry {
            name: $name,
            status: Status::Emulated {
                handler: $module::$handler,
                module: stringify!($module),
                notes: $notes,
            },
        }
    };
}

/// Refused on purpose, silently (libc probes it and copes).
const fn refused_quietly(name: &'static str, errno: Errno, why: &'static str) -> Entry {
    Entry {
        name,
        status: Status::Refused {
            errno,
            why,
            report: false,
        },
    }
}

const fn unsupported(name: &'static str, why: &'static str) -> Entry {
    Entry {
        name,
        status: Status::Unsupported { why },
    }
}

// Why the refused and unsupported syscalls are, grouped by family.
const THREADS: &str = "not emulated yet: futex_waitv (a thread here waits on one futex queue at a time); futex and the other futex2 calls are";
const MQUEUE: &str = "POSIX message queues: not emulated yet (System V message queues are: msgget, msgsnd, msgrcv, msgctl)";
const XATTRS: &str = "the files show no extended attributes (EOPNOTSUPP, a file system without them: ls, cp and Python carry on without)";
const FILE_META: &str = "not emulated yet: the file calls programs rarely need (vmsplice, openat2)";
const EVENTS: &str =
    "not emulated yet: inotify and fanotify (select, poll, epoll, eventfd, timerfd and signalfd are)";
const MEMORY: &str =
    "NUMA policy, protection keys and other memory controls are not emulated (memory locking is: EPERM, as RLIMIT_MEMLOCK is 0)";
const ASYNC_IO: &str =
    "asynchronous I/O interfaces are not emulated (programs fall back to read/write)";
const OTHER_PROCESSES: &str = "reaches into another process's memory or execution: not emulated (the sandbox's processes share only what fork and their descriptors share)";
const HOST_ADMIN: &str = "administers the host (mounts, modules, clocks, namespaces, keys, tracing): never granted to a sandboxed program";
const SELF_CONFINEMENT: &str = "the program's own confinement (seccomp, Landlock, LSM, capabilities) is the runner's, not emulated inside";
const REMOVED: &str = "removed from Linux, never implemented, or 32-bit only";

/// Every x86-64 syscall, in number order.
#[rustfmt::skip]
pub static TABLE: &[Entry] = &[
    emulated!("read", io::read,
        "stdin, files, sockets, pipes; read straight into guest memory through the tunnel (a pipe from its runner buffer)"),
    emulated!("write", io::write,
        "stdout/stderr, files, sockets, pipes; written from guest memory without a copy, within bytes_written (pipes stay in the runner, uncounted); no reader: SIGPIPE"),
    emulated!("open", fs::open,
        "open(AT_FDCWD, ...): see openat"),
    emulated!("close", fdctl::close,
        "drops the guest fd; the host fd (or pipe end) closes with its last duplicate"),
    emulated!("stat", fs::stat,
        "stat of a policy path (host fstat through an O_PATH fd opened beneath the rule), or of a synthesized ancestor directory"),
    emulated!("fstat", fs::fstat,
        "files: host fstat as is, owned by the guest (its [identity], default 1000) under read-write rules; standard streams and pipes: type, size and device of the stream, identity replaced (owned by the guest, no host inode); /dev/null for a disconnected stream"),
    emulated!("lstat", fs::lstat,
        "stat without following a final symlink (O_PATH|O_NOFOLLOW beneath the rule)"),
    emulated!("poll", poll::poll,
        "readiness of the guest's descriptors: pipes, eventfds and /dev/null answered in the runner, stdio, files and sockets by a host poll that does not wait; waits without the kernel lock (host descriptors re-checked every 5 ms), EINTR on a signal, cut at the wall-clock limit"),
    emulated!("lseek", io::lseek,
        "host lseek on files, stdio and directories (rewinds the listing); ESPIPE on sockets and pipes"),
    emulated!("mmap", memory::mmap,
        "anonymous memory, counted against the memory limit (private PROT_NONE reserves address space only); MAP_SHARED stays shared with forked children; files: MAP_PRIVATE the bytes copied in at mmap, MAP_SHARED the file's shared pages (one frame per file page in the sandbox, coherent with read and write), PROT_EXEC only from -exec rules (EPERM); MAP_SHARED through a writable descriptor written back (written pages) at msync, munmap, exec and exit"),
    emulated!("mprotect", memory::mprotect,
        "page protections of the guest's own mappings; PROT_WRITE of a shared file mapping made through a read-only descriptor is EACCES"),
    emulated!("munmap", memory::munmap,
        "frees guest pages back to the limit"),
    emulated!("brk", memory::brk,
        "heap after the image, counted against the memory limit"),
    emulated!("rt_sigaction", signals::rt_sigaction,
        "dispositions shared by the threads; handlers run with a Linux rt_sigframe (SA_SIGINFO, SA_ONSTACK, SA_NODEFER, SA_RESETHAND, SA_RESTART; SA_RESTORER required)"),
    emulated!("rt_sigprocmask", signals::rt_sigprocmask,
        "the calling thread's mask; a pending signal is delivered once unblocked"),
    emulated!("rt_sigreturn", signals::rt_sigreturn,
        "restores the frame a handler got: registers, mask, the XSAVE area (AVX, AVX-512) or FXSAVE state as Linux loads it; RIP must be a user address, RFLAGS keeps only user bits, CS/SS stay the user selectors; a bad frame or an FPU state XRSTOR would fault on is SIGSEGV"),
    emulated!("ioctl", fdctl::ioctl,
        "FIOCLEX/FIONCLEX on the guest table, FIONBIO (F_SETFL's O_NONBLOCK), FIONREAD on a pipe; with policy stdio.terminal, a standard stream that is a terminal takes TCGETS/TCSETS*/TIOCGWINSZ/TIOCSWINSZ/TCFLSH/TCXONC/FIONREAD on the host terminal and TIOCGPGRP/TIOCSPGRP/TIOCGSID from the sandbox's job control; everything else ENOTTY (no terminal without the policy, and no other request reaches a host fd)"),
    emulated!("pread64", io::pread64,
        "positional read of a file straight into guest memory"),
    emulated!("pwrite64", io::pwrite64,
        "positional write to a read-write file, counted against bytes_written"),
    emulated!("readv", io::readv,
        "every iovec checked writable, then one host readv into guest memory (or one pipe read)"),
    emulated!("writev", io::writev,
        "any writable fd; all iovecs checked before one vectored host write (or one pipe write); no reader: SIGPIPE"),
    emulated!("access", fs::access,
        "answers for the policy: W_OK needs a read-write rule"),
    emulated!("pipe", pipe::pipe,
        "a pipe inside the process, buffered in the runner (64 KiB); both ends are guest descriptors (within open_files)"),
    emulated!("select", select::select,
        "as poll over the three bitmaps (EBADF for a closed descriptor); the time left is written back"),
    emulated!("sched_yield", resources::sched_yield,
        "yields the calling thread's host thread"),
    emulated!("mremap", remap::mremap,
        "shrink, grow in place or move anonymous memory (pages move, nothing is copied)"),
    emulated!("msync", memory::msync,
        "checked (EINVAL, ENOMEM on an unmapped range); the written pages of shared file mappings in the range written to their files"),
    emulated!("mincore", memlock::mincore,
        "which pages of a mapped range are in memory: those used since they were mapped (the page tables' accessed and dirty bits), as for anonymous memory (a file's untouched pages: 0, where Linux says whether the host caches them); ENOMEM for a range not wholly mapped"),
    emulated!("madvise", remap::madvise,
        "MADV_DONTNEED zeroes pages; other advice accepted without effect"),
    emulated!("shmget", sysv_shm::shmget,
        "shared memory segments private to the sandbox (keys never reach the host's), each a host memfd the runner holds, at most 32, none larger than limits.memory; IPC_PRIVATE, IPC_CREAT, IPC_EXCL, permissions as Linux"),
    emulated!("shmat", sysv_shm::shmat,
        "maps the segment MAP_SHARED (one set of frames for every process and a fork's child); SHM_RDONLY (mprotect cannot make it writable), SHM_RND, SHM_REMAP; SHM_EXEC EACCES without the segment's x bits, else EPERM (no rule makes shared memory code); a range in use EINVAL; a removed segment still attaches by id, as on Linux"),
    emulated!("shmctl", sysv_shm::shmctl,
        "IPC_STAT (shm_nattch counts every process's attachments), SHM_STAT(_ANY), IPC_SET, IPC_RMID (the key goes at once, the segment with its last attachment), IPC_INFO, SHM_INFO; SHM_LOCK/SHM_UNLOCK EPERM (RLIMIT_MEMLOCK is 0)"),
    emulated!("dup", fdctl::dup,
        "shares the open file description (offset, status flags, pipe end) in the guest table"),
    emulated!("dup2", fdctl::dup2,
        "guest table only; the target must be below open_files"),
    emulated!("pause", sleep::pause,
        "waits until a handler runs (EINTR) or the wall-clock limit ends the run (137)"),
    emulated!("nanosleep", sleep::nanosleep,
        "waits without the kernel lock; EINTR when a handler runs (remaining time not written); cut at the wall-clock limit (then 137)"),
    emulated!("getitimer", alarm::getitimer,
        "ITIMER_REAL; the CPU-time timers EINVAL"),
    emulated!("alarm", alarm::alarm,
        "SIGALRM after the seconds given (the handler, or status 142)"),
    emulated!("setitimer", alarm::setitimer,
        "ITIMER_REAL, one-shot or periodic: SIGALRM; the CPU-time timers EINVAL"),
    emulated!("getpid", process::getpid,
        "a fixed pid: the guest is alone in its VM"),
    emulated!("sendfile", copy::sendfile,
        "between the guest's descriptors through a runner buffer, or by the host kernel from a file into a file or /dev/null, within bytes_written; from a pipe or socket, or into a pipe, EINVAL (callers fall back to read/write)"),
    emulated!("socket", net::socket,
        "AF_INET/AF_INET6 TCP/UDP, only when a [[network]] rule names the protocol; AF_UNIX SOCK_STREAM/SOCK_DGRAM/SOCK_SEQPACKET always, on a host socketpair, with names private to the sandbox"),
    emulated!("connect", net::connect,
        "only to a peer listed in [[network]] (EACCES otherwise, before any packet leaves); AF_UNIX: only to the sandbox's own names (a host socket, abstract or file, is never reached: ECONNREFUSED), ENOENT for a missing path, EAGAIN on a full backlog when nonblocking"),
    emulated!("accept", net_server::accept,
        "the next connection of a socket listening on a [[network]] listen rule's address, as a new socket; the peer's address written back; AF_UNIX: the connection a sandbox process queued with connect"),
    emulated!("sendto", net::sendto,
        "send on a socket (also send()); UDP destinations must be listed; AF_UNIX datagrams to the sandbox's own names; the host call always has MSG_NOSIGNAL, a broken connection raises the guest's SIGPIPE unless it passed MSG_NOSIGNAL"),
    emulated!("recvfrom", net::recvfrom,
        "receive (also recv()); datagrams from unlisted peers are dropped; AF_UNIX: the sender's name, descriptors passed with the bytes closed"),
    emulated!("sendmsg", net_messages::sendmsg,
        "a msghdr's address and buffers, as sendto (the same policy); on AF_UNIX sockets SCM_RIGHTS passes the sender's descriptors (at most 253, ETOOMANYREFS past RLIMIT_NOFILE in flight) and SCM_CREDENTIALS is checked; on internet sockets control messages EINVAL, reported once"),
    emulated!("recvmsg", net_messages::recvmsg,
        "a msghdr's buffers and the sender's address, as recvfrom; AF_UNIX: SCM_RIGHTS descriptors passed with the bytes received (MSG_CMSG_CLOEXEC; MSG_CTRUNC and the rest closed when they do not fit); MSG_TRUNC for a longer datagram"),
    emulated!("shutdown", net::shutdown,
        "host shutdown of the guest's own socket"),
    emulated!("bind", net_server::bind,
        "TCP sockets to an address a [[network]] listen rule names (EACCES otherwise, before the host is asked); AF_UNIX: an abstract name or a path in a read-write tree, private to the sandbox (no host node; unlink frees it), autobind with the family alone"),
    emulated!("listen", net_server::listen,
        "on a socket bound to a listen rule's address (EACCES for an unbound one: no rule names an ephemeral port); backlog at most 4096; EOPNOTSUPP on UDP; AF_UNIX: a bound stream or seqpacket socket (EINVAL unbound)"),
    emulated!("getsockname", net::getsockname,
        "the host socket's local address; AF_UNIX: the bound name with Linux's length; ENOTSOCK for any other descriptor"),
    emulated!("getpeername", net::getpeername,
        "the host socket's peer; AF_UNIX: the peer's name (ENOTCONN without one); ENOTSOCK for any other descriptor (shells ask it of stdin)"),
    emulated!("socketpair", socketpair::socketpair,
        "AF_UNIX SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET: a host socketpair that reaches nothing but its other end (no names); SCM_RIGHTS as on named sockets"),
    emulated!("setsockopt", net_options::setsockopt,
        "SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE, SO_SNDBUF, SO_RCVBUF (at most 32 KiB on a socketpair end), SO_LINGER, SO_RCVTIMEO, SO_SNDTIMEO, TCP_NODELAY, TCP_KEEPIDLE/KEEPINTVL/KEEPCNT, IPV6_V6ONLY on the host socket; others ENOPROTOOPT, reported once"),
    emulated!("getsockopt", net::getsockopt,
        "SOL_SOCKET SO_ERROR/SO_TYPE/SO_PROTOCOL/SO_DOMAIN/SO_SNDBUF/SO_RCVBUF only, and SO_PEERCRED on AF_UNIX sockets"),
    emulated!("clone", thread::clone,
        "threads (CLONE_VM|FS|FILES|SIGHAND|THREAD, with SYSVSEM, SETTLS, PARENT_SETTID, CHILD_SETTID, CHILD_CLEARTID): a vCPU on its own host thread, up to limits.threads; child processes (no CLONE_VM, or CLONE_VM|CLONE_VFORK) as fork; other flag sets refused, reported"),
    emulated!("fork", thread::fork,
        "a child process with a copy-on-write copy of the memory, the descriptors shared as on Linux; up to limits.processes (EAGAIN beyond); not with the in-VM monitor"),
    emulated!("vfork", thread::vfork,
        "a child process; the parent waits until it execs or ends, lending it its address space when single-threaded (else the child gets a copy-on-write copy)"),
    emulated!("execve", exec::execve,
        "static and dynamically linked ELF programs and #! scripts from [[files]] rules with -exec access (EACCES otherwise), the interpreter under the same rules (its lookup's error, reported, when it cannot run); close-on-exec descriptors closed, handled signals reset; single-threaded callers only"),
    emulated!("exit", thread::exit,
        "ends the calling thread (clear_child_tid cleared and woken, robust futexes released); the process ends with its last thread, with the first thread's status"),
    emulated!("wait4", wait::wait4,
        "exited and killed children, by pid, group or any, WNOHANG; stopped (WUNTRACED) and continued (WCONTINUED) ones once each; rusage zero"),
    emulated!("kill", signals::kill,
        "any process of the sandbox, a process group, or -1 (all but the caller); pid 1 (outside) EPERM, others ESRCH; the process's handler runs, or the default action"),
    emulated!("uname", process::uname,
        "fixed identity; no host details leak"),
    emulated!("semget", sysv_sem::semget,
        "semaphore sets private to the sandbox (keys never reach the host's), at most 32 sets of 256; IPC_PRIVATE, IPC_CREAT, IPC_EXCL, permissions as Linux"),
    emulated!("semop", sysv_sem::semop,
        "all operations at once or none; waits unless IPC_NOWAIT; SEM_UNDO applied when the process ends; EIDRM when the set is removed while it waits"),
    emulated!("semctl", sysv_sem::semctl,
        "GETVAL, SETVAL, GETALL, SETALL, GETPID, IPC_STAT, SEM_STAT(_ANY), IPC_SET, IPC_RMID, IPC_INFO, SEM_INFO; GETNCNT and GETZCNT EINVAL, reported"),
    emulated!("shmdt", sysv_shm::shmdt,
        "the attachment at exactly that address (EINVAL otherwise); munmap of it detaches too, as do execve and exit"),
    emulated!("msgget", sysv_msg::msgget,
        "message queues private to the sandbox (keys never reach the host's), at most 16 of MSGMNB (16 KiB) each; IPC_PRIVATE, IPC_CREAT, IPC_EXCL, permissions as Linux"),
    emulated!("msgsnd", sysv_msg::msgsnd,
        "messages up to MSGMAX (8 KiB); a full queue waits unless IPC_NOWAIT (EAGAIN)"),
    emulated!("msgrcv", sysv_msg::msgrcv,
        "by type (0, N, -N, MSG_EXCEPT), MSG_NOERROR, E2BIG; waits unless IPC_NOWAIT (ENOMSG); EIDRM when the queue is removed while it waits; MSG_COPY EINVAL, reported"),
    emulated!("msgctl", sysv_msg::msgctl,
        "IPC_STAT, MSG_STAT(_ANY), IPC_SET (msg_qbytes up to MSGMNB), IPC_RMID, IPC_INFO, MSG_INFO"),
    emulated!("fcntl", fdctl::fcntl,
        "F_DUPFD(_CLOEXEC), F_GETFD/F_SETFD on the guest table; F_GETFL/F_SETFL (O_APPEND, O_NONBLOCK; a pipe's O_NONBLOCK in the runner); F_GETPIPE_SZ/F_SETPIPE_SZ (64 KiB); F_GETLK/F_SETLK/F_SETLKW record locks between the sandbox's processes, kept by the runner (no deadlock detection); OFD locks, leases, owners, seals EINVAL"),
    emulated!("flock", flock::flock,
        "whole-file shared/exclusive locks between the sandbox's open file descriptions, kept by the runner (host processes never see them); blocking waits for an unlock or close, LOCK_NB is EWOULDBLOCK; pipes and other non-files EINVAL"),
    emulated!("fsync", fs::fsync,
        "host fsync of a file or directory"),
    emulated!("fdatasync", fs::fdatasync,
        "host fdatasync of a file or directory"),
    emulated!("truncate", fs::truncate,
        "inside read-write rules only"),
    emulated!("ftruncate", fs::ftruncate,
        "files opened for writing (inside read-write rules) only"),
    emulated!("getdents", fs::getdents,
        "the original getdents: getdents64's listing as struct linux_dirent records (the type in each record's last byte)"),
    emulated!("getcwd", fs::getcwd,
        "the guest cwd, a guest path: no host path leaks"),
    emulated!("chdir", fs::chdir,
        "to a directory the policy shows; kept as a normalized guest path"),
    emulated!("fchdir", fs::fchdir,
        "to the guest path of a directory fd"),
    emulated!("rename", fs::rename,
        "see renameat2"),
    emulated!("mkdir", fs::mkdir,
        "see mkdirat"),
    emulated!("rmdir", fs::rmdir,
        "see unlinkat"),
    emulated!("creat", fs::creat,
        "open(O_CREAT|O_WRONLY|O_TRUNC)"),
    emulated!("link", fs::link,
        "see linkat"),
    emulated!("unlink", fs::unlink,
        "see unlinkat"),
    emulated!("symlink", fs::symlink,
        "see symlinkat"),
    emulated!("readlink", fs::readlink,
        "see readlinkat"),
    emulated!("chmod", fs::chmod,
        "permission bits of a file or directory under a read-write rule (EACCES elsewhere); set-ID and sticky bits dropped; opened beneath the rule and changed with fchmod"),
    emulated!("fchmod", fs::fchmod,
        "a file or directory the guest opened under a read-write rule; set-ID and sticky bits dropped"),
    emulated!("chown", fs::chown,
        "as for an unprivileged user: no change, or to the guest's own ids on what it owns (read-write trees), succeeds; any other EPERM; the host file is not touched"),
    emulated!("fchown", fs::fchown,
        "as chown, on a descriptor (pipes and sockets are the guest's)"),
    emulated!("lchown", fs::lchown,
        "as chown, a final symlink not followed"),
    emulated!("umask", fs::umask,
        "the process's own mask (022 at the start, inherited), taken off the modes of files and directories it creates"),
    emulated!("gettimeofday", clocks::gettimeofday,
        "host realtime clock; timezone UTC (through a C library: the vDSO answers without an exit)"),
    emulated!("getrlimit", resources::getrlimit,
        "the policy's limits (memory, descriptors, stack, CPU)"),
    emulated!("getrusage", resources::getrusage,
        "the runner's CPU time and peak guest memory; no children"),
    emulated!("sysinfo", resources::sysinfo,
        "the guest's own view: RAM = memory limit, uptime since the run began, one process"),
    emulated!("times", scheduling::times,
        "the process's CPU time as user time (as getrusage), children 0, in ticks of 1/100 s; returns monotonic ticks"),
    unsupported("ptrace", OTHER_PROCESSES),
    emulated!("getuid", identity::get_uid,
        "the policy's [identity] (default 1000; matches AT_UID)"),
    unsupported("syslog", HOST_ADMIN),
    emulated!("getgid", identity::get_gid,
        "the policy's [identity] (default 1000; matches AT_GID)"),
    emulated!("setuid", identity::set_uid,
        "only to the current id (unprivileged); else EPERM"),
    emulated!("setgid", identity::set_gid,
        "only to the current id (unprivileged); else EPERM"),
    emulated!("geteuid", identity::get_uid,
        "the policy's [identity] (default 1000; matches AT_EUID)"),
    emulated!("getegid", identity::get_gid,
        "the policy's [identity] (default 1000; matches AT_EGID)"),
    emulated!("setpgid", identity::setpgid,
        "Linux's rules within the sandbox (the caller or a child that has not execed, in its session)"),
    emulated!("getppid", identity::getppid,
        "the parent process; 1 (outside the sandbox) for the first program; orphans belong to the first program"),
    emulated!("getpgrp", identity::getpgrp,
        "the caller's process group (the first program leads group 2)"),
    emulated!("setsid", identity::setsid,
        "a new session unless the caller leads a group (EPERM)"),
    emulated!("setreuid", identity::setreuid,
        "only to the current ids"),
    emulated!("setregid", identity::setregid,
        "only to the current ids"),
    emulated!("getgroups", identity::getgroups,
        "the policy's identity.groups (none by default)"),
    emulated!("setgroups", identity::setgroups,
        "only to the groups the guest has; others EPERM"),
    emulated!("setresuid", identity::setresuid,
        "only to the current ids"),
    emulated!("getresuid", identity::getresuid,
        "the policy's [identity] (default 1000), the same for all three"),
    emulated!("setresgid", identity::setresgid,
        "only to the current ids"),
    emulated!("getresgid", identity::getresgid,
        "the policy's [identity] (default 1000), the same for all three"),
    emulated!("getpgid", identity::getpgid,
        "the group of any process of the sandbox (ESRCH outside)"),
    unsupported("setfsuid", HOST_ADMIN),
    unsupported("setfsgid", HOST_ADMIN),
    emulated!("getsid", identity::getsid,
        "the session of any process of the sandbox (ESRCH outside)"),
    emulated!("capget", capabilities::capget,
        "the capability sets of an unprivileged process: all empty, for any process of the sandbox; header versions 1 to 3 (another: v3 written back, EINVAL)"),
    emulated!("capset", capabilities::capset,
        "only the caller's, only to the empty sets it has (any capability: EPERM)"),
    emulated!("rt_sigpending", signals::rt_sigpending,
        "the signals pending for the calling thread or the process that its mask blocks"),
    emulated!("rt_sigtimedwait", sigwait::rt_sigtimedwait,
        "takes a pending signal of the set (the thread's or the process's) with its siginfo, or waits for one (EAGAIN at the timeout; EINTR for another signal with a handler)"),
    emulated!("rt_sigqueueinfo", signals::rt_sigqueueinfo,
        "sigqueue: the program's si_code, si_pid, si_uid and si_value to a process of the sandbox (EPERM for si_code >= 0 or SI_TKILL to another, as Linux); real-time signals queue (at most 4096, EAGAIN)"),
    emulated!("rt_sigsuspend", signals::rt_sigsuspend,
        "waits with the given mask until a handler runs, then EINTR; the handler returns to the old mask"),
    emulated!("sigaltstack", signals::sigaltstack,
        "the calling thread's alternate stack (SA_ONSTACK, SS_AUTODISARM)"),
    emulated!("utime", fs::utime,
        "as utimensat (whole seconds; NULL: now), inside read-write rules only"),
    emulated!("mknod", fs::mknod,
        "a regular file or a named pipe (FIFO) inside read-write rules, counted in created_entries; the pipe's bytes flow through the runner, between the sandbox's processes only (O_RDWR opens: EINVAL, reported); device nodes EPERM (no CAP_MKNOD); socket files EPERM, reported"),
    unsupported("uselib", REMOVED),
    emulated!("personality", identity::personality,
        "PER_LINUX with or without ADDR_NO_RANDOMIZE (the layout is never randomised), kept over fork and execve; any other domain or flag is EINVAL, reported (not emulated)"),
    unsupported("ustat", REMOVED),
    emulated!("statfs", fs::statfs,
        "a host object's file system as the host's fstatfs shows it (f_fsid 0); a synthesized directory: an empty read-only tmpfs"),
    emulated!("fstatfs", fs::fstatfs,
        "files and directories: the host's fstatfs (f_fsid 0); streams, pipes and the runner's objects: an empty read-only pipefs"),
    unsupported("sysfs", REMOVED),
    emulated!("getpriority", scheduling::getpriority,
        "the calling process's nice value (20 - nice); another process: ESRCH"),
    emulated!("setpriority", scheduling::setpriority,
        "the calling process's nice value, only raised (lowering: EACCES, as without CAP_SYS_NICE); kept, inherited at fork; the host schedules the vCPUs"),
    emulated!("sched_setparam", scheduling::sched_setparam,
        "priority 0 only (the policies an unprivileged process can have)"),
    emulated!("sched_getparam", scheduling::sched_getparam,
        "priority 0"),
    emulated!("sched_setscheduler", scheduling::sched_setscheduler,
        "SCHED_OTHER, SCHED_BATCH, SCHED_IDLE (and SCHED_RESET_ON_FORK) kept and read back; the real-time policies EPERM, as without CAP_SYS_NICE"),
    emulated!("sched_getscheduler", scheduling::sched_getscheduler,
        "the policy the process set (SCHED_OTHER at first)"),
    emulated!("sched_get_priority_max", scheduling::sched_get_priority_max,
        "Linux's: 99 for SCHED_FIFO and SCHED_RR, 0 for the others"),
    emulated!("sched_get_priority_min", scheduling::sched_get_priority_min,
        "Linux's: 1 for SCHED_FIFO and SCHED_RR, 0 for the others"),
    emulated!("sched_rr_get_interval", sched_attr::sched_rr_get_interval,
        "the caller's (no policy here is round-robin): the fair class's slice for a lone task, 6 ms x (1 + log2 of the CPUs, at most 8)"),
    emulated!("mlock", memlock::mlock,
        "as for an unprivileged process whose RLIMIT_MEMLOCK is 0 (the sandbox's): EPERM"),
    emulated!("munlock", memlock::munlock,
        "nothing is locked: 0 for a mapped range (ENOMEM otherwise)"),
    emulated!("mlockall", memlock::mlockall,
        "as mlock: EPERM after the flags' check (EINVAL)"),
    emulated!("munlockall", memlock::munlockall,
        "nothing is locked: 0"),
    unsupported("vhangup", HOST_ADMIN),
    unsupported("modify_ldt", HOST_ADMIN),
    unsupported("pivot_root", HOST_ADMIN),
    unsupported("_sysctl", REMOVED),
    emulated!("prctl", identity::prctl,
        "process name, dumpable, the parent-death signal, no_new_privs (always on); others EINVAL"),
    emulated!("arch_prctl", process::arch_prctl,
        "FS/GS base for TLS, through the vCPU cache"),
    unsupported("adjtimex", HOST_ADMIN),
    emulated!("setrlimit", resources::setrlimit,
        "limits may be lowered, never raised"),
    unsupported("chroot", HOST_ADMIN),
    emulated!("sync", fs::sync,
        "host syncfs of each read-write tree's file system, not the whole host's"),
    unsupported("acct", HOST_ADMIN),
    unsupported("settimeofday", HOST_ADMIN),
    unsupported("mount", HOST_ADMIN),
    unsupported("umount2", HOST_ADMIN),
    unsupported("swapon", HOST_ADMIN),
    unsupported("swapoff", HOST_ADMIN),
    unsupported("reboot", HOST_ADMIN),
    unsupported("sethostname", HOST_ADMIN),
    unsupported("setdomainname", HOST_ADMIN),
    unsupported("iopl", HOST_ADMIN),
    unsupported("ioperm", HOST_ADMIN),
    unsupported("create_module", REMOVED),
    unsupported("init_module", HOST_ADMIN),
    unsupported("delete_module", HOST_ADMIN),
    unsupported("get_kernel_syms", REMOVED),
    unsupported("query_module", REMOVED),
    unsupported("quotactl", HOST_ADMIN),
    unsupported("nfsservctl", REMOVED),
    unsupported("getpmsg", REMOVED),
    unsupported("putpmsg", REMOVED),
    unsupported("afs_syscall", REMOVED),
    unsupported("tuxcall", REMOVED),
    unsupported("security", REMOVED),
    emulated!("gettid", process::gettid,
        "the calling thread's tid (the first thread's is the pid)"),
    emulated!("readahead", io::readahead,
        "checked as Linux (EBADF unless open for reading, EINVAL for what is not a file), then left to the host's own readahead"),
    refused_quietly("setxattr", Errno::OPNOTSUPP, XATTRS),
    refused_quietly("lsetxattr", Errno::OPNOTSUPP, XATTRS),
    refused_quietly("fsetxattr", Errno::OPNOTSUPP, XATTRS),
    refused_quietly("getxattr", Errno::OPNOTSUPP, XATTRS),
    refused_quietly("lgetxattr", Errno::OPNOTSUPP, XATTRS),
    refused_quietly("fgetxattr", Errno::OPNOTSUPP, XATTRS),
    refused_quietly("listxattr", Errno::OPNOTSUPP, XATTRS),
    refused_quietly("llistxattr", Errno::OPNOTSUPP, XATTRS),
    refused_quietly("flistxattr", Errno::OPNOTSUPP, XATTRS),
    refused_quietly("removexattr", Errno::OPNOTSUPP, XATTRS),
    refused_quietly("lremovexattr", Errno::OPNOTSUPP, XATTRS),
    refused_quietly("fremovexattr", Errno::OPNOTSUPP, XATTRS),
    emulated!("tkill", signals::tkill,
        "any thread of the process: another thread is kicked out of the guest or its wait to take it"),
    emulated!("time", clocks::time,
        "host realtime clock (through a C library: the vDSO)"),
    emulated!("futex", futex::futex,
        "WAIT, WAKE, WAIT_BITSET, WAKE_BITSET, REQUEUE, CMP_REQUEUE, WAKE_OP, private or shared, CLOCK_REALTIME, relative and absolute timeouts; keyed by process and virtual address (fork's copy-on-write moves frames), by frame for shared operations in MAP_SHARED memory; PI operations ENOSYS"),
    emulated!("sched_setaffinity", resources::sched_setaffinity,
        "any set holding one of the sandbox's CPUs (threads are not pinned)"),
    emulated!("sched_getaffinity", resources::sched_getaffinity,
        "CPUs 0.. as many as the host gives the runner, at most limits.threads"),
    unsupported("set_thread_area", REMOVED),
    unsupported("io_setup", ASYNC_IO),
    unsupported("io_destroy", ASYNC_IO),
    unsupported("io_getevents", ASYNC_IO),
    unsupported("io_submit", ASYNC_IO),
    unsupported("io_cancel", ASYNC_IO),
    unsupported("get_thread_area", REMOVED),
    unsupported("lookup_dcookie", REMOVED),
    emulated!("epoll_create", epoll::epoll_create,
        "as epoll_create1(0) (size must be positive)"),
    unsupported("epoll_ctl_old", REMOVED),
    unsupported("epoll_wait_old", REMOVED),
    unsupported("remap_file_pages", MEMORY),
    emulated!("getdents64", fs::getdents64,
        "host directory entries, then synthesized ones for rule paths below; synthesized directories list their children"),
    emulated!("set_tid_address", process::set_tid_address,
        "clear_child_tid: zeroed and woken when the thread exits; returns the tid"),
    emulated!("restart_syscall", signals::restart_syscall,
        "EINTR, Linux's answer with no restart pending: the runner resumes interrupted calls itself and never leaves one to restart"),
    emulated!("semtimedop", sysv_sem::semtimedop,
        "semop with a timeout: EAGAIN when it passes"),
    emulated!("fadvise64", io::fadvise64,
        "advice only: checked (EBADF, ESPIPE on a pipe or stream, EINVAL on an unknown advice) and otherwise ignored, as Linux may"),
    emulated!("timer_create", posix_timers::timer_create,
        "CLOCK_REALTIME, MONOTONIC, BOOTTIME (the _ALARM clocks: EPERM; CPU-time clocks: EINVAL); SIGEV_SIGNAL, SIGEV_THREAD_ID, SIGEV_NONE; at most 1024 per process (EAGAIN)"),
    emulated!("timer_settime", posix_timers::timer_settime,
        "relative or TIMER_ABSTIME, one-shot or periodic; a due timer's signal carries SI_TIMER, its id, overrun and value; a REALTIME deadline does not follow later changes of the host's clock"),
    emulated!("timer_gettime", posix_timers::timer_gettime,
        "time left and interval"),
    emulated!("timer_getoverrun", posix_timers::timer_getoverrun,
        "expirations missed by the last signal"),
    emulated!("timer_delete", posix_timers::timer_delete,
        "the timer's pending signal stays pending"),
    unsupported("clock_settime", HOST_ADMIN),
    emulated!("clock_gettime", time::clock_gettime,
        "host clocks (realtime, monotonic, boottime, cpu); through a C library the vDSO answers all but the CPU-time clocks without an exit"),
    emulated!("clock_getres", clocks::clock_getres,
        "nanosecond clocks (coarse ones 4 ms)"),
    emulated!("clock_nanosleep", sleep::clock_nanosleep,
        "relative or absolute host sleep, cut at the wall-clock limit (then 137)"),
    emulated!("exit_group", process::exit,
        "ends the process: every thread stops"),
    emulated!("epoll_wait", epoll::epoll_wait,
        "level- and edge-triggered, EPOLLONESHOT; pipes, eventfds and sockets; waits with no kernel lock held, cut at the wall-clock limit"),
    emulated!("epoll_ctl", epoll::epoll_ctl,
        "ADD, MOD, DEL; an interest ends when its description closes; regular files and directories EPERM (as Linux); an epoll descriptor inside another EINVAL"),
    emulated!("tgkill", signals::tgkill,
        "any thread of the process (see tkill); no other process"),
    emulated!("utimes", fs::utimes,
        "as utimensat (timevals; NULL: now), inside read-write rules only"),
    unsupported("vserver", REMOVED),
    unsupported("mbind", MEMORY),
    unsupported("set_mempolicy", MEMORY),
    unsupported("get_mempolicy", MEMORY),
    unsupported("mq_open", MQUEUE),
    unsupported("mq_unlink", MQUEUE),
    unsupported("mq_timedsend", MQUEUE),
    unsupported("mq_timedreceive", MQUEUE),
    unsupported("mq_notify", MQUEUE),
    unsupported("mq_getsetattr", MQUEUE),
    unsupported("kexec_load", HOST_ADMIN),
    emulated!("waitid", wait::waitid,
        "P_ALL, P_PID, P_PGID, P_PIDFD (EAGAIN on a nonblocking pidfd) with WEXITED, WSTOPPED, WCONTINUED, WNOHANG, WNOWAIT; rusage zero"),
    unsupported("add_key", HOST_ADMIN),
    unsupported("request_key", HOST_ADMIN),
    unsupported("keyctl", HOST_ADMIN),
    emulated!("ioprio_set", ioprio::ioprio_set,
        "the caller's I/O class and level, kept (the host schedules the I/O): best effort 0-7, idle, none; real time needs CAP_SYS_NICE (EPERM); inherited at fork"),
    emulated!("ioprio_get", ioprio::ioprio_get,
        "the caller's priority as set (0, class none, until then); for its group or user an unset one counts as best effort 4, as Linux's ioprio_best"),
    unsupported("inotify_init", EVENTS),
    unsupported("inotify_add_watch", EVENTS),
    unsupported("inotify_rm_watch", EVENTS),
    unsupported("migrate_pages", OTHER_PROCESSES),
    emulated!("openat", fs::openat,
        "policy-driven: openat2(rule root, rest, RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS) from fds opened before the run; links the host will not follow beneath a rule (absolute, leaving it) followed in the guest's namespace; /dev/null, /dev/zero, /dev/full, /dev/random, /dev/urandom answered by the runner where no rule shows them; a synthesized, read-only /proc (self, exe, fd, maps, status, cmdline, comm, mounts, cpuinfo, meminfo, stat); a new file takes one of limits.created_entries (EDQUOT when none is left)"),
    emulated!("mkdirat", fs::mkdirat,
        "inside read-write rules only; no set-id or sticky bits; takes one of limits.created_entries (EDQUOT when none is left)"),
    emulated!("mknodat", fs::mknodat,
        "a regular file or a named pipe (FIFO) inside read-write rules, counted in created_entries; the pipe's bytes flow through the runner, between the sandbox's processes only (O_RDWR opens: EINVAL, reported); device nodes EPERM (no CAP_MKNOD); socket files EPERM, reported"),
    emulated!("fchownat", fs::fchownat,
        "as chown relative to a directory descriptor; AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH"),
    emulated!("futimesat", fs::futimesat,
        "as utimes relative to a directory descriptor (a NULL path: the descriptor itself)"),
    emulated!("newfstatat", fs::newfstatat,
        "stat by path (AT_SYMLINK_NOFOLLOW); AT_EMPTY_PATH as fstat, for streams and pipes too"),
    emulated!("unlinkat", fs::unlinkat,
        "inside read-write rules only; rule paths and their ancestors are EBUSY"),
    emulated!("renameat", fs::renameat,
        "see renameat2"),
    emulated!("linkat", fs::linkat,
        "a hard link inside one read-write tree, to a file the guest may write (a read-only file: EPERM; across trees: EXDEV); counted in created_entries; AT_SYMLINK_FOLLOW by the guest's namespace"),
    emulated!("symlinkat", fs::symlinkat,
        "in a private tree ([[files]] private = true, removed at the run's end), any target: the runner follows links in the guest's namespace; elsewhere EPERM (a link left in a tree the host keeps could lead a host program anywhere)"),
    emulated!("readlinkat", fs::readlinkat,
        "the link's text (a /proc magic link's: EACCES)"),
    emulated!("fchmodat", fs::fchmodat,
        "as chmod, relative to a directory descriptor"),
    emulated!("faccessat", fs::faccessat,
        "see access"),
    emulated!("pselect6", select::pselect6,
        "as select with a timespec, and the signal mask for the length of the wait"),
    emulated!("ppoll", poll::ppoll,
        "as poll, with a timespec, and the signal mask for the length of the wait"),
    unsupported("unshare", HOST_ADMIN),
    emulated!("set_robust_list", thread::set_robust_list,
        "recorded; walked when the thread exits (owner-died futexes woken)"),
    emulated!("get_robust_list", thread::get_robust_list,
        "the calling thread's own (another's: EPERM)"),
    emulated!("splice", splice::splice,
        "between a pipe of the process and a file, standard stream or socket, or two pipes, moved by the runner (at most 64 KiB a call): reads and writes as read and sendfile, within bytes_written"),
    emulated!("tee", splice::tee,
        "between two pipes of the process: the bytes stay in the first"),
    emulated!("sync_file_range", fs::sync_file_range,
        "checked as Linux checks it; with SYNC_FILE_RANGE_WRITE the file's data is synced (host fdatasync: more than the range, never less)"),
    unsupported("vmsplice", FILE_META),
    unsupported("move_pages", OTHER_PROCESSES),
    emulated!("utimensat", fs::utimensat,
        "access and modification times (UTIME_NOW, UTIME_OMIT) of a file or directory under a read-write rule (EACCES elsewhere), a NULL path for the descriptor itself; AT_SYMLINK_NOFOLLOW EOPNOTSUPP"),
    emulated!("epoll_pwait", epoll::epoll_pwait,
        "as epoll_wait, with the signal mask for the length of the wait"),
    emulated!("signalfd", signalfd::signalfd,
        "as signalfd4 with no flags"),
    emulated!("timerfd_create", timerfd::timerfd_create,
        "CLOCK_REALTIME, MONOTONIC, BOOTTIME; TFD_NONBLOCK, TFD_CLOEXEC; a runner object: reads return the expirations, poll and epoll see it readable, a blocking read waits with no lock held"),
    emulated!("eventfd", eventfd::eventfd,
        "as eventfd2 with no flags"),
    emulated!("fallocate", fs::fallocate,
        "mode 0 and FALLOC_FL_KEEP_SIZE on a file opened for writing, the allocation counted whole against bytes_written; the modes that change the contents: EOPNOTSUPP"),
    emulated!("timerfd_settime", timerfd::timerfd_settime,
        "relative or TFD_TIMER_ABSTIME, one-shot or periodic; TFD_TIMER_CANCEL_ON_SET is accepted (the sandbox never sets the clock); unread expirations are dropped"),
    emulated!("timerfd_gettime", timerfd::timerfd_gettime,
        "time left and interval"),
    emulated!("accept4", net_server::accept4,
        "as accept (AF_UNIX too), with SOCK_NONBLOCK and SOCK_CLOEXEC"),
    emulated!("signalfd4", signalfd::signalfd4,
        "a runner object; reads take pending signals of its mask (the thread's or the process's) as signalfd_siginfo records; poll and epoll see it readable; fd -1 creates, a signalfd's fd gets the new mask"),
    emulated!("eventfd2", eventfd::eventfd2,
        "a counter in the runner: EFD_SEMAPHORE, EFD_NONBLOCK, EFD_CLOEXEC; blocking reads and writes wait with no kernel lock held"),
    emulated!("epoll_create1", epoll::epoll_create1,
        "an interest list in the runner (EPOLL_CLOEXEC)"),
    emulated!("dup3", fdctl::dup3,
        "dup2 with O_CLOEXEC"),
    emulated!("pipe2", pipe::pipe2,
        "pipe with O_NONBLOCK/O_CLOEXEC"),
    unsupported("inotify_init1", EVENTS),
    emulated!("preadv", io::preadv,
        "positional readv"),
    emulated!("pwritev", io::pwritev,
        "positional writev, counted against bytes_written"),
    emulated!("rt_tgsigqueueinfo", signals::rt_tgsigqueueinfo,
        "pthread_sigqueue: as rt_sigqueueinfo, to a thread of the calling process (ESRCH for another process's)"),
    unsupported("perf_event_open", HOST_ADMIN),
    emulated!("recvmmsg", net_messages::recvmmsg,
        "recvmsg message after message (at most 1024): only the first waits, the rest take what is there (without MSG_WAITFORONE too); the timeout is validated"),
    unsupported("fanotify_init", HOST_ADMIN),
    unsupported("fanotify_mark", HOST_ADMIN),
    emulated!("prlimit64", resources::prlimit64,
        "the policy's limits, for the process itself only"),
    unsupported("name_to_handle_at", HOST_ADMIN),
    unsupported("open_by_handle_at", HOST_ADMIN),
    unsupported("clock_adjtime", HOST_ADMIN),
    emulated!("syncfs", fs::syncfs,
        "host syncfs of a file's or directory's file system; 0 for the other descriptors"),
    emulated!("sendmmsg", net_messages::sendmmsg,
        "sendmsg message after message (at most 1024): only the first waits for room, the rest go while the socket has room; the count sent"),
    unsupported("setns", HOST_ADMIN),
    emulated!("getcpu", resources::getcpu,
        "the calling thread's vCPU, folded into the sandbox's CPUs; node 0"),
    unsupported("process_vm_readv", OTHER_PROCESSES),
    unsupported("process_vm_writev", OTHER_PROCESSES),
    unsupported("kcmp", OTHER_PROCESSES),
    unsupported("finit_module", HOST_ADMIN),
    emulated!("sched_setattr", sched_attr::sched_setattr,
        "as sched_setscheduler with the nice value, SCHED_FLAG_KEEP_*, RESET_ON_FORK and the utilization clamps, any struct size Linux takes (E2BIG past what it knows); what needs CAP_SYS_NICE: EPERM"),
    emulated!("sched_getattr", sched_attr::sched_getattr,
        "the caller's policy, reset-on-fork flag, nice value and clamps, in as much of struct sched_attr as the caller's size holds"),
    emulated!("renameat2", fs::renameat2,
        "both ends in the same read-write rule (EXDEV across rules); RENAME_NOREPLACE/EXCHANGE"),
    unsupported("seccomp", SELF_CONFINEMENT),
    emulated!("getrandom", time::getrandom,
        "host getrandom, copied through the tunnel"),
    emulated!("memfd_create", memfd::memfd_create,
        "a host memfd: read, write, ftruncate, fstat and mmap as a file (shared mappings are one memory); no sealing, no MFD_HUGETLB, never executable"),
    unsupported("kexec_file_load", HOST_ADMIN),
    unsupported("bpf", HOST_ADMIN),
    emulated!("execveat", exec::execveat,
        "as execve, the path relative to a directory descriptor; AT_EMPTY_PATH (fexecve) refused, reported"),
    unsupported("userfaultfd", MEMORY),
    unsupported("membarrier", MEMORY),
    emulated!("mlock2", memlock::mlock2,
        "as mlock; flags other than MLOCK_ONFAULT: EINVAL"),
    emulated!("copy_file_range", copy::copy_file_range,
        "between two files, by the host kernel, at most 8 MiB a call, within bytes_written; EXDEV (callers copy with read and write) where a sandboxed process maps either file shared"),
    emulated!("preadv2", io::preadv2,
        "preadv, or readv at position -1; RWF_HIPRI, RWF_NOWAIT (files only; elsewhere EOPNOTSUPP), RWF_DSYNC, RWF_SYNC, RWF_APPEND accepted, other flags EOPNOTSUPP"),
    emulated!("pwritev2", io::pwritev2,
        "pwritev, or writev at position -1, within bytes_written; RWF_APPEND writes at the end of a file, RWF_DSYNC/RWF_SYNC sync it before returning; other flags EOPNOTSUPP"),
    unsupported("pkey_mprotect", MEMORY),
    unsupported("pkey_alloc", MEMORY),
    unsupported("pkey_free", MEMORY),
    emulated!("statx", fs::statx,
        "the basic stats (no birth time, mount id)"),
    unsupported("io_pgetevents", ASYNC_IO),
    refused_quietly("rseq", Errno::NOSYS, "optional: glibc and musl work without it (no report, on purpose)"),
    emulated!("pidfd_send_signal", pidfd::pidfd_send_signal,
        "as kill to the process the pidfd names (ESRCH once it has ended); a siginfo of the program's own is EINVAL, reported"),
    unsupported("io_uring_setup", ASYNC_IO),
    unsupported("io_uring_enter", ASYNC_IO),
    unsupported("io_uring_register", ASYNC_IO),
    unsupported("open_tree", HOST_ADMIN),
    unsupported("move_mount", HOST_ADMIN),
    unsupported("fsopen", HOST_ADMIN),
    unsupported("fsconfig", HOST_ADMIN),
    unsupported("fsmount", HOST_ADMIN),
    unsupported("fspick", HOST_ADMIN),
    emulated!("pidfd_open", pidfd::pidfd_open,
        "a close-on-exec pidfd for a process of the sandbox (ESRCH for others), readable once it has ended; PIDFD_NONBLOCK"),
    emulated!("clone3", thread::clone3,
        "as clone: threads only (no set_tid, no cgroup)"),
    emulated!("close_range", fdctl::close_range,
        "closes, or marks close-on-exec (CLOSE_RANGE_CLOEXEC), the open descriptors of the range; CLOSE_RANGE_UNSHARE changes nothing (each process has its own table)"),
    unsupported("openat2", FILE_META),
    unsupported("pidfd_getfd", "takes a descriptor out of another process: that needs ptrace rights, which no sandboxed program has"),
    emulated!("faccessat2", fs::faccessat2,
        "see access; AT_SYMLINK_NOFOLLOW, AT_EACCESS"),
    unsupported("process_madvise", OTHER_PROCESSES),
    emulated!("epoll_pwait2", epoll::epoll_pwait2,
        "as epoll_pwait, with a timespec timeout"),
    unsupported("mount_setattr", HOST_ADMIN),
    unsupported("quotactl_fd", HOST_ADMIN),
    unsupported("landlock_create_ruleset", SELF_CONFINEMENT),
    unsupported("landlock_add_rule", SELF_CONFINEMENT),
    unsupported("landlock_restrict_self", SELF_CONFINEMENT),
    unsupported("memfd_secret", MEMORY),
    unsupported("process_mrelease", OTHER_PROCESSES),
    unsupported("futex_waitv", THREADS),
    unsupported("set_mempolicy_home_node", MEMORY),
    unsupported("cachestat", MEMORY),
    emulated!("fchmodat2", fs::fchmodat2,
        "as fchmodat; AT_EMPTY_PATH as fchmod; AT_SYMLINK_NOFOLLOW EOPNOTSUPP (as Linux for a link)"),
    unsupported("map_shadow_stack", MEMORY),
    emulated!("futex_wake", futex2::futex_wake,
        "futex2: FUTEX2_SIZE_U32 (the one size Linux implements), FUTEX2_PRIVATE, a 32-bit mask; waking 0 wakes none"),
    emulated!("futex_wait", futex2::futex_wait,
        "futex2: as FUTEX_WAIT_BITSET with an absolute timeout on CLOCK_MONOTONIC or CLOCK_REALTIME"),
    emulated!("futex_requeue", futex2::futex_requeue,
        "futex2: two struct futex_waitv; if the first word holds its val, wakes and moves waiters as FUTEX_CMP_REQUEUE (returns both counts)"),
    unsupported("statmount", HOST_ADMIN),
    unsupported("listmount", HOST_ADMIN),
    unsupported("lsm_get_self_attr", SELF_CONFINEMENT),
    unsupported("lsm_set_self_attr", SELF_CONFINEMENT),
    unsupported("lsm_list_modules", SELF_CONFINEMENT),
    unsupported("mseal", MEMORY),
];

/// `TABLE`'s index by syscall number (built once).
fn index() -> &'static [Option<u16>] {
    static INDEX: OnceLock<Vec<Option<u16>>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let numbers: Vec<Option<u32>> = TABLE
            .iter()
            .map(|e| sandbox_policy::syscall_number(e.name))
            .collect();
        let max = numbers.iter().flatten().max().copied().unwrap_or(0) as usize;
        let mut v = vec![None; max + 1];
        for (i, nr) in numbers.into_iter().enumerate() {
            if let Some(nr) = nr {
                v[nr as usize] = u16::try_from(i).ok();
            }
        }
        v
    })
}

/// The entry for syscall `nr`; None when `nr` is no x86-64 syscall.
pub fn lookup(nr: u64) -> Option<&'static Entry> {
    let i = (*index().get(usize::try_from(nr).ok()?)?)?;
    TABLE.get(usize::from(i))
}

/// The handler of `nr` when it is emulated.
pub fn handler(nr: u64) -> Option<Handler> {
    match lookup(nr)?.status {
        Status::Emulated { handler, .. } => Some(handler),
        _ => None,
    }
}

/// The numbers of the emulated and refused syscalls, in number order: the
/// fuzzer's favourites (the set the table held before it listed the
/// unsupported syscalls too).
pub fn implemented_numbers() -> &'static [u64] {
    static NUMBERS: OnceLock<Vec<u64>> = OnceLock::new();
    NUMBERS.get_or_init(|| {
        TABLE
            .iter()
            .filter(|e| !matches!(e.status, Status::Unsupported { .. }))
            .filter_map(|e| sandbox_policy::syscall_number(e.name))
            .map(u64::from)
            .collect()
    })
}

/// A syscall's name for reports: Linux's, else `nr_N`.
pub fn name_of(nr: u64) -> Cow<'static, str> {
    u32::try_from(nr)
        .ok()
        .and_then(sandbox_policy::syscall_name)
        .map_or_else(|| Cow::Owned(format!("nr_{nr}")), Cow::Borrowed)
}

/// An errno's conventional name (`ENOSYS`), else its number.
pub fn errno_name(e: Errno) -> Cow<'static, str> {
    sandbox_policy::errno_name(e.raw_os_error())
        .map_or_else(|| Cow::Owned(e.raw_os_error().to_string()), Cow::Borrowed)
}

/// The contract as the Markdown table in `docs/compatibility.md`.
pub fn doc_table() -> String {
    let mut out = String::from(
        "| nr | syscall | status | handler or errno | notes |\n| --- | --- | --- | --- | --- |\n",
    );
    for e in TABLE {
        let nr =
            sandbox_policy::syscall_number(e.name).map_or_else(|| "?".into(), |n| n.to_string());
        let (status, how, notes): (&str, Cow<'_, str>, &str) = match e.status {
            Status::Emulated { module, notes, .. } => ("emulated", Cow::Borrowed(module), notes),
            Status::Refused { errno, why, report } => (
                if report {
                    "refused"
                } else {
                    "refused, silently"
                },
                errno_name(errno),
                why,
            ),
            Status::Unsupported { why } => ("unsupported", Cow::Borrowed("ENOSYS"), why),
        };
        out.push_str(&format!(
            "| {nr} | `{}` | {status} | {how} | {} |\n",
            e.name,
            notes.replace('|', "\\|")
        ));
    }
    out
}

#[cfg(test)]
mod tests;

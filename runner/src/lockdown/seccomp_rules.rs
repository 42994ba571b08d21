//! The runner's seccomp allow-list, as data: every host syscall the runner
//! may make once it is locked down, with who needs it and why. Anything not
//! listed kills the whole runner (SECCOMP_RET_KILL_PROCESS, seen as SIGSYS).
//!
//! Rules marked `Files` are in the filter only when the policy lists
//! `[[files]]`, `NoFiles` ones only when it lists none, `Network` ones only
//! when it lists `[[network]]`, `Terminal` ones only when it sets
//! `stdio.terminal`. Argument
//! checks compare the register's low 32 bits unless they say otherwise (the
//! kernel reads those arguments as 32-bit `int`s). `docs/threat-model.md`
//! lists this table; a test keeps the two in step.

use libc as c;
use thinvisor_kmod::ioctl_numbers::{THREAD_START_IOCTLS, VCPU_RUN_IOCTLS};
use thinvisor_kmod::terminal::TERMINAL_IOCTLS;

/// A value with the name it has in C headers.
pub type Named = (&'static str, u64);

/// When a rule is part of the filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Always,
    /// The policy lists `[[files]]`.
    Files,
    /// The policy lists no `[[files]]`.
    NoFiles,
    /// The policy lists `[[network]]`.
    Network,
    /// The policy lends the guest the runner's terminal (`stdio.terminal`).
    Terminal,
}

/// A condition on one argument (0 = rdi, 1 = rsi, 2 = rdx, 3 = r10, ...).
/// Every condition of a rule must hold.
#[derive(Debug, Clone, Copy)]
pub enum ArgCheck {
    /// The argument equals one of `values`.
    OneOf { arg: u8, values: &'static [Named] },
    /// The argument, masked with `mask`, equals one of `values`.
    MaskedOneOf {
        arg: u8,
        mask: Named,
        values: &'static [Named],
    },
    /// The 64-bit argument has no bit of `mask` set.
    NoBitOf { arg: u8, mask: Named },
    /// The argument is the runner's own process id (known at lock-down).
    OwnPid { arg: u8 },
}

/// What a matching call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    /// The call fails with this errno without reaching the kernel.
    FailWith(Named),
}

/// One entry of the allow-list.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub syscall: &'static str,
    pub when: When,
    pub args: &'static [ArgCheck],
    pub action: Action,
    /// Who needs it and why.
    pub reason: &'static str,
}

pub(super) const fn rule(
    syscall: &'static str,
    when: When,
    args: &'static [ArgCheck],
    reason: &'static str,
) -> Rule {
    Rule {
        syscall,
        when,
        args,
        action: Action::Allow,
        reason,
    }
}

const ANY: &[ArgCheck] = &[];
use When::{Always, Files, Network, NoFiles, Terminal};

const PROT_EXEC: Named = ("PROT_EXEC", c::PROT_EXEC as u64);

const MEMBARRIER_COMMANDS: &[Named] = &[
    // linux/membarrier.h (libc has them only as an enum).
    ("MEMBARRIER_CMD_PRIVATE_EXPEDITED", 1 << 3),
    ("MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED", 1 << 4),
];

const FCNTL_COMMANDS: &[Named] = &[
    ("F_GETFD", c::F_GETFD as u64),
    ("F_SETFD", c::F_SETFD as u64),
    ("F_GETFL", c::F_GETFL as u64),
    ("F_SETFL", c::F_SETFL as u64),
    ("F_DUPFD_CLOEXEC", c::F_DUPFD_CLOEXEC as u64),
];

const SOCKET_DOMAINS: &[Named] = &[
    ("AF_INET", c::AF_INET as u64),
    ("AF_INET6", c::AF_INET6 as u64),
];
/// The socket type without SOCK_NONBLOCK / SOCK_CLOEXEC.
const SOCKET_TYPE_MASK: Named = ("0xf", 0xf);
const SOCKET_TYPES: &[Named] = &[
    ("SOCK_STREAM", c::SOCK_STREAM as u64),
    ("SOCK_DGRAM", c::SOCK_DGRAM as u64),
];
/// socketpair's types (AF_UNIX only).
const SOCKETPAIR_TYPES: &[Named] = &[
    ("SOCK_STREAM", c::SOCK_STREAM as u64),
    ("SOCK_DGRAM", c::SOCK_DGRAM as u64),
    ("SOCK_SEQPACKET", c::SOCK_SEQPACKET as u64),
];
const SOCKET_PROTOCOLS: &[Named] = &[
    ("0", 0),
    ("IPPROTO_TCP", c::IPPROTO_TCP as u64),
    ("IPPROTO_UDP", c::IPPROTO_UDP as u64),
];

/// The flags glibc's pthread_create passes to clone (sysdeps/unix/sysv/
/// linux/createthread.c): a thread of this process, nothing else.
const HOST_THREAD_CLONE_FLAGS: u64 = (c::CLONE_VM
    | c::CLONE_FS
    | c::CLONE_FILES
    | c::CLONE_SIGHAND
    | c::CLONE_THREAD
    | c::CLONE_SYSVSEM
    | c::CLONE_SETTLS
    | c::CLONE_PARENT_SETTID
    | c::CLONE_CHILD_CLEARTID) as u64;

/// The allow-list.
pub const RULES: &[Rule] = &[
    // --- KVM -----------------------------------------------------------
    rule(
        "ioctl",
        Always,
        &[ArgCheck::OneOf { arg: 1, values: VCPU_RUN_IOCTLS }],
        "vCPU thread: KVM_RUN, the vCPU state cache's reads and deferred writes, and KVM_GET_VCPU_EVENTS (is a fault queued before a TLB redirect) (thinvisor-kmod's VCPU_RUN_IOCTLS). \
         Requests that build guests (KVM_CREATE_VM, KVM_CREATE_VCPU, KVM_SET_USER_MEMORY_REGION, KVM_SET_CPUID2, ...) are refused: the guest is built before lock-down",
    ),
    rule(
        "ioctl",
        Always,
        &[ArgCheck::OneOf { arg: 1, values: THREAD_START_IOCTLS }],
        "guest threads: the vCPU of a new guest thread (KVM_CREATE_VCPU on the one VM the runner holds, KVM_SET_CPUID2 and KVM_SET_MP_STATE on that vCPU; KVM_SET_VCPU_EVENTS drops what a reused vCPU still held); \
         the only guest-building power left after lock-down, bounded by limits.threads (host threads keep their vCPU for the next guest thread) and KVM's own vCPU limit",
    ),
    rule(
        "ioctl",
        Terminal,
        &[ArgCheck::OneOf { arg: 1, values: TERMINAL_IOCTLS }],
        "stdio.terminal: the guest's terminal requests on a standard stream that is a terminal (its settings, window size, flush and flow control; thinvisor-kmod's TERMINAL_IOCTLS). \
         Never TIOCSTI (typing into the terminal), TIOCSCTTY or TIOCSPGRP: the foreground group the guest sets is the sandbox's own",
    ),
    // --- I/O on descriptors the runner holds ---------------------------
    rule("read", Always, ANY, "syscall emulation: the guest's read/readv/pread on stdin, files and sockets, and sendfile's input"),
    rule("write", Always, ANY, "syscall emulation: the guest's writes and sendfile's output; the runner's own stderr line and the --stats file"),
    rule("copy_file_range", Always, ANY, "syscall emulation: the guest's copy_file_range between two files the runner already holds open for it"),
    rule("fallocate", Always, ANY, "syscall emulation: the guest's fallocate (allocation modes only) on a file the runner holds open for writing"),
    rule("sendfile", Always, ANY, "syscall emulation: the guest's sendfile from a file into a file or /dev/null, made by the host kernel on descriptors the runner already holds (no copy through the runner)"),
    rule("readv", Always, ANY, "syscall emulation: the guest's readv (one host call per guest call)"),
    rule("writev", Always, ANY, "syscall emulation: the guest's writev, handed to the host as one vectored write over guest memory"),
    rule("lseek", Always, ANY, "syscall emulation: lseek on the guest's files and on a stdin that is a file"),
    rule("pread64", Always, ANY, "syscall emulation: the guest's pread64 on files (and a stdin that is a file)"),
    rule("pwrite64", Always, ANY, "syscall emulation: the guest's pwrite64 on files (and a stdout that is a file)"),
    rule("preadv", Always, ANY, "syscall emulation: the guest's pread64/preadv/readv at an offset, as one vectored host read into guest memory"),
    rule("pwritev", Always, ANY, "syscall emulation: the guest's pwrite64/pwritev/writev at an offset, as one vectored host write from guest memory"),
    rule("memfd_create", Always, ANY, "the synthesized /proc: a file's content, made when the guest opens it, held in an anonymous memory file (read, lseek, fstat and mmap then work as on any file); the guest's memfd_create"),
    rule("close", Always, ANY, "syscall emulation: the guest's close; the runner closing its descriptors on the way out"),
    rule("fstat", Always, ANY, "syscall emulation: the guest's fstat on any descriptor, standard streams included (their type and size; rustix calls fstat directly)"),
    rule("statx", Always, ANY, "Rust std's File::metadata (statx with AT_EMPTY_PATH); the guest's statx on descriptors and, with [[files]], on paths"),
    rule("dup", Always, ANY, "syscall emulation: the guest's dup, which gets its own host descriptor"),
    rule("dup3", Always, ANY, "syscall emulation: the guest's dup2/dup3"),
    rule(
        "fcntl",
        Always,
        &[ArgCheck::OneOf { arg: 1, values: FCNTL_COMMANDS }],
        "syscall emulation: the guest's fcntl F_GETFL/F_SETFL (and ioctl FIONBIO, done as F_SETFL) on files and sockets; F_DUPFD_CLOEXEC, F_GETFD/F_SETFD for close-on-exec, and Rust std's debug check on closing a descriptor",
    ),
    rule(
        "membarrier",
        Always,
        &[ArgCheck::OneOf { arg: 0, values: MEMBARRIER_COMMANDS }],
        "syscall emulation: the guest's membarrier, a barrier on every thread of the runner (whose threads run every vCPU of the sandbox), after registering the runner once",
    ),
    rule("fsync", Always, ANY, "syscall emulation: the guest's fsync on files and on a stdout that is a file"),
    rule("fdatasync", Always, ANY, "syscall emulation: the guest's fdatasync"),
    rule("poll", Always, ANY, "syscall emulation: the guest's poll on its streams, files and sockets"),
    rule(
        "ioctl",
        Always,
        &[ArgCheck::OneOf { arg: 1, values: &[("FIONREAD", c::FIONREAD)] }],
        "syscall emulation: the guest's FIONREAD on an inotify instance (the bytes of events waiting), and on a lent terminal (stdio.terminal); it only counts bytes waiting on a descriptor the runner holds",
    ),
    rule("inotify_init1", Always, ANY, "inotify emulation: the guest's inotify_init/inotify_init1, each a host instance the runner holds (nonblocking, close-on-exec), at most 8 in a sandbox (kernel/inotify.rs)"),
    rule("ppoll", Always, ANY, "syscall emulation: readiness of the guest's streams, files and sockets for poll, ppoll and epoll_wait (rustix's poll is ppoll), always with a zero timeout: guest waits park on a condition variable with no lock held; and the runner's own stderr lines, which wait at most 250 ms for room"),
    // --- Files (only with [[files]]) ------------------------------------
    rule("openat", Files, ANY, "file emulation: opens below the directory descriptors of the policy's [[files]]; Landlock bounds what it can reach"),
    Rule {
        syscall: "openat",
        when: NoFiles,
        args: ANY,
        action: Action::FailWith(("EACCES", c::EACCES as u64)),
        reason: "glibc's malloc opens files lazily in the runner's host threads: /sys/devices/system/cpu/online (get_nprocs) once it needs more than eight arenas, \
                 that is once about ten host threads (guest threads) are alive at once, and /proc/sys/vm/overcommit_memory the first time a thread's heap shrinks; \
                 it copes with a failure (sched_getaffinity, madvise). EACCES is what Landlock answers for those paths when the policy lists [[files]]",
    },
    rule("openat2", Files, ANY, "file emulation: openat2 with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, so guest paths never leave the allowed trees"),
    rule("newfstatat", Files, ANY, "file emulation: the guest's stat/lstat/fstatat and access checks on paths below [[files]]"),
    rule("getdents64", Files, ANY, "file emulation: the guest's getdents64 on directories below [[files]]"),
    rule("readlinkat", Files, ANY, "file emulation: the guest's readlink/readlinkat below [[files]]; links the host will not follow beneath a rule, followed in the guest's namespace"),
    rule("fstatfs", Files, ANY, "file emulation: whether a directory lies on a proc file system, whose magic links are never followed nor shown"),
    rule("unlinkat", Files, ANY, "file emulation: the guest's unlink/rmdir in read-write trees (Landlock refuses it elsewhere)"),
    rule("mkdirat", Files, ANY, "file emulation: the guest's mkdir in read-write trees (Landlock refuses it elsewhere)"),
    rule("mknodat", Files, ANY, "file emulation: the guest's mknod of a named pipe (FIFO) in a private tree (made for the run, removed at its end); Landlock grants making FIFOs there and nowhere else, and never devices or sockets"),
    rule("syncfs", Files, ANY, "file emulation: the guest's sync and syncfs, made as syncfs of the read-write trees' file systems (never the host-wide sync)"),
    rule("linkat", Files, ANY, "file emulation: the guest's hard links inside one read-write tree (Landlock refuses them elsewhere)"),
    rule("symlinkat", Files, ANY, "file emulation: the guest's symlink/symlinkat, only below the directory descriptor of a private tree (made for the run, removed at its end); Landlock grants making symbolic links there and nowhere else"),
    rule("renameat2", Files, ANY, "file emulation: the guest's rename in read-write trees (Landlock refuses it elsewhere)"),
    rule("fchmod", Files, ANY, "file emulation: the guest's chmod/fchmod of files and directories in read-write trees (set-ID and sticky bits dropped; Landlock does not cover modes, the emulation checks the rule)"),
    rule("utimensat", Files, ANY, "file emulation: the guest's utimensat/futimens on files and directories in read-write trees (rustix's futimens is utimensat on the descriptor)"),
    rule("inotify_add_watch", Files, ANY, "inotify emulation: a watch on an object below [[files]], named only as /proc/self/fd/N of the O_PATH descriptor the file emulation opened beneath its rule (never a guest-given path); at most 4096 in a sandbox (kernel/inotify.rs)"),
    rule("inotify_rm_watch", Files, ANY, "inotify emulation: the guest's inotify_rm_watch of a watch its instance holds"),
    rule("ftruncate", Always, ANY, "file emulation: the guest's ftruncate/truncate on files it opened for writing, and on its memfds (which need no [[files]] rule)"),
    // --- Sockets (only with [[network]]) ---------------------------------
    rule(
        "socket",
        Network,
        &[
            ArgCheck::OneOf { arg: 0, values: SOCKET_DOMAINS },
            ArgCheck::MaskedOneOf { arg: 1, mask: SOCKET_TYPE_MASK, values: SOCKET_TYPES },
            ArgCheck::OneOf { arg: 2, values: SOCKET_PROTOCOLS },
        ],
        "socket emulation: IPv4/IPv6 TCP and UDP sockets only (no raw, packet, netlink or UNIX sockets)",
    ),
    rule(
        "socketpair",
        Always,
        &[
            ArgCheck::OneOf { arg: 0, values: &[("AF_UNIX", c::AF_UNIX as u64)] },
            ArgCheck::MaskedOneOf { arg: 1, mask: SOCKET_TYPE_MASK, values: SOCKETPAIR_TYPES },
            ArgCheck::OneOf { arg: 2, values: &[("0", 0)] },
        ],
        "AF_UNIX emulation: the guest's socketpairs, and every socket(AF_UNIX) (one end of a pair; its names are the runner's own table, so the runner never binds or connects a host AF_UNIX socket); a pair reaches nothing but its other end (no [[network]] rule needed)",
    ),
    rule("connect", Network, ANY, "socket emulation: connect to a peer the policy's [[network]] allows (checked before the call; Landlock also limits TCP ports)"),
    rule("sendto", Always, ANY, "socket emulation: send/sendto to an allowed peer (UDP destinations are checked by the emulation; Landlock does not cover UDP); sendfile into a socket; always: the guest's AF_UNIX socketpairs need it without [[network]], and with no [[network]] rule no other socket exists"),
    rule("recvfrom", Always, ANY, "socket emulation: recv/recvfrom on the guest's sockets; always: the guest's AF_UNIX socketpairs need it without [[network]], and with no [[network]] rule no other socket exists"),
    rule("sendmsg", Always, ANY, "socket emulation: send/sendto/write on the guest's sockets, as one vectored host send over guest memory (MSG_NOSIGNAL); always: the guest's AF_UNIX socketpairs need it without [[network]], and with no [[network]] rule no other socket exists"),
    rule("recvmsg", Always, ANY, "socket emulation: recv/recvfrom/read on the guest's sockets, as one vectored host receive into guest memory; always: the guest's AF_UNIX socketpairs need it without [[network]], and with no [[network]] rule no other socket exists"),
    rule("shutdown", Always, ANY, "socket emulation: the guest's shutdown; always: the guest's AF_UNIX socketpairs need it without [[network]], and with no [[network]] rule no other socket exists"),
    rule("bind", Network, ANY, "socket emulation: bind to an address a [[network]] listen rule names (checked before the call; Landlock also limits the TCP ports)"),
    rule("listen", Network, ANY, "socket emulation: the guest's listen on a socket bound to a listen rule's address"),
    rule("accept4", Network, ANY, "socket emulation: the guest's accept/accept4 on a listening socket (the host descriptor always close-on-exec)"),
    rule("getsockname", Always, ANY, "socket emulation: the guest's getsockname on its sockets; always: the guest's AF_UNIX socketpairs need it without [[network]], and with no [[network]] rule no other socket exists"),
    rule("getpeername", Always, ANY, "socket emulation: the guest's getpeername on its sockets; always: the guest's AF_UNIX socketpairs need it without [[network]], and with no [[network]] rule no other socket exists"),
    rule("getsockopt", Always, ANY, "socket emulation: SO_ERROR after a non-blocking connect, and the guest's getsockopt; always: the guest's AF_UNIX socketpairs need it without [[network]], and with no [[network]] rule no other socket exists"),
    rule(
        "ioctl",
        Network,
        &[ArgCheck::OneOf { arg: 1, values: &[("FIONBIO", c::FIONBIO)] }],
        "socket emulation: Rust std's TcpStream::set_nonblocking and connect_timeout switch blocking mode with FIONBIO",
    ),
    rule("setsockopt", Always, ANY, "socket emulation: the guest's setsockopt (TCP_NODELAY, timeouts, buffer sizes); always: the guest's AF_UNIX socketpairs need it without [[network]], and with no [[network]] rule no other socket exists"),
    // --- Memory -----------------------------------------------------------
    rule(
        "mmap",
        Always,
        &[ArgCheck::NoBitOf { arg: 2, mask: PROT_EXEC }],
        "Rust allocator (glibc malloc: large blocks); never executable memory",
    ),
    rule("munmap", Always, ANY, "Rust allocator frees, guest memory and the vCPU run page when the guest is dropped"),
    rule(
        "mprotect",
        Always,
        &[ArgCheck::NoBitOf { arg: 2, mask: PROT_EXEC }],
        "GuestMemory::refresh (cycles host protection after the guest's mprotect downgrades), glibc arena growth; never executable",
    ),
    rule(
        "madvise",
        Always,
        &[ArgCheck::OneOf {
            arg: 2,
            values: &[
                ("MADV_DONTNEED", c::MADV_DONTNEED as u64),
                ("MADV_HUGEPAGE", c::MADV_HUGEPAGE as u64),
            ],
        }],
        "GuestMemory::discard after the guest's munmap, and advise_huge for a 2 MiB guest page; glibc trimming its heap",
    ),
    rule("mremap", Always, ANY, "glibc realloc of large (mmap-backed) allocations"),
    rule("brk", Always, ANY, "glibc malloc's main arena"),
    // --- Threads (one host thread per guest thread; no processes) --------
    rule(
        "clone",
        Always,
        &[ArgCheck::OneOf { arg: 0, values: &[("CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID", HOST_THREAD_CLONE_FLAGS)] }],
        "guest threads: glibc's pthread_create (under std::thread::scope) starts the host thread that runs a guest thread's vCPU; exactly these flags, so no process, namespace or vfork can be made",
    ),
    Rule {
        syscall: "clone3",
        when: Always,
        args: ANY,
        action: Action::FailWith(("ENOSYS", c::ENOSYS as u64)),
        reason: "glibc's pthread_create tries clone3 first (its arguments are in memory, where seccomp cannot check them) and falls back to clone on ENOSYS",
    },
    rule("exit", Always, ANY, "a host thread of a guest thread ends (the run joins them all before it reports)"),
    rule("set_robust_list", Always, ANY, "glibc registers each new host thread's robust mutex list"),
    rule("sched_getaffinity", Always, ANY, "glibc's pthread_getattr_np, which Rust std calls in each new host thread to place its stack guard, copies the thread's CPU set (it reveals only CPU sets)"),
    rule(
        "rt_sigaction",
        Always,
        &[ArgCheck::OneOf { arg: 0, values: &[("SIGRTMIN+1 (glibc's SIGSETXID)", 33)] }],
        "glibc's first pthread_create installs the handler of its internal SIGSETXID (setuid across threads, which the runner never calls); no other disposition can change",
    ),
    rule("rseq", Always, ANY, "glibc registers restartable sequences in each new host thread (and aborts when that fails after the main thread's succeeded); it only names memory of that thread"),
    // --- Signals ------------------------------------------------------------
    rule("futex", Always, ANY, "Rust std's mutexes and condition variables: the kernel lock, the thread group, parked guest threads, the standard streams' locks, thinvisor-kmod's vCPU interrupt state"),
    rule("sched_yield", Always, ANY, "the guest's sched_yield"),
    rule("gettid", Always, ANY, "the deadline's kick timer is aimed at the vCPU's thread (SIGEV_THREAD_ID)"),
    rule("getpid", Always, ANY, "glibc's abort() passes the process id to tgkill"),
    rule(
        "tgkill",
        Always,
        &[
            ArgCheck::OwnPid { arg: 0 },
            ArgCheck::OneOf {
                arg: 2,
                values: &[("SIGABRT", c::SIGABRT as u64), ("SIGUSR2", c::SIGUSR2 as u64)],
            },
        ],
        "SIGABRT to itself: abort() after a double panic; SIGUSR2 to one of its own threads: kick a vCPU out of KVM_RUN (thinvisor-kmod's Interrupter: the group ends, a TLB shootdown)",
    ),
    rule("rt_sigprocmask", Always, ANY, "glibc's abort() blocks and unblocks signals"),
    rule("rt_sigreturn", Always, ANY, "return from the SIGUSR2 kick handler (its only effect: KVM_RUN or a blocking host call returns EINTR)"),
    rule("sigaltstack", Always, ANY, "Rust std's stack-overflow guard: std::process::exit removes the main thread's alternate signal stack"),
    rule("restart_syscall", Always, ANY, "the kernel resumes a sleep interrupted by a stop/continue signal"),
    rule(
        "timer_create",
        Always,
        &[ArgCheck::OneOf { arg: 0, values: &[("CLOCK_MONOTONIC", c::CLOCK_MONOTONIC as u64)] }],
        "the run's deadline: a CLOCK_MONOTONIC timer that kicks the vCPU thread with SIGUSR2 (thinvisor-kmod's KickTimer); the kernel confines SIGEV_THREAD_ID to this process's threads",
    ),
    rule("timer_settime", Always, ANY, "arms the deadline's kick timer (a timer this process created)"),
    rule("timer_delete", Always, ANY, "disarms the deadline's kick timer when the run ends, so no kick interrupts the report"),
    // --- Time, randomness, exit --------------------------------------------
    rule("clock_gettime", Always, ANY, "Instant::now (run time, the deadline, sleep and poll deadlines) and the guest's clock_gettime/gettimeofday/time/getrusage when the vDSO falls back to the syscall (CPU-time clocks always do)"),
    rule("getrandom", Always, ANY, "the guest's getrandom; Rust std's hash-map seeds"),
    rule("exit_group", Always, ANY, "the runner exits with the guest's status"),
];

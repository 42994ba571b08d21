//! Linux constants the emulation reads from or writes to the guest, each
//! declared once. Flags a handler tests after narrowing a syscall argument
//! to its C type have that type (`int` flags are `u32`, signal numbers
//! `i32`, poll's `short` events `u16`: `a[1] as u32 & O_CLOEXEC`); values
//! matched against the whole 64-bit argument register (fcntl commands, *at
//! and mmap flags, prctl options, ...) are `u64`; array indices `usize`.
//! Handlers cast at the use where an argument arrives in another width.
//!
//! Sections by family: files, memory, signals, sockets, process, time,
//! CPU registers. Struct sizes are `layouts.rs`'s.

// ---- files ----------------------------------------------------------------

// open(2) flags (asm-generic/fcntl.h; x86-64 uses the generic values).
pub const O_ACCMODE: u32 = 0o3;
pub const O_RDONLY: u32 = 0o0;
pub const O_WRONLY: u32 = 0o1;
pub const O_RDWR: u32 = 0o2;
pub const O_CREAT: u32 = 0o100;
pub const O_EXCL: u32 = 0o200;
pub const O_TRUNC: u32 = 0o1000;
pub const O_APPEND: u32 = 0o2000;
pub const O_NONBLOCK: u32 = 0o4000;
pub const O_DSYNC: u32 = 0o10000;
pub const O_DIRECT: u32 = 0o40000;
pub const O_LARGEFILE: u32 = 0o100000;
pub const O_DIRECTORY: u32 = 0o200000;
pub const O_NOFOLLOW: u32 = 0o400000;
pub const O_CLOEXEC: u32 = 0o2000000;
/// `__O_SYNC`: O_SYNC is this bit plus O_DSYNC.
pub const O_SYNC_BIT: u32 = 0o4000000;
pub const O_PATH: u32 = 0o10000000;
/// `__O_TMPFILE`: O_TMPFILE is this bit plus O_DIRECTORY.
pub const O_TMPFILE_BIT: u32 = 0o20000000;

// fcntl(2) commands and descriptor flags.
pub const F_DUPFD: u64 = 0;
pub const F_GETFD: u64 = 1;
pub const F_SETFD: u64 = 2;
pub const F_GETFL: u64 = 3;
pub const F_SETFL: u64 = 4;
pub const F_GETLK: u64 = 5;
pub const F_SETLK: u64 = 6;
pub const F_SETLKW: u64 = 7;
pub const F_RDLCK: i16 = 0;
pub const F_WRLCK: i16 = 1;
pub const F_UNLCK: i16 = 2;
pub const F_DUPFD_CLOEXEC: u64 = 1030;
pub const F_SETPIPE_SZ: u64 = 1031;
pub const F_GETPIPE_SZ: u64 = 1032;
pub const FD_CLOEXEC: u64 = 1;

// ioctl(2) requests on any descriptor (asm-generic/ioctls.h).
pub const FIONREAD: u64 = 0x541b;
pub const FIONBIO: u64 = 0x5421;
pub const FIONCLEX: u64 = 0x5450;
pub const FIOCLEX: u64 = 0x5451;

// *at(2) arguments.
/// `AT_FDCWD` as the C library passes it (a 32-bit -100).
pub const AT_FDCWD: i32 = -100;
pub const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
pub const AT_REMOVEDIR: u64 = 0x200;
/// faccessat's flag; the same bit as AT_REMOVEDIR.
pub const AT_EACCESS: u64 = 0x200;
pub const AT_NO_AUTOMOUNT: u64 = 0x800;
pub const AT_EMPTY_PATH: u64 = 0x1000;
pub const AT_STATX_SYNC_TYPE: u64 = 0x6000;

// access(2) modes (F_OK is 0: existence only).
pub const X_OK: u64 = 1;
pub const W_OK: u64 = 2;
pub const R_OK: u64 = 4;

// statx(2) masks.
/// STATX_TYPE | MODE | NLINK | UID | GID | ATIME | MTIME | CTIME | INO |
/// SIZE | BLOCKS: what the runner fills in.
pub const STATX_BASIC_STATS: u32 = 0x7ff;
/// `STATX__RESERVED`: a mask bit reserved for extending struct statx.
pub const STATX_RESERVED: u64 = 0x8000_0000;

// File types in st_mode.
pub const S_IFMT: u32 = 0o170_000;
pub const S_IFREG: u32 = 0o100_000;
pub const S_IFDIR: u32 = 0o040_000;
pub const S_IFCHR: u32 = 0o020_000;
pub const S_IFIFO: u32 = 0o010_000;
pub const S_IFLNK: u32 = 0o120_000;

// `d_type` values of `struct linux_dirent64`.
pub const DT_UNKNOWN: u8 = 0;
pub const DT_FIFO: u8 = 1;
pub const DT_CHR: u8 = 2;
pub const DT_DIR: u8 = 4;
pub const DT_BLK: u8 = 6;
pub const DT_REG: u8 = 8;
pub const DT_LNK: u8 = 10;
pub const DT_SOCK: u8 = 12;

// lseek(2) whence.
pub const SEEK_SET: u64 = 0;
pub const SEEK_CUR: u64 = 1;
pub const SEEK_END: u64 = 2;
pub const SEEK_DATA: u64 = 3;
pub const SEEK_HOLE: u64 = 4;

// poll(2) events (`short`).
pub const POLLIN: u16 = 0x1;
pub const POLLPRI: u16 = 0x2;
pub const POLLOUT: u16 = 0x4;
pub const POLLERR: u16 = 0x8;
pub const POLLHUP: u16 = 0x10;
pub const POLLNVAL: u16 = 0x20;
pub const POLLRDNORM: u16 = 0x40;
pub const POLLWRNORM: u16 = 0x100;

/// Linux's PATH_MAX, including the terminating NUL.
pub const PATH_MAX: usize = 4096;
/// Linux's NAME_MAX: the longest single component.
pub const NAME_MAX: usize = 255;
/// Linux caps one read/write at this many bytes (MAX_RW_COUNT).
pub const MAX_RW: u64 = 0x7fff_f000;
/// Linux's limit on iovecs per call (UIO_MAXIOV).
pub const MAX_IOV: u64 = 1024;

// ---- memory ---------------------------------------------------------------

// mmap(2)/mprotect(2) protections.
pub const PROT_READ: u64 = 0x1;
pub const PROT_WRITE: u64 = 0x2;
pub const PROT_EXEC: u64 = 0x4;
pub const PROT_GROWSDOWN: u64 = 0x0100_0000;
pub const PROT_GROWSUP: u64 = 0x0200_0000;

// mmap(2) flags.
pub const MAP_SHARED: u64 = 0x01;
pub const MAP_PRIVATE: u64 = 0x02;
/// The bits that hold the mapping type (MAP_SHARED, MAP_PRIVATE, ...).
pub const MAP_TYPE: u64 = 0x0f;
pub const MAP_FIXED: u64 = 0x10;
pub const MAP_ANONYMOUS: u64 = 0x20;
pub const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;

// mremap(2) flags.
pub const MREMAP_MAYMOVE: u64 = 1;
pub const MREMAP_FIXED: u64 = 2;
pub const MREMAP_DONTUNMAP: u64 = 4;

// madvise(2) advice.
pub const MADV_DONTNEED: u64 = 4;
pub const MADV_FREE: u64 = 8;
pub const MADV_REMOVE: u64 = 9;
pub const MADV_DONTNEED_LOCKED: u64 = 24;
pub const MADV_HWPOISON: u64 = 100;

// ---- signals --------------------------------------------------------------

// Signal numbers (x86-64) used by the runner itself (C `int`).
pub const SIGILL: i32 = 4;
pub const SIGTRAP: i32 = 5;
pub const SIGBUS: i32 = 7;
pub const SIGFPE: i32 = 8;
pub const SIGKILL: i32 = 9;
pub const SIGSEGV: i32 = 11;
pub const SIGPIPE: i32 = 13;
pub const SIGSTOP: i32 = 19;
pub const SIGSYS: i32 = 31;
/// The highest signal number (`_NSIG`).
pub const NSIG: i32 = 64;

// Dispositions (sa_handler values).
pub const SIG_DFL: u64 = 0;
pub const SIG_IGN: u64 = 1;

// rt_sigprocmask(2) `how`.
pub const SIG_BLOCK: u64 = 0;
pub const SIG_UNBLOCK: u64 = 1;
pub const SIG_SETMASK: u64 = 2;

// sigaltstack(2) ss_flags.
pub const SS_ONSTACK: u64 = 1;
pub const SS_DISABLE: u64 = 2;
pub const SS_AUTODISARM: u64 = 1 << 31;
/// The kernel's minimum alternate signal stack (x86-64 `MINSIGSTKSZ`).
pub const MINSIGSTKSZ: u64 = 2048;

// ---- sockets --------------------------------------------------------------

// Address families (`sa_family_t`).
pub const AF_UNSPEC: u16 = 0;
/// flock(2) operations.
pub const LOCK_SH: u32 = 1;
pub const LOCK_EX: u32 = 2;
pub const LOCK_NB: u32 = 4;
pub const LOCK_UN: u32 = 8;
/// Local (UNIX-domain) sockets: socketpair only.
pub const AF_UNIX: u16 = 1;
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;

// socket(2) types and the flags or-ed into them.
pub const SOCK_STREAM: u32 = 1;
pub const SOCK_DGRAM: u32 = 2;
pub const SOCK_RAW: u32 = 3;
pub const SOCK_SEQPACKET: u32 = 5;
pub const SOCK_NONBLOCK: u32 = 0o4000;
pub const SOCK_CLOEXEC: u32 = 0o2_000_000;

// Protocols.
pub const IPPROTO_TCP: u32 = 6;
pub const IPPROTO_UDP: u32 = 17;

// getsockopt(2) level and options.
pub const SOL_SOCKET: u32 = 1;
pub const SO_PEERCRED: u32 = 17;
pub const SO_TYPE: u32 = 3;
pub const SO_ERROR: u32 = 4;
pub const SO_SNDBUF: u32 = 7;
pub const SO_RCVBUF: u32 = 8;
pub const SO_PROTOCOL: u32 = 38;
pub const SO_DOMAIN: u32 = 39;

// send(2)/recv(2) flags.
pub const MSG_OOB: u32 = 0x1;
pub const MSG_PEEK: u32 = 0x2;
pub const MSG_DONTROUTE: u32 = 0x4;
pub const MSG_TRUNC: u32 = 0x20;
pub const MSG_CTRUNC: u32 = 0x8;
pub const MSG_DONTWAIT: u32 = 0x40;
pub const MSG_EOR: u32 = 0x80;
pub const MSG_WAITALL: u32 = 0x100;
pub const MSG_CONFIRM: u32 = 0x800;
pub const MSG_NOSIGNAL: u32 = 0x4000;
pub const MSG_MORE: u32 = 0x8000;
pub const MSG_CMSG_CLOEXEC: u32 = 0x4000_0000;

// ---- process --------------------------------------------------------------

/// "Unchanged" in setreuid/setresuid and their gid twins: `(uid_t)-1`, -1
/// as a 32-bit id.
pub const ID_UNCHANGED: u64 = 0xffff_ffff;

// prctl(2) options.
pub const PR_SET_PDEATHSIG: u64 = 1;
pub const PR_GET_PDEATHSIG: u64 = 2;
pub const PR_GET_DUMPABLE: u64 = 3;
pub const PR_SET_DUMPABLE: u64 = 4;
pub const PR_SET_NAME: u64 = 15;
pub const PR_GET_NAME: u64 = 16;
pub const PR_SET_NO_NEW_PRIVS: u64 = 38;
pub const PR_GET_NO_NEW_PRIVS: u64 = 39;

// arch_prctl(2) codes.
pub const ARCH_SET_GS: u64 = 0x1001;
pub const ARCH_SET_FS: u64 = 0x1002;
pub const ARCH_GET_FS: u64 = 0x1003;
pub const ARCH_GET_GS: u64 = 0x1004;

// Resource limits: indices of getrlimit/setrlimit/prlimit64's resources.
pub const RLIMIT_CPU: usize = 0;
pub const RLIMIT_DATA: usize = 2;
pub const RLIMIT_STACK: usize = 3;
pub const RLIMIT_CORE: usize = 4;
pub const RLIMIT_NPROC: usize = 6;
pub const RLIMIT_NOFILE: usize = 7;
pub const RLIMIT_MEMLOCK: usize = 8;
pub const RLIMIT_AS: usize = 9;
pub const RLIMIT_SIGPENDING: usize = 11;
pub const RLIMIT_MSGQUEUE: usize = 12;
pub const RLIMIT_NICE: usize = 13;
pub const RLIMIT_RTPRIO: usize = 14;
/// Number of Linux resource limits (RLIMIT_CPU ..= RLIMIT_RTTIME;
/// `RLIM_NLIMITS`).
pub const RLIMIT_COUNT: usize = 16;
pub const RLIM_INFINITY: u64 = u64::MAX;

// getrusage(2) `who`.
pub const RUSAGE_CHILDREN: i64 = -1;
pub const RUSAGE_SELF: i64 = 0;
pub const RUSAGE_THREAD: i64 = 1;

// Auxiliary-vector keys (linux/auxvec.h, asm/auxvec.h).
pub const AT_NULL: u64 = 0;
pub const AT_PHDR: u64 = 3;
pub const AT_PHENT: u64 = 4;
pub const AT_PHNUM: u64 = 5;
pub const AT_PAGESZ: u64 = 6;
pub const AT_BASE: u64 = 7;
pub const AT_FLAGS: u64 = 8;
pub const AT_ENTRY: u64 = 9;
pub const AT_UID: u64 = 11;
pub const AT_EUID: u64 = 12;
pub const AT_GID: u64 = 13;
pub const AT_EGID: u64 = 14;
pub const AT_PLATFORM: u64 = 15;
pub const AT_HWCAP: u64 = 16;
pub const AT_CLKTCK: u64 = 17;
pub const AT_SECURE: u64 = 23;
pub const AT_RANDOM: u64 = 25;
pub const AT_HWCAP2: u64 = 26;
pub const AT_EXECFN: u64 = 31;
pub const AT_SYSINFO_EHDR: u64 = 33;
pub const AT_MINSIGSTKSZ: u64 = 51;

// ---- time and randomness --------------------------------------------------

/// clock_nanosleep(2): the time is absolute, not relative.
pub const TIMER_ABSTIME: u64 = 1;
/// Linux returns at most this many bytes per getrandom call.
pub const MAX_RANDOM: u64 = 0x01ff_ffff;

// ---- CPU registers --------------------------------------------------------

// Model-specific registers the runner sets or reads (x86-64).
pub const MSR_IA32_TSC: u32 = 0x10;
pub const MSR_STAR: u32 = 0xC000_0081;
pub const MSR_LSTAR: u32 = 0xC000_0082;
pub const MSR_CSTAR: u32 = 0xC000_0083;
pub const MSR_SFMASK: u32 = 0xC000_0084;
/// Written by arch_prctl(ARCH_SET_FS).
pub const MSR_FS_BASE: u32 = 0xC000_0100;
/// Written by arch_prctl(ARCH_SET_GS).
pub const MSR_GS_BASE: u32 = 0xC000_0101;
pub const MSR_KERNEL_GS_BASE: u32 = 0xC000_0102;

// --- Threads: clone flags (include/uapi/linux/sched.h) -----------------
pub const CSIGNAL: u64 = 0xff;
pub const CLONE_VM: u64 = 0x100;
pub const CLONE_FS: u64 = 0x200;
pub const CLONE_FILES: u64 = 0x400;
pub const CLONE_SIGHAND: u64 = 0x800;
pub const CLONE_PIDFD: u64 = 0x1000;
pub const CLONE_PTRACE: u64 = 0x2000;
pub const CLONE_VFORK: u64 = 0x4000;
pub const CLONE_PARENT: u64 = 0x8000;
pub const CLONE_THREAD: u64 = 0x1_0000;
pub const CLONE_NEWNS: u64 = 0x2_0000;
pub const CLONE_SYSVSEM: u64 = 0x4_0000;
pub const CLONE_SETTLS: u64 = 0x8_0000;
pub const CLONE_PARENT_SETTID: u64 = 0x10_0000;
pub const CLONE_CHILD_CLEARTID: u64 = 0x20_0000;
pub const CLONE_DETACHED: u64 = 0x40_0000;
pub const CLONE_UNTRACED: u64 = 0x80_0000;
pub const CLONE_CHILD_SETTID: u64 = 0x100_0000;
/// `struct clone_args` up to `tls` (CLONE_ARGS_SIZE_VER0).
pub const CLONE_ARGS_SIZE_VER0: u64 = 64;

// --- Futexes (include/uapi/linux/futex.h) ------------------------------
pub const FUTEX_WAIT: u32 = 0;
pub const FUTEX_WAKE: u32 = 1;
pub const FUTEX_REQUEUE: u32 = 3;
pub const FUTEX_CMP_REQUEUE: u32 = 4;
pub const FUTEX_WAKE_OP: u32 = 5;
pub const FUTEX_WAIT_BITSET: u32 = 9;
pub const FUTEX_WAKE_BITSET: u32 = 10;
pub const FUTEX_PRIVATE_FLAG: u32 = 128;
pub const FUTEX_CLOCK_REALTIME: u32 = 256;
pub const FUTEX_BITSET_MATCH_ANY: u32 = 0xffff_ffff;
/// Robust futexes: the owner died; someone waits.
pub const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
pub const FUTEX_WAITERS: u32 = 0x8000_0000;
pub const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
/// The most entries of a robust list walked at thread exit (Linux's
/// ROBUST_LIST_LIMIT).
pub const ROBUST_LIST_LIMIT: u32 = 2048;
/// sizeof(struct robust_list_head).
pub const ROBUST_LIST_HEAD_SIZE: u64 = 24;

// --- eventfd and epoll (include/uapi/linux/eventfd.h, eventpoll.h) -------
pub const EFD_SEMAPHORE: u64 = 1;
pub const EFD_NONBLOCK: u64 = 0o4000;
pub const EFD_CLOEXEC: u64 = 0o2_000_000;
pub const EPOLL_CLOEXEC: u64 = 0o2_000_000;

// --- inotify (include/uapi/linux/inotify.h, include/linux/inotify.h) -----
pub const IN_NONBLOCK: u64 = 0o4000;
pub const IN_CLOEXEC: u64 = 0o2_000_000;
/// Every event a watch can ask for (IN_ACCESS .. IN_DELETE_SELF,
/// IN_MOVE_SELF).
pub const IN_ALL_EVENTS: u32 = 0xfff;
pub const IN_UNMOUNT: u32 = 0x2000;
pub const IN_Q_OVERFLOW: u32 = 0x4000;
pub const IN_IGNORED: u32 = 0x8000;
pub const IN_ONLYDIR: u32 = 0x0100_0000;
pub const IN_DONT_FOLLOW: u32 = 0x0200_0000;
pub const IN_EXCL_UNLINK: u32 = 0x0400_0000;
pub const IN_MASK_CREATE: u32 = 0x1000_0000;
pub const IN_MASK_ADD: u32 = 0x2000_0000;
pub const IN_ISDIR: u32 = 0x4000_0000;
pub const IN_ONESHOT: u32 = 0x8000_0000;
/// Every bit inotify_add_watch accepts (Linux's ALL_INOTIFY_BITS): any
/// other is EINVAL, as is a mask with none of these.
pub const ALL_INOTIFY_BITS: u32 = IN_ALL_EVENTS
    | IN_UNMOUNT
    | IN_Q_OVERFLOW
    | IN_IGNORED
    | IN_ONLYDIR
    | IN_DONT_FOLLOW
    | IN_EXCL_UNLINK
    | IN_MASK_CREATE
    | IN_MASK_ADD
    | IN_ISDIR
    | IN_ONESHOT;
/// sizeof(struct inotify_event) without its name: wd, mask, cookie, len.
pub const INOTIFY_EVENT_SIZE: usize = 16;

// --- timerfd, signalfd, POSIX timers (timerfd.h, signalfd.h, siginfo.h) --
pub const TFD_NONBLOCK: u64 = 0o4000;
pub const TFD_CLOEXEC: u64 = 0o2_000_000;
pub const TFD_TIMER_ABSTIME: u64 = 1;
/// The timer is cancelled when the wall clock is set (accepted; the
/// sandbox's clock is never set, so it is never cancelled).
pub const TFD_TIMER_CANCEL_ON_SET: u64 = 2;
pub const SFD_NONBLOCK: u64 = 0o4000;
pub const SFD_CLOEXEC: u64 = 0o2_000_000;
pub const SIGEV_SIGNAL: i32 = 0;
pub const SIGEV_NONE: i32 = 1;
pub const SIGEV_THREAD: i32 = 2;
pub const SIGEV_THREAD_ID: i32 = 4;
pub const CLOCK_REALTIME: u64 = 0;
pub const CLOCK_MONOTONIC: u64 = 1;
pub const CLOCK_BOOTTIME: u64 = 7;
pub const CLOCK_REALTIME_ALARM: u64 = 8;
pub const CLOCK_BOOTTIME_ALARM: u64 = 9;
pub const EPOLL_CTL_ADD: u64 = 1;
pub const EPOLL_CTL_DEL: u64 = 2;
pub const EPOLL_CTL_MOD: u64 = 3;
pub const EPOLLIN: u32 = 0x1;
pub const EPOLLPRI: u32 = 0x2;
pub const EPOLLOUT: u32 = 0x4;
pub const EPOLLERR: u32 = 0x8;
pub const EPOLLHUP: u32 = 0x10;
pub const EPOLLRDNORM: u32 = 0x40;
pub const EPOLLRDBAND: u32 = 0x80;
pub const EPOLLWRNORM: u32 = 0x100;
pub const EPOLLWRBAND: u32 = 0x200;
pub const EPOLLMSG: u32 = 0x400;
pub const EPOLLRDHUP: u32 = 0x2000;
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
pub const EPOLLWAKEUP: u32 = 1 << 29;
pub const EPOLLONESHOT: u32 = 1 << 30;
pub const EPOLLET: u32 = 1 << 31;
/// sizeof(struct epoll_event) on x86-64 (packed: u32 events, u64 data).
pub const EPOLL_EVENT_SIZE: u64 = 12;
/// The most events one epoll_wait returns (Linux's EP_MAX_EVENTS).
pub const EP_MAX_EVENTS: u64 = i32::MAX as u64 / 12;

// --- Signal delivery (include/uapi/asm-generic/signal-defs.h, siginfo.h) ---
pub const SIGALRM: i32 = 14;
pub const SA_SIGINFO: u64 = 0x4;
pub const SA_ONSTACK: u64 = 0x0800_0000;
pub const SA_RESTART: u64 = 0x1000_0000;
pub const SA_NODEFER: u64 = 0x4000_0000;
pub const SA_RESETHAND: u64 = 0x8000_0000;
pub const SA_RESTORER: u64 = 0x0400_0000;
/// si_code: sent by kill, by tkill/tgkill, by the kernel.
pub const SI_USER: i32 = 0;
pub const SI_TKILL: i32 = -6;
/// si_code: a POSIX timer expired.
pub const SI_TIMER: i32 = -2;
/// si_code: a message arrived on an empty POSIX message queue
/// (mq_notify).
pub const SI_MESGQ: i32 = -3;
pub const SI_KERNEL: i32 = 0x80;
pub const SEGV_MAPERR: i32 = 1;
pub const SEGV_ACCERR: i32 = 2;
pub const BUS_ADRALN: i32 = 1;
/// SIGBUS: an access past the end of a mapped file.
pub const BUS_ADRERR: i32 = 2;
pub const ILL_ILLOPN: i32 = 2;
pub const FPE_INTDIV: i32 = 1;
pub const FPE_FLTINV: i32 = 7;
pub const TRAP_BRKPT: i32 = 1;
pub const TRAP_TRACE: i32 = 2;
/// uc_flags: the frame holds SS (Linux sets both on x86-64).
pub const UC_SIGCONTEXT_SS: u64 = 0x2;
pub const UC_STRICT_RESTORE_SS: u64 = 0x4;

// --- Interval timers (include/uapi/linux/time.h) -----------------------
pub const ITIMER_REAL: u64 = 0;
pub const ITIMER_VIRTUAL: u64 = 1;
pub const ITIMER_PROF: u64 = 2;

// --- Child processes (include/uapi/linux/wait.h, signal.h) -------------
pub const SIGCHLD: i32 = 17;
/// sa_flags: children are reaped at exit (no zombies, no wait status).
pub const SA_NOCLDWAIT: u64 = 0x2;
/// sa_flags: no SIGCHLD when a child stops or continues.
pub const SA_NOCLDSTOP: u64 = 0x1;
/// Job control: SIGCONT continues a stopped process.
pub const SIGCONT: i32 = 18;
/// wait4/waitid options.
pub const WNOHANG: u64 = 1;
pub const WUNTRACED: u64 = 2;
pub const WSTOPPED: u64 = 2;
pub const WEXITED: u64 = 4;
pub const WCONTINUED: u64 = 8;
pub const WNOWAIT: u64 = 0x0100_0000;
pub const __WNOTHREAD: u64 = 0x2000_0000;
pub const __WALL: u64 = 0x4000_0000;
pub const __WCLONE: u64 = 0x8000_0000;
/// waitid's idtype.
pub const P_ALL: u64 = 0;
pub const P_PID: u64 = 1;
pub const P_PGID: u64 = 2;
pub const P_PIDFD: u64 = 3;
/// si_code of SIGCHLD and waitid.
pub const CLD_EXITED: i32 = 1;
pub const CLD_KILLED: i32 = 2;
pub const CLD_STOPPED: i32 = 5;
pub const CLD_CONTINUED: i32 = 6;
/// execve: the most bytes of arguments and environment together (Linux's
/// limit is a quarter of the stack rlimit; 2 MiB with the default 8 MiB).
pub const ARG_MAX_BYTES: u64 = 2 << 20;
/// execve: the most arguments or environment strings (MAX_ARG_STRINGS).
pub const MAX_ARG_STRINGS: u64 = 0x7fff_ffff;

//! Linux constants the emulation reads from or writes to the guest, each
//! declared once with the C type it has in the ABI (`int` flags are `u32`,
//! `unsigned long` arguments `u64`). Handlers narrow a syscall argument to
//! the C type before testing it (`a[1] as u32 & O_CLOEXEC`).

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
pub const F_GETFD: u64 = 1;
pub const F_SETFD: u64 = 2;
pub const F_GETFL: u64 = 3;
pub const F_SETFL: u64 = 4;
pub const F_DUPFD: u64 = 0;
pub const F_DUPFD_CLOEXEC: u64 = 1030;
pub const F_SETPIPE_SZ: u64 = 1031;
pub const F_GETPIPE_SZ: u64 = 1032;
pub const FD_CLOEXEC: u64 = 1;

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

// File types in st_mode.
pub const S_IFMT: u32 = 0o170_000;
pub const S_IFREG: u32 = 0o100_000;
pub const S_IFDIR: u32 = 0o040_000;
pub const S_IFCHR: u32 = 0o020_000;
pub const S_IFLNK: u32 = 0o120_000;

/// Linux caps one read/write at this many bytes (MAX_RW_COUNT).
pub const MAX_RW: u64 = 0x7fff_f000;
/// Linux's limit on iovecs per call (UIO_MAXIOV).
pub const MAX_IOV: u64 = 1024;

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
/// The kernel's minimum alternate signal stack (x86-64 `MINSIGSTKSZ`).
pub const MINSIGSTKSZ: u64 = 2048;

// Model-specific registers arch_prctl(ARCH_SET_FS/GS) writes.
pub const MSR_FS_BASE: u32 = 0xC000_0100;
pub const MSR_GS_BASE: u32 = 0xC000_0101;

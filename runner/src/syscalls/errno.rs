//! Linux errno values the emulation returns (asm-generic/errno-base.h).

pub const EPERM: i64 = 1;
pub const EBADF: i64 = 9;
pub const ENOMEM: i64 = 12;
pub const EACCES: i64 = 13;
pub const EFAULT: i64 = 14;
pub const EEXIST: i64 = 17;
pub const ENODEV: i64 = 19;
pub const EINVAL: i64 = 22;
pub const ENOSYS: i64 = 38;
pub const ESRCH: i64 = 3;
pub const ECHILD: i64 = 10;
pub const EPIPE: i64 = 32;

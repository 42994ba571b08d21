//! flock(2): whole-file shared and exclusive locks between the sandbox's
//! open file descriptions, kept by the runner (kernel/flocks.rs). A lock
//! that another description holds makes the call wait (or fail with
//! EWOULDBLOCK under LOCK_NB) until that one unlocks or closes.

use super::{Args, Ctx, Stop, SyscallResult, Wait};
use crate::abi::constants::{LOCK_EX, LOCK_NB, LOCK_SH, LOCK_UN};
use crate::abi::Errno;
use crate::kernel::fds::Object;
use crate::kernel::flocks::Taken;
use rustix::fd::AsFd;

/// Report key of flock on a descriptor with no file behind it.
const REPORT_NO_FILE: u64 = u64::MAX - 42;

pub fn flock(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (fd, op) = (a[0], a[1] as u32);
    let obj = ctx.process.fds.get(fd)?;
    let host = match &*obj {
        Object::File(f) => f.fd.as_fd(),
        Object::Dir(d) => d.fd.as_fd(),
        Object::Stdio { host, .. } => host.as_fd(),
        Object::Socket(s) => s.fd.as_fd(),
        _ => {
            if ctx.kernel.reports.first(REPORT_NO_FILE) {
                crate::say!(
                    "runner: flock on a pipe, eventfd, epoll, timerfd, signalfd, pidfd or /dev device is not emulated; returned EINVAL"
                );
            }
            return Err(Errno::INVAL.into());
        }
    };
    let stat = rustix::fs::fstat(host)?;
    let file = (stat.st_dev, stat.st_ino);
    let exclusive = match op & !LOCK_NB {
        LOCK_UN => {
            ctx.kernel.flocks.unlock(file, &obj);
            return Ok(0);
        }
        LOCK_SH => false,
        LOCK_EX => true,
        _ => return Err(Errno::INVAL.into()),
    };
    match ctx.kernel.flocks.lock(file, &obj, exclusive) {
        Taken::Held => Ok(0),
        Taken::NoRoom => Err(Errno::NOLCK.into()),
        Taken::Conflict if op & LOCK_NB != 0 => Err(Errno::WOULDBLOCK.into()),
        // Until another description unlocks or closes (a syscall, or a
        // process's end, wakes this one to try again).
        Taken::Conflict => Err(Stop::Block(Wait::Retry)),
    }
}

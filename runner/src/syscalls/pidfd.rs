//! pidfd_open and pidfd_send_signal: descriptors that name a process of
//! the sandbox (kernel/pidfd.rs). waitid(P_PIDFD) is in wait.rs, clone's
//! CLONE_PIDFD in run/processes.rs. pidfd_getfd stays refused (it takes a
//! descriptor out of another process, which needs ptrace rights).

use super::signals::kill;
use super::{Args, Ctx, Stop, SyscallResult};
use crate::abi::constants::{NSIG, O_NONBLOCK};
use crate::abi::Errno;
use crate::kernel::fds::Object;
use crate::kernel::pidfd::PidFd;
use crate::kernel::pipe_buffer::next_id;
use std::sync::Arc;

/// pidfd_open(pid, flags): a close-on-exec pidfd for process `pid` (a
/// live process or a zombie not yet reaped; ESRCH otherwise). The only
/// flag is PIDFD_NONBLOCK (O_NONBLOCK): waitid then answers EAGAIN
/// instead of waiting.
pub fn pidfd_open(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (pid, flags) = (a[0] as i32 as i64, a[1]);
    if flags & !u64::from(O_NONBLOCK) != 0 || pid <= 0 {
        return Err(Errno::INVAL.into());
    }
    let Some(entry) = ctx.kernel.procs.get(pid as u64) else {
        return Err(Errno::SRCH.into());
    };
    let fd = PidFd::new(
        pid as u64,
        entry.group.clone(),
        flags & u64::from(O_NONBLOCK) != 0,
        next_id(),
    );
    Ok(ctx
        .process
        .fds
        .insert(Arc::new(Object::PidFd(Arc::new(fd))), true, 0)?)
}

/// The process a pidfd names, if `fd` is one (EBADF otherwise, as Linux).
pub fn target(ctx: &Ctx<'_>, fd: u64) -> Result<Arc<PidFd>, Stop> {
    match &*ctx.process.fds.get(fd)? {
        Object::PidFd(p) => Ok(p.clone()),
        _ => Err(Errno::BADF.into()),
    }
}

/// pidfd_send_signal(pidfd, sig, info, flags): as kill(pid, sig) to the
/// process the pidfd names; ESRCH once it has ended. A siginfo of the
/// caller's own (`info` not NULL) is refused with EINVAL and a report.
pub fn pidfd_send_signal(ctx: &mut Ctx<'_>, a: &Args) -> SyscallResult {
    let (fd, sig, info, flags) = (a[0], a[1], a[2], a[3]);
    let p = target(ctx, fd)?;
    if flags != 0 || sig > NSIG as u64 {
        return Err(Errno::INVAL.into());
    }
    if info != 0 {
        if ctx.kernel.reports.first(REPORT_SIGINFO) {
            crate::say!(
                "runner: pidfd_send_signal with a siginfo of the program's own is not supported; returned EINVAL"
            );
        }
        return Err(Errno::INVAL.into());
    }
    if p.ended() {
        return Err(Errno::SRCH.into());
    }
    kill(ctx, &[p.pid, sig, 0, 0, 0, 0])
}

/// Report key of the refused siginfo.
const REPORT_SIGINFO: u64 = u64::MAX - 40;

//! ioctl requests on a lent terminal (policy `stdio.terminal`): a standard
//! stream whose host descriptor is a terminal. Settings, window size,
//! flush, flow and pending input go to the host terminal as the kernel's
//! own structures (thinvisor-kmod's `terminal`); the foreground process
//! group and session are the sandbox's (`kernel::terminal`). Without a
//! lent terminal, or on anything else, every request is ENOTTY.

use super::{Ctx, SyscallResult};
use crate::abi::Errno;
use crate::kernel::fds::Object;
use crate::tunnel::GuestPtr;
use std::os::fd::AsFd;
use thinvisor_kmod::terminal::{
    self as host, Apply, FIONREAD, TCFLSH, TCGETS, TCXONC, TIOCGWINSZ, TIOCSWINSZ,
};

// include/uapi/asm-generic/ioctls.h: the requests answered here.
const TCSBRK: u64 = 0x5409;
const TIOCSCTTY: u64 = 0x540E;
const TIOCGPGRP: u64 = 0x540F;
const TIOCSPGRP: u64 = 0x5410;
const TIOCNOTTY: u64 = 0x5422;
const TIOCGSID: u64 = 0x5429;

/// Whether `request` is one this module answers.
pub fn is_terminal_request(request: u64) -> bool {
    Apply::of_request(request).is_some()
        || matches!(
            request,
            TCGETS
                | TCXONC
                | TCFLSH
                | TIOCGWINSZ
                | TIOCSWINSZ
                | FIONREAD
                | TCSBRK
                | TIOCSCTTY
                | TIOCGPGRP
                | TIOCSPGRP
                | TIOCNOTTY
                | TIOCGSID
        )
}

fn host_errno(e: &std::io::Error) -> Errno {
    Errno::from_io_error(e).unwrap_or(Errno::IO)
}

/// ioctl `request` (one [`is_terminal_request`] accepts) with argument
/// `arg` on `obj`.
pub fn ioctl(ctx: &mut Ctx<'_>, obj: &Object, request: u64, arg: u64) -> SyscallResult {
    let (Some(term), Object::Stdio { host: fd, .. }) = (ctx.kernel.terminal, obj) else {
        return Err(Errno::NOTTY.into());
    };
    let fd = fd.as_fd();
    // Every request, the sandbox's own included, needs a terminal there.
    let settings = host::settings(fd).map_err(|e| host_errno(&e))?;
    let ptr = GuestPtr::new(arg);
    let fault = |_| Errno::FAULT;
    match request {
        TCGETS => ctx.tunnel().write(ptr, &settings).map_err(fault)?,
        TIOCGWINSZ => {
            let size = host::window_size(fd).map_err(|e| host_errno(&e))?;
            ctx.tunnel().write(ptr, &size).map_err(fault)?;
        }
        TIOCSWINSZ => {
            let mut size = [0u8; host::WINSIZE_BYTES];
            ctx.tunnel().read(ptr, &mut size).map_err(fault)?;
            host::set_window_size(fd, &size).map_err(|e| host_errno(&e))?;
        }
        FIONREAD => {
            let n = host::pending_input(fd).map_err(|e| host_errno(&e))?;
            ctx.tunnel().write(ptr, &n.to_le_bytes()).map_err(fault)?;
        }
        TCFLSH | TCXONC => {
            let value = u32::try_from(arg).map_err(|_| Errno::INVAL)?;
            host::control(fd, request, value).map_err(|e| host_errno(&e))?;
        }
        // tcdrain and tcsendbreak: the runner's writes to the terminal
        // are done when the guest's write returns; a break means nothing
        // to a pseudo-terminal.
        TCSBRK => {}
        TIOCGPGRP => write_i32(ctx, ptr, term.foreground)?,
        TIOCGSID => write_i32(ctx, ptr, term.session)?,
        TIOCSPGRP => {
            let mut v = [0u8; 4];
            ctx.tunnel().read(ptr, &mut v).map_err(fault)?;
            set_foreground(ctx, term.session, i32::from_le_bytes(v))?;
        }
        // The terminal is the first session's controlling terminal from
        // the start; another session cannot take it.
        TIOCSCTTY => {
            if session_of(ctx, ctx.process.identity.pid) != Some(term.session) {
                return Err(Errno::PERM.into());
            }
        }
        TIOCNOTTY => {}
        _ => match Apply::of_request(request) {
            Some(when) => {
                let mut new = [0u8; host::TERMIOS_BYTES];
                ctx.tunnel().read(ptr, &mut new).map_err(fault)?;
                host::set_settings(fd, when, &new).map_err(|e| host_errno(&e))?;
            }
            None => return Err(Errno::NOTTY.into()),
        },
    }
    Ok(0)
}

fn write_i32(ctx: &mut Ctx<'_>, ptr: GuestPtr, value: u64) -> Result<(), Errno> {
    let v = i32::try_from(value).map_err(|_| Errno::INVAL)?;
    ctx.tunnel()
        .write(ptr, &v.to_le_bytes())
        .map_err(|_| Errno::FAULT)
}

fn session_of(ctx: &Ctx<'_>, pid: u64) -> Option<u64> {
    ctx.kernel.procs.get(pid).map(|e| e.sid)
}

/// tcsetpgrp: as Linux, EINVAL for a negative group, EPERM for a caller
/// outside the terminal's session or a group in another, ESRCH for a
/// group with no live member.
fn set_foreground(ctx: &mut Ctx<'_>, session: u64, pgrp: i32) -> Result<(), Errno> {
    let pgrp = u64::try_from(pgrp).map_err(|_| Errno::INVAL)?;
    if session_of(ctx, ctx.process.identity.pid) != Some(session) {
        return Err(Errno::NOTTY);
    }
    let members = ctx.kernel.procs.group_members(pgrp);
    let Some(&member) = members.first() else {
        return Err(Errno::SRCH);
    };
    if session_of(ctx, member) != Some(session) {
        return Err(Errno::PERM);
    }
    if let Some(t) = ctx.kernel.terminal.as_mut() {
        t.foreground = pgrp;
    }
    Ok(())
}

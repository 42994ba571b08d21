//! Process-wide signal dispositions the runner sets before it locks itself
//! down (no safe wrapper for `sigaction` exists in the crates it uses).

use std::io;

/// Ignores SIGXFSZ for the whole process, so that a write past
/// `RLIMIT_FSIZE` fails with `EFBIG` instead of killing the process.
pub fn ignore_file_size_signal() -> io::Result<()> {
    // SAFETY: SIG_IGN installs no handler code, so no async-signal-safety
    // question arises; `signal` only replaces SIGXFSZ's disposition, which
    // nothing else in this process relies on.
    let previous = unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    if previous == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes the kernel send the vCPU kick signal ([`crate::interrupt::KICK_SIGNAL`])
/// to the calling thread whenever `fd` becomes readable or its peer hangs
/// up (O_ASYNC with F_SETOWN_EX to this thread and F_SETSIG). A run on
/// this thread then returns `VmExit::Interrupted`, as for a kick; the
/// caller finds out why by polling `fd`. `runner serve` uses it to stop a
/// run whose client has gone away.
pub fn kick_on_input(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let raw = fd.as_raw_fd();
    // include/uapi/asm-generic/fcntl.h (the libc crate lacks them).
    #[repr(C)]
    struct FOwnerEx {
        type_: libc::c_int,
        pid: libc::pid_t,
    }
    const F_SETOWN_EX: libc::c_int = 15;
    const F_OWNER_TID: libc::c_int = 0;
    const F_SETSIG: libc::c_int = 10;
    let owner = FOwnerEx {
        type_: F_OWNER_TID,
        pid: crate::interrupt::owner_tid(),
    };
    let check = |r: libc::c_int| {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    };
    // SAFETY: `raw` is a descriptor borrowed for the duration of the call;
    // F_SETOWN_EX reads the `f_owner_ex` passed by pointer, valid for the
    // call; F_SETSIG, F_GETFL and F_SETFL take integers. None of them
    // touches memory of this process beyond that.
    unsafe {
        check(libc::fcntl(raw, F_SETOWN_EX, &owner as *const FOwnerEx))?;
        check(libc::fcntl(raw, F_SETSIG, crate::interrupt::KICK_SIGNAL))?;
        let flags = check(libc::fcntl(raw, libc::F_GETFL))?;
        check(libc::fcntl(raw, libc::F_SETFL, flags | libc::O_ASYNC))?;
    }
    crate::interrupt::install_kick_handler();
    Ok(())
}

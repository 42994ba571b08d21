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

/// The write end of [`relay`]'s pipe, for its signal handler (-1: none).
static RELAY_FD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// Writes the signal's number, one byte, to the relay pipe: `write` is
/// async-signal-safe, and errno is kept for the interrupted code. A full
/// pipe drops the byte (the pipe is nonblocking).
extern "C" fn on_relayed(sig: libc::c_int) {
    let fd = RELAY_FD.load(std::sync::atomic::Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    let byte = sig as u8;
    // SAFETY: errno is thread-local and read and restored around the
    // write; `byte` lives for the call; a bad `fd` only makes write fail.
    unsafe {
        let errno = *libc::__errno_location();
        let _ = libc::write(fd, (&byte as *const u8).cast(), 1);
        *libc::__errno_location() = errno;
    }
}

/// Catches `signals` for the whole process: instead of their default
/// action, each one that arrives is written, as one byte holding its
/// number, to a pipe whose read end is returned (nonblocking, close-on-
/// exec). Calls interrupted by them restart (SA_RESTART). The OCI runtime
/// uses it to pass signals sent to the container's process on to the
/// guest. Once per process; the kick signal cannot be among them.
pub fn relay(signals: &[libc::c_int]) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    if signals.contains(&crate::interrupt::KICK_SIGNAL) {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 returned two new descriptors that nothing else owns;
    // the read end is owned by the returned OwnedFd, the write end stays
    // open for the life of the process (the handler's).
    let read = unsafe { std::os::fd::OwnedFd::from_raw_fd(fds[0]) };
    if RELAY_FD
        .compare_exchange(
            -1,
            fds[1],
            std::sync::atomic::Ordering::SeqCst,
            std::sync::atomic::Ordering::SeqCst,
        )
        .is_err()
    {
        // SAFETY: fds[1] is ours and unused.
        unsafe { libc::close(fds[1]) };
        return Err(io::Error::from(io::ErrorKind::AlreadyExists));
    }
    for &sig in signals {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask"
        // value; the handler only calls write (async-signal-safe).
        let r = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_relayed as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut())
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(read)
}

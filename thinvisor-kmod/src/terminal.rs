//! A host terminal lent to the guest (the runner's policy
//! `stdio.terminal`): its line settings and window size in the kernel's own
//! layouts, as bytes, so that the guest's TCGETS, TCSETS and TIOCGWINSZ
//! see exactly what Linux would hand a native program. rustix converts to
//! and from `termios2` and has no raw request, hence this module.
//!
//! Only the requests in [`TERMINAL_IOCTLS`] exist here; TIOCSTI (typing
//! into the terminal), TIOCSCTTY and the rest are never issued for a guest.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// `struct termios` of include/uapi/asm-generic/termbits.h: four flag
/// words, the line discipline and 19 control characters.
pub const TERMIOS_BYTES: usize = 36;

/// `struct winsize`: rows, columns, and two pixel sizes, each a u16.
pub const WINSIZE_BYTES: usize = 8;

// include/uapi/asm-generic/ioctls.h
pub const TCGETS: u64 = 0x5401;
pub const TCSETS: u64 = 0x5402;
pub const TCSETSW: u64 = 0x5403;
pub const TCSETSF: u64 = 0x5404;
pub const TCXONC: u64 = 0x540A;
pub const TCFLSH: u64 = 0x540B;
pub const TIOCGWINSZ: u64 = 0x5413;
pub const TIOCSWINSZ: u64 = 0x5414;
pub const FIONREAD: u64 = 0x541B;

/// Every request this module issues but FIONREAD, with its C name (the
/// runner's seccomp filter allows `ioctl` with exactly these when a
/// terminal is lent; FIONREAD, which only counts the bytes waiting on a
/// descriptor, it allows on every descriptor: inotify instances need it
/// too).
pub const TERMINAL_IOCTLS: &[(&str, u64)] = &[
    ("TCGETS", TCGETS),
    ("TCSETS", TCSETS),
    ("TCSETSW", TCSETSW),
    ("TCSETSF", TCSETSF),
    ("TCXONC", TCXONC),
    ("TCFLSH", TCFLSH),
    ("TIOCGWINSZ", TIOCGWINSZ),
    ("TIOCSWINSZ", TIOCSWINSZ),
];

/// When TCSETS* applies new settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Apply {
    /// TCSETS: at once.
    Now,
    /// TCSETSW: once the output written so far has gone.
    Drain,
    /// TCSETSF: as Drain, and pending input is dropped.
    Flush,
}

impl Apply {
    /// The TCSETS* request `request`, if it is one.
    pub fn of_request(request: u64) -> Option<Apply> {
        match request {
            TCSETS => Some(Apply::Now),
            TCSETSW => Some(Apply::Drain),
            TCSETSF => Some(Apply::Flush),
            _ => None,
        }
    }

    fn request(self) -> u64 {
        match self {
            Apply::Now => TCSETS,
            Apply::Drain => TCSETSW,
            Apply::Flush => TCSETSF,
        }
    }
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The terminal's settings (TCGETS); ENOTTY when `fd` is no terminal.
pub fn settings(fd: BorrowedFd<'_>) -> io::Result<[u8; TERMIOS_BYTES]> {
    let mut out = [0u8; TERMIOS_BYTES];
    // SAFETY: TCGETS writes one `struct termios` (TERMIOS_BYTES bytes on
    // every Linux architecture using asm-generic's termbits) through the
    // pointer, which points at a buffer of exactly that size that lives
    // for the call; `fd` is borrowed for the call.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), TCGETS as _, out.as_mut_ptr()) })?;
    Ok(out)
}

/// Sets the terminal's settings (TCSETS, TCSETSW or TCSETSF).
pub fn set_settings(
    fd: BorrowedFd<'_>,
    when: Apply,
    settings: &[u8; TERMIOS_BYTES],
) -> io::Result<()> {
    // SAFETY: TCSETS* reads one `struct termios` (TERMIOS_BYTES bytes)
    // through the pointer, valid for the call; nothing is written.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), when.request() as _, settings.as_ptr()) })
}

/// The terminal's window size (TIOCGWINSZ).
pub fn window_size(fd: BorrowedFd<'_>) -> io::Result<[u8; WINSIZE_BYTES]> {
    let mut out = [0u8; WINSIZE_BYTES];
    // SAFETY: TIOCGWINSZ writes one `struct winsize` (WINSIZE_BYTES bytes)
    // into the buffer, which is that large and lives for the call.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), TIOCGWINSZ as _, out.as_mut_ptr()) })?;
    Ok(out)
}

/// Sets the terminal's window size (TIOCSWINSZ); the kernel sends SIGWINCH
/// to the terminal's foreground process group when it changes.
pub fn set_window_size(fd: BorrowedFd<'_>, size: &[u8; WINSIZE_BYTES]) -> io::Result<()> {
    // SAFETY: TIOCSWINSZ reads one `struct winsize` (WINSIZE_BYTES bytes)
    // from the buffer, valid for the call.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), TIOCSWINSZ as _, size.as_ptr()) })
}

/// The bytes of input waiting to be read (FIONREAD).
pub fn pending_input(fd: BorrowedFd<'_>) -> io::Result<u32> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer, which points
    // at `n`, alive for the call.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), FIONREAD as _, &mut n as *mut libc::c_int) })?;
    Ok(n.unsigned_abs())
}

/// TCFLSH (`queue`: TCIFLUSH 0, TCOFLUSH 1, TCIOFLUSH 2) or TCXONC
/// (`action`: TCOOFF 0 ... TCION 3), whose argument is an integer, not a
/// pointer; any other request is refused here with EINVAL.
pub fn control(fd: BorrowedFd<'_>, request: u64, value: u32) -> io::Result<()> {
    if request != TCFLSH && request != TCXONC {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: TCFLSH and TCXONC take their argument by value (an int the
    // kernel range-checks) and touch no memory of this process.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), request as _, value as libc::c_ulong) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_the_c_structures() {
        assert_eq!(std::mem::size_of::<libc::winsize>(), WINSIZE_BYTES);
        assert_eq!(libc::TCGETS, TCGETS);
        assert_eq!(libc::TCSETS, TCSETS);
        assert_eq!(libc::TCSETSW, TCSETSW);
        assert_eq!(libc::TCSETSF, TCSETSF);
        assert_eq!(libc::TCXONC, TCXONC);
        assert_eq!(libc::TCFLSH, TCFLSH);
        assert_eq!(libc::TIOCGWINSZ, TIOCGWINSZ);
        assert_eq!(libc::TIOCSWINSZ, TIOCSWINSZ);
        assert_eq!(libc::FIONREAD, FIONREAD);
    }

    #[test]
    fn a_pipe_is_no_terminal() {
        let (r, _w) = std::io::pipe().expect("pipe");
        use std::os::fd::AsFd;
        let e = settings(r.as_fd()).expect_err("a pipe has no settings");
        assert_eq!(e.raw_os_error(), Some(libc::ENOTTY));
        let e = control(r.as_fd(), TIOCGWINSZ, 0).expect_err("not a control request");
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    }
}

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

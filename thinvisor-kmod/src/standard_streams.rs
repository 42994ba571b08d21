//! Replacing this process's standard streams with descriptors it received
//! (a `runner serve` worker takes on its client's), by `dup3`: the
//! locked-down runner's filter allows `dup3` (the guest's dup2/dup3) but
//! not `dup2`, which is what rustix's `dup2_stdin` and its kin call on
//! x86-64, and a worker locked down before its request
//! (`runner serve --policy`) takes the streams on after its lock-down.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Which standard stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
}

/// Makes `stream` a duplicate of `fd` (not close-on-exec, as a standard
/// stream is); nothing changes when `fd` already is that descriptor.
pub fn take_on(fd: BorrowedFd<'_>, stream: Stream) -> io::Result<()> {
    let (from, to) = (fd.as_raw_fd(), stream as libc::c_int);
    if from == to {
        return Ok(());
    }
    // SAFETY: dup3 reads no memory of this process; `from` is a
    // descriptor borrowed for the call, and `to` is 0, 1 or 2, whose old
    // description the kernel closes atomically, as dup2 does. No Rust
    // object owns descriptors 0-2 except std's stdio handles, which keep
    // referring to whatever the number now holds (the point of the call).
    let r = unsafe { libc::dup3(from, to, 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

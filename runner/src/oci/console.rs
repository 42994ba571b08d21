//! `process.terminal`: a pseudo-terminal made for the container, its
//! master handed to whoever drives the container (the runc shim, which
//! relays it to `ctr run -t` or a CRI client's TTY) through the console
//! socket, as runc does: one `SCM_RIGHTS` message carrying the master,
//! with the terminal's path as the message's bytes. The container process
//! gets the other end as its three standard streams and controlling
//! terminal; the policy lends it to the guest (`stdio.terminal`).

use super::OciError;
use rustix::fd::{AsFd, OwnedFd};
use rustix::pty::OpenptFlags;
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Makes a terminal of `size` (`process.consoleSize`: rows, columns), sends
/// its master to the console socket at `socket`, and returns the other
/// end.
pub fn make(socket: &Path, size: Option<(u16, u16)>) -> Result<OwnedFd, OciError> {
    let fail =
        |what: &str, e: rustix::io::Errno| OciError::Init(format!("the terminal: {what}: {e}"));
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .map_err(|e| fail("openpt", e))?;
    rustix::pty::grantpt(&master).map_err(|e| fail("grantpt", e))?;
    rustix::pty::unlockpt(&master).map_err(|e| fail("unlockpt", e))?;
    let name = rustix::pty::ptsname(&master, Vec::new()).map_err(|e| fail("ptsname", e))?;
    if let Some((rows, columns)) = size {
        let winsize = rustix::termios::Winsize {
            ws_row: rows,
            ws_col: columns,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&master, winsize).map_err(|e| fail("its size", e))?;
    }
    let peer = rustix::pty::ioctl_tiocgptpeer(
        &master,
        OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC,
    )
    .map_err(|e| fail("its other end", e))?;
    send(socket, &master, name.as_bytes())?;
    Ok(peer)
}

/// Sends `master` with `name` to the console socket.
fn send(socket: &Path, master: &OwnedFd, name: &[u8]) -> Result<(), OciError> {
    use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let fail = |e: String| OciError::Init(format!("console socket {}: {e}", socket.display()));
    let stream = UnixStream::connect(socket).map_err(|e| fail(e.to_string()))?;
    let fds = [master.as_fd()];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(fail("no room for the descriptor".into()));
    }
    let sent = sendmsg(
        &stream,
        &[std::io::IoSlice::new(name)],
        &mut control,
        SendFlags::empty(),
    )
    .map_err(|e| fail(e.to_string()))?;
    if sent != name.len() {
        return Err(fail(format!("sent {sent} of {} bytes", name.len())));
    }
    Ok(())
}

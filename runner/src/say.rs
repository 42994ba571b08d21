//! The runner's own lines on its stderr (`runner: ...`): death lines,
//! refusal reports, errors. Its stderr is whatever the operator gave it,
//! and the guest may share it: a pipe nobody reads, a closed pipe, a file
//! the guest has `lseek`ed past RLIMIT_FSIZE. So a line waits at most
//! [`WAIT`] for room (a line shorter than PIPE_BUF then goes out whole
//! without blocking), and a line that cannot be written is dropped: the
//! runner's output never holds a run past its deadline, never fails it,
//! never panics (which `eprintln!` does when the write fails).

use std::io::Write;
use std::os::fd::AsFd;
use std::time::Duration;

/// The longest a line waits for room on the runner's stderr.
pub const WAIT: Duration = Duration::from_millis(250);

/// Writes `args` and a newline to the runner's stderr, if it can within
/// [`WAIT`]; returns whether the line went out.
pub fn line(args: std::fmt::Arguments<'_>) -> bool {
    let mut text = args.to_string();
    text.push('\n');
    write_within(std::io::stderr(), text.as_bytes())
}

/// Writes `bytes` to `stream` if it has room within [`WAIT`] (a write
/// shorter than PIPE_BUF then goes out whole without blocking); returns
/// whether they went out. The trace (`--trace`) writes its lines so too.
pub fn write_within(stream: std::io::Stderr, bytes: &[u8]) -> bool {
    let timeout = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: WAIT.as_nanos() as i64,
    };
    {
        let fd = stream.as_fd();
        let mut pfd = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::OUT,
        )];
        match rustix::event::poll(&mut pfd, Some(&timeout)) {
            Ok(n) if n > 0 => {
                let bad = rustix::event::PollFlags::ERR
                    | rustix::event::PollFlags::HUP
                    | rustix::event::PollFlags::NVAL;
                if pfd[0].revents().intersects(bad) {
                    return false;
                }
            }
            // Full for the whole wait, or poll failed: dropped.
            _ => return false,
        }
    }
    let mut lock = stream.lock();
    lock.write_all(bytes).is_ok()
}

/// `say!("...", args)`: one line of the runner's own on its stderr, as
/// [`line`] writes it (formatted like `eprintln!`, but never blocking
/// long and never panicking).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = $crate::say::line(format_args!($($arg)*));
    }};
}

/// Writes `text` to stdout. A reader that stopped reading (`runner info |
/// head -1`) is no error, as for any Unix tool; `println!` would panic.
pub fn out(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// `out!("...", args)`: one line on stdout, as [`out`] writes it
/// (formatted like `println!`, but never panicking).
#[macro_export]
macro_rules! out {
    () => {
        $crate::say::out("\n")
    };
    ($($arg:tt)*) => {{
        let mut text = format!($($arg)*);
        text.push('\n');
        $crate::say::out(&text);
    }};
}

/// Makes a panic, should one ever happen, end the runner with status 125
/// (the runner failed) and one line, instead of Rust's default report
/// (which reads the working directory, a call the locked-down runner may
/// not make: the kernel would kill it with SIGSYS, and the run would be
/// reported as a policy kill). Installed before anything else runs.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_owned());
        let _ = line(format_args!("runner: internal error: {what}{at}"));
        std::process::exit(crate::exit_status::RUNNER_FAILED);
    }));
}

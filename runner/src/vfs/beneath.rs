//! `openat2` beneath a rule's root, as every guest path is opened.
//!
//! With `RESOLVE_BENEATH`, Linux fails a lookup that crosses `..` with
//! `EAGAIN` when a rename or mount anywhere on the host raced with it (it
//! could not vouch that the `..` stayed beneath the root; openat2(2): "the
//! caller may choose to retry"). Such a race is someone else's, not the
//! guest's, and Linux's own `open` never answers it with `EAGAIN`: a guest
//! path with `..` in it (`cat d/up`, a link to `../target`) failed now and
//! then while other processes renamed files. So the lookup is tried again;
//! after [`TRIES`] races in a row (a host renaming without pause, or the
//! guest's own threads renaming in a loop), `EAGAIN` stands. The race
//! fails the walk before anything is created or truncated, so trying
//! again has no effect of its own.

use crate::abi::Errno;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use std::path::Path;

/// How many lookups in a row may race before `EAGAIN` is answered.
const TRIES: usize = 64;

/// `openat2(dir, path, flags, mode, resolve)`, tried again while its
/// lookup races. An `EAGAIN` can also be the open's own answer (a lease
/// being broken, a device that would block, with the `O_NONBLOCK` guest
/// opens carry): then the path is looked up alone (`O_PATH`, which never
/// waits), and when that lookup does not race, the open is tried once
/// more, and its second `EAGAIN` stands. No device is opened more than
/// twice for one guest `open`.
pub fn openat2<Fd: AsFd>(
    dir: Fd,
    path: &Path,
    flags: OFlags,
    mode: Mode,
    resolve: ResolveFlags,
) -> Result<OwnedFd, Errno> {
    let lookup = OFlags::PATH | OFlags::CLOEXEC | (flags & (OFlags::NOFOLLOW | OFlags::DIRECTORY));
    let mut the_open_said_it = false;
    for _ in 0..TRIES {
        match rustix::fs::openat2(dir.as_fd(), path, flags, mode, resolve) {
            Err(Errno::AGAIN) => {}
            r => return r,
        }
        if flags.contains(OFlags::PATH) {
            continue; // an O_PATH open's EAGAIN is its lookup's
        }
        match rustix::fs::openat2(dir.as_fd(), path, lookup, Mode::empty(), resolve) {
            Err(Errno::AGAIN) => {} // the lookup races: again
            _ if the_open_said_it => return Err(Errno::AGAIN),
            _ => the_open_said_it = true,
        }
    }
    Err(Errno::AGAIN)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]

    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// A lookup through `..` beneath a root, while another thread renames
    /// a file elsewhere without pause (the host's rename lock moving under
    /// the lookup), is answered every time.
    #[test]
    fn a_lookup_through_dotdot_survives_renames_elsewhere() {
        let base = std::env::temp_dir().join(format!("thinvisor-beneath-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("root/d")).expect("dirs");
        std::fs::write(base.join("root/target"), "t").expect("target");
        std::fs::create_dir_all(base.join("elsewhere")).expect("dir");
        let root = rustix::fs::open(
            base.join("root"),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .expect("root");
        let stop = Arc::new(AtomicBool::new(false));
        let renamer = {
            let stop = stop.clone();
            let (a, b) = (base.join("elsewhere/a"), base.join("elsewhere/b"));
            std::fs::write(&a, "x").expect("a");
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let (from, to) = if n.is_multiple_of(2) {
                        (&a, &b)
                    } else {
                        (&b, &a)
                    };
                    std::fs::rename(from, to).expect("rename");
                    n += 1;
                }
                n
            })
        };
        let beneath = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        for _ in 0..20_000 {
            openat2(
                &root,
                Path::new("d/../target"),
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
                beneath,
            )
            .expect("answered despite the renames");
        }
        stop.store(true, Ordering::Relaxed);
        assert!(renamer.join().expect("renamer") > 0);
        std::fs::remove_dir_all(&base).expect("clean");
    }
}

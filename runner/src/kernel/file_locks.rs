//! POSIX record locks (`fcntl` F_SETLK, F_SETLKW, F_GETLK) between the
//! sandbox's processes.
//!
//! Every guest process lives in the one runner process, so host locks
//! would never conflict between guest processes (POSIX locks belong to a
//! host process): the runner keeps the locks itself, per file (the host's
//! device and inode numbers) and per guest process, with Linux's rules:
//!
//! - A read lock conflicts with another process's write lock over any
//!   common byte; a write lock with any other process's lock. A process
//!   never conflicts with itself: its new lock replaces what it held over
//!   the range (splitting, merging by replacement), `F_UNLCK` removes it.
//! - A range is `[start, start + len)`, `len == 0` meaning "to the end of
//!   any file" (a negative `len` covers the bytes before `start`).
//! - A process's locks on a file go when it closes any descriptor of the
//!   file, and all of them when it exits.
//!
//! At most [`MAX_LOCKS`] locks are held in the sandbox at once (each
//! split of a range is one more): a lock past that is ENOLCK, as Linux
//! answers when it has no memory for one, so a program cannot grow the
//! runner's memory without bound by locking every other byte of a file.
//!
//! Lives in the Kernel, under the kernel lock (run/threads.rs).

use std::collections::HashMap;

/// The most locks the sandbox holds at once.
pub const MAX_LOCKS: usize = 16384;

/// A file, as the host names it: (device, inode).
pub type FileKey = (u64, u64);

/// One held lock: `[start, end)` (end `u64::MAX`: to the end of any file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lock {
    pub pid: u64,
    pub start: u64,
    pub end: u64,
    pub write: bool,
}

impl Lock {
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.start < end && start < self.end
    }
}

/// Every lock held in the sandbox.
#[derive(Debug, Default)]
pub struct FileLocks {
    by_file: HashMap<FileKey, Vec<Lock>>,
    /// Locks held, over every file.
    held: usize,
}

impl FileLocks {
    /// Another process's lock that a lock of `want` would conflict with.
    pub fn conflict(&self, file: FileKey, want: &Lock) -> Option<Lock> {
        self.by_file.get(&file)?.iter().copied().find(|l| {
            l.pid != want.pid && l.overlaps(want.start, want.end) && (l.write || want.write)
        })
    }

    /// Sets (`Some(write)`) or removes (`None`) `pid`'s lock over
    /// `[start, end)`, replacing what it held there. The caller checked
    /// [`FileLocks::conflict`].
    /// ENOLCK, changing nothing, when the sandbox would hold more than
    /// [`MAX_LOCKS`].
    pub fn set(
        &mut self,
        file: FileKey,
        pid: u64,
        start: u64,
        end: u64,
        write: Option<bool>,
    ) -> Result<(), crate::abi::Errno> {
        // At worst one lock is split in two and one is added.
        if write.is_some() && self.held + 2 > MAX_LOCKS {
            return Err(crate::abi::Errno::NOLCK);
        }
        let locks = self.by_file.entry(file).or_default();
        let before = locks.len();
        let mut kept = Vec::with_capacity(locks.len() + 2);
        for l in locks.drain(..) {
            if l.pid != pid || !l.overlaps(start, end) {
                kept.push(l);
                continue;
            }
            if l.start < start {
                kept.push(Lock { end: start, ..l });
            }
            if end < l.end {
                kept.push(Lock { start: end, ..l });
            }
        }
        if let Some(write) = write {
            kept.push(Lock {
                pid,
                start,
                end,
                write,
            });
        }
        self.held = self.held + kept.len() - before;
        if kept.is_empty() {
            self.by_file.remove(&file);
        } else {
            *locks = kept;
        }
        Ok(())
    }

    /// `pid` closed a descriptor of `file`: its locks there go.
    pub fn close(&mut self, file: FileKey, pid: u64) {
        // Removing never fails.
        let _ = self.set(file, pid, 0, u64::MAX, None);
    }

    /// `pid` is gone: all its locks go.
    pub fn exit(&mut self, pid: u64) {
        let mut held = 0;
        self.by_file.retain(|_, locks| {
            locks.retain(|l| l.pid != pid);
            held += locks.len();
            !locks.is_empty()
        });
        self.held = held;
    }

    /// `pid`'s locks (for tests and `/proc`-like views), sorted by start.
    pub fn held_by(&self, file: FileKey, pid: u64) -> Vec<Lock> {
        let mut v: Vec<Lock> = self
            .by_file
            .get(&file)
            .map(|ls| ls.iter().copied().filter(|l| l.pid == pid).collect())
            .unwrap_or_default();
        v.sort_by_key(|l| l.start);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: FileKey = (1, 2);

    fn lock(pid: u64, start: u64, end: u64, write: bool) -> Lock {
        Lock {
            pid,
            start,
            end,
            write,
        }
    }

    #[test]
    fn readers_share_and_writers_exclude_other_processes() {
        let mut t = FileLocks::default();
        t.set(F, 1, 0, 100, Some(false)).expect("set");
        assert_eq!(t.conflict(F, &lock(2, 50, 60, false)), None);
        assert_eq!(
            t.conflict(F, &lock(2, 50, 60, true)),
            Some(lock(1, 0, 100, false))
        );
        // Its own locks never conflict.
        assert_eq!(t.conflict(F, &lock(1, 0, 10, true)), None);
        assert_eq!(t.conflict(F, &lock(2, 100, 200, true)), None);
        t.set(F, 2, 100, u64::MAX, Some(true)).expect("set");
        assert!(t
            .conflict(F, &lock(1, 1 << 40, (1 << 40) + 1, false))
            .is_some());
    }

    #[test]
    fn a_new_lock_replaces_and_splits_the_processes_own() {
        let mut t = FileLocks::default();
        t.set(F, 1, 0, 100, Some(false)).expect("set");
        t.set(F, 1, 40, 60, Some(true)).expect("set");
        assert_eq!(
            t.held_by(F, 1),
            vec![
                lock(1, 0, 40, false),
                lock(1, 40, 60, true),
                lock(1, 60, 100, false)
            ]
        );
        t.set(F, 1, 50, 80, None).expect("set");
        assert_eq!(
            t.held_by(F, 1),
            vec![
                lock(1, 0, 40, false),
                lock(1, 40, 50, true),
                lock(1, 80, 100, false)
            ]
        );
    }

    #[test]
    fn the_number_of_locks_is_bounded() {
        let mut t = FileLocks::default();
        let mut n = 0;
        let refused = loop {
            // Every other byte: each lock stays one of its own.
            match t.set(F, 1, 2 * n, 2 * n + 1, Some(true)) {
                Ok(()) => n += 1,
                Err(e) => break e,
            }
        };
        assert_eq!(refused, crate::abi::Errno::NOLCK);
        assert!(
            n as usize <= MAX_LOCKS && n as usize >= MAX_LOCKS - 2,
            "{n}"
        );
        // Unlocking still works, and frees room.
        t.set(F, 1, 0, u64::MAX, None).expect("unlock");
        t.set(F, 1, 0, 1, Some(true)).expect("room again");
        t.exit(1);
        t.set(F, 2, 0, 1, Some(true)).expect("room after exit");
    }

    #[test]
    fn close_and_exit_release() {
        let mut t = FileLocks::default();
        t.set(F, 1, 0, 10, Some(true)).expect("set");
        t.set((3, 4), 1, 0, 10, Some(true)).expect("set");
        t.set(F, 2, 20, 30, Some(true)).expect("set");
        t.close(F, 1);
        assert!(t.held_by(F, 1).is_empty());
        assert_eq!(t.held_by((3, 4), 1).len(), 1);
        t.exit(1);
        assert!(t.held_by((3, 4), 1).is_empty());
        assert_eq!(t.held_by(F, 2).len(), 1);
    }
}

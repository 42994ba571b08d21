//! The guest's file-descriptor table: the runner's own numbering, never
//! host fd numbers. The foundation only knows the standard streams.

use super::pipe::PipeEnd;
use std::collections::BTreeSet;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};

/// What a guest descriptor refers to.
#[derive(Debug)]
pub enum FdEntry {
    /// A duplicate of the runner's stdin.
    Stdin(File),
    /// A duplicate of the runner's stdout.
    Stdout(File),
    /// A duplicate of the runner's stderr.
    Stderr(File),
    /// One end of a pipe inside the process (see `pipe.rs`).
    Pipe(PipeEnd),
}

impl FdEntry {
    pub fn readable(&mut self) -> Option<&mut File> {
        match self {
            FdEntry::Stdin(f) => Some(f),
            _ => None,
        }
    }
    pub fn writable(&mut self) -> Option<&mut File> {
        match self {
            FdEntry::Stdout(f) | FdEntry::Stderr(f) => Some(f),
            FdEntry::Stdin(_) | FdEntry::Pipe(_) => None,
        }
    }

    /// A new descriptor for the same open file (dup): host streams are
    /// duplicated on the host, pipe ends share their pipe.
    pub fn duplicate(&self) -> std::io::Result<FdEntry> {
        Ok(match self {
            FdEntry::Stdin(f) => FdEntry::Stdin(f.try_clone()?),
            FdEntry::Stdout(f) => FdEntry::Stdout(f.try_clone()?),
            FdEntry::Stderr(f) => FdEntry::Stderr(f.try_clone()?),
            FdEntry::Pipe(p) => FdEntry::Pipe(p.duplicate()),
        })
    }

    /// The host descriptor behind a standard stream (for poll), if any.
    pub fn host_fd(&self) -> Option<BorrowedFd<'_>> {
        match self {
            FdEntry::Stdin(f) | FdEntry::Stdout(f) | FdEntry::Stderr(f) => Some(f.as_fd()),
            FdEntry::Pipe(_) => None,
        }
    }
}

/// Guest fd number -> entry.
#[derive(Debug, Default)]
pub struct FdTable {
    entries: Vec<Option<FdEntry>>,
    /// Descriptors with FD_CLOEXEC (recorded; there is no exec).
    cloexec: BTreeSet<u64>,
}

impl FdTable {
    /// The three standard streams, each a duplicate of the runner's own (so
    /// the guest closing one never closes the runner's).
    pub fn with_stdio(stdin: bool, stdout: bool, stderr: bool) -> std::io::Result<FdTable> {
        let dup = |fd: std::os::fd::BorrowedFd<'_>| fd.try_clone_to_owned().map(File::from);
        Ok(FdTable {
            entries: vec![
                if stdin {
                    Some(FdEntry::Stdin(dup(std::io::stdin().as_fd())?))
                } else {
                    None
                },
                if stdout {
                    Some(FdEntry::Stdout(dup(std::io::stdout().as_fd())?))
                } else {
                    None
                },
                if stderr {
                    Some(FdEntry::Stderr(dup(std::io::stderr().as_fd())?))
                } else {
                    None
                },
            ],
            ..FdTable::default()
        })
    }

    pub fn get(&mut self, fd: u64) -> Option<&mut FdEntry> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.entries.get_mut(i))
            .and_then(Option::as_mut)
    }

    /// Puts `entry` at the lowest free descriptor >= `min`, below `limit`.
    /// None (EMFILE) when there is none; `entry` is then dropped.
    pub fn insert_lowest(&mut self, min: u64, entry: FdEntry, limit: u64) -> Option<u64> {
        let min = usize::try_from(min).ok()?;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let free = (min..limit).find(|&i| !matches!(self.entries.get(i), Some(Some(_))))?;
        if free >= self.entries.len() {
            self.entries.resize_with(free + 1, || None);
        }
        self.entries[free] = Some(entry);
        self.cloexec.remove(&(free as u64));
        Some(free as u64)
    }

    /// Puts `entry` at `fd` (dup2); returns what was there (the caller
    /// drops it, which closes it). `fd` must be below the descriptor limit.
    pub fn insert_at(&mut self, fd: u64, entry: FdEntry) -> Option<FdEntry> {
        let i = usize::try_from(fd).ok()?;
        if i >= self.entries.len() {
            self.entries.resize_with(i + 1, || None);
        }
        self.cloexec.remove(&fd);
        self.entries[i].replace(entry)
    }

    /// Removes `fd` from the table (close); None when it was not open.
    pub fn remove(&mut self, fd: u64) -> Option<FdEntry> {
        let i = usize::try_from(fd).ok()?;
        self.cloexec.remove(&fd);
        let e = self.entries.get_mut(i)?.take();
        while self.entries.last().is_some_and(Option::is_none) {
            self.entries.pop();
        }
        e
    }

    /// The entry of `fd`, shared.
    pub fn get_ref(&self, fd: u64) -> Option<&FdEntry> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.entries.get(i))
            .and_then(Option::as_ref)
    }

    /// True when `fd` is open.
    pub fn is_open(&self, fd: u64) -> bool {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.entries.get(i))
            .is_some_and(Option::is_some)
    }

    pub fn set_cloexec(&mut self, fd: u64, on: bool) {
        if on {
            self.cloexec.insert(fd);
        } else {
            self.cloexec.remove(&fd);
        }
    }

    pub fn cloexec(&self, fd: u64) -> bool {
        self.cloexec.contains(&fd)
    }
}

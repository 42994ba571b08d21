//! The guest's file-descriptor table: the runner's own numbering, never
//! host fd numbers. The foundation only knows the standard streams.

use std::fs::File;
use std::os::fd::AsFd;

/// What a guest descriptor refers to.
#[derive(Debug)]
pub enum FdEntry {
    /// A duplicate of the runner's stdin.
    Stdin(File),
    /// A duplicate of the runner's stdout.
    Stdout(File),
    /// A duplicate of the runner's stderr.
    Stderr(File),
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
            FdEntry::Stdin(_) => None,
        }
    }
}

/// Guest fd number -> entry.
#[derive(Debug, Default)]
pub struct FdTable {
    entries: Vec<Option<FdEntry>>,
}

impl FdTable {
    /// The three standard streams, each a duplicate of the runner's own (so
    /// the guest closing one never closes the runner's).
    pub fn with_stdio(stdin: bool, stdout: bool, stderr: bool) -> std::io::Result<FdTable> {
        let dup = |fd: std::os::fd::BorrowedFd<'_>| fd.try_clone_to_owned().map(File::from);
        Ok(FdTable::with_files(
            if stdin {
                Some(dup(std::io::stdin().as_fd())?)
            } else {
                None
            },
            if stdout {
                Some(dup(std::io::stdout().as_fd())?)
            } else {
                None
            },
            if stderr {
                Some(dup(std::io::stderr().as_fd())?)
            } else {
                None
            },
        ))
    }

    /// Standard streams backed by the given files (the fuzzer's runs read a
    /// file and write to /dev/null).
    pub fn with_files(stdin: Option<File>, stdout: Option<File>, stderr: Option<File>) -> FdTable {
        FdTable {
            entries: vec![
                stdin.map(FdEntry::Stdin),
                stdout.map(FdEntry::Stdout),
                stderr.map(FdEntry::Stderr),
            ],
        }
    }

    pub fn get(&mut self, fd: u64) -> Option<&mut FdEntry> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.entries.get_mut(i))
            .and_then(Option::as_mut)
    }
}

//! A process's shared file mappings (`mmap` of a file with MAP_SHARED),
//! and writing those open for writing back to their files.
//!
//! A shared file mapping's pages are the file's shared pages
//! (kernel/shared_file_pages.rs): the same frames in every mapping of the
//! file, filled from the file at the first `mmap` (syscalls/file_map.rs),
//! shared writable with a fork's child. For one made through a descriptor
//! open for writing, the pages written since
//! (the D bit of their page-table entry, which the CPU sets at a write and
//! the runner sets when it writes for the program) are written to the file
//! at `msync`, at `munmap` or a mapping replacing them, at `execve` and
//! when the process ends (a mapping `mremap` moves stays linked), as
//! Linux's page cache would have them there. A page once written stays
//! dirty: each write-back writes it again with what it holds then.
//!
//! Writes go only as far as the file's end at the time of the write-back
//! (a mapping never grows its file, as on Linux), and count against the
//! policy's `bytes_written`.
//!
//! One through a read-only descriptor is never written back, and may not
//! be made writable (mprotect: EACCES, as on Linux).
//!
//! Not as on Linux: the file on the host has a mapping's stores only from
//! the write-back on (a host program reading it meanwhile sees the old
//! bytes; the sandbox's own reads see the stores).

use super::budget::WriteBudget;
use super::fds::Object;
use super::file_locks::FileKey;
use crate::abi::Errno;
use crate::guest::address_space::AddressSpace;
use crate::tunnel::{GuestPtr, Tunnel};
use std::sync::Arc;
use thinvisor_kmod::{GuestMemory, PAGE_SIZE};

/// One shared file mapping: `[start, end)` shows the file from `offset`.
#[derive(Debug, Clone)]
pub struct FileMap {
    pub start: u64,
    pub end: u64,
    /// The open file (an `Object::File`).
    pub file: Arc<Object>,
    pub offset: u64,
    /// The file, as the host names it (its shared pages' key).
    pub key: FileKey,
    /// Mapped through a descriptor open for writing: written back.
    pub writable: bool,
}

/// A process's shared file mappings, sorted by address, never
/// overlapping.
#[derive(Debug, Clone, Default)]
pub struct FileMaps {
    maps: Vec<FileMap>,
}

impl FileMaps {
    pub fn is_empty(&self) -> bool {
        self.maps.is_empty()
    }

    /// Records a new mapping (its range was just mapped afresh: nothing
    /// recorded overlaps it).
    pub fn add(&mut self, map: FileMap) {
        let at = self.maps.partition_point(|m| m.start < map.start);
        self.maps.insert(at, map);
    }

    /// The parts of the mappings inside `[start, end)`.
    pub fn inside(&self, start: u64, end: u64) -> Vec<FileMap> {
        self.maps
            .iter()
            .filter(|m| m.start < end && start < m.end)
            .map(|m| {
                let s = m.start.max(start);
                FileMap {
                    start: s,
                    end: m.end.min(end),
                    offset: m.offset + (s - m.start),
                    ..m.clone()
                }
            })
            .collect()
    }

    /// Forgets `[start, end)`: the mappings there are gone or no longer
    /// the file's (the pieces outside stay, their offsets kept).
    pub fn forget(&mut self, start: u64, end: u64) {
        let mut kept = Vec::with_capacity(self.maps.len() + 1);
        for m in self.maps.drain(..) {
            if m.end <= start || end <= m.start {
                kept.push(m);
                continue;
            }
            if m.start < start {
                kept.push(FileMap {
                    end: start,
                    ..m.clone()
                });
            }
            if end < m.end {
                kept.push(FileMap {
                    start: end,
                    offset: m.offset + (end - m.start),
                    ..m.clone()
                });
            }
        }
        self.maps = kept;
    }

    /// `mremap` moved (or resized) `[old, old + old_len)` to `new`, now
    /// `new_len` long: the mappings there follow, cut to the new length
    /// (what a growth adds is not the file's).
    pub fn relocate(&mut self, old: u64, old_len: u64, new: u64, new_len: u64) {
        let moved = self.inside(old, old.saturating_add(old_len));
        self.forget(old, old.saturating_add(old_len));
        let keep_end = new.saturating_add(new_len.min(old_len));
        for m in moved {
            let start = new + (m.start - old);
            let end = (new + (m.end - old)).min(keep_end);
            if start < end {
                self.add(FileMap { start, end, ..m });
            }
        }
    }

    /// The mappings of the file `key`.
    pub fn of_file(&self, key: FileKey) -> Vec<FileMap> {
        self.maps.iter().filter(|m| m.key == key).cloned().collect()
    }

    /// The mapping that `va` lies in, if any.
    pub fn at(&self, va: u64) -> Option<&FileMap> {
        self.maps.iter().find(|m| m.start <= va && va < m.end)
    }

    /// Whether a mapping lies (in part) in `[start, end)`.
    pub fn any_inside(&self, start: u64, end: u64) -> bool {
        self.maps.iter().any(|m| m.start < end && start < m.end)
    }

    /// The mapping that starts at `start` is read-only from now on (a
    /// System V segment attached SHM_RDONLY: no mprotect makes it
    /// writable, and it is never written back).
    pub fn make_read_only(&mut self, start: u64) {
        if let Some(m) = self.maps.iter_mut().find(|m| m.start == start) {
            m.writable = false;
        }
    }

    /// Whether a mapping made through a read-only descriptor lies in
    /// `[start, end)` (it may not become writable).
    pub fn read_only_inside(&self, start: u64, end: u64) -> bool {
        self.maps
            .iter()
            .any(|m| !m.writable && m.start < end && start < m.end)
    }

    /// Every mapping's range (to write everything back).
    pub fn ranges(&self) -> Vec<(u64, u64)> {
        self.maps.iter().map(|m| (m.start, m.end)).collect()
    }
}

/// Writes the written pages of the shared file mappings inside
/// `[start, end)` back to their files. A page the program made
/// inaccessible since (PROT_NONE) is skipped. The first host error is
/// returned after everything else was written (EIO, ENOSPC as the host
/// gives them; EFBIG once `bytes_written` is used up).
pub fn write_back(
    maps: &FileMaps,
    mm: &mut AddressSpace,
    mem: &mut GuestMemory,
    budget: &mut WriteBudget,
    start: u64,
    end: u64,
) -> Result<(), Errno> {
    let mut first_error = None;
    for m in maps.inside(start, end) {
        let Object::File(file) = &*m.file else {
            continue;
        };
        if !m.writable {
            continue;
        }
        let size = match rustix::fs::fstat(&file.fd) {
            Ok(st) => st.st_size.max(0) as u64,
            Err(e) => {
                first_error.get_or_insert(e);
                continue;
            }
        };
        let runs = mm.dirty_runs(mem, m.start, m.end);
        let mut page = vec![0u8; PAGE_SIZE as usize];
        for (run, len) in runs {
            for va in (run..run + len).step_by(PAGE_SIZE as usize) {
                let at = m.offset + (va - m.start);
                if at >= size {
                    break;
                }
                let n = (size - at).min(PAGE_SIZE) as usize;
                if Tunnel::for_runner_layout(mm, mem)
                    .read(GuestPtr::new(va), &mut page[..n])
                    .is_err()
                {
                    continue;
                }
                let granted = match budget.grant(n as u64) {
                    Ok(g) => g as usize,
                    Err(e) => {
                        first_error.get_or_insert(e);
                        break;
                    }
                };
                match rustix::io::pwrite(&file.fd, &page[..granted], at) {
                    Ok(w) => budget.consume(w as u64),
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Writes back every shared file mapping (the process execs or ends).
pub fn write_back_all(
    maps: &FileMaps,
    mm: &mut AddressSpace,
    mem: &mut GuestMemory,
    budget: &mut WriteBudget,
) -> Result<(), Errno> {
    let mut result = Ok(());
    for (s, e) in maps.ranges() {
        if let Err(err) = write_back(maps, mm, mem, budget, s, e) {
            result = result.and(Err(err));
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(start: u64, end: u64, offset: u64) -> FileMap {
        FileMap {
            start,
            end,
            file: Arc::new(Object::Null {
                stream: super::super::fds::Stream::Stdin,
            }),
            offset,
            key: (1, 2),
            writable: true,
        }
    }

    #[test]
    fn forgetting_the_middle_keeps_both_ends_with_their_offsets() {
        let mut m = FileMaps::default();
        m.add(map(0x10000, 0x20000, 0x3000));
        m.forget(0x14000, 0x15000);
        let r: Vec<(u64, u64, u64)> = m
            .inside(0, u64::MAX)
            .iter()
            .map(|x| (x.start, x.end, x.offset))
            .collect();
        assert_eq!(
            r,
            vec![(0x10000, 0x14000, 0x3000), (0x15000, 0x20000, 0x8000)]
        );
        let part = m.inside(0x16000, 0x17000);
        assert_eq!(
            (part[0].start, part[0].end, part[0].offset),
            (0x16000, 0x17000, 0x9000)
        );
        m.forget(0, u64::MAX);
        assert!(m.is_empty());
    }
}

//! The pages of files that `MAP_SHARED` mappings show: one guest frame
//! per page of a file for the whole sandbox, as Linux's page cache has one
//! page, so that every shared mapping of a file, in any process, and the
//! file's `read`/`write` agree.
//!
//! - A `MAP_SHARED` mmap of a page that is here maps its frame; one that
//!   is not gets a fresh frame filled from the file, recorded here
//!   (syscalls/file_map.rs). Two mappings of one file, in one process or
//!   two, see each other's stores at once.
//! - The frame holds the page's current bytes: a `write` (or `pwrite`,
//!   `sendfile` into the file, ...) copies what it wrote into the frames it
//!   touched (syscalls/file_pages.rs); a
//!   `read` of those pages, a private mapping's copy, `sendfile` out of
//!   the file, take the bytes from the frames ([`SharedFilePages::overlay`]),
//!   which may hold stores not yet written back.
//! - Stores reach the host file when the mapping process writes its dirty
//!   pages back (msync, munmap, exec, exit: kernel/file_maps.rs).
//! - A truncation zeroes what lies past the new end in every frame
//!   ([`SharedFilePages::truncate`]), as the file reads when it grows
//!   again. The truncating process's own mappings hide the pages wholly
//!   past the end (a touch is SIGBUS: run/file_faults.rs); another
//!   process's read zero there (a store there is never written back unless
//!   the file grows first).
//!
//! The registry owns no frame: the mappings do (the frame pool's owner
//! counts, as after a fork). It asks the pool to track its frames
//! ([`FrameAllocator::track`]) and forgets a frame the moment its last
//! mapping lets it go, before any other use ([`SharedFilePages::prune`]):
//! a page no process maps is read from the file again by the next mmap.
//! Frames count against the memory limit like any user page, once,
//! however many processes map them. Every frame here is mapped by some
//! process, whose mapping (kernel/file_maps.rs) holds the open file, so
//! the inode behind a key cannot be reused while the key is here.
//!
//! Locking: part of [`super::Kernel`], under the kernel lock.

use super::file_locks::FileKey;
use crate::guest::frames::FrameAllocator;
use std::collections::{BTreeMap, HashMap};
use thinvisor_kmod::{GuestMemory, KmodError, PAGE_SIZE};

/// The frames of the files' shared pages, by file and page index.
#[derive(Debug, Default)]
pub struct SharedFilePages {
    files: HashMap<FileKey, BTreeMap<u64, u64>>,
    /// Each frame's file and page index.
    by_frame: HashMap<u64, (FileKey, u64)>,
    /// A handle on the frame pool, to hear of freed frames (set at the
    /// first [`SharedFilePages::insert`]).
    pool: Option<FrameAllocator>,
}

impl SharedFilePages {
    /// Forgets the frames their last mapping let go of since the last call.
    pub fn prune(&mut self) {
        let Some(pool) = self.pool.as_mut() else {
            return;
        };
        for pa in pool.take_freed_tracked() {
            let Some((key, index)) = self.by_frame.remove(&pa) else {
                continue;
            };
            if let Some(pages) = self.files.get_mut(&key) {
                pages.remove(&index);
                if pages.is_empty() {
                    self.files.remove(&key);
                }
            }
        }
    }

    /// Whether no file has a shared page: reads and writes skip every
    /// other step.
    pub fn is_empty(&mut self) -> bool {
        self.prune();
        self.files.is_empty()
    }

    /// Whether `key` has a shared page.
    pub fn has(&mut self, key: FileKey) -> bool {
        self.prune();
        self.files.contains_key(&key)
    }

    /// The frame of page `index` of `key`, if a mapping has it.
    pub fn frame(&mut self, key: FileKey, index: u64) -> Option<u64> {
        self.prune();
        self.files.get(&key)?.get(&index).copied()
    }

    /// Records `pa`, just filled from the file and mapped by the address
    /// space whose frames `owner` hands out, as page `index` of `key`.
    pub fn insert(&mut self, owner: &mut FrameAllocator, key: FileKey, index: u64, pa: u64) {
        self.prune();
        owner.track(pa);
        self.pool.get_or_insert_with(|| owner.sibling());
        self.files.entry(key).or_default().insert(index, pa);
        self.by_frame.insert(pa, (key, index));
    }

    /// The shared pages of `key` that `[start, end)` (bytes of the file)
    /// touches: (index, frame).
    pub fn pages_in(&mut self, key: FileKey, start: u64, end: u64) -> Vec<(u64, u64)> {
        self.prune();
        let Some(pages) = self.files.get(&key) else {
            return Vec::new();
        };
        if end <= start {
            return Vec::new();
        }
        let (first, last) = (start / PAGE_SIZE, (end - 1) / PAGE_SIZE);
        pages.range(first..=last).map(|(&i, &pa)| (i, pa)).collect()
    }

    /// Puts the frames' bytes over `buf`, which holds the file's bytes from
    /// `offset` as the host has them (a read, a private mapping's copy).
    pub fn overlay(
        &mut self,
        key: FileKey,
        mem: &GuestMemory,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<(), KmodError> {
        let end = offset + buf.len() as u64;
        for (index, pa) in self.pages_in(key, offset, end) {
            let page = index * PAGE_SIZE;
            let (from, to) = (page.max(offset), (page + PAGE_SIZE).min(end));
            let dst = &mut buf[(from - offset) as usize..(to - offset) as usize];
            mem.read(pa + (from - page), dst)?;
        }
        Ok(())
    }

    /// The file `key` was cut (or grown) to `size` bytes: every shared
    /// page is zero past the end, as the file reads once it grows again.
    pub fn truncate(
        &mut self,
        key: FileKey,
        mem: &mut GuestMemory,
        size: u64,
    ) -> Result<(), KmodError> {
        self.prune();
        let Some(pages) = self.files.get(&key) else {
            return Ok(());
        };
        let zeros = [0u8; PAGE_SIZE as usize];
        for (&index, &pa) in pages.range(size / PAGE_SIZE..) {
            let base = index * PAGE_SIZE;
            let from = size.max(base) - base;
            mem.write(pa + from, &zeros[from as usize..])?;
        }
        Ok(())
    }
}

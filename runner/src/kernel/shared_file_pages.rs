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
//!   `sendfile` into the file, ...) refreshes the frames it touched from
//!   the file after the host write ([`SharedFilePages::refresh`]); a
//!   `read` of those pages, a private mapping's copy, `sendfile` out of
//!   the file, take the bytes from the frames ([`SharedFilePages::overlay`]),
//!   which may hold stores not yet written back.
//! - Stores reach the host file when the mapping process writes its dirty
//!   pages back (msync, munmap, exec, exit: kernel/file_maps.rs).
//! - A truncation zeroes what lies past the new end in every frame
//!   ([`SharedFilePages::truncate`]), as the file reads when it grows
//!   again. Pages past the end stay mapped (Linux raises SIGBUS at a touch
//!   of a whole page past the end; here it reads zero, and a store there
//!   is never written back unless the file grows first).
//!
//! The registry holds one owner of each frame (its own handle on the
//! frame pool), so a frame here is never freed or reused while it is
//! here. A frame that no address space maps any more is let go at the
//! next [`SharedFilePages::sweep`] (after munmap, mremap, execve and at a
//! process's end). Frames count against the memory limit like any user
//! page, once, however many processes map them.
//!
//! Locking: part of [`super::Kernel`], under the kernel lock.

use super::file_locks::FileKey;
use crate::abi::Errno;
use crate::guest::frames::FrameAllocator;
use rustix::fd::BorrowedFd;
use std::collections::{BTreeMap, HashMap};
use thinvisor_kmod::{GuestMemory, KmodError, PAGE_SIZE};

/// The frames of the files' shared pages, by file and page index.
#[derive(Debug, Default)]
pub struct SharedFilePages {
    files: HashMap<FileKey, BTreeMap<u64, u64>>,
    /// The registry's own handle on the frame pool (set at the first
    /// [`SharedFilePages::insert`]).
    frames: Option<FrameAllocator>,
}

impl SharedFilePages {
    /// Whether no file has a shared page: reads and writes skip every
    /// other step.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Whether `key` has a shared page.
    pub fn has(&self, key: FileKey) -> bool {
        self.files.contains_key(&key)
    }

    /// The frame of page `index` of `key`, if a mapping has it.
    pub fn frame(&self, key: FileKey, index: u64) -> Option<u64> {
        self.files.get(&key)?.get(&index).copied()
    }

    /// Records `pa`, just filled from the file and mapped by `owner`'s
    /// address space, as page `index` of `key`; the registry becomes one
    /// more owner of it.
    pub fn insert(&mut self, owner: &FrameAllocator, key: FileKey, index: u64, pa: u64) {
        let frames = self.frames.get_or_insert_with(|| owner.sibling());
        frames.add_owners(&[pa]);
        self.files.entry(key).or_default().insert(index, pa);
    }

    /// The shared pages of `key` that `[start, end)` (bytes of the file)
    /// touches: (index, frame).
    pub fn pages_in(&self, key: FileKey, start: u64, end: u64) -> Vec<(u64, u64)> {
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
        &self,
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

    /// After the host file `fd` was written at `[start, end)`: the frames
    /// of those pages take the file's bytes there.
    pub fn refresh(
        &self,
        key: FileKey,
        fd: BorrowedFd<'_>,
        mem: &mut GuestMemory,
        start: u64,
        end: u64,
    ) -> Result<(), Errno> {
        let mut buf = [0u8; PAGE_SIZE as usize];
        for (index, pa) in self.pages_in(key, start, end) {
            let page = index * PAGE_SIZE;
            let (from, to) = (page.max(start), (page + PAGE_SIZE).min(end));
            let want = (to - from) as usize;
            let n = rustix::io::pread(fd, &mut buf[..want], from)?;
            mem.write(pa + (from - page), &buf[..n])
                .map_err(|_| Errno::IO)?;
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

    /// Lets go of every frame no address space maps any more.
    pub fn sweep(&mut self, mem: &mut GuestMemory) -> Result<(), KmodError> {
        let Some(frames) = self.frames.as_mut() else {
            return Ok(());
        };
        let mut unmapped = Vec::new();
        for pages in self.files.values_mut() {
            pages.retain(|_, &mut pa| {
                let mapped = frames.is_shared_frame(pa);
                if !mapped {
                    unmapped.push(pa);
                }
                mapped
            });
        }
        self.files.retain(|_, pages| !pages.is_empty());
        for pa in unmapped {
            frames.free_user(mem, pa)?;
        }
        Ok(())
    }
}

//! mmap of a file: the file's bytes copied into fresh private pages at
//! map time.
//!
//! What is mapped and how (docs/compatibility.md, "File mappings"):
//!
//! - `MAP_PRIVATE`, any protection: the pages hold the file's bytes from
//!   `offset` as they are at the mmap; the rest of the last page, and whole
//!   pages past the end of the file, are zero. Writes stay in the process
//!   (copy-on-write, as on Linux); a fork shares them copy-on-write.
//! - `MAP_SHARED` through a descriptor open for writing: the same copy, in
//!   shared memory (a fork's child shares it), linked to the file: the
//!   pages written are written back at msync, munmap, exec and exit
//!   (kernel/file_maps.rs).
//! - `MAP_SHARED` through a read-only descriptor: a private copy (it can
//!   never be written back). Linux refuses a later mprotect(PROT_WRITE) of
//!   it (EACCES); here the mprotect succeeds and the writes stay in the
//!   process. Linux would also show a later write to the file through a
//!   shared mapping; here every mapping keeps the bytes of the mmap and
//!   what the process writes.
//! - Linux's checks, in Linux's order: a descriptor that is not a regular
//!   file is `ENODEV` (`EACCES` for one not open for reading), `MAP_SHARED`
//!   with `PROT_WRITE` of a descriptor not open for writing is `EACCES`, and
//!   `PROT_EXEC` of a file under a rule without an `-exec` access is `EPERM`
//!   (Linux's answer on a `noexec` mount): a policy decides which files may
//!   become code, as it decides which may be run.
//!
//! Pages are copied rather than loaded at the first fault: one `pread` per
//! mapping, no fault path through the runner, and nothing to keep in sync
//! with the file afterwards. The cost is the copy of every mapped byte,
//! used or not (glibc's loader maps a library's whole span, then each
//! segment over it: docs/benchmarks.md, "Dynamic programs").

use super::memory::map_errno;
use super::{decode::MmapRequest, Ctx, SyscallResult};
use crate::abi::Errno;
use crate::guest::address_space::MmapFlags;
use crate::guest::page_table::Prot;
use crate::kernel::fds::{Device, Object};
use crate::kernel::file_maps::FileMap;
use crate::tunnel::{GuestPtr, Tunnel};

/// Bytes read from the file and written into the guest at a time.
const CHUNK: usize = 1 << 20;

pub fn mmap_file(ctx: &mut Ctx<'_>, req: &MmapRequest, fd: u64, offset: u64) -> SyscallResult {
    let obj = ctx.process.fds.get(fd)?;
    if let Object::Device {
        device: Device::Zero,
        read,
        write,
        ..
    } = &*obj
    {
        // /dev/zero: anonymous memory, private or shared, as on Linux.
        if !read || (req.flags.shared && req.prot.write && !write) {
            return Err(Errno::ACCESS.into());
        }
        let (aspace, mem) = ctx.memory();
        return aspace
            .mmap_anonymous(mem, req.hint, req.len, req.prot, req.flags)
            .map_err(|e| map_errno(e).into());
    }
    let Object::File(file) = &*obj else {
        return Err(Errno::NODEV.into());
    };
    if !file.readable {
        return Err(Errno::ACCESS.into());
    }
    // A shared mapping through a descriptor open for writing is the
    // file's: written back (kernel/file_maps.rs). Through a read-only one
    // it can never be written back, so a private copy shows the same.
    let linked = req.flags.shared && file.writable;
    if req.flags.shared && req.prot.write && !file.writable {
        return Err(Errno::ACCESS.into());
    }
    if req.prot.exec && !file.exec {
        return Err(Errno::PERM.into());
    }
    let len = req.len;
    if offset.checked_add(len).is_none_or(|e| e > i64::MAX as u64) {
        return Err(Errno::OVERFLOW.into());
    }
    let host = &file.fd;
    let size = rustix::fs::fstat(host)?.st_size as u64;
    let flags = MmapFlags {
        shared: linked,
        ..req.flags
    };
    let (aspace, mem) = ctx.memory();
    let addr = aspace
        .mmap_anonymous(mem, req.hint, len, Prot::RW, flags)
        .map_err(map_errno)?;
    let copied = copy_in(
        ctx,
        host,
        addr,
        offset,
        len.min(size.saturating_sub(offset)),
    );
    let (aspace, mem) = ctx.memory();
    let protected = if req.prot == Prot::RW {
        Ok(())
    } else {
        aspace.mprotect(mem, addr, len, req.prot)
    };
    match (copied, protected) {
        (Ok(()), Ok(())) => {
            if linked {
                // Filled by the runner, not yet written by the program.
                aspace
                    .clear_dirty(mem, addr, addr + len)
                    .map_err(map_errno)?;
                ctx.process.file_maps.add(FileMap {
                    start: addr,
                    end: addr + len.next_multiple_of(thinvisor_kmod::PAGE_SIZE),
                    file: obj.clone(),
                    offset,
                });
            }
            Ok(addr)
        }
        (copied, protected) => {
            let _ = aspace.munmap(mem, addr, len);
            Err(copied
                .err()
                .unwrap_or_else(|| protected.err().map_or(Errno::NOMEM, map_errno))
                .into())
        }
    }
}

/// Reads `len` bytes of `host` from `offset` into the fresh pages at
/// `addr` (the runner's layout: the pages were just mapped writable).
fn copy_in(
    ctx: &mut Ctx<'_>,
    host: &rustix::fd::OwnedFd,
    addr: u64,
    offset: u64,
    len: u64,
) -> Result<(), Errno> {
    let mut buf = vec![0u8; CHUNK.min(len as usize)];
    let mut done = 0u64;
    while done < len {
        let want = (len - done).min(buf.len() as u64) as usize;
        let n = rustix::io::pread(host, &mut buf[..want], offset + done)?;
        if n == 0 {
            // The file shrank since fstat: the rest stays zero.
            break;
        }
        let (aspace, mem) = ctx.memory();
        Tunnel::for_runner_layout(aspace, mem)
            .write(GuestPtr::new(addr + done), &buf[..n])
            .map_err(|_| Errno::NOMEM)?;
        done += n as u64;
    }
    Ok(())
}

//! Guest memory: host memory the caller owns, handed to the VM by value.
//!
//! A [`GuestMemory`] is an anonymous private mapping. It is lazily backed:
//! pages the guest never touches cost the host nothing. Accessors check every
//! offset and length (with overflow checks) and never hand out raw pointers.

use crate::error::{KmodError, Result};
use memmap2::{MmapMut, MmapOptions};
use std::sync::atomic::AtomicU32;

/// Page size of guest and host.
pub const PAGE_SIZE: u64 = 4096;

/// A block of host memory that can be mapped into a VM's guest-physical space.
pub struct GuestMemory {
    map: MmapMut,
}

impl std::fmt::Debug for GuestMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GuestMemory({:#x} bytes)", self.map.len())
    }
}

impl GuestMemory {
    /// Allocates `bytes` (rounded up to a page) of zeroed, lazily backed memory.
    pub fn new(bytes: usize) -> Result<GuestMemory> {
        let size = bytes
            .checked_add(PAGE_SIZE as usize - 1)
            .map(|b| b & !(PAGE_SIZE as usize - 1))
            .filter(|&b| b > 0)
            .ok_or(KmodError::Allocate {
                bytes,
                source: std::io::Error::from_raw_os_error(libc::EINVAL),
            })?;
        let map =
            MmapOptions::new()
                .len(size)
                .map_anon()
                .map_err(|source| KmodError::Allocate {
                    bytes: size,
                    source,
                })?;
        Ok(GuestMemory { map })
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.map.len() as u64
    }

    /// Always false: zero-sized memory cannot be created.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn range(&self, offset: u64, len: u64) -> Result<std::ops::Range<usize>> {
        let end = offset.checked_add(len).filter(|&e| e <= self.len());
        match end {
            Some(end) => Ok(offset as usize..end as usize),
            None => Err(KmodError::OutOfRange {
                offset,
                len,
                size: self.len(),
            }),
        }
    }

    /// The aligned 32-bit word at `offset`, as an atomic: for words that
    /// guest threads use at the same time as the runner (futex words, the
    /// thread-id word cleared at thread exit), so that a compare-and-swap
    /// or an update from the runner is atomic with respect to theirs.
    pub fn atomic_u32(&self, offset: u64) -> Result<&AtomicU32> {
        let r = self.range(offset, 4)?;
        if !offset.is_multiple_of(4) {
            return Err(KmodError::OutOfRange {
                offset,
                len: 4,
                size: self.len(),
            });
        }
        let ptr = self.map.as_ptr().wrapping_add(r.start) as *mut u32;
        // SAFETY: `range` checked the four bytes lie inside the mapping,
        // which lives as long as `&self`, and the offset is 4-aligned (the
        // mapping is page-aligned), as AtomicU32 requires. The bytes are
        // only ever accessed as plain bytes or atomically by this process;
        // the guest's own accesses go through the hardware, for which an
        // atomic operation here is an ordinary locked access.
        Ok(unsafe { AtomicU32::from_ptr(ptr) })
    }

    /// The bytes at `offset..offset+len`.
    pub fn slice(&self, offset: u64, len: u64) -> Result<&[u8]> {
        let r = self.range(offset, len)?;
        Ok(&self.map[r])
    }

    /// The bytes at `offset..offset+len`, writable.
    pub fn slice_mut(&mut self, offset: u64, len: u64) -> Result<&mut [u8]> {
        let r = self.range(offset, len)?;
        Ok(&mut self.map[r])
    }

    /// Copies guest memory at `offset` into `buf`.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        buf.copy_from_slice(self.slice(offset, buf.len() as u64)?);
        Ok(())
    }

    /// Copies `data` into guest memory at `offset`.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        self.slice_mut(offset, data.len() as u64)?
            .copy_from_slice(data);
        Ok(())
    }

    /// Reads a little-endian u64.
    pub fn read_u64(&self, offset: u64) -> Result<u64> {
        let mut b = [0u8; 8];
        self.read(offset, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Writes a little-endian u64.
    pub fn write_u64(&mut self, offset: u64, value: u64) -> Result<()> {
        self.write(offset, &value.to_le_bytes())
    }

    /// Fills a range with zeros.
    pub fn zero(&mut self, offset: u64, len: u64) -> Result<()> {
        self.slice_mut(offset, len)?.fill(0);
        Ok(())
    }

    /// Gives the host pages of a page-aligned range back; they read as zeros
    /// afterwards and cost nothing until touched again.
    pub fn discard(&mut self, offset: u64, len: u64) -> Result<()> {
        let r = self.range(offset, len)?;
        if !offset.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) {
            return Err(KmodError::OutOfRange {
                offset,
                len,
                size: self.len(),
            });
        }
        if len == 0 {
            return Ok(());
        }
        // SAFETY: the range was bounds-checked against this private anonymous
        // mapping and is page aligned; MADV_DONTNEED on such a mapping only
        // replaces the pages with zero-fill-on-demand pages. No Rust reference
        // into the range can be alive because we hold `&mut self`.
        unsafe {
            self.map
                .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, r.start, r.len())
        }
        .map_err(|source| KmodError::Ioctl {
            op: "madvise(MADV_DONTNEED)",
            source,
        })
    }

    /// Asks the host to back `[offset, offset + len)` with transparent huge
    /// pages (MADV_HUGEPAGE), so that the hypervisor can map a 2 MiB guest
    /// page with one 2 MiB mapping of its own. Advice only: contents are
    /// kept, and the host may still use small pages.
    pub fn advise_huge(&mut self, offset: u64, len: u64) -> Result<()> {
        let r = self.range(offset, len)?;
        self.map
            .advise_range(memmap2::Advice::HugePage, r.start, r.len())
            .map_err(|source| KmodError::Ioctl {
                op: "madvise(MADV_HUGEPAGE)",
                source,
            })
    }

    /// Makes the hypervisor forget every translation it cached for the pages
    /// of this range (shadow page tables on kvm_pvm, nested page tables on
    /// hardware), so the guest's next access re-walks the guest page tables.
    /// Needed after the caller *downgrades* a guest page-table entry: host
    /// writes to guest page tables are invisible to a shadow MMU, and a guest
    /// TLB flush does not resynchronise write-protected shadow pages. Cycling
    /// the host protection of the backing pages fires KVM's MMU notifier,
    /// which zaps every mapping of them. Contents are kept. The runner
    /// calls it while no vCPU of the address space that changed runs guest
    /// code; a vCPU of another address space that shares the frame (a
    /// fork's shared memory, a file's shared pages) may write it in the
    /// window: its KVM_RUN fails with EFAULT and [`crate::Vcpu::run`]
    /// enters again.
    pub fn refresh(&mut self, offset: u64, len: u64) -> Result<()> {
        let r = self.range(offset, len)?;
        if !offset.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) || len == 0 {
            return Err(KmodError::OutOfRange {
                offset,
                len,
                size: self.len(),
            });
        }
        let addr = self.map[r].as_mut_ptr().cast::<libc::c_void>();
        for prot in [libc::PROT_READ, libc::PROT_READ | libc::PROT_WRITE] {
            // SAFETY: `addr..addr+len` is a page-aligned, bounds-checked part of
            // this private anonymous mapping, which is read-write by
            // construction. We hold `&mut self`, so no Rust reference into it
            // is alive while it is briefly read-only, and the second call
            // restores exactly the original protection. A vCPU that writes
            // these pages in the window has its KVM_RUN fail with EFAULT
            // (the slot is not read-only to KVM), and enters again.
            let rc = unsafe { libc::mprotect(addr, len as usize, prot) };
            if rc != 0 {
                return Err(KmodError::Ioctl {
                    op: "mprotect(guest memory)",
                    source: std::io::Error::last_os_error(),
                });
            }
        }
        Ok(())
    }

    /// Host address of the mapping, for registering it with KVM (crate only).
    pub(crate) fn host_addr(&self) -> u64 {
        self.map.as_ptr() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_overflow_are_checked() {
        let mut m = GuestMemory::new(8192).expect("alloc");
        assert_eq!(m.len(), 8192);
        m.write_u64(8184, 7).expect("last qword");
        assert_eq!(m.read_u64(8184).expect("read"), 7);
        assert!(m.write_u64(8185, 1).is_err());
        assert!(m.slice(u64::MAX - 2, 8).is_err());
        assert!(m.slice(0, u64::MAX).is_err());
        m.discard(4096, 4096).expect("discard");
        assert_eq!(m.read_u64(8184).expect("read"), 0);
        assert!(m.discard(1, 4096).is_err());
    }

    #[test]
    fn rounds_up_to_pages() {
        assert_eq!(GuestMemory::new(1).expect("alloc").len(), 4096);
        assert!(GuestMemory::new(0).is_err());
    }
}

//! Syscall argument decoding that needs no guest state: the parts of the
//! handlers that turn raw registers (and bytes already copied out of the
//! guest) into checked requests, or an errno. Pure functions, so the
//! fuzz targets (`fuzz/`, `runner fuzz --target syscall-args`) drive them
//! without KVM. `mmap` and `mprotect_prot` are the handlers' own decoding
//! (`memory.rs`); the read/write length and iovec rules are those of
//! `common.rs` (`one_buffer`, `read_iovecs`, which also check every buffer
//! through the tunnel as they go), as pure functions over the same limits.

use super::Args;
use crate::abi::constants::{
    MAP_ANONYMOUS, MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_PRIVATE, MAP_SHARED, MAP_TYPE, PROT_EXEC,
    PROT_GROWSDOWN, PROT_GROWSUP, PROT_READ, PROT_WRITE,
};
use crate::abi::Errno;
use crate::guest::address_space::MmapFlags;
use crate::guest::page_table::Prot;
use crate::tunnel::GuestPtr;

pub use super::common::{MAX_IOV, MAX_RW};
pub use crate::abi::layouts::IOVEC_SIZE;

/// The length a read/write of `len` bytes at `buf` transfers: capped at
/// MAX_RW as Linux does, but a range that wraps the address space is EFAULT.
pub fn rw_len(buf: GuestPtr, len: u64) -> Result<u64, Errno> {
    if len > MAX_RW && buf.checked_add(len).is_none() {
        return Err(Errno::FAULT);
    }
    Ok(len.min(MAX_RW))
}

/// Bytes of the iovec array a writev of `count` entries reads.
pub fn iovec_array_bytes(count: u64) -> Result<usize, Errno> {
    if count > MAX_IOV {
        return Err(Errno::INVAL);
    }
    Ok(count as usize * IOVEC_SIZE)
}

/// Parses an iovec array copied out of the guest. The lengths' sum must fit
/// in ssize_t (else EINVAL); the pointers are not checked here.
pub fn iovecs(raw: &[u8]) -> Result<Vec<(GuestPtr, u64)>, Errno> {
    if !raw.len().is_multiple_of(IOVEC_SIZE) || raw.len() / IOVEC_SIZE > MAX_IOV as usize {
        return Err(Errno::INVAL);
    }
    let mut total: u64 = 0;
    let mut parts = Vec::with_capacity(raw.len() / IOVEC_SIZE);
    for chunk in raw.chunks_exact(IOVEC_SIZE) {
        let (base, len) = chunk.split_at(8);
        let base = u64::from_le_bytes(base.try_into().map_err(|_| Errno::INVAL)?);
        let len = u64::from_le_bytes(len.try_into().map_err(|_| Errno::INVAL)?);
        total = match total.checked_add(len) {
            Some(t) if t <= i64::MAX as u64 => t,
            _ => return Err(Errno::INVAL),
        };
        parts.push((GuestPtr::new(base), len));
    }
    Ok(parts)
}

/// The protections mmap takes.
const PROT_MASK: u64 = PROT_READ | PROT_WRITE | PROT_EXEC;

/// A decoded `mmap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmapRequest {
    pub hint: u64,
    pub len: u64,
    pub prot: Prot,
    /// MAP_FIXED, MAP_FIXED_NOREPLACE and MAP_SHARED.
    pub flags: MmapFlags,
    /// A file mapping: the descriptor and the (page-aligned) offset.
    pub file: Option<(u64, u64)>,
}

/// Decodes mmap's six arguments (a file mapping without a descriptor is
/// EBADF).
pub fn mmap(a: &Args) -> Result<MmapRequest, Errno> {
    let (addr, len, prot, flags, fd, offset) = (a[0], a[1], a[2], a[3], a[4] as i32, a[5]);
    if prot & !PROT_MASK != 0 || len == 0 {
        return Err(Errno::INVAL);
    }
    let kind = flags & MAP_TYPE;
    if kind != MAP_PRIVATE && kind != MAP_SHARED {
        return Err(Errno::INVAL);
    }
    let file = if flags & MAP_ANONYMOUS == 0 {
        if fd < 0 {
            return Err(Errno::BADF);
        }
        Some((fd as u64, offset))
    } else {
        None
    };
    if offset % 4096 != 0 {
        return Err(Errno::INVAL);
    }
    // MAP_SHARED anonymous memory stays shared with the children of later
    // forks (guest/address_space: the mapping's `shared`).
    Ok(MmapRequest {
        hint: addr,
        len,
        prot: Prot::from_linux(prot),
        flags: MmapFlags {
            fixed: flags & MAP_FIXED != 0,
            noreplace: flags & MAP_FIXED_NOREPLACE != 0,
            shared: kind == MAP_SHARED,
        },
        file,
    })
}

/// Decodes mprotect's protection argument.
pub fn mprotect_prot(prot: u64) -> Result<Prot, Errno> {
    if prot & !(PROT_MASK | PROT_GROWSDOWN | PROT_GROWSUP) != 0 {
        return Err(Errno::INVAL);
    }
    Ok(Prot::from_linux(prot))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iov(parts: &[(u64, u64)]) -> Vec<u8> {
        parts
            .iter()
            .flat_map(|&(b, l)| b.to_le_bytes().into_iter().chain(l.to_le_bytes()))
            .collect()
    }

    #[test]
    fn iovecs_are_bounded_and_their_sum_must_fit() {
        assert_eq!(iovec_array_bytes(1024), Ok(1024 * 16));
        assert_eq!(iovec_array_bytes(1025), Err(Errno::INVAL));
        assert_eq!(iovec_array_bytes(u64::MAX), Err(Errno::INVAL));
        let parts = iovecs(&iov(&[(0x1000, 3), (0x2000, 4)])).expect("valid");
        assert_eq!(
            parts,
            vec![(GuestPtr::new(0x1000), 3), (GuestPtr::new(0x2000), 4)]
        );
        assert_eq!(
            iovecs(&iov(&[(0, i64::MAX as u64), (0, 1)])),
            Err(Errno::INVAL)
        );
        assert_eq!(iovecs(&[0u8; 15]), Err(Errno::INVAL));
    }

    #[test]
    fn mmap_flags_decode_like_linux() {
        let req = mmap(&[0, 4096, 3, 0x22, u64::MAX, 0]).expect("anonymous private");
        assert!(req.prot.write && !req.prot.exec && req.flags == MmapFlags::default());
        let shared = mmap(&[0, 4096, 3, 0x21, u64::MAX, 0]).expect("anonymous shared");
        assert_eq!(shared.flags, MmapFlags::default().shared());
        assert_eq!(mmap(&[0, 4096, 8, 0x22, u64::MAX, 0]), Err(Errno::INVAL));
        assert_eq!(mmap(&[0, 0, 3, 0x22, u64::MAX, 0]), Err(Errno::INVAL));
        assert_eq!(mmap(&[0, 4096, 3, 0x03, u64::MAX, 0]), Err(Errno::INVAL));
        assert_eq!(mmap(&[0, 4096, 3, 0x02, u64::MAX, 0]), Err(Errno::BADF));
        assert_eq!(
            mmap(&[0, 4096, 3, 0x02, 3, 0x2000]).map(|r| r.file),
            Ok(Some((3, 0x2000)))
        );
        assert_eq!(mmap(&[0, 4096, 3, 0x22, u64::MAX, 1]), Err(Errno::INVAL));
        assert!(mmap(&[0x10000, 4096, 3, 0x10_0032, u64::MAX, 0])
            .is_ok_and(|r| r.flags.fixed && r.flags.noreplace && !r.flags.shared));
        assert_eq!(mprotect_prot(8), Err(Errno::INVAL));
        assert_eq!(
            rw_len(GuestPtr::new(u64::MAX - 4), u64::MAX),
            Err(Errno::FAULT)
        );
        assert_eq!(rw_len(GuestPtr::new(0x1000), u64::MAX >> 2), Ok(MAX_RW));
    }
}

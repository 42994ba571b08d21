//! The secure tunnel: the only way from a guest virtual address to guest
//! bytes. A [`GuestPtr`] cannot be dereferenced; a [`Tunnel`] translates it
//! through the guest's page tables, checks that the whole range is mapped
//! user-accessible with the needed right and inside the policy's tunnel
//! table (`[[tunnel]]` ranges, when the policy has any), and only then
//! copies. A range that fails anywhere is refused before anything is read,
//! written or performed.
//!
//! Its parts: `translate.rs` (the page walk: a virtual range to the
//! physical runs behind it), `ranges.rs` (the policy's table: the check of
//! one range, and the ranges the in-VM monitor may use); here, the copies.
//!
//! Writes and copy-on-write: after a fork a page of a writable mapping may
//! be copy-on-write (its frame shared with another process, its leaf
//! without W). Every way to write guest memory here ([`Tunnel::write`],
//! [`Tunnel::read_many_from_host`], [`Tunnel::atomic_u32`] for a write)
//! first gives such pages a frame of their own, as the program's own write
//! fault would (`AddressSpace::prepare_write`), and only then walks the
//! range for W; so a tunnel holds its address space mutably. A check alone
//! ([`Tunnel::check`]) accepts those pages for a write and copies nothing.
//!
//! There are two ways in. [`Tunnel::new`] (what `syscalls::Ctx::tunnel`
//! builds) is for every pointer the guest names, and applies the policy's
//! table, which the kernel holds (`kernel::Kernel::tunnel_ranges`).
//! [`Tunnel::for_runner_layout`] is for the bytes the runner itself places
//! before the guest's first instruction (the loaded segments, the initial
//! stack): the same walk, without the policy's table, which restricts
//! syscall buffers and not the program's own image. Elsewhere the runner
//! touches guest memory only at guest-physical addresses it owns (page
//! tables, descriptor tables, the monitor's pages, the vDSO's pages, the
//! exception frame), never through a guest virtual address.

use crate::guest::address_space::AddressSpace;
use sandbox_policy::TunnelRanges;
use std::io::{IoSlice, IoSliceMut, Read, Write};
use thinvisor_kmod::GuestMemory;
use translate::Need;

mod ranges;
mod translate;

pub use ranges::accessible_ranges;
pub use translate::PhysRun;

/// The most slices one vectored host call takes (the host's IOV_MAX); a
/// transfer over more physical runs is cut short there (a short transfer,
/// as Linux allows).
const HOST_IOV_MAX: usize = 1024;

/// A guest virtual address named by the guest (untrusted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestPtr(u64);

impl GuestPtr {
    pub fn new(addr: u64) -> GuestPtr {
        GuestPtr(addr)
    }
    pub fn addr(self) -> u64 {
        self.0
    }
    /// `self + n`, or None on overflow.
    pub fn checked_add(self, n: u64) -> Option<GuestPtr> {
        self.0.checked_add(n).map(GuestPtr)
    }
}

/// What a tunnel refused. Maps to EFAULT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TunnelError {
    #[error("guest address {0:#x} is not accessible")]
    Fault(u64),
    #[error("guest string at {0:#x} is longer than allowed")]
    TooLong(u64),
}

impl TunnelError {
    /// The guest address the error names.
    pub fn addr(self) -> u64 {
        match self {
            TunnelError::Fault(a) | TunnelError::TooLong(a) => a,
        }
    }
}

/// The access a copy needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// A view of one guest's memory for one syscall (or for the runner's own
/// layout at boot).
pub struct Tunnel<'a> {
    aspace: &'a mut AddressSpace,
    mem: &'a mut GuestMemory,
    /// The policy's `[[tunnel]]` table; None only for the runner's own
    /// layout ([`Tunnel::for_runner_layout`]).
    ranges: Option<&'a TunnelRanges>,
}

impl<'a> Tunnel<'a> {
    /// The tunnel for pointers the guest names: every range is checked
    /// against the page tables of `aspace` and the policy's table `ranges`.
    pub fn new(
        aspace: &'a mut AddressSpace,
        mem: &'a mut GuestMemory,
        ranges: &'a TunnelRanges,
    ) -> Tunnel<'a> {
        Tunnel {
            aspace,
            mem,
            ranges: Some(ranges),
        }
    }

    /// The tunnel for the bytes the runner lays out itself before the guest
    /// runs (the loaded segments, the initial stack): the page tables are
    /// checked (user-accessible, and writable for a write) but not the
    /// policy's table. Never for a pointer the guest names: use
    /// [`Tunnel::new`] (through `syscalls::Ctx::tunnel`).
    pub fn for_runner_layout(aspace: &'a mut AddressSpace, mem: &'a mut GuestMemory) -> Tunnel<'a> {
        Tunnel {
            aspace,
            mem,
            ranges: None,
        }
    }

    /// Checks `[ptr, ptr+len)` for `access` and returns its physical runs.
    /// For a write, a copy-on-write page of a writable mapping passes (the
    /// write itself will give it a frame of its own) and its run is the
    /// shared frame: a check, not a way to write.
    pub fn check(
        &self,
        ptr: GuestPtr,
        len: u64,
        access: Access,
    ) -> Result<Vec<PhysRun>, TunnelError> {
        let need = match access {
            Access::Read => Need::Read,
            Access::Write => Need::WriteAfterCopy,
        };
        self.walk(ptr, len, access, need).map(|(runs, _)| runs)
    }

    /// The policy's table, then the page walk.
    fn walk(
        &self,
        ptr: GuestPtr,
        len: u64,
        access: Access,
        need: Need,
    ) -> Result<(Vec<PhysRun>, bool), TunnelError> {
        if let Some(ranges) = self.ranges {
            if !ranges::allows(ranges, ptr.0, len, access) {
                return Err(TunnelError::Fault(ptr.0));
            }
        }
        translate::resolve(self.aspace, self.mem, ptr.0, len, need)
    }

    /// Checks `[ptr, ptr+len)` for a write and makes it writable: when the
    /// whole range passes and some page is copy-on-write, those pages get
    /// frames of their own first. The runs returned are this address
    /// space's own frames, safe to write. Past the memory limit a needed
    /// copy fails the range (EFAULT).
    fn check_write(&mut self, ptr: GuestPtr, len: u64) -> Result<Vec<PhysRun>, TunnelError> {
        let (runs, copy_pending) = self.walk(ptr, len, Access::Write, Need::WriteAfterCopy)?;
        if !copy_pending {
            return Ok(runs);
        }
        self.aspace
            .prepare_write(self.mem, ptr.0, len)
            .map_err(|_| TunnelError::Fault(ptr.0))?;
        self.walk(ptr, len, Access::Write, Need::Write)
            .map(|(runs, _)| runs)
    }

    /// Copies guest bytes into `buf`.
    pub fn read(&self, ptr: GuestPtr, buf: &mut [u8]) -> Result<(), TunnelError> {
        let runs = self.check(ptr, buf.len() as u64, Access::Read)?;
        let mut done = 0;
        for r in runs {
            let n = r.len as usize;
            self.mem
                .read(r.pa, &mut buf[done..done + n])
                .map_err(|_| TunnelError::Fault(ptr.0))?;
            done += n;
        }
        Ok(())
    }

    /// Reads a little-endian u64.
    pub fn read_u64(&self, ptr: GuestPtr) -> Result<u64, TunnelError> {
        let mut b = [0u8; 8];
        self.read(ptr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Copies `data` into guest memory.
    pub fn write(&mut self, ptr: GuestPtr, data: &[u8]) -> Result<(), TunnelError> {
        let runs = self.check_write(ptr, data.len() as u64)?;
        let mut done = 0;
        for r in runs {
            let n = r.len as usize;
            self.mem
                .write(r.pa, &data[done..done + n])
                .map_err(|_| TunnelError::Fault(ptr.0))?;
            done += n;
        }
        Ok(())
    }

    /// Whether `ptr` lies in a shared mapping (MAP_SHARED), whose pages
    /// other processes may map too: a futex word there is keyed by its
    /// guest-physical address for shared operations (`kernel/futex.rs`).
    pub fn in_shared_mapping(&self, ptr: GuestPtr) -> bool {
        self.aspace.shared_at(ptr.0)
    }

    /// The aligned 32-bit guest word at `ptr`, checked for `access`, as an
    /// atomic, with its guest-physical address (a futex's key: two
    /// mappings of one page name the same word). For a write, a
    /// copy-on-write page gets its own frame first.
    pub fn atomic_u32(
        &mut self,
        ptr: GuestPtr,
        access: Access,
    ) -> Result<(u64, &std::sync::atomic::AtomicU32), TunnelError> {
        if !ptr.0.is_multiple_of(4) {
            return Err(TunnelError::Fault(ptr.0));
        }
        let runs = match access {
            Access::Read => self.check(ptr, 4, access)?,
            Access::Write => self.check_write(ptr, 4)?,
        };
        let pa = runs
            .first()
            .map(|r| r.pa)
            .ok_or(TunnelError::Fault(ptr.0))?;
        let word = self
            .mem
            .atomic_u32(pa)
            .map_err(|_| TunnelError::Fault(ptr.0))?;
        Ok((pa, word))
    }

    /// Reads a NUL-terminated string of at most `max` bytes (NUL excluded).
    pub fn read_cstring(&self, ptr: GuestPtr, max: usize) -> Result<Vec<u8>, TunnelError> {
        let mut out = Vec::new();
        let mut cur = ptr;
        loop {
            let in_page = 4096 - (cur.0 & 4095);
            let run = self.check(cur, in_page, Access::Read)?;
            for r in run {
                let bytes = self
                    .mem
                    .slice(r.pa, r.len)
                    .map_err(|_| TunnelError::Fault(cur.0))?;
                if let Some(nul) = bytes.iter().position(|&b| b == 0) {
                    out.extend_from_slice(&bytes[..nul]);
                    return if out.len() > max {
                        Err(TunnelError::TooLong(ptr.0))
                    } else {
                        Ok(out)
                    };
                }
                out.extend_from_slice(bytes);
            }
            if out.len() > max {
                return Err(TunnelError::TooLong(ptr.0));
            }
            cur = cur.checked_add(in_page).ok_or(TunnelError::Fault(cur.0))?;
        }
    }

    /// Writes several guest ranges to a host sink in one vectored write (for
    /// writev). Every range is checked before anything is written.
    pub fn write_many_to_host(
        &self,
        parts: &[(GuestPtr, u64)],
        sink: &mut impl Write,
    ) -> Result<std::io::Result<usize>, TunnelError> {
        // One range (most writes): its checked runs as they come, with no
        // second vector to gather them in.
        let runs = match parts {
            [(ptr, len)] => self.check(*ptr, *len, Access::Read)?,
            _ => {
                let mut runs = Vec::new();
                for &(ptr, len) in parts {
                    runs.extend(self.check(ptr, len, Access::Read)?);
                }
                runs
            }
        };
        if let [r] = runs.as_slice() {
            // One physical run: no slice vector to build.
            let bytes = self
                .mem
                .slice(r.pa, r.len)
                .map_err(|_| TunnelError::Fault(r.pa))?;
            return Ok(sink.write(bytes));
        }
        let mut slices = Vec::with_capacity(runs.len());
        for r in &runs {
            slices.push(IoSlice::new(
                self.mem
                    .slice(r.pa, r.len)
                    .map_err(|_| TunnelError::Fault(r.pa))?,
            ));
        }
        slices.truncate(HOST_IOV_MAX);
        Ok(sink.write_vectored(&slices))
    }

    /// Reads from a host source straight into several guest ranges with one
    /// vectored read (read, readv, pread64, recv). Every range is checked
    /// (user-writable) before the host is asked for anything. Guest ranges
    /// that share physical memory (overlapping iovecs) are filled one run
    /// only (a short read).
    pub fn read_many_from_host(
        &mut self,
        parts: &[(GuestPtr, u64)],
        source: &mut impl Read,
    ) -> Result<std::io::Result<usize>, TunnelError> {
        if let [(ptr, len)] = parts {
            // One range (most reads): check_write checks all of it before
            // it gives any page a frame of its own; one physical run needs
            // no vector.
            let runs = self.check_write(*ptr, *len)?;
            if let [r] = runs.as_slice() {
                let buf = self
                    .mem
                    .slice_mut(r.pa, r.len)
                    .map_err(|_| TunnelError::Fault(r.pa))?;
                return Ok(source.read(buf));
            }
            return self.read_runs_from_host(runs, source);
        }
        for &(ptr, len) in parts {
            self.check(ptr, len, Access::Write)?;
        }
        let mut runs = Vec::new();
        for &(ptr, len) in parts {
            runs.extend(self.check_write(ptr, len)?);
        }
        self.read_runs_from_host(runs, source)
    }

    /// The vectored read of [`Tunnel::read_many_from_host`] into `runs`
    /// (checked, writable, in the guest's order).
    fn read_runs_from_host(
        &mut self,
        mut runs: Vec<PhysRun>,
        source: &mut impl Read,
    ) -> Result<std::io::Result<usize>, TunnelError> {
        runs.retain(|r| r.len > 0);
        runs.truncate(HOST_IOV_MAX);
        let Some(first) = runs.first().copied() else {
            return Ok(source.read(&mut []));
        };
        let fault = |_| TunnelError::Fault(first.pa);
        let mut order: Vec<usize> = (0..runs.len()).collect();
        order.sort_by_key(|&i| runs[i].pa);
        let overlap = order
            .windows(2)
            .any(|w| runs[w[0]].pa + runs[w[0]].len > runs[w[1]].pa);
        if overlap {
            let buf = self.mem.slice_mut(first.pa, first.len).map_err(fault)?;
            return Ok(source.read(buf));
        }
        let lo = runs[order[0]].pa;
        let hi = runs.iter().map(|r| r.pa + r.len).max().unwrap_or(lo);
        // Carve disjoint slices for every run out of one borrow, in physical
        // order, then hand them to the host in the guest's order.
        let mut whole: &mut [u8] = self.mem.slice_mut(lo, hi - lo).map_err(fault)?;
        let mut carved: Vec<Option<&mut [u8]>> = (0..runs.len()).map(|_| None).collect();
        let mut at = lo;
        for &i in &order {
            let r = runs[i];
            let (_, tail) = std::mem::take(&mut whole).split_at_mut((r.pa - at) as usize);
            let (mine, tail) = tail.split_at_mut(r.len as usize);
            carved[i] = Some(mine);
            whole = tail;
            at = r.pa + r.len;
        }
        let mut bufs: Vec<IoSliceMut<'_>> =
            carved.into_iter().flatten().map(IoSliceMut::new).collect();
        Ok(source.read_vectored(&mut bufs))
    }
}

#[cfg(test)]
mod tests;

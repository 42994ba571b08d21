//! The work at every exit (writing out the monitor's buffered output,
//! taking the break it moved) and what is read back at the end (its
//! counters, the return address of a refused entry).

use super::{data_pa, Monitor, MonitorError, Totals};
use crate::guest::address_space::AddressSpace;
use crate::guest::monitor_image as mi;
use crate::kernel::budget::WriteBudget;
use crate::kernel::fds::{FdTable, Object};
use thinvisor_kmod::GuestMemory;

/// Writes all of `bytes` to a host descriptor (retrying short writes).
fn write_all(fd: &rustix::fd::OwnedFd, mut bytes: &[u8]) -> Result<(), rustix::io::Errno> {
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(0) => return Err(rustix::io::Errno::IO),
            Ok(n) => bytes = &bytes[n..],
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Monitor {
    /// After every exit, before the runner handles it: write out the
    /// buffered output (so it precedes whatever the runner does next) and
    /// take the break the monitor may have moved.
    pub fn after_exit(
        &mut self,
        mem: &mut GuestMemory,
        aspace: &mut AddressSpace,
        fds: &mut FdTable,
        budget: &mut WriteBudget,
    ) -> Result<(), MonitorError> {
        self.flush(mem, fds, budget)?;
        let brk = mem.read_u64(data_pa(mi::MON_BRK))?;
        if !aspace.set_brk_from_monitor(brk) {
            return Err(MonitorError::Internal(format!(
                "the monitor's break {brk:#x} is outside the heap"
            )));
        }
        Ok(())
    }

    /// Writes the buffered records to their descriptors and empties the
    /// buffer. A malformed record ends the flush (and is an error).
    fn flush(
        &mut self,
        mem: &mut GuestMemory,
        fds: &mut FdTable,
        budget: &mut WriteBudget,
    ) -> Result<(), MonitorError> {
        let used = mem.read_u64(data_pa(mi::MON_BUF_USED))?;
        if used == 0 {
            return Ok(());
        }
        if used > mi::MON_BUF_SIZE {
            return Err(MonitorError::Internal(format!(
                "output buffer claims {used} bytes"
            )));
        }
        let buf = mem.slice(data_pa(mi::MON_BUF), used)?.to_vec();
        mem.write_u64(data_pa(mi::MON_BUF_USED), 0)?;
        let mut at = 0usize;
        while at < buf.len() {
            let header = buf
                .get(at..at + 8)
                .ok_or_else(|| MonitorError::Internal("truncated output record".into()))?;
            let fd = u64::from(u32::from_le_bytes([
                header[0], header[1], header[2], header[3],
            ]));
            let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
            let bytes = buf.get(at + 8..at + 8 + len).ok_or_else(|| {
                MonitorError::Internal("output record overruns the buffer".into())
            })?;
            budget.used = budget.used.saturating_add(bytes.len() as u64);
            match fds.get(fd).as_deref() {
                Ok(Object::Stdio { stream, host, .. }) if stream.writable() => {
                    if write_all(host, bytes).is_err() {
                        self.flush_errors += 1;
                    }
                }
                _ => self.flush_errors += 1,
            }
            at += (8 + len).div_ceil(8) * 8;
        }
        Ok(())
    }

    /// The monitor's counters.
    pub fn totals(&self, mem: &GuestMemory) -> Result<Totals, MonitorError> {
        let mut by_nr = Vec::new();
        for nr in 0..mi::MON_NR_MAX {
            let n = mem.read_u64(data_pa(mi::MON_COUNT) + nr * 8)?;
            if n > 0 {
                by_nr.push((nr, n));
            }
        }
        Ok(Totals {
            in_vm: mem.read_u64(data_pa(mi::MON_IN_VM))?,
            denied: mem.read_u64(data_pa(mi::MON_DENIED))?,
            by_nr,
        })
    }

    /// The program's return address saved by the monitor at its last entry
    /// (for the report of a refused entry).
    pub fn saved_rcx(mem: &GuestMemory) -> Result<u64, MonitorError> {
        Ok(mem.read_u64(data_pa(mi::SV_RCX))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::layout::FIRST_FREE_PA;

    #[test]
    fn flush_checks_every_record() {
        let mut mem = GuestMemory::new(FIRST_FREE_PA as usize).expect("mem");
        let mut fds = FdTable::default(); // no descriptors: every write fails
        let mut m = Monitor {
            ranges_for: None,
            write_fds: 0b110,
            flush_errors: 0,
        };
        let buf = data_pa(mi::MON_BUF);
        let used = data_pa(mi::MON_BUF_USED);
        // Two records (fd 1, 3 bytes; fd 2, 9 bytes), padded to 8.
        mem.write(
            buf,
            &[1, 0, 0, 0, 3, 0, 0, 0, b'a', b'b', b'c', 0, 0, 0, 0, 0],
        )
        .expect("w");
        mem.write(buf + 16, &[2, 0, 0, 0, 9, 0, 0, 0]).expect("w");
        mem.write_u64(used, 16 + 8 + 16).expect("w");
        m.flush(&mut mem, &mut fds, &mut WriteBudget::default())
            .expect("well formed");
        assert_eq!(m.flush_errors, 2, "both records reached the fd lookup");
        assert_eq!(mem.read_u64(used).expect("r"), 0, "buffer emptied");
        // A record running past the used bytes is refused.
        mem.write(buf, &[1, 0, 0, 0, 200, 0, 0, 0]).expect("w");
        mem.write_u64(used, 16).expect("w");
        assert!(m
            .flush(&mut mem, &mut fds, &mut WriteBudget::default())
            .is_err());
        // So is a buffer larger than the monitor's.
        mem.write_u64(used, mi::MON_BUF_SIZE + 8).expect("w");
        assert!(m
            .flush(&mut mem, &mut fds, &mut WriteBudget::default())
            .is_err());
    }
}

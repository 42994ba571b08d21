//! The end of an address space's tables: every user frame let go (a frame
//! another address space still maps stays, for that one), every 2 MiB
//! block and every user-half table freed, the root last. The kernel half
//! is the VM's and is left alone.
//!
//! Nothing is refreshed: the caller guarantees that no vCPU uses this root
//! again without loading another, so no translation through these tables
//! is ever made again; tables a vCPU walked are retired, never tables again.

use super::fork::{read_table, va_of};
use super::{is_huge_leaf, PageTableError, PageTables, USER_PML4_SLOTS};
use super::{ADDR_MASK, BACKED, HUGE_ADDR_MASK, PRESENT};
use crate::guest::frames::FrameAllocator;
use thinvisor_kmod::GuestMemory;

impl PageTables {
    /// Frees the user half and the root (see the module's comment). The
    /// frames `runner_owned` names (the vDSO's) are not the address
    /// space's and are skipped.
    pub fn release_user_half(
        &self,
        mem: &mut GuestMemory,
        frames: &mut FrameAllocator,
        runner_owned: &dyn Fn(u64) -> bool,
    ) -> Result<(), PageTableError> {
        for slot in 0..USER_PML4_SLOTS {
            let e3 = mem.read_u64(self.root + slot * 8)?;
            if e3 & PRESENT == 0 {
                continue;
            }
            let pdpt = e3 & ADDR_MASK;
            for (i2, &e2) in (0..).zip(read_table(mem, pdpt)?.iter()) {
                if e2 & PRESENT == 0 {
                    continue;
                }
                let base = va_of(va_of(0, 3, slot), 2, i2);
                let pd = e2 & ADDR_MASK;
                for (i1, &e1) in (0..).zip(read_table(mem, pd)?.iter()) {
                    if is_huge_leaf(e1) {
                        frames.free_huge(mem, e1 & HUGE_ADDR_MASK)?;
                        continue;
                    }
                    if e1 & PRESENT == 0 {
                        continue;
                    }
                    let pt = e1 & ADDR_MASK;
                    let at = va_of(base, 1, i1);
                    for (i0, &e0) in (0..).zip(read_table(mem, pt)?.iter()) {
                        if e0 & (PRESENT | BACKED) != 0 && !runner_owned(va_of(at, 0, i0)) {
                            frames.free_user(mem, e0 & ADDR_MASK)?;
                        }
                    }
                    frames.free_table(mem, pt)?;
                }
                frames.free_table(mem, pd)?;
            }
            frames.free_table(mem, pdpt)?;
            mem.write_u64(self.root + slot * 8, 0)?;
        }
        frames.free_table(mem, self.root)?;
        Ok(())
    }
}

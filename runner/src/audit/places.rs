//! Where an address lies, in words: the mapping it belongs to (with its
//! protection, and `[stack]` or `[heap]` where it is one), or the part of
//! the address space no user mapping can be in.

use crate::guest::address_space::AddressSpace;
use crate::guest::layout::{KERNEL_BASE, STACK_TOP, USER_END};
use thinvisor_kmod::PAGE_SIZE;

/// The part of the address space an address is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    /// A user mapping: start, end, and its protection (r, w, x).
    Mapped {
        start: u64,
        end: u64,
        read: bool,
        write: bool,
        exec: bool,
    },
    /// User addresses no mapping holds.
    Unmapped,
    /// Between the halves: never a valid address.
    NonCanonical,
    /// The upper half below the runner's own area.
    KernelHalf,
    /// The runner's entry code, tables, stacks and monitor.
    Supervisor,
}

impl Region {
    /// Outside what user mode may ever reach.
    pub fn is_forbidden(self) -> bool {
        matches!(
            self,
            Region::NonCanonical | Region::KernelHalf | Region::Supervisor
        )
    }
}

/// What a process's address space looks like to the audit.
pub struct Places<'a> {
    pub mm: &'a AddressSpace,
    /// The lowest address the stack may grow to.
    pub stack_low: u64,
}

impl Places<'_> {
    /// The region `addr` is in.
    pub fn region(&self, addr: u64) -> Region {
        if addr >= KERNEL_BASE {
            return Region::Supervisor;
        }
        if addr >= 0xffff_8000_0000_0000 {
            return Region::KernelHalf;
        }
        if addr >= USER_END {
            return Region::NonCanonical;
        }
        let page = addr & !(PAGE_SIZE - 1);
        self.mm
            .regions()
            .find(|&(s, e, _, _)| s <= page && page < e)
            .map_or(Region::Unmapped, |(start, end, p, _)| Region::Mapped {
                start,
                end,
                read: p.read,
                write: p.write,
                exec: p.exec,
            })
    }

    /// Whether `addr` is within reach of the stack's growth but below its
    /// lowest page (the guard a runaway recursion hits).
    pub fn below_stack(&self, addr: u64) -> bool {
        addr < self.stack_low && addr >= self.stack_low.saturating_sub(1 << 20)
    }

    /// `addr`'s place in words.
    pub fn describe(&self, addr: u64) -> String {
        match self.region(addr) {
            Region::Supervisor => "the runner's supervisor area".into(),
            Region::KernelHalf => "the kernel half".into(),
            Region::NonCanonical => "a non-canonical address".into(),
            Region::Unmapped if addr < PAGE_SIZE => "the NULL page".into(),
            Region::Unmapped if self.below_stack(addr) => "unmapped, below the stack".into(),
            Region::Unmapped => "unmapped memory".into(),
            Region::Mapped {
                start,
                end,
                read,
                write,
                exec,
            } => {
                let prot = format!(
                    "{}{}{}",
                    if read { 'r' } else { '-' },
                    if write { 'w' } else { '-' },
                    if exec { 'x' } else { '-' }
                );
                let (heap_start, _, heap_end) = self.mm.heap();
                if start >= self.stack_low && end <= STACK_TOP {
                    format!("[stack] {prot}")
                } else if heap_end > heap_start && start >= heap_start && end <= heap_end {
                    format!("[heap] {prot}")
                } else {
                    format!("{start:#x}-{end:#x} {prot}")
                }
            }
        }
    }
}

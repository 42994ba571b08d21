//! Each vCPU's own supervisor state: a GDT whose TSS descriptor names its
//! own TSS, and a TSS whose IST1 is its own interrupt stack, where the
//! CPU pushes exception frames and the entry code keeps what it saves
//! (asm/entry.S). Two vCPUs never share a frame slot, so threads can take
//! exceptions and syscalls at the same time.
//!
//! vCPU 0 uses the fixed GDT, TSS and IST stack of the layout (the in-VM
//! monitor, which runs only with one vCPU, relies on them). vCPU n > 0
//! uses CPU page n - 1 at `CPU_PAGES_PA`: GDT at its start, TSS after it,
//! and the stack growing down from the page's end. The pages are mapped
//! supervisor-only (read, write, no execute) in the kernel window, which
//! every page-table root shares.

use super::address_space::AddressSpace;
use super::descriptors::{self, TSS_SIZE};
use super::layout::*;
use super::page_table::{PageTableError, NO_EXECUTE, PRESENT, WRITABLE};
use thinvisor_kmod::{GuestMemory, KmodError, PAGE_SIZE};

/// Bytes of the exception frame the entry stubs leave at the top of the
/// interrupt stack: error code, RIP, CS, RFLAGS, RSP, SS.
pub const FRAME_BYTES: u64 = 48;

/// Where a TSS sits in a CPU page (after the GDT).
const TSS_OFFSET: u64 = 0x40;
const _: () = assert!(descriptors::GDT_SIZE as u64 <= TSS_OFFSET);

/// One vCPU's supervisor pages, by address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuArea {
    /// The vCPU's index in its VM.
    pub index: u64,
    pub gdt_va: u64,
    pub tss_va: u64,
    /// Top of the interrupt stack, guest-virtual and guest-physical.
    pub stack_top_va: u64,
    pub stack_top_pa: u64,
}

/// Why a CPU area could not be built.
#[derive(Debug, thiserror::Error)]
pub enum CpuAreaError {
    #[error("no more than {MAX_VCPUS} threads can be alive at once")]
    TooMany,
    #[error(transparent)]
    Memory(#[from] KmodError),
    #[error(transparent)]
    Tables(#[from] PageTableError),
}

impl CpuArea {
    /// vCPU 0's: the fixed pages of the layout, built by `run::boot`.
    pub const fn first() -> CpuArea {
        CpuArea {
            index: 0,
            gdt_va: kva(GDT_PA),
            tss_va: kva(TSS_PA),
            stack_top_va: IST_STACK_TOP_VA,
            stack_top_pa: IST_STACK_TOP_PA,
        }
    }

    /// Writes and maps the CPU page of vCPU `index` (1 ..< MAX_VCPUS),
    /// overwriting whatever an earlier vCPU of that index left there.
    pub fn build(
        mem: &mut GuestMemory,
        aspace: &mut AddressSpace,
        index: u64,
    ) -> Result<CpuArea, CpuAreaError> {
        if index == 0 || index >= MAX_VCPUS {
            return Err(CpuAreaError::TooMany);
        }
        let page = CPU_PAGES_PA + (index - 1) * PAGE_SIZE;
        let area = CpuArea {
            index,
            gdt_va: kva(page),
            tss_va: kva(page + TSS_OFFSET),
            stack_top_va: kva(page + PAGE_SIZE),
            stack_top_pa: page + PAGE_SIZE,
        };
        mem.zero(page, PAGE_SIZE)?;
        descriptors::write_gdt_at(mem, page, area.tss_va)?;
        descriptors::write_tss_at(mem, page + TSS_OFFSET, area.stack_top_va)?;
        let tables = aspace.tables;
        tables.map(
            mem,
            &mut aspace.frames,
            kva(page),
            page,
            PRESENT | WRITABLE | NO_EXECUTE,
        )?;
        Ok(area)
    }

    /// Guest-physical address of the exception frame (its error code).
    pub fn frame_pa(&self) -> u64 {
        self.stack_top_pa - FRAME_BYTES
    }

    /// Guest-virtual address of the exception frame: RSP when an entry
    /// stub exits.
    pub fn frame_va(&self) -> u64 {
        self.stack_top_va - FRAME_BYTES
    }

    /// Bytes of this vCPU's TSS (its descriptor's limit + 1).
    pub fn tss_size(&self) -> u64 {
        TSS_SIZE
    }
}

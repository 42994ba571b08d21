//! Installing the monitor in a guest: the layout it was assembled with
//! (checked at compile time), its gate, code, data and stack pages, its
//! page-table root M, and the entry addresses LSTAR and vector 14 take.

use super::{data_pa, Monitor, MonitorBoot, MonitorError, BRK_HEADROOM};
use crate::abi::layouts::UTSNAME_LEN;
use crate::guest::address_space::AddressSpace;
use crate::guest::layout::*;
use crate::guest::monitor_image as mi;
use crate::guest::page_table::{NO_EXECUTE, PRESENT, WRITABLE};
use thinvisor_kmod::{GuestMemory, KmodError, PAGE_SIZE};

/// The layout the monitor was assembled with (build.rs keeps copies of
/// these constants) and its sizes, checked when the runner is compiled.
const _: () = {
    use crate::guest::entry_code as ec;
    assert!(mi::GATE_START == GATE_VA);
    assert!(mi::MONITOR_START == MONITOR_CODE_VA);
    assert!(mi::MONITOR_DATA == MONITOR_DATA_VA);
    assert!(mi::MONITOR_DATA_END <= MONITOR_DATA_VA + MONITOR_DATA_PAGES * PAGE_SIZE);
    assert!(mi::MONITOR_END <= MONITOR_CODE_VA + MONITOR_CODE_PAGES * PAGE_SIZE);
    assert!(mi::GATE_END <= GATE_VA + PAGE_SIZE);
    // The monitor region and the kernel window are in PML4 slot 511, the
    // region alone in PDPT entry 511, a guard page below the stack.
    assert!((MONITOR_VA >> 39) & 0x1ff == 511);
    assert!((KERNEL_BASE >> 39) & 0x1ff == 511);
    assert!((KERNEL_BASE >> 30) & 0x1ff == 510);
    assert!(MONITOR_STACK_VA > MONITOR_DATA_VA + MONITOR_DATA_PAGES * PAGE_SIZE);
    // Monitor frames lie below the frame allocator's first page: never
    // handed out to the program.
    assert!(MONITOR_STACK_PA + MONITOR_STACK_PAGES * PAGE_SIZE <= FIRST_FREE_PA);
    assert!(MONITOR_DATA_PA + MONITOR_DATA_PAGES * PAGE_SIZE <= MONITOR_STACK_PA);
    assert!(mi::MON_UTS_LEN as usize == UTSNAME_LEN);
    assert!(mi::BUILT_WITH_MONITOR_ROOT_PA == MONITOR_ROOT_PA);
    assert!(mi::BUILT_WITH_USER_ROOT_PA == PML4_PA);
    assert!(mi::BUILT_WITH_GATE_MARK == GATE_MARK_VA);
    assert!(mi::BUILT_WITH_GATE_RAX == GATE_RAX_VA);
    assert!(mi::BUILT_WITH_FRAME_VA == IST_STACK_TOP_VA - 48);
    assert!(mi::BUILT_WITH_USER_CS == USER_CS as u64);
    assert!(mi::BUILT_WITH_USER_DS == USER_DS as u64);
    assert!(mi::BUILT_WITH_MONITOR_STACK_TOP == MONITOR_STACK_TOP_VA);
    assert!(mi::BUILT_WITH_VECTOR_14 == ec::VECTOR_ENTRY[14]);
    assert!(mi::BUILT_WITH_SYSCALL_ENTRY == ec::SYSCALL_ENTRY);
};

/// Maps one supervisor page of the monitor region in M.
fn map_monitor_page(
    mem: &mut GuestMemory,
    index: u64,
    pa: u64,
    flags: u64,
) -> Result<(), KmodError> {
    mem.write_u64(MONITOR_PT_PA + index * 8, pa | flags)
}

impl Monitor {
    /// Installs the monitor in a guest under construction, after the
    /// supervisor area (kernel window) is built and before any user
    /// mapping: writes the gate page, code and data, builds M (user half
    /// shared with U, NX; slot 511 shares U's kernel window and adds the
    /// monitor region), maps the gate page in the kernel window, and
    /// attaches M as the mirror of the program's page tables.
    pub fn install(
        mem: &mut GuestMemory,
        aspace: &mut AddressSpace,
        boot: MonitorBoot,
    ) -> Result<Monitor, MonitorError> {
        mem.write(GATE_PA, mi::GATE_IMAGE)?;
        mem.write(MONITOR_CODE_PA, mi::CODE_IMAGE)?;
        mem.zero(MONITOR_DATA_PA, MONITOR_DATA_PAGES * PAGE_SIZE)?;
        mem.write(MONITOR_DATA_PA, mi::DATA_IMAGE)?;
        // The one entry gate this platform uses; the other's marker is refused.
        let gate = if boot.pf_path {
            mi::GATE_ID_PF
        } else {
            mi::GATE_ID_SYSCALL
        };
        mem.write_u64(data_pa(mi::MON_GATE_ID), gate)?;
        mem.zero(MONITOR_STACK_PA, MONITOR_STACK_PAGES * PAGE_SIZE)?;
        // The gate page: supervisor-only, read+execute, in the kernel window
        // (so in U and, through the shared window, in M).
        let tables = aspace.tables;
        tables.map(mem, &mut aspace.frames, GATE_VA, GATE_PA, PRESENT)?;

        for pa in [
            MONITOR_ROOT_PA,
            MONITOR_PDPT_PA,
            MONITOR_PD_PA,
            MONITOR_PT_PA,
        ] {
            mem.zero(pa, PAGE_SIZE)?;
        }
        // Slot 511: U's kernel-window PDPT entries, plus the monitor region
        // in the last GiB, which U's PDPT leaves empty.
        let u511 = mem.read_u64(PML4_PA + 511 * 8)?;
        if u511 & PRESENT == 0 {
            return Err(MonitorError::Internal(
                "the kernel window is not built".into(),
            ));
        }
        let u_pdpt = u511 & 0x000f_ffff_ffff_f000;
        for i in 0..512 {
            let e = mem.read_u64(u_pdpt + i * 8)?;
            mem.write_u64(MONITOR_PDPT_PA + i * 8, e)?;
        }
        let region = (MONITOR_VA >> 30) & 0x1ff;
        if mem.read_u64(u_pdpt + region * 8)? & PRESENT != 0 {
            return Err(MonitorError::Internal(
                "the monitor region is mapped in the program's tables".into(),
            ));
        }
        let table = PRESENT | WRITABLE; // supervisor-only at every level
        mem.write_u64(MONITOR_PDPT_PA + region * 8, MONITOR_PD_PA | table)?;
        mem.write_u64(MONITOR_PD_PA, MONITOR_PT_PA | table)?;
        mem.write_u64(MONITOR_ROOT_PA + 511 * 8, MONITOR_PDPT_PA | table)?;
        let data = PRESENT | WRITABLE | NO_EXECUTE;
        let first = |va: u64| (va - MONITOR_VA) / PAGE_SIZE;
        for i in 0..MONITOR_CODE_PAGES {
            map_monitor_page(
                mem,
                first(MONITOR_CODE_VA) + i,
                MONITOR_CODE_PA + i * PAGE_SIZE,
                PRESENT,
            )?;
        }
        for i in 0..MONITOR_DATA_PAGES {
            map_monitor_page(
                mem,
                first(MONITOR_DATA_VA) + i,
                MONITOR_DATA_PA + i * PAGE_SIZE,
                data,
            )?;
        }
        for i in 0..MONITOR_STACK_PAGES {
            map_monitor_page(
                mem,
                first(MONITOR_STACK_VA) + i,
                MONITOR_STACK_PA + i * PAGE_SIZE,
                data,
            )?;
        }
        aspace.tables.mirror = Some(MONITOR_ROOT_PA);
        aspace.tables.sync_mirror(mem)?;
        aspace.brk_headroom = BRK_HEADROOM;
        Ok(Monitor {
            ranges_for: None,
            write_fds: 0,
            flush_errors: 0,
        })
    }

    /// The address LSTAR holds with the monitor (the syscall gate).
    pub fn lstar(boot: MonitorBoot) -> u64 {
        if boot.skip_marker && !boot.pf_path {
            mi::GATE_SYSCALL_AFTER_MARKER
        } else {
            mi::GATE_SYSCALL
        }
    }

    /// The IDT entry of vector 14 with the monitor: its #PF gate on the
    /// #PF-frame path (kvm_pvm), else the runner's stub.
    pub fn pf_vector(boot: MonitorBoot, stub: u64) -> u64 {
        match (boot.pf_path, boot.skip_marker) {
            (true, false) => mi::GATE_PF,
            (true, true) => mi::GATE_PF_AFTER_MARKER,
            (false, _) => stub,
        }
    }
}

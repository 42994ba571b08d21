//! The guest's memory layout: where everything lives, physically and
//! virtually. See docs/architecture.md for the picture.

use thinvisor_kmod::PAGE_SIZE;

/// Base of the supervisor window: guest-physical page N of the supervisor
/// area is mapped at `KERNEL_BASE + N * 4096`, supervisor-only.
pub const KERNEL_BASE: u64 = 0xffff_ffff_8000_0000;

/// Guest-physical addresses of the supervisor area (never mapped for CPL3).
pub const GDT_PA: u64 = 0x1000;
pub const IDT_PA: u64 = 0x2000;
pub const TSS_PA: u64 = 0x3000;
/// Entry code: two pages of code, then one data page (see asm/entry.S).
pub const ENTRY_CODE_PA: u64 = 0x4000;
pub const ENTRY_CODE_PAGES: u64 = 2;
pub const ENTRY_DATA_PA: u64 = 0x6000;
/// The interrupt stack (IST1): every exception frame lands at its top.
pub const IST_STACK_PA: u64 = 0x8000;
pub const IST_STACK_TOP_PA: u64 = 0x10000;
/// Root of the guest page tables (the untrusted program's root, U).
pub const PML4_PA: u64 = 0x10000;

/// The in-VM monitor (docs/monitor.md). Its frames are reserved whether or
/// not a run uses the monitor, and U never maps any of them except the gate
/// page. M is the monitor's page-table root.
pub const MONITOR_ROOT_PA: u64 = 0x11000;
/// M's table for PML4 slot 511: shares U's kernel-window entries, adds the
/// monitor region at `MONITOR_VA`.
pub const MONITOR_PDPT_PA: u64 = 0x12000;
pub const MONITOR_PD_PA: u64 = 0x13000;
pub const MONITOR_PT_PA: u64 = 0x14000;
/// The gate page: entry and exit gates, mapped supervisor-only read+execute
/// in the kernel window, hence at the same address in U and M.
pub const GATE_PA: u64 = 0x15000;
/// Monitor code (read+execute), data (read+write, NX) and stack (read+write,
/// NX), mapped only in M.
pub const MONITOR_CODE_PA: u64 = 0x16000;
pub const MONITOR_CODE_PAGES: u64 = 1;
pub const MONITOR_DATA_PA: u64 = 0x17000;
pub const MONITOR_DATA_PAGES: u64 = 7;
pub const MONITOR_STACK_PA: u64 = 0x1e000;
pub const MONITOR_STACK_PAGES: u64 = 1;
/// The hidden monitor region: PML4 slot 511, PDPT entry 511 (the top GiB),
/// so monitor and gates are within reach of 32-bit displacements.
pub const MONITOR_VA: u64 = 0xffff_ffff_c000_0000;
pub const MONITOR_CODE_VA: u64 = MONITOR_VA;
pub const MONITOR_DATA_VA: u64 = MONITOR_VA + 0x1000;
/// One unmapped guard page between data and stack.
pub const MONITOR_STACK_VA: u64 = MONITOR_VA + 0x9000;
pub const MONITOR_STACK_TOP_VA: u64 = MONITOR_STACK_VA + MONITOR_STACK_PAGES * 0x1000;
/// Two qwords at the bottom of the IST stack page used by the gates before
/// the monitor's pages are mapped: the entry marker and the parked RAX.
pub const GATE_MARK_VA: u64 = kva(IST_STACK_PA);
pub const GATE_RAX_VA: u64 = kva(IST_STACK_PA) + 8;

/// The vDSO (docs/abi.md): its data page ("vvar", written only by the
/// runner) and the pages of its ELF image. Their frames are reserved in
/// every guest, like the monitor's; a run that provides the vDSO maps them
/// for user mode, read-only.
pub const VVAR_PA: u64 = 0x1f000;
pub const VDSO_PA: u64 = 0x20000;
/// Must equal VDSO_PAGES in build.rs (the image's size is checked there).
pub const VDSO_PAGES: u64 = 2;

/// The CPU pages of the second and later vCPUs (guest/cpu_area.rs): one
/// page each holds that vCPU's GDT, TSS and interrupt stack. vCPU 0 uses
/// the fixed GDT, TSS and IST stack above. Reserved in every guest; the
/// host backs a page only once a thread's vCPU uses it.
pub const CPU_PAGES_PA: u64 = VDSO_PA + VDSO_PAGES * PAGE_SIZE;
/// The most vCPUs a guest can have (guest threads alive at once): vCPU 0
/// and one CPU page for each other.
pub const MAX_VCPUS: u64 = 256;

/// First guest-physical page handed out by the frame allocator.
pub const FIRST_FREE_PA: u64 = CPU_PAGES_PA + (MAX_VCPUS - 1) * PAGE_SIZE;

/// Virtual address of a supervisor-area physical address.
pub const fn kva(pa: u64) -> u64 {
    KERNEL_BASE + pa
}

/// Must equal ENTRY_CODE_VA in build.rs.
pub const ENTRY_CODE_VA: u64 = kva(ENTRY_CODE_PA);
/// Must equal GATE_VA in build.rs.
pub const GATE_VA: u64 = kva(GATE_PA);
pub const IST_STACK_TOP_VA: u64 = kva(IST_STACK_TOP_PA);

/// GDT selectors. SYSCALL loads CS/SS from STAR[47:32] (+0, +8); SYSRET
/// loads SS from STAR[63:48]+8 and CS from STAR[63:48]+16, both with RPL 3.
pub const KERNEL_CS: u16 = 0x08;
pub const KERNEL_DS: u16 = 0x10;
// SYSCALL loads SS = STAR[47:32] + 8: the kernel data segment must follow
// the kernel code segment.
const _: () = assert!(KERNEL_DS == KERNEL_CS + 8);
pub const USER_DS: u16 = 0x20 | 3;
pub const USER_CS: u16 = 0x28 | 3;
pub const TSS_SEL: u16 = 0x30;
pub const STAR: u64 = (0x18u64 << 48) | ((KERNEL_CS as u64) << 32);

/// Where a flat binary is loaded and entered.
pub const FLAT_LOAD_VA: u64 = 0x40_0000;
/// Lowest address the guest may map (NULL-page guard, like vm.mmap_min_addr).
pub const MIN_USER_VA: u64 = 0x1_0000;
/// One past the highest user address (the canonical lower half ends here).
pub const USER_END: u64 = 0x0000_8000_0000_0000;
/// Top of the initial stack, and its largest size (mapped up front).
pub const STACK_TOP: u64 = 0x7fff_ffff_f000;
pub const STACK_SIZE: u64 = 2 << 20;

/// The stack mapped for a memory limit: 2 MiB, or a quarter of a small
/// limit (at least 64 KiB), so small sandboxes still fit their program.
pub fn stack_size(user_limit: u64) -> u64 {
    (user_limit / 4).clamp(64 << 10, STACK_SIZE) & !(PAGE_SIZE - 1)
}
/// mmap allocates top-down from here when no address is given.
pub const MMAP_TOP: u64 = 0x7f00_0000_0000;
/// Where a dynamically linked program's interpreter (the dynamic loader)
/// is loaded: Linux's address for it without address randomisation, above
/// the mmap area (which never hands it out) and below the vDSO.
pub const INTERP_BASE: u64 = 0x7fff_f7fc_3000;
const _: () = assert!(INTERP_BASE >= MMAP_TOP && INTERP_BASE < VVAR_VA);
/// The vDSO's fixed user addresses, between the mmap area and the stack:
/// the data page, then the ELF image (AT_SYSINFO_EHDR). No program segment
/// may reach this far up (loader/elf/segments.rs), the mmap allocator
/// never hands it out, and the program cannot unmap, remap or change it
/// (address_space/mappings.rs).
pub const VVAR_VA: u64 = 0x7fff_ffd0_0000;
pub const VDSO_VA: u64 = VVAR_VA + PAGE_SIZE;
/// One past the vDSO's last page.
pub const VDSO_END: u64 = VDSO_VA + VDSO_PAGES * PAGE_SIZE;
const _: () = assert!(VVAR_VA >= MMAP_TOP && VDSO_END <= STACK_TOP - STACK_SIZE);

/// Guest-physical memory reserved beyond the user-memory limit: the
/// supervisor area plus page tables (one 4 KiB table per 2 MiB mapped, with
/// slack for sparse mappings and copies), plus 2 MiB for aligning the 2 MiB
/// blocks at the top. The host backs only what the guest touches.
pub fn physical_size(user_limit: u64) -> u64 {
    let pages = user_limit.div_ceil(PAGE_SIZE);
    let tables = pages / 512 + 256;
    let alignment = super::frames::HUGE_PAGES;
    FIRST_FREE_PA + (pages + tables + alignment) * PAGE_SIZE
}

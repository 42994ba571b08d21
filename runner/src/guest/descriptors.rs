//! GDT, IDT and TSS of the guest, written into the supervisor area.

use super::layout::*;
use thinvisor_kmod::{GuestMemory, KmodError};

/// A 64-bit code or data segment descriptor with the accessed bit preset
/// (so the CPU never writes to the GDT when loading it).
const fn segment(dpl: u64, code: bool) -> u64 {
    let type_ = if code { 0xb } else { 0x3 }; // exec/read or read/write, accessed
    let long = if code { 1u64 << 53 } else { 0 };
    let db = if code { 0 } else { 1u64 << 54 };
    0xffff
        | (type_ << 40)
        | (1 << 44)
        | (dpl << 45)
        | (1 << 47)
        | (0xf << 48)
        | long
        | db
        | (1 << 55)
}

/// The GDT: null, kernel code, kernel data, (unused 32-bit user code slot
/// for the SYSRET layout), user data, user code, TSS (two slots).
pub fn write_gdt(mem: &mut GuestMemory) -> Result<(), KmodError> {
    write_gdt_at(mem, GDT_PA, kva(TSS_PA))
}

/// A GDT at guest-physical `gdt_pa` whose TSS descriptor names `tss_va`
/// (one per vCPU: guest/cpu_area.rs).
pub fn write_gdt_at(mem: &mut GuestMemory, gdt_pa: u64, tss_va: u64) -> Result<(), KmodError> {
    let tss_limit = 0x67u64;
    let tss_low = tss_limit
        | ((tss_va & 0xff_ffff) << 16)
        | (0x89 << 40) // present, 64-bit available TSS
        | (((tss_va >> 24) & 0xff) << 56);
    let entries = [
        0,
        segment(0, true),
        segment(0, false),
        0,
        segment(3, false),
        segment(3, true),
        tss_low,
        tss_va >> 32,
    ];
    for (i, e) in entries.iter().enumerate() {
        mem.write_u64(gdt_pa + i as u64 * 8, *e)?;
    }
    Ok(())
}

/// Number of GDT bytes in use (limit + 1).
pub const GDT_SIZE: u16 = 8 * 8;

/// The TSS: no RSP0 use (gates switch to IST1), IST1 at the interrupt stack,
/// no I/O permission bitmap (so IN/OUT from CPL3 fault on hardware).
pub fn write_tss(mem: &mut GuestMemory) -> Result<(), KmodError> {
    write_tss_at(mem, TSS_PA, IST_STACK_TOP_VA)
}

/// A TSS at guest-physical `tss_pa` whose RSP0 and IST1 are `stack_top_va`.
pub fn write_tss_at(
    mem: &mut GuestMemory,
    tss_pa: u64,
    stack_top_va: u64,
) -> Result<(), KmodError> {
    mem.zero(tss_pa, TSS_SIZE)?;
    mem.write_u64(tss_pa + 4, stack_top_va)?; // RSP0
    mem.write_u64(tss_pa + 0x24, stack_top_va)?; // IST1
                                                 // I/O map base beyond the limit: no bitmap.
    mem.write(tss_pa + 0x66, &(TSS_SIZE as u16).to_le_bytes())?;
    Ok(())
}

/// Bytes of a 64-bit TSS (limit + 1).
pub const TSS_SIZE: u64 = 0x68;

/// The IDT: vectors 0..31 are interrupt gates to the entry stubs on IST1.
/// #BP and #OF have DPL 3 so `int3`/`into` from user mode raise them (as on
/// Linux); everything else is DPL 0, so `int N` from user mode is a #GP.
pub fn write_idt(mem: &mut GuestMemory, handlers: &[u64; 32]) -> Result<(), KmodError> {
    mem.zero(IDT_PA, 256 * 16)?;
    for (vector, &handler) in handlers.iter().enumerate() {
        let dpl: u64 = if vector == 3 || vector == 4 { 3 } else { 0 };
        let ist = 1u64;
        let low = (handler & 0xffff)
            | ((KERNEL_CS as u64) << 16)
            | (ist << 32)
            | ((0x8e | (dpl << 5)) << 40)
            | (((handler >> 16) & 0xffff) << 48);
        mem.write_u64(IDT_PA + vector as u64 * 16, low)?;
        mem.write_u64(IDT_PA + vector as u64 * 16 + 8, handler >> 32)?;
    }
    Ok(())
}

/// IDT limit for 32 gates.
pub const IDT_SIZE: u16 = 32 * 16;

//! A minimal 64-bit CPL0 guest for the kmod tests: identity-mapped first
//! 2 MiB (one large page), flat code/data segments, code at 0x1000.

use thinvisor_kmod::{GuestMemory, Hypervisor, MemoryAccess, Vcpu, Vm, VmOptions};

pub const CODE: u64 = 0x1000;
pub const MEM: usize = 0x20_0000;

/// A VM with `code` at 0x1000, entered in 64-bit mode at CPL0.
pub fn long_mode_guest(code: &[u8]) -> (Vm, Vcpu) {
    long_mode_guest_with(code, VmOptions::default())
}

/// [`long_mode_guest`] in a VM created with `options`.
pub fn long_mode_guest_with(code: &[u8], options: VmOptions) -> (Vm, Vcpu) {
    let hv = Hypervisor::open().expect("open /dev/kvm (tests need KVM)");
    let mut vm = hv.create_vm_with(options).expect("create vm");
    let mut mem = GuestMemory::new(MEM).expect("memory");
    // PML4 at 0x8000 -> PDPT 0x9000 -> PD 0xa000 (2 MiB page at 0).
    mem.write_u64(0x8000, 0x9000 | 3).expect("pml4");
    mem.write_u64(0x9000, 0xa000 | 3).expect("pdpt");
    mem.write_u64(0xa000, 0x83).expect("pd");
    mem.write(CODE, code).expect("code");
    vm.map_memory(
        0,
        mem,
        MemoryAccess {
            write: true,
            track_dirty: true,
        },
    )
    .expect("map");
    let mut vcpu = vm.create_vcpu().expect("vcpu");
    let s = vcpu.sregs_mut().expect("sregs");
    s.cr3 = 0x8000;
    s.cr4 = 1 << 5; // PAE
    s.cr0 = 0x8000_0033; // PG | NE | ET | MP | PE
    s.efer = 0x500; // LME | LMA
    s.cs.base = 0;
    s.cs.limit = 0xffff_ffff;
    s.cs.selector = 0x8;
    s.cs.type_ = 11;
    s.cs.present = 1;
    s.cs.s = 1;
    s.cs.l = 1;
    s.cs.g = 1;
    let mut ds = s.cs;
    ds.type_ = 3;
    ds.l = 0;
    ds.db = 1;
    ds.selector = 0x10;
    s.ds = ds;
    s.es = ds;
    s.ss = ds;
    let r = vcpu.regs_mut().expect("regs");
    r.rip = CODE;
    r.rsp = 0x7000;
    r.rflags = 2;
    (vm, vcpu)
}

//! Reusing a VM for another guest: `Vm::reset_memory` (KVM forgets what it
//! derived from the old page tables) and `Vcpu::snapshot`/`restore` (a used
//! vCPU starts again as it started when new).

// A test crate: its helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod common;

use common::{long_mode_guest, CODE};
use thinvisor_kmod::{SlotId, VmExit};

/// FS_BASE, a guest-state MSR the runner sets at every arch_prctl.
const MSR_FS_BASE: u32 = 0xC000_0100;
/// The data page the guest reads, mapped by a 4 KiB entry of its own.
const DATA: u64 = 0x10_0000;
/// The page table that maps DATA (PD entry 0 points at it).
const PT: u64 = 0xb000;

/// Maps the first 2 MiB with 4 KiB pages (a page table at `PT`) instead of
/// `long_mode_guest`'s one 2 MiB page, so one page can be unmapped alone.
fn four_kib_pages(mem: &mut thinvisor_kmod::GuestMemory) {
    for i in 0..512u64 {
        mem.write_u64(PT + i * 8, (i << 12) | 3).expect("pte");
    }
    mem.write_u64(0xa000, PT | 3).expect("pd");
}

#[test]
fn a_reset_slot_drops_what_kvm_built_from_the_old_page_tables() {
    // mov rbx, DATA ; mov al, [rbx] ; out 0x42, al ; hlt
    let code = [
        0x48, 0xc7, 0xc3, 0x00, 0x00, 0x10, 0x00, 0x8a, 0x03, 0xe6, 0x42, 0xf4,
    ];
    let (mut vm, mut vcpu) = long_mode_guest(&code);
    let mem = vm.memory_mut(SlotId::FIRST).expect("memory");
    four_kib_pages(mem);
    mem.write(DATA, &[0x77]).expect("data");
    let read = |vcpu: &mut thinvisor_kmod::Vcpu| {
        vcpu.regs_mut().expect("regs").rip = CODE;
        vcpu.run().expect("run")
    };
    assert_eq!(
        read(&mut vcpu),
        VmExit::IoOut {
            port: 0x42,
            size: 1,
            data: 0x77
        }
    );
    // A vCPU state to come back to after the fault below.
    let good = vcpu.snapshot().expect("snapshot");
    // The next guest: the same page tables, without the data page, and
    // other bytes where the data was. Written while the slot is out of
    // KVM, so nothing KVM translated for the old guest is left.
    vm.reset_memory(SlotId::FIRST, |m| {
        m.write_u64(PT + (DATA >> 12) * 8, 0)?;
        m.write(DATA, &[0x55])
    })
    .expect("reset");
    let exit = read(&mut vcpu);
    assert!(
        !matches!(exit, VmExit::IoOut { port: 0x42, .. }),
        "the unmapped page was still readable: {exit:?}"
    );
    // Mapped again: the new bytes, not the old ones.
    vcpu.restore(&good).expect("restore");
    vm.reset_memory(SlotId::FIRST, |m| {
        m.write_u64(PT + (DATA >> 12) * 8, DATA | 3)
    })
    .expect("reset");
    assert_eq!(
        read(&mut vcpu),
        VmExit::IoOut {
            port: 0x42,
            size: 1,
            data: 0x55
        }
    );
}

#[test]
fn a_restored_vcpu_has_its_snapshot_state_again() {
    // mov rax, 5 ; mov rbx, 6 ; out 0x42, al ; hlt
    let code = [
        0x48, 0xc7, 0xc0, 0x05, 0x00, 0x00, 0x00, 0x48, 0xc7, 0xc3, 0x06, 0x00, 0x00, 0x00, 0xe6,
        0x42, 0xf4,
    ];
    let (_vm, mut vcpu) = long_mode_guest(&code);
    vcpu.sregs_mut().expect("sregs").fs.base = 0x1234_5000;
    // The snapshot includes the deferred set-up (written first).
    let snapshot = vcpu.snapshot().expect("snapshot");
    let counters = vcpu.counters();
    let regs = *vcpu.regs().expect("regs");
    let sregs = *vcpu.sregs().expect("sregs");
    let fpu = *vcpu.fpu().expect("fpu");
    assert_eq!(regs.rip, CODE);

    // A run changes general registers; the runner changes the rest.
    assert!(matches!(
        vcpu.run().expect("run"),
        VmExit::IoOut { port: 0x42, .. }
    ));
    assert_eq!(vcpu.regs().expect("regs").rax, 5);
    vcpu.set_msr(MSR_FS_BASE, 0x7777_0000).expect("fs");
    vcpu.sregs_mut().expect("sregs").cr2 = 0x4000;
    vcpu.fpu_mut().expect("fpu").xmm[3] = [0xab; 16];
    vcpu.fpu_mut().expect("fpu").mxcsr = 0x1f80 | 0x8000;
    assert_eq!(vcpu.run().expect("run"), VmExit::Hlt);
    // A change still deferred when the state is restored is dropped.
    vcpu.regs_mut().expect("regs").rcx = 99;

    vcpu.restore(&snapshot).expect("restore");
    assert_eq!(*vcpu.regs().expect("regs"), regs);
    assert_eq!(*vcpu.sregs().expect("sregs"), sregs);
    let now = *vcpu.fpu().expect("fpu");
    assert_eq!(now.xmm, fpu.xmm);
    assert_eq!(now.mxcsr, fpu.mxcsr);
    assert_eq!(vcpu.msr(MSR_FS_BASE).expect("fs"), 0x1234_5000);
    assert_eq!(
        vcpu.counters().runs,
        counters.runs,
        "counters start again from the snapshot's"
    );
    // And it runs as it ran from there.
    assert_eq!(
        vcpu.run().expect("run"),
        VmExit::IoOut {
            port: 0x42,
            size: 1,
            data: 5
        }
    );
    assert_eq!(vcpu.regs().expect("regs").rcx, regs.rcx);
    assert_eq!(vcpu.run().expect("run"), VmExit::Hlt);
}

/// An MMIO read hands its data to user space and KVM completes the
/// instruction at the next KVM_RUN; a restore must not let that completion
/// run over the restored state.
#[test]
fn a_restore_drops_what_kvm_owed_the_last_exit() {
    let code = [
        0x48, 0xc7, 0xc3, 0x00, 0x00, 0x20,
        0x00, // mov rbx, 0x200000 (-> 0x40000000: no slot)
        0x8a, 0x03, // mov al, [rbx]
        0xf4, // hlt
        0xb0, 0x5a, // mov al, 0x5a
        0xe6, 0x42, // out 0x42, al
        0xf4, // hlt
    ];
    let (mut vm, mut vcpu) = long_mode_guest(&code);
    // The second 2 MiB of virtual memory: guest-physical memory no slot
    // backs, so reads there are MMIO.
    vm.memory_mut(SlotId::FIRST)
        .expect("memory")
        .write_u64(0xa008, 0x4000_0000 | 0x83)
        .expect("pd");
    vcpu.regs_mut().expect("regs").rip = CODE + 10;
    let snapshot = vcpu.snapshot().expect("snapshot");
    vcpu.regs_mut().expect("regs").rip = CODE;
    let exit = vcpu.run().expect("run");
    assert!(
        matches!(
            exit,
            VmExit::Mmio {
                gpa: 0x4000_0000,
                write: false,
                ..
            }
        ),
        "{exit:?}"
    );
    vcpu.restore(&snapshot).expect("restore");
    assert_eq!(
        vcpu.run().expect("run"),
        VmExit::IoOut {
            port: 0x42,
            size: 1,
            data: 0x5a
        },
        "the run starts where the snapshot was taken"
    );
}

//! Runs real guest bytes on /dev/kvm through the thin hypervisor.

// A test crate: its helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

mod common;

use common::{long_mode_guest, long_mode_guest_with};
use std::time::Duration;
use thinvisor_kmod::{MemoryAccess, SlotId, VmExit, VmOptions};

#[test]
fn out_exit_reports_port_and_data_and_costs_one_ioctl() {
    // mov al, 0x5a ; out 0x42, al ; inc rbx ; out 0x43, al ; hlt
    let (_vm, mut vcpu) =
        long_mode_guest(&[0xb0, 0x5a, 0xe6, 0x42, 0x48, 0xff, 0xc3, 0xe6, 0x43, 0xf4]);
    assert_eq!(
        vcpu.run().expect("run"),
        VmExit::IoOut {
            port: 0x42,
            size: 1,
            data: 0x5a
        }
    );
    let before = vcpu.counters().ioctls;
    // Change a register through the cache: no ioctl until the next run.
    vcpu.regs_mut().expect("regs").rbx = 41;
    assert_eq!(vcpu.counters().ioctls, before);
    assert!(matches!(
        vcpu.run().expect("run"),
        VmExit::IoOut { port: 0x43, .. }
    ));
    if vcpu.uses_sync_regs() {
        // Exactly one ioctl (KVM_RUN) for the exit plus its handling.
        assert_eq!(vcpu.counters().ioctls, before + 1);
    }
    assert_eq!(vcpu.regs().expect("regs").rbx, 42);
}

/// Interrupts `vcpu` from another thread 100 ms from now.
fn interrupt_later(vcpu: &thinvisor_kmod::Vcpu) -> std::thread::JoinHandle<()> {
    let kick = vcpu.interrupter();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        assert!(kick.interrupt());
    })
}

#[test]
fn interrupter_stops_a_spinning_guest() {
    let (_vm, mut vcpu) = long_mode_guest(&[0xeb, 0xfe]); // jmp $
    let t = interrupt_later(&vcpu);
    assert_eq!(vcpu.run().expect("run"), VmExit::Interrupted);
    t.join().expect("join");
    // Interrupted once; the next interrupt before running also takes effect.
    vcpu.interrupter().interrupt();
    assert_eq!(vcpu.run().expect("run"), VmExit::Interrupted);
    assert!(vcpu.counters().in_guest >= Duration::from_millis(50));
}

#[test]
fn kernel_lapic_vm_runs_exits_and_waits_in_hlt_until_interrupted() {
    // mov al, 7 ; out 0x42, al ; hlt
    let options = VmOptions { kernel_lapic: true };
    let (_vm, mut vcpu) = long_mode_guest_with(&[0xb0, 0x07, 0xe6, 0x42, 0xf4], options);
    assert_eq!(
        vcpu.run().expect("run"),
        VmExit::IoOut {
            port: 0x42,
            size: 1,
            data: 7
        }
    );
    // With the APIC in the kernel, HLT does not exit: the vCPU waits for an
    // interrupt that never comes, until the interrupter ends the run.
    let t = interrupt_later(&vcpu);
    assert_eq!(vcpu.run().expect("run"), VmExit::Interrupted);
    t.join().expect("join");
}

#[test]
fn interrupter_is_inert_after_the_vcpu_is_gone() {
    let (_vm, vcpu) = long_mode_guest(&[0xf4]);
    let kick = vcpu.interrupter();
    drop(vcpu);
    assert!(!kick.interrupt());
}

#[test]
fn read_only_slot_turns_writes_into_mmio_exits_and_dirty_log_sees_writes() {
    // mov qword [0x100000], rax ; hlt
    let code = [0x48, 0x89, 0x04, 0x25, 0x00, 0x00, 0x10, 0x00, 0xf4];
    let (mut vm, mut vcpu) = long_mode_guest(&code);
    let slot = SlotId::FIRST;
    vm.dirty_pages(slot).expect("clear log");
    vcpu.regs_mut().expect("regs").rax = 0x1234;
    assert_eq!(vcpu.run().expect("run"), VmExit::Hlt);
    assert_eq!(
        vm.memory(slot)
            .expect("mem")
            .read_u64(0x100000)
            .expect("read"),
        0x1234
    );
    assert!(vm.dirty_pages(slot).expect("log").contains(&0x100));
    vm.protect(slot, MemoryAccess::READ_ONLY).expect("protect");
    let r = vcpu.regs_mut().expect("regs");
    r.rip = common::CODE;
    r.rax = 0x9999;
    let exit = vcpu.run().expect("run");
    assert!(
        matches!(
            exit,
            VmExit::Mmio {
                gpa: 0x100000,
                write: true,
                ..
            }
        ),
        "{exit:?}"
    );
}

#[test]
fn sealed_vm_refuses_slot_changes_and_still_runs() {
    // out 0x42, al ; jmp back to the out
    let (mut vm, mut vcpu) = long_mode_guest(&[0xe6, 0x42, 0xeb, 0xfc]);
    vm.seal_memory_layout();
    assert!(vm.is_sealed());
    let extra = thinvisor_kmod::GuestMemory::new(4096).expect("memory");
    assert!(vm
        .map_memory(0x100_0000, extra, MemoryAccess::READ_WRITE)
        .is_err());
    assert!(vm.protect(SlotId::FIRST, MemoryAccess::READ_ONLY).is_err());
    assert!(vm.unmap_memory(SlotId::FIRST).is_err());
    for _ in 0..2 {
        assert!(matches!(
            vcpu.run().expect("run"),
            VmExit::IoOut { port: 0x42, .. }
        ));
    }
    // Dropping the VM first (no slot deletion) and then the vCPU is fine.
    drop(vm);
    drop(vcpu);
}

/// A vCPU run on its helper thread (`run_remotely`): the same exits as a
/// run on the owner (port and data read from the run mapping), the state
/// refused while a run is in flight, the owner free meanwhile, and an
/// interrupter that stops a spinning guest there.
#[test]
fn a_remote_run_gives_the_same_exits_and_refuses_state_while_in_flight() {
    // mov al, 0x5a ; out 0x42, al ; inc rbx ; out 0x43, al ; jmp $
    let (_vm, mut vcpu) = long_mode_guest(&[
        0xb0, 0x5a, 0xe6, 0x42, 0x48, 0xff, 0xc3, 0xe6, 0x43, 0xeb, 0xfe,
    ]);
    vcpu.run_remotely().expect("helper");
    assert!(vcpu.is_remote());
    assert_eq!(
        vcpu.run().expect("run"),
        VmExit::IoOut {
            port: 0x42,
            size: 1,
            data: 0x5a
        }
    );
    vcpu.regs_mut().expect("regs").rbx = 41;
    vcpu.start_run().expect("start");
    // The exit comes while this thread is free to do other things.
    let exit = loop {
        if let Some(exit) = vcpu.finish_run(None).expect("finish") {
            break exit;
        }
        assert!(vcpu.regs().is_err(), "state refused while the guest runs");
        std::thread::yield_now();
    };
    assert!(matches!(exit, VmExit::IoOut { port: 0x43, .. }), "{exit:?}");
    assert_eq!(vcpu.regs().expect("regs").rbx, 42);
    // Now it spins: an interrupter reaches the helper.
    let t = interrupt_later(&vcpu);
    vcpu.start_run().expect("start");
    assert_eq!(
        vcpu.finish_run(Some(Duration::from_secs(10)))
            .expect("finish"),
        Some(VmExit::Interrupted)
    );
    t.join().expect("join");
    assert!(vcpu.finish_run(None).is_err(), "no run in flight any more");
}

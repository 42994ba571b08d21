//! A reused VM starts each guest as a new VM would (run/recycle.rs): two
//! hand-assembled programs in a row, the second looking for what the first
//! left behind, in one executor.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use super::*;

/// mmap(0x10000000, 4096, RW, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED), a byte
/// written there, exit(0).
const MAPS_A_PAGE: &[u8] = &[
    0xb8, 0x09, 0x00, 0x00, 0x00, // mov eax, 9
    0xbf, 0x00, 0x00, 0x00, 0x10, // mov edi, 0x10000000
    0xbe, 0x00, 0x10, 0x00, 0x00, // mov esi, 0x1000
    0xba, 0x03, 0x00, 0x00, 0x00, // mov edx, 3
    0x41, 0xba, 0x32, 0x00, 0x00, 0x00, // mov r10d, 0x32
    0x49, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff, // mov r8, -1
    0x45, 0x31, 0xc9, // xor r9d, r9d
    0x0f, 0x05, // syscall
    0xc6, 0x04, 0x25, 0x00, 0x00, 0x00, 0x10, 0x41, // mov byte [0x10000000], 0x41
    0x31, 0xff, // xor edi, edi
    0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60
    0x0f, 0x05, // syscall
];

/// exit(the byte at 0x10000000), which it never mapped: SIGSEGV.
const READS_THAT_PAGE: &[u8] = &[
    0x0f, 0xb6, 0x3c, 0x25, 0x00, 0x00, 0x00, 0x10, // movzx edi, byte [0x10000000]
    0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60
    0x0f, 0x05, // syscall
];

/// Leaves state behind: all-ones in xmm0, a word below its stack pointer,
/// an FS base (arch_prctl(ARCH_SET_FS, 0x12340000)); exit(0).
const LEAVES_STATE: &[u8] = &[
    0x66, 0x0f, 0x76, 0xc0, // pcmpeqd xmm0, xmm0
    0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, // mov rax, 0x1122334455667788
    0x48, 0x89, 0x44, 0x24, 0xe0, // mov [rsp-32], rax
    0xbf, 0x02, 0x10, 0x00, 0x00, // mov edi, 0x1002
    0xbe, 0x00, 0x00, 0x34, 0x12, // mov esi, 0x12340000
    0xb8, 0x9e, 0x00, 0x00, 0x00, // mov eax, 158
    0x0f, 0x05, // syscall
    0x31, 0xff, // xor edi, edi
    0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60
    0x0f, 0x05, // syscall
];

/// exit(1) if xmm0, the word at rsp-32 or the FS base (ARCH_GET_FS) is
/// not zero, else exit(0).
const LOOKS_FOR_STATE: &[u8] = &[
    0x31, 0xff, // xor edi, edi
    0x66, 0x0f, 0x7e, 0xc0, // movd eax, xmm0
    0x09, 0xc7, // or edi, eax
    0x48, 0x8d, 0x74, 0x24, 0xf0, // lea rsi, [rsp-16]
    0x41, 0x89, 0xfc, // mov r12d, edi
    0xbf, 0x03, 0x10, 0x00, 0x00, // mov edi, 0x1003
    0xb8, 0x9e, 0x00, 0x00, 0x00, // mov eax, 158
    0x0f, 0x05, // syscall
    0x44, 0x89, 0xe7, // mov edi, r12d
    0x48, 0x0b, 0x7c, 0x24, 0xf0, // or rdi, [rsp-16]
    0x48, 0x0b, 0x7c, 0x24, 0xe0, // or rdi, [rsp-32]
    0x48, 0x85, 0xff, // test rdi, rdi
    0x40, 0x0f, 0x95, 0xc7, // setnz dil
    0x40, 0x0f, 0xb6, 0xff, // movzx edi, dil
    0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60
    0x0f, 0x05, // syscall
];

fn program(bytes: &[u8]) -> Program {
    Program {
        bytes: bytes.to_vec(),
        args: Vec::new(),
        origin: "executor test".into(),
    }
}

fn executor(fresh_vms: bool) -> Executor {
    let settings = Settings {
        memory_limit: 4 << 20,
        time_limit: Duration::from_secs(5),
        fresh_vms,
    };
    Executor::new(settings, PathBuf::from("/dev/null"), 0x5eed).expect("executor (needs KVM)")
}

/// Runs `first`, then `second` in the same executor, both with the
/// syscall ring or both without; the second's run.
fn one_after_the_other_in(first: &[u8], second: &[u8], fresh_vms: bool, ring: bool) -> Execution {
    let mut exec = executor(fresh_vms);
    let a = exec.run(&in_mode(first, ring));
    assert!(
        matches!(a.ending, Ending::Exited(0)) && a.canaries.is_empty(),
        "{}",
        super::super::report::describe(&a)
    );
    exec.run(&in_mode(second, ring))
}

#[test]
fn a_page_the_last_guest_mapped_is_not_there_for_the_next() {
    for (fresh_vms, ring) in [(false, false), (false, true), (true, false)] {
        let b = one_after_the_other_in(MAPS_A_PAGE, READS_THAT_PAGE, fresh_vms, ring);
        assert_eq!(b.vm_reused, u64::from(!fresh_vms));
        assert!(
            matches!(&b.ending, Ending::Killed(Death::Signal { signal: 11, .. })),
            "fresh_vms {fresh_vms}, ring {ring}: {}",
            super::super::report::describe(&b)
        );
    }
}

#[test]
fn registers_memory_and_fs_base_start_as_in_a_new_vm() {
    for (fresh_vms, ring) in [(false, false), (false, true), (true, false)] {
        let b = one_after_the_other_in(LEAVES_STATE, LOOKS_FOR_STATE, fresh_vms, ring);
        assert_eq!(b.vm_reused, u64::from(!fresh_vms));
        assert!(
            matches!(b.ending, Ending::Exited(0)) && b.canaries.is_empty(),
            "fresh_vms {fresh_vms}, ring {ring}: {}",
            super::super::report::describe(&b)
        );
    }
}

#[test]
fn a_vm_is_reused_only_after_a_clean_single_vcpu_run() {
    let mut exec = executor(false);
    for _ in 0..3 {
        let e = exec.run(&in_mode(LEAVES_STATE, false));
        assert!(matches!(e.ending, Ending::Exited(0)));
    }
    assert_eq!(exec.vm_counts.built, 1);
    assert_eq!(exec.vm_counts.reused, 2);
    // A program the loader refuses takes no VM.
    let e = exec.run(&program(&[]));
    assert!(matches!(e.ending, Ending::NotLoaded(_)), "{:?}", e.ending);
    let e = exec.run(&in_mode(LOOKS_FOR_STATE, false));
    assert!(matches!(e.ending, Ending::Exited(0)));
    assert_eq!(e.vm_reused, 3);
}

/// `bytes`, followed by unreachable bytes if needed, as a program that
/// runs by exit (`ring` false) or with the ring from its first instruction
/// (`Program::uses_ring` and `Program::ring_start`: bits of an FNV-1a
/// hash of the bytes).
fn in_mode(bytes: &[u8], ring: bool) -> Program {
    with_syscalls(bytes, if ring { "ring" } else { "exit" })
}

/// `bytes`, padded as [`in_mode`] pads them, as a program fuzzed as under
/// `runner exec --syscalls FLAG` (`Program::syscalls_flag`).
fn with_syscalls(bytes: &[u8], flag: &str) -> Program {
    let mut b = bytes.to_vec();
    for _ in 0..64 {
        let p = program(&b);
        if p.syscalls_flag() == flag {
            return p;
        }
        b.push(0x91);
    }
    panic!("no padding gives --syscalls {flag}");
}

/// getpid three times from one `syscall` site, then exit(0).
const GETPID_LOOP: &[u8] = &[
    0xbb, 0x03, 0x00, 0x00, 0x00, // mov ebx, 3
    0xb8, 0x27, 0x00, 0x00, 0x00, // loop: mov eax, 39
    0x0f, 0x05, // syscall
    0xff, 0xcb, // dec ebx
    0x75, 0xf5, // jnz loop
    0x31, 0xff, // xor edi, edi
    0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60
    0x0f, 0x05, // syscall
];

/// A program fuzzed with the ring's late start (as under `auto`) runs
/// without a vCPU run thread until one of its sites traps a second time:
/// one whose calls each have their own site leaves its VM without one
/// (kept for exit runs), a loop's vCPU moves to its run thread during the
/// run (its VM is kept for ring runs from then on).
#[test]
fn a_late_ring_start_moves_the_vcpu_only_for_a_site_used_again() {
    let mut exec = executor(false);
    let e = exec.run(&with_syscalls(LEAVES_STATE, "auto"));
    assert!(matches!(e.ending, Ending::Exited(0)), "{:?}", e.ending);
    assert!(exec.kept_threads().is_empty(), "no site was used twice");
    let e = exec.run(&with_syscalls(GETPID_LOOP, "auto"));
    assert!(matches!(e.ending, Ending::Exited(0)), "{:?}", e.ending);
    assert_eq!(e.vm_reused, 1, "the exit VM, its vCPU without a run thread");
    assert_eq!(exec.kept_threads().len(), 1, "the loop's vCPU moved");
    let e = exec.run(&in_mode(LOOKS_FOR_STATE, true));
    assert!(matches!(e.ending, Ending::Exited(0)), "{:?}", e.ending);
    assert_eq!(e.vm_reused, 2, "kept for ring runs once it moved");
}

#[test]
fn each_syscall_mode_keeps_its_own_vm() {
    let mut exec = executor(false);
    let first = in_mode(LEAVES_STATE, false);
    let other = in_mode(LEAVES_STATE, true);
    assert_eq!(exec.run(&first).vm_reused, 0);
    let e = exec.run(&other);
    assert!(matches!(e.ending, Ending::Exited(0)), "{:?}", e.ending);
    assert_eq!(e.vm_reused, 0, "a VM of the other mode is not taken");
    assert_eq!(exec.run(&first).vm_reused, 1);
    assert_eq!(exec.run(&other).vm_reused, 1);
    assert_eq!(exec.vm_counts.built, 2);
    // The ring's VM keeps its vCPU's run thread between runs, and only it.
    assert_eq!(exec.kept_threads().len(), 1);
}

#[test]
fn a_failure_found_after_the_run_drops_its_vm() {
    let mut exec = executor(false);
    assert_eq!(exec.run(&in_mode(LEAVES_STATE, false)).vm_reused, 0);
    exec.discard_kept();
    assert_eq!(exec.vm_counts.dropped_failed, 1);
    let e = exec.run(&in_mode(LOOKS_FOR_STATE, false));
    assert!(matches!(e.ending, Ending::Exited(0)), "{:?}", e.ending);
    assert_eq!(e.vm_reused, 0, "a new VM");
}

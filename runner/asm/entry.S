/*
 * entry.S - the trusted guest code of thinvisor: exception vectors and the
 * SYSCALL entry. It runs at CPL0 from supervisor-only pages that untrusted
 * code can neither read, write nor execute, and it is tiny on purpose: on
 * kvm_pvm every CPL0 instruction is emulated (~1 us each). All it does is
 * exit to the runner with an `out` whose port names the event, then return
 * to user mode once the runner has handled it. It never touches a stack the
 * guest controls: every IDT gate uses IST1, and the SYSCALL path uses no
 * stack at all (RSP is still the guest's there).
 *
 * Ports: 0..31 = exception vector N (frame on the IST1 stack, error code
 * slot always present), 0x80 = SYSCALL entered at CPL0 (hardware KVM).
 * On kvm_pvm SYSCALL does not switch privilege: it jumps to LSTAR at CPL3,
 * which faults (#PF, vector 14) because LSTAR's page is supervisor-only;
 * the runner recognises that frame as a syscall.
 *
 * Labels ending in _after_out mark the RIP the runner sees at each exit;
 * the runner accepts an exit only at one of them (a user-mode OUT, which
 * kvm_pvm lets through, can never have such a RIP).
 */
        .intel_syntax noprefix
        .code64
        .text
        .globl entry_start
entry_start:

/* One 16-byte slot per vector; vectors without a CPU error code push 0. */
        .macro VECTOR n, has_error
        .balign 16
        .globl vector_\n
vector_\n:
        .if \has_error == 0
        push 0
        .endif
        out \n, al
        .globl vector_\n\()_after_out
vector_\n\()_after_out:
        add rsp, 8
        iretq
        .endm

        VECTOR 0, 0
        VECTOR 1, 0
        VECTOR 2, 0
        VECTOR 3, 0
        VECTOR 4, 0
        VECTOR 5, 0
        VECTOR 6, 0
        VECTOR 7, 0
        VECTOR 8, 1
        VECTOR 9, 0
        VECTOR 10, 1
        VECTOR 11, 1
        VECTOR 12, 1
        VECTOR 13, 1
        VECTOR 14, 1
        VECTOR 15, 0
        VECTOR 16, 0
        VECTOR 17, 1
        VECTOR 18, 0
        VECTOR 19, 0
        VECTOR 20, 0
        VECTOR 21, 1
        VECTOR 22, 0
        VECTOR 23, 0
        VECTOR 24, 0
        VECTOR 25, 0
        VECTOR 26, 0
        VECTOR 27, 0
        VECTOR 28, 0
        VECTOR 29, 1
        VECTOR 30, 1
        VECTOR 31, 0

/*
 * SYSCALL entry on hardware KVM (LSTAR points here): CPL0, interrupts off
 * (SFMASK), RSP still the guest's and never used. RCX/R11 hold the return
 * RIP/RFLAGS; the runner checks RCX is a canonical user address first.
 */
        .balign 16
        .globl syscall_entry
syscall_entry:
        out 0x80, al
        .globl syscall_after_out
syscall_after_out:
        sysretq

/*
 * Return to user mode through the IST frame after a TLB flush, with every
 * register as the runner left it. The runner comes here after it changed
 * page tables: at the end of a syscall on either path (for the SYSRET path
 * it first writes an IRET frame on this vCPU's IST stack), and on a vCPU it
 * kicked out of user mode so that its TLB drops translations another
 * thread's munmap or mprotect removed (run/tlb.rs). RSP points at the
 * error-code slot; RAX is pushed and popped, so nothing leaks or changes.
 * The labels are the places a kick can stop this sequence; the runner
 * restarts it at the right one (run/tlb.rs).
 */
        .balign 16
        .globl flush_return
flush_return:
        add rsp, 8
        .globl flush_iret
flush_iret:
        push rax
        .globl flush_reload
flush_reload:
        mov rax, cr3
        mov cr3, rax
        .globl flush_pop
flush_pop:
        pop rax
        .globl flush_iretq
flush_iretq:
        iretq

        .globl entry_end
entry_end:

/* The data page follows the code pages (see layout.rs); nothing uses it
 * today. */
        .section .data
        .balign 4096
entry_data:
        .quad 0

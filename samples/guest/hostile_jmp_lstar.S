# hostile_jmp_lstar — jump straight to the SYSCALL entry (LSTAR,
# 0xffffffff80004200) with forged RCX (return address) and R11 (RFLAGS),
# RAX = getpid. argv[1] picks the forged RCX:
#   0: a user address (label `back`), R11 with IOPL 3, NT, VM, ... set;
#   1: the entry code (0xffffffff80004000);  2: non-canonical 0x800000000000.
# On hardware KVM the jump is a user fetch of a supervisor page: SIGSEGV.
# On kvm_pvm it is indistinguishable from SYSCALL (which also faults on LSTAR
# there), so it *is* a syscall: case 0 returns to `back` with RFLAGS
# sanitised (IOPL 0: the CLI there still raises #GP); cases 1 and 2 are
# killed because the return address is not a user address.
# `back` is at 0x400300, its CLI at 0x400340.
        .include "common.inc"
        .include "hostile.inc"
        .equ    FORGED_FLAGS, 0x3ffcfd  # every RFLAGS bit but TF, IF, bit 1: IOPL 3, NT, VM, ...

        .globl  _start
_start:
        DISPATCH 3

        CASE 0
        mov     eax, 39
        lea     rcx, [rip + back]
        mov     r11d, FORGED_FLAGS
        movabs  rdx, 0xffffffff80004200
        TRY
        jmp     rdx
        UNREACHED_FAULT

        CASE 1
        mov     eax, 39
        movabs  rcx, 0xffffffff80004000
        movabs  rdx, 0xffffffff80004200
        TRY
        jmp     rdx
        UNREACHED_FAULT

        CASE 2
        mov     eax, 39
        movabs  rcx, 0x800000000000
        movabs  rdx, 0xffffffff80004200
        TRY
        jmp     rdx
        UNREACHED_FAULT

        .org    0x300, 0xcc
back:   cmp     rax, 2                  # getpid's answer
        JFAIL   ne, "hostile_jmp_lstar: FAIL getpid\n"
        pushfq
        pop     rax
        test    eax, 0x3000 | 0x4000 | 0x20000 | 0x80000 | 0x100000   # IOPL NT VM VIF VIP
        JFAIL   nz, "hostile_jmp_lstar: FAIL rflags\n"
        PRINT   STDOUT, "hostile_jmp_lstar: returned with iopl 0\n"
        .org    0x340, 0x90
        cli                             # at 0x400340; still privileged: #GP
        UNREACHED_FAULT

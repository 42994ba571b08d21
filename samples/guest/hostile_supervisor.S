# hostile_supervisor — reach into the supervisor region from CPL3, one access
# per case (argv[1]): the runner's descriptor tables, entry code, interrupt
# stack and data page live at 0xffffffff80000000 + their physical address,
# supervisor-only; page tables are never mapped. Every case must die with
# SIGSEGV (139): a data access at rip 0x400120 + 0x40 * N, a jump at its
# target (see samples/README.md for each line).
        .include "common.inc"
        .include "hostile.inc"
        .globl  _start
_start:
        DISPATCH 13

        CASE 0                          # read the entry code
        movabs  rax, 0xffffffff80004000
        TRY
        mov     rax, qword ptr [rax]
        UNREACHED_FAULT

        CASE 1                          # overwrite IDT gate 0
        movabs  rax, 0xffffffff80002000
        TRY
        mov     qword ptr [rax], 0
        UNREACHED_FAULT

        CASE 2                          # overwrite TSS.RSP0
        movabs  rax, 0xffffffff80003004
        TRY
        mov     qword ptr [rax], rsp
        UNREACHED_FAULT

        CASE 3                          # read the exception frame on the IST stack
        movabs  rax, 0xffffffff8000ffd0
        TRY
        mov     rax, qword ptr [rax]
        UNREACHED_FAULT

        CASE 4                          # read the entry data page (syscall_result)
        movabs  rax, 0xffffffff80006000
        TRY
        mov     rax, qword ptr [rax]
        UNREACHED_FAULT

        CASE 5                          # jump to the first vector stub
        movabs  rax, 0xffffffff80004000
        TRY
        jmp     rax
        UNREACHED_FAULT

        CASE 6                          # jump into the middle of a stub: vector 0's `out 0, al`
        movabs  rax, 0xffffffff80004002
        TRY
        jmp     rax
        UNREACHED_FAULT

        CASE 7                          # jump to the #PF stub's `add rsp, 8; iretq`
        movabs  rax, 0xffffffff800040e2
        TRY
        jmp     rax
        UNREACHED_FAULT

        CASE 8                          # push onto the interrupt stack
        movabs  rsp, 0xffffffff80010000
        TRY
        push    rax
        UNREACHED_FAULT

        CASE 9                          # where the PML4 would be if it were mapped
        movabs  rax, 0xffffffff80010000
        TRY
        mov     rax, qword ptr [rax]
        UNREACHED_FAULT

        CASE 10                         # the first kernel-half address (unmapped)
        movabs  rax, 0xffff800000000000
        TRY
        mov     rax, qword ptr [rax]
        UNREACHED_FAULT

        CASE 11                         # non-canonical: #GP, not #PF
        movabs  rax, 0x8000000000000000
        TRY
        mov     rax, qword ptr [rax]
        UNREACHED_FAULT

        CASE 12                         # the page-table frames' physical address as a user address
        mov     eax, 0x10000
        TRY
        mov     rax, qword ptr [rax]
        UNREACHED_FAULT

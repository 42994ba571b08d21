# hostile_privileged — one privileged instruction at CPL3 per case (argv[1]);
# each must raise #GP: SIGSEGV (139), "general protection fault" at rip
# 0x400120 + 0x40 * N, the instruction under test.
        .include "common.inc"
        .include "hostile.inc"
        .globl  _start
_start:
        DISPATCH 22

        CASE 0
        TRY
        hlt
        UNREACHED_FAULT

        CASE 1
        TRY
        cli
        UNREACHED_FAULT

        CASE 2
        TRY
        sti
        UNREACHED_FAULT

        CASE 3                          # load a GDT of our own
        TRY
        lgdt    [rsp]
        UNREACHED_FAULT

        CASE 4                          # load an IDT of our own
        TRY
        lidt    [rsp]
        UNREACHED_FAULT

        CASE 5                          # switch page tables
        xor     eax, eax
        TRY
        mov     cr3, rax
        UNREACHED_FAULT

        CASE 6                          # read CR0
        TRY
        mov     rax, cr0
        UNREACHED_FAULT

        CASE 7                          # WRMSR: LSTAR := 0x400000
        mov     ecx, 0xc0000082
        mov     eax, 0x400000
        xor     edx, edx
        TRY
        wrmsr
        UNREACHED_FAULT

        CASE 8                          # RDMSR LSTAR
        mov     ecx, 0xc0000082
        TRY
        rdmsr
        UNREACHED_FAULT

        CASE 9                          # INVLPG
        TRY
        invlpg  [rsp]
        UNREACHED_FAULT

        CASE 10                         # XSETBV: XCR0 := x87|SSE|AVX
        xor     ecx, ecx
        mov     eax, 7
        xor     edx, edx
        TRY
        xsetbv
        UNREACHED_FAULT

        CASE 11
        TRY
        wbinvd
        UNREACHED_FAULT

        CASE 12
        TRY
        swapgs
        UNREACHED_FAULT

        CASE 13                         # SYSRET from user mode
        TRY
        sysretq
        UNREACHED_FAULT

        CASE 14                         # debug registers
        xor     eax, eax
        TRY
        mov     dr7, rax
        UNREACHED_FAULT

        CASE 15                         # load the task register with the TSS selector
        mov     eax, 0x30
        TRY
        ltr     ax
        UNREACHED_FAULT

        CASE 16
        TRY
        clts
        UNREACHED_FAULT

        CASE 17                         # CR8 (task priority)
        TRY
        mov     cr8, rax
        UNREACHED_FAULT

        CASE 18                         # the kernel data selector into SS
        mov     eax, 0x10
        TRY
        mov     ss, ax
        UNREACHED_FAULT

        CASE 19                         # far jump to the kernel code selector 0x08
        push    0x08
        lea     rax, [rip + 0f]
        push    rax
        TRY
        rex.w jmp fword ptr [rsp]
0:      UNREACHED_FAULT

        CASE 20                         # IRETQ into CPL0 (CS = 0x08, SS = 0x10)
        mov     rax, rsp
        push    0x10
        push    rax
        push    0x2
        push    0x08
        lea     rax, [rip + 0f]
        push    rax
        TRY
        iretq
0:      UNREACHED_FAULT

        CASE 21                         # performance counters (CR4.PCE clear)
        TRY
        rdpmc
        UNREACHED_FAULT

# vdso_auxv — a flat binary finds the vDSO as an ELF program does: walks the
# initial stack past argv and envp to the aux vector, looks for
# AT_SYSINFO_EHDR (33), and checks that it points at an ELF header. Prints
# "vdso_auxv: " and the address as 16 hex digits, or "vdso_auxv: none".
        .include "common.inc"
        .equ    AT_NULL,        0
        .equ    AT_SYSINFO_EHDR, 33

        .globl  _start
_start:
        mov     rbx, qword ptr [rsp]            # argc
        lea     rbx, [rsp + 8 + rbx * 8 + 8]    # envp: past argv and its NULL
.Lenv:  cmp     qword ptr [rbx], 0
        lea     rbx, [rbx + 8]
        jne     .Lenv                           # rbx: the aux vector
.Laux:  mov     rax, qword ptr [rbx]
        cmp     rax, AT_NULL
        je      .Lnone
        cmp     rax, AT_SYSINFO_EHDR
        je      .Lfound
        add     rbx, 16
        jmp     .Laux
.Lnone:
        PRINT   STDOUT, "vdso_auxv: none\n"
        EXIT    0
.Lfound:
        mov     r12, qword ptr [rbx + 8]
        cmp     dword ptr [r12], 0x464c457f     # "\x7fELF"
        JFAIL   ne, "vdso_auxv: FAIL not an ELF header\n"
        PRINT   STDOUT, "vdso_auxv: "
        PRINT_HEX64 STDOUT, r12
        PRINT   STDOUT, "\n"
        EXIT    0

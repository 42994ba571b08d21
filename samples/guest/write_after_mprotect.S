# write_after_mprotect — maps a page read-write, writes it, makes it read-only, writes again: must fault (139).
        .include "common.inc"
        .global _start
_start:
        xor     edi, edi
        mov     esi, 4096
        mov     edx, 3                          # PROT_READ|PROT_WRITE
        mov     r10d, 0x22                      # MAP_PRIVATE|MAP_ANONYMOUS
        mov     r8, -1
        xor     r9d, r9d
        SYS     SYS_mmap
        mov     rbx, rax
        mov     qword ptr [rbx], 1              # the writable translation is now cached
        mov     rdi, rbx
        mov     esi, 4096
        mov     edx, 1                          # PROT_READ
        SYS     SYS_mprotect
        test    rax, rax
        JFAIL   nz, "mprotect"
        mov     rax, qword ptr [rbx]            # reading is still fine
        cmp     rax, 1
        JFAIL   ne, "read back"
        mov     qword ptr [rbx], 2              # must fault: page fault, 139
        EXIT    99

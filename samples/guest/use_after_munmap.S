# use_after_munmap — maps a page, touches it, unmaps it and reads it again: the read must fault (139).
# Checks that the runner's page-table edits reach the guest's TLB (and, on kvm_pvm, its shadow pages).
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
        mov     qword ptr [rbx], 1              # touch: the translation is now cached
        mov     rax, qword ptr [rbx]
        mov     rdi, rbx
        mov     esi, 4096
        SYS     SYS_munmap
        test    rax, rax
        JFAIL   nz, "munmap"
        mov     rax, qword ptr [rbx]            # must fault: page fault, 139
        EXIT    99

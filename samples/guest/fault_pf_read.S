# fault_pf_read — read a qword from unmapped address 0x10 (#PF, read).
        .include "common.inc"
        .globl  _start
_start:
        mov     rax, qword ptr [0x10]
        UNREACHED_FAULT

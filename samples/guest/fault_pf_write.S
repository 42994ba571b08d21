# fault_pf_write — write a qword to unmapped address 0x700000000000 (#PF, write).
        .include "common.inc"
        .globl  _start
_start:
        movabs  rax, 0x700000000000
        mov     qword ptr [rax], 1
        UNREACHED_FAULT

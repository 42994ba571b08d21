# fault_pf_exec — jump to unmapped address 0x700000000000 (#PF, instruction fetch).
        .include "common.inc"
        .globl  _start
_start:
        movabs  rax, 0x700000000000
        jmp     rax
        UNREACHED_FAULT

# fault_gp_noncanonical — read from non-canonical address 0x800000000000 (#GP, not #PF).
        .include "common.inc"
        .globl  _start
_start:
        movabs  rax, 0x800000000000
        mov     rax, qword ptr [rax]
        UNREACHED_FAULT

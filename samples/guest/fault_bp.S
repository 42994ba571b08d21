# fault_bp — execute `int3` (#BP, breakpoint trap).
        .include "common.inc"
        .globl  _start
_start:
        int3
        UNREACHED_FAULT

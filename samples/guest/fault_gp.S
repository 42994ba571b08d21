# fault_gp — execute the privileged `hlt` at CPL3 (#GP).
        .include "common.inc"
        .globl  _start
_start:
        hlt
        UNREACHED_FAULT

# fault_ud — execute `ud2` (#UD, invalid opcode).
        .include "common.inc"
        .globl  _start
_start:
        ud2
        UNREACHED_FAULT

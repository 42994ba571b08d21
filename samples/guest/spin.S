# spin — loop forever without syscalls (only the runner's --timeout ends it).
        .include "common.inc"
        .globl  _start
_start:
        jmp     _start

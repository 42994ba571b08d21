# hello — write "Hello from inside the VM!\n" to stdout, exit 0.
        .include "common.inc"
        .globl  _start
_start:
        PRINT   STDOUT, "Hello from inside the VM!\n"
        EXIT    0

# exit42 — exit_group(42) immediately, no output.
        .include "common.inc"
        .globl  _start
_start:
        EXIT    42

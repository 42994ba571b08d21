# hostile_stack_exhaustion — unbounded recursion. The stack is mapped up
# front (2 MiB under the default policy) with nothing below it, so the
# 262144th call faults writing its return address: SIGSEGV (139), page fault
# at rip 0x400000, address 0x7fffffdfeff8 (the qword below the stack).
        .include "common.inc"
        .globl  _start
_start:
        call    _start
        UNREACHED_FAULT

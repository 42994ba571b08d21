# hostile_soft_int — `int N` at CPL3 through gates the guest may not use
# (argv[1] selects N). Natively each raises #GP (DPL 0 gate, or beyond the
# IDT's 32 gates): SIGSEGV 139. kvm_pvm reports #UD instead: SIGILL 132.
# Either way the guest dies at rip 0x400120 + 0x40 * case; no gate is entered.
        .include "common.inc"
        .include "hostile.inc"
        .globl  _start
_start:
        DISPATCH 4

        CASE 0                          # the Linux int 0x80 ABI: no such gate
        TRY
        int     0x80
        UNREACHED_FAULT

        CASE 1                          # the #PF vector (its stub expects a CPU frame)
        TRY
        int     14
        UNREACHED_FAULT

        CASE 2                          # the #GP vector
        TRY
        int     13
        UNREACHED_FAULT

        CASE 3                          # the #DB vector through its DPL 0 gate
        TRY
        int     1
        UNREACHED_FAULT

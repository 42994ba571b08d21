# fault_de — unsigned integer divide by zero (#DE).
        .include "common.inc"
        .globl  _start
_start:
        mov     eax, 1
        xor     edx, edx
        xor     ecx, ecx
        div     rcx
        UNREACHED_FAULT

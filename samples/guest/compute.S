# compute — N (argv[1], default 100000000) xorshift64 steps in registers, print "compute: <16 hex>\n".
        .include "common.inc"
        .equ    SEED, 0x9e3779b97f4a7c15
        .globl  _start
_start:
        mov     rbp, rsp
        ARG_U64 1, 100000000
        mov     rcx, rax                # rcx = iterations left
        mov     rax, SEED               # rax = state x
        test    rcx, rcx
        jz      .Ldone
.Lstep:                                 # x ^= x<<13; x ^= x>>7; x ^= x<<17
        mov     rdx, rax
        shl     rdx, 13
        xor     rax, rdx
        mov     rdx, rax
        shr     rdx, 7
        xor     rax, rdx
        mov     rdx, rax
        shl     rdx, 17
        xor     rax, rdx
        dec     rcx
        jnz     .Lstep
.Ldone:
        mov     rbx, rax
        PRINT   STDOUT, "compute: "
        PRINT_HEX64 STDOUT, rbx
        PRINT   STDOUT, "\n"
        EXIT    0

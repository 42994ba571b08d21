# hostile_writev_many — writev with more iovecs than Linux allows (UIO_MAXIOV
# = 1024): 1025, 4096, 2^63 and -1 must fail with -EINVAL before anything is
# read; 0 returns 0; exactly 1024 (1023 empty ones, then the message) works
# and prints "hostile_writev_many: ok\n".
        .include "common.inc"
        .equ    NIOV,       1025
        .equ    F_SIZE,     NIOV * 16

.macro WRITEV_COUNT count:req, num:req, expect:req
        mov     edi, STDOUT
        mov     rsi, rsp
        movabs  rdx, \count
        SYS     SYS_writev
        cmp     rax, \expect
        JFAIL   ne, "hostile_writev_many: FAIL \num\n"
.endm

        .globl  _start
_start:
        sub     rsp, F_SIZE
        # Every iovec: {rsp, 0}; iovec 1023: the message.
        xor     ecx, ecx
0:      mov     rax, rcx
        shl     rax, 4
        mov     qword ptr [rsp + rax], rsp
        mov     qword ptr [rsp + rax + 8], 0
        inc     ecx
        cmp     ecx, NIOV
        jb      0b
        LOAD_STR rax, edx, "hostile_writev_many: ok\n"
        mov     qword ptr [rsp + 1023 * 16], rax
        mov     qword ptr [rsp + 1023 * 16 + 8], rdx
        mov     r12, rdx

        WRITEV_COUNT 1025, 1, -EINVAL
        WRITEV_COUNT 4096, 2, -EINVAL
        WRITEV_COUNT 0x8000000000000000, 3, -EINVAL
        WRITEV_COUNT -1, 4, -EINVAL
        WRITEV_COUNT 0, 5, 0
        WRITEV_COUNT 1024, 6, r12
        EXIT    0

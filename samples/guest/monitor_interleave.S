# monitor_interleave — 1000 lines of 64 bytes, line i to stdout (even i) or
# stderr (odd i): 16 hex digits of i, then " monitor_interleave line,
# sixty-four bytes long\n". After every 400th line a writev of
# "-- writev --\n" to stderr (a syscall the runner answers). Then
# "monitor_interleave: done\n" on stdout. With the in-VM monitor the
# 64-byte writes are buffered; the output must still arrive complete and in
# this order (the buffer overflows between the writevs).
        .include "common.inc"
        .equ    LINES, 1000
        .equ    EVERY, 400

        .globl  _start
_start:
        sub     rsp, 128
        xor     ebx, ebx                # i
.Lline:
        mov     r8, rbx                 # [rsp, rsp+16): i in hex
        lea     r9, [rip + .Lhex]
        mov     ecx, 15
.Lhexloop:
        mov     eax, r8d
        and     eax, 15
        movzx   eax, byte ptr [r9 + rax]
        mov     byte ptr [rsp + rcx], al
        shr     r8, 4
        dec     ecx
        jns     .Lhexloop
        lea     rsi, [rip + .Lsuffix]   # [rsp+16, rsp+64): the suffix
        lea     rdi, [rsp + 16]
        mov     ecx, 48
        rep movsb
        mov     edi, ebx
        and     edi, 1
        inc     edi                     # fd 1 (even i) or 2 (odd i)
        mov     rsi, rsp
        mov     edx, 64
        SYS     SYS_write
        cmp     rax, 64
        JFAIL   ne, "monitor_interleave: FAIL write\n"
        mov     eax, ebx
        xor     edx, edx
        mov     ecx, EVERY
        div     ecx
        cmp     edx, EVERY - 1
        jne     .Lnext
        lea     rax, [rip + .Lsync]     # writev(2, [{sync, 13}], 1)
        mov     qword ptr [rsp + 64], rax
        mov     qword ptr [rsp + 72], 13
        mov     edi, STDERR
        lea     rsi, [rsp + 64]
        mov     edx, 1
        SYS     SYS_writev
        cmp     rax, 13
        JFAIL   ne, "monitor_interleave: FAIL writev\n"
.Lnext:
        inc     ebx
        cmp     ebx, LINES
        jb      .Lline
        PRINT   STDOUT, "monitor_interleave: done\n"
        EXIT    0

        .pushsection .text, 2
.Lhex:  .ascii  "0123456789abcdef"
.Lsuffix:
        .ascii  " monitor_interleave line, sixty-four bytes long\n"
.Lsync: .ascii  "-- writev --\n"
        .popsection

# echo — print argv[1..] joined by single spaces plus "\n" (like /bin/echo, no options).
        .include "common.inc"
        .globl  _start
_start:
        mov     rbp, rsp                # rbp = initial stack: argc, argv...
        mov     r12, qword ptr [rbp]    # r12 = argc
        mov     r13, 1                  # r13 = index of next argument
.Lnext:
        cmp     r13, r12
        jae     .Lnewline
        cmp     r13, 1
        je      .Lword                  # no separator before the first word
        LOAD_STR rsi, edx, " "
        WRITE_ALL STDOUT, .Lerror
.Lword:
        mov     rsi, qword ptr [rbp + r13 * 8 + 8]
        STRLEN  rsi
        mov     rdx, rax
        WRITE_ALL STDOUT, .Lerror
        inc     r13
        jmp     .Lnext
.Lnewline:
        LOAD_STR rsi, edx, "\n"
        WRITE_ALL STDOUT, .Lerror
        EXIT    0
.Lerror:
        EXIT    1

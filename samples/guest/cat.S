# cat — copy stdin to stdout in 4096-byte chunks until EOF; exit 1 on a read/write error.
        .include "common.inc"
        .equ    BUFSZ, 4096
        .globl  _start
_start:
        sub     rsp, BUFSZ              # the buffer lives on the stack
.Lread:
        mov     edi, STDIN
        mov     rsi, rsp
        mov     edx, BUFSZ
        SYS     SYS_read
        test    rax, rax
        jz      .Leof
        js      .Lerror
        mov     rsi, rsp
        mov     rdx, rax
        WRITE_ALL STDOUT, .Lerror       # handles short writes
        jmp     .Lread
.Leof:
        EXIT    0
.Lerror:
        EXIT    1

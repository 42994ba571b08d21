# syscall_loop — N (argv[1], default 100000) getpid syscalls, then "syscall_loop: done\n".
        .include "common.inc"
        .globl  _start
_start:
        mov     rbp, rsp
        ARG_U64 1, 100000
        mov     rbx, rax                # rbx = syscalls left
        test    rbx, rbx
        jz      .Ldone
.Lloop:
        SYS     SYS_getpid
        test    rax, rax
        JFAIL   le, "syscall_loop: FAIL getpid\n"
        dec     rbx
        jnz     .Lloop
.Ldone:
        PRINT   STDOUT, "syscall_loop: done\n"
        EXIT    0

# unknown_syscall — syscalls 999 and 100000 must return -ENOSYS; print "unknown_syscall: ok\n".
        .include "common.inc"
        .globl  _start
_start:
        SYS     999
        cmp     rax, -ENOSYS
        JFAIL   ne, "unknown_syscall: FAIL 999\n"
        SYS     100000
        cmp     rax, -ENOSYS
        JFAIL   ne, "unknown_syscall: FAIL 100000\n"
        PRINT   STDOUT, "unknown_syscall: ok\n"
        EXIT    0

# hostile_syscall_rsp — SYSCALL (getpid) with RSP pointing at the interrupt
# stack, LSTAR, the kernel half, non-canonical, NULL and unmapped user memory.
# The entry code never uses the guest's stack, so each must return 2 and the
# program prints "hostile_syscall_rsp: ok\n".
        .include "common.inc"
        .globl  _start

.macro GETPID_WITH_RSP value:req, num:req
        movabs  rsp, \value
        mov     eax, SYS_getpid
        syscall
        mov     rsp, r12
        cmp     rax, 2
        JFAIL   ne, "hostile_syscall_rsp: FAIL \num\n"
.endm

_start:
        mov     r12, rsp
        GETPID_WITH_RSP 0xffffffff80010000, 1   # top of the IST stack
        GETPID_WITH_RSP 0xffffffff80004200, 2   # LSTAR
        GETPID_WITH_RSP 0xffff800000000000, 3   # kernel half
        GETPID_WITH_RSP 0x8000000000000000, 4   # non-canonical
        GETPID_WITH_RSP 0, 5                    # NULL
        GETPID_WITH_RSP 0x7ffffffff000, 6       # just above the stack (unmapped)
        PRINT   STDOUT, "hostile_syscall_rsp: ok\n"
        EXIT    0

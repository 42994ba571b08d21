# badptr — syscalls given bad guest pointers must fail with -EFAULT; print "badptr: ok\n".
        .include "common.inc"
        .globl  _start
_start:
        # 1: non-canonical-adjacent kernel half (first canonical high address)
        mov     edi, STDOUT
        movabs  rsi, 0xffff800000000000
        mov     edx, 8
        SYS     SYS_write
        cmp     rax, -EFAULT
        JFAIL   ne, "badptr: FAIL 1\n"
        # 2: NULL
        mov     edi, STDOUT
        xor     esi, esi
        mov     edx, 8
        SYS     SYS_write
        cmp     rax, -EFAULT
        JFAIL   ne, "badptr: FAIL 2\n"
        # 3: supervisor region (where a kernel image usually lives)
        mov     edi, STDOUT
        mov     rsi, 0xffffffff80000000 # sign-extended imm32
        mov     edx, 8
        SYS     SYS_write
        cmp     rax, -EFAULT
        JFAIL   ne, "badptr: FAIL 3\n"
        # 4: read into the unmapped page just below the image
        mov     edi, STDIN
        mov     esi, 0x3ff000
        mov     edx, 8
        SYS     SYS_read
        cmp     rax, -EFAULT
        JFAIL   ne, "badptr: FAIL 4\n"
        # 5: valid pointer, absurd length (range wraps / leaves user space)
        mov     edi, STDOUT
        mov     rsi, rsp
        mov     rdx, 0xffffffffffffff00 # sign-extended imm32
        SYS     SYS_write
        cmp     rax, -EFAULT
        je      .Lok5
        cmp     rax, -EINVAL
        JFAIL   ne, "badptr: FAIL 5\n"
.Lok5:
        PRINT   STDOUT, "badptr: ok\n"
        EXIT    0

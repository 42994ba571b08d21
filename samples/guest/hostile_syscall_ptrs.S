# hostile_syscall_ptrs — syscalls naming supervisor, kernel-half,
# non-canonical, unmapped and read-only memory, and lengths that overflow or
# run off the end of a mapping. Each must be refused before anything is read,
# written or performed; the program prints "hostile_syscall_ptrs: ok\n" (on
# failure "hostile_syscall_ptrs: FAIL <n>\n" to stderr, exit 1). Run it with
# data on stdin: a read that wrongly went ahead would consume it.
        .include "common.inc"
        .equ    SYS_getrandom_nr,   318
        .equ    EPERM,              1
        .equ    ARCH_GET_FS,        0x1003
        .equ    PROT_NONE,          0
        .equ    MAP_FIXED,          0x10

        .equ    F_IOV,      0           # 2 x struct iovec
        .equ    F_BUF,      32          # 64 bytes of scratch
        .equ    F_RO,       96          # the read-only page
        .equ    F_RW,       104         # two pages, the second unmapped
        .equ    F_BRK,      112
        .equ    F_SIZE,     128

# EXPECT num, err — rax must be -err.
.macro EXPECT num:req, err:req
        cmp     rax, -\err
        JFAIL   ne, "hostile_syscall_ptrs: FAIL \num\n"
.endm
# REFUSED num — rax must be negative (any errno).
.macro REFUSED num:req
        test    rax, rax
        JFAIL   ns, "hostile_syscall_ptrs: FAIL \num\n"
.endm
# SYS3 nr, a, b, c — rax = syscall nr(a, b, c) with 64-bit immediates.
.macro SYS3 nr:req, a:req, b:req, c:req
        movabs  rdi, \a
        movabs  rsi, \b
        movabs  rdx, \c
        SYS     \nr
.endm

        .globl  _start
_start:
        sub     rsp, F_SIZE
        # Supervisor region: entry code, GDT, IDT, TSS, IST stack, entry data.
        SYS3    SYS_write, 1, 0xffffffff80004000, 16
        EXPECT  1, EFAULT
        SYS3    SYS_write, 1, 0xffffffff80001000, 16
        EXPECT  2, EFAULT
        SYS3    SYS_read, 0, 0xffffffff80002000, 16
        EXPECT  3, EFAULT
        movabs  rdi, 0xffffffff80003000
        SYS     SYS_uname
        EXPECT  4, EFAULT
        SYS3    SYS_clock_gettime, 1, 0xffffffff8000fff0, 0
        EXPECT  5, EFAULT
        SYS3    SYS_getrandom_nr, 0xffffffff80006000, 8, 0
        EXPECT  6, EFAULT
        # Kernel half, FS base in the supervisor region.
        SYS3    SYS_arch_prctl, ARCH_GET_FS, 0xffff800000000000, 0
        EXPECT  7, EFAULT
        SYS3    SYS_arch_prctl, ARCH_SET_FS, 0xffffffff80006000, 0
        EXPECT  8, EPERM
        # writev: the iovec array itself in the entry code.
        SYS3    SYS_writev, 1, 0xffffffff80004000, 1
        EXPECT  9, EFAULT
        # writev: a good iovec, then one into the entry code: nothing written.
        lea     rax, [rip + xbyte]
        mov     qword ptr [rsp + F_IOV], rax
        mov     qword ptr [rsp + F_IOV + 8], 1
        movabs  rax, 0xffffffff80004000
        mov     qword ptr [rsp + F_IOV + 16], rax
        mov     qword ptr [rsp + F_IOV + 24], 16
        mov     edi, 1
        lea     rsi, [rsp + F_IOV]
        mov     edx, 2
        SYS     SYS_writev
        EXPECT  10, EFAULT
        # writev: lengths whose sum overflows.
        movabs  rax, 0x7fffffffffffffff
        mov     qword ptr [rsp + F_IOV + 8], rax
        lea     rax, [rsp + F_BUF]
        mov     qword ptr [rsp + F_IOV + 16], rax
        movabs  rax, 0x7fffffffffffffff
        mov     qword ptr [rsp + F_IOV + 24], rax
        mov     edi, 1
        lea     rsi, [rsp + F_IOV]
        mov     edx, 2
        SYS     SYS_writev
        REFUSED 11
        # A range that runs past the end of user space, and one that wraps.
        SYS3    SYS_write, 1, 0x7ffffffffff0, 32
        EXPECT  12, EFAULT
        mov     edi, 1
        mov     rsi, rsp
        mov     rdx, -1
        SYS     SYS_write
        REFUSED 13
        SYS3    SYS_write, 1, 0x8000000000000000, 8
        EXPECT  14, EFAULT
        # A read-only page: the kernel must not write into it for us.
        xor     edi, edi
        mov     esi, 4096
        mov     edx, PROT_READ
        mov     r10d, MAP_PRIVATE | MAP_ANONYMOUS
        mov     r8, -1
        xor     r9d, r9d
        SYS     SYS_mmap
        test    rax, rax
        JFAIL   s, "hostile_syscall_ptrs: FAIL 15\n"
        mov     qword ptr [rsp + F_RO], rax
        xor     edi, edi
        mov     rsi, rax
        mov     edx, 8
        SYS     SYS_read
        EXPECT  16, EFAULT
        mov     rdi, qword ptr [rsp + F_RO]
        SYS     SYS_uname
        EXPECT  17, EFAULT
        # Two pages, the second unmapped: ranges crossing into it.
        xor     edi, edi
        mov     esi, 8192
        mov     edx, PROT_READ | PROT_WRITE
        mov     r10d, MAP_PRIVATE | MAP_ANONYMOUS
        mov     r8, -1
        xor     r9d, r9d
        SYS     SYS_mmap
        test    rax, rax
        JFAIL   s, "hostile_syscall_ptrs: FAIL 18\n"
        mov     qword ptr [rsp + F_RW], rax
        lea     rdi, [rax + 4096]
        mov     esi, 4096
        SYS     SYS_munmap
        test    rax, rax
        JFAIL   nz, "hostile_syscall_ptrs: FAIL 18\n"
        mov     edi, 1
        mov     rsi, qword ptr [rsp + F_RW]
        add     rsi, 4096 - 8
        mov     edx, 16
        SYS     SYS_write
        EXPECT  19, EFAULT
        xor     edi, edi
        mov     rsi, qword ptr [rsp + F_RW]
        add     rsi, 4096 - 8
        mov     edx, 16
        SYS     SYS_read
        EXPECT  20, EFAULT
        # Memory calls aimed at the supervisor region and the NULL guard.
        movabs  rdi, 0xffffffff80000000
        mov     esi, 4096
        mov     edx, PROT_READ | PROT_WRITE
        mov     r10d, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED
        mov     r8, -1
        xor     r9d, r9d
        SYS     SYS_mmap
        REFUSED 21
        SYS3    SYS_munmap, 0xffffffff80004000, 4096, 0
        REFUSED 22
        SYS3    SYS_mprotect, 0xffffffff80004000, 4096, 7
        REFUSED 23
        mov     edi, 0xf000
        mov     esi, 4096
        mov     edx, PROT_READ | PROT_WRITE
        mov     r10d, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED
        mov     r8, -1
        xor     r9d, r9d
        SYS     SYS_mmap
        REFUSED 24
        xor     edi, edi
        SYS     SYS_brk
        mov     qword ptr [rsp + F_BRK], rax
        movabs  rdi, 0xffffffff80000000
        SYS     SYS_brk
        cmp     rax, qword ptr [rsp + F_BRK]
        JFAIL   ne, "hostile_syscall_ptrs: FAIL 25\n"

        PRINT   STDOUT, "hostile_syscall_ptrs: ok\n"
        EXIT    0

xbyte:  .ascii  "x"

# monitor_calls — the syscalls the in-VM monitor answers, checked against the
# values the runner gives without it (identity queries, clocks, uname, brk,
# buffered writes), plus buffers the monitor must not accept (its own pages,
# the gates' slot): those get -EFAULT. Prints the CLOCK_REALTIME seconds and
# "monitor_calls: ok\n". Passes with --monitor on and off.
        .include "common.inc"
        .equ    SYS_gettid,     186
        .equ    SYS_getppid,    110
        .equ    SYS_getuid,     102
        .equ    SYS_geteuid,    107
        .equ    SYS_getgid,     104
        .equ    SYS_getegid,    108
        .equ    MON_DATA,       0xffffffffc0001000  # the monitor's data (hidden)
        .equ    GATE_SLOT,      0xffffffff80008000  # the gates' marker slot

        .equ    F_UTS,  0               # struct utsname (390 bytes)
        .equ    F_TS,   400             # struct timespec
        .equ    F_TS2,  416
        .equ    F_SIZE, 448

        .globl  _start
_start:
        sub     rsp, F_SIZE

        # 1000 getpid, each 2
        mov     ebx, 1000
.Lpid:  SYS     SYS_getpid
        cmp     rax, 2
        JFAIL   ne, "monitor_calls: FAIL getpid\n"
        dec     ebx
        jnz     .Lpid

        # the other identity queries
        SYS     SYS_gettid
        cmp     rax, 2
        JFAIL   ne, "monitor_calls: FAIL gettid\n"
        SYS     SYS_getppid
        cmp     rax, 1
        JFAIL   ne, "monitor_calls: FAIL getppid\n"
        SYS     SYS_getuid
        cmp     rax, 1000
        JFAIL   ne, "monitor_calls: FAIL getuid\n"
        SYS     SYS_geteuid
        cmp     rax, 1000
        JFAIL   ne, "monitor_calls: FAIL geteuid\n"
        SYS     SYS_getgid
        cmp     rax, 1000
        JFAIL   ne, "monitor_calls: FAIL getgid\n"
        SYS     SYS_getegid
        cmp     rax, 1000
        JFAIL   ne, "monitor_calls: FAIL getegid\n"

        # 100 x clock_gettime(CLOCK_MONOTONIC): 0 <= nsec < 1e9, never backwards
        xor     r12d, r12d
        xor     r13d, r13d
        mov     ebx, 100
.Lclk:  mov     edi, CLOCK_MONOTONIC
        lea     rsi, [rsp + F_TS]
        SYS     SYS_clock_gettime
        test    rax, rax
        JFAIL   nz, "monitor_calls: FAIL clock_gettime\n"
        cmp     qword ptr [rsp + F_TS + 8], 999999999
        JFAIL   a, "monitor_calls: FAIL clock_gettime\n"
        mov     rax, qword ptr [rsp + F_TS]
        cmp     rax, r12
        JFAIL   l, "monitor_calls: FAIL clock_order\n"
        jg      .Lnewer
        mov     rax, qword ptr [rsp + F_TS + 8]
        cmp     rax, r13
        JFAIL   l, "monitor_calls: FAIL clock_order\n"
.Lnewer:
        mov     r12, qword ptr [rsp + F_TS]
        mov     r13, qword ptr [rsp + F_TS + 8]
        dec     ebx
        jnz     .Lclk

        # clock_gettime(CLOCK_REALTIME): after 2020-01-01, nsec in range
        xor     edi, edi
        lea     rsi, [rsp + F_TS2]
        SYS     SYS_clock_gettime
        test    rax, rax
        JFAIL   nz, "monitor_calls: FAIL clock_realtime\n"
        cmp     qword ptr [rsp + F_TS2], 1577836800
        JFAIL   l, "monitor_calls: FAIL clock_realtime\n"
        cmp     qword ptr [rsp + F_TS2 + 8], 999999999
        JFAIL   a, "monitor_calls: FAIL clock_realtime\n"

        # uname: sysname "Linux", machine "x86_64"
        lea     rdi, [rsp + F_UTS]
        SYS     SYS_uname
        test    rax, rax
        JFAIL   nz, "monitor_calls: FAIL uname\n"
        cmp     dword ptr [rsp + F_UTS], 0x756e694c     # "Linu"
        JFAIL   ne, "monitor_calls: FAIL uname\n"
        cmp     dword ptr [rsp + F_UTS + 4 * 65], 0x5f363878 # "x86_"
        JFAIL   ne, "monitor_calls: FAIL uname\n"

        # brk: query, grow by 64 KiB (within the monitor's pre-granted pages),
        # use the new memory, the same break again, then shrink back
        xor     edi, edi
        SYS     SYS_brk
        mov     r14, rax
        test    rax, rax
        JFAIL   le, "monitor_calls: FAIL brk_query\n"
        lea     rdi, [r14 + 0x10000]
        SYS     SYS_brk
        lea     rdx, [r14 + 0x10000]
        cmp     rax, rdx
        JFAIL   ne, "monitor_calls: FAIL brk_grow\n"
        cmp     qword ptr [r14], 0
        JFAIL   ne, "monitor_calls: FAIL brk_zero\n"
        mov     qword ptr [r14], 0x5a
        mov     qword ptr [r14 + 0xfff8], 0xa5
        cmp     qword ptr [r14 + 0xfff8], 0xa5
        JFAIL   ne, "monitor_calls: FAIL brk_use\n"
        lea     rdi, [r14 + 0x10000]
        SYS     SYS_brk
        lea     rdx, [r14 + 0x10000]
        cmp     rax, rdx
        JFAIL   ne, "monitor_calls: FAIL brk_same\n"
        mov     rdi, r14
        SYS     SYS_brk
        cmp     rax, r14
        JFAIL   ne, "monitor_calls: FAIL brk_shrink\n"

        # buffers the monitor must not accept: -EFAULT, nothing written
        mov     edi, CLOCK_MONOTONIC
        mov     esi, 0x10
        SYS     SYS_clock_gettime
        cmp     rax, -EFAULT
        JFAIL   ne, "monitor_calls: FAIL efault_clock\n"
        mov     rdi, MON_DATA
        SYS     SYS_uname
        cmp     rax, -EFAULT
        JFAIL   ne, "monitor_calls: FAIL efault_uname\n"
        mov     edi, STDOUT
        mov     rsi, MON_DATA
        mov     edx, 16
        SYS     SYS_write
        cmp     rax, -EFAULT
        JFAIL   ne, "monitor_calls: FAIL efault_write\n"
        mov     edi, STDOUT
        mov     rsi, GATE_SLOT
        mov     edx, 8
        SYS     SYS_write
        cmp     rax, -EFAULT
        JFAIL   ne, "monitor_calls: FAIL efault_gate\n"

        # report
        PRINT   STDOUT, "monitor_calls: realtime "
        mov     r15, qword ptr [rsp + F_TS2]
        PRINT_HEX64 STDOUT, r15
        PRINT   STDOUT, "\n"
        PRINT   STDOUT, "monitor_calls: ok\n"
        EXIT    0

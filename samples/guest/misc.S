# misc — uname, clock_gettime, getrandom, getpid, set_tid_address, arch_prctl+fs:, writev; print "misc: ok\n".
        .include "common.inc"
        .equ    MAGIC, 0x1122334455667788

        # stack frame layout (offsets from rsp after the sub)
        .equ    F_UTS,   0              # struct utsname: 6 x 65 bytes = 390
        .equ    F_TS1,   400            # struct timespec { tv_sec, tv_nsec }
        .equ    F_TS2,   416
        .equ    F_RAND,  432            # 16 random bytes
        .equ    F_TLS,   448            # fs base points here
        .equ    F_TID,   456            # set_tid_address target
        .equ    F_IOV,   464            # 3 x struct iovec { base, len }
        .equ    F_SIZE,  512

        .globl  _start
_start:
        sub     rsp, F_SIZE

        # uname: sysname must start with "Linux"
        lea     rdi, [rsp + F_UTS]
        SYS     SYS_uname
        test    rax, rax
        JFAIL   nz, "misc: FAIL uname\n"
        cmp     dword ptr [rsp + F_UTS], 0x756e694c     # "Linu"
        JFAIL   ne, "misc: FAIL uname\n"
        cmp     byte ptr [rsp + F_UTS + 4], 'x'
        JFAIL   ne, "misc: FAIL uname\n"

        # clock_gettime(CLOCK_MONOTONIC) twice: valid, and second >= first
        mov     edi, CLOCK_MONOTONIC
        lea     rsi, [rsp + F_TS1]
        SYS     SYS_clock_gettime
        test    rax, rax
        JFAIL   nz, "misc: FAIL clock_gettime\n"
        mov     edi, CLOCK_MONOTONIC
        lea     rsi, [rsp + F_TS2]
        SYS     SYS_clock_gettime
        test    rax, rax
        JFAIL   nz, "misc: FAIL clock_gettime\n"
        cmp     qword ptr [rsp + F_TS1 + 8], 999999999  # tv_nsec in [0, 1e9)
        JFAIL   a, "misc: FAIL clock_gettime\n"
        cmp     qword ptr [rsp + F_TS2 + 8], 999999999
        JFAIL   a, "misc: FAIL clock_gettime\n"
        mov     rax, qword ptr [rsp + F_TS2]
        cmp     rax, qword ptr [rsp + F_TS1]
        JFAIL   l, "misc: FAIL clock_order\n"
        jg      .Lclock_ok
        mov     rax, qword ptr [rsp + F_TS2 + 8]
        cmp     rax, qword ptr [rsp + F_TS1 + 8]
        JFAIL   l, "misc: FAIL clock_order\n"
.Lclock_ok:

        # getrandom(buf, 16, 0) == 16, and the zeroed buffer was actually filled
        mov     qword ptr [rsp + F_RAND], 0
        mov     qword ptr [rsp + F_RAND + 8], 0
        lea     rdi, [rsp + F_RAND]
        mov     esi, 16
        xor     edx, edx
        SYS     SYS_getrandom
        cmp     rax, 16
        JFAIL   ne, "misc: FAIL getrandom\n"
        mov     rax, qword ptr [rsp + F_RAND]
        or      rax, qword ptr [rsp + F_RAND + 8]
        JFAIL   z, "misc: FAIL getrandom\n"

        # getpid() > 0
        SYS     SYS_getpid
        test    rax, rax
        JFAIL   le, "misc: FAIL getpid\n"

        # set_tid_address(ptr) returns the tid, > 0
        lea     rdi, [rsp + F_TID]
        SYS     SYS_set_tid_address
        test    rax, rax
        JFAIL   le, "misc: FAIL set_tid_address\n"

        # arch_prctl(ARCH_SET_FS, &tls) == 0, then fs:[0] reads the value stored there
        mov     rax, MAGIC
        mov     qword ptr [rsp + F_TLS], rax
        mov     edi, ARCH_SET_FS
        lea     rsi, [rsp + F_TLS]
        SYS     SYS_arch_prctl
        test    rax, rax
        JFAIL   nz, "misc: FAIL arch_prctl\n"
        mov     rax, qword ptr fs:[0]
        mov     rdx, MAGIC
        cmp     rax, rdx
        JFAIL   ne, "misc: FAIL fs_read\n"

        # writev(1, {"misc: ", "ok", "\n"}, 3) == 9
        LOAD_STR rax, ecx, "misc: "
        mov     qword ptr [rsp + F_IOV], rax
        mov     qword ptr [rsp + F_IOV + 8], rcx
        LOAD_STR rax, ecx, "ok"
        mov     qword ptr [rsp + F_IOV + 16], rax
        mov     qword ptr [rsp + F_IOV + 24], rcx
        LOAD_STR rax, ecx, "\n"
        mov     qword ptr [rsp + F_IOV + 32], rax
        mov     qword ptr [rsp + F_IOV + 40], rcx
        mov     edi, STDOUT
        lea     rsi, [rsp + F_IOV]
        mov     edx, 3
        SYS     SYS_writev
        cmp     rax, 9
        JFAIL   ne, "misc: FAIL writev\n"
        EXIT    0

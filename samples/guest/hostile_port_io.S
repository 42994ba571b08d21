# hostile_port_io — port I/O from CPL3, one form per case (argv[1]); IOPL is 0
# and the TSS has no I/O bitmap, so each must end as #GP would: SIGSEGV (139)
# at rip 0x400120 + 0x40 * N. Ports 0x80 and 0x0e are the runner's own exit
# ports (SYSCALL entry and #PF stub): a user-mode OUT to them must not be
# taken for a syscall or an exception.
        .include "common.inc"
        .include "hostile.inc"
        .globl  _start
_start:
        DISPATCH 13

        CASE 0                          # forge the SYSCALL exit
        mov     eax, 39
        TRY
        out     0x80, al
        UNREACHED_FAULT

        CASE 1                          # forge the #PF exit (the kvm_pvm syscall path)
        mov     eax, 39
        TRY
        out     0x0e, al
        UNREACHED_FAULT

        CASE 2                          # vector 0's port
        TRY
        out     0x00, al
        UNREACHED_FAULT

        CASE 3                          # the last vector's port
        TRY
        out     0x1f, al
        UNREACHED_FAULT

        CASE 4                          # read the SYSCALL port
        TRY
        in      al, 0x80
        UNREACHED_FAULT

        CASE 5                          # COM1
        mov     edx, 0x3f8
        TRY
        out     dx, al
        UNREACHED_FAULT

        CASE 6                          # PCI configuration address
        mov     edx, 0xcf8
        TRY
        in      eax, dx
        UNREACHED_FAULT

        CASE 7                          # the top port
        mov     edx, 0xffff
        TRY
        out     dx, al
        UNREACHED_FAULT

        CASE 8                          # string output to the SYSCALL port
        mov     edx, 0x80
        mov     rsi, rsp
        TRY
        outsb
        UNREACHED_FAULT

        CASE 9                          # string input from the SYSCALL port
        mov     edx, 0x80
        mov     rdi, rsp
        TRY
        insb
        UNREACHED_FAULT

        CASE 10                         # CMOS / RTC index
        mov     edx, 0x70
        TRY
        out     dx, al
        UNREACHED_FAULT

        CASE 11                         # 32-bit OUT to the SYSCALL port
        TRY
        out     0x80, eax
        UNREACHED_FAULT

        CASE 12                         # REP OUTSB to the #PF port
        mov     edx, 0x0e
        mov     ecx, 16
        mov     rsi, rsp
        TRY
        rep outsb
        UNREACHED_FAULT

# hostile_loop — loops that never end on their own (argv[1]):
#   0: CLI in a loop: CLI is privileged, so #GP at once: SIGSEGV (139) at 0x400120;
#   1: getpid forever: only the time limit ends it (SIGKILL, 137);
#   2: RDTSC and PAUSE forever: the same (137).
        .include "common.inc"
        .include "hostile.inc"
        .globl  _start
_start:
        DISPATCH 3

        CASE 0
        TRY
0:      cli
        jmp     0b

        CASE 1
        TRY
0:      mov     eax, SYS_getpid
        syscall
        jmp     0b

        CASE 2
        TRY
0:      rdtsc
        pause
        jmp     0b

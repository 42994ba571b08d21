# monitor_attack N — one attempt by the untrusted program on the in-VM
# monitor, chosen by argv[1] (see samples/README.md for each N and its
# expected outcome). Every attempt must end in a fault (139), except N=11,
# which may only ever return to its own address (N=14 prints a line first). Exit 99: the attempt was
# not stopped. The addresses are the monitor's layout (guest/layout.rs).
        .include "common.inc"
        .equ    MON_CODE,   0xffffffffc0000000  # monitor code (only in M)
        .equ    MON_DATA,   0xffffffffc0001000  # monitor data (only in M)
        .equ    MON_STACK,  0xffffffffc0009000  # monitor stack (only in M)
        .equ    GATE,       0xffffffff80015000  # gate page = gate_syscall = LSTAR
        .equ    GATE_MID,   0xffffffff8001500c  # gate_syscall past its marker
        .equ    GATE_SLOT,  0xffffffff80008000  # the gates' marker slot
        .equ    ENTRY_CODE, 0xffffffff80004000  # the runner's entry stubs
        .equ    M_ROOT,     0x11000             # the monitor's page-table root

        .macro ATTACK n:req, label:req
        cmp     rax, \n
        je      \label
        .endm

        .globl  _start
_start:
        mov     rbp, rsp
        ARG_U64 1, 0
        ATTACK  1, .Lread_data
        ATTACK  2, .Lwrite_data
        ATTACK  3, .Lexec_code
        ATTACK  4, .Lread_stack
        ATTACK  5, .Lread_gate
        ATTACK  6, .Ljump_gate_middle
        ATTACK  7, .Lout81
        ATTACK  8, .Lout82
        ATTACK  9, .Lload_cr3
        ATTACK  10, .Lforge_marker
        ATTACK  11, .Lrcx_own
        ATTACK  12, .Lrcx_kernel
        ATTACK  13, .Lrcx_noncanonical
        ATTACK  14, .Lwrite_then_fault
        PRINT   STDERR, "monitor_attack: unknown attack\n"
        EXIT    2

.Lread_data:                            # 1: read the monitor's data
        mov     rax, MON_DATA
        mov     rax, qword ptr [rax]
        UNREACHED_FAULT
.Lwrite_data:                           # 2: write the monitor's data
        mov     rax, MON_DATA
        mov     qword ptr [rax], 1
        UNREACHED_FAULT
.Lexec_code:                            # 3: execute the monitor's code
        mov     rax, MON_CODE
        jmp     rax
.Lread_stack:                           # 4: read the monitor's stack
        mov     rax, MON_STACK
        mov     rax, qword ptr [rax]
        UNREACHED_FAULT
.Lread_gate:                            # 5: read the gate page
        mov     rax, GATE
        mov     rax, qword ptr [rax]
        UNREACHED_FAULT
.Ljump_gate_middle:                     # 6: enter a gate past its marker
        mov     rax, GATE_MID
        jmp     rax
.Lout81:                                # 7: forge the monitor's refusal exit
        out     0x81, al
        UNREACHED_FAULT
.Lout82:                                # 8: forge a monitor-style exit
        out     0x82, al
        UNREACHED_FAULT
.Lload_cr3:                             # 9: switch to the monitor's root
        mov     eax, M_ROOT
        mov     cr3, rax
        UNREACHED_FAULT
.Lforge_marker:                         # 10: set the gate marker by hand
        mov     rax, GATE_SLOT
        mov     qword ptr [rax], 1
        UNREACHED_FAULT
.Lrcx_own:                              # 11: "syscall" by jumping to LSTAR
        lea     rcx, [rip + .Lrcx_back] #     with RCX = our own address
        mov     r11, GATE
        mov     eax, SYS_getpid
        jmp     r11
.Lrcx_back:
        cmp     rax, 2
        JFAIL   ne, "monitor_attack: FAIL rcx_own\n"
        PRINT   STDOUT, "monitor_attack: returned to its own address\n"
        EXIT    0
.Lrcx_kernel:                           # 12: ... with RCX in the kernel half
        mov     rcx, ENTRY_CODE
        mov     r11, GATE
        mov     eax, SYS_getpid
        jmp     r11
.Lrcx_noncanonical:                     # 13: ... with a non-canonical RCX
        mov     rcx, 0x0000800000000000
        mov     r11, GATE
        mov     eax, SYS_getpid
        jmp     r11
.Lwrite_then_fault:                     # 14: output (buffered by the monitor),
        PRINT   STDOUT, "monitor_attack: before the fault\n"
        mov     rax, MON_DATA           #     then a fault: the output is kept
        mov     rax, qword ptr [rax]
        UNREACHED_FAULT

# hostile_hypercall — VMMCALL with KVM hypercall numbers (kick CPU, send IPI,
# sched yield, map GPA range, ...) from CPL3. KVM answers hypercalls from
# user mode with -KVM_EPERM (-1) without leaving the kernel: the untrusted
# code never runs at CPL0, so it can never make one. Prints
# "hostile_hypercall: refused\n".
        .include "common.inc"
        .globl  _start

.macro HYPERCALL nr:req
        mov     eax, \nr
        xor     ebx, ebx
        xor     ecx, ecx
        xor     edx, edx
        xor     esi, esi
        vmmcall
        cmp     rax, -1
        JFAIL   ne, "hostile_hypercall: FAIL \nr\n"
.endm

_start:
        HYPERCALL 1                     # KVM_HC_VAPIC_POLL_IRQ
        HYPERCALL 5                     # KVM_HC_KICK_CPU
        HYPERCALL 9                     # KVM_HC_CLOCK_PAIRING
        HYPERCALL 10                    # KVM_HC_SEND_IPI
        HYPERCALL 11                    # KVM_HC_SCHED_YIELD
        HYPERCALL 12                    # KVM_HC_MAP_GPA_RANGE
        HYPERCALL 0x7fffffff
        PRINT   STDOUT, "hostile_hypercall: refused\n"
        EXIT    0

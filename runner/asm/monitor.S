/*
 * monitor.S - the in-VM monitor of thinvisor (docs/monitor.md).
 *
 * Trusted guest code that answers designated syscalls inside the VM, without
 * an exit, while staying invisible to the untrusted program beside it:
 *
 *   .gate  one page in the kernel window (supervisor-only, read+execute),
 *          mapped at the same address in the program's page tables (U) and
 *          the monitor's (M). The only code both can reach. Entry gates
 *          switch CR3 to M; exit gates switch back to U and return.
 *   .text  the monitor proper (read+execute), .data its state (read+write,
 *          NX), plus a stack page: mapped ONLY in M, in the top GiB of the
 *          address space (MONITOR_VA), in frames U never maps.
 *
 * Assembled by runner/build.rs, which passes the layout constants with
 * --defsym (MONITOR_ROOT_PA, USER_ROOT_PA, GATE_MARK, GATE_RAX, FRAME_VA,
 * USER_CS, USER_DS, VECTOR_14, SYSCALL_ENTRY, MONITOR_STACK_TOP) and exports
 * every global symbol below to Rust (guest::monitor_image).
 *
 * Rules kept here: statically linked and position-fixed; no call leaves the
 * monitor; nothing that steers control flow is read from memory the program
 * can write (the action table and handler table live in monitor pages; only
 * syscall arguments, the program's own data, come from the program); every
 * gate instruction is commented.
 *
 * Two entry paths (docs/platforms.md):
 *   hardware KVM: SYSCALL enters gate_syscall (LSTAR) at CPL0 with IF=0
 *       (SFMASK) and the program's RSP; the exit gate returns with SYSRETQ.
 *   kvm_pvm: SYSCALL stays at CPL3 and faults on LSTAR's supervisor-only
 *       page: #PF (error 0x15, RIP = LSTAR) through IDT vector 14 = gate_pf
 *       on IST1; the exit gate rewrites that frame and returns with IRETQ.
 * Whatever the monitor does not answer goes back to U and on into the
 * runner's own stubs (entry.S) exactly as if the monitor did not exist.
 */
        .intel_syntax noprefix
        .code64

/* Gate markers: written by a gate's first instruction, checked and cleared
 * by the dispatcher. A jump into a gate's middle leaves the marker at 0. */
        .equ GATE_ID_SYSCALL, 1
        .equ GATE_ID_PF, 2
        .globl GATE_ID_SYSCALL, GATE_ID_PF

/* Actions, one byte per syscall number in mon_actions (written by the runner). */
        .equ ACTION_RUNNER, 0           /* not answered here: exit to the runner */
        .equ ACTION_DENY, 1             /* refused by the policy: -errno */
        .equ ACTION_CONST, 2            /* getpid & co: a constant from mon_const */
        .equ ACTION_CLOCK, 3            /* clock_gettime(REALTIME|MONOTONIC) */
        .equ ACTION_UNAME, 4            /* uname: a fixed struct utsname */
        .equ ACTION_BRK, 5              /* brk within the pre-granted heap */
        .equ ACTION_WRITE, 6            /* write to a buffered fd (1, 2) */
        .equ ACTION_COUNT, 7
        .globl ACTION_RUNNER, ACTION_DENY, ACTION_CONST, ACTION_CLOCK
        .globl ACTION_UNAME, ACTION_BRK, ACTION_WRITE, ACTION_COUNT

        .equ MON_NR_MAX, 512            /* syscall numbers the tables cover */
        .equ MON_RANGES_MAX, 16         /* entries of each range table */
        .equ MON_UTS_LEN, 390           /* sizeof(struct utsname) */
        .equ MON_BUF_SIZE, 16384        /* the output buffer */
        .equ MON_WRITE_MAX, 4096        /* larger writes go to the runner */
        .globl MON_NR_MAX, MON_RANGES_MAX, MON_UTS_LEN, MON_BUF_SIZE, MON_WRITE_MAX

        /* RFLAGS bits user code may hold (as run_loop.rs USER_RFLAGS). */
        .equ USER_RFLAGS, 0x240dd5

/* ======================================================================
 * The gate page (kernel window, in U and M).
 * ====================================================================== */
        .section .gate, "ax"
        .globl gate_start
gate_start:

/*
 * SYSCALL entry (LSTAR), hardware KVM. CPL0, IF=0 and TF=0 (SFMASK), RCX =
 * return RIP, R11 = RFLAGS, RSP = the program's (never used here).
 */
        .globl gate_syscall
gate_syscall:
        mov     qword ptr [GATE_MARK], GATE_ID_SYSCALL /* marker first: "entered through the syscall gate" */
        .globl gate_syscall_after_marker
gate_syscall_after_marker:
        mov     [GATE_RAX], rax         /* park the program's RAX in the supervisor-only gate slot */
        mov     eax, MONITOR_ROOT_PA    /* M's root: an immediate, never read from memory */
        mov     cr3, rax                /* switch to M: the monitor's pages appear */
        jmp     monitor_syscall_entry   /* into the hidden monitor */

/*
 * IDT vector 14 on kvm_pvm, IST1: RSP = the CPU's frame (error code, RIP,
 * CS, RFLAGS, RSP, SS). A SYSCALL shows up as error 0x15 at RIP = LSTAR
 * from the user code segment; any other page fault goes to the runner.
 */
        .balign 16
        .globl gate_pf
gate_pf:
        mov     qword ptr [GATE_MARK], GATE_ID_PF /* marker first: "entered through the #PF gate" */
        .globl gate_pf_after_marker
gate_pf_after_marker:
        cmp     qword ptr [rsp], 0x15   /* error code: user-mode fetch from a present page? */
        jne     1f                      /* no: an ordinary page fault */
        cmp     qword ptr [rsp + 8], offset gate_syscall /* faulting RIP = LSTAR? */
        jne     1f                      /* no: an ordinary page fault */
        cmp     qword ptr [rsp + 16], USER_CS /* from the user code segment (CPL3)? */
        jne     1f                      /* no: a fault in supervisor code */
        mov     [GATE_RAX], rax         /* park the program's RAX in the supervisor-only gate slot */
        mov     eax, MONITOR_ROOT_PA    /* M's root: an immediate */
        mov     cr3, rax                /* switch to M */
        jmp     monitor_pf_entry        /* into the hidden monitor */
1:      mov     qword ptr [GATE_MARK], 0 /* not a monitor entry: drop the marker */
        jmp     VECTOR_14               /* the runner's #PF stub (out 14), frame untouched */

/*
 * Exit gates. The monitor jumps here with RAX = U's root and the result (or
 * the program's RAX) parked in GATE_RAX; everything else already restored.
 */
        .balign 16
        .globl gate_exit_sysret
gate_exit_sysret:                       /* RSP = program's, RCX/R11 = checked RIP/RFLAGS */
        mov     cr3, rax                /* back to U: the monitor's pages vanish */
        mov     rax, [GATE_RAX]         /* the syscall's result */
        sysretq                         /* to CPL3 at RCX with RFLAGS = R11 */

        .balign 16
        .globl gate_exit_iret
gate_exit_iret:                         /* RSP = the rewritten IST frame's RIP slot */
        mov     cr3, rax                /* back to U */
        mov     rax, [GATE_RAX]         /* the syscall's result */
        iretq                           /* to CPL3 at the frame's RIP (the program's RCX) */

        .balign 16
        .globl gate_runner_sysret
gate_runner_sysret:                     /* every register as SYSCALL left it */
        mov     cr3, rax                /* back to U */
        mov     rax, [GATE_RAX]         /* the program's RAX (the syscall number) */
        jmp     SYSCALL_ENTRY           /* the runner's stub: out 0x80, then SYSRETQ */

        .balign 16
        .globl gate_runner_pf
gate_runner_pf:                         /* RSP = the untouched IST frame */
        mov     cr3, rax                /* back to U */
        mov     rax, [GATE_RAX]         /* the program's RAX (the syscall number) */
        jmp     VECTOR_14               /* the runner's stub: out 14, then IRETQ */

        .globl gate_end
gate_end:

/* ======================================================================
 * The monitor (only in M).
 * ====================================================================== */
        .text
        .globl monitor_start
monitor_start:

/* From gate_syscall: RSP = the program's, RAX = scratch. */
        .globl monitor_syscall_entry
monitor_syscall_entry:
        mov     [rip + sv_rsp], rsp
        mov     rsp, MONITOR_STACK_TOP  /* the monitor's own stack */
        jmp     monitor_common

/* From gate_pf: RSP = the CPU's frame on IST1. */
        .globl monitor_pf_entry
monitor_pf_entry:
        mov     [rip + sv_rsp], rsp
        mov     rsp, MONITOR_STACK_TOP

monitor_common:
        mov     rax, [GATE_RAX]         /* the program's RAX */
        mov     [rip + sv_rax], rax
        mov     [rip + sv_rcx], rcx
        mov     [rip + sv_rdx], rdx
        mov     [rip + sv_rsi], rsi
        mov     [rip + sv_rdi], rdi
        mov     [rip + sv_r8], r8
        mov     [rip + sv_r9], r9
        mov     [rip + sv_r10], r10
        mov     [rip + sv_r11], r11
        .globl monitor_saved_regs       /* from here sv_rcx holds the return RIP (run_loop::user_rip) */
monitor_saved_regs:
        cld                             /* #PF keeps the program's DF */

        /* Invocation check: the marker of this platform's entry gate must be
         * there (written by the gate's first instruction; consumed here,
         * single use), and a #PF entry must come from CPL3. Anything else
         * is refused: the run ends. */
        mov     r11, [GATE_MARK]
        mov     qword ptr [GATE_MARK], 0
        cmp     r11, [rip + mon_gate_id] /* this platform's entry gate (never 0) */
        jne     monitor_refuse
        cmp     r11, GATE_ID_PF
        jne     2f
        /* #PF entry: the frame must be the CPU's, where IST1 put it, and say
         * "user code segment, at LSTAR". */
        cmp     qword ptr [rip + sv_rsp], FRAME_VA
        jne     monitor_refuse
        cmp     qword ptr [FRAME_VA + 16], USER_CS
        jne     monitor_refuse
        cmp     qword ptr [FRAME_VA + 8], offset gate_syscall
        jne     monitor_refuse
2:      mov     [rip + mon_active], r11 /* which gate: chooses the way back */

        /* The return address (RCX) must be a user-half address; if not, the
         * runner ends the run as it would without the monitor. */
        mov     r11, rcx
        shr     r11, 47
        jnz     monitor_fallback

        /* Dispatch on the action the runner set for this number. */
        cmp     rax, MON_NR_MAX
        jae     monitor_fallback
        movzx   r11d, byte ptr [mon_actions + rax]
        cmp     r11d, ACTION_COUNT
        jae     monitor_fallback
        jmp     qword ptr [handlers + r11 * 8]

/* ---- handlers: RAX = the number, arguments in rdi rsi rdx r10 r8 r9 as
 * the program passed them (only RCX and R11 were used above); each ends in
 * monitor_done (RAX = result) or monitor_fallback. They may clobber any
 * register the entry saved. */

h_deny:
        inc     qword ptr [rip + mon_denied]
        mov     rax, [rip + mon_deny_result]
        jmp     monitor_done

h_const:
        mov     rax, [mon_const + rax * 8]
        jmp     monitor_done

/* clock_gettime(rdi = clock, rsi = struct timespec *): CLOCK_REALTIME (0)
 * and CLOCK_MONOTONIC (1) from the TSC, like a vDSO. */
h_clock:
        cmp     rdi, 1
        ja      monitor_fallback
        mov     rdi, rsi
        mov     esi, 16
        lea     r8, [rip + mon_wr_ranges]
        call    range_ok
        test    eax, eax
        jz      monitor_fallback        /* not a known writable range: the runner decides */
        rdtsc
        shl     rdx, 32
        or      rax, rdx
        sub     rax, [rip + mon_tsc_base]
        jae     1f
        xor     eax, eax                /* before the anchor: clamp */
1:      mul     qword ptr [rip + mon_tsc_mult] /* rdx:rax = ticks * (ns per tick << 32) */
        shrd    rax, rdx, 32            /* ns since the anchor */
        mov     rcx, [rip + sv_rdi]
        add     rax, [mon_ns_base + rcx * 8]
        xor     edx, edx
        mov     ecx, 1000000000
        div     rcx                     /* rax = seconds, rdx = nanoseconds */
        mov     [rdi], rax
        mov     [rdi + 8], rdx
        xor     eax, eax
        jmp     monitor_done

/* uname(rdi = struct utsname *) */
h_uname:
        mov     esi, MON_UTS_LEN
        lea     r8, [rip + mon_wr_ranges]
        call    range_ok
        test    eax, eax
        jz      monitor_fallback
        lea     rsi, [rip + mon_uname]
        mov     ecx, MON_UTS_LEN
        call    copy                    /* to rdi, the program's buffer */
        xor     eax, eax
        jmp     monitor_done

/* brk(rdi): queries, and growth into pages the runner already mapped
 * (mon_heap_end). Shrinking unmaps pages: the runner does that. */
h_brk:
        mov     rax, [rip + mon_brk]
        cmp     rdi, rax
        je      monitor_done            /* the same break */
        cmp     rdi, [rip + mon_brk_start]
        jb      monitor_done            /* below the heap (brk(0)): a query */
        cmp     rdi, rax
        jb      monitor_fallback        /* shrink: the runner */
        cmp     rdi, [rip + mon_heap_end]
        ja      monitor_fallback        /* beyond the granted pages: the runner */
        mov     [rip + mon_brk], rdi
        mov     rax, rdi
        jmp     monitor_done

/* write(rdi = fd, rsi = buf, rdx = len) to a buffered descriptor: copy into
 * mon_buf as a record (u32 fd, u32 len, bytes, padded to 8). The runner
 * writes the records out at the next exit, before anything else. */
h_write:
        cmp     rdi, 63
        ja      monitor_fallback
        mov     rax, [rip + mon_write_fds]
        bt      rax, rdi
        jnc     monitor_fallback        /* not a buffered descriptor */
        test    rdx, rdx
        jz      monitor_fallback
        cmp     rdx, MON_WRITE_MAX
        ja      monitor_fallback        /* large: the runner writes it without a copy */
        mov     rdi, rsi
        mov     rsi, rdx
        lea     r8, [rip + mon_rd_ranges]
        call    range_ok
        test    eax, eax
        jz      monitor_fallback
        mov     r9, [rip + mon_buf_used]
        cmp     r9, MON_BUF_SIZE
        ja      monitor_fallback
        lea     r10, [r9 + rsi + 15]
        and     r10, -8                 /* the end of this record */
        cmp     r10, MON_BUF_SIZE
        ja      monitor_fallback        /* full: the runner flushes, then writes */
        mov     rax, [rip + sv_rdi]
        mov     [mon_buf + r9], eax     /* record header: fd */
        mov     [mon_buf + r9 + 4], esi /* and length */
        mov     rcx, rsi
        mov     rsi, rdi
        lea     rdi, [mon_buf + r9 + 8]
        call    copy                    /* the program's bytes */
        mov     [rip + mon_buf_used], r10
        mov     rax, [rip + sv_rdx]     /* all of it was written */
        jmp     monitor_done

/* copy: rcx bytes from rsi to rdi (both advance; DF is clear). */
copy:
        rep movsb
        ret

/* range_ok: is [rdi, rdi + rsi) (rsi > 0) inside one range of the table at
 * r8 (count, then start/end pairs)? RAX = 1 or 0. Clobbers rcx, r9, r10. */
range_ok:
        xor     eax, eax
        mov     r9, rdi
        add     r9, rsi                 /* end */
        jc      9f                      /* wraps: never */
        mov     rcx, [r8]
        cmp     rcx, MON_RANGES_MAX
        ja      9f
        lea     r10, [r8 + 8]
1:      test    rcx, rcx
        jz      9f
        cmp     rdi, [r10]
        jb      2f
        cmp     r9, [r10 + 8]
        ja      2f
        mov     eax, 1
        ret
2:      add     r10, 16
        dec     rcx
        jmp     1b
9:      ret

/* ---- leaving the monitor ---- */

/* Answered: count it, restore the registers, go back through an exit gate. */
monitor_done:
        mov     rdx, [rip + sv_rax]
        inc     qword ptr [mon_count + rdx * 8]
        inc     qword ptr [rip + mon_in_vm]
        mov     [GATE_RAX], rax         /* the result crosses the CR3 switch here */
        mov     rcx, [rip + sv_rcx]     /* return RIP, checked canonical user above */
        mov     r11, [rip + sv_r11]
        mov     rdx, [rip + sv_rdx]
        mov     rsi, [rip + sv_rsi]
        mov     rdi, [rip + sv_rdi]
        mov     r8, [rip + sv_r8]
        mov     r9, [rip + sv_r9]
        mov     r10, [rip + sv_r10]
        cmp     qword ptr [rip + mon_active], GATE_ID_PF
        je      3f
        /* SYSRETQ: RFLAGS from R11, without IOPL, NT, VM; IF on. */
        and     r11, USER_RFLAGS
        or      r11, 0x202
        mov     qword ptr [rip + mon_active], 0
        mov     rsp, [rip + sv_rsp]     /* the program's stack pointer */
        mov     eax, USER_ROOT_PA
        jmp     gate_exit_sysret
3:      /* IRETQ: the frame returns to RCX with RFLAGS = sanitised R11. */
        mov     rax, r11
        and     rax, USER_RFLAGS
        or      rax, 0x202
        mov     [FRAME_VA + 24], rax
        mov     [FRAME_VA + 8], rcx
        mov     qword ptr [FRAME_VA + 16], USER_CS
        mov     qword ptr [FRAME_VA + 40], USER_DS
        mov     qword ptr [rip + mon_active], 0
        mov     rsp, FRAME_VA + 8       /* the frame's RIP slot */
        mov     eax, USER_ROOT_PA
        jmp     gate_exit_iret

/* Not answered here: restore everything and take the runner's path. */
        .globl monitor_fallback
monitor_fallback:
        mov     rax, [rip + sv_rax]
        mov     [GATE_RAX], rax
        mov     rcx, [rip + sv_rcx]
        mov     rdx, [rip + sv_rdx]
        mov     rsi, [rip + sv_rsi]
        mov     rdi, [rip + sv_rdi]
        mov     r8, [rip + sv_r8]
        mov     r9, [rip + sv_r9]
        mov     r10, [rip + sv_r10]
        mov     r11, [rip + sv_r11]
        cmp     qword ptr [rip + mon_active], GATE_ID_PF
        mov     qword ptr [rip + mon_active], 0 /* (mov keeps the flags) */
        mov     rsp, [rip + sv_rsp]
        mov     eax, USER_ROOT_PA
        je      gate_runner_pf
        jmp     gate_runner_sysret

/* Refused entry: tell the runner, which ends the run (SIGSYS). The runner
 * trusts port 0x81 only at monitor_refuse_after_out. */
        .globl monitor_refuse
monitor_refuse:
        out     0x81, al
        .globl monitor_refuse_after_out
monitor_refuse_after_out:
        jmp     monitor_refuse          /* never resumed */

/* Handler table, indexed by action (read-only: in the code page). */
        .balign 8
handlers:
        .quad   monitor_fallback        /* ACTION_RUNNER */
        .quad   h_deny                  /* ACTION_DENY */
        .quad   h_const                 /* ACTION_CONST */
        .quad   h_clock                 /* ACTION_CLOCK */
        .quad   h_uname                 /* ACTION_UNAME */
        .quad   h_brk                   /* ACTION_BRK */
        .quad   h_write                 /* ACTION_WRITE */

        .globl monitor_end
monitor_end:

/* ======================================================================
 * Monitor data (only in M). Written by the runner before the run and
 * between exits; the untrusted program can neither read nor write it.
 * ====================================================================== */
        .data
        .globl monitor_data
monitor_data:
        .globl mon_actions
mon_actions:    .fill MON_NR_MAX, 1, 0  /* action per syscall number */
        .balign 8
        .globl mon_const
mon_const:      .fill MON_NR_MAX, 8, 0  /* ACTION_CONST results */
        .globl mon_count
mon_count:      .fill MON_NR_MAX, 8, 0  /* answered in the VM, per number */
        .globl mon_in_vm
mon_in_vm:      .quad 0                 /* answered in the VM, total */
        .globl mon_denied
mon_denied:     .quad 0                 /* refused in the VM */
        .globl mon_deny_result
mon_deny_result: .quad 0                /* -errno for ACTION_DENY */
        .globl mon_brk_start
mon_brk_start:  .quad 0
        .globl mon_brk
mon_brk:        .quad 0                 /* the current break (the VM's copy) */
        .globl mon_heap_end
mon_heap_end:   .quad 0                 /* end of the heap pages mapped by the runner */
        .globl mon_tsc_base
mon_tsc_base:   .quad 0                 /* guest TSC at the anchor */
        .globl mon_tsc_mult
mon_tsc_mult:   .quad 0                 /* ns per tick << 32 */
        .globl mon_ns_base
mon_ns_base:    .quad 0, 0              /* REALTIME, MONOTONIC ns at the anchor */
        .globl mon_write_fds
mon_write_fds:  .quad 0                 /* bit n: fd n is buffered */
        .globl mon_buf_used
mon_buf_used:   .quad 0                 /* bytes of records in mon_buf */
        .globl mon_rd_ranges
mon_rd_ranges:  .quad 0                 /* count, then (start, end) pairs: readable */
        .fill MON_RANGES_MAX * 2, 8, 0
        .globl mon_wr_ranges
mon_wr_ranges:  .quad 0                 /* the same for writable */
        .fill MON_RANGES_MAX * 2, 8, 0
        .globl mon_active
mon_active:     .quad 0                 /* the gate of the call in progress */
        .globl mon_gate_id
mon_gate_id:    .quad 0                 /* the entry gate in use: GATE_ID_SYSCALL or _PF */
        /* The program's registers while the monitor runs. */
        .globl sv_rsp
sv_rsp: .quad 0
sv_rax: .quad 0
        .globl sv_rcx
sv_rcx: .quad 0
sv_rdx: .quad 0
sv_rsi: .quad 0
sv_rdi: .quad 0
sv_r8:  .quad 0
sv_r9:  .quad 0
sv_r10: .quad 0
sv_r11: .quad 0
        .globl mon_uname
mon_uname:      .fill MON_UTS_LEN, 1, 0
        .balign 8
        .globl mon_buf
mon_buf:        .fill MON_BUF_SIZE, 1, 0
        .globl monitor_data_end
monitor_data_end:

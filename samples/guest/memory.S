# memory — brk growth, anonymous mmap/mprotect/munmap and a refused 1 TiB mmap; print "memory: ok\n".
        .include "common.inc"
        .equ    REGION,  0x100000               # 1 MiB
        .equ    HUGE,    0x10000000000          # 1 TiB
        .equ    PATTERN, 0x5a5aa5a5c3c33c3c     # each qword holds (its address ^ PATTERN)

# FILL base — write the pattern over every qword of [base, base+REGION). Clobbers rax rcx rdx r8.
.macro FILL base:req
        mov     rdx, \base
        lea     rcx, [\base + REGION]
        mov     r8, PATTERN
.Lfill\@:
        mov     rax, rdx
        xor     rax, r8
        mov     qword ptr [rdx], rax
        add     rdx, 8
        cmp     rdx, rcx
        jb      .Lfill\@
.endm

# VERIFY base, "msg" — check the pattern in every qword of the region, else fail with msg.
.macro VERIFY base:req, msg:req
        mov     rdx, \base
        lea     rcx, [\base + REGION]
        mov     r8, PATTERN
.Lverify\@:
        mov     rax, rdx
        xor     rax, r8
        cmp     qword ptr [rdx], rax
        JFAIL   ne, "\msg"
        add     rdx, 8
        cmp     rdx, rcx
        jb      .Lverify\@
.endm

# ZEROED base, "msg" — check that fresh memory reads as zero in every qword, else fail with msg.
.macro ZEROED base:req, msg:req
        mov     rdx, \base
        lea     rcx, [\base + REGION]
.Lzero\@:
        cmp     qword ptr [rdx], 0
        JFAIL   ne, "\msg"
        add     rdx, 8
        cmp     rdx, rcx
        jb      .Lzero\@
.endm

        .globl  _start
_start:
        # --- brk: query, grow by 1 MiB, check zero-fill, write + read back ---
        xor     edi, edi
        SYS     SYS_brk
        test    rax, rax
        JFAIL   le, "memory: FAIL brk_query\n"
        mov     rbx, rax                        # rbx = old break = start of new region
        lea     rdi, [rbx + REGION]
        SYS     SYS_brk
        cmp     rax, rdi
        JFAIL   ne, "memory: FAIL brk_grow\n"
        ZEROED  rbx, "memory: FAIL brk_zero\n"
        FILL    rbx
        VERIFY  rbx, "memory: FAIL brk_pattern\n"

        # --- mmap 1 MiB anonymous private RW: zero-fill, write + read back ---
        xor     edi, edi
        mov     esi, REGION
        mov     edx, PROT_READ | PROT_WRITE
        mov     r10d, MAP_PRIVATE | MAP_ANONYMOUS
        mov     r8, -1
        xor     r9d, r9d
        SYS     SYS_mmap
        cmp     rax, -4095
        JFAIL   ae, "memory: FAIL mmap\n"       # -4095..-1 = -errno
        test    eax, 0xfff
        JFAIL   nz, "memory: FAIL mmap\n"       # must be page aligned
        mov     r12, rax                        # r12 = mapping
        ZEROED  r12, "memory: FAIL mmap_zero\n"
        FILL    r12
        VERIFY  r12, "memory: FAIL mmap_pattern\n"
        VERIFY  rbx, "memory: FAIL brk_after_mmap\n"   # the two regions must not alias

        # --- mprotect to read-only (contents stay readable), then munmap ---
        mov     rdi, r12
        mov     esi, REGION
        mov     edx, PROT_READ
        SYS     SYS_mprotect
        test    rax, rax
        JFAIL   nz, "memory: FAIL mprotect\n"
        VERIFY  r12, "memory: FAIL mprotect_read\n"
        mov     rdi, r12
        mov     esi, REGION
        SYS     SYS_munmap
        test    rax, rax
        JFAIL   nz, "memory: FAIL munmap\n"

        # --- a 1 TiB anonymous mapping must be refused with -ENOMEM ---
        xor     edi, edi
        mov     rsi, HUGE
        mov     edx, PROT_READ | PROT_WRITE
        mov     r10d, MAP_PRIVATE | MAP_ANONYMOUS
        mov     r8, -1
        xor     r9d, r9d
        SYS     SYS_mmap
        cmp     rax, -ENOMEM
        JFAIL   ne, "memory: FAIL mmap_huge\n"

        PRINT   STDOUT, "memory: ok\n"
        EXIT    0

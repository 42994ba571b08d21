# hostile_memory_bomb — allocate and touch 1 MiB chunks until mmap fails:
# the failure must be -ENOMEM (not a crash), brk past the limit must leave
# the break where it was, a 64 TiB mmap must fail with -ENOMEM, so must a
# 64 TiB MAP_FIXED over the program's own image (which stays intact), and
# after one munmap the next 1 MiB mmap must succeed again. Prints
# "hostile_memory_bomb: ok\n". Meant for a small limit (tests use 16 MiB).
        .include "common.inc"
        .equ    CHUNK,  1 << 20

        .globl  _start
_start:
        xor     r12d, r12d              # chunks mapped
        xor     r13d, r13d              # first chunk
.Lbomb:
        xor     edi, edi
        mov     esi, CHUNK
        mov     edx, PROT_READ | PROT_WRITE
        mov     r10d, MAP_PRIVATE | MAP_ANONYMOUS
        mov     r8, -1
        xor     r9d, r9d
        SYS     SYS_mmap
        cmp     rax, -4095
        jae     .Lrefused
        test    r13, r13
        cmovz   r13, rax
        inc     r12
        xor     ecx, ecx                # touch every page
0:      mov     byte ptr [rax + rcx], 1
        add     ecx, 4096
        cmp     ecx, CHUNK
        jb      0b
        cmp     r12, 100000
        JFAIL   a, "hostile_memory_bomb: FAIL unbounded\n"
        jmp     .Lbomb
.Lrefused:
        cmp     rax, -ENOMEM
        JFAIL   ne, "hostile_memory_bomb: FAIL errno\n"
        test    r12, r12
        JFAIL   z, "hostile_memory_bomb: FAIL nothing mapped\n"
        # brk far past the limit: the break stays.
        xor     edi, edi
        SYS     SYS_brk
        mov     r14, rax
        lea     rdi, [rax + (1 << 30)]
        SYS     SYS_brk
        cmp     rax, r14
        JFAIL   ne, "hostile_memory_bomb: FAIL brk\n"
        # 64 TiB at once.
        xor     edi, edi
        movabs  rsi, 1 << 46
        mov     edx, PROT_READ | PROT_WRITE
        mov     r10d, MAP_PRIVATE | MAP_ANONYMOUS
        mov     r8, -1
        xor     r9d, r9d
        SYS     SYS_mmap
        cmp     rax, -ENOMEM
        JFAIL   ne, "hostile_memory_bomb: FAIL huge\n"
        # 64 TiB MAP_FIXED over the image: refused without touching it.
        mov     edi, 0x400000
        movabs  rsi, 1 << 46
        mov     edx, PROT_READ | PROT_WRITE
        mov     r10d, MAP_PRIVATE | MAP_ANONYMOUS | 0x10
        mov     r8, -1
        xor     r9d, r9d
        SYS     SYS_mmap
        cmp     rax, -ENOMEM
        JFAIL   ne, "hostile_memory_bomb: FAIL huge fixed\n"
        # Give one chunk back: the next mmap succeeds and is usable.
        mov     rdi, r13
        mov     esi, CHUNK
        SYS     SYS_munmap
        test    rax, rax
        JFAIL   nz, "hostile_memory_bomb: FAIL munmap\n"
        xor     edi, edi
        mov     esi, CHUNK
        mov     edx, PROT_READ | PROT_WRITE
        mov     r10d, MAP_PRIVATE | MAP_ANONYMOUS
        mov     r8, -1
        xor     r9d, r9d
        SYS     SYS_mmap
        cmp     rax, -4095
        JFAIL   ae, "hostile_memory_bomb: FAIL remap\n"
        mov     byte ptr [rax + CHUNK - 1], 1
        PRINT   STDOUT, "hostile_memory_bomb: ok\n"
        EXIT    0

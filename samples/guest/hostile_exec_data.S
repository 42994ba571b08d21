# hostile_exec_data — W^X: execute from memory mapped for data (argv[1]):
#   0: the stack (0x7fffffff0000), 1: the brk heap (0x401000),
#   2: an mmap'd read-write page (0x7effffff000): each is NX, so the jump
#      faults on the fetch: SIGSEGV (139) at rip = address = the target;
#   3: the same page made read+execute with mprotect first: runs the code
#      written there, exit_group(33).
        .include "common.inc"
        .include "hostile.inc"
        .equ    PROT_EXEC,  4

        .globl  _start
_start:
        DISPATCH 4

        CASE 0
        movabs  rax, 0x7fffffff0000
        mov     byte ptr [rax], 0xc3    # ret
        TRY
        jmp     rax
        UNREACHED_FAULT

        CASE 1
        call    heap_page
        TRY
        jmp     rax
        UNREACHED_FAULT

        CASE 2
        call    mmap_page
        TRY
        jmp     rax
        UNREACHED_FAULT

        CASE 3
        call    mmap_page
        call    make_rx
        TRY
        jmp     rax
        UNREACHED_FAULT

# rax = brk page with exit code written into it.
heap_page:
        xor     edi, edi
        SYS     SYS_brk
        mov     rbx, rax
        lea     rdi, [rax + 4096]
        SYS     SYS_brk
        mov     rax, rbx
        jmp     write_code
# rax = fresh read-write mmap page with exit code written into it.
mmap_page:
        xor     edi, edi
        mov     esi, 4096
        mov     edx, PROT_READ | PROT_WRITE
        mov     r10d, MAP_PRIVATE | MAP_ANONYMOUS
        mov     r8, -1
        xor     r9d, r9d
        SYS     SYS_mmap
write_code:                             # mov edi, 33; mov eax, 231; syscall
        mov     dword ptr [rax], 0x000021bf
        mov     dword ptr [rax + 4], 0x00e7b800
        mov     dword ptr [rax + 8], 0x050f0000
        ret
# mprotect(rax, 4096, PROT_READ | PROT_EXEC); keeps rax.
make_rx:
        mov     rbx, rax
        mov     rdi, rax
        mov     esi, 4096
        mov     edx, PROT_READ | PROT_EXEC
        SYS     SYS_mprotect
        test    rax, rax
        JFAIL   nz, "hostile_exec_data: FAIL mprotect\n"
        mov     rax, rbx
        ret

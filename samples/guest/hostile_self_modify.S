# hostile_self_modify — the flat image is mapped RWX, so code may rewrite
# itself: patch the immediate of an instruction ahead, then write a new
# function (mov eax, 42; ret) into the image and call it. Prints
# "hostile_self_modify: ok\n".
        .include "common.inc"
        .globl  _start
_start:
        lea     rax, [rip + patched]
        mov     byte ptr [rax + 1], 42  # mov edi, 7 -> mov edi, 42
patched:
        mov     edi, 7
        cmp     edi, 42
        JFAIL   ne, "hostile_self_modify: FAIL patch\n"
        lea     rdi, [rip + scratch]
        mov     dword ptr [rdi], 0x00002ab8     # b8 2a 00 00 : mov eax, 42 ...
        mov     word ptr [rdi + 4], 0xc300      # ... 00 ; c3 : ret
        xor     eax, eax
        call    rdi
        cmp     eax, 42
        JFAIL   ne, "hostile_self_modify: FAIL call\n"
        PRINT   STDOUT, "hostile_self_modify: ok\n"
        EXIT    0
scratch:
        .fill   16, 1, 0xcc

# hostile_cpuid — probe what the CPU tells the guest. CPUID, RDTSC, RDTSCP
# and RDPID are allowed at CPL3 (RDTSCP/RDPID only where CPUID lists them),
# but CPUID must not reveal virtualisation machinery: VMX (leaf 1 ECX bit 5),
# SVM (leaf 0x80000001 ECX bit 2) and KVM's signature leaf 0x40000000
# ("KVMKVMKVM") are filtered. Prints "hostile_cpuid: vmx 0 svm 0 kvm 0\n"
# (a 1 where the guest can see it); RDTSC must not go backwards.
        .include "common.inc"
        .globl  _start

# FLAG_DIGIT offset — byte [rsp + offset] = '0' + (ZF clear ? 1 : 0).
.macro FLAG_DIGIT offset:req
        setnz   al
        add     al, '0'
        mov     byte ptr [rsp + \offset], al
.endm

_start:
        sub     rsp, 64
        LOAD_STR rsi, ecx, "hostile_cpuid: vmx 0 svm 0 kvm 0\n"
        mov     rdi, rsp
        mov     r15, rcx                # length
        rep movsb
        # vmx: leaf 1 ECX bit 5 (message offset 19)
        mov     eax, 1
        xor     ecx, ecx
        cpuid
        test    ecx, 1 << 5
        FLAG_DIGIT 19
        # svm: leaf 0x80000001 ECX bit 2, if the leaf exists (offset 25)
        mov     eax, 0x80000000
        cpuid
        mov     byte ptr [rsp + 25], '0'
        cmp     eax, 0x80000001
        jb      0f
        mov     eax, 0x80000001
        cpuid
        test    ecx, 1 << 2
        FLAG_DIGIT 25
        # RDTSCP where listed (leaf 0x80000001 EDX bit 27)
        test    edx, 1 << 27
        jz      0f
        rdtscp
0:
        # kvm: leaf 0x40000000 EBX:ECX:EDX == "KVMKVMKVM\0\0\0" (offset 31)
        mov     eax, 0x40000000
        xor     ebx, ebx
        xor     ecx, ecx
        xor     edx, edx
        cpuid
        cmp     ebx, 0x4b4d564b         # "KVMK"
        jne     1f
        cmp     ecx, 0x564b4d56         # "VMKV"
        jne     1f
        cmp     edx, 0x0000004d         # "M\0\0\0"
1:      sete    al
        add     al, '0'
        mov     byte ptr [rsp + 31], al
        # RDPID where listed (leaf 7 ECX bit 22)
        mov     eax, 7
        xor     ecx, ecx
        cpuid
        test    ecx, 1 << 22
        jz      2f
        rdpid   rax
2:
        # RDTSC twice: never backwards.
        rdtsc
        shl     rdx, 32
        or      rax, rdx
        mov     rbx, rax
        rdtsc
        shl     rdx, 32
        or      rax, rdx
        cmp     rax, rbx
        JFAIL   b, "hostile_cpuid: FAIL rdtsc\n"
        mov     edi, STDOUT
        mov     rsi, rsp
        mov     rdx, r15
        SYS     SYS_write
        EXIT    0

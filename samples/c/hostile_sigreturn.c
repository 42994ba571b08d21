/* hostile_sigreturn.c - rt_sigreturn with forged frames (no handler ever
 * ran). argv[1]:
 *   flags   RFLAGS with IOPL 3, NT, VM and CS = the kernel's selector: the
 *           program comes back in user mode with IOPL 0, no NT, no VM and
 *           prints what it sees (under the runner; Linux faults on the CS);
 *   rip     RIP in the kernel half: SIGSEGV;
 *   fpstate an FPU image pointer into the kernel half: SIGSEGV;
 *   frame   RSP (the frame) unmapped: SIGSEGV;
 *   xfeatures  an XSAVE area whose header names a component XCR0 leaves
 *           off (bit 9, PKRU): XRSTOR would fault, SIGSEGV;
 *   mxcsr   an FXSAVE image whose MXCSR sets reserved bits: SIGSEGV;
 *   misaligned an FPU image at an address XRSTOR/FXRSTOR refuse: SIGSEGV.
 * Linux kills with SIGSEGV in the same cases. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Kernel layout: uc_flags, uc_link, uc_stack (3), mcontext (32), mask. */
static uint64_t uc[64] __attribute__((aligned(16)));

enum { R12 = 9, RBP = 15, RSP = 20, RIP = 21, EFLAGS = 22, CSGSFS = 23, FPSTATE = 28 };

/* Fills the callee-saved registers, RSP and (unless `keep_rip`) RIP of
 * the frame with this call's own, then calls rt_sigreturn on it. */
__attribute__((noinline)) static void sigreturn_with(uint64_t *frame, int keep_rip) {
    __asm__ volatile(
        "mov %%r12, %c[r12]*8(%0)\n"
        "mov %%r13, %c[r12]*8+8(%0)\n"
        "mov %%r14, %c[r12]*8+16(%0)\n"
        "mov %%r15, %c[r12]*8+24(%0)\n"
        "mov %%rbp, %c[rbp]*8(%0)\n"
        "mov %%rbx, %c[rbp]*8+8(%0)\n"
        "mov %%rsp, %c[rsp]*8(%0)\n"
        "test %1, %1\n"
        "jnz 2f\n"
        "lea 1f(%%rip), %%rax\n"
        "mov %%rax, %c[rip]*8(%0)\n"
        "2:\n"
        "mov %0, %%rsp\n"
        "mov $15, %%eax\n"
        "syscall\n"
        "1:\n"
        :
        : "r"(frame), "r"(keep_rip), [r12] "i"(R12), [rbp] "i"(RBP), [rsp] "i"(RSP),
          [rip] "i"(RIP)
        : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *mode = argc > 1 ? argv[1] : "flags";
    uc[EFLAGS] = 0x202;
    if (!strcmp(mode, "frame")) {
        __asm__ volatile("mov $0x10000000, %%rsp\n mov $15, %%eax\n syscall" : : : "rax", "memory");
        puts("returned from an unreadable frame?");
        return 1;
    }
    if (!strcmp(mode, "rip")) {
        uc[RIP] = 0xffffffff80004000ull;
        sigreturn_with(uc, 1);
        puts("returned to the kernel half?");
        return 1;
    }
    if (!strcmp(mode, "fpstate"))
        uc[FPSTATE] = 0xffffffff80004000ull;
    static uint8_t fp[4096] __attribute__((aligned(64)));
    if (!strcmp(mode, "xfeatures")) {
        uint32_t magic1 = 0x46505853u, size = 576, extended = 580, magic2 = 0x46505845u;
        uint64_t features = 0x203, bv = 0x200;
        memcpy(fp + 464, &magic1, 4);
        memcpy(fp + 468, &extended, 4);
        memcpy(fp + 472, &features, 8);
        memcpy(fp + 480, &size, 4);
        memcpy(fp + 512, &bv, 8);
        memcpy(fp + 576, &magic2, 4);
        uc[FPSTATE] = (uint64_t)fp;
    }
    if (!strcmp(mode, "mxcsr")) {
        uint32_t mxcsr = 0xffffffffu;
        memcpy(fp + 24, &mxcsr, 4);
        uc[FPSTATE] = (uint64_t)fp;
    }
    if (!strcmp(mode, "misaligned"))
        uc[FPSTATE] = (uint64_t)fp + 8;
    if (!strcmp(mode, "flags")) {
        uc[EFLAGS] = 0x237202; /* IOPL 3, NT, VM, ID, IF */
        uc[CSGSFS] = 0x8;      /* CS = the kernel's code selector */
    }
    sigreturn_with(uc, 0);
    uint64_t flags, cs;
    __asm__ volatile("pushfq; pop %0; mov %%cs, %1" : "=r"(flags), "=r"(cs));
    printf("back in user mode: cpl %lu, iopl %lu, nt %lu, vm %lu\n", (unsigned long)(cs & 3),
           (unsigned long)((flags >> 12) & 3), (unsigned long)((flags >> 14) & 1),
           (unsigned long)((flags >> 17) & 1));
    return 0;
}

/* vector_signals.c - the vector registers across signal handlers, as Linux
 * keeps them: a handler that uses AVX (and AVX-512) registers must not
 * change the interrupted code's, the handler starts with the FPU in its
 * initial state, the frame carries the whole XSAVE area (what Linux's
 * uapi sigcontext.h describes), and rt_sigreturn loads what the frame
 * holds, including changes the handler made to it. Prints what it sees;
 * the output is compared with a native run on the same machine. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef AT_MINSIGSTKSZ
#define AT_MINSIGSTKSZ 51
#endif

#define MAGIC1 0x46505853u
#define MAGIC2 0x46505845u

static int have_avx, have_avx512;
static uint32_t avx_offset, xsave_size;

static void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4]) {
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static void detect(void) {
    uint32_t r[4];
    cpuid(1, 0, r);
    /* AVX, and XSAVE's XGETBV. OSXSAVE is not asked: on kvm_pvm, CPUID
     * runs on the host's CPU and shows it clear while the host's XCR0
     * (AVX included) is in force for the guest's user code. */
    if (!(r[2] & (1u << 26)) || !(r[2] & (1u << 28)))
        return;
    uint64_t xcr0 = xgetbv0();
    have_avx = (xcr0 & 6) == 6;
    cpuid(7, 0, r);
    have_avx512 = have_avx && (r[1] & (1u << 16)) && (xcr0 & 0xe0) == 0xe0;
    cpuid(0xd, 2, r);
    avx_offset = r[1];
}

/* 16 YMM registers, 32 bytes each; 16 upper ZMM registers (zmm16-31),
 * 64 bytes each; k1-k7. */
static uint8_t ymm_in[16][32] __attribute__((aligned(64)));
static uint8_t ymm_out[16][32] __attribute__((aligned(64)));
static uint8_t zmm_in[16][64] __attribute__((aligned(64)));
static uint8_t zmm_out[16][64] __attribute__((aligned(64)));
static uint64_t k_in[7], k_out[7];

static void fill_patterns(void) {
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 32; j++)
            ymm_in[i][j] = (uint8_t)(i * 16 + j + 1);
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 64; j++)
            zmm_in[i][j] = (uint8_t)(0x80 + i * 3 + j);
    for (int i = 0; i < 7; i++)
        k_in[i] = 0x1111111111111111ull * (uint64_t)(i + 1);
}

#define LOAD_YMM(i) "vmovdqu " #i "*32(%[yi]), %%ymm" #i "\n"
#define STORE_YMM(i) "vmovdqu %%ymm" #i ", " #i "*32(%[yo])\n"
#define YMM_ALL(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)
#define YMM_CLOBBERS "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", \
    "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"

/* Loads every YMM register, sends this thread `sig` with tgkill from the
 * same asm block (the handler runs at the syscall's return), stores them. */
__attribute__((target("avx"))) static void ymm_across_tgkill(int sig) {
    long pid = getpid(), tid = syscall(SYS_gettid);
    __asm__ volatile(
        YMM_ALL(LOAD_YMM)
        "syscall\n"
        YMM_ALL(STORE_YMM)
        : "+a"((long){SYS_tgkill})
        : [yi] "r"(ymm_in), [yo] "r"(ymm_out), "D"(pid), "S"(tid), "d"((long)sig)
        : "rcx", "r11", "memory", YMM_CLOBBERS);
}

static volatile int alarm_taken;

/* Loads every YMM register and spins until the SIGALRM handler has run
 * (so it interrupts this loop, not a syscall), then stores them. */
__attribute__((target("avx"))) static void ymm_across_timer(void) {
    __asm__ volatile(
        YMM_ALL(LOAD_YMM)
        "1: pause\n"
        "cmpl $0, %[flag]\n"
        "je 1b\n"
        YMM_ALL(STORE_YMM)
        :
        : [yi] "r"(ymm_in), [yo] "r"(ymm_out), [flag] "m"(alarm_taken)
        : "memory", YMM_CLOBBERS);
}

#define LOAD_ZMM(i) "vmovdqu64 (" #i "-16)*64(%[zi]), %%zmm" #i "\n"
#define STORE_ZMM(i) "vmovdqu64 %%zmm" #i ", (" #i "-16)*64(%[zo])\n"
#define ZMM_ALL(M) M(16) M(17) M(18) M(19) M(20) M(21) M(22) M(23) M(24) M(25) M(26) M(27) M(28) M(29) M(30) M(31)
#define LOAD_K(i) "kmovq (" #i "-1)*8(%[ki]), %%k" #i "\n"
#define STORE_K(i) "kmovq %%k" #i ", (" #i "-1)*8(%[ko])\n"
#define K_ALL(M) M(1) M(2) M(3) M(4) M(5) M(6) M(7)

__attribute__((target("avx512f,avx512bw"))) static void zmm_across_tgkill(int sig) {
    long pid = getpid(), tid = syscall(SYS_gettid);
    __asm__ volatile(
        ZMM_ALL(LOAD_ZMM)
        K_ALL(LOAD_K)
        "syscall\n"
        ZMM_ALL(STORE_ZMM)
        K_ALL(STORE_K)
        : "+a"((long){SYS_tgkill})
        : [zi] "r"(zmm_in), [zo] "r"(zmm_out), [ki] "r"(k_in), [ko] "r"(k_out), "D"(pid), "S"(tid),
          "d"((long)sig)
        : "rcx", "r11", "memory", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22",
          "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "k1", "k2",
          "k3", "k4", "k5", "k6", "k7");
}

/* What the handler saw and did. */
static uint32_t entry_mxcsr;
static uint8_t entry_ymm3_hi[16];
static int frame_flags_ok, frame_magic_ok, frame_ymm1_ok;
static const char *frame_edit; /* "ymm2", "fx_only" or NULL */

__attribute__((target("avx"))) static void clobber_ymm(void) {
    __asm__ volatile("vpcmpeqd %%ymm0, %%ymm0, %%ymm0\n"
                     "vmovdqa %%ymm0, %%ymm1\n vmovdqa %%ymm0, %%ymm2\n vmovdqa %%ymm0, %%ymm3\n"
                     "vmovdqa %%ymm0, %%ymm4\n vmovdqa %%ymm0, %%ymm5\n vmovdqa %%ymm0, %%ymm6\n"
                     "vmovdqa %%ymm0, %%ymm7\n vmovdqa %%ymm0, %%ymm8\n vmovdqa %%ymm0, %%ymm9\n"
                     "vmovdqa %%ymm0, %%ymm10\n vmovdqa %%ymm0, %%ymm11\n vmovdqa %%ymm0, %%ymm12\n"
                     "vmovdqa %%ymm0, %%ymm13\n vmovdqa %%ymm0, %%ymm14\n vmovdqa %%ymm0, %%ymm15\n"
                     ::: YMM_CLOBBERS);
}

__attribute__((target("avx512f,avx512bw"))) static void clobber_zmm(void) {
    __asm__ volatile("vpternlogd $0xff, %%zmm16, %%zmm16, %%zmm16\n"
                     "vmovdqa64 %%zmm16, %%zmm17\n vmovdqa64 %%zmm16, %%zmm18\n"
                     "vmovdqa64 %%zmm16, %%zmm19\n vmovdqa64 %%zmm16, %%zmm20\n"
                     "vmovdqa64 %%zmm16, %%zmm21\n vmovdqa64 %%zmm16, %%zmm22\n"
                     "vmovdqa64 %%zmm16, %%zmm23\n vmovdqa64 %%zmm16, %%zmm24\n"
                     "vmovdqa64 %%zmm16, %%zmm25\n vmovdqa64 %%zmm16, %%zmm26\n"
                     "vmovdqa64 %%zmm16, %%zmm27\n vmovdqa64 %%zmm16, %%zmm28\n"
                     "vmovdqa64 %%zmm16, %%zmm29\n vmovdqa64 %%zmm16, %%zmm30\n"
                     "vmovdqa64 %%zmm16, %%zmm31\n"
                     "kxnorq %%k0, %%k0, %%k1\n kmovq %%k1, %%k2\n kmovq %%k1, %%k3\n"
                     "kmovq %%k1, %%k4\n kmovq %%k1, %%k5\n kmovq %%k1, %%k6\n kmovq %%k1, %%k7\n"
                     ::: "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23",
                         "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31",
                         "k1", "k2", "k3", "k4", "k5", "k6", "k7");
}

__attribute__((target("avx"))) static void on_usr1(int sig, siginfo_t *si, void *ctx) {
    (void)sig;
    (void)si;
    /* Before anything else: the state the handler starts with. */
    __asm__ volatile("stmxcsr %0\n vextracti128 $1, %%ymm3, %1"
                     : "=m"(entry_mxcsr), "=m"(entry_ymm3_hi));
    ucontext_t *uc = ctx;
    uint8_t *fp = (uint8_t *)uc->uc_mcontext.fpregs;
    uint32_t magic1, xstate_size;
    uint64_t xfeatures;
    memcpy(&magic1, fp + 464, 4);
    memcpy(&xfeatures, fp + 472, 8);
    memcpy(&xstate_size, fp + 480, 4);
    frame_flags_ok = (uc->uc_flags & 1) != 0;
    uint32_t magic2 = 0;
    if (magic1 == MAGIC1)
        memcpy(&magic2, fp + xstate_size, 4);
    frame_magic_ok = magic1 == MAGIC1 && magic2 == MAGIC2 && (xfeatures & 7) == 7 &&
                     xstate_size >= avx_offset + 256;
    xsave_size = xstate_size;
    /* The upper half of YMM1 as the interrupted code had it. */
    frame_ymm1_ok = frame_magic_ok && !memcmp(fp + avx_offset + 16, ymm_in[1] + 16, 16);
    if (frame_edit && !strcmp(frame_edit, "ymm2") && frame_magic_ok) {
        /* The interrupted code gets this upper half of YMM2 back. */
        memset(fp + avx_offset + 2 * 16, 0x5a, 16);
    } else if (frame_edit && !strcmp(frame_edit, "fx_only")) {
        /* No XSAVE area: Linux restores x87 and SSE from the FXSAVE region
         * and resets everything else (the upper halves become zero). */
        memset(fp + 464, 0, 4);
        memset(fp + 160 + 16 * 4, 0x33, 16); /* XMM4's value */
    }
    clobber_ymm();
    if (have_avx512)
        clobber_zmm();
}

static void on_alarm(int sig) {
    (void)sig;
    clobber_ymm();
    alarm_taken = 1;
}

static int ymm_intact(void) {
    return !memcmp(ymm_in, ymm_out, sizeof ymm_in);
}

static void set_mxcsr(uint32_t v) {
    __asm__ volatile("ldmxcsr %0" ::"m"(v));
}

static uint32_t get_mxcsr(void) {
    uint32_t v;
    __asm__ volatile("stmxcsr %0" : "=m"(v));
    return v;
}

static int all_bytes(const uint8_t *p, int n, uint8_t v) {
    for (int i = 0; i < n; i++)
        if (p[i] != v)
            return 0;
    return 1;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    detect();
    printf("avx: %s, avx512: %s\n", have_avx ? "yes" : "no", have_avx512 ? "yes" : "no");
    if (!have_avx) {
        puts("done");
        return 0;
    }
    fill_patterns();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);

    /* 1. A handler that clobbers every vector register, at a syscall's
     * return; MXCSR with round-down and DAZ around it. */
    set_mxcsr(0x3f80 | 0x40);
    ymm_across_tgkill(SIGUSR1);
    uint32_t after = get_mxcsr();
    set_mxcsr(0x1f80);
    printf("syscall: ymm %s, mxcsr %#x after, handler began with mxcsr %#x and ymm3.hi %s\n",
           ymm_intact() ? "intact" : "CHANGED", after, entry_mxcsr,
           all_bytes(entry_ymm3_hi, 16, 0) ? "zero" : "the program's");
    printf("frame: UC_FP_XSTATE %s, xsave magic %s, ymm1.hi %s\n", frame_flags_ok ? "set" : "clear",
           frame_magic_ok ? "ok" : "bad", frame_ymm1_ok ? "saved" : "missing");

    /* 2. The same interrupted by a timer in a loop (no syscall). */
    struct sigaction al;
    memset(&al, 0, sizeof al);
    al.sa_handler = on_alarm;
    sigaction(SIGALRM, &al, NULL);
    memset(ymm_out, 0, sizeof ymm_out);
    struct itimerval it = {{0, 0}, {0, 20000}};
    setitimer(ITIMER_REAL, &it, NULL);
    ymm_across_timer();
    printf("timer: ymm %s\n", ymm_intact() ? "intact" : "CHANGED");

    /* 3. The handler edits the frame: the upper half of YMM2 comes back
     * as it wrote it. */
    frame_edit = "ymm2";
    ymm_across_tgkill(SIGUSR1);
    printf("edited frame: ymm2.hi %s, ymm1 %s\n",
           all_bytes(ymm_out[2] + 16, 16, 0x5a) ? "from the frame" : "NOT from the frame",
           !memcmp(ymm_out[1], ymm_in[1], 32) ? "intact" : "CHANGED");

    /* 4. Without the software bytes: x87 and SSE from the frame, every
     * upper half reset. */
    frame_edit = "fx_only";
    ymm_across_tgkill(SIGUSR1);
    printf("fxsave-only frame: xmm4 %s, upper halves %s, ymm1.lo %s\n",
           all_bytes(ymm_out[4], 16, 0x33) ? "from the frame" : "NOT from the frame",
           all_bytes(ymm_out[1] + 16, 16, 0) && all_bytes(ymm_out[9] + 16, 16, 0) ? "zero" : "KEPT",
           !memcmp(ymm_out[1], ymm_in[1], 16) ? "intact" : "CHANGED");
    frame_edit = NULL;

    /* 5. AVX-512: ZMM16-31 and the mask registers. */
    if (have_avx512) {
        zmm_across_tgkill(SIGUSR1);
        printf("avx512: zmm16-31 %s, k1-k7 %s\n",
               !memcmp(zmm_in, zmm_out, sizeof zmm_in) ? "intact" : "CHANGED",
               !memcmp(k_in, k_out, sizeof k_in) ? "intact" : "CHANGED");
    }

    /* 6. An alternate stack of AT_MINSIGSTKSZ bytes holds the frame. */
    unsigned long min = getauxval(AT_MINSIGSTKSZ);
    printf("AT_MINSIGSTKSZ %s the frame\n", min >= 440 + xsave_size + 4 ? "holds" : "does NOT hold");
    static uint8_t alt[65536] __attribute__((aligned(64)));
    stack_t ss = {.ss_sp = alt, .ss_size = min < sizeof alt ? min : sizeof alt, .ss_flags = 0};
    if (ss.ss_size < MINSIGSTKSZ)
        ss.ss_size = MINSIGSTKSZ;
    sigaltstack(&ss, NULL);
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGUSR1, &sa, NULL);
    ymm_across_tgkill(SIGUSR1);
    printf("alternate stack: ymm %s\n", ymm_intact() ? "intact" : "CHANGED");

    /* 7. A forked child has its parent's vector registers. */
    memset(ymm_out, 0, sizeof ymm_out);
    long pid;
    __asm__ volatile(YMM_ALL(LOAD_YMM) "syscall\n" YMM_ALL(STORE_YMM)
                     : "=a"(pid)
                     : "a"((long)SYS_fork), [yi] "r"(ymm_in), [yo] "r"(ymm_out)
                     : "rcx", "r11", "memory", YMM_CLOBBERS);
    if (pid == 0)
        _exit(ymm_intact() ? 0 : 1);
    int status = 0;
    waitpid((pid_t)pid, &status, 0);
    printf("fork: child's ymm %s, parent's %s\n",
           WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "intact" : "CHANGED",
           ymm_intact() ? "intact" : "CHANGED");
    puts("done");
    return 0;
}

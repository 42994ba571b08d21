/* ring_edges MODE: what a program sees of its syscalls, for the syscall
 * ring (docs/architecture.md, "Exitless syscalls"): each mode prints the
 * same lines natively, under `runner exec` and under `runner exec
 * --syscalls ring` (where every site below is patched after its first
 * trap). Also built with glibc (ring_edges_glibc), whose wrappers are all
 * `mov $nr,%eax; syscall`.
 *
 *   regs     RCX, R11, RFLAGS (CF) and the red zone after a raw syscall
 *   signal   a timer signal while a loop makes calls: the handler runs,
 *            makes calls itself, and its frame's RIP is the program's
 *   gs       arch_prctl(ARCH_SET_GS): %gs-relative loads see the
 *            program's own memory before and after more calls
 *   fork     calls in a parent and its child after the sites are patched
 *   unmap    the program unmaps the ring's slot region: calls still work
 *   threads  two threads making calls at once
 *   sigpipe  a write (its site patched by many writes before) to a pipe
 *            nobody reads any more: SIGPIPE ends the program (141)
 *   step     getpid calls single-stepped (TF set, a SIGTRAP handler
 *            counting): the calls' results, not the step count, which
 *            differs where a patched site runs ring code
 *   mapslot  MAP_FIXED over the first ring slot's address, data written
 *            there, more calls: natively (and by exit) the page keeps its
 *            data; with the ring the map is refused (the slot is the
 *            runner's), never replaced behind the stub's back
 *   moved    a site whose number comes in a register (`syscall; cmp
 *            $-4096,%rax`, as glibc's read): with the ring the syscall and
 *            the cmp move into ring code; RCX, R11 and the red zone as
 *            natively, and a second such site that the code also jumps
 *            into (at its cmp) works on both paths (it is never moved)
 *   mtpatch  sites patched while other threads run: a thread waits in
 *            nanosleep at a generic site (`syscall; cmp`) that another
 *            thread's getpid moves meanwhile; the wait returns into the
 *            moved code; then both threads race through a fresh site
 *   interrupt  a blocking read at a moved site, interrupted by SIGALRM:
 *            with SA_RESTART the handler's frame shows the `syscall`
 *            (the call restarts), without it the address after it
 *            (EINTR), as natively
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#define ARCH_SET_GS 0x1001
#define ARCH_GET_GS 0x1004

extern char __executable_start[], etext[];

struct probe {
    long ret, rcx, r11, flags, after, cf, m1, m2, m3;
};

/* getpid by a raw `mov $39,%eax; syscall`, on a stack moved 256 bytes
 * down whose 128 bytes below RSP (the red zone) hold markers. */
static void __attribute__((noinline)) raw_getpid(struct probe *p)
{
    asm volatile("sub $256, %%rsp\n\t"
                 "stc\n\t"
                 "pushfq\n\t"
                 "popq %%r9\n\t"
                 "movabs $0x1122334455667788, %%r8\n\t"
                 "mov %%r8, -8(%%rsp)\n\t"
                 "mov %%r8, -64(%%rsp)\n\t"
                 "mov %%r8, -128(%%rsp)\n\t"
                 "mov $39, %%eax\n\t"
                 "syscall\n"
                 "1:\n\t"
                 "setc %%dl\n\t"
                 "movzbq %%dl, %%rdx\n\t"
                 "mov %%rax, 0(%%rdi)\n\t"
                 "mov %%rcx, 8(%%rdi)\n\t"
                 "mov %%r11, 16(%%rdi)\n\t"
                 "mov %%r9, 24(%%rdi)\n\t"
                 "lea 1b(%%rip), %%r10\n\t"
                 "mov %%r10, 32(%%rdi)\n\t"
                 "mov %%rdx, 40(%%rdi)\n\t"
                 "mov -8(%%rsp), %%r10\n\t"
                 "mov %%r10, 48(%%rdi)\n\t"
                 "mov -64(%%rsp), %%r10\n\t"
                 "mov %%r10, 56(%%rdi)\n\t"
                 "mov -128(%%rsp), %%r10\n\t"
                 "mov %%r10, 64(%%rdi)\n\t"
                 "add $256, %%rsp\n\t"
                 :
                 : "D"(p)
                 : "rax", "rcx", "rdx", "r8", "r9", "r10", "r11", "memory", "cc");
}

static int regs(void)
{
    int bad = 0;
    for (int i = 0; i < 50; i++) {
        struct probe p;
        raw_getpid(&p);
        const long m = 0x1122334455667788;
        if (p.ret != getpid() || p.rcx != p.after || p.r11 != p.flags || p.cf != 1 ||
            p.m1 != m || p.m2 != m || p.m3 != m) {
            printf("call %d: ret %ld rcx %s r11 %s cf %ld red zone %s\n", i, p.ret,
                   p.rcx == p.after ? "ok" : "wrong", p.r11 == p.flags ? "ok" : "wrong", p.cf,
                   p.m1 == m && p.m2 == m && p.m3 == m ? "kept" : "clobbered");
            bad++;
        }
    }
    printf("regs: 50 raw getpid calls, %d wrong\n", bad);
    return bad != 0;
}

/* getpid through a site whose number comes in a register: `syscall;
 * cmp $-4096,%rax`, records as raw_getpid (the cmp changes CF, so no CF). */
static void __attribute__((noinline)) moved_getpid(struct probe *p, long nr)
{
    asm volatile("sub $256, %%rsp\n\t"
                 "pushfq\n\t"
                 "popq %%r9\n\t"
                 "movabs $0x1122334455667788, %%r8\n\t"
                 "mov %%r8, -8(%%rsp)\n\t"
                 "mov %%r8, -64(%%rsp)\n\t"
                 "mov %%r8, -128(%%rsp)\n\t"
                 "mov %%rsi, %%rax\n\t"
                 "syscall\n"
                 "1:\n\t"
                 "cmp $-4096, %%rax\n\t"
                 "mov %%rax, 0(%%rdi)\n\t"
                 "mov %%rcx, 8(%%rdi)\n\t"
                 "mov %%r11, 16(%%rdi)\n\t"
                 "mov %%r9, 24(%%rdi)\n\t"
                 "lea 1b(%%rip), %%r10\n\t"
                 "mov %%r10, 32(%%rdi)\n\t"
                 "mov -8(%%rsp), %%r10\n\t"
                 "mov %%r10, 48(%%rdi)\n\t"
                 "mov -64(%%rsp), %%r10\n\t"
                 "mov %%r10, 56(%%rdi)\n\t"
                 "mov -128(%%rsp), %%r10\n\t"
                 "mov %%r10, 64(%%rdi)\n\t"
                 "add $256, %%rsp\n\t"
                 :
                 : "D"(p), "S"(nr)
                 : "rax", "rcx", "r8", "r9", "r10", "r11", "memory", "cc");
}

/* getpid, or (skip != 0) no call at all with RAX = 42, both through the
 * cmp after the syscall: a jump lands inside the span a move would take. */
static long __attribute__((noinline)) jumped_into_getpid(long skip)
{
    long ret;
    asm volatile("mov $42, %%eax\n\t"
                 "test %%rdi, %%rdi\n\t"
                 "jnz 1f\n\t"
                 "mov %%rsi, %%rax\n\t"
                 "syscall\n"
                 "1:\n\t"
                 "cmp $-4096, %%rax\n\t"
                 : "=a"(ret)
                 : "D"(skip), "S"((long)SYS_getpid)
                 : "rcx", "r11", "memory", "cc");
    return ret;
}

static int moved_mode(void)
{
    int bad = 0;
    const long m = 0x1122334455667788;
    for (int i = 0; i < 50; i++) {
        struct probe p;
        moved_getpid(&p, SYS_getpid);
        if (p.ret != getpid() || p.rcx != p.after || p.r11 != p.flags || p.m1 != m ||
            p.m2 != m || p.m3 != m) {
            printf("call %d: ret %ld rcx %s r11 %s red zone %s\n", i, p.ret,
                   p.rcx == p.after ? "ok" : "wrong", p.r11 == p.flags ? "ok" : "wrong",
                   p.m1 == m && p.m2 == m && p.m3 == m ? "kept" : "clobbered");
            bad++;
        }
    }
    int wrong_path = 0;
    for (int i = 0; i < 50; i++)
        wrong_path += jumped_into_getpid(i & 1) != ((i & 1) ? 42 : getpid());
    printf("moved: 50 calls, %d wrong; a site jumped into: %d wrong\n", bad, wrong_path);
    return bad != 0 || wrong_path != 0;
}

/* read(2) through a site like glibc's: `xor %eax,%eax; syscall; cmp`. */
extern char read_site[], read_after[];
static long __attribute__((noinline, noclone)) moved_read(int fd, void *buf, long n)
{
    long ret;
    asm volatile("xor %%eax, %%eax\n\t"
                 ".globl read_site\n"
                 "read_site:\n\t"
                 "syscall\n"
                 ".globl read_after\n"
                 "read_after:\n\t"
                 "cmp $-4096, %%rax\n\t"
                 : "=a"(ret)
                 : "D"(fd), "S"(buf), "d"(n)
                 : "rcx", "r11", "memory", "cc");
    return ret;
}

/* syscall(nr, a1, a2) through one generic site, as musl's and Go's. */
static long __attribute__((noinline)) moved_syscall2(long nr, long a1, long a2)
{
    long ret;
    asm volatile("mov %%rdi, %%rax\n\t"
                 "mov %%rsi, %%rdi\n\t"
                 "mov %%rdx, %%rsi\n\t"
                 "syscall\n\t"
                 "cmp $-4096, %%rax\n\t"
                 : "=a"(ret)
                 : "D"(nr), "S"(a1), "d"(a2)
                 : "rcx", "r11", "memory", "cc");
    return ret;
}

/* The same at a second site, raced through by two threads. */
static long __attribute__((noinline)) moved_syscall0(long nr)
{
    long ret;
    asm volatile("mov %%rdi, %%rax\n\t"
                 "syscall\n\t"
                 "cmp $-4096, %%rax\n\t"
                 : "=a"(ret)
                 : "D"(nr)
                 : "rcx", "r11", "memory", "cc");
    return ret;
}

static void *sleeper(void *arg)
{
    long *wrong = arg;
    struct timespec ts = {0, 300 * 1000 * 1000};
    *wrong += moved_syscall2(SYS_nanosleep, (long)&ts, 0) != 0;
    pid_t me = getpid();
    for (int i = 0; i < 2000; i++)
        *wrong += moved_syscall2(SYS_getpid, 0, 0) != me || moved_syscall0(SYS_getpid) != me;
    return NULL;
}

static int mtpatch_mode(void)
{
    long w1 = 0, w2 = 0;
    pthread_t t;
    pthread_create(&t, NULL, sleeper, &w1);
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    /* The sleeper waits at moved_syscall2's site: this call moves it. */
    pid_t me = getpid();
    for (int i = 0; i < 2000; i++)
        w2 += moved_syscall2(SYS_getpid, 0, 0) != me;
    /* Both threads now race through moved_syscall0's site. */
    for (int i = 0; i < 2000; i++)
        w2 += moved_syscall0(SYS_getpid) != me;
    pthread_join(t, NULL);
    printf("mtpatch: the waiting thread %s, the patching thread %s\n", w1 ? "wrong" : "ok",
           w2 ? "wrong" : "ok");
    return w1 != 0 || w2 != 0;
}

static int interrupt_pipe[2];
static volatile long interrupt_rip;

static void on_interrupt(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)si;
    interrupt_rip = ((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RIP];
    if (write(interrupt_pipe[1], "y", 1) != 1)
        interrupt_rip = -1;
}

static const char *where(long rip)
{
    return rip == (long)read_site ? "at the syscall"
           : rip == (long)read_after ? "after the syscall"
                                     : "elsewhere";
}

static int interrupt_mode(void)
{
    char c;
    if (pipe(interrupt_pipe) != 0)
        return 1;
    /* Calls that return at once: the site is moved after the first. */
    for (int i = 0; i < 20; i++) {
        if (write(interrupt_pipe[1], "x", 1) != 1 || moved_read(interrupt_pipe[0], &c, 1) != 1)
            return 1;
    }
    int bad = 0;
    for (int restart = 1; restart >= 0; restart--) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_interrupt;
        sa.sa_flags = SA_SIGINFO | (restart ? SA_RESTART : 0);
        sigaction(SIGALRM, &sa, NULL);
        interrupt_rip = 0;
        struct itimerval it = {{0, 0}, {0, 20000}};
        setitimer(ITIMER_REAL, &it, NULL);
        long r = moved_read(interrupt_pipe[0], &c, 1);
        if (r == -4) /* EINTR: the handler's byte is still there */
            r = moved_read(interrupt_pipe[0], &c, 1) == 1 ? -4 : -1;
        printf("interrupt (%s): read %s, the frame %s\n",
               restart ? "SA_RESTART" : "no restart",
               r == 1 ? "restarted and got the handler's byte" : r == -4 ? "EINTR" : "failed",
               where(interrupt_rip));
        bad += r == -1 || interrupt_rip <= 0;
    }
    return bad != 0;
}

static volatile sig_atomic_t ticks, outside, handler_calls_ok = 1;

static void on_alarm(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)si;
    ucontext_t *uc = ctx;
    char *rip = (char *)uc->uc_mcontext.gregs[REG_RIP];
    if (rip < __executable_start || rip >= etext)
        outside++;
    if (getpid() <= 0 || getppid() < 0)
        handler_calls_ok = 0;
    ticks++;
}

static int signal_mode(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_alarm;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 2000}, {0, 2000}};
    setitimer(ITIMER_REAL, &it, NULL);
    long calls = 0;
    pid_t me = getpid();
    int wrong = 0;
    while (ticks < 20) {
        if (getpid() != me)
            wrong++;
        calls++;
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    printf("signal: 20 ticks during a call loop; frames outside the program: %d; "
           "calls in the handler %s; wrong results %d\n",
           (int)outside, handler_calls_ok ? "ok" : "wrong", wrong);
    return outside != 0 || !handler_calls_ok || wrong != 0 || calls == 0;
}

static int gs_mode(void)
{
    static long area[4] = {0x5151, 0x6262, 0, 0};
    for (int i = 0; i < 10; i++)
        getpid();
    if (syscall(SYS_arch_prctl, ARCH_SET_GS, area) != 0) {
        printf("gs: arch_prctl failed\n");
        return 1;
    }
    long a, b;
    asm volatile("mov %%gs:0, %0" : "=r"(a));
    for (int i = 0; i < 10; i++)
        getpid();
    asm volatile("mov %%gs:8, %0" : "=r"(b));
    unsigned long base = 0;
    syscall(SYS_arch_prctl, ARCH_GET_GS, &base);
    printf("gs: %%gs:0 = %#lx, %%gs:8 = %#lx after calls, ARCH_GET_GS %s\n", a, b,
           base == (unsigned long)area ? "is the program's" : "differs");
    return a != 0x5151 || b != 0x6262;
}

static int fork_mode(void)
{
    pid_t me = getpid();
    for (int i = 0; i < 10; i++)
        getpid();
    pid_t child = fork();
    if (child == 0) {
        pid_t c = getpid();
        int wrong = 0;
        for (int i = 0; i < 1000; i++)
            wrong += getpid() != c || getppid() != me;
        _exit(wrong ? 1 : 7);
    }
    int wrong = 0;
    for (int i = 0; i < 1000; i++)
        wrong += getpid() != me;
    int status = 0;
    waitpid(child, &status, 0);
    printf("fork: parent calls %s, child %s\n", wrong ? "wrong" : "ok",
           WIFEXITED(status) && WEXITSTATUS(status) == 7 ? "ok" : "wrong");
    return wrong != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 7;
}

static int unmap_mode(void)
{
    pid_t me = getpid();
    for (int i = 0; i < 10; i++)
        getpid();
    /* Where the runner keeps ring slots (nothing is there natively). */
    munmap((void *)0x7ffffe000000UL, 1 << 20);
    int wrong = 0;
    for (int i = 0; i < 100; i++)
        wrong += getpid() != me;
    printf("unmap: calls after unmapping the slot region %s\n", wrong ? "wrong" : "ok");
    return wrong != 0;
}

static void *worker(void *arg)
{
    long *wrong = arg;
    pid_t me = getpid();
    for (int i = 0; i < 20000; i++)
        *wrong += getpid() != me;
    return NULL;
}

static int threads_mode(void)
{
    for (int i = 0; i < 10; i++)
        getpid();
    long w1 = 0, w2 = 0;
    pthread_t t;
    pthread_create(&t, NULL, worker, &w1);
    worker(&w2);
    pthread_join(t, NULL);
    printf("threads: two threads' calls %s\n", w1 || w2 ? "wrong" : "ok");
    return w1 != 0 || w2 != 0;
}

static int sigpipe_mode(void)
{
    int p[2];
    char c;
    if (pipe(p) != 0)
        return 1;
    for (int i = 0; i < 500; i++) {
        if (write(p[1], "x", 1) != 1 || read(p[0], &c, 1) != 1)
            return 1;
    }
    close(p[0]);
    printf("sigpipe: writing to a pipe nobody reads\n");
    for (int i = 0; i < 100; i++)
        write(p[1], "x", 1);
    printf("sigpipe: still alive after 100 writes\n");
    return 1;
}

static volatile sig_atomic_t steps;

static void on_step(int sig)
{
    (void)sig;
    steps++;
}

static int step_mode(void)
{
    pid_t me = getpid();
    for (int i = 0; i < 10; i++)
        getpid();
    signal(SIGTRAP, on_step);
    int wrong = 0;
    /* TF on (pushf; or; popf), three calls, TF off. */
    asm volatile("pushfq\n\torq $0x100, (%%rsp)\n\tpopfq" ::: "memory", "cc");
    for (int i = 0; i < 3; i++)
        wrong += getpid() != me;
    asm volatile("pushfq\n\tandq $~0x100, (%%rsp)\n\tpopfq" ::: "memory", "cc");
    printf("step: single-stepped calls %s, %s\n", wrong ? "wrong" : "ok",
           steps > 10 ? "the handler ran at each step" : "too few steps");
    return wrong != 0;
}

static int mapslot_mode(void)
{
    for (int i = 0; i < 10; i++)
        getpid();
    char *p = mmap((void *)0x7ffffe000000UL, 4096, PROT_READ | PROT_WRITE,
                   MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("mapslot: MAP_FIXED refused\n");
        return 0;
    }
    memset(p, 0x5a, 4096);
    pid_t me = getpid();
    int wrong = 0;
    for (int i = 0; i < 100; i++)
        wrong += getpid() != me;
    int changed = 0;
    for (int i = 0; i < 4096; i++)
        changed += p[i] != 0x5a;
    printf("mapslot: mapped; its data %s; calls %s\n", changed ? "changed" : "intact",
           wrong ? "wrong" : "ok");
    return changed != 0 || wrong != 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(mode, "regs"))
        return regs();
    if (!strcmp(mode, "signal"))
        return signal_mode();
    if (!strcmp(mode, "gs"))
        return gs_mode();
    if (!strcmp(mode, "fork"))
        return fork_mode();
    if (!strcmp(mode, "unmap"))
        return unmap_mode();
    if (!strcmp(mode, "threads"))
        return threads_mode();
    if (!strcmp(mode, "sigpipe"))
        return sigpipe_mode();
    if (!strcmp(mode, "mapslot"))
        return mapslot_mode();
    if (!strcmp(mode, "step"))
        return step_mode();
    if (!strcmp(mode, "moved"))
        return moved_mode();
    if (!strcmp(mode, "interrupt"))
        return interrupt_mode();
    if (!strcmp(mode, "mtpatch"))
        return mtpatch_mode();
    fprintf(stderr, "usage: ring_edges "
                    "regs|signal|gs|fork|unmap|threads|sigpipe|mapslot|step|moved|interrupt|mtpatch\n");
    return 2;
}

/* signals.c - signal handlers as programs use them: raise with SA_SIGINFO,
 * delivery on unblock, SIGSEGV and SIGFPE handlers that siglongjmp out,
 * sigaltstack with SA_ONSTACK, SA_RESETHAND, SA_NODEFER, floating-point
 * state kept across a handler, pthread_kill to a thread blocked in read
 * with and without SA_RESTART, sigsuspend, and a thread whose stack
 * overflows into its guard page: the SIGSEGV handler runs on that thread's
 * alternate stack and siglongjmps back. Output does not depend on
 * scheduling; the tests compare it with a native run. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t hits, last_sig, last_code, depth, max_depth;
static volatile uintptr_t handler_sp;
static sigjmp_buf jump;
static volatile void *fault_addr;

static void on_info(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    hits++;
    last_sig = sig;
    last_code = si->si_code;
    char here;
    handler_sp = (uintptr_t)&here;
}

static void on_fault(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    last_sig = sig;
    last_code = si->si_code;
    fault_addr = si->si_addr;
    siglongjmp(jump, 1);
}

static void on_nested(int sig) {
    depth++;
    if (depth > max_depth) max_depth = depth;
    if (depth < 3) raise(sig);
    depth--;
}

static void on_plain(int sig) {
    last_sig = sig;
    hits++;
    volatile double x = 0;
    for (int i = 0; i < 10; i++) x += 1.25; /* clobbers XMM registers */
}

static void install(int sig, void (*fn)(int, siginfo_t *, void *), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fn;
    sa.sa_flags = SA_SIGINFO | flags;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static void install_plain(int sig, void (*fn)(int), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static int pipefd[2];
static volatile int read_result, read_errno;
static char read_buf[4];

static void *reader(void *arg) {
    (void)arg;
    errno = 0;
    read_result = (int)read(pipefd[0], read_buf, sizeof read_buf);
    read_errno = errno;
    return NULL;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void read_interrupted(int restart) {
    install_plain(SIGUSR2, on_plain, restart ? SA_RESTART : 0);
    if (pipe(pipefd)) return;
    pthread_t t;
    pthread_create(&t, NULL, reader, NULL);
    sleep_ms(50); /* the reader is blocked in read by now */
    pthread_kill(t, SIGUSR2);
    sleep_ms(50);
    (void)!write(pipefd[1], "ok", 2);
    pthread_join(t, NULL);
    printf("read with%s SA_RESTART: result %d errno %s\n", restart ? "" : "out", read_result,
           read_errno == EINTR ? "EINTR" : read_errno ? "other" : "0");
    close(pipefd[0]);
    close(pipefd[1]);
}

/* Stack overflow in a thread with a small stack: the fault is in the guard
 * page below it, the handler can only run on the thread's alternate stack,
 * and it siglongjmps back into the thread. */
#define SMALL_STACK (128 * 1024)
static __thread sigjmp_buf overflow_jump;
static __thread volatile uintptr_t overflow_fault, overflow_handler_sp;
static __thread volatile int overflow_code;

static void on_overflow(int sig, siginfo_t *si, void *uc) {
    (void)sig;
    (void)uc;
    char here;
    overflow_handler_sp = (uintptr_t)&here;
    overflow_fault = (uintptr_t)si->si_addr;
    overflow_code = si->si_code;
    siglongjmp(overflow_jump, 1);
}

static int recurse(volatile char *prev, int n) {
    volatile char frame[512];
    frame[0] = (char)n;
    frame[511] = prev ? prev[0] : 0;
    if (n > (1 << 30)) return 0; /* never: the stack ends long before */
    return recurse(frame, n + 1) + frame[0];
}

static void *overflower(void *arg) {
    (void)arg;
    static __thread char alt[64 * 1024];
    stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0};
    if (sigaltstack(&ss, NULL)) return (void *)"sigaltstack failed";
    pthread_attr_t attr;
    void *lo;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) || pthread_attr_getstack(&attr, &lo, &size))
        return (void *)"pthread_getattr_np failed";
    pthread_attr_destroy(&attr);
    int rounds = 0;
    for (int i = 0; i < 3; i++) { /* the handler can be used again after siglongjmp */
        if (sigsetjmp(overflow_jump, 1) == 0) {
            recurse(NULL, 0);
            return (void *)"no overflow?";
        }
        uintptr_t low = (uintptr_t)lo;
        if (overflow_code != SEGV_ACCERR && overflow_code != SEGV_MAPERR) return (void *)"bad si_code";
        if (!(overflow_fault < low && overflow_fault >= low - 65536))
            return (void *)"fault address not just below the stack";
        if (!(overflow_handler_sp >= (uintptr_t)alt && overflow_handler_sp < (uintptr_t)alt + sizeof alt))
            return (void *)"handler not on the alternate stack";
        rounds++;
    }
    stack_t now;
    sigaltstack(NULL, &now);
    static char report[128];
    snprintf(report, sizeof report, "%d overflows caught (%s), alternate stack %s afterwards", rounds,
             overflow_code == SEGV_ACCERR ? "SEGV_ACCERR" : "SEGV_MAPERR",
             now.ss_flags & SS_ONSTACK ? "in use" : "idle");
    return report;
}

static void stack_overflow(void) {
    install(SIGSEGV, on_overflow, SA_ONSTACK);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, SMALL_STACK);
    pthread_t t;
    void *v = "pthread_create failed";
    if (pthread_create(&t, &attr, overflower, NULL) == 0) pthread_join(t, &v);
    printf("stack overflow in a thread: %s\n", (char *)v);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    install(SIGUSR1, on_info, 0);
    raise(SIGUSR1);
    printf("raise: hits %d sig %d code %s\n", hits, last_sig, last_code == SI_TKILL ? "SI_TKILL" : "other");

    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, &old);
    raise(SIGUSR1);
    sigset_t pend;
    sigpending(&pend);
    printf("blocked: hits %d pending %d\n", hits, sigismember(&pend, SIGUSR1));
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("unblocked: hits %d\n", hits);

    install(SIGSEGV, on_fault, 0);
    if (sigsetjmp(jump, 1) == 0) {
        volatile int *p = (volatile int *)16;
        (void)*p;
        puts("no fault?");
    }
    printf("SIGSEGV: sig %d code %s addr %p\n", last_sig, last_code == SEGV_MAPERR ? "SEGV_MAPERR" : "other", (void *)fault_addr);

    install(SIGFPE, on_fault, 0);
    if (sigsetjmp(jump, 1) == 0) {
        volatile int zero = 0;
        volatile int r = 7 / zero;
        (void)r;
        puts("no fault?");
    }
    printf("SIGFPE: sig %d code %s\n", last_sig, last_code == FPE_INTDIV ? "FPE_INTDIV" : "other");

    static char alt[65536];
    stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    install(SIGUSR1, on_info, SA_ONSTACK);
    raise(SIGUSR1);
    printf("sigaltstack: on the alternate stack %d\n",
           handler_sp >= (uintptr_t)alt && handler_sp < (uintptr_t)alt + sizeof alt);

    install(SIGUSR1, on_info, SA_RESETHAND);
    raise(SIGUSR1);
    struct sigaction now;
    sigaction(SIGUSR1, NULL, &now);
    printf("SA_RESETHAND: reset to default %d\n", now.sa_handler == SIG_DFL);

    install_plain(SIGUSR1, on_nested, SA_NODEFER);
    raise(SIGUSR1);
    printf("SA_NODEFER: nested depth %d\n", max_depth);

    volatile double keep = 3.5;
    install_plain(SIGUSR1, on_plain, 0);
    double before = keep * 2;
    raise(SIGUSR1);
    double after = keep * 2;
    printf("floating point kept: %d\n", before == after && after == 7.0);

    read_interrupted(1);
    read_interrupted(0);

    /* sigsuspend: wait with SIGUSR1 unblocked until it comes. */
    install_plain(SIGUSR1, on_plain, 0);
    sigprocmask(SIG_BLOCK, &set, &old);
    raise(SIGUSR1);
    sigset_t wait_mask;
    sigemptyset(&wait_mask);
    int r = sigsuspend(&wait_mask);
    sigset_t cur;
    sigprocmask(SIG_SETMASK, NULL, &cur);
    printf("sigsuspend: %d %s, mask restored %d\n", r, errno == EINTR ? "EINTR" : "?", sigismember(&cur, SIGUSR1));
    stack_overflow();
    puts("done");
    return 0;
}

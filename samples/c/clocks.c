/* clocks: the clock calls C programs make, through the C library (which
 * uses the vDSO when AT_SYSINFO_EHDR names one). See samples/README.md.
 *
 *   clocks [N [SECONDS]]  N (default 1000) calls each of clock_gettime
 *                         MONOTONIC and REALTIME (monotonic never backwards,
 *                         nanoseconds in range), the other clocks a vDSO
 *                         serves, gettimeofday and time (agreeing with
 *                         REALTIME), one CLOCK_PROCESS_CPUTIME_ID; then for
 *                         SECONDS (default 0) MONOTONIC in a loop with a
 *                         getppid syscall every 1000 reads (exits, at which
 *                         the runner may retune the clock), never backwards.
 *                         Prints what it read, then "clocks: ok".
 *   clocks bench N        times N clock_gettime(CLOCK_MONOTONIC) calls.
 *   clocks skew SECONDS   for SECONDS, every millisecond: the C library's
 *                         MONOTONIC and REALTIME (the vDSO's) read on both
 *                         sides of a raw clock_gettime syscall (the
 *                         runner's, from the host); prints the largest gap
 *                         between the syscall's answer and the middle of
 *                         the two readings around it.
 *   clocks attack         tries to change the vDSO's data page (expects
 *                         every call refused), then writes to it (SIGSEGV).
 *   clocks null           clock_gettime(CLOCK_MONOTONIC, NULL): the vDSO,
 *                         like Linux's, faults (SIGSEGV) where the syscall
 *                         would return EFAULT.
 *
 * A failed check prints "clocks: FAIL what (errno N)" on stderr, exit 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#ifndef AT_SYSINFO_EHDR
#define AT_SYSINFO_EHDR 33
#endif
#define NSEC 1000000000LL

static void fail(const char *what)
{
    fprintf(stderr, "clocks: FAIL %s (errno %d)\n", what, errno);
    exit(1);
}

static long long ns_of(const struct timespec *t)
{
    return (long long)t->tv_sec * NSEC + t->tv_nsec;
}

static long long read_clock(clockid_t id, const char *what)
{
    struct timespec t;
    if (clock_gettime(id, &t) != 0)
        fail(what);
    if (t.tv_nsec < 0 || t.tv_nsec >= NSEC)
        fail(what);
    return ns_of(&t);
}

static int check(long n, double seconds)
{
    long long last = 0, real = 0;
    for (long i = 0; i < n; i++) {
        long long now = read_clock(CLOCK_MONOTONIC, "clock_gettime(CLOCK_MONOTONIC)");
        if (now < last)
            fail("CLOCK_MONOTONIC went backwards");
        last = now;
        real = read_clock(CLOCK_REALTIME, "clock_gettime(CLOCK_REALTIME)");
    }
    /* The other clocks a vDSO answers: readable, and RAW/BOOTTIME/COARSE
     * in step with MONOTONIC (to within a second). */
    long long mono = read_clock(CLOCK_MONOTONIC, "clock_gettime(CLOCK_MONOTONIC)");
    long long coarse = read_clock(CLOCK_MONOTONIC_COARSE, "clock_gettime(CLOCK_MONOTONIC_COARSE)");
    long long raw = read_clock(CLOCK_MONOTONIC_RAW, "clock_gettime(CLOCK_MONOTONIC_RAW)");
    long long boot = read_clock(CLOCK_BOOTTIME, "clock_gettime(CLOCK_BOOTTIME)");
    long long rcoarse = read_clock(CLOCK_REALTIME_COARSE, "clock_gettime(CLOCK_REALTIME_COARSE)");
    if (llabs(coarse - mono) > NSEC || llabs(raw - mono) > NSEC || boot < mono - NSEC ||
        llabs(rcoarse - real) > NSEC)
        fail("the clocks disagree");

    long long until = read_clock(CLOCK_MONOTONIC, "clock_gettime(CLOCK_MONOTONIC)") +
                      (long long)(seconds * NSEC);
    long reads = 0;
    for (;;) {
        long long now = read_clock(CLOCK_MONOTONIC, "clock_gettime(CLOCK_MONOTONIC)");
        if (now < last)
            fail("CLOCK_MONOTONIC went backwards across exits");
        last = now;
        if (now >= until)
            break;
        if (++reads % 1000 == 0)
            getppid();
    }

    real = read_clock(CLOCK_REALTIME, "clock_gettime(CLOCK_REALTIME)");
    struct timeval tv;
    if (gettimeofday(&tv, NULL) != 0)
        fail("gettimeofday");
    time_t secs = time(NULL);
    long long tv_ns = (long long)tv.tv_sec * NSEC + tv.tv_usec * 1000LL;
    if (tv.tv_usec < 0 || tv.tv_usec >= 1000000 || tv_ns < real - 1000 || tv_ns > real + NSEC)
        fail("gettimeofday disagrees with CLOCK_REALTIME");
    if (secs < real / NSEC || secs > real / NSEC + 1)
        fail("time disagrees with CLOCK_REALTIME");

    struct timespec cpu;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu) != 0)
        fail("clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");

    printf("vdso: %#lx\n", getauxval(AT_SYSINFO_EHDR));
    printf("monotonic: %ld reads in order\n", n + reads);
    printf("realtime: %lld.%09lld\n", real / NSEC, real % NSEC);
    printf("gettimeofday: %lld.%06lld\n", (long long)tv.tv_sec, (long long)tv.tv_usec);
    printf("time: %lld\n", (long long)secs);
    printf("cputime: %lld.%09ld\n", (long long)cpu.tv_sec, cpu.tv_nsec);
    printf("clocks: ok\n");
    return 0;
}

static int bench(long n)
{
    struct timespec t;
    long long start = read_clock(CLOCK_MONOTONIC, "clock_gettime(CLOCK_MONOTONIC)");
    for (long i = 0; i < n; i++)
        if (clock_gettime(CLOCK_MONOTONIC, &t) != 0)
            fail("clock_gettime(CLOCK_MONOTONIC)");
    long long end = read_clock(CLOCK_MONOTONIC, "clock_gettime(CLOCK_MONOTONIC)");
    printf("clock_gettime: %ld calls, %.1f ns per call\n", n, n ? (double)(end - start) / n : 0.0);
    return 0;
}

/* Samples whose two readings lie further apart than this (the process was
 * preempted, or the exit was slow) say little about the gap. */
#define TIGHT_NS 300000

/* One sample: the syscall's answer minus the middle of the library's
 * readings around it, when those are at most TIGHT_NS apart; the largest
 * such gap is kept in *worst. Returns whether the sample was tight. */
static int gap(clockid_t id, long long *worst)
{
    struct timespec t;
    long long a = read_clock(id, "clock_gettime");
    if (syscall(SYS_clock_gettime, id, &t) != 0)
        fail("the clock_gettime syscall");
    long long b = read_clock(id, "clock_gettime");
    if (b - a > TIGHT_NS)
        return 0;
    long long g = llabs(ns_of(&t) - (a + b) / 2);
    if (g > *worst)
        *worst = g;
    return 1;
}

static int skew(double seconds)
{
    long long mono = 0, real = 0, samples = 0, tight = 0;
    long long start = read_clock(CLOCK_MONOTONIC, "clock_gettime(CLOCK_MONOTONIC)");
    long long next = start, now = start;
    while (now - start < (long long)(seconds * NSEC)) {
        now = read_clock(CLOCK_MONOTONIC, "clock_gettime(CLOCK_MONOTONIC)");
        if (now < next)
            continue;
        tight += gap(CLOCK_MONOTONIC, &mono);
        tight += gap(CLOCK_REALTIME, &real);
        samples += 2;
        next = now + NSEC / 1000;
    }
    printf("skew: %lld of %lld samples within %d ns, monotonic %lld ns, realtime %lld ns\n",
           tight, samples, TIGHT_NS, mono, real);
    return 0;
}

/* One line per attempt: the call and the errno it got (0: it succeeded). */
static void attempt(const char *what, int failed)
{
    printf("%s: errno %d\n", what, failed ? errno : 0);
}

static int attack(void)
{
    unsigned long vdso = getauxval(AT_SYSINFO_EHDR);
    if (!vdso)
        fail("no vDSO");
    char *vvar = (char *)(vdso - 4096);
    attempt("mprotect", mprotect(vvar, 4096, PROT_READ | PROT_WRITE) != 0);
    attempt("munmap", munmap(vvar, 4096) != 0);
    attempt("mremap", mremap(vvar, 4096, 8192, MREMAP_MAYMOVE) == MAP_FAILED);
    attempt("mmap-fixed", mmap(vvar, 4096, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED);
    attempt("madvise", madvise(vvar, 4096, MADV_DONTNEED) != 0);
    attempt("read-into", read(0, vvar, 8) < 0);
    attempt("mprotect-text", mprotect((void *)vdso, 4096, PROT_READ | PROT_WRITE | PROT_EXEC) != 0);
    /* Still the clock, after all that. */
    read_clock(CLOCK_MONOTONIC, "clock_gettime(CLOCK_MONOTONIC)");
    printf("writing to the data page\n");
    fflush(stdout);
    *(volatile char *)vvar = 1;
    printf("the data page is writable\n");
    return 99;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "bench") == 0)
        return bench(argc > 2 ? atol(argv[2]) : 100000);
    if (argc > 1 && strcmp(argv[1], "skew") == 0)
        return skew(argc > 2 ? atof(argv[2]) : 1);
    if (argc > 1 && strcmp(argv[1], "attack") == 0)
        return attack();
    if (argc > 1 && strcmp(argv[1], "null") == 0) {
        printf("clock_gettime(CLOCK_MONOTONIC, NULL)\n");
        fflush(stdout);
        return clock_gettime(CLOCK_MONOTONIC, NULL) == 0 ? 99 : 98;
    }
    return check(argc > 1 ? atol(argv[1]) : 1000, argc > 2 ? atof(argv[2]) : 0);
}

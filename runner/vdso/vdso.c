/*
 * vdso.c - thinvisor's vDSO: clock_gettime, gettimeofday, time and getcpu
 * answered inside the guest, at CPL3, from the TSC and the runner-written
 * data page (vvar.h), without a syscall and so without a VM exit.
 *
 * Built by runner/build.rs (position-independent, no libc, no relocations)
 * into a small ELF shared object linked by vdso.lds, embedded in the runner
 * and mapped into every guest whose policy leaves these syscalls
 * unrestricted; the program finds it through AT_SYSINFO_EHDR, as on Linux.
 * C libraries (musl, glibc) look the functions up by name and version
 * (LINUX_2.6). Whatever this code does not answer it hands to the real
 * `syscall` instruction, so the runner (and the policy) answer as without a
 * vDSO. As on Linux, a bad pointer makes the program fault in its own memory.
 */
#include "vvar.h"

typedef unsigned long long u64;
typedef long long s64;

struct timespec_ {
    s64 tv_sec;
    s64 tv_nsec;
};

struct timeval_ {
    s64 tv_sec;
    s64 tv_usec;
};

struct timezone_ {
    int tz_minuteswest;
    int tz_dsttime;
};

#define NSEC_PER_SEC 1000000000ULL
#define CLOCK_REALTIME 0

#define SYS_gettimeofday 96
#define SYS_time 201
#define SYS_clock_gettime 228

/* Exported (everything else is hidden: built with -fvisibility=hidden). */
#define EXPORT __attribute__((visibility("default")))

/* The data page, one page below this object's first byte (vdso.lds). */
extern const char vvar_page[4096] __attribute__((visibility("hidden")));

static inline u64 vvar(unsigned off)
{
    return *(const volatile u64 *)(vvar_page + off);
}

static inline long syscall2(long nr, long a, long b)
{
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "0"(nr), "D"(a), "S"(b)
                     : "rcx", "r11", "memory");
    return ret;
}

/* Whether clock `clock` is answered from the data page. */
static inline int served(unsigned clock)
{
    return clock < VVAR_NCLOCKS && vvar(VVAR_FORMAT) == VVAR_FORMAT_1 &&
           (vvar(VVAR_CLOCKS) >> clock & 1);
}

/* Nanoseconds of clock `clock` now (it must be served). */
static inline u64 clock_ns(unsigned clock)
{
    unsigned lo, hi;
    /* LFENCE: the TSC is read after every earlier instruction, so two
     * readings in program order never come out reversed. */
    __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi));
    u64 tsc = (u64)hi << 32 | lo;
    u64 base = vvar(VVAR_TSC_BASE);
    u64 ticks = tsc > base ? tsc - base : 0;
    u64 ns = (u64)(((unsigned __int128)ticks * vvar(VVAR_MULT)) >> 32);
    return vvar(VVAR_MONO_BASE) + ns + vvar(VVAR_OFFSET + 8 * clock);
}

EXPORT int __vdso_clock_gettime(int clock, struct timespec_ *ts)
{
    if (!served((unsigned)clock))
        return (int)syscall2(SYS_clock_gettime, clock, (long)ts);
    u64 ns = clock_ns((unsigned)clock);
    ts->tv_sec = (s64)(ns / NSEC_PER_SEC);
    ts->tv_nsec = (s64)(ns % NSEC_PER_SEC);
    return 0;
}

EXPORT int __vdso_gettimeofday(struct timeval_ *tv, struct timezone_ *tz)
{
    if (!served(CLOCK_REALTIME))
        return (int)syscall2(SYS_gettimeofday, (long)tv, (long)tz);
    if (tv) {
        u64 ns = clock_ns(CLOCK_REALTIME);
        tv->tv_sec = (s64)(ns / NSEC_PER_SEC);
        tv->tv_usec = (s64)(ns % NSEC_PER_SEC / 1000);
    }
    if (tz) {
        /* UTC, as the runner's gettimeofday answers. */
        tz->tz_minuteswest = 0;
        tz->tz_dsttime = 0;
    }
    return 0;
}

EXPORT long __vdso_time(long *t)
{
    if (!served(CLOCK_REALTIME))
        return syscall2(SYS_time, (long)t, 0);
    long secs = (long)(clock_ns(CLOCK_REALTIME) / NSEC_PER_SEC);
    if (t)
        *t = secs;
    return secs;
}

/* One vCPU: always CPU 0 on node 0. */
EXPORT long __vdso_getcpu(unsigned *cpu, unsigned *node, void *unused)
{
    (void)unused;
    if (cpu)
        *cpu = 0;
    if (node)
        *node = 0;
    return 0;
}

/* The unprefixed names Linux's vDSO exports too. */
#define ALIAS(name) __attribute__((weak, alias(name), visibility("default")))
int clock_gettime(int, struct timespec_ *) ALIAS("__vdso_clock_gettime");
int gettimeofday(struct timeval_ *, struct timezone_ *) ALIAS("__vdso_gettimeofday");
long time(long *) ALIAS("__vdso_time");
long getcpu(unsigned *, unsigned *, void *) ALIAS("__vdso_getcpu");

/* sysprobe: checks the syscalls static programs use, one line per check
 * ("ok NAME" or "FAIL NAME: why"), then "sysprobe: N failed". Exit status
 * 0 when every check passed. Expected values are the sandbox's (identity
 * 1000, pid 2, one CPU, no threads or processes); see samples/README.md. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static int failed;

static void check(int ok, const char *name, const char *why)
{
    if (ok)
        printf("ok %s\n", name);
    else {
        printf("FAIL %s: %s (errno %d)\n", name, why, errno);
        failed++;
    }
}

static void *thread_main(void *arg) { return arg; }

static void cpuid(unsigned leaf, unsigned sub, unsigned r[4])
{
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

static unsigned long long rdtsc(void)
{
    unsigned lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (unsigned long long)hi << 32 | lo;
}

/* What C libraries probe at start-up: CPUID, XGETBV (when OSXSAVE), and the
 * AVX state being really enabled when both say so; RDTSC at CPL3. */
static void cpu_checks(void)
{
    unsigned r[4];
    cpuid(0, 0, r);
    check(r[0] >= 1 && r[1] != 0, "cpuid", "no vendor or basic leaves");
    cpuid(1, 0, r);
    int osxsave = (r[2] >> 27) & 1, avx = (r[2] >> 28) & 1;
    if (osxsave) {
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        check((lo & 3) == 3, "xgetbv", "x87 and SSE state must be enabled");
        if (avx && (lo & 6) == 6) {
            float out[8];
            __asm__ volatile("vxorps %%ymm0, %%ymm0, %%ymm0\n\tvmovups %%ymm0, %0" : "=m"(out) : : "xmm0");
            check(out[7] == 0.0f, "avx", "AVX instruction");
        }
    } else {
        check(1, "xgetbv", "");
    }
    unsigned long long t0 = rdtsc(), t1 = rdtsc();
    check(t1 > t0, "rdtsc", "the TSC must advance");
}

int main(void)
{
    cpu_checks();

    /* identity */
    check(getuid() == 1000 && geteuid() == 1000 && getgid() == 1000 && getegid() == 1000,
          "ids", "uid/gid are not 1000");
    check(getpid() == 2 && syscall(SYS_gettid) == 2 && getppid() == 1, "pids",
          "pid 2, tid 2, ppid 1 expected");
    check(setuid(1000) == 0 && setuid(0) == -1 && errno == EPERM, "setuid",
          "only the own uid may be set");

    /* pipes, dup2, poll, fcntl, ioctl */
    int p[2];
    check(pipe2(p, O_CLOEXEC) == 0, "pipe2", "pipe2 failed");
    check(fcntl(p[0], F_GETFD) == FD_CLOEXEC, "fcntl_getfd", "FD_CLOEXEC not kept");
    struct pollfd pf[2] = {{p[0], POLLIN, 0}, {p[1], POLLOUT, 0}};
    check(poll(pf, 2, 0) == 1 && pf[1].revents == POLLOUT && pf[0].revents == 0, "poll_empty",
          "an empty pipe is writable only");
    check(write(p[1], "hello", 5) == 5, "pipe_write", "write failed");
    pf[0].revents = pf[1].revents = 0;
    check(poll(pf, 1, 1000) == 1 && pf[0].revents == POLLIN, "poll_data", "data not readable");
    int n = -1;
    check(ioctl(p[0], FIONREAD, &n) == 0 && n == 5, "fionread", "5 bytes waiting expected");
    int d = dup2(p[0], 10);
    char buf[16] = {0};
    check(d == 10 && read(10, buf, sizeof buf) == 5 && !memcmp(buf, "hello", 5), "dup2_read",
          "read through the duplicate failed");
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    check(read(p[0], buf, 1) == -1 && errno == EAGAIN, "nonblock", "EAGAIN expected");
    close(p[1]);
    check(read(10, buf, 1) == 0, "eof", "EOF after the write end closed");
    close(p[0]);
    close(10);
    check(close(10) == -1 && errno == EBADF, "close_twice", "EBADF expected");
    int q[2];
    pipe(q);
    close(q[0]);
    signal(SIGPIPE, SIG_IGN);
    check(write(q[1], "x", 1) == -1 && errno == EPIPE, "epipe", "EPIPE without a reader");
    close(q[1]);
    struct termios t;
    check(tcgetattr(1, &t) == -1 && errno == ENOTTY, "no_tty", "ENOTTY expected");
    struct winsize ws;
    check(ioctl(1, TIOCGWINSZ, &ws) == -1 && errno == ENOTTY, "no_winsize", "ENOTTY expected");
    check(fcntl(1, F_GETFL) >= 0, "fcntl_getfl", "F_GETFL on stdout failed");
    /* The standard streams are polled on the host: stdin at EOF (the tests
     * give an empty, closed stdin) is readable or hung up, stdout writable. */
    struct pollfd sp[2] = {{0, POLLIN, 0}, {1, POLLOUT, 0}};
    check(poll(sp, 2, 1000) == 2 && (sp[0].revents & (POLLIN | POLLHUP)) && (sp[1].revents & POLLOUT),
          "poll_stdio", "stdin at EOF and stdout must be ready");

    /* memory */
    size_t pg = 4096;
    unsigned char *m = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check(m != MAP_FAILED, "mmap", "anonymous mmap failed");
    memset(m, 0xab, 4 * pg);
    unsigned char *g = mremap(m, 4 * pg, 64 * pg, MREMAP_MAYMOVE);
    int kept = g != MAP_FAILED;
    for (size_t i = 0; kept && i < 4 * pg; i++)
        kept = g[i] == 0xab;
    for (size_t i = 4 * pg; kept && i < 64 * pg; i++)
        kept = g[i] == 0;
    check(kept, "mremap_grow", "contents not kept or tail not zero");
    g = mremap(g, 64 * pg, 2 * pg, 0);
    check(g != MAP_FAILED && g[pg] == 0xab, "mremap_shrink", "shrink failed");
    check(madvise(g, 2 * pg, MADV_DONTNEED) == 0 && g[0] == 0 && g[pg] == 0, "madvise",
          "MADV_DONTNEED must zero");
    check(mprotect(g, pg, PROT_READ) == 0 && munmap(g, 2 * pg) == 0, "mprotect_munmap",
          "mprotect/munmap failed");
    unsigned char *fx = mmap((void *)0x200000000000, pg, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    check(fx == (void *)0x200000000000, "mmap_fixed", "MAP_FIXED_NOREPLACE at a free address");
    check(mmap(fx, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) ==
                  MAP_FAILED && errno == EEXIST,
          "mmap_noreplace", "EEXIST expected");
    long brk0 = syscall(SYS_brk, 0);
    check(brk0 > 0 && syscall(SYS_brk, brk0 + 65536) == brk0 + 65536 &&
              ((volatile char *)brk0)[65535] == 0,
          "brk", "the break did not grow");

    /* limits, system */
    struct rlimit rl;
    check(getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur == 64, "rlimit_nofile",
          "the policy's open_files (64) expected");
    rl.rlim_cur = 32;
    check(setrlimit(RLIMIT_NOFILE, &rl) == 0, "setrlimit_lower", "lowering failed");
    rl.rlim_max = 1 << 20;
    check(setrlimit(RLIMIT_NOFILE, &rl) == -1 && errno == EPERM, "setrlimit_raise",
          "raising the hard limit must fail");
    struct sysinfo si;
    check(sysinfo(&si) == 0 && si.totalram * si.mem_unit == 256ul << 20 && si.procs == 1,
          "sysinfo", "RAM = memory limit, one process expected");
    cpu_set_t cs;
    check(sched_getaffinity(0, sizeof cs, &cs) == 0 && CPU_COUNT(&cs) >= 1 && CPU_ISSET(0, &cs),
          "affinity", "CPUs 0.. expected");
    check(sched_yield() == 0, "sched_yield", "failed");
    struct utsname u;
    check(uname(&u) == 0 && !strcmp(u.machine, "x86_64"), "uname", "x86_64 expected");

    /* time */
    struct timespec a, b, req = {0, 20 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &a);
    check(nanosleep(&req, NULL) == 0, "nanosleep", "failed");
    check(clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL) == 0, "clock_nanosleep", "failed");
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    check(ms >= 40, "slept", "two 20 ms sleeps took less than 40 ms");
    struct timeval tv;
    check(gettimeofday(&tv, NULL) == 0 && tv.tv_sec > 1600000000 && time(NULL) >= tv.tv_sec,
          "wallclock", "time and gettimeofday disagree");

    /* signals: dispositions are recorded */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    check(sigaction(SIGUSR2, &sa, NULL) == 0 && sigaction(SIGUSR2, NULL, &old) == 0 &&
              old.sa_handler == SIG_IGN,
          "sigaction", "disposition not recorded");
    check(raise(SIGUSR2) == 0, "raise_ignored", "an ignored signal must do nothing");
    check(sigaction(SIGKILL, &sa, NULL) == -1 && errno == EINVAL, "sigaction_kill",
          "SIGKILL cannot be ignored");
    stack_t ss = {.ss_sp = malloc(65536), .ss_size = 65536, .ss_flags = 0}, oss;
    check(sigaltstack(&ss, NULL) == 0 && sigaltstack(NULL, &oss) == 0 && oss.ss_size == 65536,
          "sigaltstack", "alternate stack not recorded");
    check(kill(12345, 0) == -1 && errno == ESRCH, "kill_other", "no such process");

    /* a child process, and a thread */
    check(waitpid(-1, NULL, 0) == -1 && errno == ECHILD, "wait_none", "no children yet");
    pid_t f = fork();
    if (f == 0)
        _exit(7);
    int wst = 0;
    check(f > 0 && waitpid(f, &wst, 0) == f && WIFEXITED(wst) && WEXITSTATUS(wst) == 7, "fork",
          "a forked child exits 7 and is reaped");
    check(waitpid(-1, NULL, 0) == -1 && errno == ECHILD, "wait", "no children left");
    pthread_t th;
    void *joined = NULL;
    check(pthread_create(&th, NULL, thread_main, NULL) == 0, "pthread_create",
          "a thread starts");
    check(pthread_join(th, &joined) == 0 && joined == NULL, "pthread_join",
          "the thread is joined");

    printf("sysprobe: %d failed\n", failed);
    return failed ? 1 : 0;
}

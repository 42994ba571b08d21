/* sched [privileged]: nice values, scheduling policies and times() as an
 * unprivileged program sees them, printing what each call returns, so
 * that a run under the runner can be compared with a native one.
 * `privileged`: what needs CAP_SYS_NICE (lowering the nice value, a
 * real-time policy): EACCES and EPERM for an unprivileged process, as in
 * the sandbox; natively as root both succeed. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <unistd.h>

static long raw(long r)
{
    return r < 0 ? -errno : r;
}

/* (musl's sched_getscheduler and friends are ENOSYS stubs: the raw
 * calls.) */
static long getsched(long pid)
{
    return raw(syscall(SYS_sched_getscheduler, pid));
}

static void policies(void)
{
    struct sched_param p = {0};
    printf("policy at first: %ld\n", getsched(0));
    long r = raw(syscall(SYS_sched_setscheduler, 0, SCHED_BATCH, &p));
    printf("to SCHED_BATCH: %ld, now %ld\n", r, getsched(0));
    r = raw(syscall(SYS_sched_setscheduler, 0, SCHED_IDLE | SCHED_RESET_ON_FORK, &p));
    printf("to SCHED_IDLE with reset-on-fork: %ld, now %#lx\n", r, getsched(0));
    pid_t c = fork();
    if (c == 0) {
        printf("child's policy: %#lx\n", getsched(0));
        _exit(0);
    }
    waitpid(c, NULL, 0);
    printf("back to SCHED_OTHER: %ld\n", raw(syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, &p)));
    p.sched_priority = 3;
    printf("SCHED_OTHER at 3: %ld\n", raw(syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, &p)));
    printf("policy 42: %ld\n", raw(syscall(SYS_sched_setscheduler, 0, 42, &p)));
    printf("NULL param: %ld\n", raw(syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, NULL)));
    p.sched_priority = 7;
    r = raw(syscall(SYS_sched_getparam, 0, &p));
    printf("getparam: %ld, priority %d\n", r, p.sched_priority);
    p.sched_priority = 0;
    printf("setparam 0: %ld\n", raw(syscall(SYS_sched_setparam, 0, &p)));
    p.sched_priority = 5;
    printf("setparam 5: %ld\n", raw(syscall(SYS_sched_setparam, 0, &p)));
    int all[] = {SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE, 42};
    for (int i = 0; i < 6; i++)
        printf("policy %d: priorities %ld..%ld\n", all[i], raw(sched_get_priority_min(all[i])),
               raw(sched_get_priority_max(all[i])));
    printf("a pid that is not there: %ld\n", getsched(99999));
    printf("a negative pid: %ld\n", getsched(-1));
}

static void nice_values(void)
{
    printf("nice at first: %ld\n", raw(syscall(SYS_getpriority, PRIO_PROCESS, 0)));
    long r = raw(setpriority(PRIO_PROCESS, 0, 5));
    printf("raised to 5: %ld, now %d\n", r, getpriority(PRIO_PROCESS, 0));
    r = raw(setpriority(PRIO_PROCESS, 0, 40));
    printf("raised to 40 (clamped): %ld, now %d\n", r, getpriority(PRIO_PROCESS, 0));
    pid_t c = fork();
    if (c == 0) {
        printf("child's nice: %d\n", getpriority(PRIO_PROCESS, 0));
        _exit(0);
    }
    waitpid(c, NULL, 0);
    printf("which 9: %ld\n", raw(syscall(SYS_getpriority, 9, 0)));
    printf("a pid that is not there: %ld\n", raw(syscall(SYS_getpriority, PRIO_PROCESS, 99999)));
}

static void clock_ticks(void)
{
    struct tms t;
    long a = raw(times(&t));
    long b = raw(times(NULL));
    volatile unsigned long x = 0;
    for (unsigned long i = 0; i < 300000000UL; i++)
        x += i;
    struct tms u;
    times(&u);
    printf("times: %s, %s, user time grows: %s, children %ld %ld\n", a > 0 ? "positive" : "not",
           b >= a ? "monotonic" : "backwards", u.tms_utime + u.tms_stime > t.tms_utime + t.tms_stime ? "yes" : "no",
           (long)u.tms_cutime, (long)u.tms_cstime);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && !strcmp(argv[1], "privileged")) {
        setpriority(PRIO_PROCESS, 0, 5);
        printf("lowered to 1: %ld\n", raw(setpriority(PRIO_PROCESS, 0, 1)));
        struct sched_param p = {10};
        printf("SCHED_FIFO 10: %ld\n", raw(syscall(SYS_sched_setscheduler, 0, SCHED_FIFO, &p)));
        return 0;
    }
    policies();
    nice_values();
    clock_ticks();
    return 0;
}

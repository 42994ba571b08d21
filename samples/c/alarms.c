/* alarms.c - alarm() and setitimer(ITIMER_REAL): alarm + pause, a handler
 * that interrupts a loop with no syscalls, a periodic timer, getitimer, an
 * alarm that fires while the first thread is blocked reading a pipe (with
 * SA_RESTART the read goes on, without it fails with EINTR), and
 * (argv[1] "default") an alarm with no handler, which ends the process
 * with SIGALRM. Output does not depend on timing; the tests compare it
 * with a native run. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t rings;

static void on_alarm(int sig) {
    (void)sig;
    rings++;
}

static int pipefd[2];

/* Writes to the pipe 100 ms from now, with SIGALRM blocked: the alarm can
 * only go to the first thread, blocked in read. Until then it keeps making
 * system calls, so it is as often as can be in the kernel when the alarm
 * is due. */
static void *late_writer(void *arg) {
    (void)arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        sched_yield();
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) <
             100 * 1000000L);
    (void)!write(pipefd[1], "ok", 2);
    return NULL;
}

/* One read of the pipe while the alarm fires: 0 when it returned the data,
 * 1 when it failed with EINTR (and the data came to a second read), -1
 * when something else happened. *rang: whether the handler ran during it.
 * *early: the alarm rang before the read began (a machine so slow that 20
 * ms passed between setitimer and read: the emulated one of ci/hw-kvm.sh),
 * so the round says nothing and is run again. */
static int read_once(int *rang, int *early) {
    if (pipe(pipefd)) return -1;
    int before = rings;
    pthread_t t;
    if (pthread_create(&t, NULL, late_writer, NULL)) return -1;
    struct itimerval it = {.it_value = {0, 20000}};
    setitimer(ITIMER_REAL, &it, NULL);
    char buf[8] = {0};
    *early = rings != before;
    errno = 0;
    ssize_t n = read(pipefd[0], buf, sizeof buf);
    int err = errno;
    *rang = rings - before;
    if (n < 0 && err == EINTR) n = read(pipefd[0], buf, sizeof buf); /* the data still comes */
    pthread_join(t, NULL);
    close(pipefd[0]);
    close(pipefd[1]);
    if (n != 2 || memcmp(buf, "ok", 2) != 0) return -1;
    return err == EINTR ? 1 : err == 0 ? 0 : -1;
}

static void read_during_alarm(int restart) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGALRM, &sa, NULL);
    int data = 0, eintr = 0, rang = 0;
    for (int round = 0; round < 4; round++) {
        int hit = 0, early = 0, r;
        for (int attempt = 0; attempt < 5; attempt++) {
            r = read_once(&hit, &early);
            /* Without SA_RESTART an alarm that rings while the read waits
             * always makes it fail with EINTR; a handler that ran and a
             * read that still returned the data mean the alarm rang after
             * the look above but before the read began to wait (a window
             * of a few instructions natively, milliseconds on the emulated
             * machine of ci/hw-kvm.sh): early too. A read that never fails
             * with EINTR still shows, after the fifth attempt. */
            if (!restart && hit && r == 0) early = 1;
            if (!early) break;
        }
        data += r >= 0;
        eintr += r == 1;
        rang += hit;
    }
    printf("4 reads with%s SA_RESTART during an alarm: %d EINTR, handler ran %d times, data %d times\n",
           restart ? "" : "out", eintr, rang, data);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && strcmp(argv[1], "default") == 0) {
        alarm(1);
        for (;;) pause();
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);

    printf("alarm(1) returns %u\n", alarm(1));
    printf("alarm(2) returns %u (rounded)\n", alarm(2) >= 1);
    alarm(0);
    struct itimerval it = {.it_value = {0, 50000}};
    setitimer(ITIMER_REAL, &it, NULL);
    int r = pause();
    printf("pause: %d %s rings %d\n", r, errno == EINTR ? "EINTR" : "?", rings);

    it.it_value.tv_usec = 30000;
    setitimer(ITIMER_REAL, &it, NULL);
    volatile unsigned long spins = 0;
    while (rings < 2) spins++;
    printf("a loop with no syscalls was interrupted: rings %d\n", rings);

    struct itimerval periodic = {.it_interval = {0, 20000}, .it_value = {0, 20000}};
    setitimer(ITIMER_REAL, &periodic, NULL);
    while (rings < 5) pause();
    struct itimerval now;
    getitimer(ITIMER_REAL, &now);
    printf("periodic: rings %d, interval %ld us\n", rings, (long)now.it_interval.tv_usec);
    memset(&periodic, 0, sizeof periodic);
    setitimer(ITIMER_REAL, &periodic, NULL);
    getitimer(ITIMER_REAL, &now);
    printf("stopped: %ld %ld\n", (long)now.it_value.tv_sec, (long)now.it_value.tv_usec);
    read_during_alarm(1);
    read_during_alarm(0);

    /* A lone thread that blocks SIGALRM: the expired alarm stays pending
     * until it unblocks it. */
    sa.sa_flags = 0;
    sigaction(SIGALRM, &sa, NULL);
    sigset_t alrm, pend;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    sigprocmask(SIG_BLOCK, &alrm, NULL);
    int before = rings;
    struct itimerval once = {.it_value = {0, 10000}};
    setitimer(ITIMER_REAL, &once, NULL);
    struct timespec ts = {0, 60 * 1000 * 1000};
    nanosleep(&ts, NULL);
    sigpending(&pend);
    printf("blocked: rings %d, pending %d\n", rings - before, sigismember(&pend, SIGALRM));
    sigprocmask(SIG_UNBLOCK, &alrm, NULL);
    printf("unblocked: rings %d\n", rings - before);
    puts("done");
    return 0;
}

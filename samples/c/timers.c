/* Timers and waiting for signals, as a program sees them on Linux:
 * timerfd (one-shot, periodic under epoll, absolute, gettime, nonblocking),
 * POSIX timers (SIGEV_SIGNAL to a handler, SIGEV_THREAD_ID to a thread,
 * SIGEV_NONE, SIGEV_THREAD through the C library, periodic with
 * sigtimedwait), rt_sigtimedwait, signalfd (read, poll, epoll), select
 * and pselect6, the masks of pselect6/ppoll/epoll_pwait, signals sent to
 * the process and taken by the thread that does not block them, and a
 * blocked signal that must not interrupt a sleep. Prints what it saw;
 * the output is the same natively and under the runner. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static void check(int ok, const char *what) {
    if (!ok) {
        printf("FAIL %s (errno %d)\n", what, errno);
        exit(1);
    }
}

static void ms_sleep(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void block(int sig) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    check(sigprocmask(SIG_BLOCK, &s, NULL) == 0, "block");
}

static int blocked(int sig) {
    sigset_t s;
    sigprocmask(SIG_BLOCK, NULL, &s);
    return sigismember(&s, sig);
}

static void timerfds(void) {
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    check(fd >= 0, "timerfd_create");
    struct itimerspec its = {{0, 0}, {0, 20 * 1000000L}};
    check(timerfd_settime(fd, 0, &its, NULL) == 0, "settime one-shot");
    uint64_t n = 0;
    check(read(fd, &n, sizeof n) == 8, "read one-shot");
    printf("timerfd one-shot: %llu expiration\n", (unsigned long long)n);

    struct itimerspec cur;
    check(timerfd_gettime(fd, &cur) == 0, "gettime");
    printf("timerfd disarmed: %ld %ld\n", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec);

    its.it_interval.tv_nsec = 10 * 1000000L;
    its.it_value.tv_nsec = 10 * 1000000L;
    check(timerfd_settime(fd, 0, &its, NULL) == 0, "settime periodic");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 7};
    check(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0, "epoll_ctl");
    uint64_t total = 0;
    for (int i = 0; i < 3; i++) {
        struct epoll_event got;
        check(epoll_wait(ep, &got, 1, 5000) == 1 && got.data.u64 == 7, "epoll_wait timerfd");
        check(read(fd, &n, sizeof n) == 8 && n >= 1, "read periodic");
        total += n;
    }
    printf("timerfd periodic: readable 3 times, at least 3 expirations: %d\n", total >= 3);

    its.it_interval.tv_sec = 1;
    its.it_interval.tv_nsec = 0;
    its.it_value.tv_sec = 1;
    its.it_value.tv_nsec = 0;
    struct itimerspec old;
    check(timerfd_settime(fd, 0, &its, &old) == 0, "settime 1s");
    printf("timerfd old interval: %ld ms\n", old.it_interval.tv_nsec / 1000000L);
    check(timerfd_gettime(fd, &cur) == 0, "gettime armed");
    printf("timerfd armed: interval %ld s, value in (0, 1 s]: %d\n", (long)cur.it_interval.tv_sec,
           cur.it_value.tv_sec * 1000000000L + cur.it_value.tv_nsec > 0 &&
               cur.it_value.tv_sec * 1000000000L + cur.it_value.tv_nsec <= 1000000000L);
    close(ep);
    close(fd);

    fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
    check(fd >= 0, "timerfd realtime");
    check(read(fd, &n, sizeof n) == -1 && errno == EAGAIN, "nonblocking read");
    printf("timerfd nonblocking read: EAGAIN\n");
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    now.tv_nsec += 30 * 1000000L;
    if (now.tv_nsec >= 1000000000L) {
        now.tv_sec++;
        now.tv_nsec -= 1000000000L;
    }
    struct itimerspec abs = {{0, 0}, now};
    check(timerfd_settime(fd, TFD_TIMER_ABSTIME, &abs, NULL) == 0, "settime abs");
    struct pollfd p = {fd, POLLIN, 0};
    check(poll(&p, 1, 5000) == 1 && (p.revents & POLLIN), "poll abs");
    check(read(fd, &n, sizeof n) == 8, "read abs");
    printf("timerfd absolute realtime: %llu expiration\n", (unsigned long long)n);
    check(timerfd_create(12345, 0) == -1 && errno == EINVAL, "bad clock");
    close(fd);
}

static volatile sig_atomic_t handled_code, handled_value, handled;

static void on_timer(int sig, siginfo_t *info, void *uc) {
    (void)uc;
    handled_code = info->si_code;
    handled_value = info->si_value.sival_int;
    handled = sig;
}

/* The kernel's struct sigevent, for SIGEV_THREAD_ID (the C libraries name
 * its thread-id field differently). */
struct ksigevent {
    union sigval value;
    int signo;
    int notify;
    int tid;
    int pad[11];
};

static pid_t waiter_tid;
static sem_t waiter_ready;

static void *thread_id_waiter(void *arg) {
    (void)arg;
    waiter_tid = syscall(SYS_gettid);
    sem_post(&waiter_ready);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    siginfo_t info;
    int sig = sigwaitinfo(&s, &info);
    printf("SIGEV_THREAD_ID: the thread took %s, SI_TIMER %d, value %d\n",
           sig == SIGUSR2 ? "SIGUSR2" : "?", info.si_code == SI_TIMER, info.si_value.sival_int);
    return NULL;
}

static sem_t thread_fired;
static volatile int thread_value;

static void on_thread_timer(union sigval v) {
    thread_value = v.sival_int;
    sem_post(&thread_fired);
}

static void posix_timers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_timer;
    sa.sa_flags = SA_SIGINFO;
    check(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGUSR1;
    sev.sigev_value.sival_int = 42;
    timer_t t;
    check(timer_create(CLOCK_MONOTONIC, &sev, &t) == 0, "timer_create");
    struct itimerspec its = {{0, 0}, {0, 10 * 1000000L}};
    check(timer_settime(t, 0, &its, NULL) == 0, "timer_settime");
    while (!handled)
        pause();
    printf("SIGEV_SIGNAL: handler got SIGUSR1, SI_TIMER %d, value %d\n",
           handled_code == SI_TIMER, (int)handled_value);

    /* Periodic, blocked, taken with sigtimedwait. */
    block(SIGUSR1);
    its.it_interval.tv_nsec = 5 * 1000000L;
    its.it_value.tv_nsec = 5 * 1000000L;
    check(timer_settime(t, 0, &its, NULL) == 0, "periodic");
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    int got = 0;
    for (int i = 0; i < 3; i++) {
        struct timespec limit = {5, 0};
        siginfo_t info;
        if (sigtimedwait(&s, &info, &limit) == SIGUSR1 && info.si_code == SI_TIMER &&
            info.si_value.sival_int == 42)
            got++;
    }
    printf("periodic timer: %d signals taken with sigtimedwait\n", got);
    check(timer_delete(t) == 0, "timer_delete");
    /* The last expiry may still be pending: take it. */
    struct timespec zero = {0, 0};
    sigtimedwait(&s, NULL, &zero);

    /* SIGEV_NONE: only gettime shows it. */
    sev.sigev_notify = SIGEV_NONE;
    check(timer_create(CLOCK_REALTIME, &sev, &t) == 0, "timer_create none");
    its.it_interval.tv_nsec = 0;
    its.it_value.tv_sec = 2;
    its.it_value.tv_nsec = 0;
    check(timer_settime(t, 0, &its, NULL) == 0, "settime none");
    struct itimerspec cur;
    check(timer_gettime(t, &cur) == 0, "gettime none");
    printf("SIGEV_NONE: armed %d, overrun %d\n", cur.it_value.tv_sec >= 1, timer_getoverrun(t));
    timer_delete(t);

    /* SIGEV_THREAD_ID, to a thread waiting in sigwaitinfo. */
    block(SIGUSR2);
    sem_init(&waiter_ready, 0, 0);
    pthread_t th;
    check(pthread_create(&th, NULL, thread_id_waiter, NULL) == 0, "pthread_create");
    sem_wait(&waiter_ready);
    struct ksigevent k;
    memset(&k, 0, sizeof k);
    k.value.sival_int = 7;
    k.signo = SIGUSR2;
    k.notify = 4; /* SIGEV_THREAD_ID */
    k.tid = waiter_tid;
    int kid = -1;
    check(syscall(SYS_timer_create, CLOCK_MONOTONIC, &k, &kid) == 0, "timer_create thread id");
    struct itimerspec kits = {{0, 0}, {0, 10 * 1000000L}};
    check(syscall(SYS_timer_settime, kid, 0, &kits, NULL) == 0, "settime thread id");
    pthread_join(th, NULL);
    syscall(SYS_timer_delete, kid);

    /* SIGEV_THREAD: the C library runs the function on a thread. */
    sem_init(&thread_fired, 0, 0);
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD;
    sev.sigev_notify_function = on_thread_timer;
    sev.sigev_value.sival_int = 99;
    check(timer_create(CLOCK_MONOTONIC, &sev, &t) == 0, "timer_create thread");
    its.it_value.tv_sec = 0;
    its.it_value.tv_nsec = 10 * 1000000L;
    check(timer_settime(t, 0, &its, NULL) == 0, "settime thread");
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    check(sem_timedwait(&thread_fired, &until) == 0, "SIGEV_THREAD fired");
    printf("SIGEV_THREAD: the function ran with value %d\n", thread_value);
    timer_delete(t);
}

static void *process_signal_taker(void *arg) {
    (void)arg;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    siginfo_t info;
    int sig = sigwaitinfo(&s, &info);
    printf("kill to the process: a thread took %s, SI_USER %d, from itself %d\n",
           sig == SIGUSR1 ? "SIGUSR1" : "?", info.si_code == SI_USER, info.si_pid == getpid());
    return NULL;
}

static void sigwaits(void) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    struct timespec t20 = {0, 20 * 1000000L};
    check(sigtimedwait(&s, NULL, &t20) == -1 && errno == EAGAIN, "sigtimedwait timeout");
    printf("sigtimedwait with nothing pending: EAGAIN\n");

    /* SIGUSR1 is blocked in this thread (and so in the new one); the new
     * one waits for it, this one sends it to the process. */
    pthread_t th;
    check(pthread_create(&th, NULL, process_signal_taker, NULL) == 0, "pthread_create");
    ms_sleep(20);
    check(kill(getpid(), SIGUSR1) == 0, "kill");
    pthread_join(th, NULL);

    /* signalfd: read, poll, epoll, nonblocking. */
    block(SIGUSR2);
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    int sfd = signalfd(-1, &s, SFD_CLOEXEC | SFD_NONBLOCK);
    check(sfd >= 0, "signalfd");
    struct signalfd_siginfo si;
    check(read(sfd, &si, sizeof si) == -1 && errno == EAGAIN, "signalfd empty");
    struct pollfd p = {sfd, POLLIN, 0};
    check(poll(&p, 1, 0) == 0, "signalfd not readable");
    check(kill(getpid(), SIGUSR2) == 0, "kill SIGUSR2");
    check(poll(&p, 1, 1000) == 1 && (p.revents & POLLIN), "signalfd readable");
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 3};
    check(epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev) == 0, "epoll signalfd");
    struct epoll_event got;
    check(epoll_wait(ep, &got, 1, 1000) == 1, "epoll signalfd readable");
    check(read(sfd, &si, sizeof si) == sizeof si, "signalfd read");
    printf("signalfd: SIGUSR2 %d, SI_USER %d, from itself %d; then empty %d\n",
           si.ssi_signo == SIGUSR2, si.ssi_code == SI_USER, (pid_t)si.ssi_pid == getpid(),
           read(sfd, &si, sizeof si) == -1 && errno == EAGAIN);
    close(ep);
    close(sfd);
}

static volatile sig_atomic_t interrupted;

static void on_usr1(int sig) {
    (void)sig;
    interrupted++;
}

static pthread_t main_thread;

static void *poke_main(void *arg) {
    ms_sleep((long)(intptr_t)arg);
    pthread_kill(main_thread, SIGUSR1);
    return NULL;
}

static void poke_later(pthread_t *th, long ms) {
    check(pthread_create(th, NULL, poke_main, (void *)(intptr_t)ms) == 0, "poke");
}

static void selects(void) {
    int pfd[2];
    check(pipe(pfd) == 0, "pipe");
    fd_set r, w;
    FD_ZERO(&r);
    FD_SET(pfd[0], &r);
    struct timeval tv = {0, 30000};
    int n = select(pfd[0] + 1, &r, NULL, NULL, &tv);
    printf("select on an empty pipe: %d, time left %ld.%06ld\n", n, (long)tv.tv_sec,
           (long)tv.tv_usec);
    check(write(pfd[1], "x", 1) == 1, "write");
    FD_ZERO(&r);
    FD_SET(pfd[0], &r);
    FD_ZERO(&w);
    FD_SET(pfd[1], &w);
    n = select(pfd[1] + 1, &r, &w, NULL, NULL);
    printf("select: %d ready, read end %d, write end %d\n", n, FD_ISSET(pfd[0], &r),
           FD_ISSET(pfd[1], &w));
    /* A descriptor just closed (a fixed number could be open natively). */
    int closed = dup(pfd[0]);
    check(closed >= 0 && close(closed) == 0, "dup");
    FD_ZERO(&r);
    FD_SET(closed, &r);
    check(select(closed + 1, &r, NULL, NULL, NULL) == -1 && errno == EBADF, "select EBADF");
    printf("select on a closed descriptor: EBADF\n");
    char c;
    check(read(pfd[0], &c, 1) == 1, "drain");

    /* The masks of pselect, ppoll and epoll_pwait: SIGUSR1 is blocked
     * except during the wait, where another thread's signal interrupts it. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    check(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction usr1");
    block(SIGUSR1);
    main_thread = pthread_self();
    sigset_t open;
    sigprocmask(SIG_BLOCK, NULL, &open);
    sigdelset(&open, SIGUSR1);
    pthread_t th;

    poke_later(&th, 20);
    FD_ZERO(&r);
    FD_SET(pfd[0], &r);
    n = pselect(pfd[0] + 1, &r, NULL, NULL, NULL, &open);
    printf("pselect: %d errno EINTR %d, handler ran %d, still blocked %d\n", n, errno == EINTR,
           (int)interrupted, blocked(SIGUSR1));
    pthread_join(th, NULL);

    poke_later(&th, 20);
    struct pollfd p = {pfd[0], POLLIN, 0};
    n = ppoll(&p, 1, NULL, &open);
    printf("ppoll: %d errno EINTR %d, handler ran %d, still blocked %d\n", n, errno == EINTR,
           (int)interrupted, blocked(SIGUSR1));
    pthread_join(th, NULL);

    poke_later(&th, 20);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN};
    epoll_ctl(ep, EPOLL_CTL_ADD, pfd[0], &ev);
    n = epoll_pwait(ep, &ev, 1, -1, &open);
    printf("epoll_pwait: %d errno EINTR %d, handler ran %d, still blocked %d\n", n,
           errno == EINTR, (int)interrupted, blocked(SIGUSR1));
    pthread_join(th, NULL);

    /* A blocked signal does not interrupt a sleep: it stays pending. */
    poke_later(&th, 10);
    struct timespec t50 = {0, 50 * 1000000L};
    n = nanosleep(&t50, NULL);
    pthread_join(th, NULL);
    sigset_t pend;
    sigpending(&pend);
    printf("nanosleep with SIGUSR1 blocked and sent: %d, pending %d, handler ran %d\n", n,
           sigismember(&pend, SIGUSR1), (int)interrupted);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, SIGUSR1);
    sigprocmask(SIG_UNBLOCK, &one, NULL);
    printf("unblocked: handler ran %d\n", (int)interrupted);
    close(ep);
    close(pfd[0]);
    close(pfd[1]);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    timerfds();
    posix_timers();
    sigwaits();
    selects();
    printf("done\n");
    return 0;
}

/* sigqueue: signals sent with data (sigqueue, rt_sigqueueinfo,
 * rt_tgsigqueueinfo), and real-time signals queued, as a program sees them
 * on Linux. One line per check, then "done" (exit 0):
 *
 *   handlers   three SIGRTMIN+1 queued while blocked run the handler three
 *              times, in order, each with its value, SI_QUEUE and the
 *              sender's pid; two SIGUSR1 (a standard signal) run it once,
 *              with the first one's value. Linux sets up SIGUSR1's frame
 *              first (the lowest number), then SIGRTMIN+1's over it, so the
 *              real-time handlers run first: "1 2 3 1007"
 *   sigwait    two queued SIGRTMIN+2 are taken one by one by sigwaitinfo,
 *              then none is left (EAGAIN)
 *   thread     rt_tgsigqueueinfo to another thread, twice: it takes both
 *   child      sigqueue to a child process, twice: it takes both; a
 *              siginfo claiming SI_USER to another process is EPERM */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile int seen[8];
static volatile int nseen;
static volatile int bad_info;

static void on_signal(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    if (si->si_code != SI_QUEUE || si->si_pid != getpid())
        bad_info = 1;
    if (nseen < 8)
        seen[nseen++] = (sig == SIGUSR1 ? 1000 : 0) + si->si_value.sival_int;
}

static int queue_raw(long nr, pid_t tgid, pid_t tid, int sig, int code, int value) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = sig;
    si.si_code = code;
    si.si_pid = getpid();
    si.si_uid = getuid();
    si.si_value.sival_int = value;
    if (nr == SYS_rt_tgsigqueueinfo)
        return (int)syscall(nr, tgid, tid, sig, &si);
    return (int)syscall(nr, tgid, sig, &si);
}

static void handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGRTMIN + 1, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN + 1);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, &old);
    for (int v = 1; v <= 3; v++)
        sigqueue(getpid(), SIGRTMIN + 1, (union sigval){.sival_int = v});
    sigqueue(getpid(), SIGUSR1, (union sigval){.sival_int = 7});
    sigqueue(getpid(), SIGUSR1, (union sigval){.sival_int = 8});
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("handlers:");
    for (int i = 0; i < nseen; i++)
        printf(" %d", seen[i]);
    printf("%s\n", bad_info ? " (wrong siginfo)" : "");
}

static void sigwait_queued(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN + 2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sigqueue(getpid(), SIGRTMIN + 2, (union sigval){.sival_int = 10});
    sigqueue(getpid(), SIGRTMIN + 2, (union sigval){.sival_int = 20});
    siginfo_t a, b;
    int ra = sigwaitinfo(&set, &a), rb = sigwaitinfo(&set, &b);
    struct timespec zero = {0, 0};
    int rc = sigtimedwait(&set, NULL, &zero);
    printf("sigwait: %d %d, %d %d, then %s\n", ra == SIGRTMIN + 2, a.si_value.sival_int,
           rb == SIGRTMIN + 2, b.si_value.sival_int, rc == -1 && errno == EAGAIN ? "EAGAIN" : "more");
}

static int pipefd[2];
static volatile pid_t thread_tid;

static void *taker(void *arg) {
    (void)arg;
    thread_tid = (pid_t)syscall(SYS_gettid);
    char c = 't';
    if (write(pipefd[1], &c, 1) != 1)
        return NULL;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN + 3);
    siginfo_t a, b;
    sigwaitinfo(&set, &a);
    sigwaitinfo(&set, &b);
    printf("thread: %d %d\n", a.si_value.sival_int, b.si_value.sival_int);
    return NULL;
}

static void to_thread(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN + 3);
    sigprocmask(SIG_BLOCK, &set, NULL);
    if (pipe(pipefd) != 0)
        return;
    pthread_t t;
    pthread_create(&t, NULL, taker, NULL);
    char c;
    if (read(pipefd[0], &c, 1) != 1)
        return;
    queue_raw(SYS_rt_tgsigqueueinfo, getpid(), thread_tid, SIGRTMIN + 3, SI_QUEUE, 42);
    queue_raw(SYS_rt_tgsigqueueinfo, getpid(), thread_tid, SIGRTMIN + 3, SI_QUEUE, 43);
    pthread_join(t, NULL);
}

static void to_child(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN + 4);
    sigprocmask(SIG_BLOCK, &set, NULL);
    pid_t child = fork();
    if (child == 0) {
        siginfo_t a, b;
        sigwaitinfo(&set, &a);
        sigwaitinfo(&set, &b);
        _exit(a.si_value.sival_int * 10 + b.si_value.sival_int);
    }
    sigqueue(child, SIGRTMIN + 4, (union sigval){.sival_int = 5});
    sigqueue(child, SIGRTMIN + 4, (union sigval){.sival_int = 6});
    errno = 0;
    int forged = queue_raw(SYS_rt_sigqueueinfo, child, 0, SIGRTMIN + 4, SI_USER, 9);
    int forged_errno = errno;
    int status = 0;
    waitpid(child, &status, 0);
    printf("child: %d, forged SI_USER: %s\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
           forged == -1 && forged_errno == EPERM ? "EPERM" : "sent");
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    handlers();
    sigwait_queued();
    to_thread();
    to_child();
    printf("done\n");
    return 0;
}

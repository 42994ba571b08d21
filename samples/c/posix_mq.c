/* posix_mq.c - POSIX message queues: the same lines natively and in the
 * sandbox (where the queues are the sandbox's own). Creating, exclusive
 * creation, attributes, priorities (highest first, oldest first within
 * one), O_NONBLOCK's EAGAIN, EMSGSIZE, timed sends and receives that time
 * out, EINTR and SA_RESTART, mq_notify with SIGEV_SIGNAL (one-shot,
 * EBUSY, removed by NULL and by close, from a child too, none while a
 * receiver waits) and SIGEV_NONE, a queue shared with a forked child,
 * close-on-exec, unlink while open, poll/select/epoll readiness, fstat
 * and the status line a read shows, and Linux's errors (bad names,
 * EBADF, EINVAL). Errors print as errno names, so the lines do not depend
 * on the C library's messages. Every queue it makes is unlinked.
 *   (no argument)   everything above
 *   fd-after-exec FD   whether descriptor FD is still open
 *   limits          what the sandbox bounds (run in the sandbox only:
 *                   natively they depend on the user and its capabilities)
 *   thread          mq_notify with SIGEV_THREAD
 *   create NAME | probe NAME | remove NAME   one queue by name (a host's,
 *                   natively) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mqueue.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *ename(int e)
{
    switch (e) {
    case 0: return "ok";
    case EACCES: return "EACCES";
    case EAGAIN: return "EAGAIN";
    case EBADF: return "EBADF";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EFAULT: return "EFAULT";
    case EINTR: return "EINTR";
    case EINVAL: return "EINVAL";
    case EMFILE: return "EMFILE";
    case EMSGSIZE: return "EMSGSIZE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOENT: return "ENOENT";
    case ENOSPC: return "ENOSPC";
    case ENOSYS: return "ENOSYS";
    case ENOTSOCK: return "ENOTSOCK";
    case EPERM: return "EPERM";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    default: return "another error";
    }
}

/* "ok" for a call that returned `r` >= 0, else its errno's name: taken
 * right after the call (a later one may change errno). */
static const char *err(long r) { return r < 0 ? ename(errno) : "ok"; }

static char names[16][64];
static int nnames;

/* A name of this run: the pid keeps native runs apart. */
static const char *qname(const char *tag)
{
    char *n = names[nnames++ % 16];
    snprintf(n, 64, "/pmq_%d_%s", (int)getpid(), tag);
    return n;
}

/* A new queue of `maxmsg` messages of `msgsize` bytes (0: the defaults)
 * that only its descriptor names: made, then unlinked. */
static mqd_t private_queue(const char *tag, long maxmsg, long msgsize, int flags)
{
    const char *name = qname(tag);
    struct mq_attr attr = {.mq_maxmsg = maxmsg, .mq_msgsize = msgsize};
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL | flags, 0600, maxmsg ? &attr : NULL);
    int e = errno;
    mq_unlink(name);
    errno = e;
    return q;
}

/* Waits for `child` (a notification's handler may interrupt the wait);
 * its wait status. */
static int reap(pid_t child)
{
    int status = -1;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
}

static void nap(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static long ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* An absolute CLOCK_REALTIME time `ms` from now. */
static struct timespec in_ms(long ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static volatile sig_atomic_t notified, note_code, note_value, note_pid, note_uid, handled;

static void on_note(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    notified++;
    note_code = si->si_code;
    note_value = si->si_value.sival_int;
    note_pid = si->si_pid;
    note_uid = si->si_uid;
}

static void on_alarm(int sig) { (void)sig; handled++; }

/* Installs `fn` for `sig`, or `info` with SA_SIGINFO when it is given. */
static void install(int sig, void (*fn)(int), void (*info)(int, siginfo_t *, void *), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    if (info)
        sa.sa_sigaction = info;
    else
        sa.sa_handler = fn;
    sa.sa_flags = flags | (info ? SA_SIGINFO : 0);
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static void handle(int sig, void (*fn)(int), int flags) { install(sig, fn, NULL, flags); }

static void alarm_ms(long ms)
{
    struct itimerval it = {{0, 0}, {ms / 1000, (ms % 1000) * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

static int register_signal(mqd_t q, int sig, int value)
{
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = sig;
    ev.sigev_value.sival_int = value;
    return mq_notify(q, &ev);
}

static void send_one(mqd_t q, const char *text, unsigned prio)
{
    if (mq_send(q, text, strlen(text), prio) < 0)
        printf("mq_send %s: %s\n", text, ename(errno));
}

/* Receives everything queued (nonblocking) and prints it. */
static void drain(mqd_t q, const char *what)
{
    struct mq_attr a, nb = {.mq_flags = O_NONBLOCK};
    mq_setattr(q, &nb, &a);
    char buf[8192];
    unsigned prio;
    ssize_t n;
    printf("%s:", what);
    while ((n = mq_receive(q, buf, sizeof buf, &prio)) >= 0)
        printf(" [%.*s %u]", (int)n, buf, prio);
    printf(" then %s\n", ename(errno));
    mq_setattr(q, &a, NULL);
}

static void print_attr(mqd_t q, const char *what)
{
    struct mq_attr a;
    memset(&a, 0x55, sizeof a);
    int r = mq_getattr(q, &a);
    printf("%s: %s flags %s maxmsg %ld msgsize %ld curmsgs %ld\n", what, err(r),
           a.mq_flags & O_NONBLOCK ? "O_NONBLOCK" : "0", a.mq_maxmsg, a.mq_msgsize,
           a.mq_curmsgs);
}

/* Whether /proc/self/fd/FD links to the queue `name` + `suffix`. */
static const char *links_to(mqd_t q, const char *name, const char *suffix)
{
    static char link[128];
    char path[64], want[128];
    snprintf(path, sizeof path, "/proc/self/fd/%d", (int)q);
    snprintf(want, sizeof want, "%s%s", name, suffix);
    ssize_t n = readlink(path, link, sizeof link - 1);
    link[n > 0 ? n : 0] = 0;
    return strcmp(link, want) == 0 ? "yes" : link;
}

static void opening(void)
{
    printf("-- opening\n");
    const char *name = qname("open");
    struct mq_attr attr = {.mq_maxmsg = 4, .mq_msgsize = 64};
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0640, &attr);
    printf("create: %s\n", err(q));
    mqd_t again = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0640, &attr);
    printf("create again, exclusive: %s\n", err(again));
    mqd_t ro = mq_open(name, O_RDONLY);
    printf("open existing read-only: %s\n", err(ro));
    struct mq_attr bad = {.mq_maxmsg = 0, .mq_msgsize = 1};
    mqd_t existing = mq_open(name, O_WRONLY | O_CREAT, 0600, &bad);
    printf("O_CREAT of an existing one ignores its attributes: %s\n", err(existing));
    mqd_t both = mq_open(name, O_RDWR | O_WRONLY);
    printf("access mode 3 on an existing one: %s\n", err(both));
    mqd_t missing = mq_open(qname("missing"), O_RDONLY);
    printf("open missing: %s\n", err(missing));
    int fd = fcntl(q, F_GETFD), fl = fcntl(q, F_GETFL);
    printf("close-on-exec: %s, access %s%s\n", fd & FD_CLOEXEC ? "yes" : "no",
           (fl & O_ACCMODE) == O_RDWR ? "O_RDWR" : "other", fl & O_NONBLOCK ? " O_NONBLOCK" : "");
    fl = fcntl(ro, F_GETFL);
    printf("the read-only one: %s\n", (fl & O_ACCMODE) == O_RDONLY ? "O_RDONLY" : "other");
    print_attr(q, "attributes");
    mqd_t dflt = private_queue("default", 0, 0, O_NONBLOCK);
    print_attr(dflt, "default attributes");
    mq_close(dflt);
    struct mq_attr zero = {.mq_maxmsg = 0, .mq_msgsize = 64};
    mqd_t z = mq_open(qname("zero"), O_RDWR | O_CREAT, 0600, &zero);
    printf("mq_maxmsg 0: %s\n", err(z));
    struct mq_attr neg = {.mq_maxmsg = 1, .mq_msgsize = -1};
    z = mq_open(qname("neg"), O_RDWR | O_CREAT, 0600, &neg);
    printf("mq_msgsize -1: %s\n", err(z));
    struct stat st;
    int r = fstat(q, &st);
    printf("fstat: %s regular %s mode %o size %ld links %ld\n", err(r), S_ISREG(st.st_mode) ? "yes" : "no",
           (unsigned)(st.st_mode & 0777), (long)st.st_size, (long)st.st_nlink);
    printf("/proc/self/fd links to its name: %s\n", links_to(q, name, ""));
    mq_close(existing);
    mq_close(ro);
    r = mq_unlink(name);
    printf("unlink: %s\n", err(r));
    r = mq_unlink(name);
    printf("unlink again: %s\n", err(r));
    r = fstat(q, &st);
    printf("fstat after unlink: %s links %ld\n", err(r), (long)st.st_nlink);
    printf("then to its name, deleted: %s\n", links_to(q, name, " (deleted)"));
    mq_close(q);
}

static void priorities(void)
{
    printf("-- priorities\n");
    mqd_t q = private_queue("prio", 8, 32, 0);
    send_one(q, "low", 1);
    send_one(q, "high", 9);
    send_one(q, "mid", 5);
    send_one(q, "high-2", 9);
    send_one(q, "zero", 0);
    send_one(q, "", 5);
    send_one(q, "top", 32767);
    int r = mq_send(q, "x", 1, 32768);
    printf("priority 32768: %s\n", err(r));
    print_attr(q, "queued");
    drain(q, "received");
    char big[65];
    memset(big, 'b', sizeof big);
    r = mq_send(q, big, 33, 0);
    printf("33 bytes to a 32-byte queue: %s\n", err(r));
    r = mq_send(q, big, 32, 0);
    printf("32 bytes: %s\n", err(r));
    char buf[64];
    ssize_t n = mq_receive(q, buf, 31, NULL);
    printf("receive into 31 bytes: %s\n", err(n));
    n = mq_receive(q, buf, 32, NULL);
    printf("receive into 32 bytes: %zd\n", n);
    mq_close(q);
}

static void nonblocking(void)
{
    printf("-- nonblocking\n");
    mqd_t q = private_queue("nb", 3, 16, O_NONBLOCK);
    print_attr(q, "opened O_NONBLOCK");
    char buf[16];
    ssize_t n = mq_receive(q, buf, sizeof buf, NULL);
    printf("receive from empty: %s\n", err(n));
    for (int i = 0; i < 3; i++)
        send_one(q, "m", i);
    int r = mq_send(q, "m", 1, 0);
    printf("send to full: %s\n", err(r));
    print_attr(q, "full");
    struct mq_attr set = {.mq_flags = 0}, old;
    r = mq_setattr(q, &set, &old);
    printf("mq_setattr: %s, was %s\n", err(r), old.mq_flags & O_NONBLOCK ? "O_NONBLOCK" : "0");
    struct mq_attr huge = {.mq_flags = 0, .mq_maxmsg = 99, .mq_msgsize = 99};
    r = mq_setattr(q, &huge, NULL);
    print_attr(q, "mq_setattr changes only the flags");
    struct mq_attr badflags = {.mq_flags = O_NONBLOCK | O_APPEND};
    r = mq_setattr(q, &badflags, NULL);
    printf("mq_setattr with other flags: %s\n", err(r));
    r = fcntl(q, F_SETFL, O_NONBLOCK);
    print_attr(q, "after F_SETFL O_NONBLOCK");
    int d = dup(q);
    fcntl(q, F_SETFL, 0);
    print_attr(d, "a dup shares the description");
    struct timespec t0, past = {0, 0};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct timespec when = in_ms(100);
    r = mq_timedsend(q, "m", 1, 0, &when);
    long waited = ms_since(&t0);
    printf("timed send to full: %s, waited 90 ms or more: %s\n", err(r), waited >= 90 ? "yes" : "no");
    r = mq_timedsend(q, "m", 1, 0, &past);
    printf("send to full with a past timeout: %s\n", err(r));
    n = mq_timedreceive(q, buf, sizeof buf, NULL, &past);
    printf("receive with a past timeout, messages queued: %s\n", err(n));
    struct timespec bad = {0, 1000000000L};
    n = mq_timedreceive(q, buf, sizeof buf, NULL, &bad);
    printf("receive with tv_nsec 1000000000: %s\n", err(n));
    struct timespec neg = {-1, 0};
    r = mq_timedsend(q, "m", 1, 0, &neg);
    printf("send with tv_sec -1: %s\n", err(r));
    drain(q, "drained");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    when = in_ms(100);
    n = mq_timedreceive(q, buf, sizeof buf, NULL, &when);
    waited = ms_since(&t0);
    printf("timed receive from empty: %s, waited 90 ms or more: %s\n", err(n), waited >= 90 ? "yes" : "no");
    n = mq_timedreceive(q, buf, sizeof buf, NULL, &past);
    printf("receive from empty with a past timeout: %s\n", err(n));
    close(d);
    mq_close(q);
}

static void interrupted(void)
{
    printf("-- signals\n");
    mqd_t q = private_queue("intr", 2, 16, 0);
    char buf[16];
    handled = 0;
    handle(SIGALRM, on_alarm, 0);
    alarm_ms(50);
    ssize_t n = mq_receive(q, buf, sizeof buf, NULL);
    printf("receive, handler without SA_RESTART: %s, handled %d\n", err(n), (int)handled);
    handled = 0;
    handle(SIGALRM, on_alarm, SA_RESTART);
    alarm_ms(50);
    struct timespec when = in_ms(250);
    n = mq_timedreceive(q, buf, sizeof buf, NULL, &when);
    printf("timed receive, handler with SA_RESTART: %s, handled %d\n", err(n), (int)handled);
    send_one(q, "a", 0);
    send_one(q, "b", 0);
    handled = 0;
    handle(SIGALRM, on_alarm, 0);
    alarm_ms(50);
    int r = mq_send(q, "c", 1, 0);
    printf("send to full, handler without SA_RESTART: %s, handled %d\n", err(r), (int)handled);
    /* With SA_RESTART: the send goes on, and a child makes room. */
    handled = 0;
    handle(SIGALRM, on_alarm, SA_RESTART);
    pid_t child = fork();
    if (child == 0) {
        nap(300);
        mq_receive(q, buf, sizeof buf, NULL);
        _exit(0);
    }
    alarm_ms(50);
    r = mq_send(q, "c", 1, 0);
    printf("send to full, handler with SA_RESTART, a child receives: %s, handled %d\n", err(r),
           (int)handled);
    reap(child);
    drain(q, "left");
    handle(SIGALRM, SIG_DFL, 0);
    mq_close(q);
}

static void notifications(void)
{
    printf("-- notifications\n");
    const char *name = qname("note");
    struct mq_attr attr = {.mq_maxmsg = 4, .mq_msgsize = 16};
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    install(SIGUSR1, NULL, on_note, 0);
    install(SIGUSR2, NULL, on_note, 0);
    int r = register_signal(q, SIGUSR1, 42);
    printf("register SIGUSR1: %s\n", err(r));
    r = register_signal(q, SIGUSR1, 43);
    printf("register again: %s\n", err(r));
    char line[128] = {0};
    ssize_t n = pread(q, line, sizeof line - 1, 0);
    char *pid_at = strstr(line, "NOTIFY_PID:");
    int shown = pid_at ? atoi(pid_at + 11) : -1;
    if (pid_at)
        *pid_at = 0;
    printf("status line: %s [%s] the pid is mine: %s\n", err(n), line, shown == getpid() ? "yes" : "no");
    send_one(q, "one", 3);
    printf("after a send to the empty queue: notified %d, code %s, value %d, pid mine %s, uid mine %s\n",
           (int)notified, note_code == SI_MESGQ ? "SI_MESGQ" : "other", (int)note_value,
           note_pid == getpid() ? "yes" : "no", note_uid == (int)getuid() ? "yes" : "no");
    send_one(q, "two", 3);
    drain(q, "received");
    send_one(q, "three", 3);
    printf("one-shot: notified %d\n", (int)notified);
    /* Registered while messages are queued: only an empty queue that gets
     * one notifies. */
    r = register_signal(q, SIGUSR1, 44);
    send_one(q, "four", 3);
    printf("registered with a message queued, another sent: %s, notified %d\n", err(r), (int)notified);
    drain(q, "received");
    send_one(q, "five", 3);
    printf("then the empty queue gets one: notified %d, value %d\n", (int)notified, (int)note_value);
    drain(q, "received");
    const char *e1 = err(register_signal(q, SIGUSR1, 45));
    const char *e2 = err(mq_notify(q, NULL));
    send_one(q, "six", 3);
    printf("register %s, remove %s, send: notified %d\n", e1, e2, (int)notified);
    r = mq_notify(q, NULL);
    printf("remove with none registered: %s\n", err(r));
    drain(q, "received");
    /* A close of any descriptor of the queue removes the registration. */
    mqd_t other = mq_open(name, O_RDONLY);
    e1 = err(register_signal(q, SIGUSR1, 46));
    mq_close(other);
    e2 = err(register_signal(q, SIGUSR1, 47));
    printf("register %s, close another descriptor, register again: %s\n", e1, e2);
    mq_notify(q, NULL);
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_NONE;
    e1 = err(mq_notify(q, &ev));
    e2 = err(register_signal(q, SIGUSR1, 48));
    send_one(q, "seven", 3);
    const char *e3 = err(register_signal(q, SIGUSR1, 49));
    printf("SIGEV_NONE: %s, then SIGUSR1: %s; a send: notified %d, then register: %s\n", e1, e2,
           (int)notified, e3);
    mq_notify(q, NULL);
    drain(q, "received");
    ev.sigev_notify = 99;
    e1 = err(mq_notify(q, &ev));
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = 65;
    e2 = err(mq_notify(q, &ev));
    e3 = err(mq_notify(STDOUT_FILENO, NULL));
    printf("sigev_notify 99: %s, signal 65: %s, on stdout: %s\n", e1, e2, e3);
    /* A child's message: its pid. Another process cannot register. */
    r = register_signal(q, SIGUSR2, 50);
    int before = notified;
    pid_t child = fork();
    if (child == 0) {
        int busy = register_signal(q, SIGUSR1, 51);
        int e = errno;
        send_one(q, "from the child", 7);
        _exit(busy < 0 && e == EBUSY ? 0 : 1);
    }
    int status;
    status = reap(child);
    while (notified == before)
        nap(1);
    printf("the child's registration: %s; its message notified: value %d, pid the child's %s\n",
           WEXITSTATUS(status) == 0 ? "EBUSY" : "other", (int)note_value,
           note_pid == child ? "yes" : "no");
    drain(q, "received");
    /* A receiver waiting takes the message: no notification. */
    e1 = err(register_signal(q, SIGUSR1, 52));
    before = notified;
    int ready[2];
    if (pipe(ready) < 0)
        return;
    child = fork();
    if (child == 0) {
        char buf[16];
        close(ready[0]);
        if (write(ready[1], "r", 1) != 1)
            _exit(2);
        ssize_t got = mq_receive(q, buf, sizeof buf, NULL);
        _exit(got == 4 && memcmp(buf, "wait", 4) == 0 ? 0 : 1);
    }
    close(ready[1]);
    char c;
    if (read(ready[0], &c, 1) != 1)
        printf("the child did not start\n");
    close(ready[0]);
    nap(200);
    send_one(q, "wait", 1);
    status = reap(child);
    e2 = err(register_signal(q, SIGUSR1, 53));
    printf("register %s; a waiting child received: %s; notified %d; registering again: %s\n", e1,
           WEXITSTATUS(status) == 0 ? "yes" : "no", notified - before, e2);
    mq_notify(q, NULL);
    mq_unlink(name);
    mq_close(q);
}

static void shared_with_a_child(const char *self)
{
    printf("-- a child\n");
    const char *name = qname("child");
    struct mq_attr attr = {.mq_maxmsg = 4, .mq_msgsize = 32};
    mqd_t q = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
    pid_t child = fork();
    if (child == 0) {
        /* The parent waits in mq_receive by now: it gets the first. */
        nap(100);
        send_one(q, "child 1", 1);
        send_one(q, "child 2", 2);
        send_one(q, "child 3", 1);
        char buf[32], got[64];
        unsigned prio = 0;
        ssize_t n = mq_receive(q, buf, sizeof buf, &prio);
        snprintf(got, sizeof got, "got %.*s %u", (int)(n > 0 ? n : 0), buf, prio);
        /* Opened by name in the child too. */
        mqd_t again = mq_open(name, O_WRONLY);
        send_one(again, got, 0);
        _exit(0);
    }
    char buf[32];
    unsigned prio = 0;
    ssize_t n = mq_receive(q, buf, sizeof buf, &prio);
    printf("parent waited and received: [%.*s %u]\n", (int)(n > 0 ? n : 0), buf, prio);
    reap(child);
    drain(q, "after the child");
    /* Close-on-exec: the descriptor is gone in the new program. */
    fflush(stdout);
    child = fork();
    if (child == 0) {
        char fd[16];
        snprintf(fd, sizeof fd, "%d", (int)q);
        char *argv[] = {(char *)self, "fd-after-exec", fd, NULL};
        execv(self, argv);
        printf("execv: %s\n", ename(errno));
        _exit(1);
    }
    reap(child);
    mq_unlink(name);
    mq_close(q);
}

static void readiness(void)
{
    printf("-- readiness\n");
    mqd_t q = private_queue("poll", 2, 16, 0);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ee = {.events = EPOLLIN | EPOLLOUT, .data.u32 = 7};
    int r = epoll_ctl(ep, EPOLL_CTL_ADD, q, &ee);
    printf("epoll_ctl: %s\n", err(r));
    for (int i = 0; i < 3; i++) {
        struct pollfd p = {.fd = q, .events = POLLIN | POLLOUT};
        int pr = poll(&p, 1, 0);
        fd_set rd, wr;
        FD_ZERO(&rd);
        FD_ZERO(&wr);
        FD_SET(q, &rd);
        FD_SET(q, &wr);
        struct timeval tv = {0, 0};
        int sr = select(q + 1, &rd, &wr, NULL, &tv);
        struct epoll_event out = {0};
        int er = epoll_wait(ep, &out, 1, 0);
        printf("%d queued: poll %d%s%s, select %d%s%s, epoll %d%s%s\n", i, pr, p.revents & POLLIN ? " IN" : "",
               p.revents & POLLOUT ? " OUT" : "", sr, FD_ISSET(q, &rd) ? " read" : "",
               FD_ISSET(q, &wr) ? " write" : "", er, out.events & EPOLLIN ? " IN" : "",
               out.events & EPOLLOUT ? " OUT" : "");
        if (i < 2)
            send_one(q, "x", 0);
    }
    /* A poll that waits for a child's send. */
    mqd_t q2 = private_queue("poll2", 2, 16, 0);
    pid_t child = fork();
    if (child == 0) {
        nap(50);
        send_one(q2, "late", 0);
        _exit(0);
    }
    struct pollfd p = {.fd = q2, .events = POLLIN};
    int pr = poll(&p, 1, 5000);
    printf("poll for a child's message: %d%s\n", pr, p.revents & POLLIN ? " IN" : "");
    reap(child);
    char line[128] = {0};
    ssize_t n = read(q2, line, 20);
    printf("read 20: %zd [%s]\n", n, line);
    n = read(q2, line, 5);
    line[n > 0 ? n : 0] = 0;
    printf("read 5 more: %zd [%s]\n", n, line);
    off_t at = lseek(q2, 0, SEEK_END);
    n = read(q2, line, sizeof line);
    printf("lseek to the end: %ld, read: %zd\n", (long)at, n);
    n = write(q2, "x", 1);
    printf("write: %s\n", err(n));
    close(ep);
    mq_close(q2);
    mq_close(q);
}

static void errors(void)
{
    printf("-- errors\n");
    mqd_t q = mq_open("noslash", O_RDONLY);
    printf("no slash: %s\n", err(q));
    q = mq_open("/", O_RDONLY);
    printf("\"/\": %s\n", err(q));
    q = mq_open("/a/b", O_RDWR | O_CREAT, 0600, NULL);
    printf("\"/a/b\": %s\n", err(q));
    q = mq_open("/.", O_RDONLY);
    printf("\"/.\": %s\n", err(q));
    q = mq_open("/..", O_RDWR | O_CREAT, 0600, NULL);
    printf("\"/..\": %s\n", err(q));
    char long_name[300];
    long_name[0] = '/';
    memset(long_name + 1, 'n', 256);
    long_name[257] = 0;
    q = mq_open(long_name, O_RDWR | O_CREAT, 0600, NULL);
    printf("256 characters: %s\n", err(q));
    long_name[256] = 0;
    q = mq_open(long_name, O_RDONLY);
    printf("255 characters, none: %s\n", err(q));
    int r = mq_unlink("/a/b");
    printf("unlink \"/a/b\": %s\n", err(r));
    r = mq_unlink(qname("none"));
    printf("unlink a missing one: %s\n", err(r));
    char buf[16];
    r = mq_send(99, "x", 1, 0);
    printf("send to a closed descriptor: %s\n", err(r));
    r = mq_send(STDOUT_FILENO, "x", 1, 0);
    printf("send to stdout: %s\n", err(r));
    ssize_t n = mq_receive(STDIN_FILENO, buf, sizeof buf, NULL);
    printf("receive from stdin: %s\n", err(n));
    struct mq_attr a;
    r = mq_getattr(STDERR_FILENO, &a);
    printf("getattr of stderr: %s\n", err(r));
    const char *name = qname("modes");
    struct mq_attr attr = {.mq_maxmsg = 2, .mq_msgsize = 16};
    mqd_t w = mq_open(name, O_WRONLY | O_CREAT | O_EXCL, 0600, &attr);
    mqd_t rd = mq_open(name, O_RDONLY);
    mq_unlink(name);
    n = mq_receive(w, buf, sizeof buf, NULL);
    printf("receive on a write-only descriptor: %s\n", err(n));
    r = mq_send(rd, "x", 1, 0);
    printf("send on a read-only descriptor: %s\n", err(r));
    const char *sent = err(mq_send(w, "x", 1, 0));
    n = mq_receive(rd, buf, sizeof buf, NULL);
    printf("send on the write-only one: %s, receive on the read-only one: %zd\n", sent, n);
    n = read(w, buf, sizeof buf);
    printf("read of the write-only one: %s\n", err(n));
    mq_close(w);
    mq_close(rd);
    r = mq_close(w);
    printf("close again: %s\n", err(r));
}

/* Sandbox only: Linux's limits for an unprivileged user hold, and the
 * runner stays up. */
static int limits(void)
{
    struct rlimit rl;
    getrlimit(RLIMIT_MSGQUEUE, &rl);
    printf("RLIMIT_MSGQUEUE: %lu %lu\n", (unsigned long)rl.rlim_cur, (unsigned long)rl.rlim_max);
    int i;
    char n[64];
    for (i = 0; i < 1000; i++) {
        snprintf(n, sizeof n, "/pmq_big_%d", i);
        mqd_t q = mq_open(n, O_RDWR | O_CREAT | O_EXCL, 0600, NULL);
        if (q < 0)
            break;
        mq_close(q);
    }
    int e = errno;
    printf("default-size queues: %d, then %s\n", i, ename(e));
    for (int j = 0; j < i; j++) {
        snprintf(n, sizeof n, "/pmq_big_%d", j);
        mq_unlink(n);
    }
    struct mq_attr small = {.mq_maxmsg = 1, .mq_msgsize = 1};
    for (i = 0; i < 1000; i++) {
        snprintf(n, sizeof n, "/pmq_small_%d", i);
        mqd_t q = mq_open(n, O_RDWR | O_CREAT | O_EXCL, 0600, &small);
        if (q < 0)
            break;
        mq_close(q);
    }
    e = errno;
    printf("small queues: %d, then %s\n", i, ename(e));
    for (int j = 0; j < i; j++) {
        snprintf(n, sizeof n, "/pmq_small_%d", j);
        mq_unlink(n);
    }
    struct mq_attr tries[] = {
        {.mq_maxmsg = 11, .mq_msgsize = 1},
        {.mq_maxmsg = 1, .mq_msgsize = 8193},
        {.mq_maxmsg = LONG_MAX, .mq_msgsize = LONG_MAX},
        {.mq_maxmsg = 65536, .mq_msgsize = 16777216},
        {.mq_maxmsg = 10, .mq_msgsize = 8192},
    };
    for (unsigned t = 0; t < sizeof tries / sizeof tries[0]; t++) {
        mqd_t q = private_queue("attr", tries[t].mq_maxmsg, tries[t].mq_msgsize, 0);
        printf("mq_maxmsg %ld mq_msgsize %ld: %s\n", tries[t].mq_maxmsg, tries[t].mq_msgsize, err(q));
        if (q >= 0) {
            /* Filled to the brim, then left: bounded by what it was made with. */
            char big[8192];
            memset(big, 'z', sizeof big);
            int sent = 0;
            struct mq_attr nb = {.mq_flags = O_NONBLOCK};
            mq_setattr(q, &nb, NULL);
            while (mq_send(q, big, sizeof big, 1) == 0)
                sent++;
            printf("  filled with %d messages of 8192 bytes, then %s\n", sent, ename(errno));
            mq_close(q);
        }
    }
    int r;
    const char *name = qname("ro");
    mqd_t ro = mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0400, NULL);
    const char *made = err(ro);
    mqd_t w = mq_open(name, O_WRONLY);
    printf("a 0400 queue: %s, opened for writing: %s\n", made, err(w));
    r = fchmod(ro, 0600);
    printf("fchmod of a queue: %s\n", err(r));
    mq_unlink(name);
    mq_close(ro);
    rl.rlim_cur = 50000;
    const char *lowered = err(setrlimit(RLIMIT_MSGQUEUE, &rl));
    mqd_t q = private_queue("lowered", 0, 0, 0);
    printf("RLIMIT_MSGQUEUE lowered to 50000: %s, a default queue: %s\n", lowered, err(q));
    rl.rlim_cur = rl.rlim_max = 1 << 30;
    r = setrlimit(RLIMIT_MSGQUEUE, &rl);
    printf("raised past the hard limit: %s\n", err(r));
    return 0;
}

static int thread_notification(void)
{
    mqd_t q = private_queue("thread", 0, 0, 0);
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD;
    int r = mq_notify(q, &ev);
    printf("SIGEV_THREAD: %s\n", r < 0 ? "fails" : "succeeds");
    /* The raw call, with a descriptor that is no netlink socket. */
    char cookie[32] = {0};
    ev.sigev_signo = STDOUT_FILENO;
    ev.sigev_value.sival_ptr = cookie;
    long s = syscall(244, q, &ev);
    printf("raw SIGEV_THREAD on stdout: %s\n", err(s));
    ev.sigev_signo = 99;
    s = syscall(244, q, &ev);
    printf("raw SIGEV_THREAD on a closed descriptor: %s\n", err(s));
    mq_close(q);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 2 && strcmp(argv[1], "fd-after-exec") == 0) {
        int r = fcntl(atoi(argv[2]), F_GETFD);
        printf("after execve the queue's descriptor: %s\n", err(r));
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "limits") == 0)
        return limits();
    if (argc > 1 && strcmp(argv[1], "thread") == 0)
        return thread_notification();
    if (argc > 2 && strcmp(argv[1], "create") == 0) {
        struct mq_attr small = {.mq_maxmsg = 1, .mq_msgsize = 8};
        mqd_t q = mq_open(argv[2], O_RDWR | O_CREAT | O_EXCL, 0600, &small);
        printf("create: %s\n", err(q));
        return 0;
    }
    if (argc > 2 && strcmp(argv[1], "probe") == 0) {
        mqd_t q = mq_open(argv[2], O_RDONLY);
        printf("probe: %s\n", err(q));
        return 0;
    }
    if (argc > 2 && strcmp(argv[1], "remove") == 0) {
        int r = mq_unlink(argv[2]);
        printf("remove: %s\n", err(r));
        return 0;
    }
    opening();
    priorities();
    nonblocking();
    interrupted();
    notifications();
    shared_with_a_child(argv[0]);
    readiness();
    errors();
    printf("done\n");
    return 0;
}

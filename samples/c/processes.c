/* processes.c - child processes as programs use them: fork and waitpid,
 * children killed by signals, pipes between parent and child with EOF when
 * the writer exits, getppid/getpgid/getsid in the child, WNOHANG before and
 * after a child exits, a zombie until it is reaped, waitid (P_ALL, P_PID,
 * WNOHANG), a counting SIGCHLD handler, SIG_IGN for SIGCHLD (children reaped
 * by the system), process groups killed with kill(-pgid) and kill(0), setsid,
 * a three-deep tree, fork copying memory, MAP_SHARED memory shared across
 * fork (atomic counters, MADV_DONTNEED, munmap in a child), futexes between
 * processes over it (a raw FUTEX_WAIT/FUTEX_WAKE pair, a private pair that
 * must not meet, a process-shared semaphore and mutex), execve of this program (argv,
 * environment, close-on-exec descriptors, signal dispositions and mask),
 * vfork, posix_spawn, popen, system and an explicit shell, and a parent that
 * exits before its child.
 *
 * Every line is `section: result` and says only what is the same natively
 * and in the sandbox (never a pid value). Every wait is bounded: a section
 * that does not finish within 10 s prints `SECTION: timed out` and the
 * program exits 1; a child that is not done within 20 s dies of SIGALRM.
 * When fork fails the section says so and the program goes on.
 *
 * Arguments: none (the sections), or a mode used by the program itself
 * after execve: `exec-child FD-PLAIN FD-CLOEXEC PID PPID`, `vfork-child`,
 * `spawn-child WORD`. This program's own path (for execve) is $PROC_SELF, or
 * argv[0]; the shell for the explicit-shell section is $PROC_SH, or /bin/sh
 * (popen and system always run /bin/sh). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char *self;
static const char *shell;

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        p += w;
        n -= (size_t)w;
    }
}

/* One line on stdout, written at once (never through a stdio buffer a
 * fork would copy). */
static void say(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (n > (int)sizeof buf - 2) n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    write_all(1, buf, (size_t)n);
}

static const char *err_name(int e)
{
    static char other[32];
    switch (e) {
    case 0: return "no error";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EBADF: return "EBADF";
    case ECHILD: return "ECHILD";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case ENOSYS: return "ENOSYS";
    case ENOEXEC: return "ENOEXEC";
    }
    snprintf(other, sizeof other, "errno %d", e);
    return other;
}

static const char *sig_name(int s)
{
    static char other[32];
    switch (s) {
    case SIGHUP: return "SIGHUP";
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    case SIGUSR1: return "SIGUSR1";
    case SIGUSR2: return "SIGUSR2";
    case SIGALRM: return "SIGALRM";
    case SIGCHLD: return "SIGCHLD";
    case SIGPIPE: return "SIGPIPE";
    }
    snprintf(other, sizeof other, "signal %d", s);
    return other;
}

/* A wait status in words: `exited N`, `killed by SIGNAME`. */
static const char *status_text(int st)
{
    static char buf[4][64];
    static int i;
    char *b = buf[i++ % 4];
    if (WIFEXITED(st))
        snprintf(b, 64, "exited %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(b, 64, "killed by %s", sig_name(WTERMSIG(st)));
    else
        snprintf(b, 64, "status %#x", st);
    return b;
}

static const char *yes(int c) { return c ? "yes" : "no"; }

/* The section guard: SIGALRM after 10 s prints which section hung. */
static char timeout_line[128];
static size_t timeout_len;

static void on_section_alarm(int sig)
{
    (void)sig;
    write_all(1, timeout_line, timeout_len);
    _exit(1);
}

static void section(const char *name)
{
    int n = snprintf(timeout_line, sizeof timeout_line, "%s: timed out\n", name);
    timeout_len = n > 0 ? (size_t)n : 0;
    signal(SIGALRM, on_section_alarm);
    alarm(10);
}

/* fork: in the child, SIGALRM is the default again and fires after 20 s,
 * so that no child outlives a broken run for long. On failure, says so for
 * `what` and returns -1: callers never use a failed fork's value as a pid. */
static pid_t child(const char *what)
{
    pid_t p = fork();
    if (p < 0) {
        say("%s: fork failed: %s", what, err_name(errno));
        return -1;
    }
    if (p == 0) {
        signal(SIGALRM, SIG_DFL);
        alarm(20);
    }
    return p;
}

static pid_t wait_for(pid_t pid, int *st, int flags)
{
    pid_t r;
    do r = waitpid(pid, st, flags);
    while (r < 0 && errno == EINTR);
    return r;
}

/* Reaps `pid` and describes how it ended ("waitpid failed: E" otherwise). */
static const char *reap(pid_t pid)
{
    static char buf[4][80];
    static int i;
    int st = 0;
    pid_t r = wait_for(pid, &st, 0);
    if (r == pid) return status_text(st);
    char *b = buf[i++ % 4];
    if (r < 0)
        snprintf(b, 80, "waitpid failed: %s", err_name(errno));
    else
        snprintf(b, 80, "waitpid returned another pid");
    return b;
}

static void hang(void)
{
    for (;;) pause();
}

/* Reads `fd` to its end; returns the byte count (the first `cap` bytes in
 * `buf` when buf is not NULL), or -1 with errno. */
static long read_to_end(int fd, char *buf, size_t cap)
{
    char tmp[65536];
    long total = 0;
    for (;;) {
        ssize_t r = read(fd, tmp, sizeof tmp);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) return total;
        if (buf && (size_t)total < cap) {
            size_t k = (size_t)r;
            if (k > cap - (size_t)total) k = cap - (size_t)total;
            memcpy(buf + total, tmp, k);
        }
        total += r;
    }
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* ---- sections ---- */

static void fork_exit(void)
{
    section("fork-exit");
    pid_t p = child("fork-exit");
    if (p < 0) return;
    if (p == 0) _exit(42);
    int st = 0;
    pid_t r = wait_for(p, &st, 0);
    say("fork-exit: waitpid returned the child: %s, %s", yes(r == p), status_text(st));

    pid_t k[3];
    int n = 0;
    for (; n < 3; n++) {
        k[n] = child("fork-exit");
        if (k[n] < 0) break;
        if (k[n] == 0) _exit(10 + n);
    }
    char line[256] = "";
    for (int i = n - 1; i >= 0; i--) {
        strncat(line, " ", sizeof line - strlen(line) - 1);
        strncat(line, reap(k[i]), sizeof line - strlen(line) - 1);
    }
    say("fork-exit: three children waited for in reverse order:%s", line);
}

static void wait_any(void)
{
    section("wait-any");
    int n = 0;
    for (; n < 3; n++) {
        pid_t p = child("wait-any");
        if (p < 0) break;
        if (p == 0) _exit(1 + n);
    }
    int seen[4] = { 0 };
    int odd = 0;
    for (int i = 0; i < n; i++) {
        int st = 0;
        pid_t r;
        do r = wait(&st);
        while (r < 0 && errno == EINTR);
        if (r > 0 && WIFEXITED(st) && WEXITSTATUS(st) >= 1 && WEXITSTATUS(st) <= 3)
            seen[WEXITSTATUS(st)]++;
        else
            odd++;
    }
    int st;
    pid_t r = wait(&st);
    int e = errno;
    say("wait-any: wait() reaped %d children: %d with 1, %d with 2, %d with 3, %d other; then %s",
        n, seen[1], seen[2], seen[3], odd, r < 0 ? err_name(e) : "another child");
}

static void kill_children(void)
{
    section("kill");
    int sigs[2] = { SIGKILL, SIGTERM };
    for (int i = 0; i < 2; i++) {
        pid_t p = child("kill");
        if (p < 0) return;
        if (p == 0) hang();
        int probe = kill(p, 0);
        int sent = kill(p, sigs[i]);
        say("kill: kill(child, 0) %s, kill(child, %s) %s: the child %s", probe == 0 ? "succeeds" : err_name(errno),
            sig_name(sigs[i]), sent == 0 ? "succeeds" : err_name(errno), reap(p));
    }
    /* A child that blocks SIGTERM: the signal waits until it unblocks. */
    int ready[2], go[2];
    if (pipe(ready) < 0 || pipe(go) < 0) return;
    pid_t p = child("kill");
    if (p < 0) return;
    if (p == 0) {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGTERM);
        sigprocmask(SIG_BLOCK, &s, NULL);
        write_all(ready[1], "r", 1);
        char c;
        while (read(go[0], &c, 1) < 0 && errno == EINTR) {
        }
        /* Pending now; unblocking delivers it. */
        sigpending(&s);
        int pending = sigismember(&s, SIGTERM);
        sigprocmask(SIG_UNBLOCK, &s, NULL);
        _exit(pending ? 50 : 51); /* never reached when SIGTERM kills */
    }
    char c;
    while (read(ready[0], &c, 1) < 0 && errno == EINTR) {
    }
    kill(p, SIGTERM);
    write_all(go[1], "g", 1);
    say("kill: a child blocking SIGTERM when it is sent, then unblocking it: %s", reap(p));
    close(ready[0]);
    close(ready[1]);
    close(go[0]);
    close(go[1]);
}

static void pipes(void)
{
    section("pipe");
    int pc[2], cp[2];
    if (pipe(pc) < 0 || pipe(cp) < 0) return;
    pid_t p = child("pipe");
    if (p < 0) return;
    if (p == 0) {
        close(pc[1]);
        close(cp[0]);
        char buf[64];
        long n = read_to_end(pc[0], buf, sizeof buf);
        int ok = n == 15 && memcmp(buf, "ping ping ping\n", 15) == 0;
        write_all(cp[1], "pong\n", 5);
        _exit(ok ? (int)n : 99);
    }
    close(pc[0]);
    close(cp[1]);
    write_all(pc[1], "ping ping ping\n", 15);
    close(pc[1]);
    char buf[64] = "";
    long n = read_to_end(cp[0], buf, sizeof buf - 1);
    close(cp[0]);
    if (n >= 0 && n < (long)sizeof buf) buf[n] = 0;
    if (n > 0 && buf[n - 1] == '\n') buf[n - 1] = 0;
    say("pipe: the child read 15 bytes to EOF (its status says how many: %s); the parent read '%s' to EOF",
        reap(p), buf);

    /* 1 MiB from the child, more than a pipe holds: the writer blocks until
     * the reader catches up. */
    if (pipe(cp) < 0) return;
    p = child("pipe");
    if (p < 0) return;
    if (p == 0) {
        close(cp[0]);
        static char block[65536];
        for (size_t i = 0; i < sizeof block; i++) block[i] = (char)(i * 7);
        for (int i = 0; i < 16; i++) write_all(cp[1], block, sizeof block);
        _exit(0);
    }
    close(cp[1]);
    n = read_to_end(cp[0], NULL, 0);
    close(cp[0]);
    say("pipe: %ld bytes from the child, then EOF; the child %s", n, reap(p));

    /* No reader left (the parent closed the read end before the fork): the
     * writer gets SIGPIPE. */
    if (pipe(cp) < 0) return;
    close(cp[0]);
    p = child("pipe");
    if (p < 0) return;
    if (p == 0) {
        write_all(cp[1], "x", 1);
        _exit(0);
    }
    close(cp[1]);
    say("pipe: a child writing to a pipe nobody can read: %s", reap(p));
}

static void ids(void)
{
    section("ids");
    pid_t me = getpid(), group = getpgid(0), session = getsid(0);
    int tell[2];
    if (pipe(tell) < 0) return;
    pid_t p = child("ids");
    if (p < 0) return;
    if (p == 0) {
        pid_t mine = getpid();
        write_all(tell[1], (const char *)&mine, sizeof mine);
        int code = 0;
        if (getppid() == me) code |= 1;
        if (getpid() != me) code |= 2;
        if (getpgid(0) == group) code |= 4;
        if (getsid(0) == session) code |= 8;
        if (getpgid(getppid()) == group) code |= 16;
        _exit(code);
    }
    close(tell[1]);
    pid_t seen = 0;
    long got = read_to_end(tell[0], (char *)&seen, sizeof seen);
    close(tell[0]);
    int st = 0;
    wait_for(p, &st, 0);
    int c = WIFEXITED(st) ? WEXITSTATUS(st) : 0;
    say("ids: the child's getppid() is the parent's getpid(): %s", yes(c & 1));
    say("ids: the child's pid differs from the parent's: %s", yes(c & 2));
    say("ids: the child is in the parent's process group and session: %s", yes((c & 12) == 12));
    say("ids: getpgid(parent) in the child is the parent's group: %s", yes(c & 16));
    say("ids: fork returned the pid the child sees as its own: %s", yes(got == sizeof seen && seen == p));
}

static void wnohang(void)
{
    section("wnohang");
    int gate[2];
    if (pipe(gate) < 0) return;
    pid_t p = child("wnohang");
    if (p < 0) return;
    if (p == 0) {
        close(gate[1]);
        read_to_end(gate[0], NULL, 0);
        _exit(3);
    }
    close(gate[0]);
    int st = 0;
    pid_t before = waitpid(p, &st, WNOHANG);
    close(gate[1]);
    pid_t after = 0;
    int polls = 0;
    while ((after = waitpid(p, &st, WNOHANG)) == 0) {
        polls++;
        sleep_ms(1);
    }
    pid_t again = waitpid(p, &st, WNOHANG);
    int e = errno;
    say("wnohang: while the child runs: %s; once it exits: %s (%s); then: %s",
        before == 0 ? "0" : before < 0 ? err_name(errno) : "a pid",
        after == p ? "its pid" : after < 0 ? err_name(errno) : "another pid",
        status_text(st), again < 0 ? err_name(e) : "a pid");
}

static void zombie(void)
{
    section("zombie");
    int gate[2];
    if (pipe(gate) < 0) return;
    pid_t p = child("zombie");
    if (p < 0) return;
    if (p == 0) _exit(0);
    close(gate[1]);
    /* EOF: the child (the last holder of the write end) has exited. */
    read_to_end(gate[0], NULL, 0);
    close(gate[0]);
    sleep_ms(50);
    int before = kill(p, 0);
    int e1 = errno;
    const char *how = reap(p);
    int after = kill(p, 0);
    int e2 = errno;
    say("zombie: kill(pid, 0) before the child is reaped: %s; reaped: %s; kill(pid, 0) after: %s",
        before == 0 ? "succeeds" : err_name(e1), how, after == 0 ? "succeeds" : err_name(e2));
}

static void waitids(void)
{
    section("waitid");
    pid_t p = child("waitid");
    if (p < 0) return;
    if (p == 0) _exit(7);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int r;
    do r = waitid(P_ALL, 0, &si, WEXITED);
    while (r < 0 && errno == EINTR);
    say("waitid: P_ALL: returns %d, si_pid is the child: %s, si_signo %s, si_code %s, si_status %d", r,
        yes(si.si_pid == p), sig_name(si.si_signo), si.si_code == CLD_EXITED ? "CLD_EXITED" : "other",
        si.si_status);

    int gate[2];
    if (pipe(gate) < 0) return;
    p = child("waitid");
    if (p < 0) return;
    if (p == 0) {
        close(gate[1]);
        read_to_end(gate[0], NULL, 0);
        hang();
    }
    close(gate[0]);
    memset(&si, 0, sizeof si);
    si.si_pid = 12345;
    r = waitid(P_PID, (id_t)p, &si, WEXITED | WNOHANG);
    say("waitid: P_PID with WNOHANG while the child runs: returns %d, si_pid zeroed: %s", r,
        yes(si.si_pid == 0));
    kill(p, SIGTERM);
    close(gate[1]);
    memset(&si, 0, sizeof si);
    do r = waitid(P_PID, (id_t)p, &si, WEXITED);
    while (r < 0 && errno == EINTR);
    say("waitid: P_PID after SIGTERM: returns %d, si_pid is the child: %s, si_code %s, si_status %s", r,
        yes(si.si_pid == p), si.si_code == CLD_KILLED ? "CLD_KILLED" : "other", sig_name(si.si_status));
    memset(&si, 0, sizeof si);
    r = waitid(P_ALL, 0, &si, WEXITED | WNOHANG);
    say("waitid: P_ALL with no children left: %s", r < 0 ? err_name(errno) : "returns 0");
}

static volatile sig_atomic_t chld_count, chld_code, chld_status;
static volatile pid_t chld_pid;

static void on_chld(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    chld_count++;
    chld_pid = si->si_pid;
    chld_code = si->si_code;
    chld_status = si->si_status;
}

static void sigchld(void)
{
    section("sigchld");
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_chld;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, &old);
    sigset_t block, orig;
    sigemptyset(&block);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, &orig);
    sigset_t waitmask = orig;
    sigdelset(&waitmask, SIGCHLD);
    sigdelset(&waitmask, SIGALRM);
    chld_count = 0;
    int good = 0, rounds = 0;
    for (int i = 0; i < 3; i++) {
        pid_t p = child("sigchld");
        if (p < 0) break;
        if (p == 0) _exit(20 + i);
        rounds++;
        while (chld_count < i + 1) sigsuspend(&waitmask);
        if (chld_pid == p && chld_code == CLD_EXITED && chld_status == 20 + i) good++;
        reap(p);
    }
    say("sigchld: %d children exited, %d signals, %d with the child's pid, CLD_EXITED and its exit code",
        rounds, (int)chld_count, good);

    pid_t p = child("sigchld");
    if (p == 0) hang();
    if (p > 0) {
        int before = chld_count;
        kill(p, SIGKILL);
        while (chld_count < before + 1) sigsuspend(&waitmask);
        say("sigchld: a child killed by SIGKILL: si_pid is the child: %s, si_code %s, si_status %s",
            yes(chld_pid == p), chld_code == CLD_KILLED ? "CLD_KILLED" : "other", sig_name(chld_status));
        reap(p);
    }
    sigaction(SIGCHLD, &old, NULL);
    sigprocmask(SIG_SETMASK, &orig, NULL);
}

static void sigign(void)
{
    section("sigign");
    signal(SIGCHLD, SIG_IGN);
    pid_t k[2];
    int n = 0;
    for (; n < 2; n++) {
        k[n] = child("sigign");
        if (k[n] < 0) break;
        if (k[n] == 0) _exit(0);
    }
    if (n == 2) {
        int st;
        pid_t r;
        do r = waitpid(-1, &st, 0);
        while (r < 0 && errno == EINTR);
        int e = errno;
        /* On Linux a child reaped for an ignoring parent may still be
         * being released on another CPU when waitpid has seen it go (an
         * EXIT_DEAD task is not waited for, and its pid goes a moment
         * later): no zombie, but kill() can still find it. Give it up to a
         * second. */
        int gone = 0;
        for (int tries = 0; tries < 1000 && !gone; tries++) {
            gone = kill(k[0], 0) < 0 && errno == ESRCH;
            gone = gone && kill(k[1], 0) < 0 && errno == ESRCH;
            if (!gone) usleep(1000);
        }
        say("sigign: with SIGCHLD ignored, waitpid(-1) waits for both children, then fails: %s; both are gone: %s",
            r < 0 ? err_name(e) : "returned a pid", yes(gone));
    }
    signal(SIGCHLD, SIG_DFL);
}

static void pgroups(void)
{
    section("pgroup");
    int ready[2];
    if (pipe(ready) < 0) return;
    pid_t c1 = child("pgroup");
    if (c1 < 0) return;
    if (c1 == 0) {
        setpgid(0, 0);
        write_all(ready[1], "1", 1);
        hang();
    }
    setpgid(c1, c1);
    pid_t c2 = child("pgroup");
    if (c2 < 0) {
        kill(c1, SIGKILL);
        reap(c1);
        return;
    }
    if (c2 == 0) {
        setpgid(0, c1);
        write_all(ready[1], "2", 1);
        hang();
    }
    setpgid(c2, c1);
    char buf[2];
    int got = 0;
    while (got < 2) {
        ssize_t r = read(ready[0], buf + got, (size_t)(2 - got));
        if (r <= 0 && errno != EINTR) break;
        if (r > 0) got += (int)r;
    }
    close(ready[0]);
    close(ready[1]);
    say("pgroup: first child leads its group: %s; second child joined it: %s; the parent is not in it: %s",
        yes(getpgid(c1) == c1), yes(getpgid(c2) == c1), yes(getpgid(0) != c1));
    int sent = c1 > 1 ? kill(-c1, SIGTERM) : -1;
    const char *s1 = reap(c1);
    const char *s2 = reap(c2);
    say("pgroup: kill(-pgid, SIGTERM) %s: first child %s, second child %s", sent == 0 ? "succeeds" : err_name(errno),
        s1, s2);
    int gone = kill(-c1, 0);
    say("pgroup: kill(-pgid, 0) once both are reaped: %s", gone == 0 ? "succeeds" : err_name(errno));

    /* kill(0, sig) from a group leader that ignores the signal: its two
     * children (in its group) die, the leader does not. */
    pid_t leader = child("pgroup");
    if (leader < 0) return;
    if (leader == 0) {
        setpgid(0, 0);
        signal(SIGTERM, SIG_IGN);
        int r2[2];
        if (pipe(r2) < 0) _exit(90);
        pid_t g[2];
        for (int i = 0; i < 2; i++) {
            g[i] = fork();
            if (g[i] < 0) _exit(91);
            if (g[i] == 0) {
                signal(SIGTERM, SIG_DFL);
                write_all(r2[1], "g", 1);
                hang();
            }
        }
        char b[2];
        int k = 0;
        while (k < 2) {
            ssize_t r = read(r2[0], b, 1);
            if (r <= 0 && errno != EINTR) _exit(92);
            if (r > 0) k++;
        }
        if (kill(0, SIGTERM) < 0) _exit(93);
        int killed = 0;
        for (int i = 0; i < 2; i++) {
            int st = 0;
            if (wait_for(g[i], &st, 0) == g[i] && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM) killed++;
        }
        _exit(killed);
    }
    say("pgroup: kill(0, SIGTERM) from a group leader ignoring SIGTERM: the leader %s (how many of its 2 children "
        "SIGTERM killed)",
        reap(leader));

    /* setsid in a child: a new session and group, led by the child. */
    pid_t p = child("pgroup");
    if (p < 0) return;
    if (p == 0) {
        pid_t s = setsid();
        int code = 0;
        if (s == getpid()) code |= 1;
        if (getsid(0) == getpid()) code |= 2;
        if (getpgid(0) == getpid()) code |= 4;
        if (setsid() < 0 && errno == EPERM) code |= 8; /* already a group leader */
        _exit(code);
    }
    say("setsid: in a child: returns its pid, getsid and getpgid are its pid, a second setsid fails EPERM: %s "
        "(15 is all four)",
        reap(p));
    errno = 0;
    int missing = getpgid(p);
    say("getpgid: of a reaped child: %s", missing < 0 ? err_name(errno) : "a group");
}

static void tree(void)
{
    section("tree");
    pid_t p = child("tree");
    if (p < 0) return;
    if (p == 0) {
        pid_t g = fork();
        if (g < 0) _exit(1);
        if (g == 0) {
            alarm(20);
            kill(getpid(), SIGUSR1);
            _exit(2);
        }
        int st = 0;
        if (wait_for(g, &st, 0) != g) _exit(3);
        if (WIFSIGNALED(st)) _exit(100 + WTERMSIG(st));
        _exit(4);
    }
    say("tree: the grandchild killed itself with SIGUSR1 (10); the child reports it and %s", reap(p));
}

static char global_bytes[4096];

static int all_are(const char *p, size_t n, char c)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != c) return 0;
    return 1;
}

static void memory(void)
{
    section("fork-memory");
    size_t size = 8 << 20;
    char *big = malloc(size);
    if (!big) return;
    memset(big, 'a', size);
    memset(global_bytes, 'a', sizeof global_bytes);
    char stack_bytes[256];
    memset(stack_bytes, 'a', sizeof stack_bytes);
    int go[2], back[2];
    if (pipe(go) < 0 || pipe(back) < 0) return;
    pid_t p = child("fork-memory");
    if (p < 0) {
        free(big);
        return;
    }
    if (p == 0) {
        char c;
        while (read(go[0], &c, 1) < 0 && errno == EINTR) {
        }
        int code = 0;
        if (all_are(big, size, 'a')) code |= 1;
        if (all_are(global_bytes, sizeof global_bytes, 'a')) code |= 2;
        if (all_are(stack_bytes, sizeof stack_bytes, 'a')) code |= 4;
        memset(big, 'c', size);
        memset(global_bytes, 'c', sizeof global_bytes);
        memset(stack_bytes, 'c', sizeof stack_bytes);
        write_all(back[1], "w", 1);
        _exit(code);
    }
    /* The parent writes after the fork, then lets the child look. */
    memset(big, 'b', size);
    memset(global_bytes, 'b', sizeof global_bytes);
    memset(stack_bytes, 'b', sizeof stack_bytes);
    write_all(go[1], "g", 1);
    char c;
    while (read(back[0], &c, 1) < 0 && errno == EINTR) {
    }
    const char *how = reap(p);
    int kept = all_are(big, size, 'b') && all_are(global_bytes, sizeof global_bytes, 'b') &&
               all_are(stack_bytes, sizeof stack_bytes, 'b');
    say("fork-memory: the child saw the bytes of the fork, not the parent's later writes (7: heap, globals, stack): "
        "%s",
        how);
    say("fork-memory: the child's writes are not seen by the parent: %s", yes(kept));
    free(big);
    close(go[0]);
    close(go[1]);
    close(back[0]);
    close(back[1]);
}

/* MAP_SHARED|MAP_ANONYMOUS memory stays shared with the children of a
 * fork: each child adds to its own slot and to one shared counter with
 * atomics; a MAP_PRIVATE page the children write stays the parent's. */
enum { SHARED_CHILDREN = 4, SHARED_ROUNDS = 1000 };

static void shared_memory(void)
{
    section("shared-memory");
    int *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int *private = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED || private == MAP_FAILED) {
        say("shared-memory: mmap failed: %s", err_name(errno));
        return;
    }
    /* shared[0]: the counter; shared[1 + i]: child i's slot. */
    private[0] = 5;
    pid_t k[SHARED_CHILDREN];
    int n = 0;
    for (; n < SHARED_CHILDREN; n++) {
        k[n] = child("shared-memory");
        if (k[n] < 0) break;
        if (k[n] == 0) {
            for (int r = 0; r < (n + 1) * SHARED_ROUNDS; r++) {
                __atomic_fetch_add(&shared[1 + n], 1, __ATOMIC_SEQ_CST);
                __atomic_fetch_add(&shared[0], 1, __ATOMIC_SEQ_CST);
            }
            private[0] = 100 + n;
            _exit(0);
        }
    }
    char line[256] = "";
    for (int i = 0; i < n; i++) {
        strncat(line, i ? ", " : "", sizeof line - strlen(line) - 1);
        strncat(line, reap(k[i]), sizeof line - strlen(line) - 1);
    }
    say("shared-memory: %d children: %s; the shared counter: %d; their slots: %d %d %d %d", n, line,
        __atomic_load_n(&shared[0], __ATOMIC_SEQ_CST), shared[1], shared[2], shared[3], shared[4]);
    say("shared-memory: the private page the children wrote is the parent's: %s (%d)",
        yes(private[0] == 5), private[0]);

    /* The parent's write after the fork reaches the child, and its answer
     * the parent. */
    pid_t p = child("shared-memory");
    if (p < 0) return;
    if (p == 0) {
        for (int t = 0; t < 5000 && __atomic_load_n(&shared[8], __ATOMIC_SEQ_CST) == 0; t++)
            sleep_ms(1);
        __atomic_store_n(&shared[9], shared[8] + 1, __ATOMIC_SEQ_CST);
        _exit(shared[8] == 41 ? 0 : 1);
    }
    __atomic_store_n(&shared[8], 41, __ATOMIC_SEQ_CST);
    const char *how = reap(p);
    say("shared-memory: the child saw the parent's write after the fork (41): %s; its answer: %d", how,
        shared[9]);

    /* MADV_DONTNEED in a child drops nothing of shared memory; a child's
     * munmap leaves the parent's mapping. */
    p = child("shared-memory");
    if (p < 0) return;
    if (p == 0) {
        if (madvise(shared, 4096, MADV_DONTNEED) != 0) _exit(3);
        int code = shared[0] == SHARED_CHILDREN * (SHARED_CHILDREN + 1) / 2 * SHARED_ROUNDS ? 0 : 1;
        shared[10] = 7;
        if (munmap(shared, 4096) != 0) _exit(4);
        _exit(code);
    }
    how = reap(p);
    say("shared-memory: a child's MADV_DONTNEED keeps the counter (%d) and its munmap the parent's mapping: %s; "
        "its last write: %d",
        shared[0], how, shared[10]);
    munmap(shared, 4096);
    munmap(private, 4096);
}

/* Futexes between processes over MAP_SHARED memory. */
enum { FUTEX_OP_WAIT = 0, FUTEX_OP_WAKE = 1, FUTEX_OP_PRIVATE = 128 };

static long futex_call(int *word, int op, int val, const struct timespec *timeout)
{
    return syscall(SYS_futex, word, op, val, timeout, NULL, 0);
}

/* The child waits on `word` (still 0) for up to `wait_ms`: exits 0 woken,
 * 1 timed out, 2 EAGAIN, 3 otherwise. The parent wakes it with `op`, up
 * to `tries` times a millisecond apart, until a wake reaches a waiter.
 * Returns how many the wakes woke in all, and how the child ended. */
static int wake_child(int *word, int op, long wait_ms, int tries, const char **how)
{
    *how = "fork failed";
    pid_t p = child("shared-futex");
    if (p < 0) return -1;
    if (p == 0) {
        struct timespec ts = { wait_ms / 1000, (wait_ms % 1000) * 1000000L };
        long r = futex_call(word, FUTEX_OP_WAIT | op, 0, &ts);
        if (r == 0) _exit(0);
        _exit(errno == ETIMEDOUT ? 1 : errno == EAGAIN ? 2 : 3);
    }
    int woken = 0;
    for (int t = 0; t < tries && woken == 0; t++) {
        long r = futex_call(word, FUTEX_OP_WAKE | op, 1, NULL);
        if (r > 0) woken += (int)r;
        else sleep_ms(1);
    }
    *how = reap(p);
    return woken;
}

static void shared_futex(void)
{
    section("shared-futex");
    char *mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        say("shared-futex: mmap failed: %s", err_name(errno));
        return;
    }
    const char *how;
    int woken = wake_child((int *)mem, 0, 5000, 5000, &how);
    say("shared-futex: FUTEX_WAKE in the parent reached the child's FUTEX_WAIT: woke %d; the child %s (0: woken)",
        woken, how);
    woken = wake_child((int *)(mem + 64), FUTEX_OP_PRIVATE, 300, 100, &how);
    say("shared-futex: with FUTEX_PRIVATE_FLAG they do not meet: woke %d; the child %s (1: timed out)", woken,
        how);

    /* A process-shared semaphore: the child waits, the parent posts. */
    sem_t *sem = (sem_t *)(mem + 128);
    if (sem_init(sem, 1, 0) != 0) {
        say("shared-futex: sem_init failed: %s", err_name(errno));
        return;
    }
    pid_t p = child("shared-futex");
    if (p < 0) return;
    if (p == 0) {
        struct timespec at;
        clock_gettime(CLOCK_REALTIME, &at);
        at.tv_sec += 5;
        int r;
        while ((r = sem_timedwait(sem, &at)) != 0 && errno == EINTR) {
        }
        _exit(r == 0 ? 0 : errno == ETIMEDOUT ? 1 : 2);
    }
    sleep_ms(50);
    sem_post(sem);
    say("shared-futex: a process-shared semaphore the parent posts: the child %s", reap(p));

    /* A process-shared mutex guarding a plain counter. */
    pthread_mutex_t *mutex = (pthread_mutex_t *)(mem + 1024);
    int *count = (int *)(mem + 2048);
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(mutex, &attr);
    pthread_mutexattr_destroy(&attr);
    pid_t k[3];
    int n = 0;
    for (; n < 3; n++) {
        k[n] = child("shared-futex");
        if (k[n] < 0) break;
        if (k[n] == 0) {
            for (int r = 0; r < 3000; r++) {
                pthread_mutex_lock(mutex);
                int v = *count;
                if (r % 64 == 0) sched_yield();
                *count = v + 1;
                pthread_mutex_unlock(mutex);
            }
            _exit(0);
        }
    }
    char line[256] = "";
    for (int i = 0; i < n; i++) {
        strncat(line, i ? ", " : "", sizeof line - strlen(line) - 1);
        strncat(line, reap(k[i]), sizeof line - strlen(line) - 1);
    }
    say("shared-futex: %d children increment under a process-shared mutex: %s; the count: %d (9000 expected)", n,
        line, *count);
    munmap(mem, 4096);
}

static int exec_marker;
static void on_usr1(int sig) { (void)sig; }

static void exec_self(void)
{
    section("exec");
    pid_t p = child("exec");
    if (p < 0) return;
    if (p == 0) {
        int fds[2];
        if (pipe(fds) < 0) _exit(120);
        int plain = fcntl(fds[0], F_DUPFD, 40);
        int cloexec = fcntl(fds[1], F_DUPFD_CLOEXEC, 41);
        if (plain < 0 || cloexec < 0) _exit(121);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_usr1;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGUSR1, &sa, NULL);
        signal(SIGUSR2, SIG_IGN);
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGHUP);
        sigprocmask(SIG_BLOCK, &s, NULL);
        exec_marker = 77;
        char a1[16], a2[16], a3[16], a4[16];
        snprintf(a1, sizeof a1, "%d", plain);
        snprintf(a2, sizeof a2, "%d", cloexec);
        snprintf(a3, sizeof a3, "%d", (int)getpid());
        snprintf(a4, sizeof a4, "%d", (int)getppid());
        char *argv[] = { (char *)self, "exec-child", a1, a2, a3, a4, NULL };
        char *envp[] = { "PROC_MARK=from-exec", "SECOND=2", NULL };
        execve(self, argv, envp);
        say("exec: execve failed: %s", err_name(errno));
        _exit(127);
    }
    say("exec: the new image %s", reap(p));

    p = child("exec");
    if (p < 0) return;
    if (p == 0) {
        char *argv[] = { "prog", NULL };
        char *envp[] = { NULL };
        execve("/nonexistent-dir/prog", argv, envp);
        _exit(errno == ENOENT ? 0 : 1);
    }
    say("exec: execve of a missing file fails ENOENT and the child goes on: %s", reap(p));
}

static int exec_child(int argc, char **argv)
{
    if (argc != 6) {
        say("exec: argc %d in the new image", argc);
        return 2;
    }
    say("exec: argv passed: %s", yes(strcmp(argv[1], "exec-child") == 0));
    int n = 0;
    for (char **e = environ; *e; e++) n++;
    const char *mark = getenv("PROC_MARK");
    say("exec: environment is the one given (%d variables, PROC_MARK=%s)", n, mark ? mark : "(unset)");
    say("exec: same pid and parent: %s, %s", yes(getpid() == atoi(argv[4])), yes(getppid() == atoi(argv[5])));
    int plain = atoi(argv[2]), cloexec = atoi(argv[3]);
    int flags = fcntl(plain, F_GETFD);
    say("exec: the plain descriptor is still open: %s (FD_CLOEXEC %s)", yes(flags >= 0),
        flags >= 0 && (flags & FD_CLOEXEC) ? "set" : "clear");
    errno = 0;
    int gone = fcntl(cloexec, F_GETFD);
    say("exec: the close-on-exec descriptor: %s", gone < 0 ? err_name(errno) : "still open");
    struct sigaction sa;
    sigaction(SIGUSR1, NULL, &sa);
    say("exec: SIGUSR1 (handled before) is %s", sa.sa_handler == SIG_DFL ? "SIG_DFL" :
                                                 sa.sa_handler == SIG_IGN ? "SIG_IGN" : "a handler");
    sigaction(SIGUSR2, NULL, &sa);
    say("exec: SIGUSR2 (ignored before) is %s", sa.sa_handler == SIG_DFL ? "SIG_DFL" :
                                                sa.sa_handler == SIG_IGN ? "SIG_IGN" : "a handler");
    sigset_t s;
    sigprocmask(SIG_SETMASK, NULL, &s);
    say("exec: SIGHUP (blocked before) is still blocked: %s", yes(sigismember(&s, SIGHUP)));
    say("exec: globals start fresh: %s", yes(exec_marker == 0));
    return 0;
}

static void vforks(void)
{
    section("vfork");
    pid_t p = vfork();
    if (p < 0) {
        say("vfork: vfork failed: %s", err_name(errno));
        return;
    }
    if (p == 0) _exit(9);
    say("vfork: a child that calls _exit(9): %s", reap(p));

    p = vfork();
    if (p < 0) {
        say("vfork: vfork failed: %s", err_name(errno));
        return;
    }
    if (p == 0) {
        char *argv[] = { (char *)self, "vfork-child", NULL };
        execv(self, argv);
        _exit(127);
    }
    say("vfork: a child that runs this program again: %s", reap(p));
}

static void spawns(void)
{
    section("posix_spawn");
    int out[2];
    if (pipe(out) < 0) return;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    posix_spawn_file_actions_addclose(&fa, out[1]);
    char *argv[] = { (char *)self, "spawn-child", "xyzzy", NULL };
    pid_t p = 0;
    int e = posix_spawn(&p, self, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (e != 0) {
        say("posix_spawn: failed: %s", err_name(e));
        close(out[0]);
    } else {
        char buf[128] = "";
        long n = read_to_end(out[0], buf, sizeof buf - 1);
        close(out[0]);
        if (n > 0 && n < (long)sizeof buf) buf[n] = 0;
        if (n > 0 && buf[n - 1] == '\n') buf[n - 1] = 0;
        say("posix_spawn: the child wrote '%s' on the pipe and %s", buf, reap(p));
    }
    char *argv2[] = { "missing", NULL };
    e = posix_spawn(&p, "/nonexistent-dir/missing", NULL, NULL, argv2, environ);
    if (e == 0)
        say("posix_spawn: a missing program: spawned, %s", reap(p));
    else
        say("posix_spawn: a missing program: %s", err_name(e));
}

static void shells(void)
{
    section("shell");
    FILE *f = popen("echo hi", "r");
    if (!f) {
        say("popen: failed: %s", err_name(errno));
    } else {
        char line[64] = "";
        if (!fgets(line, sizeof line, f)) strcpy(line, "(nothing)");
        line[strcspn(line, "\n")] = 0;
        int st = pclose(f);
        say("popen: read '%s', pclose: %s", line, st < 0 ? err_name(errno) : status_text(st));
    }
    int st = system("exit 3");
    say("system: 'exit 3': %s", st < 0 ? err_name(errno) : status_text(st));
    st = system("kill -TERM $$");
    say("system: 'kill -TERM $$': %s", st < 0 ? err_name(errno) : status_text(st));

    pid_t p = child("shell");
    if (p < 0) return;
    if (p == 0) {
        execl(shell, "sh", "-c", "exit 4", (char *)NULL);
        _exit(127);
    }
    say("shell: sh -c 'exit 4': %s", reap(p));
}

static void orphan(void)
{
    section("orphan");
    int res[2];
    if (pipe(res) < 0) return;
    pid_t a = child("orphan");
    if (a < 0) return;
    if (a == 0) {
        int gate[2];
        if (pipe(gate) < 0) _exit(1);
        pid_t first = getpid();
        pid_t b = fork();
        if (b < 0) _exit(2);
        if (b == 0) {
            close(gate[1]);
            close(res[0]);
            read_to_end(gate[0], NULL, 0); /* EOF: the parent has exited */
            int i = 0;
            while (getppid() == first && i++ < 5000) sleep_ms(1);
            const char *m = getppid() == first ? "unchanged" : "changed";
            write_all(res[1], m, strlen(m));
            _exit(0);
        }
        _exit(0); /* before the grandchild: its getppid changes */
    }
    close(res[1]);
    const char *how = reap(a);
    char buf[32] = "";
    long n = read_to_end(res[0], buf, sizeof buf - 1);
    close(res[0]);
    if (n >= 0 && n < (long)sizeof buf) buf[n] = 0;
    say("orphan: the parent %s before its child; the child's getppid() then %s", how, n > 0 ? buf : "(no answer)");
}

/* PR_SET_PDEATHSIG: a grandchild asks for SIGUSR1 when its parent ends;
 * its parent exits; the grandchild's handler reports on a pipe. */
static int pdeath_fd = -1;
static void on_pdeath(int sig)
{
    char m = sig == SIGUSR1 ? 'U' : '?';
    (void)!write(pdeath_fd, &m, 1);
    _exit(0);
}

static void pdeathsig(void)
{
    section("pdeathsig");
    int res[2], ready[2];
    if (pipe(res) < 0 || pipe(ready) < 0) return;
    pid_t a = child("pdeathsig");
    if (a < 0) return;
    if (a == 0) {
        pid_t b = fork();
        if (b < 0) _exit(2);
        if (b == 0) {
            pdeath_fd = res[1];
            signal(SIGUSR1, on_pdeath);
            int got = -1;
            int set = prctl(PR_SET_PDEATHSIG, SIGUSR1);
            prctl(PR_GET_PDEATHSIG, &got);
            write_all(ready[1], set == 0 && got == SIGUSR1 ? "y" : "n", 1);
            hang();
        }
        char c = 0;
        (void)!read(ready[0], &c, 1);
        _exit(c == 'y' ? 0 : 3);
    }
    close(res[1]);
    close(ready[1]);
    const char *how = reap(a);
    char buf[8] = "";
    long n = read_to_end(res[0], buf, sizeof buf - 1);
    close(res[0]);
    close(ready[0]);
    if (n >= 0 && n < (long)sizeof buf) buf[n] = 0;
    say("pdeathsig: the middle process %s; its child got SIGUSR1 in its handler: %s", how,
        yes(n == 1 && buf[0] == 'U'));
}

int main(int argc, char **argv)
{
    self = getenv("PROC_SELF");
    if (!self || !*self) self = argv[0];
    shell = getenv("PROC_SH");
    if (!shell || !*shell) shell = "/bin/sh";
    if (argc > 1 && strcmp(argv[1], "exec-child") == 0) return exec_child(argc, argv);
    if (argc > 1 && strcmp(argv[1], "vfork-child") == 0) {
        say("vfork: the child runs this program again");
        return 5;
    }
    if (argc > 2 && strcmp(argv[1], "spawn-child") == 0) {
        say("spawned with %s", argv[2]);
        return 6;
    }
    if (argc > 1) {
        fprintf(stderr, "usage: processes (no arguments)\n");
        return 2;
    }
    fork_exit();
    wait_any();
    kill_children();
    pipes();
    ids();
    wnohang();
    zombie();
    waitids();
    sigchld();
    sigign();
    pgroups();
    tree();
    memory();
    shared_memory();
    shared_futex();
    exec_self();
    vforks();
    spawns();
    shells();
    orphan();
    pdeathsig();
    alarm(0);
    say("done");
    return 0;
}

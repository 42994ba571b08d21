/* jobs.c - job control as a shell sees it: stop signals stop a whole
 * process, SIGCONT continues it, and the parent hears of both through
 * wait4 (WUNTRACED, WCONTINUED), waitid (WSTOPPED, WCONTINUED, WNOWAIT)
 * and SIGCHLD (CLD_STOPPED, CLD_CONTINUED; none with SA_NOCLDSTOP).
 * A stopped process runs nothing, not even a blocked read that gets its
 * data, until SIGCONT; the read then returns its data, not EINTR. Every
 * child runs in its own process group (a group whose members' parents are
 * all in it, or outside its session, is orphaned: SIGTSTP is discarded
 * there, as the last case shows). Prints what it sees; the output is
 * compared with a native run. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static const char *describe(int status) {
    static char buf[64];
    if (WIFSTOPPED(status))
        snprintf(buf, sizeof buf, "stopped by %s", strsignal(WSTOPSIG(status)));
    else if (WIFCONTINUED(status))
        snprintf(buf, sizeof buf, "continued");
    else if (WIFSIGNALED(status))
        snprintf(buf, sizeof buf, "killed by %s", strsignal(WTERMSIG(status)));
    else if (WIFEXITED(status))
        snprintf(buf, sizeof buf, "exited %d", WEXITSTATUS(status));
    else
        snprintf(buf, sizeof buf, "status %#x", status);
    return buf;
}

static const char *chld_code(int code) {
    switch (code) {
    case CLD_EXITED: return "CLD_EXITED";
    case CLD_KILLED: return "CLD_KILLED";
    case CLD_STOPPED: return "CLD_STOPPED";
    case CLD_CONTINUED: return "CLD_CONTINUED";
    default: return "other";
    }
}

/* The next SIGCHLD (blocked, taken with sigtimedwait), or "none". */
static void next_sigchld(const char *what, pid_t child) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    siginfo_t si;
    struct timespec t = {0, 300 * 1000000};
    int s = sigtimedwait(&set, &si, &t);
    if (s < 0) {
        printf("  %s: no SIGCHLD\n", what);
        return;
    }
    /* A CLD_STOPPED's si_status races in Linux itself when the parent
     * waits for the stop: the stopping child reads the stop signal for
     * the notification after it marked itself stopped, and a waitpid
     * (WUNTRACED) taking the stop in between clears it, so the status is
     * the stop signal or 0 (seen natively under emulated AMD-V, where the
     * window is wide). Either is printed the same. */
    char status[32];
    if (si.si_code == CLD_STOPPED &&
        (si.si_status == 0 || si.si_status == SIGSTOP || si.si_status == SIGTSTP ||
         si.si_status == SIGTTIN || si.si_status == SIGTTOU))
        snprintf(status, sizeof status, "a stop signal or 0");
    else
        snprintf(status, sizeof status, "%d", si.si_status);
    printf("  %s: SIGCHLD %s, status %s, from the child: %s\n", what, chld_code(si.si_code),
           status, si.si_pid == child ? "yes" : "no");
}

static volatile sig_atomic_t continued_handler;

static void on_cont(int sig) {
    (void)sig;
    continued_handler = 1;
}

/* A child in its own process group that waits on `fd` (a read that blocks
 * until the parent writes) and answers on `out`, `rounds` times. */
static pid_t reader_child(int fd, int out, int rounds) {
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        signal(SIGCONT, on_cont);
        for (int i = 0; i < rounds; i++) {
            char c;
            ssize_t n = read(fd, &c, 1);
            char reply[64];
            int len = snprintf(reply, sizeof reply, "read %zd%s%s;", n, n < 0 ? " errno " : "",
                               n < 0 ? strerror(errno) : "");
            if (continued_handler) {
                len += snprintf(reply + len, sizeof reply - len, " SIGCONT handler ran;");
                continued_handler = 0;
            }
            write(out, reply, (size_t)len);
        }
        _exit(0);
    }
    setpgid(pid, pid);
    return pid;
}

static int readable_within(int fd, int ms) {
    fd_set r;
    FD_ZERO(&r);
    FD_SET(fd, &r);
    struct timeval tv = {0, ms * 1000};
    return select(fd + 1, &r, NULL, NULL, &tv) > 0;
}

static void stop_continue_and_wait(void) {
    puts("stop, continue, kill:");
    int to_child[2], from_child[2];
    pipe(to_child);
    pipe(from_child);
    pid_t pid = reader_child(to_child[0], from_child[1], 2);
    sleep_ms(50);
    kill(pid, SIGSTOP);
    int status;
    pid_t w = waitpid(pid, &status, WUNTRACED);
    printf("  waitpid WUNTRACED: %s (%s)\n", w == pid ? "the child" : "?", describe(status));
    next_sigchld("after SIGSTOP", pid);
    /* Data arrives while it is stopped: it does not answer. */
    write(to_child[1], "x", 1);
    printf("  answer while stopped: %s\n", readable_within(from_child[0], 200) ? "yes" : "no");
    w = waitpid(pid, &status, WNOHANG | WUNTRACED);
    printf("  waitpid again: %d (the stop is reported once)\n", (int)w);
    kill(pid, SIGCONT);
    w = waitpid(pid, &status, WCONTINUED);
    printf("  waitpid WCONTINUED: %s (%s)\n", w == pid ? "the child" : "?", describe(status));
    next_sigchld("after SIGCONT", pid);
    char buf[128] = {0};
    if (readable_within(from_child[0], 2000))
        read(from_child[0], buf, sizeof buf - 1);
    printf("  answer after SIGCONT: %s\n", buf);
    /* SIGTSTP stops it too (its own group is not orphaned). */
    kill(pid, SIGTSTP);
    w = waitpid(pid, &status, WUNTRACED);
    printf("  SIGTSTP: %s\n", describe(status));
    next_sigchld("after SIGTSTP", pid);
    /* SIGKILL ends a stopped process. */
    kill(pid, SIGKILL);
    w = waitpid(pid, &status, 0);
    printf("  SIGKILL while stopped: %s\n", describe(status));
    next_sigchld("after SIGKILL", pid);
    close(to_child[0]);
    close(to_child[1]);
    close(from_child[0]);
    close(from_child[1]);
}

static void waitid_reports(void) {
    puts("waitid:");
    int go[2];
    pipe(go);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        raise(SIGSTOP); /* stops itself */
        /* Lives until the parent has seen it continue: a zombie is never
         * reported to a wait without WEXITED. */
        char c;
        read(go[0], &c, 1);
        _exit(7);
    }
    setpgid(pid, pid);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    waitid(P_PID, (id_t)pid, &si, WSTOPPED | WNOWAIT);
    printf("  WSTOPPED|WNOWAIT: %s status %d\n", chld_code(si.si_code), si.si_status);
    memset(&si, 0, sizeof si);
    waitid(P_PID, (id_t)pid, &si, WSTOPPED);
    printf("  WSTOPPED again: %s status %d\n", chld_code(si.si_code), si.si_status);
    memset(&si, 0, sizeof si);
    int r = waitid(P_PID, (id_t)pid, &si, WSTOPPED | WNOHANG);
    printf("  WSTOPPED|WNOHANG: %d, si_pid %s\n", r, si.si_pid == 0 ? "0" : "set");
    next_sigchld("raise(SIGSTOP)", pid);
    kill(pid, SIGCONT);
    memset(&si, 0, sizeof si);
    waitid(P_PID, (id_t)pid, &si, WCONTINUED);
    printf("  WCONTINUED: %s status %d\n", chld_code(si.si_code), si.si_status);
    next_sigchld("SIGCONT", pid);
    write(go[1], "x", 1);
    close(go[0]);
    close(go[1]);
    memset(&si, 0, sizeof si);
    waitid(P_PID, (id_t)pid, &si, WEXITED);
    printf("  WEXITED: %s status %d\n", chld_code(si.si_code), si.si_status);
    next_sigchld("exit", pid);
}

static void no_sigchld_with_nocldstop(void) {
    puts("SA_NOCLDSTOP:");
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sa.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, &old);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        for (;;)
            pause();
    }
    setpgid(pid, pid);
    kill(pid, SIGSTOP);
    int status;
    waitpid(pid, &status, WUNTRACED);
    printf("  waitpid WUNTRACED: %s\n", describe(status));
    next_sigchld("stop", pid);
    kill(pid, SIGCONT);
    waitpid(pid, &status, WCONTINUED);
    printf("  waitpid WCONTINUED: %s\n", describe(status));
    next_sigchld("continue", pid);
    kill(pid, SIGTERM);
    waitpid(pid, &status, 0);
    printf("  then: %s\n", describe(status));
    next_sigchld("end", pid);
    sigaction(SIGCHLD, &old, NULL);
}

/* Two threads count in shared memory; the whole process stops. */
static volatile uint64_t *counters;

static void *count(void *arg) {
    int i = (int)(intptr_t)arg;
    for (;;)
        counters[i]++;
    return NULL;
}

static void threads_stop_together(void) {
    puts("threads:");
    counters = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        pthread_t t;
        pthread_create(&t, NULL, count, (void *)(intptr_t)1);
        count((void *)(intptr_t)0);
    }
    setpgid(pid, pid);
    while (counters[0] == 0 || counters[1] == 0)
        sleep_ms(10);
    kill(pid, SIGSTOP);
    int status;
    waitpid(pid, &status, WUNTRACED);
    printf("  %s\n", describe(status));
    next_sigchld("stop", pid);
    uint64_t a0 = counters[0], a1 = counters[1];
    sleep_ms(200);
    printf("  both threads still while stopped: %s\n",
           counters[0] == a0 && counters[1] == a1 ? "yes" : "no");
    kill(pid, SIGCONT);
    waitpid(pid, &status, WCONTINUED);
    next_sigchld("continue", pid);
    sleep_ms(200);
    printf("  both count again after SIGCONT: %s\n",
           counters[0] != a0 && counters[1] != a1 ? "yes" : "no");
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    printf("  %s\n", describe(status));
    next_sigchld("kill", pid);
}

static void orphaned_group_ignores_tstp(void) {
    puts("orphaned group:");
    int p[2];
    pipe(p);
    pid_t pid = fork();
    if (pid == 0) {
        setsid(); /* a new session: its group is orphaned */
        raise(SIGTSTP);
        write(p[1], "ran on", 6);
        raise(SIGSTOP); /* SIGSTOP stops it anyway */
        _exit(3);
    }
    int status;
    char buf[16] = {0};
    read(p[0], buf, sizeof buf - 1);
    printf("  after SIGTSTP: %s\n", buf);
    waitpid(pid, &status, WUNTRACED);
    printf("  SIGSTOP: %s\n", describe(status));
    next_sigchld("SIGTSTP discarded, SIGSTOP", pid);
    kill(pid, SIGCONT);
    waitpid(pid, &status, 0);
    printf("  then: %s\n", describe(status));
    next_sigchld("continue", pid);
    next_sigchld("exit", pid);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    stop_continue_and_wait();
    waitid_reports();
    no_sigchld_with_nocldstop();
    threads_stop_together();
    orphaned_group_ignores_tstp();
    puts("done");
    return 0;
}

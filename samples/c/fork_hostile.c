/* fork_hostile.c - what a hostile or careless program does with processes;
 * the sandbox must bound it and end the run cleanly. One MODE per run:
 *
 *   bomb LIMIT         forks children that stay alive until fork fails (at
 *                      most LIMIT + 16 tries); prints `eagain: yes` when it
 *                      failed with EAGAIN, `within limit: yes` when at most
 *                      LIMIT forks succeeded, then lets the children go,
 *                      reaps them all and forks once more (`fork after
 *                      reaping: ok`); exit 0
 *   zombie-bomb LIMIT  the same, but every child exits at once and none is
 *                      reaped until fork fails: zombies count until reaped
 *   zombies N          N children exit; none is ever reaped; exit 0
 *   killall            (sandbox only) three sleeping children, then one that
 *                      calls kill(-1, SIGKILL): every process but the caller
 *                      dies, this one (the first program) included: 137
 *   kill-errors        (sandbox only) kill(1, SIGKILL): EPERM; kill of a
 *                      reaped child's pid and group, and of pid 99999: ESRCH
 *   exec PATH          execve(PATH); when it returns, prints `execve: ERRNO`
 *                      and exits 0
 *   parent-exits FILE  a child that, once running, sleeps 2 s then creates
 *                      FILE; the parent exits 3 as soon as the child runs
 *
 * "Sandbox only" modes refuse to run natively (exit 2): there kill(-1) and
 * kill(1) would reach the host's processes. The sandbox is recognized by
 * uname's release (`...-thinvisor`) and pid 2. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *err_name(int e)
{
    static char other[32];
    switch (e) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case ENOSYS: return "ENOSYS";
    case ENOEXEC: return "ENOEXEC";
    case ECHILD: return "ECHILD";
    }
    snprintf(other, sizeof other, "errno %d", e);
    return other;
}

static int in_sandbox(void)
{
    struct utsname u;
    if (uname(&u) < 0) return 0;
    size_t n = strlen(u.release);
    return n >= 10 && strcmp(u.release + n - 10, "-thinvisor") == 0 && getpid() == 2;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static pid_t wait_for(pid_t pid, int *st)
{
    pid_t r;
    do r = waitpid(pid, st, 0);
    while (r < 0 && errno == EINTR);
    return r;
}

/* Forks until fork fails or `cap` children exist. A child either waits for
 * the gate to close (EOF) or, with `linger` 0, exits at once. */
static int bomb(int limit, int linger)
{
    int cap = limit + 16;
    pid_t *kids = calloc((size_t)cap, sizeof *kids);
    int gate[2];
    if (!kids || pipe(gate) < 0) return 1;
    alarm(30);
    int n = 0, err = 0;
    while (n < cap) {
        pid_t p = fork();
        if (p == 0) {
            alarm(30);
            if (linger) {
                close(gate[1]);
                char c;
                while (read(gate[0], &c, 1) < 0 && errno == EINTR) {
                }
            }
            _exit(0);
        }
        if (p < 0) {
            err = errno;
            break;
        }
        kids[n++] = p;
    }
    close(gate[1]);
    int reaped = 0;
    for (int i = 0; i < n; i++) {
        int st;
        if (wait_for(kids[i], &st) == kids[i]) reaped++;
    }
    printf("eagain: %s\n", err == EAGAIN ? "yes" : err ? err_name(err) : "no");
    printf("within limit: %s\n", n <= limit ? "yes" : "no");
    printf("forked: %s\n", n > 0 ? "yes" : "no");
    printf("reaped: %s\n", reaped == n ? "all" : "not all");
    pid_t p = fork();
    if (p == 0) _exit(0);
    int st;
    printf("fork after reaping: %s\n", p > 0 && wait_for(p, &st) == p ? "ok" : err_name(errno));
    return 0;
}

static int zombies(int n)
{
    int gate[2];
    if (pipe(gate) < 0) return 1;
    int made = 0;
    for (int i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0) _exit(i);
        if (p < 0) {
            printf("fork failed: %s\n", err_name(errno));
            break;
        }
        made++;
    }
    close(gate[1]);
    /* EOF once every child (each held the write end) has exited. */
    char c;
    while (read(gate[0], &c, 1) != 0 && errno == EINTR) {
    }
    printf("zombies: %d children exited, none reaped\n", made);
    return 0;
}

static int killall(void)
{
    if (!in_sandbox()) {
        fprintf(stderr, "fork_hostile killall: refused outside the sandbox\n");
        return 2;
    }
    int ready[2];
    if (pipe(ready) < 0) return 1;
    for (int i = 0; i < 3; i++) {
        pid_t p = fork();
        if (p < 0) {
            printf("fork failed: %s\n", err_name(errno));
            return 1;
        }
        if (p == 0) {
            alarm(30);
            write(ready[1], "s", 1);
            for (;;) pause();
        }
    }
    char c;
    for (int got = 0; got < 3;)
        if (read(ready[0], &c, 1) == 1) got++;
    printf("killall: 3 children sleep; a fourth calls kill(-1, SIGKILL)\n");
    fflush(stdout);
    pid_t k = fork();
    if (k < 0) {
        printf("fork failed: %s\n", err_name(errno));
        return 1;
    }
    if (k == 0) {
        alarm(30);
        kill(-1, SIGKILL);
        for (;;) pause();
    }
    for (;;) pause(); /* killed by the fourth child */
}

static int kill_errors(void)
{
    if (!in_sandbox()) {
        fprintf(stderr, "fork_hostile kill-errors: refused outside the sandbox\n");
        return 2;
    }
    int r = kill(1, SIGKILL);
    printf("kill(1, SIGKILL): %s\n", r == 0 ? "succeeds" : err_name(errno));
    pid_t p = fork();
    if (p < 0) {
        printf("fork failed: %s\n", err_name(errno));
        return 0;
    }
    if (p == 0) _exit(0);
    int st;
    wait_for(p, &st);
    r = kill(p, SIGTERM);
    printf("kill(reaped child, SIGTERM): %s\n", r == 0 ? "succeeds" : err_name(errno));
    r = kill(-p, SIGTERM);
    printf("kill(-reaped child, SIGTERM): %s\n", r == 0 ? "succeeds" : err_name(errno));
    r = kill(99999, 0);
    printf("kill(99999, 0): %s\n", r == 0 ? "succeeds" : err_name(errno));
    return 0;
}

static int exec_path(const char *path)
{
    char *argv[] = { (char *)path, NULL };
    char *envp[] = { NULL };
    execve(path, argv, envp);
    printf("execve: %s\n", err_name(errno));
    return 0;
}

static int parent_exits(const char *marker)
{
    int ready[2];
    if (pipe(ready) < 0) return 1;
    pid_t p = fork();
    if (p < 0) {
        printf("fork failed: %s\n", err_name(errno));
        return 1;
    }
    if (p == 0) {
        alarm(30);
        close(ready[0]);
        write(ready[1], "r", 1);
        sleep_ms(2000);
        int fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            write(fd, "the child outlived its parent\n", 30);
            close(fd);
        }
        _exit(0);
    }
    close(ready[1]);
    char c;
    while (read(ready[0], &c, 1) < 0 && errno == EINTR) {
    }
    printf("parent-exits: the child runs; the parent exits 3\n");
    return 3;
}

/* Churn: N times a pipe, a fork whose child writes a byte and exits, a
 * read and a wait; then "churned N" and 2 s of sleep, during which the
 * test looks at the runner's memory, descriptors and threads. */
static int churn(int n)
{
    for (int i = 0; i < n; i++) {
        int p[2];
        if (pipe(p) < 0) return 1;
        pid_t c = fork();
        if (c < 0) return 1;
        if (c == 0) {
            (void)!write(p[1], "x", 1);
            _exit(0);
        }
        close(p[1]);
        char b;
        if (read(p[0], &b, 1) != 1) return 1;
        close(p[0]);
        int st;
        if (waitpid(c, &st, 0) != c || !WIFEXITED(st)) return 1;
    }
    printf("churned %d\n", n);
    sleep(2);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "bomb") && argc > 2) return bomb(atoi(argv[2]), 1);
    if (!strcmp(mode, "zombie-bomb") && argc > 2) return bomb(atoi(argv[2]), 0);
    if (!strcmp(mode, "zombies") && argc > 2) return zombies(atoi(argv[2]));
    if (!strcmp(mode, "killall")) return killall();
    if (!strcmp(mode, "kill-errors")) return kill_errors();
    if (!strcmp(mode, "exec") && argc > 2) return exec_path(argv[2]);
    if (!strcmp(mode, "parent-exits") && argc > 2) return parent_exits(argv[2]);
    if (!strcmp(mode, "churn") && argc > 2) return churn(atoi(argv[2]));
    fprintf(stderr, "usage: fork_hostile bomb LIMIT | zombie-bomb LIMIT | zombies N | killall | kill-errors"
                    " | exec PATH | parent-exits FILE | churn N\n");
    return 2;
}

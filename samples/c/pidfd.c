/* pidfd.c - descriptors for processes: pidfd_open, clone3 and clone with
 * CLONE_PIDFD, poll and epoll on a pidfd (readable once the process has
 * ended), pidfd_send_signal, waitid(P_PIDFD) (EAGAIN on a nonblocking
 * pidfd while the child runs), and the errors Linux gives. Prints what it
 * sees; the output is compared with a native run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x1000
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#define PIDFD_NONBLOCK O_NONBLOCK

struct clone_args_v0 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

static int pidfd_open(pid_t pid, unsigned flags) {
    return (int)syscall(SYS_pidfd_open, pid, flags);
}

static int send_signal(int fd, int sig) {
    return (int)syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
}

static const char *readable(int fd, int ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, ms);
    return n == 1 && (p.revents & POLLIN) ? "readable" : "not readable";
}

static void report(const char *what, int fd) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int r = waitid(P_PIDFD, (id_t)fd, &si, WEXITED);
    if (r != 0) {
        printf("%s: waitid failed: %s\n", what, strerror(errno));
        return;
    }
    printf("%s: %s %d\n", what,
           si.si_code == CLD_EXITED ? "exited" : si.si_code == CLD_KILLED ? "killed by" : "?",
           si.si_status);
}

/* A child that waits until its stdin-like pipe closes or a signal ends it. */
static pid_t waiting_child(int p[2]) {
    pipe(p);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[1]);
        char c;
        read(p[0], &c, 1);
        _exit(3);
    }
    close(p[0]);
    return pid;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int p[2];

    /* pidfd_open, poll, pidfd_send_signal, waitid(P_PIDFD). */
    pid_t pid = waiting_child(p);
    int fd = pidfd_open(pid, 0);
    printf("pidfd_open: %s, close-on-exec: %s\n", fd >= 0 ? "ok" : strerror(errno),
           (fcntl(fd, F_GETFD) & FD_CLOEXEC) ? "yes" : "no");
    char link[64], target[64] = {0};
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    readlink(link, target, sizeof target - 1);
    printf("it is %s\n", target);
    char c;
    printf("read: %s\n", read(fd, &c, 1) < 0 ? strerror(errno) : "data?");
    printf("while the child runs: %s\n", readable(fd, 0));
    printf("pidfd_send_signal SIGTERM: %s\n", send_signal(fd, SIGTERM) == 0 ? "ok" : strerror(errno));
    printf("after: %s\n", readable(fd, 5000));
    report("child", fd);
    printf("pidfd_send_signal after the end: %s\n",
           send_signal(fd, SIGTERM) == 0 ? "ok" : strerror(errno));
    close(fd);
    close(p[1]);

    /* A nonblocking pidfd: waitid answers EAGAIN while the child runs. */
    pid = waiting_child(p);
    fd = pidfd_open(pid, PIDFD_NONBLOCK);
    siginfo_t si;
    int r = waitid(P_PIDFD, (id_t)fd, &si, WEXITED);
    printf("nonblocking waitid while it runs: %s\n", r == 0 ? "0" : strerror(errno));
    close(p[1]); /* the child reads end-of-file and exits 3 */
    printf("after the pipe closed: %s\n", readable(fd, 5000));
    r = waitid(P_PIDFD, (id_t)fd, &si, WEXITED);
    printf("nonblocking waitid after: %s, status %d\n", r == 0 ? "0" : strerror(errno),
           si.si_status);
    close(fd);

    /* clone3 with CLONE_PIDFD, and epoll on the pidfd. */
    int cfd = -1;
    struct clone_args_v0 args = {.flags = CLONE_PIDFD, .pidfd = (uint64_t)(uintptr_t)&cfd,
                                 .exit_signal = SIGCHLD};
    long child = syscall(SYS_clone3, &args, sizeof args);
    if (child == 0)
        _exit(5);
    printf("clone3 CLONE_PIDFD: %s, pidfd %s\n", child > 0 ? "ok" : strerror(errno),
           cfd > 2 ? "set" : "not set");
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 7};
    epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev);
    struct epoll_event got;
    int n = epoll_wait(ep, &got, 1, 5000);
    printf("epoll_wait: %d event(s), tag %u\n", n, n == 1 ? got.data.u32 : 0);
    report("clone3 child", cfd);
    close(ep);
    close(cfd);

    /* clone with CLONE_PIDFD: the pidfd arrives where parent_tid points. */
    int pfd = -1;
    child = syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, 0, &pfd, 0, 0);
    if (child == 0)
        _exit(6);
    printf("clone CLONE_PIDFD: %s, pidfd %s\n", child > 0 ? "ok" : strerror(errno),
           pfd > 2 ? "set" : "not set");
    report("clone child", pfd);
    close(pfd);

    /* Errors. */
    errno = 0;
    printf("pidfd_open of no process: %s\n", pidfd_open(999999, 0) < 0 ? strerror(errno) : "ok?");
    printf("pidfd_open with a bad flag: %s\n",
           pidfd_open(getpid(), 1) < 0 ? strerror(errno) : "ok?");
    printf("pidfd_send_signal on a pipe: %s\n", send_signal(0, 0) < 0 ? strerror(errno) : "ok?");
    long t = syscall(SYS_clone, CLONE_PIDFD | CLONE_PARENT_SETTID | SIGCHLD, 0, &pfd, 0, 0);
    if (t == 0)
        _exit(0);
    printf("clone with CLONE_PIDFD and CLONE_PARENT_SETTID: %s\n", t < 0 ? strerror(errno) : "ok?");
    fd = pidfd_open(getpid(), 0);
    printf("own pidfd: %s, %s\n", fd >= 0 ? "ok" : strerror(errno), readable(fd, 0));
    puts("done");
    return 0;
}

/* events.c - epoll and eventfd between threads: level- and edge-triggered
 * readiness, EPOLLONESHOT, timeouts, a thread woken in epoll_wait by
 * another's write, an eventfd semaphore, poll on a pipe another thread
 * fills. Output does not depend on scheduling; the tests compare it with
 * a native run. */
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

static int pipefd[2];
static int efd;

static int wait_events(int ep, int timeout_ms, uint64_t *datas) {
    struct epoll_event ev[8];
    int n = epoll_wait(ep, ev, 8, timeout_ms);
    for (int i = 0; i < n; i++) datas[i] = ev[i].data.u64;
    return n;
}

static void *writer(void *arg) {
    struct timespec ts = {0, 30 * 1000 * 1000};
    nanosleep(&ts, NULL);
    if (arg)
        (void)!write(pipefd[1], "x", 1);
    else {
        uint64_t one = 1;
        (void)!write(efd, &one, 8);
    }
    return NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    uint64_t d[8];
    if (pipe(pipefd) || (efd = eventfd(0, 0)) < 0) {
        puts("setup failed");
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 11};
    epoll_ctl(ep, EPOLL_CTL_ADD, pipefd[0], &ev);
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u64 = 22;
    epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
    printf("empty, timeout 20ms: %d\n", wait_events(ep, 20, d));
    printf("add twice: %d\n", epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) == -1);

    /* Level-triggered: reported until drained. */
    (void)!write(pipefd[1], "ab", 2);
    int n = wait_events(ep, 0, d);
    printf("pipe ready: %d data %llu\n", n, (unsigned long long)d[0]);
    n = wait_events(ep, 0, d);
    printf("pipe still ready (level): %d\n", n);
    char buf[8];
    (void)!read(pipefd[0], buf, sizeof buf);
    printf("drained: %d\n", wait_events(ep, 0, d));

    /* Edge-triggered: once per change. */
    uint64_t two = 2;
    (void)!write(efd, &two, 8);
    n = wait_events(ep, 0, d);
    printf("eventfd edge: %d data %llu\n", n, (unsigned long long)d[0]);
    printf("eventfd edge again: %d\n", wait_events(ep, 0, d));
    uint64_t got = 0;
    (void)!read(efd, &got, 8);
    printf("eventfd read %llu\n", (unsigned long long)got);

    /* A thread wakes a blocked epoll_wait. */
    pthread_t t;
    pthread_create(&t, NULL, writer, (void *)1);
    n = wait_events(ep, 5000, d);
    printf("woken by a thread: %d data %llu\n", n, (unsigned long long)d[0]);
    pthread_join(t, NULL);
    (void)!read(pipefd[0], buf, sizeof buf);

    /* ONESHOT: once, until MOD. */
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.u64 = 33;
    epoll_ctl(ep, EPOLL_CTL_MOD, pipefd[0], &ev);
    (void)!write(pipefd[1], "y", 1);
    printf("oneshot: %d then %d\n", wait_events(ep, 0, d), wait_events(ep, 0, d));
    epoll_ctl(ep, EPOLL_CTL_MOD, pipefd[0], &ev);
    printf("after MOD: %d\n", wait_events(ep, 0, d));
    epoll_ctl(ep, EPOLL_CTL_DEL, pipefd[0], NULL);
    printf("after DEL: %d\n", wait_events(ep, 0, d));

    /* A blocking eventfd read that another thread satisfies. */
    pthread_create(&t, NULL, writer, NULL);
    got = 0;
    (void)!read(efd, &got, 8);
    printf("blocking eventfd read: %llu\n", (unsigned long long)got);
    pthread_join(t, NULL);

    /* Semaphore mode. */
    int sem = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK);
    int reads = 0;
    while (read(sem, &got, 8) == 8) reads++;
    printf("semaphore reads: %d\n", reads);

    /* poll on a pipe another thread fills. */
    pthread_create(&t, NULL, writer, (void *)1);
    struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
    n = poll(&p, 1, 5000);
    printf("poll woken: %d revents %d\n", n, p.revents);
    pthread_join(t, NULL);
    puts("done");
    return 0;
}

/* epoll_edges [PORT] - when edge-triggered epoll reports a descriptor
 * again. On Linux an edge is new data (or a new connection) arriving,
 * not only a descriptor going from empty to ready: a program that read
 * to EAGAIN is told about data that came after, even when no epoll_wait
 * saw the descriptor empty in between (another thread, or the program
 * itself, made it ready again first). Go's netpoller and every
 * edge-triggered event loop wait that way. Each line prints how many
 * events a wait that does not block found.
 *
 * Sections: a nonblocking pipe, an eventfd and, with PORT, a TCP listener
 * on 127.0.0.1:PORT with a client connecting to it from the same program
 * (a listen rule and an outbound rule for the address). The output does
 * not depend on scheduling; the tests compare it with a native run. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

static int ep;

static int watch(int fd, uint32_t events) {
    struct epoll_event ev = {.events = events, .data.fd = fd};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* Events found by a wait of at most `ms` milliseconds. */
static int found(int ms) {
    struct epoll_event ev[4];
    return epoll_wait(ep, ev, 4, ms);
}

/* Reads `fd` to EAGAIN; the bytes read. */
static int drain(int fd) {
    char buf[64];
    int total = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        total += (int)n;
    return n < 0 && errno == EAGAIN ? total : -1;
}

static int pipes(void) {
    int p[2];
    if (pipe2(p, O_NONBLOCK) != 0 || watch(p[0], EPOLLIN | EPOLLET) != 0) {
        printf("pipe: errno %d\n", errno);
        return 1;
    }
    (void)!write(p[1], "a", 1);
    printf("pipe: written %d", found(0));
    printf(", nothing new %d", found(0));
    int got = drain(p[0]);
    (void)!write(p[1], "b", 1);
    printf(", drained %d then written %d", got, found(0));
    (void)!write(p[1], "c", 1);
    printf(", written again unread %d", found(0));
    printf(", nothing new %d\n", found(0));
    /* Closing the watched end closes it: epoll does not keep it open, and
     * its interest is gone (the number can be watched again). */
    close(p[0]);
    errno = 0;
    int w = (int)write(p[1], "d", 1), werr = errno;
    close(p[1]);
    int again = pipe2(p, O_NONBLOCK) == 0 ? watch(p[0], EPOLLIN) : -2;
    printf("pipe closed while watched: write %d errno %d, watched again %d\n", w, werr, again);
    epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL);
    close(p[0]);
    close(p[1]);
    return 0;
}

static int eventfds(void) {
    int e = eventfd(0, EFD_NONBLOCK);
    if (e < 0 || watch(e, EPOLLIN | EPOLLET) != 0) {
        printf("eventfd: errno %d\n", errno);
        return 1;
    }
    uint64_t one = 1, got = 0;
    (void)!write(e, &one, 8);
    printf("eventfd: written %d", found(0));
    (void)!read(e, &got, 8);
    int again = read(e, &got, 8) < 0 && errno == EAGAIN;
    (void)!write(e, &one, 8);
    printf(", drained %d then written %d", again, found(0));
    (void)!write(e, &one, 8);
    printf(", written again unread %d", found(0));
    printf(", nothing new %d\n", found(0));
    close(e);
    return 0;
}

static int connect_to(struct sockaddr_in *a) {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)a, sizeof *a) != 0)
        return -1;
    return c;
}

static int tcp(int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 8) != 0 ||
        watch(s, EPOLLIN | EPOLLET) != 0) {
        printf("listener: errno %d\n", errno);
        return 1;
    }
    int c1 = connect_to(&a);
    printf("listener: connected %d", found(2000));
    int conn = accept4(s, NULL, NULL, SOCK_NONBLOCK);
    int again = accept(s, NULL, NULL) < 0 && errno == EAGAIN;
    /* The second client comes before any wait sees the listener empty. */
    int c2 = connect_to(&a);
    printf(", accepted %d then connected %d", conn >= 0 && again, found(2000));
    printf(", nothing new %d\n", found(0));
    if (c1 < 0 || c2 < 0 || conn < 0) {
        printf("clients: errno %d\n", errno);
        return 1;
    }

    /* A connection's data: the same for reads. */
    if (watch(conn, EPOLLIN | EPOLLET) != 0) {
        printf("connection: errno %d\n", errno);
        return 1;
    }
    (void)!write(c1, "hello", 5);
    printf("connection: sent %d", found(2000));
    int got = drain(conn);
    (void)!write(c1, "again", 5);
    printf(", drained %d then sent %d", got, found(2000));
    printf(", nothing new %d\n", found(0));
    close(conn);
    close(c1);
    close(c2);
    close(s);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGPIPE, SIG_IGN);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0 || pipes() != 0 || eventfds() != 0)
        return 1;
    if (argc == 2 && tcp(atoi(argv[1])) != 0)
        return 1;
    return 0;
}

/* socketpair.c - AF_UNIX socketpairs as programs use them: a stream pair
 * between a parent and a forked child (request, answer, shutdown, end of
 * file), datagram and seqpacket pairs keeping message boundaries (MSG_PEEK,
 * MSG_TRUNC), a nonblocking pair (EAGAIN, poll), what getsockopt and
 * getsockname say, EPIPE after the peer closed, and the errors Linux gives
 * (SOCK_RAW is a datagram pair there), sendmmsg and recvmmsg.
 * `socketpair many`: pairs until
 * socketpair fails, then one more once they are closed.
 * Prints what it sees; the output is compared with a native run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void stream_with_a_child(void) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        printf("socketpair: %s\n", strerror(errno));
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        char buf[64];
        ssize_t n = read(sv[1], buf, sizeof buf);
        char out[96];
        int len = snprintf(out, sizeof out, "child got %zd bytes: %.*s", n, (int)n, buf);
        write(sv[1], out, (size_t)len);
        shutdown(sv[1], SHUT_WR);
        n = read(sv[1], buf, sizeof buf);
        _exit(n == 0 ? 0 : 1);
    }
    close(sv[1]);
    write(sv[0], "ping", 4);
    char buf[128] = {0};
    size_t got = 0;
    ssize_t n;
    while ((n = read(sv[0], buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)n;
    printf("stream: %s, then end of file (%zd)\n", buf, n);
    shutdown(sv[0], SHUT_WR);
    int status;
    waitpid(pid, &status, 0);
    printf("stream: the child saw end of file too: %s\n",
           WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "yes" : "no");
    close(sv[0]);
}

static void messages(int type, const char *name) {
    int sv[2];
    if (socketpair(AF_UNIX, type, 0, sv) != 0) {
        printf("%s: %s\n", name, strerror(errno));
        return;
    }
    send(sv[0], "first", 5, 0);
    send(sv[0], "second message", 14, 0);
    char buf[64] = {0};
    ssize_t n = recv(sv[1], buf, sizeof buf, MSG_PEEK);
    printf("%s: peek %zd \"%.*s\"", name, n, (int)n, buf);
    n = recv(sv[1], buf, sizeof buf, 0);
    printf(", recv %zd \"%.*s\"", n, (int)n, buf);
    n = recv(sv[1], buf, 6, MSG_TRUNC);
    printf(", truncated recv %zd \"%.6s\"\n", n, buf);
    int v = 0;
    socklen_t l = sizeof v;
    getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &l);
    printf("%s: SO_TYPE is the type: %s", name, v == type ? "yes" : "no");
    l = sizeof v;
    getsockopt(sv[0], SOL_SOCKET, SO_DOMAIN, &v, &l);
    printf(", SO_DOMAIN AF_UNIX: %s\n", v == AF_UNIX ? "yes" : "no");
    close(sv[0]);
    close(sv[1]);
}

static void nonblocking(void) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
    char c;
    ssize_t n = read(sv[0], &c, 1);
    printf("nonblocking: empty read %s", n < 0 ? strerror(errno) : "data?");
    struct pollfd p = {.fd = sv[0], .events = POLLIN};
    printf(", poll before %d", poll(&p, 1, 0));
    write(sv[1], "x", 1);
    int ready = poll(&p, 1, 1000);
    printf(", poll after %d (POLLIN %s)\n", ready, (p.revents & POLLIN) ? "yes" : "no");
    printf("nonblocking: O_NONBLOCK in F_GETFL: %s\n",
           (fcntl(sv[0], F_GETFL) & O_NONBLOCK) ? "yes" : "no");
    struct sockaddr_un name;
    socklen_t len = sizeof name;
    memset(&name, 0, sizeof name);
    getsockname(sv[0], (struct sockaddr *)&name, &len);
    printf("getsockname: family AF_UNIX %s, length %u\n", name.sun_family == AF_UNIX ? "yes" : "no",
           (unsigned)len);
    len = sizeof name;
    getpeername(sv[0], (struct sockaddr *)&name, &len);
    printf("getpeername: length %u\n", (unsigned)len);
    close(sv[1]);
    signal(SIGPIPE, SIG_IGN);
    n = write(sv[0], "y", 1);
    printf("write after the peer closed: %s\n", n < 0 ? strerror(errno) : "ok?");
    close(sv[0]);
}

static void errors(void) {
    int sv[2];
    printf("AF_INET pair: %s\n", socketpair(AF_INET, SOCK_STREAM, 0, sv) < 0 ? strerror(errno) : "ok?");
    printf("SOCK_RAW pair: %s\n", socketpair(AF_UNIX, SOCK_RAW, 0, sv) < 0 ? strerror(errno) : "ok?");
    printf("protocol 7: %s\n", socketpair(AF_UNIX, SOCK_STREAM, 7, sv) < 0 ? strerror(errno) : "ok?");
    printf("bad pointer: %s\n",
           socketpair(AF_UNIX, SOCK_STREAM, 0, (int *)8) < 0 ? strerror(errno) : "ok?");
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    printf("listen on an end: %s\n", listen(sv[0], 1) < 0 ? strerror(errno) : "ok?");
    close(sv[0]);
    close(sv[1]);
}

/* sendmmsg and recvmmsg on a datagram pair: three messages in one call,
 * received with MSG_WAITFORONE into five slots, then an empty pair. */
static void batches(void) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    char *words[3] = {"one", "three", "eleven"};
    struct iovec out[3];
    struct mmsghdr msgs[3];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < 3; i++) {
        out[i].iov_base = words[i];
        out[i].iov_len = strlen(words[i]);
        msgs[i].msg_hdr.msg_iov = &out[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = sendmmsg(sv[0], msgs, 3, 0);
    printf("sendmmsg: %d, lengths %u %u %u\n", n, msgs[0].msg_len, msgs[1].msg_len,
           msgs[2].msg_len);
    char bufs[5][16];
    struct iovec in[5];
    struct mmsghdr got[5];
    memset(got, 0, sizeof got);
    for (int i = 0; i < 5; i++) {
        in[i].iov_base = bufs[i];
        in[i].iov_len = sizeof bufs[i];
        got[i].msg_hdr.msg_iov = &in[i];
        got[i].msg_hdr.msg_iovlen = 1;
    }
    n = recvmmsg(sv[1], got, 5, MSG_WAITFORONE, NULL);
    printf("recvmmsg: %d:", n);
    for (int i = 0; i < n && i < 5; i++)
        printf(" %.*s (%u)", (int)got[i].msg_len, bufs[i], got[i].msg_len);
    printf("\n");
    n = recvmmsg(sv[1], got, 5, MSG_DONTWAIT, NULL);
    printf("recvmmsg of nothing: %s\n", n < 0 ? strerror(errno) : "ok?");
    struct timespec bad = {0, 2000000000L};
    n = recvmmsg(sv[1], got, 5, MSG_DONTWAIT, &bad);
    printf("recvmmsg with a bad timeout: %s\n", n < 0 ? strerror(errno) : "ok?");
    printf("sendmmsg of none: %d\n", sendmmsg(sv[0], msgs, 0, 0));
    close(sv[0]);
    close(sv[1]);
}

/* `many`: pairs until socketpair fails (the sandbox bounds them: their
 * buffers are host kernel memory), then again once they are closed. */
static int many(void) {
    static int fds[4096][2];
    int n = 0;
    while (n < 4096 && socketpair(AF_UNIX, SOCK_STREAM, 0, fds[n]) == 0)
        n++;
    printf("pairs: %d, then %s\n", n, n < 4096 ? strerror(errno) : "no error");
    for (int i = 0; i < n; i++) {
        close(fds[i][0]);
        close(fds[i][1]);
    }
    int sv[2];
    printf("after closing them: %s\n", socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 ? "ok" : strerror(errno));
    /* The send buffer stays within what the sandbox counts. */
    int big = 1 << 20, got = 0;
    socklen_t l = sizeof got;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &got, &l);
    printf("SO_SNDBUF after asking 1 MiB: %d\n", got);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && !strcmp(argv[1], "many"))
        return many();
    stream_with_a_child();
    messages(SOCK_DGRAM, "dgram");
    messages(SOCK_SEQPACKET, "seqpacket");
    nonblocking();
    errors();
    batches();
    puts("done");
    return 0;
}

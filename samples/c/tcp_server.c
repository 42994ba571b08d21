/* tcp_server PORT N: a TCP server on 127.0.0.1:PORT. Prints "listening on
 * PORT", then serves N connections one after another (the first with
 * accept4(SOCK_CLOEXEC), the others with accept): reads one line and
 * writes it back upper-cased with the connection's number ("HELLO #1\n";
 * the third connection with recvmsg and a two-part sendmsg),
 * checking that getpeername names a loopback peer and getsockname the
 * server's port. Ends with "served N" (exit 0); a failed call prints its
 * name and errno and exits 1.
 *
 * tcp_server refuse PORT: what a policy without a listen rule for
 * 127.0.0.1:PORT answers: "bind: errno E, listen unbound: errno E"
 * (EACCES is 13 in the sandbox). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static int fail(const char *what) {
    printf("%s failed: errno %d\n", what, errno);
    return 1;
}

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static int refuse(int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return fail("socket");
    struct sockaddr_in a = loopback(port);
    errno = 0;
    int b = bind(s, (struct sockaddr *)&a, sizeof a);
    int bind_errno = b == 0 ? 0 : errno;
    int u = socket(AF_INET, SOCK_STREAM, 0);
    errno = 0;
    int l = listen(u, 4);
    printf("bind: errno %d, listen unbound: errno %d\n", bind_errno, l == 0 ? 0 : errno);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc == 3 && strcmp(argv[1], "refuse") == 0)
        return refuse(atoi(argv[2]));
    if (argc != 3) {
        fprintf(stderr, "usage: tcp_server PORT N | tcp_server refuse PORT\n");
        return 2;
    }
    int port = atoi(argv[1]), n = atoi(argv[2]);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return fail("socket");
    int one = 1;
    if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
        return fail("setsockopt");
    struct sockaddr_in a = loopback(port);
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0)
        return fail("bind");
    if (listen(s, 16) != 0)
        return fail("listen");
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    if (getsockname(s, (struct sockaddr *)&me, &ml) != 0 || ntohs(me.sin_port) != port)
        return fail("getsockname");
    printf("listening on %d\n", port);
    for (int i = 1; i <= n; i++) {
        struct sockaddr_in peer;
        socklen_t pl = sizeof peer;
        int c = i == 1 ? accept4(s, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC)
                       : accept(s, (struct sockaddr *)&peer, &pl);
        if (c < 0)
            return fail("accept");
        if (pl != sizeof peer || peer.sin_family != AF_INET ||
            peer.sin_addr.s_addr != htonl(INADDR_LOOPBACK))
            return fail("the peer's address");
        char line[256];
        size_t got = 0;
        while (got < sizeof line - 1) {
            ssize_t k;
            if (i == 3) {
                /* The third connection with recvmsg and sendmsg. */
                struct sockaddr_in from;
                struct iovec v = {line + got, 1};
                struct msghdr m = {.msg_name = &from, .msg_namelen = sizeof from,
                                   .msg_iov = &v, .msg_iovlen = 1};
                k = recvmsg(c, &m, 0);
                if (k > 0 && (m.msg_namelen != 0 || m.msg_controllen != 0 || m.msg_flags != 0))
                    return fail("recvmsg's header");
            } else {
                k = read(c, line + got, 1);
            }
            if (k <= 0 || line[got] == '\n')
                break;
            got++;
        }
        line[got] = 0;
        for (size_t j = 0; j < got; j++)
            line[j] = (char)toupper((unsigned char)line[j]);
        char reply[300];
        int len = snprintf(reply, sizeof reply, "%s #%d\n", line, i);
        if (i == 3) {
            struct iovec v[2] = {{reply, 2}, {reply + 2, (size_t)len - 2}};
            struct msghdr m = {.msg_iov = v, .msg_iovlen = 2};
            if (sendmsg(c, &m, MSG_NOSIGNAL) != len)
                return fail("sendmsg");
        } else if (write(c, reply, (size_t)len) != len) {
            return fail("write");
        }
        close(c);
    }
    printf("served %d\n", n);
    return 0;
}

/* AF_UNIX sockets with names and SCM_RIGHTS, in the directory argv[1]
 * (read-write). Deterministic output (no pids, no paths: names are shown
 * relative to the directory), the same natively and in the sandbox.
 *
 *   unix_sockets DIR              streams and datagrams over an abstract
 *                                 name and a path, errors, SCM_RIGHTS
 *   unix_sockets DIR connect NAME connect to abstract NAME (@NAME) or a
 *                                 path in DIR, bind NAME: print the errnos
 *   unix_sockets DIR flood        pass descriptors without receiving
 *   unix_sockets DIR badcmsg      malformed control messages
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *dir;
static char tag[64];

static socklen_t abstract_addr(struct sockaddr_un *a, const char *name) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    int n = snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "%s#%s", name, tag);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static socklen_t path_addr(struct sockaddr_un *a, const char *name) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    snprintf(a->sun_path, sizeof a->sun_path, "%s/%s", dir, name);
    return (socklen_t)sizeof *a;
}

/* A name as printed: @name-without-tag for abstract, the last component
 * of a path, "(unnamed)" for the family alone. */
static void show(char *out, size_t room, struct sockaddr_un *a, socklen_t len) {
    if (len < sizeof *a) memset((char *)a + len, 0, sizeof *a - len);
    size_t off = offsetof(struct sockaddr_un, sun_path);
    if (len <= off) {
        snprintf(out, room, "(unnamed, len %u)", (unsigned)len);
    } else if (a->sun_path[0] == 0) {
        char name[110] = {0};
        memcpy(name, a->sun_path + 1, len - off - 1);
        int exact = strlen(name) == len - off - 1;
        char *dash = strrchr(name, '#');
        if (dash) *dash = 0;
        snprintf(out, room, "@%s (len %s)", name, exact ? "offset + 1 + name" : "other");
    } else {
        const char *slash = strrchr(a->sun_path, '/');
        int exact = len == off + strlen(a->sun_path) + 1;
        snprintf(out, room, "%s (len %s)", slash ? slash + 1 : a->sun_path,
                 exact ? "offset + strlen + 1" : "other");
    }
}

static const char *err(int r) {
    return r == 0 ? "ok" : strerror(errno);
}

static int send_fds(int s, const int *fds, int n, const char *byte) {
    char cbuf[CMSG_SPACE(sizeof(int) * 4)];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec iov = {(void *)byte, strlen(byte)};
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = cbuf;
    m.msg_controllen = CMSG_SPACE(sizeof(int) * n);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
    return (int)sendmsg(s, &m, 0);
}

/* Receives with `room` bytes of control: how many descriptors came, into
 * fds; *flags the message flags. */
static int recv_fds(int s, int *fds, size_t room, int *flags, char *data, size_t len) {
    char cbuf[256];
    struct iovec iov = {data, len};
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = room ? cbuf : NULL;
    m.msg_controllen = room;
    ssize_t r = recvmsg(s, &m, MSG_CMSG_CLOEXEC);
    if (r < 0) return -1;
    data[r] = 0;
    *flags = m.msg_flags;
    int n = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            memcpy(fds + n, CMSG_DATA(c), sizeof(int) * k);
            n += k;
        }
    }
    return n;
}

/* Reads what a passed descriptor gives. */
static void read_passed(const char *what, int fd, size_t len) {
    char buf[64] = {0};
    ssize_t r = read(fd, buf, len);
    int cloexec = fcntl(fd, F_GETFD) & FD_CLOEXEC;
    printf("  %s: read %zd: %s (close-on-exec: %s)\n", what, r, r > 0 ? buf : "-",
           cloexec ? "yes" : "no");
}

/* The child's side of the SCM_RIGHTS part, over connected socket s. */
static void child_receives(int s) {
    int fds[8], flags;
    char data[16];
    int n = recv_fds(s, fds, 256, &flags, data, sizeof data - 1);
    printf("  child: %d descriptor(s) with \"%s\", ctrunc %s\n", n, data,
           flags & MSG_CTRUNC ? "yes" : "no");
    if (n == 2) {
        read_passed("pipe", fds[0], 16);
        read_passed("file", fds[1], 32);
    }
    /* Two descriptors into room for one: MSG_CTRUNC, one arrives. */
    n = recv_fds(s, fds, CMSG_LEN(sizeof(int)), &flags, data, sizeof data - 1);
    printf("  child: room for one: %d descriptor(s), ctrunc %s\n", n,
           flags & MSG_CTRUNC ? "yes" : "no");
    n = recv_fds(s, fds, 0, &flags, data, sizeof data - 1);
    printf("  child: no room: %d descriptor(s), ctrunc %s\n", n,
           flags & MSG_CTRUNC ? "yes" : "no");
    /* Bytes sent before the descriptors come without them. */
    n = recv_fds(s, fds, 256, &flags, data, 2);
    printf("  child: first bytes \"%s\": %d descriptor(s)\n", data, n);
    n = recv_fds(s, fds, 256, &flags, data, sizeof data - 1);
    printf("  child: then \"%s\": %d descriptor(s)\n", data, n);
    if (n == 1) read_passed("pipe again", fds[0], 6);
    fflush(stdout);
}

/* The parent's side: a pipe's read end and an open file, then again. */
static void parent_sends(int s) {
    int p[2];
    char path[256];
    snprintf(path, sizeof path, "%s/passed.txt", dir);
    int f = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (pipe(p) < 0 || f < 0) {
        perror("pipe/open");
        exit(1);
    }
    write(p[1], "through the pipe", 16);
    write(f, "from the file", 13);
    lseek(f, 0, SEEK_SET);
    int both[2] = {p[0], f};
    send_fds(s, both, 2, "A");
    send_fds(s, both, 2, "B");
    send_fds(s, both, 2, "C");
    write(s, "xy", 2);
    write(p[1], "second", 6);
    send_fds(s, both, 1, "D");
    close(p[0]);
    close(p[1]);
    close(f);
}

static void rights_over(const char *label, int parent_end, int child_end) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(parent_end);
        child_receives(child_end);
        _exit(0);
    }
    close(child_end);
    parent_sends(parent_end);
    int st;
    waitpid(pid, &st, 0);
    close(parent_end);
    printf("%s: child exited %d\n", label, WEXITSTATUS(st));
}

static void stream(const char *label, struct sockaddr_un *a, socklen_t len) {
    char name[200];
    int srv = socket(AF_UNIX, SOCK_STREAM, 0);
    const char *b = err(bind(srv, (void *)a, len));
    const char *l = err(listen(srv, 4));
    printf("%s: bind %s, listen %s\n", label, b, l);
    struct sockaddr_un got;
    socklen_t glen = sizeof got;
    getsockname(srv, (void *)&got, &glen);
    show(name, sizeof name, &got, glen);
    printf("%s: getsockname: %s\n", label, name);
    int again = socket(AF_UNIX, SOCK_STREAM, 0);
    int r = bind(again, (void *)a, len);
    printf("%s: second bind: %s\n", label, err(r));
    close(again);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        int cr = connect(c, (void *)a, len);
        printf("  client: connect %s\n", err(cr));
        write(c, "hello", 5);
        char buf[16] = {0};
        ssize_t n = read(c, buf, 5);
        printf("  client: echo %zd: %s\n", n, buf);
        /* Descriptors only after the echo was read. */
        write(c, "g", 1);
        glen = sizeof got;
        getpeername(c, (void *)&got, &glen);
        show(name, sizeof name, &got, glen);
        printf("  client: getpeername: %s\n", name);
        glen = sizeof got;
        getsockname(c, (void *)&got, &glen);
        show(name, sizeof name, &got, glen);
        printf("  client: getsockname: %s\n", name);
        struct ucred cred;
        socklen_t clen = sizeof cred;
        getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &clen);
        printf("  client: SO_PEERCRED pid is the server's: %s, uid ours: %s\n",
               cred.pid == getppid() ? "yes" : "no", cred.uid == getuid() ? "yes" : "no");
        /* The connection also carries descriptors. */
        child_receives(c);
        fflush(stdout);
        _exit(0);
    }
    struct sockaddr_un peer;
    socklen_t plen = sizeof peer;
    int conn = accept(srv, (void *)&peer, &plen);
    char buf[16] = {0};
    ssize_t n = read(conn, buf, 5);
    write(conn, buf, (size_t)n);
    char accepted[200], local[200];
    show(accepted, sizeof accepted, &peer, plen);
    glen = sizeof got;
    getsockname(conn, (void *)&got, &glen);
    show(local, sizeof local, &got, glen);
    struct ucred cred;
    socklen_t clen = sizeof cred;
    getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &clen);
    int peer_is_child = cred.pid == pid;
    char go;
    read(conn, &go, 1);
    parent_sends(conn);
    int st;
    waitpid(pid, &st, 0);
    printf("%s: accepted peer %s; its getsockname: %s; got %zd bytes; SO_PEERCRED pid is the client's: %s; child exited %d\n",
           label, accepted, local, n, peer_is_child ? "yes" : "no", WEXITSTATUS(st));
    close(conn);
    close(srv);
    r = connect(socket(AF_UNIX, SOCK_STREAM, 0), (void *)a, len);
    printf("%s: connect after the listener closed: %s\n", label, err(r));
}

static void datagrams(void) {
    struct sockaddr_un srv_a, cli_a;
    socklen_t sl = path_addr(&srv_a, "dgram.sock");
    socklen_t cl = path_addr(&cli_a, "client.sock");
    int srv = socket(AF_UNIX, SOCK_DGRAM, 0);
    printf("dgram: bind %s\n", err(bind(srv, (void *)&srv_a, sl)));
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int c = socket(AF_UNIX, SOCK_DGRAM, 0);
        bind(c, (void *)&cli_a, cl);
        sendto(c, "ping", 4, 0, (void *)&srv_a, sl);
        char buf[16] = {0};
        ssize_t n = recv(c, buf, sizeof buf - 1, 0);
        printf("  dgram client: reply %zd: %s\n", n, buf);
        int u = socket(AF_UNIX, SOCK_DGRAM, 0);
        connect(u, (void *)&srv_a, sl);
        send(u, "unnamed", 7, 0);
        send(u, "", 0, 0);
        fflush(stdout);
        _exit(0);
    }
    char buf[16] = {0}, name[200];
    struct sockaddr_un from;
    socklen_t flen = sizeof from;
    ssize_t n = recvfrom(srv, buf, sizeof buf - 1, 0, (void *)&from, &flen);
    show(name, sizeof name, &from, flen);
    sendto(srv, "pong", 4, 0, (void *)&from, flen);
    char buf2[16] = {0};
    struct sockaddr_un from2;
    socklen_t flen2 = sizeof from2;
    ssize_t n2 = recvfrom(srv, buf2, sizeof buf2 - 1, 0, (void *)&from2, &flen2);
    socklen_t flen3 = sizeof from2;
    ssize_t n3 = recvfrom(srv, buf2 + 8, 4, 0, (void *)&from2, &flen3);
    int st;
    waitpid(pid, &st, 0);
    printf("dgram: got %zd: %s from %s\n", n, buf, name);
    printf("dgram: got %zd: %s from an unbound sender (address length %u)\n", n2, buf2,
           (unsigned)flen2);
    printf("dgram: then an empty datagram: %zd (address length %u)\n", n3, (unsigned)flen3);
    printf("dgram: child exited %d\n", WEXITSTATUS(st));
    close(srv);
}

static void errors(void) {
    struct sockaddr_un a;
    socklen_t len = abstract_addr(&a, "nobody");
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    printf("errors: connect to an unbound abstract name: %s\n", err(connect(s, (void *)&a, len)));
    len = path_addr(&a, "missing.sock");
    printf("errors: connect to a missing path: %s\n", err(connect(s, (void *)&a, len)));
    len = path_addr(&a, "passed.txt");
    printf("errors: connect to a regular file: %s\n", err(connect(s, (void *)&a, len)));
    printf("errors: bind over a regular file: %s\n", err(bind(s, (void *)&a, len)));
    len = path_addr(&a, "no/such/dir.sock");
    printf("errors: bind in a missing directory: %s\n", err(bind(s, (void *)&a, len)));
    len = path_addr(&a, "stream.sock");
    printf("errors: bind to a closed socket's path: %s\n", err(bind(s, (void *)&a, len)));
    const char *u1 = err(unlink(a.sun_path));
    const char *b1 = err(bind(s, (void *)&a, len));
    printf("errors: unlink it: %s, bind again: %s\n", u1, b1);
    printf("errors: listen on a datagram socket: %s\n",
           err(listen(socket(AF_UNIX, SOCK_DGRAM, 0), 1)));
    int u = socket(AF_UNIX, SOCK_STREAM, 0);
    printf("errors: listen unbound: %s\n", err(listen(u, 1)));
    printf("errors: send unconnected: %s\n", err((int)send(u, "x", 1, MSG_NOSIGNAL) < 0 ? -1 : 0));
    int nb = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_un l;
    socklen_t ll = abstract_addr(&l, "backlog");
    int lis = socket(AF_UNIX, SOCK_STREAM, 0);
    bind(lis, (void *)&l, ll);
    listen(lis, 0);
    printf("errors: accept on a socket not listening: %s\n",
           err(accept4(socket(AF_UNIX, SOCK_STREAM, 0), NULL, NULL, 0)));
    int nbl = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    bind(nbl, (void *)&(struct sockaddr_un){AF_UNIX, {0}}, sizeof(sa_family_t));
    listen(nbl, 1);
    printf("errors: nonblocking accept on an empty queue: %s\n", err(accept(nbl, NULL, NULL)));
    printf("errors: backlog 0, first connect: %s\n", err(connect(nb, (void *)&l, ll)));
    int nb2 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    printf("errors: backlog 0, second nonblocking connect: %s\n", err(connect(nb2, (void *)&l, ll)));
    int a1 = accept4(lis, NULL, NULL, SOCK_CLOEXEC);
    printf("errors: accepted with SOCK_CLOEXEC: %s\n", fcntl(a1, F_GETFD) & FD_CLOEXEC ? "yes" : "no");
    printf("errors: connect again: %s\n", err(connect(nb, (void *)&l, ll)));
    int pair[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, pair);
    int closed = 1000;
    printf("errors: pass a descriptor that is not open: %s\n",
           err(send_fds(pair[0], &closed, 1, "x") < 0 ? -1 : 0));
}

static int connect_mode(const char *name) {
    struct sockaddr_un a;
    socklen_t len = name[0] == '@' ? abstract_addr(&a, name + 1) : path_addr(&a, name);
    if (name[0] == '@') {
        /* The host's name exactly, without the tag. */
        memset(a.sun_path, 0, sizeof a.sun_path);
        strcpy(a.sun_path + 1, name + 1);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name + 1));
    }
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    printf("connect: %s\n", err(connect(s, (void *)&a, len)));
    int b = socket(AF_UNIX, SOCK_STREAM, 0);
    printf("bind: %s\n", err(bind(b, (void *)&a, len)));
    return 0;
}

static int flood(void) {
    int pair[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, pair);
    /* 200 a message: musl's sendmsg takes at most 1024 control bytes. */
    int fds[200];
    for (int i = 0; i < 200; i++) fds[i] = 0;
    long sent = 0;
    for (int i = 0; i < 100000; i++) {
        char cbuf[CMSG_SPACE(sizeof fds)];
        struct iovec iov = {"x", 1};
        struct msghdr m = {0};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = cbuf;
        m.msg_controllen = sizeof cbuf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof fds);
        memcpy(CMSG_DATA(c), fds, sizeof fds);
        if (sendmsg(pair[0], &m, MSG_DONTWAIT) < 0) {
            int e = errno;
            printf("flood: stopped after %ld descriptors: %s\n", sent,
                   e == ETOOMANYREFS ? "ETOOMANYREFS" : strerror(e));
            break;
        }
        sent += 200;
    }
    /* Receiving gives the room back. */
    char b;
    int got = 0;
    char cbuf[CMSG_SPACE(sizeof fds)];
    for (;;) {
        struct iovec iov = {&b, 1};
        struct msghdr m = {0};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = cbuf;
        m.msg_controllen = sizeof cbuf;
        if (recvmsg(pair[1], &m, MSG_DONTWAIT) < 0) break;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
            int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int i = 0; i < k; i++) close(((int *)CMSG_DATA(c))[i]);
            got += k;
        }
        if (got > 0) break;
    }
    printf("flood: received %s, send again: %s\n", got > 0 ? "some" : "none",
           err(send_fds(pair[0], fds, 1, "y") < 0 ? -1 : 0));
    return 0;
}

static int badcmsg(void) {
    int pair[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, pair);
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec iov = {"x", 1};
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = cbuf;
    m.msg_controllen = sizeof cbuf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = sizeof cbuf + 8;
    printf("cmsg_len past the buffer: %s\n", err(sendmsg(pair[0], &m, 0) < 0 ? -1 : 0));
    c->cmsg_len = 4;
    printf("cmsg_len shorter than the header: %s\n", err(sendmsg(pair[0], &m, 0) < 0 ? -1 : 0));
    c->cmsg_len = CMSG_LEN(sizeof(int));
    c->cmsg_type = 77;
    printf("unknown SOL_SOCKET type: %s\n", err(sendmsg(pair[0], &m, 0) < 0 ? -1 : 0));
    c->cmsg_type = SCM_RIGHTS;
    *(int *)CMSG_DATA(c) = -1;
    printf("descriptor -1: %s\n", err(sendmsg(pair[0], &m, 0) < 0 ? -1 : 0));
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: unix_sockets DIR [connect NAME | flood | badcmsg]\n");
        return 2;
    }
    dir = argv[1];
    const char *slash = strrchr(dir, '/');
    snprintf(tag, sizeof tag, "%s", slash ? slash + 1 : dir);
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    if (argc > 3 && strcmp(argv[2], "connect") == 0) return connect_mode(argv[3]);
    if (argc > 2 && strcmp(argv[2], "flood") == 0) return flood();
    if (argc > 2 && strcmp(argv[2], "badcmsg") == 0) return badcmsg();
    struct sockaddr_un a;
    socklen_t len = abstract_addr(&a, "echo");
    stream("abstract", &a, len);
    len = path_addr(&a, "stream.sock");
    stream("path", &a, len);
    datagrams();
    int pair[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, pair);
    rights_over("socketpair", pair[0], pair[1]);
    errors();
    printf("done\n");
    return 0;
}

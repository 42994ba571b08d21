/* inotify DIR: inotify as programs use it, on DIR (an empty directory the
 * program may write): a nonblocking, close-on-exec instance (its flags,
 * fstat, /proc/self/fd link, EAGAIN, poll), watches on the directory and
 * on a file in it, the events of creating, writing, fchmod, renaming
 * (a MOVED_FROM/MOVED_TO pair shares a cookie), mkdir/rmdir and unlinking
 * (DELETE_SELF then IGNORED), IN_ONESHOT, IN_MASK_ADD, IN_MASK_CREATE,
 * IN_ONLYDIR, IN_DONT_FOLLOW, FIONREAD, a buffer too small for the next
 * event, inotify_rm_watch's IN_IGNORED, Linux's errors, and a blocking
 * instance woken by a child's mkdir through read, poll and epoll.
 * Works in DIR (its cwd) with relative paths, and prints masks by name
 * and cookies as "new" or "same", so that a run under the runner can be
 * compared with a native one.
 *
 * `inotify DIR flood`: DIR holds the files f0, f1, ... (made by the test):
 * instances until inotify_init1 fails, watches on the files until
 * inotify_add_watch fails, what the cap leaves (updates of held watches),
 * and the room a removed, ignored or closed watch gives back.
 *
 * `inotify DIR escape PRIVATE [PATH...]`: watches the sandbox refuses:
 * `/`, DIR's parent (synthesized), a path no rule shows, /proc, /dev/null,
 * and through symbolic links made in PRIVATE (a private tree) to
 * /etc/passwd and above the root; IN_DONT_FOLLOW watches such a link
 * itself; then a watch on each PATH ("extra N: result"). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* A call's result, or -errno: one value, evaluated before printf runs. */
static long r_(long r)
{
    return r < 0 ? -errno : r;
}

static const struct {
    uint32_t bit;
    const char *name;
} BITS[] = {
    {IN_ACCESS, "ACCESS"},         {IN_MODIFY, "MODIFY"},
    {IN_ATTRIB, "ATTRIB"},         {IN_CLOSE_WRITE, "CLOSE_WRITE"},
    {IN_CLOSE_NOWRITE, "CLOSE_NOWRITE"}, {IN_OPEN, "OPEN"},
    {IN_MOVED_FROM, "MOVED_FROM"}, {IN_MOVED_TO, "MOVED_TO"},
    {IN_CREATE, "CREATE"},         {IN_DELETE, "DELETE"},
    {IN_DELETE_SELF, "DELETE_SELF"}, {IN_MOVE_SELF, "MOVE_SELF"},
    {IN_UNMOUNT, "UNMOUNT"},       {IN_Q_OVERFLOW, "Q_OVERFLOW"},
    {IN_IGNORED, "IGNORED"},       {IN_ISDIR, "ISDIR"},
};

static uint32_t last_cookie;

/* Prints the events in buf[0..n). */
static void show(const char *buf, ssize_t n)
{
    for (const char *p = buf; p < buf + n;) {
        const struct inotify_event *e = (const struct inotify_event *)p;
        char names[256] = "";
        uint32_t rest = e->mask;
        for (size_t i = 0; i < sizeof BITS / sizeof BITS[0]; i++) {
            if (e->mask & BITS[i].bit) {
                strcat(names, names[0] ? "|" : "");
                strcat(names, BITS[i].name);
                rest &= ~BITS[i].bit;
            }
        }
        if (rest)
            snprintf(names + strlen(names), 32, "|%#x", rest);
        const char *cookie = "";
        if (e->cookie) {
            cookie = e->cookie == last_cookie ? " cookie=same" : " cookie=new";
            last_cookie = e->cookie;
        }
        printf("  wd=%d %s%s%s%s\n", e->wd, names, cookie, e->len ? " name=" : "",
               e->len ? e->name : "");
        p += sizeof *e + e->len;
    }
}

/* Reads and prints every event waiting on a nonblocking instance. */
static void drain(int fd, const char *what)
{
    char buf[4096] __attribute__((aligned(8)));
    printf("%s:\n", what);
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno != EAGAIN)
                printf("  read: %d\n", -errno);
            return;
        }
        show(buf, n);
    }
}

/* Reads once (the instance may block) and prints what came. */
static void read_once(int fd, const char *what)
{
    char buf[4096] __attribute__((aligned(8)));
    ssize_t n = read(fd, buf, sizeof buf);
    printf("%s: %zd bytes\n", what, n < 0 ? -errno : n);
    if (n > 0)
        show(buf, n);
}

static void put(const char *path, const char *text, int flags)
{
    int fd = open(path, O_WRONLY | O_CREAT | flags, 0644);
    if (fd < 0 || write(fd, text, strlen(text)) < 0)
        printf("cannot write %s: %d\n", path, -errno);
    close(fd);
}

/* A child that waits a little, then makes (or removes) a directory. */
static pid_t later(const char *path, int make)
{
    pid_t pid = fork();
    if (pid == 0) {
        usleep(100 * 1000);
        _exit((make ? mkdir(path, 0755) : rmdir(path)) == 0 ? 0 : 1);
    }
    return pid;
}

static void reap(pid_t pid)
{
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        printf("the child failed\n");
}

static void blocking(const char *d)
{
    int b = inotify_init();
    printf("blocking instance: %s, F_GETFL %#x\n", b >= 0 ? "ok" : "failed", fcntl(b, F_GETFL));
    long wd = r_(inotify_add_watch(b, d, IN_CREATE | IN_DELETE));
    printf("watch for CREATE|DELETE: %ld\n", wd);
    pid_t pid = later("late", 1);
    read_once(b, "a blocking read, woken by a child's mkdir");
    reap(pid);

    pid = later("late2", 1);
    struct pollfd p = {.fd = b, .events = POLLIN};
    long ready = r_(poll(&p, 1, -1));
    printf("poll without a timeout: %ld, revents %#x\n", ready, p.revents);
    reap(pid);
    read_once(b, "then a read");

    long setfl = r_(fcntl(b, F_SETFL, O_NONBLOCK));
    printf("F_SETFL O_NONBLOCK: %ld, F_GETFL %#x\n", setfl, fcntl(b, F_GETFL));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 7};
    long ctl = r_(epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev));
    printf("epoll_ctl: %ld\n", ctl);
    struct epoll_event got = {0};
    long none = r_(epoll_wait(ep, &got, 1, 0));
    printf("epoll_wait, nothing yet: %ld\n", none);
    pid = later("late", 0);
    long n = r_(epoll_wait(ep, &got, 1, -1));
    printf("epoll_wait without a timeout: %ld, events %#x, data %u\n", n, got.events,
           got.data.u32);
    reap(pid);
    drain(b, "then");
    rmdir("late2");
    drain(b, "rmdir late2");
    close(ep);
    close(b);
}

static void errors(int fd, const char *d)
{
    char big[8];
    printf("errors:\n");
    printf("  a missing path: %ld\n", r_(inotify_add_watch(fd, "missing", IN_CREATE)));
    printf("  an empty path: %ld\n", r_(inotify_add_watch(fd, "", IN_CREATE)));
    printf("  a bad path pointer: %ld\n", r_(inotify_add_watch(fd, (char *)8, IN_CREATE)));
    printf("  mask 0: %ld\n", r_(inotify_add_watch(fd, d, 0)));
    printf("  an unknown bit: %ld\n", r_(inotify_add_watch(fd, d, IN_CREATE | 0x10000)));
    printf("  mask 0, bad descriptor: %ld\n", r_(inotify_add_watch(99, d, 0)));
    printf("  a bad descriptor: %ld\n", r_(inotify_add_watch(99, d, IN_CREATE)));
    printf("  not an instance: %ld\n", r_(inotify_add_watch(1, d, IN_CREATE)));
    printf("  MASK_ADD|MASK_CREATE, bad descriptor: %ld\n",
           r_(inotify_add_watch(99, d, IN_CREATE | IN_MASK_ADD | IN_MASK_CREATE)));
    printf("  MASK_ADD|MASK_CREATE: %ld\n",
           r_(inotify_add_watch(fd, d, IN_CREATE | IN_MASK_ADD | IN_MASK_CREATE)));
    printf("  rm_watch, bad descriptor: %ld\n", r_(inotify_rm_watch(99, 1)));
    printf("  rm_watch, not an instance: %ld\n", r_(inotify_rm_watch(1, 1)));
    printf("  rm_watch of -1: %ld\n", r_(inotify_rm_watch(fd, -1)));
    printf("  init1 with a bad flag: %ld\n", r_(inotify_init1(1)));
    printf("  write: %ld\n", r_(write(fd, "x", 1)));
    printf("  pread: %ld\n", r_(pread(fd, big, sizeof big, 0)));
    printf("  lseek: %ld\n", r_(lseek(fd, 0, SEEK_CUR)));
    int null = open("/dev/null", O_WRONLY), p[2];
    printf("  sendfile from it: %ld\n", r_(sendfile(null, fd, NULL, 8)));
    if (pipe(p) == 0)
        printf("  splice from it: %ld\n", r_(splice(fd, NULL, p[1], NULL, 8, SPLICE_F_NONBLOCK)));
    close(null);
    close(p[0]);
    close(p[1]);
}

static int together(const char *d)
{
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
        printf("inotify_init1: %d\n", -errno);
        return 1;
    }
    printf("close-on-exec: %d, F_GETFL %#x\n", fcntl(fd, F_GETFD), fcntl(fd, F_GETFL));
    struct stat st;
    fstat(fd, &st);
    printf("fstat: mode %o, size %ld\n", (unsigned)st.st_mode, (long)st.st_size);
    char link[64] = "", proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    readlink(proc, link, sizeof link - 1);
    printf("/proc/self/fd: %s\n", link);
    char small[64] __attribute__((aligned(8)));
    printf("read, nothing yet: %ld\n", r_(read(fd, small, sizeof small)));
    struct pollfd p = {.fd = fd, .events = POLLIN};
    long ready = r_(poll(&p, 1, 0));
    printf("poll, nothing yet: %ld, revents %#x\n", ready, p.revents);

    long dir = r_(inotify_add_watch(fd, d, IN_ALL_EVENTS));
    printf("watch DIR: %ld\n", dir);
    printf("again: %ld\n", r_(inotify_add_watch(fd, d, IN_ALL_EVENTS)));
    printf("again with IN_MASK_CREATE: %ld\n",
           r_(inotify_add_watch(fd, d, IN_ALL_EVENTS | IN_MASK_CREATE)));
    printf("DIR/ with IN_ONLYDIR: %ld\n", r_(inotify_add_watch(fd, "./", IN_ALL_EVENTS | IN_ONLYDIR)));

    put("a", "hello", O_EXCL);
    ready = r_(poll(&p, 1, 0));
    printf("poll: %ld, revents %#x\n", ready, p.revents);
    int waiting = -1;
    long fionread = r_(ioctl(fd, FIONREAD, &waiting));
    printf("FIONREAD: %ld, %d bytes\n", fionread, waiting);
    printf("read into 0 bytes: %ld\n", r_(read(fd, small, 0)));
    printf("read into 16 bytes: %ld\n", r_(read(fd, small, 16)));
    printf("read into 31 bytes: %ld\n", r_(read(fd, small, 31)));
    long one = r_(read(fd, small, 32));
    printf("read into 32 bytes: %ld\n", one);
    if (one > 0)
        show(small, one);
    drain(fd, "the rest of creating a");

    long file = r_(inotify_add_watch(fd, "a",
                                     IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_DELETE_SELF |
                                         IN_MOVE_SELF));
    printf("watch a: %ld\n", file);
    printf("a with IN_ONLYDIR: %ld\n", r_(inotify_add_watch(fd, "a", IN_MODIFY | IN_ONLYDIR)));
    printf("a/ : %ld\n", r_(inotify_add_watch(fd, "a/", IN_MODIFY)));
    printf("a with IN_DONT_FOLLOW: %ld\n",
           r_(inotify_add_watch(fd, "a", IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE |
                                                    IN_DELETE_SELF | IN_MOVE_SELF | IN_DONT_FOLLOW)));
    int w = open("a", O_WRONLY | O_APPEND);
    printf("write: %ld\n", r_(write(w, " world", 6)));
    printf("fchmod: %ld\n", r_(fchmod(w, 0600)));
    close(w);
    drain(fd, "write, fchmod, close");

    printf("rename a b: %ld\n", r_(rename("a", "b")));
    drain(fd, "rename");
    mkdir("sub", 0755);
    rmdir("sub");
    drain(fd, "mkdir, rmdir");
    printf("unlink b: %ld\n", r_(unlink("b")));
    drain(fd, "unlink");
    printf("rm_watch of a's watch, gone: %ld\n", r_(inotify_rm_watch(fd, (int)file)));

    put("c", "c", 0);
    drain(fd, "create c");
    long shot = r_(inotify_add_watch(fd, "c", IN_MODIFY | IN_ONESHOT));
    printf("one-shot watch on c: %ld\n", shot);
    put("c", "1", O_APPEND);
    put("c", "2", O_APPEND);
    drain(fd, "two writes to c");

    printf("DIR for CREATE only: %ld\n", r_(inotify_add_watch(fd, d, IN_CREATE)));
    printf("then IN_MASK_ADD DELETE: %ld\n", r_(inotify_add_watch(fd, d, IN_DELETE | IN_MASK_ADD)));
    put("e", "e", 0);
    unlink("e");
    unlink("c");
    drain(fd, "create e, unlink e and c");
    printf("DIR for nothing (IN_DONT_FOLLOW alone): %ld\n",
           r_(inotify_add_watch(fd, d, IN_DONT_FOLLOW)));
    put("f", "f", 0);
    unlink("f");
    drain(fd, "create f, unlink f");

    int copy = dup(fd);
    printf("rm_watch DIR through a dup: %ld\n", r_(inotify_rm_watch(copy, (int)dir)));
    printf("again: %ld\n", r_(inotify_rm_watch(copy, (int)dir)));
    drain(copy, "after rm_watch");
    close(copy);

    errors(fd, d);
    close(fd);
    blocking(d);
    printf("done\n");
    return 0;
}

static int flood(const char *d)
{
    int fds[1024], n = 0;
    long err = 0;
    while (n < 1024) {
        int fd = inotify_init1(IN_NONBLOCK);
        if (fd < 0) {
            err = -errno;
            break;
        }
        fds[n++] = fd;
    }
    printf("instances: %d, then %ld\n", n, err);
    for (int i = 2; i < n; i++)
        close(fds[i]);
    int a = fds[0], b = fds[1];
    long watches = 0;
    err = 0;
    for (int i = 0;; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%d", i);
        long wd = r_(inotify_add_watch(a, name, IN_MODIFY));
        if (wd < 0) {
            err = wd;
            break;
        }
        watches++;
    }
    printf("watches: %ld, then %ld\n", watches, err);
    printf("another instance, another file: %ld\n", r_(inotify_add_watch(b, "f0", IN_MODIFY)));
    printf("a held watch updated: %ld\n", r_(inotify_add_watch(a, "f0", IN_ATTRIB)));
    printf("rm_watch 1: %ld\n", r_(inotify_rm_watch(a, 1)));
    printf("then another: %ld\n", r_(inotify_add_watch(b, "f0", IN_MODIFY)));
    printf("and one more: %ld\n", r_(inotify_add_watch(b, d, IN_CREATE)));
    printf("unlink f1: %ld\n", r_(unlink("f1")));
    printf("before its IGNORED is read: %ld\n", r_(inotify_add_watch(b, d, IN_DELETE | IN_MASK_ADD)));
    printf("a new file: %ld\n", r_(inotify_add_watch(b, "f2", IN_MODIFY)));
    char buf[4096] __attribute__((aligned(8)));
    ssize_t got;
    int ignored = 0;
    while ((got = read(a, buf, sizeof buf)) > 0)
        for (char *p = buf; p < buf + got;) {
            struct inotify_event *e = (struct inotify_event *)p;
            ignored += (e->mask & IN_IGNORED) != 0;
            p += sizeof *e + e->len;
        }
    printf("IGNORED read: %d\n", ignored);
    printf("then: %ld\n", r_(inotify_add_watch(b, "f2", IN_MODIFY)));
    close(a);
    long more = 0;
    for (int i = 3; i < 100; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%d", i);
        more += inotify_add_watch(b, name, IN_MODIFY) > 0;
    }
    printf("once the first instance is closed: %ld more\n", more);
    printf("a new instance: %s\n", inotify_init1(0) >= 0 ? "ok" : "refused");
    close(b);
    printf("done\n");
    return 0;
}

static int escape(const char *d, const char *priv, char **extra, int extras)
{
    if (chdir(priv) != 0) {
        printf("chdir: %d\n", -errno);
        return 1;
    }
    int fd = inotify_init1(IN_NONBLOCK);
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", d);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent)
        *slash = 0;
    printf("/: %ld\n", r_(inotify_add_watch(fd, "/", IN_ALL_EVENTS)));
    printf("DIR's parent: %ld\n", r_(inotify_add_watch(fd, parent, IN_ALL_EVENTS)));
    printf("/etc: %ld\n", r_(inotify_add_watch(fd, "/etc", IN_ALL_EVENTS)));
    printf("/etc/passwd: %ld\n", r_(inotify_add_watch(fd, "/etc/passwd", IN_ALL_EVENTS)));
    printf("/proc/self: %ld\n", r_(inotify_add_watch(fd, "/proc/self", IN_ALL_EVENTS)));
    printf("/proc/nothere: %ld\n", r_(inotify_add_watch(fd, "/proc/nothere", IN_ALL_EVENTS)));
    printf("/dev/null: %ld\n", r_(inotify_add_watch(fd, "/dev/null", IN_ALL_EVENTS)));
    printf("/dev: %ld\n", r_(inotify_add_watch(fd, "/dev", IN_ALL_EVENTS)));
    symlink("/etc/passwd", "esc");
    symlink("../../../../..", "up");
    mkdir("sub", 0755);
    symlink("sub", "in");
    printf("a link to /etc/passwd: %ld\n", r_(inotify_add_watch(fd, "esc", IN_ALL_EVENTS)));
    printf("a link above the root: %ld\n", r_(inotify_add_watch(fd, "up", IN_ALL_EVENTS)));
    printf("a link to /etc/passwd, IN_DONT_FOLLOW: %ld\n",
           r_(inotify_add_watch(fd, "esc", IN_ALL_EVENTS | IN_DONT_FOLLOW)));
    printf("the same, IN_ONLYDIR too: %ld\n",
           r_(inotify_add_watch(fd, "esc", IN_ALL_EVENTS | IN_DONT_FOLLOW | IN_ONLYDIR)));
    long sub = r_(inotify_add_watch(fd, "sub", IN_CREATE));
    long in = r_(inotify_add_watch(fd, "in", IN_CREATE | IN_ONLYDIR));
    /* A trailing slash follows the link, IN_DONT_FOLLOW or not. */
    long through = r_(inotify_add_watch(fd, "in/", IN_CREATE | IN_DONT_FOLLOW));
    printf("sub and links to it: %s\n", sub > 0 && sub == in && in == through ? "one watch" : "differ");
    for (int i = 0; i < extras; i++)
        printf("extra %d: %ld\n", i + 1, r_(inotify_add_watch(fd, extra[i], IN_ALL_EVENTS)));
    put("sub/x", "x", 0);
    drain(fd, "events");
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2)
        return 2;
    /* Paths relative to DIR: the same natively and in the sandbox. */
    if (chdir(argv[1]) != 0) {
        printf("chdir: %d\n", -errno);
        return 1;
    }
    if (argc == 3 && strcmp(argv[2], "flood") == 0)
        return flood(".");
    if (argc >= 4 && strcmp(argv[2], "escape") == 0)
        return escape(argv[1], argv[3], argv + 4, argc - 4);
    return together(".");
}

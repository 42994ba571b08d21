/* splice DIR: splice and tee as programs use them, in DIR (a writable
 * tree), printing what each call returns, so that a run under the runner
 * can be compared with a native one: a file into a pipe at an offset, a
 * pipe into a file at an offset and by position, pipe to pipe, tee (the
 * bytes stay), a pipe into stdout, the end of a pipe, SPLICE_F_NONBLOCK on
 * an empty pipe, a pipe nobody reads (EPIPE, SIGPIPE ignored) and Linux's
 * errors. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static long r_(long r)
{
    return r < 0 ? -errno : r;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc != 2) {
        fprintf(stderr, "usage: splice DIR\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/src", argv[1]);
    int src = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    const char *text = "the quick brown fox jumps over the lazy dog\n";
    if (write(src, text, strlen(text)) < 0)
        return 1;
    snprintf(path, sizeof path, "%s/dst", argv[1]);
    int dst = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    int a[2], b[2];
    if (pipe(a) || pipe(b))
        return 1;
    loff_t off = 4;
    long got = r_(splice(src, &off, a[1], NULL, 11, 0));
    printf("file to pipe at 4: %ld, offset now %lld, position %ld\n", got, (long long)off,
           (long)lseek(src, 0, SEEK_CUR));
    printf("tee: %ld\n", r_(tee(a[0], b[1], 100, 0)));
    printf("pipe to pipe: %ld\n", r_(splice(a[0], NULL, b[1], NULL, 100, 0)));
    printf("pipe to file by position: %ld\n", r_(splice(b[0], NULL, dst, NULL, 5, 0)));
    loff_t out = 20;
    got = r_(splice(b[0], NULL, dst, &out, 100, 0));
    printf("pipe to file at 20: %ld, offset now %lld, position %ld\n", got, (long long)out,
           (long)lseek(dst, 0, SEEK_CUR));
    char buf[64] = {0};
    long n = pread(dst, buf, sizeof buf - 1, 0);
    for (long i = 0; i < n; i++)
        if (buf[i] == 0)
            buf[i] = '.';
    printf("the file holds %ld bytes: %s\n", n, buf);
    printf("empty, nonblocking: %ld\n", r_(splice(a[0], NULL, b[1], NULL, 10, SPLICE_F_NONBLOCK)));
    if (write(a[1], "to stdout\n", 10) != 10)
        return 1;
    printf("pipe to stdout: ");
    printf(" (%ld)\n", r_(splice(a[0], NULL, 1, NULL, 100, 0)));
    printf("neither a pipe: %ld\n", r_(splice(src, NULL, dst, NULL, 10, 0)));
    off = 0;
    printf("an offset on the pipe: %ld\n", r_(splice(a[0], &off, dst, NULL, 10, 0)));
    printf("the same pipe: %ld\n", r_(splice(a[0], NULL, a[1], NULL, 10, 0)));
    printf("a write end as input: %ld\n", r_(splice(a[1], NULL, dst, NULL, 10, 0)));
    printf("tee of one pipe: %ld\n", r_(tee(a[0], a[1], 10, 0)));
    printf("bad flags: %ld\n", r_(splice(a[0], NULL, dst, NULL, 10, 0x100)));
    printf("length 0: %ld\n", r_(splice(src, NULL, a[1], NULL, 0, 0)));
    close(a[1]);
    printf("the end of a pipe: %ld\n", r_(splice(a[0], NULL, dst, NULL, 10, 0)));
    signal(SIGPIPE, SIG_IGN);
    close(b[0]);
    off = 0;
    printf("into a pipe nobody reads: %ld\n", r_(splice(src, &off, b[1], NULL, 10, 0)));
    return 0;
}

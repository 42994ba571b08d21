/* filecopy SRC DST: copies a file with open/read/write/close, then prints
 * the byte count. Needs host files granted by the policy. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: filecopy SRC DST\n");
        return 2;
    }
    int in = open(argv[1], O_RDONLY);
    if (in < 0) {
        fprintf(stderr, "filecopy: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    int out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0) {
        fprintf(stderr, "filecopy: %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    static char buf[65536];
    unsigned long long total = 0;
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "filecopy: read: %s\n", strerror(errno));
            return 1;
        }
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                fprintf(stderr, "filecopy: write: %s\n", strerror(errno));
                return 1;
            }
            off += w;
        }
        total += (unsigned long long)n;
    }
    if (close(out) != 0 || close(in) != 0) {
        fprintf(stderr, "filecopy: close: %s\n", strerror(errno));
        return 1;
    }
    printf("copied %llu bytes\n", total);
    return 0;
}

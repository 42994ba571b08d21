/* pipe_fill.c - makes argv[1] pipes and fills each (non-blocking) until a
 * write fails with EAGAIN; prints the bytes they hold together. Under the
 * runner the pipes of a run share a budget (a quarter of limits.memory). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100;
    static char chunk[4096];
    long long held = 0;
    int made = 0;
    for (int i = 0; i < n; i++) {
        int p[2];
        if (pipe2(p, O_NONBLOCK) != 0)
            break;
        made++;
        for (;;) {
            ssize_t w = write(p[1], chunk, sizeof chunk);
            if (w <= 0)
                break;
            held += w;
        }
        if (errno != EAGAIN) {
            printf("write: errno %d\n", errno);
            return 1;
        }
    }
    printf("%d pipes hold %lld bytes\n", made, held);
    return 0;
}

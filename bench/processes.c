/* Process benchmarks (docs/benchmarks.md, "Processes"), timed inside the
 * program with CLOCK_MONOTONIC:
 *   processes forkwait N MIB   N times fork + _exit + waitpid, with MIB MiB
 *                              of the parent's memory touched first
 *   processes vforkexec N      N times vfork + execve(this program, "noop")
 *                              + waitpid (argv[0] must be a path execve can
 *                              run)
 *   processes noop             exits 0 (what vforkexec runs)
 * Prints one line: the case and the time per operation in us. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int reap(pid_t pid) {
    int st = 0;
    return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "noop") == 0)
        return 0;
    if (argc >= 4 && strcmp(argv[1], "forkwait") == 0) {
        long n = atol(argv[2]), mib = atol(argv[3]);
        size_t len = (size_t)mib << 20;
        char *mem = len ? malloc(len) : NULL;
        if (len && !mem)
            return 1;
        if (len)
            memset(mem, 1, len);
        double t0 = now_us();
        for (long i = 0; i < n; i++) {
            pid_t p = fork();
            if (p == 0)
                _exit(0);
            if (p < 0 || !reap(p))
                return 1;
        }
        printf("forkwait %ld MiB: %.1f us\n", mib, (now_us() - t0) / n);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "vforkexec") == 0) {
        long n = atol(argv[2]);
        char *args[] = {argv[0], "noop", NULL};
        double t0 = now_us();
        for (long i = 0; i < n; i++) {
            pid_t p = vfork();
            if (p == 0) {
                execv(argv[0], args);
                _exit(127);
            }
            if (p < 0 || !reap(p))
                return 1;
        }
        printf("vforkexec: %.1f us\n", (now_us() - t0) / n);
        return 0;
    }
    fprintf(stderr, "usage: processes forkwait N MIB | vforkexec N | noop\n");
    return 2;
}

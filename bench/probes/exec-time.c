/* exec-time GAP_MS N PROGRAM [ARGS...]: runs PROGRAM N times, GAP_MS
 * milliseconds apart (fork, exec, wait; stdout to /dev/null), and prints
 * the median and the fastest wall time. Used for docs/benchmarks.md's
 * served-start measurements: the timing covers what a shell running the
 * command would wait for, with no interpreter of its own in the way.
 *
 *   gcc -O2 -o /tmp/exec-time bench/probes/exec-time.c
 *   /tmp/exec-time 50 30 target/release/runner exec --server SOCK ./hello
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s GAP_MS N PROGRAM [ARGS...]\n", argv[0]);
        return 2;
    }
    int gap = atoi(argv[1]), n = atoi(argv[2]);
    if (n < 1)
        return 2;
    double *ms = calloc(n, sizeof *ms);
    if (!ms)
        return 1;
    for (int i = 0; i < n; i++) {
        usleep(gap * 1000);
        double t0 = now_ms();
        pid_t pid = fork();
        if (pid == 0) {
            int null = open("/dev/null", O_WRONLY);
            dup2(null, 1);
            execv(argv[3], argv + 3);
            _exit(127);
        }
        int status;
        if (pid < 0 || waitpid(pid, &status, 0) < 0)
            return 1;
        ms[i] = now_ms() - t0;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "%s: status %#x\n", argv[3], status);
            return 1;
        }
    }
    qsort(ms, n, sizeof *ms, by_value);
    printf("median %.3f ms  fastest %.3f ms\n", ms[n / 2], ms[0]);
    return 0;
}

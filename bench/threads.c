/* threads.c - thread benchmarks (docs/benchmarks.md, "Threads"):
 *   create N   create and join N threads, one after another
 *   pingpong N N round trips between two threads through a futex each way
 *   compute T  the same fixed work split over T threads
 * Each prints one line: what, how many, and the nanoseconds per unit
 * measured inside the program (CLOCK_MONOTONIC). */
/* From linux/futex.h (musl ships no kernel headers). */
#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAKE_PRIVATE 129
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void *nothing(void *a) { return a; }

static atomic_int turn;
static long rounds;

static void futex_wait(atomic_int *w, int v) {
    syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}
static void futex_wake(atomic_int *w) {
    syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *ponger(void *a) {
    (void)a;
    for (long i = 0; i < rounds; i++) {
        while (atomic_load(&turn) != 1) futex_wait(&turn, 0);
        atomic_store(&turn, 0);
        futex_wake(&turn);
    }
    return NULL;
}

#define WORK 2000000000L
static long per_thread;

static void *compute(void *a) {
    volatile unsigned long x = (unsigned long)a;
    for (long i = 0; i < per_thread; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
    return (void *)x;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: threads create|pingpong|compute N\n");
        return 2;
    }
    long n = atol(argv[2]);
    double t0 = now_ns();
    if (!strcmp(argv[1], "create")) {
        for (long i = 0; i < n; i++) {
            pthread_t t;
            if (pthread_create(&t, NULL, nothing, NULL)) return 1;
            pthread_join(t, NULL);
        }
        printf("create+join %ld threads: %.1f us each\n", n, (now_ns() - t0) / n / 1000);
    } else if (!strcmp(argv[1], "pingpong")) {
        rounds = n;
        pthread_t t;
        pthread_create(&t, NULL, ponger, NULL);
        t0 = now_ns();
        for (long i = 0; i < n; i++) {
            atomic_store(&turn, 1);
            futex_wake(&turn);
            while (atomic_load(&turn) != 0) futex_wait(&turn, 1);
        }
        pthread_join(t, NULL);
        printf("futex ping-pong %ld round trips: %.1f us each\n", n, (now_ns() - t0) / n / 1000);
    } else {
        per_thread = WORK / n;
        pthread_t t[64];
        for (long i = 0; i < n; i++) pthread_create(&t[i], NULL, compute, (void *)i);
        for (long i = 0; i < n; i++) pthread_join(t[i], NULL);
        printf("compute on %ld threads: %.3f s\n", n, (now_ns() - t0) / 1e9);
    }
    return 0;
}

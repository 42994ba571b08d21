/* spin_threads.c - starts three threads that spin, and spins itself, until
 * the time limit ends the run: the lock-down test looks at every host
 * thread of a runner whose guest has four threads. */
#include <pthread.h>
#include <stdio.h>

static volatile unsigned long counters[4];

static void *spin(void *arg) {
    long i = (long)arg;
    for (;;) counters[i]++;
    return NULL;
}

int main(void) {
    pthread_t t[3];
    for (long i = 0; i < 3; i++)
        if (pthread_create(&t[i], NULL, spin, (void *)(i + 1)) != 0) {
            puts("pthread_create failed");
            return 1;
        }
    spin((void *)0);
    return 0;
}

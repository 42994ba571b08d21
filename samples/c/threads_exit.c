/* threads_exit.c - the second thread ends the process (exit, which is
 * exit_group) while the first waits forever in pthread_join on a thread
 * that never ends: every thread stops, the status is the second's. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *forever(void *arg) {
    (void)arg;
    for (;;) pause();
    return NULL;
}

static void *ender(void *arg) {
    (void)arg;
    usleep(20000);
    puts("second thread exits the process");
    fflush(stdout);
    exit(3);
}

int main(void) {
    pthread_t a, b;
    if (pthread_create(&a, NULL, forever, NULL) || pthread_create(&b, NULL, ender, NULL)) {
        puts("pthread_create failed");
        return 1;
    }
    pthread_join(a, NULL);
    puts("unreachable");
    return 0;
}

/* threads_stdin.c - one thread blocks reading stdin (which never has
 * data), while the first thread sleeps and then ends the process: the
 * blocked read must not keep the process (or the runner) from ending. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void *reader(void *arg) {
    char c;
    (void)arg;
    ssize_t n = read(0, &c, 1);
    printf("read returned %zd\n", n);
    return NULL;
}

int main(void) {
    pthread_t t;
    if (pthread_create(&t, NULL, reader, NULL)) return 1;
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    puts("exiting while the reader waits");
    fflush(stdout);
    exit(0);
}

/* unmap_race.c - a thread reads (or writes) a page in a loop while the
 * main thread unmaps it (argv[1] "munmap") or makes it read-only
 * ("mprotect"). As on Linux, the other thread must fault as soon as the
 * call has returned: the process dies of SIGSEGV and "survived" is never
 * printed. A runner that let the other vCPU keep a stale translation
 * would print it and exit 0. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static volatile char *page;
static volatile int running;
static int writer;

static void *touch(void *arg) {
    (void)arg;
    unsigned long sum = 0;
    for (;;) {
        if (writer)
            page[8]++;
        else
            sum += page[0];
        running = 1;
    }
    return (void *)sum;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int unmap = argc < 2 || strcmp(argv[1], "mprotect") != 0;
    writer = !unmap;
    page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        puts("mmap failed");
        return 1;
    }
    page[0] = 1;
    pthread_t t;
    if (pthread_create(&t, NULL, touch, NULL) != 0) {
        puts("pthread_create failed");
        return 1;
    }
    while (!running) sched_yield();
    int r = unmap ? munmap((void *)page, 4096) : mprotect((void *)page, 4096, PROT_READ);
    printf("%s returned %d\n", unmap ? "munmap" : "mprotect", r);
    /* The other thread faults at its next access; give it time. */
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL);
    puts("survived");
    return 0;
}

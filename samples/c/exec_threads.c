/* exec_threads.c - execve from a process with several threads, as Linux
 * does it (de_thread): a failing execve leaves every thread running; a
 * successful one ends the other threads (a spinning one, one blocked in a
 * futex wait, one in a read) and the new program runs alone, with the
 * process's pid as its thread id even when a thread other than the first
 * called execve. `spawn`: vfork and posix_spawn from a process with
 * several threads: the vfork child runs in its parent's memory (its write
 * is the parent's), and glibc's posix_spawn, whose child reports a failed
 * execve through that shared memory, fails with ENOENT for a missing
 * program. Usage: exec_threads [main|other|spawn|after WHO]. Prints what
 * it sees; the output is compared with a native run. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static volatile unsigned long spins;
static int block_pipe[2];
static char *self;

static void *spin(void *arg) {
    (void)arg;
    for (;;)
        spins++;
    return NULL;
}

static void *blocked_read(void *arg) {
    (void)arg;
    char c;
    read(block_pipe[0], &c, 1);
    return NULL;
}

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;

static void *blocked_lock(void *arg) {
    (void)arg;
    pthread_mutex_lock(&held); /* a futex wait: main holds it */
    return NULL;
}

static void start_threads(void) {
    pthread_t t;
    pipe(block_pipe);
    pthread_mutex_lock(&held);
    pthread_create(&t, NULL, spin, NULL);
    pthread_create(&t, NULL, blocked_read, NULL);
    pthread_create(&t, NULL, blocked_lock, NULL);
    while (spins == 0)
        usleep(1000);
}

static void exec_after(const char *who) {
    char *argv[] = {self, "after", (char *)who, NULL};
    execv(self, argv);
    printf("execv failed: %s\n", strerror(errno));
    exit(1);
}

static void *exec_from_thread(void *arg) {
    (void)arg;
    exec_after("another thread");
    return NULL;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    self = argv[0];
    const char *mode = argc > 1 ? argv[1] : "main";
    if (!strcmp(mode, "after")) {
        long tid = syscall(SYS_gettid);
        printf("new program after execve from %s: tid is the pid: %s\n", argc > 2 ? argv[2] : "?",
               tid == getpid() ? "yes" : "no");
        /* Alone: a thread of its own starts and joins as usual. */
        pthread_t t;
        spins = 0;
        pthread_create(&t, NULL, spin, NULL);
        while (spins == 0)
            usleep(1000);
        puts("a new thread runs");
        puts("done");
        return 0;
    }
    start_threads();
    /* A failing execve changes nothing: the other threads go on. */
    char *none[] = {"/nonexistent/program", NULL};
    int r = execv(none[0], none);
    unsigned long before = spins;
    usleep(100000);
    printf("failed execve: %d (%s), other threads still run: %s\n", r, strerror(errno),
           spins != before ? "yes" : "no");
    if (!strcmp(mode, "spawn")) {
        static volatile int written;
        pid_t pid = vfork();
        if (pid == 0) {
            written = 42;
            _exit(0);
        }
        int status;
        waitpid(pid, &status, 0);
        printf("vfork child's write seen by the parent: %s\n", written == 42 ? "yes" : "no");
        char *missing[] = {"missing", NULL};
        int r = posix_spawn(&pid, "/nonexistent/missing", NULL, NULL, missing, environ);
        printf("posix_spawn of a missing program: %s\n", strerror(r));
        char *again[] = {self, "after", "posix_spawn", NULL};
        r = posix_spawn(&pid, self, NULL, NULL, again, environ);
        /* Printed once the child is done: its lines come first. */
        if (r == 0)
            waitpid(pid, &status, 0);
        printf("posix_spawn of a program: %s\n", strerror(r));
        if (r == 0)
            printf("its status: %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        before = spins;
        usleep(100000);
        printf("other threads still run: %s\n", spins != before ? "yes" : "no");
        return 0;
    }
    if (!strcmp(mode, "other")) {
        pthread_t t;
        pthread_create(&t, NULL, exec_from_thread, NULL);
        pthread_join(t, NULL); /* never returns: the exec ends this thread */
        puts("joined?");
        return 1;
    }
    exec_after("the main thread");
    return 1;
}

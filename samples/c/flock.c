/* flock.c DIR - flock(2) between open file descriptions of a file in DIR:
 * an exclusive lock excludes another open of the file (EWOULDBLOCK under
 * LOCK_NB), a dup shares its description's lock, a forked child that
 * waits gets the lock once its parent unlocks, closing the last
 * descriptor releases it, shared locks share, and the errors Linux gives.
 * Prints what it sees; the output is compared with a native run. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *try_lock(int fd, int op) {
    return flock(fd, op) == 0 ? "ok" : strerror(errno);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: flock DIR\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/flock-test", argv[1]);
    int one = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
    int two = open(path, O_RDWR);
    printf("exclusive: %s\n", try_lock(one, LOCK_EX));
    printf("another open, LOCK_EX|LOCK_NB: %s\n", try_lock(two, LOCK_EX | LOCK_NB));
    printf("another open, LOCK_SH|LOCK_NB: %s\n", try_lock(two, LOCK_SH | LOCK_NB));
    int three = dup(one);
    printf("a dup of the holder, LOCK_EX|LOCK_NB: %s\n", try_lock(three, LOCK_EX | LOCK_NB));

    pid_t pid = fork();
    if (pid == 0) {
        int own = open(path, O_RDWR);
        if (flock(own, LOCK_EX) != 0)
            _exit(1);
        char buf[32] = {0};
        pread(own, buf, sizeof buf - 1, 0);
        _exit(strcmp(buf, "released") == 0 ? 0 : 2);
    }
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    pwrite(one, "released", 8, 0);
    printf("unlock through the first descriptor: %s\n", try_lock(one, LOCK_UN));
    int status;
    waitpid(pid, &status, 0);
    printf("the waiting child got the lock after the unlock: %s\n",
           WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "yes" : "no");

    /* Closing the last descriptor of a description releases its lock. */
    printf("exclusive again: %s\n", try_lock(two, LOCK_EX | LOCK_NB));
    close(two);
    printf("after closing the holder: %s\n", try_lock(one, LOCK_EX | LOCK_NB));
    printf("unlock: %s\n", try_lock(one, LOCK_UN));

    /* Shared locks share; an exclusive one waits for both to go. */
    int a = open(path, O_RDONLY), b = open(path, O_RDONLY);
    printf("shared, shared: %s, %s\n", try_lock(a, LOCK_SH), try_lock(b, LOCK_SH));
    printf("exclusive beside them: %s\n", try_lock(one, LOCK_EX | LOCK_NB));
    printf("shared to exclusive with another shared: %s\n", try_lock(a, LOCK_EX | LOCK_NB));
    close(b);
    printf("once the other is closed: %s\n", try_lock(a, LOCK_EX | LOCK_NB));

    printf("a bad operation: %s\n", try_lock(one, 0));
    printf("a bad descriptor: %s\n", try_lock(999, LOCK_SH));
    unlink(path);
    puts("done");
    return 0;
}

/* posix_shm: POSIX shared memory and named semaphores, which libc keeps
 * as files in /dev/shm (shm_open, sem_open): a segment and a semaphore
 * shared by a parent and its forked child, printed so that a run under
 * the runner (with a private /dev/shm tree) can be compared with a native
 * one. Names carry the pid, so parallel native runs do not meet. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    char name[64], sname[64];
    snprintf(name, sizeof name, "/thinvisor-shm-%d", (int)getpid());
    snprintf(sname, sizeof sname, "/thinvisor-sem-%d", (int)getpid());
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0640);
    printf("shm_open: %s\n", fd >= 0 ? "ok" : strerror(errno));
    if (fd < 0)
        return 1;
    int r = ftruncate(fd, 8192);
    printf("ftruncate: %d\n", r);
    char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    printf("mmap: %s\n", m != MAP_FAILED ? "ok" : strerror(errno));
    sem_t *s = sem_open(sname, O_CREAT | O_EXCL, 0600, 0);
    printf("sem_open: %s\n", s != SEM_FAILED ? "ok" : strerror(errno));
    if (m == MAP_FAILED || s == SEM_FAILED)
        return 1;
    pid_t c = fork();
    if (c == 0) {
        int f2 = shm_open(name, O_RDWR, 0);
        char *m2 = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, f2, 0);
        sem_t *s2 = sem_open(sname, 0);
        if (f2 < 0 || m2 == MAP_FAILED || s2 == SEM_FAILED)
            _exit(3);
        strcpy(m2 + 4096, "hello from the child");
        sem_post(s2);
        _exit(0);
    }
    r = sem_wait(s);
    printf("sem_wait: %d\n", r);
    printf("the parent reads: %s\n", m + 4096);
    int status = 0;
    waitpid(c, &status, 0);
    printf("child: %d\n", WEXITSTATUS(status));
    struct stat st;
    fstat(fd, &st);
    printf("size %ld, mode %o\n", (long)st.st_size, st.st_mode & 0777);
    r = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600) < 0 ? errno : 0;
    printf("exclusive again: %s\n", strerror(r));
    printf("shm_unlink: %d\n", shm_unlink(name));
    r = shm_open(name, O_RDWR, 0) < 0 ? errno : 0;
    printf("open after unlink: %s\n", strerror(r));
    printf("still mapped: %s\n", m + 4096);
    printf("sem_unlink: %d\n", sem_unlink(sname));
    return 0;
}

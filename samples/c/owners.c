/* owners DIR [privileged]: chown and its family, and the older time
 * setters (utime, utimes, futimesat), in DIR (a writable tree), printing
 * what each call returns, so that a run under the runner can be compared
 * with a native one. `privileged`: changes only root may make (another
 * owner, the root directory's owner): natively as root they succeed; the
 * sandbox answers EPERM, as Linux does for an unprivileged user. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

static long r_(long r)
{
    return r < 0 ? -errno : r;
}

static void show_times(const char *what, const char *path)
{
    struct stat st;
    stat(path, &st);
    printf("%s: atime %ld.%09ld mtime %ld.%09ld\n", what, (long)st.st_atim.tv_sec,
           (long)st.st_atim.tv_nsec, (long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2)
        return 2;
    char f[4096], link[4096];
    snprintf(f, sizeof f, "%s/file", argv[1]);
    snprintf(link, sizeof link, "%s/missing", argv[1]);
    int fd = open(f, O_RDWR | O_CREAT | O_TRUNC, 0644);
    uid_t u = getuid();
    gid_t g = getgid();
    if (argc > 2) {
        printf("to another owner: %ld\n", r_(chown(f, u + 1, -1)));
        printf("to another group: %ld\n", r_(fchown(fd, -1, g + 1)));
        printf("the root directory to root: %ld\n", r_(chown("/", 0, 0)));
        return 0;
    }
    printf("no change: %ld\n", r_(chown(f, -1, -1)));
    printf("to itself: %ld\n", r_(chown(f, u, g)));
    printf("lchown to itself: %ld\n", r_(lchown(f, u, -1)));
    printf("fchown to itself: %ld\n", r_(fchown(fd, u, g)));
    printf("fchownat empty path: %ld\n", r_(fchownat(fd, "", u, g, AT_EMPTY_PATH)));
    printf("fchownat empty path without the flag: %ld\n", r_(fchownat(fd, "", u, g, 0)));
    printf("fchownat bad flags: %ld\n", r_(fchownat(AT_FDCWD, f, u, g, 0x2)));
    printf("a missing file: %ld\n", r_(chown(link, -1, -1)));
    int p[2];
    if (pipe(p) == 0)
        printf("a pipe to itself: %ld\n", r_(fchown(p[0], u, g)));
    printf("the root directory, no change: %ld\n", r_(chown("/", -1, -1)));
    struct utimbuf ub = {1000000000, 1200000000};
    printf("utime: %ld\n", r_(utime(f, &ub)));
    show_times("after utime", f);
    struct timeval tv[2] = {{1300000000, 250000}, {1400000000, 500000}};
    printf("utimes: %ld\n", r_(utimes(f, tv)));
    show_times("after utimes", f);
    tv[0].tv_sec = 1500000000;
    printf("futimesat of the descriptor: %ld\n", r_(syscall(SYS_futimesat, fd, NULL, tv)));
    show_times("after futimesat", f);
    int d = open(argv[1], O_RDONLY | O_DIRECTORY);
    tv[1].tv_sec = 1600000000;
    printf("futimesat in the directory: %ld\n", r_(syscall(SYS_futimesat, d, "file", tv)));
    show_times("after futimesat", f);
    tv[1].tv_usec = 1000000;
    printf("a microsecond too many: %ld\n", r_(utimes(f, tv)));
    time_t before = time(NULL);
    printf("utime now: %ld\n", r_(utime(f, NULL)));
    struct stat st;
    stat(f, &st);
    printf("now: %s\n", st.st_mtim.tv_sec >= before && st.st_mtim.tv_sec <= before + 5 ? "yes" : "no");
    printf("utimes of a missing file: %ld\n", r_(utimes(link, NULL)));
    return 0;
}

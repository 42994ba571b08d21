/* copyrange DIR MODE: copy_file_range and fallocate in DIR (a writable
 * tree), printing what each call returns, so that a run under the runner
 * can be compared with a native one line by line.
 *
 *   copy   copy_file_range: a whole file by the descriptors' positions, a
 *          range by explicit offsets (positions unchanged), and Linux's
 *          errors (flags, a write-only input, an O_APPEND output, a pipe,
 *          a directory, overlapping ranges of one file, length 0)
 *   alloc  fallocate: mode 0 grows the file, FALLOC_FL_KEEP_SIZE does not,
 *          and the errors (a read-only descriptor, a pipe, length 0, a
 *          negative offset); then sync and syncfs
 *   punch  FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE (natively 0; the
 *          runner answers EOPNOTSUPP)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static char path_buf[4096];

static const char *in_dir(const char *dir, const char *name)
{
    snprintf(path_buf, sizeof path_buf, "%s/%s", dir, name);
    return path_buf;
}

static long cfr(int in, long long *off_in, int out, long long *off_out, size_t len,
                unsigned flags)
{
    long r = syscall(SYS_copy_file_range, in, off_in, out, off_out, len, flags);
    return r < 0 ? -errno : r;
}

static long falloc(int fd, int mode, long long off, long long len)
{
    long r = syscall(SYS_fallocate, fd, mode, off, len);
    return r < 0 ? -errno : r;
}

static long sc(long r)
{
    return r < 0 ? -errno : r;
}

static int same_bytes(int a, long long at_a, int b, long long at_b, long n)
{
    char x[4096], y[4096];
    while (n > 0) {
        long k = n < 4096 ? n : 4096;
        if (pread(a, x, k, at_a) != k || pread(b, y, k, at_b) != k)
            return 0;
        if (memcmp(x, y, k) != 0)
            return 0;
        at_a += k;
        at_b += k;
        n -= k;
    }
    return 1;
}

static int copy_mode(const char *dir)
{
    int src = open(in_dir(dir, "src"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    char buf[1000];
    for (int i = 0; i < 200; i++) {
        for (int j = 0; j < 1000; j++)
            buf[j] = (char)('a' + (i * 7 + j) % 26);
        if (write(src, buf, sizeof buf) != sizeof buf)
            return 1;
    }
    lseek(src, 0, SEEK_SET);
    int dst = open(in_dir(dir, "dst"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    long total = 0, r;
    while ((r = cfr(src, NULL, dst, NULL, 65536, 0)) > 0)
        total += r;
    printf("whole: %ld bytes, last %ld, positions %ld %ld, same %d\n", total, r,
           (long)lseek(src, 0, SEEK_CUR), (long)lseek(dst, 0, SEEK_CUR),
           same_bytes(src, 0, dst, 0, 200000));
    int dst2 = open(in_dir(dir, "dst2"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    long long oi = 1000, oo = 50;
    r = cfr(src, &oi, dst2, &oo, 3000, 0);
    struct stat st;
    fstat(dst2, &st);
    printf("range: %ld, offsets %lld %lld, positions %ld %ld, size %ld, same %d\n", r, oi, oo,
           (long)lseek(src, 0, SEEK_CUR), (long)lseek(dst2, 0, SEEK_CUR), (long)st.st_size,
           same_bytes(src, 1000, dst2, 50, 3000));
    printf("flags 1: %ld\n", cfr(src, NULL, dst, NULL, 10, 1));
    int wronly = open(in_dir(dir, "src"), O_WRONLY);
    printf("write-only input: %ld\n", cfr(wronly, NULL, dst, NULL, 10, 0));
    int app = open(in_dir(dir, "dst"), O_WRONLY | O_APPEND);
    oi = 0;
    printf("append output: %ld\n", cfr(src, &oi, app, NULL, 10, 0));
    int p[2];
    if (pipe(p) != 0)
        return 1;
    oi = 0;
    printf("into a pipe: %ld\n", cfr(src, &oi, p[1], NULL, 10, 0));
    int d = open(dir, O_RDONLY | O_DIRECTORY);
    printf("from a directory: %ld\n", cfr(d, NULL, dst, NULL, 10, 0));
    oi = 0;
    oo = 100;
    printf("overlapping: %ld\n", cfr(src, &oi, src, &oo, 1000, 0));
    printf("length 0: %ld\n", cfr(src, NULL, dst, NULL, 0, 0));
    return 0;
}

static int alloc_mode(const char *dir)
{
    int fd = open(in_dir(dir, "alloc"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    struct stat st;
    long r = falloc(fd, 0, 0, 65536);
    fstat(fd, &st);
    printf("mode 0: %ld, size %ld, allocated %s\n", r, (long)st.st_size,
           st.st_blocks * 512 >= 65536 ? "yes" : "no");
    r = falloc(fd, FALLOC_FL_KEEP_SIZE, 100000, 4096);
    fstat(fd, &st);
    printf("keep size: %ld, size %ld\n", r, (long)st.st_size);
    char z[16];
    printf("reads zeros: %d\n", pread(fd, z, 16, 1000) == 16 && !memcmp(z, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16));
    int ro = open(in_dir(dir, "alloc"), O_RDONLY);
    printf("read-only: %ld\n", falloc(ro, 0, 0, 10));
    int p[2];
    if (pipe(p) != 0)
        return 1;
    printf("pipe: %ld\n", falloc(p[1], 0, 0, 10));
    printf("length 0: %ld\n", falloc(fd, 0, 0, 0));
    printf("negative offset: %ld\n", falloc(fd, 0, -1, 10));
    long s = syscall(SYS_sync);
    printf("sync: %ld, syncfs: %ld, of a pipe: %ld, of a bad descriptor: %ld\n", s,
           sc(syscall(SYS_syncfs, fd)), sc(syscall(SYS_syncfs, p[0])),
           sc(syscall(SYS_syncfs, 999)));
    return 0;
}

static int punch_mode(const char *dir)
{
    int fd = open(in_dir(dir, "punch"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    char buf[8192];
    memset(buf, 'x', sizeof buf);
    if (write(fd, buf, sizeof buf) != sizeof buf)
        return 1;
    long r = falloc(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096);
    char c = 0;
    pread(fd, &c, 1, 0);
    printf("punch: %ld, first byte %s\n", r, c == 'x' ? "kept" : c == 0 ? "zero" : "other");
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc != 3) {
        fprintf(stderr, "usage: copyrange DIR copy|alloc|punch\n");
        return 2;
    }
    if (!strcmp(argv[2], "copy"))
        return copy_mode(argv[1]);
    if (!strcmp(argv[2], "alloc"))
        return alloc_mode(argv[1]);
    if (!strcmp(argv[2], "punch"))
        return punch_mode(argv[1]);
    fprintf(stderr, "usage: copyrange DIR copy|alloc|punch\n");
    return 2;
}

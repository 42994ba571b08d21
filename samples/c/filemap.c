/* filemap DIR: mmap of files, as a program sees it. DIR is a writable
 * directory; the program makes DIR/data (three pages and a bit of a known
 * pattern) and checks, one line each (never an address):
 *
 *   private read     the file's bytes, zero after its end in the last page
 *   offset           a mapping from a page offset starts there
 *   private write    writes stay in the process: the file is unchanged
 *   fixed            MAP_FIXED over an anonymous mapping shows the file
 *   shared read      MAP_SHARED|PROT_READ of a read-only descriptor
 *   fork             a child sees the parent's private writes; its own
 *                    writes stay its own
 *   mprotect         a read-only file mapping made writable, written
 *   shared write     MAP_SHARED|PROT_WRITE of an O_RDWR descriptor: the
 *                    file has the writes after msync, after munmap (a
 *                    read() into the mapping too), a child's writes after
 *                    fork, never past its end
 *   coherence        a file's shared mappings (two in one process, one
 *                    in another), its read() and write() show each
 *                    other's changes at once (an append-only descriptor's
 *                    writes too, a read into a mapping of the same file);
 *                    truncation zeroes them past the end; a read-only one
 *                    may not become writable
 *   memfd            memfd_create: two mappings and a fork's child share
 *                    its memory, pread/pwrite agree with them
 *   sigbus           a touch of a shared mapping's page wholly past the
 *                    end of its file is SIGBUS (BUS_ADRERR), until the
 *                    file grows over it
 *   errors           EACCES (MAP_SHARED|PROT_WRITE of an O_RDONLY
 *                    descriptor, a write-only descriptor), ENODEV (a pipe,
 *                    a directory), EINVAL (an unaligned offset), EBADF
 *
 * then "filemap: all ok" (exit 0); a mismatch prints "FAIL ..." and exits 1.
 * The same lines natively and in the sandbox.
 *
 * filemap exec FILE: maps FILE PROT_READ|PROT_EXEC and prints "exec map:
 * ok" or "exec map: EPERM" (a file under a rule without -exec, in the
 * sandbox; as on a noexec mount natively).
 *
 * filemap truncate DIR: maps DIR/cut (two pages) MAP_SHARED read-write,
 * truncates the file to 100 bytes and writes to the mapping's second page:
 * SIGBUS (status 135), natively and in the sandbox.
 *
 * filemap shared-exit FILE: maps FILE (it must exist, at least 8 bytes)
 * MAP_SHARED read-write, writes "SHARED!\n" at its start and exits
 * without munmap: the file holds it afterwards. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096L
#define SIZE (3 * PAGE + 100)

static int failures;

static void check(int ok, const char *what) {
    if (!ok) {
        printf("FAIL %s (errno %d)\n", what, errno);
        failures++;
    }
}

static unsigned char pattern(long i) { return (unsigned char)(i * 7 + i / 4096 + 1); }

static int matches(const unsigned char *p, long from, long len) {
    for (long i = 0; i < len; i++) {
        unsigned char want = from + i < SIZE ? pattern(from + i) : 0;
        if (p[i] != want)
            return 0;
    }
    return 1;
}

static const char *err_name(int e) {
    switch (e) {
    case EACCES: return "EACCES";
    case ENODEV: return "ENODEV";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    case EPERM: return "EPERM";
    default: return "other";
    }
}

/* The errno of a failing mmap, or "mapped". */
static const char *try_map(int prot, int flags, int fd, off_t off) {
    void *p = mmap(NULL, PAGE, prot, flags, fd, off);
    if (p != MAP_FAILED) {
        munmap(p, PAGE);
        return "mapped";
    }
    return err_name(errno);
}

static int exec_map(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("exec map: cannot open (errno %d)\n", errno);
        return 1;
    }
    void *p = mmap(NULL, PAGE, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
    printf("exec map: %s\n", p == MAP_FAILED ? err_name(errno) : "ok");
    return 0;
}

static int truncated(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/cut", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, 2 * PAGE) != 0)
        return 1;
    char *p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED || ftruncate(fd, 100) != 0)
        return 1;
    p[PAGE + 8] = 'B';
    munmap(p, 2 * PAGE);
    struct stat st;
    if (fstat(fd, &st) != 0)
        return 1;
    printf("truncate: the file kept its size %lld\n", (long long)st.st_size);
    return 0;
}

static int shared_exit(const char *path) {
    int fd = open(path, O_RDWR);
    char *p = fd < 0 ? MAP_FAILED : mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        printf("shared-exit: cannot map (errno %d)\n", errno);
        return 1;
    }
    memcpy(p, "SHARED!\n", 8);
    printf("shared-exit: written\n");
    _exit(0);
}

/* The file's bytes at `off`, `len` of them, compared with `want`. */
static int file_has(int fd, off_t off, const void *want, size_t len) {
    unsigned char got[256];
    return len <= sizeof got && pread(fd, got, len, off) == (ssize_t)len && memcmp(got, want, len) == 0;
}

static void shared_write(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/shared", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    check(fd >= 0 && ftruncate(fd, PAGE + 10) == 0, "shared file");
    char *p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    check(p != MAP_FAILED, "shared mmap");
    if (p == MAP_FAILED)
        return;
    memcpy(p + 100, "first", 5);
    check(msync(p, 2 * PAGE, MS_SYNC) == 0, "msync");
    check(file_has(fd, 100, "first", 5), "the file after msync");
    /* Past the end of the file: the page's tail, never written to it. */
    memcpy(p + PAGE + 8, "tail", 4);
    int pipefd[2];
    check(pipe(pipefd) == 0 && write(pipefd[1], "piped", 5) == 5, "pipe");
    check(read(pipefd[0], p + 200, 5) == 5, "read into the mapping");
    pid_t child = fork();
    if (child == 0) {
        memcpy(p + 300, "child", 5);
        _exit(0);
    }
    int status = 0;
    check(waitpid(child, &status, 0) == child && WIFEXITED(status), "child");
    check(memcmp(p + 300, "child", 5) == 0, "the parent sees the child's write");
    check(munmap(p, 2 * PAGE) == 0, "munmap");
    struct stat st;
    check(fstat(fd, &st) == 0 && st.st_size == PAGE + 10, "the file did not grow");
    check(file_has(fd, PAGE + 8, "ta", 2), "the tail up to the end");
    check(file_has(fd, 200, "piped", 5), "read() into the mapping reached the file");
    check(file_has(fd, 300, "child", 5), "the child's write reached the file");
    check(file_has(fd, 0, "\0\0\0\0", 4), "untouched bytes");
    close(pipefd[0]);
    close(pipefd[1]);
    close(fd);
    unlink(path);
    printf("shared write: ok\n");
}

/* A file's shared mappings, its read() and write() are one: every view
 * shows every change at once, with no msync, across separate mmaps in two
 * processes too. */
static void coherence(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/coherent", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    int ro = open(path, O_RDONLY);
    check(fd >= 0 && ro >= 0 && ftruncate(fd, 2 * PAGE) == 0, "coherent file");
    char *m = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char *r = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, ro, 0);
    check(m != MAP_FAILED && r != MAP_FAILED, "coherent mmaps");
    if (m == MAP_FAILED || r == MAP_FAILED)
        return;
    /* write() -> both mappings */
    check(pwrite(fd, "written", 7, 10) == 7, "pwrite");
    check(memcmp(m + 10, "written", 7) == 0, "pwrite seen through the mapping");
    check(memcmp(r + 10, "written", 7) == 0, "pwrite seen through the read-only mapping");
    check(lseek(fd, PAGE + 20, SEEK_SET) == PAGE + 20 && write(fd, "second", 6) == 6, "write");
    check(memcmp(r + PAGE + 20, "second", 6) == 0, "write() on the second page");
    /* store -> read() and the other mapping, before any msync */
    memcpy(m + 100, "stored", 6);
    char got[16] = {0};
    check(pread(fd, got, 6, 100) == 6 && memcmp(got, "stored", 6) == 0, "pread sees a store");
    check(memcmp(r + 100, "stored", 6) == 0, "the other mapping sees a store");
    check(lseek(ro, 98, SEEK_SET) == 98 && read(ro, got, 10) == 10 &&
              memcmp(got, "\0\0stored\0\0", 10) == 0,
          "read() at the position sees a store");
    /* another process's own mmap of the file: each sees the other's stores */
    int go[2], back[2];
    check(pipe(go) == 0 && pipe(back) == 0, "pipes");
    pid_t child = fork();
    if (child == 0) {
        int cfd = open(path, O_RDWR);
        char *c = cfd < 0 ? MAP_FAILED : mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 0);
        if (c == MAP_FAILED)
            _exit(3);
        int ok = memcmp(c + 100, "stored", 6) == 0;
        memcpy(c + 200, "kid", 3);
        char b = 0;
        if (write(back[1], "k", 1) != 1 || read(go[0], &b, 1) != 1)
            _exit(4);
        ok = ok && memcmp(c + 300, "dad", 3) == 0;
        _exit(ok ? 0 : 1);
    }
    char b = 0;
    check(read(back[0], &b, 1) == 1, "the child mapped");
    check(memcmp(m + 200, "kid", 3) == 0, "the parent sees the child's store");
    memcpy(m + 300, "dad", 3);
    check(write(go[1], "g", 1) == 1, "go");
    int status = 0;
    check(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "the child sees the parent's store");
    /* a read-only descriptor's shared mapping stays read-only */
    errno = 0;
    check(mprotect(r, PAGE, PROT_READ | PROT_WRITE) == -1 && errno == EACCES,
          "mprotect(PROT_WRITE) of a read-only shared mapping");
    /* a read into a mapping of the same file, of bytes stored in it and
     * not written back yet */
    memcpy(m + 500, "keep", 4);
    check(pread(fd, m + 500, 4, 500) == 4 && memcmp(m + 500, "keep", 4) == 0,
          "pread of stored bytes onto themselves");
    check(pread(fd, m + 600, 4, 500) == 4 && memcmp(m + 600, "keep", 4) == 0,
          "pread into the mapping of the same file");
    /* an append-only, write-only descriptor: its writes reach the
     * mappings (pwrite too appends, as Linux does in append mode) */
    int wo = open(path, O_WRONLY | O_APPEND);
    check(wo >= 0 && ftruncate(fd, PAGE + 50) == 0, "append-only descriptor");
    check(write(wo, "tail", 4) == 4 && memcmp(r + PAGE + 50, "tail", 4) == 0,
          "an append seen through the mapping");
    check(pwrite(wo, "more", 4, 0) == 4 && memcmp(r + PAGE + 54, "more", 4) == 0 &&
              memcmp(r + 10, "written", 7) == 0,
          "pwrite in append mode appends");
    close(wo);
    check(ftruncate(fd, 2 * PAGE) == 0, "grown back");
    /* truncation: the mappings read zero past the end, and the file's
     * new bytes once it grows */
    check(ftruncate(fd, 50) == 0 && ftruncate(fd, 2 * PAGE) == 0, "cut and grown");
    check(m[100] == 0 && r[10] == 'w' && r[PAGE + 20] == 0 && r[PAGE + 50] == 0,
          "zero past the cut");
    check(pwrite(fd, "again", 5, PAGE + 40) == 5 && memcmp(r + PAGE + 40, "again", 5) == 0,
          "a write after the growth");
    /* mremap: a moved mapping stays the file's, a read-only one stays
     * read-only */
    char *area = mmap(NULL, 4 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *moved = area == MAP_FAILED ? MAP_FAILED
                                     : mremap(m, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED,
                                              area + PAGE);
    check(moved == area + PAGE, "mremap of the shared mapping");
    if (moved != MAP_FAILED) {
        memcpy(moved + 700, "moved", 5);
        check(pread(fd, got, 5, 700) == 5 && memcmp(got, "moved", 5) == 0 &&
                  memcmp(r + 700, "moved", 5) == 0,
              "a store through the moved mapping");
        m = moved;
    }
    check(mremap(r, 2 * PAGE, PAGE, 0) == r, "mremap shrinking the read-only mapping");
    errno = 0;
    check(mprotect(r, PAGE, PROT_READ | PROT_WRITE) == -1 && errno == EACCES,
          "mprotect(PROT_WRITE) after mremap");
    munmap(m, 2 * PAGE);
    check(file_has(fd, 700, "moved", 5), "the moved mapping written back at munmap");
    munmap(r, PAGE);
    if (area != MAP_FAILED)
        munmap(area, 4 * PAGE);
    close(go[0]);
    close(go[1]);
    close(back[0]);
    close(back[1]);
    close(ro);
    close(fd);
    unlink(path);
    printf("coherence: ok\n");
}

static sigjmp_buf bus_jump;
static volatile long bus_code, bus_offset;
static char *bus_base;

static void on_bus(int sig, siginfo_t *si, void *uc) {
    (void)sig;
    (void)uc;
    bus_code = si->si_code;
    bus_offset = (char *)si->si_addr - bus_base;
    siglongjmp(bus_jump, 1);
}

/* Reads *p; SIGBUS comes back as -1 (bus_code, bus_offset say where). */
static int touch(volatile char *p) {
    if (sigsetjmp(bus_jump, 1))
        return -1;
    return *p;
}

/* A shared mapping past the end of its file: a touch of a page wholly
 * past it is SIGBUS (BUS_ADRERR), the last partial page is not; the page
 * becomes accessible when the file grows over it, and SIGBUS again when
 * it is cut. */
static void sigbus(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/short", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    check(fd >= 0 && ftruncate(fd, 100) == 0, "short file");
    char *p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    check(p != MAP_FAILED, "short mmap");
    if (p == MAP_FAILED)
        return;
    bus_base = p;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_bus;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGBUS, &sa, &old);
    int tail = touch(p + 200);
    int past = touch(p + PAGE + 8);
    long code = bus_code, offset = bus_offset;
    bus_code = 0;
    check(ftruncate(fd, 2 * PAGE) == 0, "grown");
    int grown = touch(p + PAGE + 8);
    check(ftruncate(fd, 100) == 0, "cut");
    int cut = touch(p + PAGE + 8);
    printf("sigbus: tail %d, past the end %d (code %ld at +%ld), grown %d, cut again %d (code %ld)\n",
           tail, past, code, offset, grown, cut, (long)bus_code);
    sigaction(SIGBUS, &old, NULL);
    munmap(p, 2 * PAGE);
    close(fd);
    unlink(path);
}

/* memfd_create: a file in memory, its two mappings one memory, shared
 * with a fork's child, and its read()/write() coherent with them. */
static void memfd(void) {
    int fd = memfd_create("filemap", MFD_CLOEXEC);
    check(fd >= 0 && ftruncate(fd, PAGE) == 0, "memfd");
    char *a = fd < 0 ? MAP_FAILED : mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char *b = fd < 0 ? MAP_FAILED : mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
    check(a != MAP_FAILED && b != MAP_FAILED, "memfd mmaps");
    if (a == MAP_FAILED || b == MAP_FAILED)
        return;
    memcpy(a, "memfd", 5);
    check(memcmp(b, "memfd", 5) == 0, "the second mapping");
    pid_t child = fork();
    if (child == 0) {
        memcpy(a + 10, "child", 5);
        _exit(0);
    }
    int status = 0;
    check(waitpid(child, &status, 0) == child && memcmp(b + 10, "child", 5) == 0,
          "a fork's child writes the memory");
    check(pwrite(fd, "file", 4, 20) == 4 && memcmp(b + 20, "file", 4) == 0, "pwrite to a memfd");
    char got[24];
    check(pread(fd, got, 24, 0) == 24 && memcmp(got, "memfd\0\0\0\0\0child\0\0\0\0\0file", 24) == 0,
          "pread of a memfd");
    struct stat st;
    check(fstat(fd, &st) == 0 && st.st_size == PAGE && S_ISREG(st.st_mode), "fstat of a memfd");
    munmap(a, PAGE);
    munmap(b, PAGE);
    close(fd);
    printf("memfd: ok\n");
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "exec") == 0)
        return exec_map(argv[2]);
    if (argc == 3 && strcmp(argv[1], "shared-exit") == 0)
        return shared_exit(argv[2]);
    if (argc == 3 && strcmp(argv[1], "truncate") == 0)
        return truncated(argv[2]);
    if (argc != 2) {
        fprintf(stderr, "usage: filemap DIR | filemap exec FILE\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/data", argv[1]);
    int w = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    check(w >= 0, "create data");
    static unsigned char buf[SIZE];
    for (long i = 0; i < SIZE; i++)
        buf[i] = pattern(i);
    check(write(w, buf, SIZE) == SIZE, "write data");
    int fd = open(path, O_RDONLY);
    check(fd >= 0, "open data");

    unsigned char *p = mmap(NULL, 4 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    check(p != MAP_FAILED, "private read mmap");
    if (p != MAP_FAILED) {
        check(matches(p, 0, 4 * PAGE), "private read bytes");
        munmap(p, 4 * PAGE);
    }
    printf("private read: ok\n");

    p = mmap(NULL, 2 * PAGE, PROT_READ, MAP_PRIVATE, fd, PAGE);
    check(p != MAP_FAILED && matches(p, PAGE, 2 * PAGE), "offset");
    if (p != MAP_FAILED)
        munmap(p, 2 * PAGE);
    printf("offset: ok\n");

    p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    check(p != MAP_FAILED, "private write mmap");
    if (p != MAP_FAILED) {
        memset(p, 0xee, 64);
        unsigned char first[64];
        check(pread(fd, first, 64, 0) == 64 && matches(first, 0, 64), "file unchanged");
        check(p[0] == 0xee && matches(p + 64, 64, PAGE - 64), "private write bytes");
    }
    printf("private write: ok\n");

    unsigned char *area = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    check(area != MAP_FAILED, "anonymous area");
    memset(area, 0x55, 3 * PAGE);
    unsigned char *fixed = mmap(area + PAGE, PAGE, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 2 * PAGE);
    check(fixed == area + PAGE, "fixed address");
    check(area[0] == 0x55 && matches(area + PAGE, 2 * PAGE, PAGE) && area[2 * PAGE] == 0x55,
          "fixed bytes");
    munmap(area, 3 * PAGE);
    printf("fixed: ok\n");

    unsigned char *s = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
    check(s != MAP_FAILED && matches(s, 0, PAGE), "shared read");
    if (s != MAP_FAILED)
        munmap(s, PAGE);
    printf("shared read: ok\n");

    if (p != MAP_FAILED) {
        pid_t child = fork();
        if (child == 0) {
            int ok = p[0] == 0xee;
            p[1] = 0x11;
            _exit(ok && p[1] == 0x11 ? 0 : 1);
        }
        int status = 0;
        check(waitpid(child, &status, 0) == child && WIFEXITED(status) &&
                  WEXITSTATUS(status) == 0,
              "child sees the parent's write");
        check(p[1] == 0xee, "the child's write stays its own");
        munmap(p, PAGE);
    }
    printf("fork: ok\n");

    p = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    check(p != MAP_FAILED && mprotect(p, PAGE, PROT_READ | PROT_WRITE) == 0, "mprotect");
    if (p != MAP_FAILED) {
        p[5] = 0x99;
        check(p[5] == 0x99 && matches(p, 0, 5), "written after mprotect");
        munmap(p, PAGE);
    }
    printf("mprotect: ok\n");

    shared_write(argv[1]);
    coherence(argv[1]);
    memfd();
    sigbus(argv[1]);

    int wo = open(path, O_WRONLY);
    int pipefd[2];
    check(pipe(pipefd) == 0, "pipe");
    int dir = open(argv[1], O_RDONLY | O_DIRECTORY);
    printf("errors: shared write of O_RDONLY %s, write-only %s, pipe %s, directory %s, "
           "offset %s, closed %s\n",
           try_map(PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0),
           try_map(PROT_READ, MAP_PRIVATE, wo, 0),
           try_map(PROT_READ, MAP_PRIVATE, pipefd[0], 0),
           try_map(PROT_READ, MAP_PRIVATE, dir, 0),
           try_map(PROT_READ, MAP_PRIVATE, fd, 100),
           try_map(PROT_READ, MAP_PRIVATE, 1000, 0));
    close(wo);
    close(dir);
    close(w);
    close(fd);
    unlink(path);
    if (failures)
        return 1;
    printf("filemap: all ok\n");
    return 0;
}

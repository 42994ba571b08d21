/* linux_calls DIR: the less common calls of the Linux surface, each
 * printed with what it returns (or -errno), so that a run under the
 * runner can be compared with a native run of an unprivileged process:
 * getdents (the original record), preadv2/pwritev2 with their flags,
 * sync_file_range, readahead, vmsplice, sched_setattr/sched_getattr,
 * sched_rr_get_interval, ioprio_get/ioprio_set, personality, mincore,
 * capget/capset, restart_syscall, membarrier, the futex2 calls, and
 * mknod/mknodat with named pipes (FIFOs) between processes (not O_RDWR,
 * which the runner refuses). DIR must be writable and empty; run as
 * root, the program becomes nobody first. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_futex_wake
#define SYS_futex_wake 454
#define SYS_futex_wait 455
#define SYS_futex_requeue 456
#endif
#ifndef RWF_APPEND
#define RWF_HIPRI 0x01
#define RWF_DSYNC 0x02
#define RWF_SYNC 0x04
#define RWF_NOWAIT 0x08
#define RWF_APPEND 0x10
#endif
#define FUTEX2_SIZE_U8 0x00
#define FUTEX2_SIZE_U32 0x02
#define FUTEX2_PRIVATE 128

static long raw(long r)
{
    return r < 0 ? -errno : r;
}

static char dir[2048];

static const char *in_dir(const char *name)
{
    static char p[2][4096];
    static int which;
    which ^= 1;
    snprintf(p[which], sizeof p[which], "%s/%s", dir, name);
    return p[which];
}

/* ---- getdents ---------------------------------------------------------- */

struct old_dirent {
    unsigned long d_ino;
    unsigned long d_off;
    unsigned short d_reclen;
    char d_name[];
};

static int by_name(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void listing(void)
{
    mkdir(in_dir("list"), 0755);
    mkdir(in_dir("list/sub"), 0755);
    close(open(in_dir("list/file-one"), O_CREAT | O_WRONLY, 0644));
    close(open(in_dir("list/a-much-longer-file-name-to-pad-the-record"), O_CREAT | O_WRONLY, 0644));
    int d = open(in_dir("list"), O_RDONLY | O_DIRECTORY);
    char buf[64];
    char names[16][80];
    int n = 0;
    long got;
    int calls = 0;
    /* A small buffer: several calls, each record whole. */
    while ((got = raw(syscall(SYS_getdents, d, buf, sizeof buf))) > 0) {
        calls++;
        for (long off = 0; off < got;) {
            struct old_dirent *e = (struct old_dirent *)(buf + off);
            char type = buf[off + e->d_reclen - 1];
            if (n < 16)
                snprintf(names[n++], sizeof names[0], "%s %s", e->d_name,
                         type == DT_DIR ? "dir" : type == DT_REG ? "file" : "other");
            off += e->d_reclen;
        }
    }
    qsort(names, n, sizeof names[0], by_name);
    printf("getdents: last %ld, %d entries in more than one call: %s\n", got, n, calls > 1 ? "yes" : "no");
    for (int i = 0; i < n; i++)
        printf("  %s\n", names[i]);
    char tiny[8];
    lseek(d, 0, SEEK_SET);
    printf("getdents into 8 bytes: %ld\n", raw(syscall(SYS_getdents, d, tiny, sizeof tiny)));
    int f = open(in_dir("list/file-one"), O_RDONLY);
    printf("getdents of a file: %ld\n", raw(syscall(SYS_getdents, f, buf, sizeof buf)));
    printf("getdents of a bad fd: %ld\n", raw(syscall(SYS_getdents, 999, buf, sizeof buf)));
    close(f);
    close(d);
}

/* ---- preadv2, pwritev2, sync_file_range, readahead --------------------- */

static void flagged_io(void)
{
    int fd = open(in_dir("v2.txt"), O_CREAT | O_RDWR | O_TRUNC, 0644);
    struct iovec v[2] = {{"hello ", 6}, {"world\n", 6}};
    printf("pwritev2 at 0: %ld\n", raw(syscall(SYS_pwritev2, fd, v, 2, 0L, 0L, 0)));
    printf("position after it: %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    struct iovec a = {"again\n", 6};
    printf("pwritev2 at -1: %ld\n", raw(syscall(SYS_pwritev2, fd, &a, 1, -1L, 0L, 0)));
    printf("position after it: %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    struct iovec e = {"end\n", 4};
    printf("pwritev2 RWF_APPEND at 2: %ld\n", raw(syscall(SYS_pwritev2, fd, &e, 1, 2L, 0L, RWF_APPEND)));
    printf("position after it: %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    printf("pwritev2 RWF_DSYNC: %ld\n", raw(syscall(SYS_pwritev2, fd, &e, 1, 22L, 0L, RWF_DSYNC)));
    printf("pwritev2 RWF_SYNC|RWF_HIPRI: %ld\n", raw(syscall(SYS_pwritev2, fd, &e, 1, 22L, 0L, RWF_SYNC | RWF_HIPRI)));
    printf("pwritev2 flag 0x10000000: %ld\n", raw(syscall(SYS_pwritev2, fd, &e, 1, 0L, 0L, 0x10000000)));
    printf("pwritev2 at -2: %ld\n", raw(syscall(SYS_pwritev2, fd, &e, 1, -2L, 0L, 0)));
    char b1[5] = {0}, b2[64] = {0};
    struct iovec r[2] = {{b1, 4}, {b2, sizeof b2 - 1}};
    long n = raw(syscall(SYS_preadv2, fd, r, 2, 0L, 0L, 0));
    printf("preadv2 at 0: %ld: [%s][%s]\n", n, b1, b2);
    lseek(fd, 6, SEEK_SET);
    memset(b2, 0, sizeof b2);
    struct iovec one = {b2, 5};
    n = raw(syscall(SYS_preadv2, fd, &one, 1, -1L, 0L, RWF_NOWAIT));
    printf("preadv2 at -1 RWF_NOWAIT: %ld: [%s], position %ld\n", n, b2, (long)lseek(fd, 0, SEEK_CUR));
    printf("preadv2 flag 0x10000000: %ld\n", raw(syscall(SYS_preadv2, fd, &one, 1, 0L, 0L, 0x10000000)));
    printf("preadv2 bad fd: %ld\n", raw(syscall(SYS_preadv2, 999, &one, 1, 0L, 0L, 0)));
    printf("sync_file_range write: %ld\n", raw(syscall(SYS_sync_file_range, fd, 0L, 0L, 2)));
    printf("sync_file_range all flags: %ld\n", raw(syscall(SYS_sync_file_range, fd, 0L, 100L, 7)));
    printf("sync_file_range flag 8: %ld\n", raw(syscall(SYS_sync_file_range, fd, 0L, 0L, 8)));
    printf("sync_file_range offset -1: %ld\n", raw(syscall(SYS_sync_file_range, fd, -1L, 0L, 2)));
    int p[2];
    pipe(p);
    printf("sync_file_range of a pipe: %ld\n", raw(syscall(SYS_sync_file_range, p[0], 0L, 0L, 2)));
    printf("sync_file_range bad fd: %ld\n", raw(syscall(SYS_sync_file_range, 999, 0L, 0L, 2)));
    printf("readahead: %ld\n", raw(syscall(SYS_readahead, fd, 0L, 4096L)));
    printf("readahead of a pipe: %ld\n", raw(syscall(SYS_readahead, p[0], 0L, 4096L)));
    int wo = open(in_dir("v2.txt"), O_WRONLY);
    printf("readahead write-only: %ld\n", raw(syscall(SYS_readahead, wo, 0L, 4096L)));
    close(wo);
    struct iovec gift[2] = {{"vm", 2}, {"splice", 6}};
    printf("vmsplice into the pipe: %ld\n", raw(syscall(SYS_vmsplice, p[1], gift, 2, 0)));
    char got[16] = {0};
    struct iovec back = {got, sizeof got - 1};
    n = raw(syscall(SYS_vmsplice, p[0], &back, 1, 0));
    printf("vmsplice out of it: %ld [%s]\n", n, got);
    printf("vmsplice of an empty pipe, SPLICE_F_NONBLOCK: %ld\n", raw(syscall(SYS_vmsplice, p[0], &back, 1, 2)));
    printf("vmsplice of a file: %ld\n", raw(syscall(SYS_vmsplice, fd, &back, 1, 0)));
    printf("vmsplice flag 0x10: %ld\n", raw(syscall(SYS_vmsplice, p[1], gift, 2, 0x10)));
    printf("vmsplice of nothing: %ld\n", raw(syscall(SYS_vmsplice, p[1], gift, 0, 0)));
    close(p[0]);
    close(p[1]);
    close(fd);
}

/* ---- scheduling attributes and I/O priorities -------------------------- */

struct attr {
    uint32_t size, policy;
    uint64_t flags;
    int32_t nice;
    uint32_t priority;
    uint64_t runtime, deadline, period;
    uint32_t util_min, util_max;
    char more[8];
};

static void show_attr(const char *what)
{
    struct attr at;
    memset(&at, 0xff, sizeof at);
    long r = raw(syscall(SYS_sched_getattr, 0, &at, 48, 0));
    printf("%s: %ld: size %u policy %u flags %llu nice %d priority %u\n", what, r, at.size, at.policy,
           (unsigned long long)at.flags, at.nice, at.priority);
}

static long setattr(uint32_t policy, uint64_t flags, int nice, uint32_t prio)
{
    struct attr at = {.size = 48, .policy = policy, .flags = flags, .nice = nice, .priority = prio};
    return raw(syscall(SYS_sched_setattr, 0, &at, 0));
}

static long ioprio_get(void)
{
    return raw(syscall(SYS_ioprio_get, 1, 0));
}

static void scheduling(void)
{
    show_attr("getattr at first");
    printf("ioprio at first: %#lx\n", ioprio_get());
    printf("setattr nice 5: %ld\n", setattr(SCHED_OTHER, 0, 5, 0));
    show_attr("getattr");
    printf("ioprio with nice 5: %#lx\n", ioprio_get());
    printf("setattr nice 3: %ld\n", setattr(SCHED_OTHER, 0, 3, 0));
    long r = setattr(SCHED_OTHER, 0, 99, 0);
    printf("setattr nice 99 (clamped): %ld, now %d\n", r, getpriority(PRIO_PROCESS, 0));
    printf("setattr SCHED_FIFO 10: %ld\n", setattr(SCHED_FIFO, 0, 19, 10));
    printf("setattr SCHED_OTHER priority 1: %ld\n", setattr(SCHED_OTHER, 0, 19, 1));
    printf("setattr SCHED_DEADLINE without parameters: %ld\n", setattr(6, 0, 19, 0));
    printf("setattr flag 0x80: %ld\n", setattr(SCHED_OTHER, 0x80, 19, 0));
    printf("setattr policy 42: %ld\n", setattr(42, 0, 19, 0));
    printf("setattr keep policy and params: %ld\n", setattr(42, 0x18, 0, 0));
    printf("setattr SCHED_BATCH with reset-on-fork: %ld\n", setattr(SCHED_BATCH, 1, 19, 0));
    show_attr("getattr");
    pid_t c = fork();
    if (c == 0) {
        show_attr("child's getattr");
        _exit(0);
    }
    waitpid(c, NULL, 0);
    printf("setattr dropping reset-on-fork: %ld\n", setattr(SCHED_BATCH, 0, 19, 0));
    struct attr big;
    memset(&big, 0, sizeof big);
    big.size = sizeof big;
    big.policy = SCHED_BATCH;
    big.flags = 1;
    big.nice = 19;
    printf("setattr of %zu bytes, zero past 56: %ld\n", sizeof big, raw(syscall(SYS_sched_setattr, 0, &big, 0)));
    big.more[3] = 1;
    r = raw(syscall(SYS_sched_setattr, 0, &big, 0));
    printf("setattr, not zero past 56: %ld, size now %u\n", r, big.size);
    big.size = 40;
    r = raw(syscall(SYS_sched_setattr, 0, &big, 0));
    printf("setattr of 40 bytes: %ld, size now %u\n", r, big.size);
    struct attr at;
    printf("getattr of 40 bytes: %ld\n", raw(syscall(SYS_sched_getattr, 0, &at, 40, 0)));
    printf("getattr flags 1: %ld\n", raw(syscall(SYS_sched_getattr, 0, &at, 48, 1)));
    printf("getattr pid 99999: %ld\n", raw(syscall(SYS_sched_getattr, 99999, &at, 48, 0)));
    printf("setattr NULL: %ld\n", raw(syscall(SYS_sched_setattr, 0, NULL, 0)));
    struct timespec ts = {-1, -1};
    r = raw(syscall(SYS_sched_rr_get_interval, 0, &ts));
    printf("rr_get_interval: %ld, a slice under a second: %s\n", r,
           ts.tv_sec == 0 && ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000 ? "yes" : "no");
    printf("rr_get_interval pid -1: %ld\n", raw(syscall(SYS_sched_rr_get_interval, -1, &ts)));
    printf("rr_get_interval NULL: %ld\n", raw(syscall(SYS_sched_rr_get_interval, 0, NULL)));

    printf("ioprio now: %#lx\n", ioprio_get());
    r = raw(syscall(SYS_ioprio_set, 1, 0, (2 << 13) | 7));
    printf("ioprio_set best effort 7: %ld, now %#lx\n", r, ioprio_get());
    c = fork();
    if (c == 0) {
        printf("child's ioprio: %#lx\n", ioprio_get());
        _exit(0);
    }
    waitpid(c, NULL, 0);
    r = raw(syscall(SYS_ioprio_set, 1, 0, 3 << 13));
    printf("ioprio_set idle: %ld, now %#lx\n", r, ioprio_get());
    printf("ioprio_set real time: %ld\n", raw(syscall(SYS_ioprio_set, 1, 0, 1 << 13)));
    printf("ioprio_set class 4: %ld\n", raw(syscall(SYS_ioprio_set, 1, 0, 4 << 13)));
    printf("ioprio_set none with a level: %ld\n", raw(syscall(SYS_ioprio_set, 1, 0, 3)));
    r = raw(syscall(SYS_ioprio_set, 1, 0, 0));
    printf("ioprio_set none: %ld, now %#lx\n", r, ioprio_get());
    printf("ioprio_get which 9: %ld\n", raw(syscall(SYS_ioprio_get, 9, 0)));
    printf("ioprio_get pid 99999: %ld\n", raw(syscall(SYS_ioprio_get, 1, 99999)));
    printf("ioprio_get own group: %#lx\n", raw(syscall(SYS_ioprio_get, 2, 0)));
}

/* ---- personality, capabilities, restart_syscall ------------------------ */

static void identity(void)
{
    printf("personality query: %#lx\n", raw(syscall(SYS_personality, 0xffffffffUL)));
    printf("personality ADDR_NO_RANDOMIZE: %#lx\n", raw(syscall(SYS_personality, 0x0040000UL)));
    printf("personality query: %#lx\n", raw(syscall(SYS_personality, 0xffffffffUL)));
    pid_t c = fork();
    if (c == 0) {
        printf("child's personality: %#lx\n", raw(syscall(SYS_personality, 0xffffffffUL)));
        _exit(0);
    }
    waitpid(c, NULL, 0);
    printf("personality back to PER_LINUX: %#lx\n", raw(syscall(SYS_personality, 0UL)));

    uint32_t hdr[2] = {0x20080522, 0};
    uint32_t data[6];
    memset(data, 0xff, sizeof data);
    long r = raw(syscall(SYS_capget, hdr, data));
    printf("capget v3: %ld: %x %x %x %x %x %x\n", r, data[0], data[1], data[2], data[3], data[4], data[5]);
    hdr[0] = 0x19980330;
    memset(data, 0xff, sizeof data);
    r = raw(syscall(SYS_capget, hdr, data));
    printf("capget v1: %ld: %x %x %x, untouched %x\n", r, data[0], data[1], data[2], data[3]);
    hdr[0] = 0x12345678;
    r = raw(syscall(SYS_capget, hdr, data));
    printf("capget bad version: %ld, version now %#x\n", r, hdr[0]);
    hdr[0] = 0x12345678;
    r = raw(syscall(SYS_capget, hdr, NULL));
    printf("capget bad version, no data: %ld, version now %#x\n", r, hdr[0]);
    hdr[1] = 99999;
    printf("capget pid 99999: %ld\n", raw(syscall(SYS_capget, hdr, data)));
    hdr[1] = (uint32_t)-5;
    printf("capget pid -5: %ld\n", raw(syscall(SYS_capget, hdr, data)));
    hdr[1] = 0;
    memset(data, 0, sizeof data);
    printf("capset to nothing: %ld\n", raw(syscall(SYS_capset, hdr, data)));
    data[1] = 1 << 13; /* CAP_NET_RAW permitted */
    data[0] = 1 << 13;
    printf("capset CAP_NET_RAW: %ld\n", raw(syscall(SYS_capset, hdr, data)));
    memset(data, 0, sizeof data);
    hdr[1] = 1;
    printf("capset pid 1: %ld\n", raw(syscall(SYS_capset, hdr, data)));
    printf("restart_syscall: %ld\n", raw(syscall(SYS_restart_syscall)));
    long q = raw(syscall(SYS_membarrier, 0, 0, 0));
    printf("membarrier query: %#lx of 0x7f\n", q < 0 ? q : q & 0x7f);
    printf("membarrier private, unregistered: %ld\n", raw(syscall(SYS_membarrier, 8, 0, 0)));
    printf("membarrier register private: %ld\n", raw(syscall(SYS_membarrier, 16, 0, 0)));
    printf("membarrier private: %ld\n", raw(syscall(SYS_membarrier, 8, 0, 0)));
    printf("membarrier sync-core, unregistered: %ld\n", raw(syscall(SYS_membarrier, 32, 0, 0)));
    printf("membarrier register sync-core: %ld\n", raw(syscall(SYS_membarrier, 64, 0, 0)));
    printf("membarrier sync-core: %ld\n", raw(syscall(SYS_membarrier, 32, 0, 0)));
    printf("membarrier global: %ld\n", raw(syscall(SYS_membarrier, 1, 0, 0)));
    printf("membarrier global expedited: %ld\n", raw(syscall(SYS_membarrier, 2, 0, 0)));
    printf("membarrier flags 1: %ld\n", raw(syscall(SYS_membarrier, 8, 1, 0)));
    printf("membarrier command 3: %ld\n", raw(syscall(SYS_membarrier, 3, 0, 0)));
    c = fork();
    if (c == 0) {
        printf("child's membarrier private: %ld\n", raw(syscall(SYS_membarrier, 8, 0, 0)));
        _exit(0);
    }
    waitpid(c, NULL, 0);
}

/* ---- mincore ------------------------------------------------------------ */

static void residency(void)
{
    long page = sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    m[0] = 1;
    m[2 * page] = 1;
    unsigned char v[4];
    long r = raw(mincore(m, 4 * page, v));
    printf("mincore: %ld: %d %d %d %d\n", r, v[0] & 1, v[1] & 1, v[2] & 1, v[3] & 1);
    printf("mincore of part of a page: %ld, %d\n", raw(mincore(m, 10, v)), v[0] & 1);
    printf("mincore unaligned: %ld\n", raw(mincore(m + 1, page, v)));
    printf("mincore bad vector: %ld\n", raw(mincore(m, page, (unsigned char *)8)));
    munmap(m + 3 * page, page);
    printf("mincore over a hole: %ld\n", raw(mincore(m, 4 * page, v)));
    printf("mincore of nothing: %ld\n", raw(mincore(m, 0, v)));
    munmap(m, 3 * page);
}

/* ---- futex2 ------------------------------------------------------------- */

static uint32_t word_a, word_b;
static volatile int waiter_state;

static void *waiter(void *arg)
{
    uint32_t *w = arg;
    waiter_state = 1;
    long r = raw(syscall(SYS_futex_wait, w, 0UL, 0xffffffffUL, FUTEX2_SIZE_U32 | FUTEX2_PRIVATE, NULL, 0));
    waiter_state = 2;
    return (void *)r;
}

static long wake_until(uint32_t *w)
{
    for (int i = 0; i < 2000; i++) {
        long r = raw(syscall(SYS_futex_wake, w, 0xffffffffUL, 1, FUTEX2_SIZE_U32 | FUTEX2_PRIVATE));
        if (r != 0)
            return r;
        usleep(1000);
    }
    return 0;
}

static void futex2(void)
{
    word_a = 7;
    /* A kernel before 6.7 has no futex2 calls: said in one line. */
    if (raw(syscall(SYS_futex_wake, &word_a, 0xffffffffUL, 0, FUTEX2_SIZE_U32)) == -ENOSYS) {
        printf("futex_wake: ENOSYS, no futex2 calls in this kernel\n");
        return;
    }
    printf("futex_wait on another value: %ld\n",
           raw(syscall(SYS_futex_wait, &word_a, 8UL, 0xffffffffUL, FUTEX2_SIZE_U32 | FUTEX2_PRIVATE, NULL, 0)));
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_nsec += 20 * 1000 * 1000;
    if (t.tv_nsec >= 1000000000) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000;
    }
    printf("futex_wait until a monotonic time: %ld\n",
           raw(syscall(SYS_futex_wait, &word_a, 7UL, 0xffffffffUL, FUTEX2_SIZE_U32, &t, CLOCK_MONOTONIC)));
    printf("futex_wait on clock 5: %ld\n",
           raw(syscall(SYS_futex_wait, &word_a, 7UL, 0xffffffffUL, FUTEX2_SIZE_U32, &t, 5)));
    printf("futex_wait size u8: %ld\n", raw(syscall(SYS_futex_wait, &word_a, 7UL, 0xffffffffUL, FUTEX2_SIZE_U8, NULL, 0)));
    printf("futex_wait mask 0: %ld\n", raw(syscall(SYS_futex_wait, &word_a, 7UL, 0UL, FUTEX2_SIZE_U32, NULL, 0)));
    printf("futex_wait value past 32 bits: %ld\n",
           raw(syscall(SYS_futex_wait, &word_a, 1UL << 40, 0xffffffffUL, FUTEX2_SIZE_U32, NULL, 0)));
    printf("futex_wake nobody: %ld\n", raw(syscall(SYS_futex_wake, &word_a, 0xffffffffUL, 1, FUTEX2_SIZE_U32)));
    printf("futex_wake unaligned: %ld\n", raw(syscall(SYS_futex_wake, (char *)&word_a + 1, 0xffffffffUL, 1, FUTEX2_SIZE_U32)));
    word_a = 0;
    pthread_t th;
    pthread_create(&th, NULL, waiter, &word_a);
    long woke = wake_until(&word_a);
    void *ret;
    pthread_join(th, &ret);
    printf("futex_wake of a waiting thread: %ld, its wait returned %ld\n", woke, (long)ret);
    word_a = 0;
    word_b = 0;
    pthread_create(&th, NULL, waiter, &word_a);
    while (waiter_state == 0)
        usleep(1000);
    struct {
        uint64_t val, uaddr;
        uint32_t flags, reserved;
    } w[2] = {{5, (uintptr_t)&word_a, FUTEX2_SIZE_U32 | FUTEX2_PRIVATE, 0},
              {0, (uintptr_t)&word_b, FUTEX2_SIZE_U32 | FUTEX2_PRIVATE, 0}};
    printf("futex_requeue on another value: %ld\n", raw(syscall(SYS_futex_requeue, w, 0, 0, 1)));
    w[0].val = 0;
    printf("futex_requeue flags 1: %ld\n", raw(syscall(SYS_futex_requeue, w, 1, 0, 1)));
    long moved = 0;
    for (int i = 0; i < 2000 && moved == 0; i++) {
        moved = raw(syscall(SYS_futex_requeue, w, 0, 0, 1));
        if (moved == 0)
            usleep(1000);
    }
    printf("futex_requeue moved: %ld\n", moved);
    printf("futex_wake on the first word: %ld\n", raw(syscall(SYS_futex_wake, &word_a, 0xffffffffUL, 1, FUTEX2_SIZE_U32 | FUTEX2_PRIVATE)));
    woke = wake_until(&word_b);
    pthread_join(th, &ret);
    printf("futex_wake on the second word: %ld, its wait returned %ld\n", woke, (long)ret);
}

/* ---- mknod and named pipes --------------------------------------------- */

static void show_read(const char *who, int fd)
{
    char buf[128];
    long total = 0, n;
    while ((n = read(fd, buf + total, sizeof buf - 1 - total)) > 0)
        total += n;
    buf[total] = 0;
    printf("%s read %ld bytes: %s", who, total, buf);
}

static volatile int alarms;

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

static void named_pipes(void)
{
    umask(022);
    const char *p = in_dir("fifo");
    printf("mknod FIFO: %ld\n", raw(syscall(SYS_mknod, p, S_IFIFO | 0666, 0)));
    struct stat st;
    stat(p, &st);
    printf("a FIFO: %d, mode %o, size %ld\n", S_ISFIFO(st.st_mode), st.st_mode & 07777, (long)st.st_size);
    printf("mknod again: %ld\n", raw(syscall(SYS_mknod, p, S_IFIFO | 0666, 0)));
    printf("writer, no reader, nonblocking: %ld\n", raw(open(p, O_WRONLY | O_NONBLOCK)));
    int r = open(p, O_RDONLY | O_NONBLOCK);
    char b[16];
    printf("nonblocking reader: %s, reads %ld\n", r >= 0 ? "open" : "refused", raw(read(r, b, sizeof b)));
    int w = open(p, O_WRONLY | O_NONBLOCK);
    printf("nonblocking writer with a reader: %s, writes %ld\n", w >= 0 ? "open" : "refused", raw(write(w, "abc", 3)));
    long n = raw(read(r, b, sizeof b));
    printf("reader reads %ld\n", n);
    close(w);
    printf("after the writer closed: %ld\n", raw(read(r, b, sizeof b)));
    close(r);
    pid_t c = fork();
    if (c == 0) {
        int cw = open(p, O_WRONLY);
        write(cw, "from the child\n", 15);
        _exit(0);
    }
    r = open(p, O_RDONLY);
    show_read("parent", r);
    close(r);
    waitpid(c, NULL, 0);
    c = fork();
    if (c == 0) {
        int cr = open(p, O_RDONLY);
        show_read("child", cr);
        _exit(0);
    }
    w = open(p, O_WRONLY);
    write(w, "from the parent\n", 16);
    close(w);
    waitpid(c, NULL, 0);
    /* A signal ends a waiting open (no SA_RESTART): EINTR, and the open
     * that waited no longer counts as a reader. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0}, {0, 50000}};
    setitimer(ITIMER_REAL, &it, NULL);
    long e = raw(open(p, O_RDONLY));
    printf("reader interrupted: %ld, alarms %d\n", e, alarms);
    printf("then a nonblocking writer: %ld\n", raw(open(p, O_WRONLY | O_NONBLOCK)));
    printf("unlink FIFO: %ld\n", raw(unlink(p)));
    printf("mknodat regular: %ld\n", raw(syscall(SYS_mknodat, AT_FDCWD, in_dir("plain"), S_IFREG | 0640, 0)));
    stat(in_dir("plain"), &st);
    printf("a regular file: %d, mode %o\n", S_ISREG(st.st_mode), st.st_mode & 07777);
    printf("mknod type 0: %ld\n", raw(syscall(SYS_mknod, in_dir("zero"), 0644, 0)));
    stat(in_dir("zero"), &st);
    printf("a regular file: %d\n", S_ISREG(st.st_mode));
    printf("mknod char device: %ld\n", raw(syscall(SYS_mknod, in_dir("dev"), S_IFCHR | 0644, (1 << 8) | 3)));
    printf("mknod directory type: %ld\n", raw(syscall(SYS_mknod, in_dir("d"), S_IFDIR | 0755, 0)));
    printf("mknod bad type: %ld\n", raw(syscall(SYS_mknod, in_dir("bad"), 0130000 | 0644, 0)));
    printf("mknod in a missing directory: %ld\n", raw(syscall(SYS_mknod, in_dir("no/fifo"), S_IFIFO | 0644, 0)));
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: linux_calls DIR\n");
        return 2;
    }
    snprintf(dir, sizeof dir, "%s", argv[1]);
    /* Run natively as root, it first becomes nobody: the sandbox's
     * process is unprivileged, and so must the one it is compared with. */
    if (geteuid() == 0 && (setgroups(0, NULL) || setgid(65534) || setuid(65534))) {
        perror("dropping root");
        return 1;
    }
    listing();
    flagged_io();
    scheduling();
    identity();
    residency();
    futex2();
    named_pipes();
    return 0;
}

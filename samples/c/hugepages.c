/* hugepages [check | fault-ro | fault-hole | fault-gone | fault-moved]:
 * the memory calls on mappings large enough for 2 MiB guest pages
 * (docs/architecture.md, "2 MiB pages"), each checked by what the program
 * then sees through its own mappings.
 *
 * check: every case below, then "hugepages: all ok" (exit 0); a mismatch
 * prints "FAIL ..." and exits 1. After each change the program touches the
 * memory again, and bytes the runner wrote (read() from a pipe) must be
 * what the program reads back: a translation the hypervisor kept from
 * before a change would show other bytes, or none.
 * fault-*: sets up one case after the memory has been touched, then
 * accesses what must no longer be accessible; the runner must end the
 * program with SIGSEGV (139) at the printed address:
 *   fault-ro     write to a page made read-only inside a 2 MiB page
 *   fault-hole   read a page unmapped from the middle of a 2 MiB page
 *   fault-gone   read a whole 2 MiB page after munmap
 *   fault-moved  read the old address of a 2 MiB page mremap moved
 *
 * The same program runs natively and with --huge-pages off, with the same
 * results: only the page sizes behind it differ. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MIB (1UL << 20)
#define HUGE (2 * MIB)
#define PAGE 4096UL
/* 2 MiB-aligned addresses far from the program, its heap and the stack. */
#define AREA ((char *)0x40000000UL)
#define AREA_LEN (8 * MIB)
#define SPARE ((char *)0x50000000UL)
#define MOVED ((char *)0x60000000UL)
#define ROUNDS ((char *)0x70000000UL)

static int failures;

static uint64_t pattern(uintptr_t addr, unsigned round)
{
    return (addr * 0x9E3779B97F4A7C15ULL) ^ (round * 0x100000001ULL) ^ 0x5a5a;
}

/* One qword every 256 bytes carries its address's pattern. */
static void fill(char *p, size_t len, unsigned round)
{
    for (size_t off = 0; off < len; off += 256)
        *(volatile uint64_t *)(p + off) = pattern((uintptr_t)(p + off), round);
}

/* As check, for contents filled at `origin` and moved to `p` since. */
static void check_moved(const char *what, const char *p, size_t len, unsigned round,
                        const char *origin)
{
    for (size_t off = 0; off < len; off += 256) {
        uint64_t want = pattern((uintptr_t)(origin + off), round);
        uint64_t got = *(volatile const uint64_t *)(p + off);
        if (got != want) {
            printf("FAIL %s: at %p read %#llx, want %#llx\n", what, (void *)(p + off),
                   (unsigned long long)got, (unsigned long long)want);
            failures++;
            return;
        }
    }
}

static void check(const char *what, const char *p, size_t len, unsigned round)
{
    check_moved(what, p, len, round, p);
}

static void check_zero(const char *what, const char *p, size_t len)
{
    for (size_t off = 0; off < len; off += 64) {
        if (*(volatile const uint64_t *)(p + off) != 0) {
            printf("FAIL %s: %p is not zero\n", what, (void *)(p + off));
            failures++;
            return;
        }
    }
}

/* The runner writes `len` bytes at `dst` (read() from a pipe), then the
 * program reads them through its own mapping. */
static void runner_writes(const char *what, char *dst, size_t len, unsigned seed)
{
    static unsigned char buf[8192];
    int fds[2];
    if (len > sizeof buf || pipe(fds) != 0) {
        printf("FAIL %s: pipe\n", what);
        exit(1);
    }
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(seed * 31 + i * 7 + (i >> 8));
    if (write(fds[1], buf, len) != (ssize_t)len || read(fds[0], dst, len) != (ssize_t)len) {
        printf("FAIL %s: pipe transfer\n", what);
        exit(1);
    }
    close(fds[0]);
    close(fds[1]);
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)((volatile char *)dst)[i] != buf[i]) {
            printf("FAIL %s: byte %zu at %p differs from what the runner wrote\n", what, i,
                   (void *)(dst + i));
            failures++;
            return;
        }
    }
}

static char *map_at(char *at, size_t len, int prot)
{
    char *p = mmap(at, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p != at) {
        printf("FAIL mmap %p+%#zx\n", (void *)at, len);
        exit(1);
    }
    return p;
}

static void must(int ok, const char *what)
{
    if (!ok) {
        printf("FAIL %s\n", what);
        exit(1);
    }
}

/* The four 2 MiB pages of AREA, filled and read back once (every page
 * touched, so the hypervisor holds translations for all of them). */
static char *touched_area(void)
{
    char *a = map_at(AREA, AREA_LEN, PROT_READ | PROT_WRITE);
    fill(a, AREA_LEN, 1);
    check("first touch", a, AREA_LEN, 1);
    return a;
}

static void all_cases(void)
{
    char *a = touched_area();

    /* A 4 KiB hole in the middle of the first 2 MiB page. */
    char *hole = a + 5 * PAGE;
    must(munmap(hole, PAGE) == 0, "munmap of one page inside a 2 MiB page");
    check("around the hole (before)", a, 5 * PAGE, 1);
    check("around the hole (after)", hole + PAGE, AREA_LEN - 6 * PAGE, 1);
    /* Mapped again: zero, and the runner's bytes land where the program reads. */
    must(mmap(hole, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
              0) == hole,
         "mmap of the hole");
    check_zero("the hole mapped again", hole, PAGE);
    runner_writes("the hole mapped again", hole, PAGE, 2);

    /* One read-only page inside the second 2 MiB page: readable, and the
     * rest of it still writable. */
    char *ro = a + HUGE + 7 * PAGE;
    must(mprotect(ro, PAGE, PROT_READ) == 0, "mprotect of one page");
    check("read-only page", ro, PAGE, 1);
    fill(a + HUGE, 7 * PAGE, 3);
    fill(ro + PAGE, HUGE - 8 * PAGE, 3);
    check("beside the read-only page", a + HUGE, 7 * PAGE, 3);
    check("after the read-only page", ro + PAGE, HUGE - 8 * PAGE, 3);
    must(mprotect(ro, PAGE, PROT_READ | PROT_WRITE) == 0, "mprotect back");
    fill(ro, PAGE, 3);
    check("writable again", ro, PAGE, 3);

    /* The whole third 2 MiB page read-only, then writable again. */
    char *third = a + 2 * HUGE;
    must(mprotect(third, HUGE, PROT_READ) == 0, "mprotect of a whole 2 MiB page");
    check("whole page read-only", third, HUGE, 1);
    must(mprotect(third, HUGE, PROT_READ | PROT_WRITE) == 0, "mprotect back (whole)");
    fill(third, HUGE, 4);
    check("whole page writable again", third, HUGE, 4);

    /* PROT_NONE and back keeps the contents. */
    char *fourth = a + 3 * HUGE;
    must(mprotect(fourth, HUGE, PROT_NONE) == 0, "PROT_NONE of a whole 2 MiB page");
    must(mprotect(fourth, HUGE, PROT_READ | PROT_WRITE) == 0, "back from PROT_NONE");
    check("contents kept through PROT_NONE", fourth, HUGE, 1);

    /* madvise(DONTNEED) on one page zeroes that page only. */
    must(madvise(fourth + 9 * PAGE, PAGE, MADV_DONTNEED) == 0, "madvise");
    check_zero("page after MADV_DONTNEED", fourth + 9 * PAGE, PAGE);
    check("pages beside MADV_DONTNEED", fourth, 9 * PAGE, 1);
    check("pages after MADV_DONTNEED", fourth + 10 * PAGE, HUGE - 10 * PAGE, 1);

    /* A whole 2 MiB page removed, another mapping taking a 2 MiB page
     * elsewhere, and the first address mapped again: zero, and the runner's
     * bytes are what the program reads. */
    must(munmap(fourth, HUGE) == 0, "munmap of a whole 2 MiB page");
    char *spare = map_at(SPARE, HUGE, PROT_READ | PROT_WRITE);
    fill(spare, HUGE, 5);
    must(mmap(fourth, HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
              0) == fourth,
         "mmap over the removed 2 MiB page");
    check_zero("2 MiB page mapped again", fourth, HUGE);
    runner_writes("2 MiB page mapped again (start)", fourth, 8192, 6);
    runner_writes("2 MiB page mapped again (end)", fourth + HUGE - 8192, 8192, 7);
    check("the other mapping", spare, HUGE, 5);

    /* mremap moves the whole area (2 MiB pages and split ones alike). */
    fill(a, AREA_LEN, 8);
    char *m = mremap(a, AREA_LEN, AREA_LEN, MREMAP_MAYMOVE | MREMAP_FIXED, MOVED);
    must(m == MOVED, "mremap");
    check_moved("moved contents", m, AREA_LEN, 8, a);
    runner_writes("moved area", m + HUGE + 3 * PAGE, 8192, 9);

    /* Many rounds of map, touch, change and unmap at the same addresses
     * (four places, one per kind of round): each round's bytes, never an
     * earlier round's. */
    for (unsigned round = 10; round < 110; round++) {
        char *r = map_at(ROUNDS + (round % 4) * 2 * HUGE, 2 * HUGE, PROT_READ | PROT_WRITE);
        check_zero("fresh round", r, 2 * HUGE);
        fill(r, 2 * HUGE, round);
        switch (round % 4) {
        case 0:
            must(munmap(r + HUGE - PAGE, 2 * PAGE) == 0, "munmap across two 2 MiB pages");
            check("left of the cut", r, HUGE - PAGE, round);
            check("right of the cut", r + HUGE + PAGE, HUGE - PAGE, round);
            break;
        case 1:
            must(mprotect(r + PAGE, HUGE, PROT_READ) == 0, "mprotect across two 2 MiB pages");
            check("read-only across", r, 2 * HUGE, round);
            break;
        case 2:
            runner_writes("round", r + HUGE - 4096, 8192, round);
            break;
        default:
            must(munmap(r, HUGE) == 0, "munmap of the first 2 MiB page");
            check("second 2 MiB page", r + HUGE, HUGE, round);
            break;
        }
        must(munmap(r, 2 * HUGE) == 0, "munmap of the round");
    }
    check("other mapping after the rounds", spare, HUGE, 5);
    check_moved("moved area after the rounds", m, HUGE, 8, a);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "check";
    setvbuf(stdout, NULL, _IONBF, 0);
    if (strcmp(mode, "check") == 0) {
        all_cases();
        if (failures) {
            printf("hugepages: %d failures\n", failures);
            return 1;
        }
        printf("hugepages: all ok\n");
        return 0;
    }
    char *a = touched_area();
    volatile char *target;
    if (strcmp(mode, "fault-ro") == 0) {
        target = a + HUGE + 7 * PAGE;
        must(mprotect((char *)target, PAGE, PROT_READ) == 0, "mprotect");
        printf("writing %p\n", (void *)target);
        *target = 1;
    } else if (strcmp(mode, "fault-hole") == 0) {
        target = a + 5 * PAGE;
        must(munmap((char *)target, PAGE) == 0, "munmap");
        printf("reading %p\n", (void *)target);
        (void)*target;
    } else if (strcmp(mode, "fault-gone") == 0) {
        target = a + 2 * HUGE + 123 * PAGE;
        must(munmap(a + 2 * HUGE, HUGE) == 0, "munmap");
        printf("reading %p\n", (void *)target);
        (void)*target;
    } else if (strcmp(mode, "fault-moved") == 0) {
        target = a + HUGE + 42 * PAGE;
        must(mremap(a, AREA_LEN, AREA_LEN, MREMAP_MAYMOVE | MREMAP_FIXED, MOVED) == MOVED,
             "mremap");
        printf("reading %p\n", (void *)target);
        (void)*target;
    } else {
        fprintf(stderr, "usage: hugepages [check|fault-ro|fault-hole|fault-gone|fault-moved]\n");
        return 2;
    }
    printf("FAIL: the access did not fault\n");
    return 1;
}

/* memlock: mlock and its family as an unprivileged process with an
 * RLIMIT_MEMLOCK of 0 sees them (the sandbox's): locking is EPERM after
 * the flag checks, unlocking a mapped range is 0 and an unmapped one
 * ENOMEM. Prints each answer. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static long r_(long r)
{
    return r < 0 ? -errno : r;
}

int main(void)
{
    struct rlimit rl;
    getrlimit(RLIMIT_MEMLOCK, &rl);
    printf("RLIMIT_MEMLOCK: %lu %lu\n", (unsigned long)rl.rlim_cur, (unsigned long)rl.rlim_max);
    char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *gone = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(gone, 4096);
    printf("mlock: %ld\n", r_(mlock(p + 100, 5000)));
    printf("mlock2 with a bad flag: %ld\n", r_(syscall(SYS_mlock2, p, 4096, 2)));
    printf("mlock2 on fault: %ld\n", r_(syscall(SYS_mlock2, p, 4096, 1)));
    printf("mlockall 0: %ld\n", r_(mlockall(0)));
    printf("mlockall on fault alone: %ld\n", r_(mlockall(MCL_ONFAULT)));
    printf("mlockall: %ld\n", r_(mlockall(MCL_CURRENT | MCL_FUTURE)));
    printf("munlock: %ld\n", r_(munlock(p, 8192)));
    printf("munlock of an unmapped page: %ld\n", r_(munlock(gone, 4096)));
    printf("munlockall: %ld\n", r_(munlockall()));
    return 0;
}

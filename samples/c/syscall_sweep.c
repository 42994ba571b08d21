/* syscall_sweep.c - makes syscalls numbered argv[1] to argv[2] (numbers
 * x86-64 never assigned: each is ENOSYS), then prints how many failed
 * with ENOSYS. The runner reports a bounded number of them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>

int main(int argc, char **argv) {
    long from = argc > 1 ? atol(argv[1]) : 1000;
    long to = argc > 2 ? atol(argv[2]) : 5000;
    long enosys = 0;
    for (long n = from; n < to; n++)
        if (syscall(n) == -1 && errno == ENOSYS)
            enosys++;
    printf("%ld of %ld: ENOSYS\n", enosys, to - from);
    return 0;
}

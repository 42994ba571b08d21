/* stderr_seek.c - moves stderr's file offset to argv[1] MiB, then aborts:
 * the runner's death line then lands past RLIMIT_FSIZE (EFBIG) when
 * stderr is a regular file and the policy's bytes_written is small. The
 * runner must still report the abort (134), not fail or be killed. With
 * 0 it only aborts (stderr may then be a pipe). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long mib = argc > 1 ? atol(argv[1]) : 2;
    if (mib > 0 && lseek(2, mib << 20, SEEK_SET) < 0) {
        puts("lseek failed");
        return 1;
    }
    puts("seeked");
    fflush(stdout);
    abort();
}

/* sleeper SECONDS: nanosleep for SECONDS (a decimal, may be fractional),
 * then print "awake". */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
    double s = argc > 1 ? strtod(argv[1], NULL) : 1.0;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    if (nanosleep(&ts, NULL) != 0) {
        perror("sleeper: nanosleep");
        return 1;
    }
    printf("awake\n");
    return 0;
}

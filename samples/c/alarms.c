/* alarms.c - alarm() and setitimer(ITIMER_REAL): alarm + pause, a handler
 * that interrupts a loop with no syscalls, a periodic timer, getitimer,
 * and (argv[1] "default") an alarm with no handler, which ends the process
 * with SIGALRM. Output does not depend on timing; the tests compare it
 * with a native run. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t rings;

static void on_alarm(int sig) {
    (void)sig;
    rings++;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && strcmp(argv[1], "default") == 0) {
        alarm(1);
        for (;;) pause();
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);

    printf("alarm(1) returns %u\n", alarm(1));
    printf("alarm(2) returns %u (rounded)\n", alarm(2) >= 1);
    alarm(0);
    struct itimerval it = {.it_value = {0, 50000}};
    setitimer(ITIMER_REAL, &it, NULL);
    int r = pause();
    printf("pause: %d %s rings %d\n", r, errno == EINTR ? "EINTR" : "?", rings);

    it.it_value.tv_usec = 30000;
    setitimer(ITIMER_REAL, &it, NULL);
    volatile unsigned long spins = 0;
    while (rings < 2) spins++;
    printf("a loop with no syscalls was interrupted: rings %d\n", rings);

    struct itimerval periodic = {.it_interval = {0, 20000}, .it_value = {0, 20000}};
    setitimer(ITIMER_REAL, &periodic, NULL);
    while (rings < 5) pause();
    struct itimerval now;
    getitimer(ITIMER_REAL, &now);
    printf("periodic: rings %d, interval %ld us\n", rings, (long)now.it_interval.tv_usec);
    memset(&periodic, 0, sizeof periodic);
    setitimer(ITIMER_REAL, &periodic, NULL);
    getitimer(ITIMER_REAL, &now);
    printf("stopped: %ld %ld\n", (long)now.it_value.tv_sec, (long)now.it_value.tv_usec);
    puts("done");
    return 0;
}

/* raise MODE: a signal the program sends itself.
 *   raise abort        abort()                        -> dies of SIGABRT (134)
 *   raise term         raise(SIGTERM)                 -> dies of SIGTERM (143)
 *   raise ignored      SIGTERM ignored, then raised   -> prints "survived", 0
 *   raise handled      SIGTERM handler, then raised   -> the handler runs
 *                      and prints "handled", then "survived", 0
 *   raise blocked      SIGUSR1 blocked, raised, "pending" printed, then
 *                      unblocked                     -> dies of SIGUSR1 (138)
 *   raise segv         a one-shot (SA_RESETHAND) SIGSEGV handler, then a
 *                      NULL write -> the handler prints "handled", returns,
 *                      the write faults again: dies of SIGSEGV (139) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void on_signal(int sig)
{
    (void)sig;
    static const char msg[] = "handled\n";
    write(1, msg, sizeof msg - 1);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "abort";
    if (!strcmp(mode, "abort")) {
        abort();
    } else if (!strcmp(mode, "term")) {
        raise(SIGTERM);
    } else if (!strcmp(mode, "ignored")) {
        signal(SIGTERM, SIG_IGN);
        raise(SIGTERM);
    } else if (!strcmp(mode, "handled")) {
        signal(SIGTERM, on_signal);
        raise(SIGTERM);
    } else if (!strcmp(mode, "blocked")) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        sigprocmask(SIG_BLOCK, &set, NULL);
        raise(SIGUSR1);
        sigset_t pending;
        sigpending(&pending);
        if (sigismember(&pending, SIGUSR1))
            printf("pending\n");
        fflush(stdout);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
    } else if (!strcmp(mode, "segv")) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESETHAND;
        sigaction(SIGSEGV, &sa, NULL);
        *(volatile int *)0 = 1;
    } else {
        fprintf(stderr, "raise: unknown mode %s\n", mode);
        return 2;
    }
    printf("survived\n");
    return 0;
}

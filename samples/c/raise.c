/* raise MODE: a signal the program sends itself.
 *   raise abort        abort()                        -> dies of SIGABRT (134)
 *   raise term         raise(SIGTERM)                 -> dies of SIGTERM (143)
 *   raise ignored      SIGTERM ignored, then raised   -> prints "survived", 0
 *   raise handled      SIGTERM handler, then raised   -> native: the handler
 *                      runs and prints "handled"; in the sandbox handlers are
 *                      not run: dies of SIGTERM (143)
 *   raise blocked      SIGUSR1 blocked, raised, "pending" printed, then
 *                      unblocked                     -> dies of SIGUSR1 (138)
 *   raise segv         SIGSEGV handler installed, then a NULL write
 *                                                    -> dies of SIGSEGV (139)
 *                      in the sandbox (exceptions are always fatal) */
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
        signal(SIGSEGV, on_signal);
        *(volatile int *)0 = 1;
    } else {
        fprintf(stderr, "raise: unknown mode %s\n", mode);
        return 2;
    }
    printf("survived\n");
    return 0;
}

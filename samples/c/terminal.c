/* A program on a terminal: isatty, its settings (tcgetattr/tcsetattr),
 * window size and SIGWINCH, the foreground process group (tcgetpgrp,
 * tcsetpgrp to a child's group and back), Ctrl-C as SIGINT, and a line
 * read in canonical mode. Run on a pseudo-terminal by
 * runner/tests/support/on_a_terminal.py, natively and sandboxed with
 * policy stdio.terminal = true; the two transcripts must match. Prints
 * "no terminal" and exits 0 when fd 0 is none. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t winched, interrupted;

static void on_winch(int sig) { (void)sig; winched = 1; }
static void on_int(int sig) { (void)sig; interrupted = 1; }

/* Waits up to two seconds for *flag. */
static int wait_for(volatile sig_atomic_t *flag) {
    struct timespec tick = {0, 10 * 1000 * 1000};
    for (int i = 0; i < 200 && !*flag; i++)
        nanosleep(&tick, NULL);
    return *flag;
}

static void say(const char *text) {
    fputs(text, stdout);
    fflush(stdout);
}

int main(void) {
    int in = isatty(0), out = isatty(1), err = isatty(2);
    printf("isatty %d %d %d\n", in, out, err);
    if (!in) {
        printf("no terminal (%s)\n", strerror(errno));
        return 0;
    }
    struct termios saved, t;
    if (tcgetattr(0, &saved) != 0) { perror("tcgetattr"); return 1; }
    printf("echo %d icanon %d isig %d\n", !!(saved.c_lflag & ECHO),
           !!(saved.c_lflag & ICANON), !!(saved.c_lflag & ISIG));
    t = saved;
    t.c_lflag &= ~ECHO;
    if (tcsetattr(0, TCSANOW, &t) != 0) { perror("tcsetattr"); return 1; }
    tcgetattr(0, &t);
    printf("echo after tcsetattr %d\n", !!(t.c_lflag & ECHO));
    if (tcsetattr(0, TCSADRAIN, &saved) != 0) { perror("tcsetattr back"); return 1; }
    tcgetattr(0, &t);
    printf("echo restored %d\n", !!(t.c_lflag & ECHO));
    if (tcdrain(1) != 0) { perror("tcdrain"); return 1; }

    struct winsize w;
    if (ioctl(0, TIOCGWINSZ, &w) != 0) { perror("TIOCGWINSZ"); return 1; }
    printf("size %d %d\n", w.ws_row, w.ws_col);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_winch;
    sigaction(SIGWINCH, &sa, NULL);
    w.ws_row = 33;
    w.ws_col = 77;
    if (ioctl(1, TIOCSWINSZ, &w) != 0) { perror("TIOCSWINSZ"); return 1; }
    int got = wait_for(&winched);
    ioctl(0, TIOCGWINSZ, &w);
    printf("winch %d size %d %d\n", got, w.ws_row, w.ws_col);

    /* Job control, as a shell does it (ignoring SIGTTOU to take the
     * terminal back from the background). */
    signal(SIGTTOU, SIG_IGN);
    pid_t me = getpgrp();
    printf("foreground is mine %d, session is mine %d\n", tcgetpgrp(0) == me,
           tcgetsid(0) == getsid(0));
    int ready[2];
    if (pipe(ready) != 0) { perror("pipe"); return 1; }
    pid_t child = fork();
    if (child == 0) {
        setpgid(0, 0);
        close(ready[0]);
        write(ready[1], "x", 1);
        pause();
        _exit(0);
    }
    char byte;
    close(ready[1]);
    read(ready[0], &byte, 1);
    setpgid(child, child);
    int set = tcsetpgrp(0, child);
    printf("child's group in the foreground %d %d\n", set, tcgetpgrp(0) == child);
    errno = 0;
    int none = tcsetpgrp(0, 999999);
    int why = errno;
    printf("a group that does not exist: %d %s\n", none, strerror(why));
    tcsetpgrp(0, me);
    printf("mine again %d\n", tcgetpgrp(0) == me);

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_int;
    sigaction(SIGINT, &sa, NULL);
    say("ready-for-intr\n");
    printf("interrupted %d\n", wait_for(&interrupted));

    say("ready-for-line\n");
    char line[128];
    if (!fgets(line, sizeof line, stdin)) { perror("fgets"); return 1; }
    printf("line: %s", line);
    int pending = -1;
    ioctl(0, FIONREAD, &pending);
    printf("pending after the line %d\n", pending);

    kill(child, SIGTERM);
    int status;
    waitpid(child, &status, 0);
    printf("child ended by signal %d\n", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return 3;
}

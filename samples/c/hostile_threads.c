/* hostile_threads.c - threads and signals at the edges, each found by the
 * fuzzer's concurrency programs (docs/fuzzing.md). argv[1]:
 *   many      40 threads alive at once, joined (the locked-down runner
 *             once died of SIGSYS when glibc's malloc, at the ninth host
 *             thread, opened /sys to count the CPUs);
 *   tls       clone with CLONE_SETTLS and a non-canonical TLS base: EPERM,
 *             as on Linux (the runner once failed with status 125);
 *   altstack  an alternate signal stack whose end wraps around the address
 *             space, and an SA_ONSTACK handler: the frame cannot be
 *             written, SIGSEGV (the runner's sum once overflowed);
 *   churn N   N threads wait while 500 more are created and joined one
 *             after another (a clone that raced a host thread on its way
 *             back to the runner's pool once started another: more vCPUs
 *             than limits.threads, and status 125 at 256);
 *   refresh   a thread writes a page while another takes its execute
 *             permission away and gives it back, 4000 times (the runner
 *             once cycled the page's host protection while the writer ran:
 *             its KVM_RUN failed with EFAULT, status 125);
 *   fork-refresh  the same writer while the other thread forks 300
 *             children that exit at once (fork makes every page
 *             copy-on-write, which cycles the same protection);
 *   spin-procs P  P children running at once, each on its own pages
 *   procs P T P children each start T threads that wait, all alive at
 *             once: the runner's vCPUs are shared by every process, 256
 *             in all, so a thread past them is EAGAIN in the sandbox (and
 *             the run goes on), where natively all start. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { MANY = 40 };

static void *nap(void *arg) {
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return arg;
}

static int many(void) {
    pthread_t t[MANY];
    for (long i = 0; i < MANY; i++)
        if (pthread_create(&t[i], NULL, nap, (void *)i) != 0) {
            puts("many: pthread_create failed");
            return 1;
        }
    long sum = 0;
    for (int i = 0; i < MANY; i++) {
        void *v;
        pthread_join(t[i], &v);
        sum += (long)v;
    }
    printf("many: %d joined, sum %ld\n", MANY, sum);
    return 0;
}

static char stack[16384] __attribute__((aligned(16)));
static int ptid, ctid;

static int tls(void) {
    unsigned long flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                          CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID |
                          CLONE_CHILD_CLEARTID;
    long r = syscall(SYS_clone, flags, stack + sizeof stack, &ptid, &ctid,
                     0x0000800000000000ul);
    printf("tls: %s, parent tid %d\n", r == -1 && errno == EPERM ? "EPERM" : "started?", ptid);
    return 0;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static int done;

static void *waiter(void *arg) {
    pthread_mutex_lock(&lock);
    while (!done) pthread_cond_wait(&done_cv, &lock);
    pthread_mutex_unlock(&lock);
    return arg;
}

static void *quick(void *arg) { return arg; }

static int churn(int n) {
    static pthread_t w[300];
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 16384);
    if (n < 0 || n > 300) n = 0;
    for (int i = 0; i < n; i++)
        if (pthread_create(&w[i], &at, waiter, NULL) != 0) {
            printf("churn: waiter %d not created\n", i);
            return 1;
        }
    int failed = 0;
    for (int i = 0; i < 500; i++) {
        pthread_t t;
        if (pthread_create(&t, &at, quick, NULL) != 0) {
            failed++;
            continue;
        }
        pthread_join(t, NULL);
    }
    pthread_mutex_lock(&lock);
    done = 1;
    pthread_cond_broadcast(&done_cv);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < n; i++) pthread_join(w[i], NULL);
    printf("churn: %d waited, %d of 500 not created\n", n, failed);
    return 0;
}

static volatile char *page;
static volatile int stop;

static void *writer(void *arg) {
    while (!stop) page[64]++;
    return arg;
}

static int refresh(void) {
    page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        puts("refresh: mmap failed");
        return 1;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, writer, NULL) != 0) {
        puts("refresh: pthread_create failed");
        return 1;
    }
    while (page[64] == 0) {
    }
    for (int i = 0; i < 4000; i++) {
        mprotect((void *)page, 4096, PROT_READ | PROT_WRITE);
        mprotect((void *)page, 4096, PROT_READ | PROT_WRITE | PROT_EXEC);
    }
    stop = 1;
    pthread_join(t, NULL);
    puts("refresh: the writer ran throughout");
    return 0;
}

static int fork_refresh(void) {
    page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        puts("fork-refresh: mmap failed");
        return 1;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, writer, NULL) != 0) {
        puts("fork-refresh: pthread_create failed");
        return 1;
    }
    while (page[64] == 0) {
    }
    for (int i = 0; i < 300; i++) {
        pid_t c = fork();
        if (c == 0) _exit(0);
        int st;
        if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st)) {
            printf("fork-refresh: child %d: %s\n", i, strerror(errno));
            return 1;
        }
    }
    stop = 1;
    pthread_join(t, NULL);
    puts("fork-refresh: the writer ran throughout");
    return 0;
}

static void *blocked_reader(void *arg) {
    char c;
    while (read(*(int *)arg, &c, 1) > 0) {
    }
    return arg;
}

/* spin-procs P: P children run at once, each touching 4 pages of its
 * own stack and yielding in a loop until all have started: P address
 * spaces in use at the same time (the shadow MMU needs pages for each
 * root: a small VM ran out of them, and KVM_RUN failed with ENOSPC). */
static int spin_procs(int p) {
    int started[2];
    if (p < 1 || p > 255 || pipe(started)) {
        puts("spin-procs: bad arguments");
        return 2;
    }
    for (int i = 0; i < p; i++) {
        pid_t c = fork();
        if (c < 0) {
            printf("spin-procs: fork %d: %s\n", i, strerror(errno));
            return 1;
        }
        if (c > 0) continue;
        close(started[0]);
        volatile char pages[4 * 4096];
        for (int j = 0; j < 4; j++) pages[j * 4096] = (char)j;
        if (write(started[1], "s", 1) != 1) _exit(4);
        for (int round = 0; round < 200; round++) {
            for (int j = 0; j < 4; j++) pages[j * 4096]++;
            sched_yield();
        }
        _exit(pages[0] == (char)200 ? 0 : 5);
    }
    close(started[1]);
    int bad = 0;
    for (int i = 0; i < p; i++) {
        int st;
        if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) bad++;
    }
    printf("spin-procs: %d processes ran at once, %d bad exits\n", p, bad);
    return 0;
}

static int procs(int p, int t) {
    int counts[2], go[2], release[2];
    if (p < 1 || p > 16 || t < 0 || t > 255 || pipe(counts) || pipe(go) || pipe(release)) {
        puts("procs: bad arguments");
        return 2;
    }
    for (int i = 0; i < p; i++) {
        pid_t c = fork();
        if (c < 0) {
            printf("procs: fork %d: %s\n", i, strerror(errno));
            return 1;
        }
        if (c > 0) continue;
        /* A child: once every child exists, as many of its T threads as
         * can start, each waiting for the release pipe's end. */
        close(counts[0]);
        close(go[1]);
        close(release[1]);
        char b;
        if (read(go[0], &b, 1) != 1) _exit(3);
        static pthread_t th[256];
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setstacksize(&at, 16384);
        int made = 0;
        for (int j = 0; j < t; j++)
            if (pthread_create(&th[made], &at, blocked_reader, &release[0]) == 0) made++;
        if (write(counts[1], &made, sizeof made) != sizeof made) _exit(4);
        for (int j = 0; j < made; j++) pthread_join(th[j], NULL);
        _exit(0);
    }
    close(counts[1]);
    close(go[0]);
    close(release[0]);
    for (int i = 0; i < p; i++)
        if (write(go[1], "g", 1) != 1) return 1;
    int total = 0;
    for (int i = 0; i < p; i++) {
        int n;
        if (read(counts[0], &n, sizeof n) != sizeof n) {
            puts("procs: a child did not report");
            return 1;
        }
        total += n;
    }
    close(release[1]);
    int bad = 0;
    for (int i = 0; i < p; i++) {
        int st;
        if (wait(&st) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) bad++;
    }
    printf("procs: %d processes, %d of %d threads started, %d bad exits\n", p, total, p * t, bad);
    return 0;
}

static void handler(int sig) { (void)sig; }

static int altstack(void) {
    stack_t ss = {.ss_sp = (void *)(uintptr_t)0xfffffffffffff000ull, .ss_size = 0x4000};
    if (sigaltstack(&ss, NULL) != 0) {
        printf("altstack: sigaltstack: %s\n", strerror(errno));
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    puts("altstack: the handler ran?");
    return 1;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *mode = argc > 1 ? argv[1] : "many";
    if (!strcmp(mode, "many")) return many();
    if (!strcmp(mode, "tls")) return tls();
    if (!strcmp(mode, "altstack")) return altstack();
    if (!strcmp(mode, "churn")) return churn(argc > 2 ? atoi(argv[2]) : 0);
    if (!strcmp(mode, "refresh")) return refresh();
    if (!strcmp(mode, "fork-refresh")) return fork_refresh();
    if (!strcmp(mode, "spin-procs"))
        return spin_procs(argc > 2 ? atoi(argv[2]) : 1);
    if (!strcmp(mode, "procs"))
        return procs(argc > 2 ? atoi(argv[2]) : 1, argc > 3 ? atoi(argv[3]) : 0);
    puts("usage: hostile_threads many|tls|altstack|churn N|refresh|fork-refresh|procs P T|spin-procs P");
    return 2;
}

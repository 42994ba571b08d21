/* threads.c - a battery of POSIX threads uses whose output does not depend
 * on scheduling: mutexes, condition variables, rwlocks, barriers, TLS and
 * thread-specific data with destructors, join values, detached threads,
 * many short-lived threads, 40 threads alive at once, parallel sleeps,
 * futex-based joins, and
 * cancellation (deferred at read, pthread_cond_wait, nanosleep and
 * pthread_testcancel, asynchronous in a loop with no syscalls, disabled
 * then enabled) with cleanup handlers and key destructors. Built
 * with musl (threads) and glibc (threads_glibc); the tests compare each
 * run under the runner with a native run. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

#define CHECK(x) do { int e_ = (x); if (e_) { printf("FAIL %s: %s\n", #x, strerror(e_)); exit(1); } } while (0)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;

static void *add_many(void *arg) {
    long n = (long)arg;
    for (long i = 0; i < n; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
    }
    return (void *)(n * 2);
}

static void mutexes(void) {
    pthread_t t[8];
    for (long i = 0; i < 8; i++) CHECK(pthread_create(&t[i], NULL, add_many, (void *)20000));
    long joined = 0;
    for (int i = 0; i < 8; i++) {
        void *v;
        CHECK(pthread_join(t[i], &v));
        joined += (long)v;
    }
    printf("mutex: counter=%ld joined=%ld\n", counter, joined);
}

/* A bounded queue with two condition variables. */
#define QCAP 16
static int queue[QCAP];
static int qhead, qlen, qdone;
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t notempty = PTHREAD_COND_INITIALIZER, notfull = PTHREAD_COND_INITIALIZER;

static void *producer(void *arg) {
    int base = (int)(long)arg;
    for (int i = 1; i <= 2000; i++) {
        pthread_mutex_lock(&qlock);
        while (qlen == QCAP) pthread_cond_wait(&notfull, &qlock);
        queue[(qhead + qlen) % QCAP] = base + i;
        qlen++;
        pthread_cond_signal(&notempty);
        pthread_mutex_unlock(&qlock);
    }
    return NULL;
}

static void *consumer(void *arg) {
    long sum = 0;
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&qlock);
        while (qlen == 0 && !qdone) pthread_cond_wait(&notempty, &qlock);
        if (qlen == 0 && qdone) { pthread_mutex_unlock(&qlock); break; }
        sum += queue[qhead];
        qhead = (qhead + 1) % QCAP;
        qlen--;
        pthread_cond_signal(&notfull);
        pthread_mutex_unlock(&qlock);
    }
    return (void *)sum;
}

static void condvars(void) {
    pthread_t p[3], c[2];
    for (long i = 0; i < 3; i++) CHECK(pthread_create(&p[i], NULL, producer, (void *)(i * 100000)));
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&c[i], NULL, consumer, NULL));
    for (int i = 0; i < 3; i++) CHECK(pthread_join(p[i], NULL));
    pthread_mutex_lock(&qlock);
    qdone = 1;
    pthread_cond_broadcast(&notempty);
    pthread_mutex_unlock(&qlock);
    long total = 0;
    for (int i = 0; i < 2; i++) {
        void *v;
        CHECK(pthread_join(c[i], &v));
        total += (long)v;
    }
    printf("condvar: consumed sum=%ld\n", total);
}

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static long table[64];

static void *rw_worker(void *arg) {
    long id = (long)arg, seen = 0;
    for (int i = 0; i < 3000; i++) {
        if (i % 10 == (int)id % 10) {
            pthread_rwlock_wrlock(&rw);
            for (int k = 0; k < 64; k++) table[k]++;
            pthread_rwlock_unlock(&rw);
        } else {
            pthread_rwlock_rdlock(&rw);
            long first = table[0];
            for (int k = 1; k < 64; k++)
                if (table[k] != first) seen++; /* torn update: must never happen */
            pthread_rwlock_unlock(&rw);
        }
    }
    return (void *)seen;
}

static void rwlocks(void) {
    pthread_t t[4];
    for (long i = 0; i < 4; i++) CHECK(pthread_create(&t[i], NULL, rw_worker, (void *)i));
    long torn = 0;
    for (int i = 0; i < 4; i++) {
        void *v;
        CHECK(pthread_join(t[i], &v));
        torn += (long)v;
    }
    printf("rwlock: table[0]=%ld torn=%ld\n", table[0], torn);
}

static pthread_barrier_t barrier;
static atomic_int phase_sum[5];

static void *barrier_worker(void *arg) {
    long id = (long)arg;
    int serial = 0;
    for (int phase = 0; phase < 5; phase++) {
        atomic_fetch_add(&phase_sum[phase], (int)id + phase);
        if (pthread_barrier_wait(&barrier) == PTHREAD_BARRIER_SERIAL_THREAD) serial++;
    }
    return (void *)(long)serial;
}

static void barriers(void) {
    pthread_t t[4];
    CHECK(pthread_barrier_init(&barrier, NULL, 4));
    for (long i = 0; i < 4; i++) CHECK(pthread_create(&t[i], NULL, barrier_worker, (void *)i));
    long serials = 0;
    for (int i = 0; i < 4; i++) {
        void *v;
        CHECK(pthread_join(t[i], &v));
        serials += (long)v;
    }
    printf("barrier: serial=%ld sums=%d,%d,%d,%d,%d\n", serials, phase_sum[0], phase_sum[1],
           phase_sum[2], phase_sum[3], phase_sum[4]);
    pthread_barrier_destroy(&barrier);
}

static __thread long tls_value = 7;
static pthread_key_t key;
static atomic_int destroyed;

static void destructor(void *v) {
    atomic_fetch_add(&destroyed, (int)(long)v);
}

static void *tls_worker(void *arg) {
    long id = (long)arg;
    tls_value += id;
    pthread_setspecific(key, (void *)(id + 1));
    return (void *)tls_value;
}

static void tls(void) {
    pthread_t t[6];
    CHECK(pthread_key_create(&key, destructor));
    for (long i = 0; i < 6; i++) CHECK(pthread_create(&t[i], NULL, tls_worker, (void *)i));
    long sum = 0;
    for (int i = 0; i < 6; i++) {
        void *v;
        CHECK(pthread_join(t[i], &v));
        sum += (long)v;
    }
    printf("tls: sum=%ld main=%ld destructors=%d\n", sum, tls_value, destroyed);
}

static atomic_int detached_done;

static void *detached_worker(void *arg) {
    (void)arg;
    atomic_fetch_add(&detached_done, 1);
    return NULL;
}

static void *exiting_worker(void *arg) {
    pthread_exit((void *)((long)arg * 3));
}

static void *short_worker(void *arg) {
    return (void *)((long)arg + 1);
}

static void lifetimes(void) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (int i = 0; i < 10; i++) {
        pthread_t t;
        CHECK(pthread_create(&t, &attr, detached_worker, NULL));
    }
    while (atomic_load(&detached_done) < 10) sched_yield();
    pthread_t e;
    void *v;
    CHECK(pthread_create(&e, NULL, exiting_worker, (void *)14));
    CHECK(pthread_join(e, &v));
    printf("lifetimes: detached=%d pthread_exit=%ld\n", atomic_load(&detached_done), (long)v);
    long sum = 0;
    for (long i = 0; i < 300; i++) {
        pthread_t t;
        CHECK(pthread_create(&t, NULL, short_worker, (void *)i));
        CHECK(pthread_join(t, &v));
        sum += (long)v;
    }
    for (int round = 0; round < 10; round++) {
        pthread_t t[12];
        for (long i = 0; i < 12; i++) CHECK(pthread_create(&t[i], NULL, short_worker, (void *)i));
        for (int i = 0; i < 12; i++) {
            CHECK(pthread_join(t[i], &v));
            sum += (long)v;
        }
    }
    printf("short-lived: 420 threads, sum=%ld\n", sum);
}

/* Many threads alive at once: each host thread of the runner gets its own
 * malloc arena, and glibc looks up the CPU count (in a file) once it has
 * more than eight. */
#define CROWD 40
static pthread_barrier_t crowd_barrier;

static void *crowd_member(void *arg) {
    pthread_barrier_wait(&crowd_barrier);
    return arg;
}

static void crowd(void) {
    pthread_t t[CROWD];
    CHECK(pthread_barrier_init(&crowd_barrier, NULL, CROWD + 1));
    for (long i = 0; i < CROWD; i++) CHECK(pthread_create(&t[i], NULL, crowd_member, (void *)i));
    pthread_barrier_wait(&crowd_barrier);
    long sum = 0;
    for (int i = 0; i < CROWD; i++) {
        void *v;
        CHECK(pthread_join(t[i], &v));
        sum += (long)v;
    }
    pthread_barrier_destroy(&crowd_barrier);
    printf("crowd: %d threads alive at once, sum=%ld\n", CROWD, sum);
}

static void *sleeper(void *arg) {
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return (void *)(long)syscall(SYS_gettid) != arg ? (void *)1 : (void *)0;
}

static void sleeps(void) {
    pthread_t t[4];
    for (int i = 0; i < 4; i++) CHECK(pthread_create(&t[i], NULL, sleeper, NULL));
    for (int i = 0; i < 4; i++) CHECK(pthread_join(t[i], NULL));
    printf("sleeps: 4 threads slept\n");
}

static void *own_tid(void *arg) {
    (void)arg;
    return (void *)(long)syscall(SYS_gettid);
}

static void tids(void) {
    pthread_t t[3];
    long tid[3];
    for (int i = 0; i < 3; i++) CHECK(pthread_create(&t[i], NULL, own_tid, NULL));
    for (int i = 0; i < 3; i++) {
        void *v;
        CHECK(pthread_join(t[i], &v));
        tid[i] = (long)v;
    }
    int distinct = tid[0] != tid[1] && tid[1] != tid[2] && tid[0] != tid[2];
    int not_pid = tid[0] != getpid() && tid[1] != getpid() && tid[2] != getpid();
    printf("tids: distinct=%d not_pid=%d main_is_pid=%d\n", distinct, not_pid,
           (long)syscall(SYS_gettid) == getpid());
}

/* Cancellation. Each canceled thread records, in order, the cleanup
 * handlers and key destructors that ran; threads are canceled one at a
 * time, so the record does not depend on scheduling. */
static char trail[256];
static pthread_mutex_t trail_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int started;
static pthread_key_t cancel_key;

static void note(const char *what) {
    pthread_mutex_lock(&trail_lock);
    if (strlen(trail) + strlen(what) + 2 < sizeof trail) {
        if (trail[0]) strcat(trail, " ");
        strcat(trail, what);
    }
    pthread_mutex_unlock(&trail_lock);
}

static void cleanup_note(void *what) { note(what); }
static void cancel_key_destructor(void *what) { note(what); }

static void wait_started(void) {
    while (!atomic_load(&started)) sched_yield();
    atomic_store(&started, 0);
}

static int cancel_pipe[2];

static void *cancel_in_read(void *arg) {
    (void)arg;
    char c;
    pthread_setspecific(cancel_key, "key-destructor");
    pthread_cleanup_push(cleanup_note, "outer");
    pthread_cleanup_push(cleanup_note, "inner");
    atomic_store(&started, 1);
    for (;;)
        if (read(cancel_pipe[0], &c, 1) == 1) note("read returned");
    pthread_cleanup_pop(0);
    pthread_cleanup_pop(0);
    return NULL;
}

static pthread_mutex_t cw_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cw_cond = PTHREAD_COND_INITIALIZER;
static int cw_waiting;

static void unlock_cw(void *arg) {
    (void)arg;
    note("unlock");
    pthread_mutex_unlock(&cw_lock);
}

static void *cancel_in_cond_wait(void *arg) {
    (void)arg;
    pthread_mutex_lock(&cw_lock);
    pthread_cleanup_push(unlock_cw, NULL);
    cw_waiting = 1;
    for (;;) pthread_cond_wait(&cw_cond, &cw_lock);
    pthread_cleanup_pop(1);
    return NULL;
}

static void *cancel_in_sleep(void *arg) {
    (void)arg;
    pthread_cleanup_push(cleanup_note, "slept");
    atomic_store(&started, 1);
    struct timespec ts = {30, 0};
    nanosleep(&ts, NULL);
    note("woke?");
    pthread_cleanup_pop(0);
    return NULL;
}

static atomic_int go_on;

static void *cancel_disabled(void *arg) {
    (void)arg;
    int old;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    pthread_cleanup_push(cleanup_note, "testcancel");
    atomic_store(&started, 1);
    while (!atomic_load(&go_on)) sched_yield();
    struct timespec ts = {0, 20 * 1000 * 1000};
    if (nanosleep(&ts, NULL) == 0) note("slept-while-disabled");
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
    note(old == PTHREAD_CANCEL_DISABLE ? "enabled" : "enabled?");
    pthread_testcancel();
    note("after-testcancel?");
    pthread_cleanup_pop(0);
    return NULL;
}

static void *cancel_async(void *arg) {
    (void)arg;
    volatile unsigned long spins = 0;
    pthread_setspecific(cancel_key, "async-key");
    pthread_cleanup_push(cleanup_note, "async");
    pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, NULL);
    atomic_store(&started, 1);
    for (;;) spins++; /* no syscall, no cancellation point */
    pthread_cleanup_pop(0);
    return NULL;
}

static void cancel_one(const char *what, void *(*fn)(void *)) {
    pthread_t t;
    void *v;
    trail[0] = 0;
    atomic_store(&go_on, 0);
    CHECK(pthread_create(&t, NULL, fn, NULL));
    if (fn == cancel_in_cond_wait) {
        for (;;) { /* cw_waiting is set under the lock pthread_cond_wait releases */
            pthread_mutex_lock(&cw_lock);
            int w = cw_waiting;
            pthread_mutex_unlock(&cw_lock);
            if (w) break;
            sched_yield();
        }
    } else {
        wait_started();
    }
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL); /* let it reach its blocking call */
    CHECK(pthread_cancel(t));
    if (fn == cancel_disabled) {
        /* The cancel's signal lands while the thread spins, before it
         * sleeps (natively it is there at once; under a runner whose exits
         * cost 100 us it may come later, and a signal arriving during the
         * sleep would end it early with EINTR). */
        struct timespec settle = {0, 50 * 1000 * 1000};
        nanosleep(&settle, NULL);
    }
    atomic_store(&go_on, 1);
    CHECK(pthread_join(t, &v));
    printf("cancel %s: %s, ran: %s\n", what, v == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "returned",
           trail);
}

static void cancellation(void) {
    CHECK(pthread_key_create(&cancel_key, cancel_key_destructor));
    if (pipe(cancel_pipe)) { puts("FAIL pipe"); exit(1); }
    cancel_one("in read", cancel_in_read);
    cancel_one("in pthread_cond_wait", cancel_in_cond_wait);
    int relocked = pthread_mutex_trylock(&cw_lock) == 0;
    if (relocked) pthread_mutex_unlock(&cw_lock);
    printf("cancel: the cleanup handler released the mutex %d\n", relocked);
    cancel_one("in nanosleep", cancel_in_sleep);
    cancel_one("while disabled", cancel_disabled);
    cancel_one("asynchronous", cancel_async);
    /* A thread that already ended: pthread_cancel still succeeds (not ESRCH). */
    pthread_t t;
    CHECK(pthread_create(&t, NULL, short_worker, (void *)1));
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    int r = pthread_cancel(t);
    void *v;
    CHECK(pthread_join(t, &v));
    printf("cancel after the end: %d, joined %ld\n", r, (long)v);
    close(cancel_pipe[0]);
    close(cancel_pipe[1]);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    mutexes();
    condvars();
    rwlocks();
    barriers();
    tls();
    lifetimes();
    crowd();
    sleeps();
    tids();
    cancellation();
    printf("done\n");
    return 0;
}

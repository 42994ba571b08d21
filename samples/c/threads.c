/* threads.c - a battery of POSIX threads uses whose output does not depend
 * on scheduling: mutexes, condition variables, rwlocks, barriers, TLS and
 * thread-specific data with destructors, join values, detached threads,
 * many short-lived threads, parallel sleeps, and futex-based joins. Built
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

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    mutexes();
    condvars();
    rwlocks();
    barriers();
    tls();
    lifetimes();
    sleeps();
    tids();
    printf("done\n");
    return 0;
}

/* sysv_ipc.c - System V message queues and semaphores: the same lines
 * natively and in the sandbox (where they are the sandbox's own objects).
 * Messages by type (0, N, -N, MSG_EXCEPT), E2BIG and MSG_NOERROR, a
 * receive that waits for a child's send, EIDRM for a receive waiting on a
 * removed queue, keys (IPC_CREAT, IPC_EXCL, ENOENT), IPC_STAT and IPC_SET,
 * a full queue's EAGAIN; semaphores: SETVAL/GETVAL/SETALL/GETALL/GETPID,
 * all-or-nothing semop, IPC_NOWAIT, semtimedop's timeout, a semop that
 * waits for a child, SEM_UNDO at a child's exit, ERANGE, EFBIG, EIDRM;
 * shared memory: two views and a fork's child on the same memory,
 * shm_nattch, shmdt, SHM_RDONLY (SIGSEGV on a write), a removed segment
 * that lives on while attached and goes with its last shmdt.
 * Every object it makes is removed before it exits.
 *   create KEY | probe KEY | remove KEY   one queue by key (a host's, natively)
 *   flood     queues until refused, then empty messages until the queue is full */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct msg {
    long type;
    char text[32];
};

union semun {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
};

static const char *err(int r) { return r < 0 ? strerror(errno) : "ok"; }

static void nap(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static void send(int q, long type, const char *text)
{
    struct msg m = {.type = type};
    strncpy(m.text, text, sizeof m.text - 1);
    if (msgsnd(q, &m, strlen(text), 0) < 0)
        printf("msgsnd %ld: %s\n", type, strerror(errno));
}

static void receive(int q, long type, int flags, const char *what)
{
    struct msg m = {0};
    ssize_t n = msgrcv(q, &m, sizeof m.text, type, flags);
    if (n < 0)
        printf("%s: %s\n", what, strerror(errno));
    else
        printf("%s: type %ld \"%.*s\"\n", what, m.type, (int)n, m.text);
}

static int child_status(pid_t pid)
{
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void queues(void)
{
    int q = msgget(IPC_PRIVATE, 0600);
    printf("msgget private: %s\n", err(q));
    send(q, 1, "one");
    send(q, 2, "two");
    send(q, 3, "three");
    receive(q, 2, 0, "type 2");
    receive(q, -3, 0, "lowest up to 3");
    receive(q, 0, 0, "first");
    receive(q, 0, IPC_NOWAIT, "empty, IPC_NOWAIT");
    send(q, 5, "five");
    send(q, 6, "six");
    receive(q, 5, MSG_EXCEPT, "not type 5");
    receive(q, 0, 0, "then");

    struct msg m = {.type = 9};
    memcpy(m.text, "0123456789", 10);
    msgsnd(q, &m, 10, 0);
    printf("receive 10 bytes into 4: %s\n", err(msgrcv(q, &m, 4, 0, 0)));
    memset(m.text, 0, sizeof m.text);
    ssize_t n = msgrcv(q, &m, 4, 0, MSG_NOERROR);
    printf("with MSG_NOERROR: %zd \"%s\"\n", n, m.text);

    m.type = 0;
    printf("type 0: %s\n", err(msgsnd(q, &m, 1, 0)));
    printf("9000 bytes: %s\n", err(msgsnd(q, &m, 9000, 0)));
    printf("no such queue: %s\n", err(msgsnd(123456, &m, 1, 0)));

    send(q, 7, "seven");
    struct msqid_ds ds;
    printf("IPC_STAT: %s\n", err(msgctl(q, IPC_STAT, &ds)));
    printf("  qnum %lu cbytes %lu qbytes %lu mode %o mine %s\n", (unsigned long)ds.msg_qnum,
           (unsigned long)ds.__msg_cbytes, (unsigned long)ds.msg_qbytes,
           ds.msg_perm.mode & 0777,
           ds.msg_lspid == getpid() && ds.msg_perm.uid == getuid() ? "yes" : "no");
    ds.msg_qbytes = 16;
    ds.msg_perm.mode = 0640;
    printf("IPC_SET qbytes 16: %s\n", err(msgctl(q, IPC_SET, &ds)));
    msgctl(q, IPC_STAT, &ds);
    printf("  qbytes %lu mode %o\n", (unsigned long)ds.msg_qbytes, ds.msg_perm.mode & 0777);
    m.type = 1;
    printf("12 more bytes, past 16, IPC_NOWAIT: %s\n", err(msgsnd(q, &m, 12, IPC_NOWAIT)));
    receive(q, 0, 0, "drained");

    /* A receive that waits for a child's send. */
    pid_t pid = fork();
    if (pid == 0) {
        nap(100);
        send(q, 4, "from the child");
        _exit(0);
    }
    receive(q, 4, 0, "waited for");
    child_status(pid);

    /* A receive waiting on a queue that is removed. */
    pid = fork();
    if (pid == 0) {
        struct msg r;
        int got = (int)msgrcv(q, &r, sizeof r.text, 0, 0);
        _exit(got < 0 && errno == EIDRM ? 42 : 1);
    }
    nap(100);
    printf("IPC_RMID: %s\n", err(msgctl(q, IPC_RMID, NULL)));
    printf("the waiting child got EIDRM: %s\n", child_status(pid) == 42 ? "yes" : "no");
    printf("after IPC_RMID: %s\n", err(msgsnd(q, &m, 1, 0)));

    /* Keys. */
    key_t key = 0x5e000000 | (getpid() & 0xffff);
    int k = msgget(key, IPC_CREAT | 0600);
    printf("msgget key, IPC_CREAT: %s\n", err(k));
    printf("again: same id: %s\n", msgget(key, 0) == k ? "yes" : "no");
    printf("IPC_CREAT|IPC_EXCL: %s\n", err(msgget(key, IPC_CREAT | IPC_EXCL | 0600)));
    msgctl(k, IPC_RMID, NULL);
    printf("after IPC_RMID: %s\n", err(msgget(key, 0)));
}

static int sem_get(int s, int n) { return semctl(s, n, GETVAL); }

static void semaphores(void)
{
    int s = semget(IPC_PRIVATE, 2, 0600), r;
    printf("semget private: %s\n", err(s));
    union semun u = {.val = 1};
    r = semctl(s, 0, SETVAL, u);
    printf("SETVAL 1: %s, GETVAL %d\n", err(r), sem_get(s, 0));
    struct sembuf down = {0, -1, 0};
    r = semop(s, &down, 1);
    printf("down: %s, now %d\n", err(r), sem_get(s, 0));
    struct sembuf down_nowait = {0, -1, IPC_NOWAIT};
    printf("down again, IPC_NOWAIT: %s\n", err(semop(s, &down_nowait, 1)));
    struct timespec t0, t1, wait = {0, 50000000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r = semtimedop(s, &down, 1, &wait);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    printf("semtimedop 50 ms: %s, waited: %s\n", err(r), ms >= 40 ? "yes" : "no");

    unsigned short set[2] = {3, 4}, got[2] = {0, 0};
    u.array = set;
    printf("SETALL 3 4: %s\n", err(semctl(s, 0, SETALL, u)));
    struct sembuf both[2] = {{0, -1, 0}, {1, -5, IPC_NOWAIT}};
    printf("-1 and -5 at once, IPC_NOWAIT: %s\n", err(semop(s, both, 2)));
    u.array = got;
    semctl(s, 0, GETALL, u);
    printf("GETALL: %d %d (none applied)\n", got[0], got[1]);
    u.val = 40000;
    printf("SETVAL 40000: %s\n", err(semctl(s, 0, SETVAL, u)));
    struct sembuf huge = {0, 32767, 0};
    printf("+32767: %s\n", err(semop(s, &huge, 1)));
    struct sembuf past = {5, 1, 0};
    printf("semaphore 5 of 2: %s\n", err(semop(s, &past, 1)));
    printf("GETPID is mine: %s\n", semctl(s, 0, GETPID) == getpid() ? "yes" : "no");
    struct sembuf zero = {1, 0, IPC_NOWAIT};
    printf("wait-for-zero on 4, IPC_NOWAIT: %s\n", err(semop(s, &zero, 1)));

    /* A semop that waits for a child's post. */
    u.val = 0;
    semctl(s, 0, SETVAL, u);
    pid_t pid = fork();
    if (pid == 0) {
        nap(100);
        struct sembuf up = {0, 1, 0};
        semop(s, &up, 1);
        _exit(0);
    }
    printf("down that waits for the child: %s\n", err(semop(s, &down, 1)));
    child_status(pid);

    /* SEM_UNDO: undone when the child ends. */
    u.val = 5;
    semctl(s, 1, SETVAL, u);
    pid = fork();
    if (pid == 0) {
        struct sembuf take = {1, -3, SEM_UNDO};
        semop(s, &take, 1);
        _exit(semctl(s, 1, GETVAL));
    }
    int saw = child_status(pid);
    printf("the child saw %d; after its exit: %d\n", saw, sem_get(s, 1));

    struct semid_ds ds;
    u.buf = &ds;
    r = semctl(s, 0, IPC_STAT, u);
    printf("IPC_STAT: %s, nsems %lu, mode %o\n", err(r), (unsigned long)ds.sem_nsems,
           ds.sem_perm.mode & 0777);

    /* A semop waiting on a set that is removed. */
    u.val = 0;
    semctl(s, 0, SETVAL, u);
    pid = fork();
    if (pid == 0) {
        int got = semop(s, &down, 1);
        _exit(got < 0 && errno == EIDRM ? 42 : 1);
    }
    nap(100);
    printf("IPC_RMID: %s\n", err(semctl(s, 0, IPC_RMID)));
    printf("the waiting child got EIDRM: %s\n", child_status(pid) == 42 ? "yes" : "no");
    printf("after IPC_RMID: %s\n", err(semop(s, &down, 1)));

    key_t key = 0x5f000000 | (getpid() & 0xffff);
    int k = semget(key, 2, IPC_CREAT | 0600);
    printf("semget key: %s\n", err(k));
    printf("with more semaphores: %s\n", err(semget(key, 3, 0)));
    semctl(k, 0, IPC_RMID);
}

static void on_segv(int sig)
{
    _exit(sig);
}

static unsigned long nattch(int id)
{
    struct shmid_ds ds;
    return shmctl(id, IPC_STAT, &ds) == 0 ? (unsigned long)ds.shm_nattch : 999;
}

static void shared_memory(void)
{
    int id = shmget(IPC_PRIVATE, 8192 + 100, 0600);
    printf("shmget private: %s\n", err(id));
    char *a = shmat(id, NULL, 0);
    printf("shmat: %s, attached %lu\n", a == (void *)-1 ? strerror(errno) : "ok", nattch(id));
    strcpy(a, "hello");
    strcpy(a + 8192, "past the first page");
    char *b = shmat(id, NULL, 0);
    printf("a second view: \"%s\" \"%s\", attached %lu\n", b, b + 8192, nattch(id));
    strcpy(b, "HELLO");
    printf("written through it, seen through the first: \"%s\"\n", a);
    pid_t pid = fork();
    if (pid == 0) {
        int n = (int)nattch(id);
        strcpy(a + 100, "from the child");
        _exit(n);
    }
    int saw = child_status(pid);
    printf("the child saw %d attached; it wrote \"%s\"; attached now %lu\n", saw, a + 100,
           nattch(id));
    int r = shmdt(b);
    printf("shmdt of the second view: %s, attached %lu\n", err(r), nattch(id));
    printf("shmdt again: %s\n", err(shmdt(b)));
    printf("shmat at an unaligned address: %s\n",
           shmat(id, a + 1, 0) == (void *)-1 ? strerror(errno) : "ok");
    pid = fork();
    if (pid == 0) {
        char *r = shmat(id, NULL, SHM_RDONLY);
        printf("read-only view: \"%s\"\n", r);
        printf("mprotect it writable: %s\n",
               err(mprotect(r, 4096, PROT_READ | PROT_WRITE)));
        signal(SIGSEGV, on_segv);
        r[0] = 'x';
        _exit(0);
    }
    printf("writing a read-only view: %s\n", child_status(pid) == 11 ? "SIGSEGV" : "no fault");

    key_t key = 0x5c000000 | (getpid() & 0xffff);
    int k = shmget(key, 4096, IPC_CREAT | 0600);
    printf("shmget key: %s\n", err(k));
    printf("bigger than it is: %s\n", err(shmget(key, 8192, 0)));
    printf("IPC_CREAT|IPC_EXCL: %s\n", err(shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600)));
    char *c = shmat(k, NULL, 0);
    strcpy(c, "kept");
    printf("IPC_RMID while attached: %s\n", err(shmctl(k, IPC_RMID, NULL)));
    printf("the key after: %s\n", err(shmget(key, 4096, 0)));
    struct shmid_ds ds;
    shmctl(k, IPC_STAT, &ds);
    printf("still there: \"%s\", mode %o, attached %lu, size %lu\n", c, ds.shm_perm.mode & 07777,
           (unsigned long)ds.shm_nattch, (unsigned long)ds.shm_segsz);
    shmdt(c);
    printf("after the last shmdt: %s\n", err(shmctl(k, IPC_STAT, &ds)));
    shmdt(a);
    shmctl(id, IPC_RMID, NULL);
}

/* The modes a test runs one at a time (no argument: all of the above). */
static int mode(const char *m, const char *arg)
{
    key_t key = arg ? (key_t)strtol(arg, NULL, 0) : 0;
    if (strcmp(m, "create") == 0) {
        printf("create: %s\n", err(msgget(key, IPC_CREAT | IPC_EXCL | 0666)));
    } else if (strcmp(m, "probe") == 0) {
        int q = msgget(key, 0);
        printf("msgget: %s\n", err(q));
        printf("semget: %s\n", err(semget(key, 0, 0)));
        printf("shmget: %s\n", err(shmget(key, 0, 0)));
    } else if (strcmp(m, "remove") == 0) {
        printf("remove: %s\n", err(msgctl(msgget(key, 0), IPC_RMID, NULL)));
    } else if (strcmp(m, "flood") == 0) {
        /* Queues until refused, then empty messages into one until full. */
        int ids[64], n = 0;
        while (n < 64 && (ids[n] = msgget(IPC_PRIVATE, 0600)) >= 0)
            n++;
        printf("queues: %d, then: %s\n", n, n < 64 ? strerror(errno) : "none refused");
        struct msg m = {.type = 1};
        long sent = 0;
        while (msgsnd(ids[0], &m, 0, IPC_NOWAIT) == 0)
            sent++;
        printf("empty messages in one queue: %ld, then: %s\n", sent, strerror(errno));
        for (int i = 0; i < n; i++)
            msgctl(ids[i], IPC_RMID, NULL);
    } else {
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1)
        return mode(argv[1], argc > 2 ? argv[2] : NULL);
    queues();
    semaphores();
    shared_memory();
    printf("done\n");
    return 0;
}

/* thinvisor-exec: a small, fast-starting front end of `runner exec`.
 *
 *   thinvisor-exec [EXEC OPTIONS] PROGRAM [ARGS...]
 *
 * takes exactly `runner exec`'s command line and means the same. The
 * common served run, `--server SOCKET` with any of --policy, --stats,
 * --timeout, --syscalls, --cwd and --guest-path, it hands to the
 * `runner serve` worker itself, as `runner exec --server` does (same
 * request, serve/protocol.rs; same statuses and messages). Everything else
 * (another option, a run without --server, any error found before the
 * server is reached: a missing program, an unreadable policy, a server
 * that does not answer) it gives to `runner exec` by executing the runner
 * with the same arguments, so that the runner decides and words it. It
 * never gives a run to the runner once it has sent anything to a worker.
 *
 * Why it exists: a served run's start is mostly the client's own process
 * start. The runner is a large Rust program linked with glibc; this is one
 * small static file (built with musl-gcc where there is one). On kvm_pvm
 * machines, where every CPUID traps to the outer hypervisor, glibc's
 * start-up alone costs about 1 ms (docs/benchmarks.md, "Served start").
 *
 * The runner it executes: $THINVISOR_RUNNER, else `runner` beside this
 * program (where `runner install-client` puts it by default). Not
 * `runner` on PATH: an unrelated program of that name would be given the
 * run.
 *
 * It trusts nothing it receives but the worker's 4-byte status, and the
 * worker trusts nothing it sends: the request is checked there as any
 * client's. The runner's tests compare its requests with the runner's own,
 * field by field (runner/tests/serve_client.rs).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

extern char **environ;

#define RUNNER_FAILED 125
/* serve/protocol.rs: MAX_REQUEST and MAX_FDS. */
#define MAX_REQUEST (16u << 20)
#define MAX_FDS 6

static char **given_argv; /* our arguments after argv[0] */
static int given_argc;

/* The --stats file this client created, if it did (-1: none). */
static int stats_made_fd = -1;
static const char *stats_made_path;

/* ---- handing the run to `runner exec` ---- */

static void forget_unwritten_stats(void);

/* Executes `runner exec ARGS...` with our arguments; fails when no runner
 * can be executed. Never called once anything was sent to a worker. */
static void defer(void) __attribute__((noreturn));
static void defer(void)
{
    forget_unwritten_stats();
    char **argv = calloc((size_t)given_argc + 3, sizeof *argv);
    if (!argv) {
        fputs("thinvisor-exec: out of memory\n", stderr);
        exit(RUNNER_FAILED);
    }
    argv[0] = "runner";
    argv[1] = "exec";
    for (int i = 0; i < given_argc; i++)
        argv[i + 2] = given_argv[i];
    argv[given_argc + 2] = NULL;
    const char *chosen = getenv("THINVISOR_RUNNER");
    if (chosen && *chosen) {
        execv(chosen, argv);
        fprintf(stderr, "thinvisor-exec: cannot run the runner %s (THINVISOR_RUNNER): %s\n",
                chosen, strerror(errno));
        exit(RUNNER_FAILED);
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 8);
    char *slash = n > 0 ? memrchr(self, '/', (size_t)n) : NULL;
    if (!slash) {
        fprintf(stderr, "thinvisor-exec: cannot find its own path to run the runner beside it "
                        "(set THINVISOR_RUNNER)\n");
        exit(RUNNER_FAILED);
    }
    strcpy(slash + 1, "runner");
    execv(self, argv);
    fprintf(stderr, "thinvisor-exec: cannot run the runner %s (beside it; or set THINVISOR_RUNNER): %s\n",
            self, strerror(errno));
    exit(RUNNER_FAILED);
}

/* ---- failing once the worker has the run ---- */

/* A stats file this client made and no run wrote (the run was refused or
 * failed before its lock-down stage) goes, as a cold run never makes one
 * then. The worker writes its stats before its status. */
static void forget_unwritten_stats(void)
{
    struct stat st;
    if (stats_made_fd >= 0 && fstat(stats_made_fd, &st) == 0 && st.st_size == 0)
        unlink(stats_made_path);
    stats_made_fd = -1;
}

/* strerror as the runner words it: Rust's io::Error prints glibc's texts,
 * and musl's differ for some of the errors a socket can give. */
static const char *os_error(int err)
{
    switch (err) {
    case EMSGSIZE: return "Message too long";
    case ENOMEM: return "Cannot allocate memory";
    case ENOTCONN: return "Transport endpoint is not connected";
    case ENOTSOCK: return "Socket operation on non-socket";
    case EOPNOTSUPP: return "Operation not supported";
    case ETOOMANYREFS: return "Too many references: cannot splice";
    case EIO: return "Input/output error";
    case ECONNRESET: return "Connection reset by peer";
    case EPIPE: return "Broken pipe";
    case ENOBUFS: return "No buffer space available";
    case EAGAIN: return "Resource temporarily unavailable";
    case ETIMEDOUT: return "Connection timed out";
    default: return strerror(err);
    }
}

static void fail(const char *what, int err) __attribute__((noreturn));
static void fail(const char *what, int err)
{
    /* The runner's words: Rust's io::Error shows "<text> (os error N)". */
    if (err)
        fprintf(stderr, "runner: %s: %s (os error %d)\n", what, os_error(err), err);
    else
        fprintf(stderr, "runner: %s\n", what);
    forget_unwritten_stats();
    exit(RUNNER_FAILED);
}

/* ---- the request's JSON ---- */

struct buf {
    char *p;
    size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            defer();
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

static void putf(struct buf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        defer();
    put(b, tmp, (size_t)n);
}

/* Whether s[0..n) is UTF-8 (as Rust's str requires: no surrogates, no
 * overlong forms, nothing past U+10FFFF). */
static int utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t more;
        unsigned min, cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            more = 1, min = 0x80, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            more = 2, min = 0x800, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            more = 3, min = 0x10000, cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= more)
            return 0;
        for (size_t k = 1; k <= more; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += more + 1;
    }
    return 1;
}

/* A JSON string, or null; defers for text that is not UTF-8 (the runner
 * then refuses it in its own words). */
static void put_string(struct buf *b, const char *s, size_t n)
{
    if (!s) {
        puts_(b, "null");
        return;
    }
    if (!utf8((const unsigned char *)s, n))
        defer();
    puts_(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(b, e, 2);
        } else if (c < 0x20) {
            putf(b, "\\u%04x", c);
        } else {
            put(b, (const char *)&c, 1);
        }
    }
    puts_(b, "\"");
}

static void put_cstring(struct buf *b, const char *s) { put_string(b, s, s ? strlen(s) : 0); }

/* Bytes as a JSON array of numbers (serde's Vec<u8>). */
static void put_bytes(struct buf *b, const char *s, size_t n)
{
    puts_(b, "[");
    for (size_t i = 0; i < n; i++)
        putf(b, i ? ",%u" : "%u", (unsigned)(unsigned char)s[i]);
    puts_(b, "]");
}

/* ---- the command line, as clap reads `runner exec`'s ---- */

struct options {
    const char *server, *policy, *stats, *timeout_text, *syscalls, *cwd;
    double timeout;
    int guest_path;
    const char *program;
    char **args;
    int nargs;
};

/* "--name VALUE" or "--name=VALUE" at argv[*i]: the value, or NULL when
 * argv[*i] is not this option. Defers when the option repeats or lacks
 * its value. */
static const char *value_of(const char *name, const char **slot, int *i)
{
    const char *a = given_argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return NULL;
    const char *v;
    if (a[n] == '=') {
        v = a + n + 1;
    } else if (a[n] == 0) {
        /* A next word that looks like an option is not taken as the
         * value: the runner decides what it is. */
        if (*i + 1 >= given_argc || given_argv[*i + 1][0] == '-')
            defer();
        v = given_argv[++*i];
    } else {
        return NULL;
    }
    if (*slot)
        defer();
    *slot = v;
    return v;
}

/* Rust's f64 parse of a plain decimal (digits, a point, an exponent, an
 * optional sign): the value, or defers for any other spelling (the runner
 * judges those). The runner accepts a finite number above 0. */
static double seconds(const char *s)
{
    const char *p = s;
    if (*p == '+')
        p++;
    int digits = 0;
    while (*p >= '0' && *p <= '9')
        p++, digits++;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++, digits++;
    }
    if (!digits)
        defer();
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            defer();
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p)
        defer();
    char *end;
    double t = strtod(s, &end);
    if (*end || !(t > 0.0 && t <= DBL_MAX))
        defer();
    return t;
}

/* Every long option of `runner exec` (clap's, tests/serve_client.rs
 * checks the list against it), and --help. */
static const char *const runner_options[] = {
    "server", "policy", "timeout", "stats", "format", "monitor", "huge-pages", "syscalls",
    "monitor-test-skip-marker", "guest-path", "forward-signals", "as-init", "trace",
    "trace-format", "verdict", "learn-record", "cwd", "help",
};

/* Whether clap reads word `a`, met after PROGRAM and before any argument,
 * as one of the runner's options (and not as the program's first
 * argument, as it reads `-la` or `--foo`): a runner option's name, or -h
 * (here any word starting "-h", to be sure). */
static int runner_option(const char *a)
{
    if (a[0] != '-')
        return 0;
    if (a[1] == 'h')
        return 1;
    if (a[1] != '-' || !a[2])
        return 0;
    size_t n = strcspn(a + 2, "=");
    for (size_t k = 0; k < sizeof runner_options / sizeof *runner_options; k++)
        if (strlen(runner_options[k]) == n && strncmp(a + 2, runner_options[k], n) == 0)
            return 1;
    return 0;
}

static void parse(struct options *o)
{
    int i = 0;
    int only_positionals = 0;
    for (; i < given_argc; i++) {
        const char *a = given_argv[i];
        if (only_positionals || a[0] != '-') {
            if (a[0] == '-' && !only_positionals)
                defer();
            o->program = a;
            i++;
            break;
        }
        if (strcmp(a, "--") == 0) {
            only_positionals = 1;
            continue;
        }
        if (value_of("--server", &o->server, &i) || value_of("--policy", &o->policy, &i) ||
            value_of("--stats", &o->stats, &i) || value_of("--timeout", &o->timeout_text, &i) ||
            value_of("--syscalls", &o->syscalls, &i) || value_of("--cwd", &o->cwd, &i))
            continue;
        if (strcmp(a, "--guest-path") == 0 && !o->guest_path) {
            o->guest_path = 1;
            continue;
        }
        defer(); /* any other option, -h and -V included */
    }
    if (!o->program || !*o->program)
        defer();
    /* After PROGRAM, clap still reads the runner's options until the
     * first argument (the runner then decides); "--" there ends them and
     * is not an argument; any other word is the first argument. */
    if (!only_positionals && i < given_argc) {
        if (runner_option(given_argv[i]))
            defer();
        if (strcmp(given_argv[i], "--") == 0)
            i++;
    }
    o->args = given_argv + i;
    o->nargs = given_argc - i;
    const char *values[] = {o->server, o->policy, o->stats, o->timeout_text, o->syscalls, o->cwd};
    for (size_t k = 0; k < sizeof values / sizeof *values; k++)
        if (values[k] && !*values[k])
            defer(); /* an empty value: the runner's message */
    if (!o->server)
        defer(); /* a cold run is the runner's */
    if (!o->syscalls) {
        /* clap's `env = "THINVISOR_SYSCALLS"`. */
        const char *e = getenv("THINVISOR_SYSCALLS");
        if (e)
            o->syscalls = e;
    }
    if (o->syscalls && strcmp(o->syscalls, "exit") && strcmp(o->syscalls, "ring") &&
        strcmp(o->syscalls, "auto"))
        defer();
    if (o->timeout_text)
        o->timeout = seconds(o->timeout_text);
}

/* ---- what the client opens ---- */

/* Descriptors 0-2 open, as Rust's runtime leaves them for the runner: a
 * closed one becomes /dev/null (and no file opened below lands there). */
static void standard_streams(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) == -1 && errno == EBADF) {
            int n = open("/dev/null", O_RDWR);
            if (n != fd)
                defer();
        }
    }
}

/* The whole of a policy file, which must be UTF-8 (else the runner
 * words the refusal). */
static char *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        defer();
    struct buf b = {0};
    char chunk[8192];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            defer();
        if (n == 0)
            break;
        put(&b, chunk, (size_t)n);
        if (b.len > MAX_REQUEST)
            defer();
    }
    close(fd);
    put(&b, "", 1);
    *len = b.len - 1;
    if (!utf8((const unsigned char *)b.p, *len))
        defer();
    return b.p;
}

/* std::path::absolute: the working directory joined with the path, "."
 * components and repeated slashes dropped, ".." kept. */
static char *absolute(const char *path)
{
    struct buf b = {0};
    if (path[0] == '/') {
        puts_(&b, path[1] == '/' && path[2] != '/' ? "//" : "/");
    } else {
        char *cwd = getcwd(NULL, 0);
        if (!cwd)
            defer();
        puts_(&b, cwd);
        free(cwd);
    }
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        const char *end = strchrnul(p, '/');
        size_t n = (size_t)(end - p);
        if (n && !(n == 1 && p[0] == '.')) {
            if (b.p[b.len - 1] != '/')
                puts_(&b, "/");
            put(&b, p, n);
        }
        p = end;
    }
    if (path[strlen(path) - 1] == '/')
        defer(); /* a directory's spelling; the runner refuses it */
    put(&b, "", 1);
    return b.p;
}

/* loader::open_host: a regular file (looked at before it is opened: a
 * FIFO would wait for a writer), opened to read. */
static int open_program(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        defer();
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        defer();
    return fd;
}

/* serve/client.rs's open_stats: opened to write and not emptied (the
 * worker empties it where a cold run creates it); *made when this call
 * created it. */
static int open_stats(const char *path, int *made)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
        *made = 1;
        return fd;
    }
    if (errno != EEXIST)
        defer();
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        defer();
    *made = 0;
    return fd;
}

static int connect_to(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        defer();
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        defer();
    while (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (errno != EINTR)
            defer();
    }
    return fd;
}

/* ---- the request ---- */

static void request_json(struct buf *b, const struct options *o, const char *policy_text,
                         size_t policy_len, const char *program_abs, int stats_attached)
{
    puts_(b, "{\"exec\":{\"policy\":");
    put_cstring(b, o->policy);
    puts_(b, ",\"timeout\":");
    if (o->timeout_text) {
        /* The shortest digits that read back as the same number, as
         * serde_json writes a float (so both clients' texts parse alike). */
        char t[40];
        for (int digits = 1; digits <= 17; digits++) {
            snprintf(t, sizeof t, "%.*g", digits, o->timeout);
            if (strtod(t, NULL) == o->timeout)
                break;
        }
        puts_(b, t);
    } else {
        puts_(b, "null");
    }
    puts_(b, ",\"stats\":");
    put_cstring(b, o->stats);
    puts_(b, ",\"format\":\"Auto\",\"monitor\":\"Auto\",\"huge_pages\":\"On\",\"syscalls\":");
    if (!o->syscalls)
        puts_(b, "null");
    else if (strcmp(o->syscalls, "exit") == 0)
        puts_(b, "\"Exit\"");
    else if (strcmp(o->syscalls, "ring") == 0)
        puts_(b, "\"Ring\"");
    else
        puts_(b, "\"Auto\"");
    puts_(b, ",\"monitor_test_skip_marker\":false,\"guest_path\":");
    puts_(b, o->guest_path ? "true" : "false");
    puts_(b, ",\"forward_signals\":false,\"as_init\":false,\"trace\":null,"
             "\"trace_format\":\"Text\",\"verdict\":null,\"learn_record\":null,\"cwd\":");
    put_cstring(b, o->cwd);
    puts_(b, ",\"program\":");
    put_cstring(b, o->program);
    puts_(b, ",\"args\":[");
    for (int i = 0; i < o->nargs; i++) {
        if (i)
            puts_(b, ",");
        put_cstring(b, o->args[i]);
    }
    /* The environment as std::env::vars_os reads it: "NAME=VALUE"
     * entries in their order, the name's "=" searched from its second
     * byte, entries without one skipped. As text ("env") when every name
     * and value is UTF-8, else all of it as bytes ("env_bytes"), as
     * protocol::split_env does. */
    int all_text = 1;
    for (int pass = 0; pass <= 1; pass++) {
        if (pass == 1)
            puts_(b, all_text ? "]},\"env\":[" : "]},\"env\":[],\"env_bytes\":[");
        int first = 1;
        for (char **e = environ; *e; e++) {
            const char *s = *e;
            if (!*s)
                continue;
            const char *eq = strchr(s + 1, '=');
            if (!eq)
                continue;
            size_t name = (size_t)(eq - s), value = strlen(eq + 1);
            if (pass == 0) {
                all_text = all_text && utf8((const unsigned char *)s, name) &&
                           utf8((const unsigned char *)eq + 1, value);
                continue;
            }
            puts_(b, first ? "[" : ",[");
            first = 0;
            void (*put_part)(struct buf *, const char *, size_t) = all_text ? put_string : put_bytes;
            put_part(b, s, name);
            puts_(b, ",");
            put_part(b, eq + 1, value);
            puts_(b, "]");
        }
    }
    if (all_text)
        puts_(b, "],\"env_bytes\":[");
    puts_(b, "],\"policy_text\":");
    put_string(b, policy_text, policy_len);
    puts_(b, ",\"program_abs\":");
    put_cstring(b, program_abs);
    puts_(b, ",\"stats_attached\":");
    puts_(b, stats_attached ? "true" : "false");
    puts_(b, "}");
}

/* One sendmsg with the descriptors (they travel with the first byte),
 * then the rest as plain data. */
static void send_request(int conn, const struct buf *json, const int *fds, int nfds)
{
    uint32_t n = (uint32_t)json->len;
    unsigned char len[4] = {n & 0xff, n >> 8 & 0xff, n >> 16 & 0xff, n >> 24};
    union {
        char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct iovec iov[2] = {{len, 4}, {json->p, json->len}};
    struct msghdr msg = {
        .msg_iov = iov,
        .msg_iovlen = 2,
        .msg_control = control.buf,
        .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds),
    };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    ssize_t sent;
    while ((sent = sendmsg(conn, &msg, MSG_NOSIGNAL)) < 0) {
        if (errno != EINTR)
            fail("cannot send the run to the server", errno);
    }
    size_t total = 4 + json->len, done = (size_t)sent;
    while (done < total) {
        const char *from = done < 4 ? (const char *)len + done : json->p + (done - 4);
        size_t room = done < 4 ? 4 - done : total - done;
        ssize_t w = send(conn, from, room, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fail("cannot send the run to the server", w < 0 ? errno : EPIPE);
        done += (size_t)w;
    }
}

/* The worker's status, a little-endian i32 once the run is over. */
static int receive_status(int conn)
{
    unsigned char s[4];
    size_t got = 0;
    while (got < 4) {
        ssize_t r = read(conn, s + got, 4 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            fail("lost the server's worker", errno);
        if (r == 0)
            fail("the server's worker ended without a status", 0);
        got += (size_t)r;
    }
    return (int)((uint32_t)s[0] | (uint32_t)s[1] << 8 | (uint32_t)s[2] << 16 | (uint32_t)s[3] << 24);
}

int main(int argc, char **argv)
{
    given_argv = argv + 1;
    given_argc = argc > 0 ? argc - 1 : 0;
    /* As the Rust runtime does for the runner: a closed stderr is an
     * error to write, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    standard_streams();
    struct options o = {0};
    parse(&o);
    /* The policy, then the program, as `runner exec` looks at them. */
    size_t policy_len = 0;
    char *policy_text = o.policy ? read_file(o.policy, &policy_len) : NULL;
    int program = -1;
    char *program_abs = NULL;
    if (!o.guest_path) {
        program = open_program(o.program);
        program_abs = absolute(o.program);
    }
    /* The whole request, every text checked, before the server is asked
     * anything: a hand-off from here on leaves nothing behind. */
    struct buf json = {0};
    request_json(&json, &o, policy_text, policy_len, program_abs, o.stats != NULL);
    if (json.len > MAX_REQUEST)
        defer();
    int conn = connect_to(o.server);
    int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cwd < 0)
        defer();
    int made = 0, stats = o.stats ? open_stats(o.stats, &made) : -1;
    if (made) {
        stats_made_fd = stats;
        stats_made_path = o.stats;
    }
    int fds[MAX_FDS] = {0, 1, 2, cwd}, nfds = 4;
    if (program >= 0)
        fds[nfds++] = program;
    if (stats >= 0)
        fds[nfds++] = stats;
    send_request(conn, &json, fds, nfds);
    close(cwd);
    if (program >= 0)
        close(program);
    int status = receive_status(conn);
    forget_unwritten_stats();
    return status;
}

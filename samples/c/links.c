/* links DIR [hostile RO OTHER]: hard links (link, linkat) in DIR (a
 * writable tree holding `sl`, a symlink to `a` the test made), printing
 * what each call returns, so that a run under the runner can be compared
 * with a native one. `hostile RO OTHER`: links the sandbox refuses: from
 * RO (a read-only tree) into DIR (EPERM: the file could be changed
 * through the new name), from DIR into OTHER (another tree: EXDEV), of a
 * file outside every tree, AT_EMPTY_PATH (needs CAP_DAC_READ_SEARCH), and
 * a link to the symlink `sl` itself (it would be a symlink the guest could
 * move), and links through the test's symlinks `out` (to /etc/passwd) and
 * `up` (into RO).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char bufs[8][4096];
static int next;

static const char *at(const char *dir, const char *name)
{
    char *b = bufs[next++ % 8];
    snprintf(b, 4096, "%s/%s", dir, name);
    return b;
}

static long r_(long r)
{
    return r < 0 ? -errno : r;
}

static const char *kind(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return "missing";
    return S_ISLNK(st.st_mode) ? "symlink" : S_ISREG(st.st_mode) ? "file" : "other";
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2)
        return 2;
    const char *d = argv[1];
    if (argc == 5) {
        const char *ro = argv[3], *other = argv[4];
        printf("from a read-only tree: %ld\n", r_(link(at(ro, "f"), at(d, "stolen"))));
        printf("into another tree: %ld\n", r_(link(at(d, "b"), at(other, "moved"))));
        printf("a file outside every tree: %ld\n", r_(link("/etc/passwd", at(d, "passwd"))));
        int fd = open(at(d, "b"), O_RDONLY);
        printf("AT_EMPTY_PATH: %ld\n", r_(linkat(fd, "", AT_FDCWD, at(d, "e"), AT_EMPTY_PATH)));
        printf("a symlink itself: %ld\n", r_(linkat(AT_FDCWD, at(d, "sl"), AT_FDCWD, at(d, "c2"), 0)));
        printf("through a link to /etc/passwd: %ld\n",
               r_(linkat(AT_FDCWD, at(d, "out"), AT_FDCWD, at(d, "c3"), AT_SYMLINK_FOLLOW)));
        printf("through a link into the read-only tree: %ld\n",
               r_(linkat(AT_FDCWD, at(d, "up"), AT_FDCWD, at(d, "c4"), AT_SYMLINK_FOLLOW)));
        return 0;
    }
    int fd = open(at(d, "a"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (write(fd, "first", 5) != 5)
        return 1;
    printf("link a b: %ld\n", r_(link(at(d, "a"), at(d, "b"))));
    struct stat st;
    stat(at(d, "a"), &st);
    printf("links to a: %ld\n", (long)st.st_nlink);
    int fb = open(at(d, "b"), O_WRONLY | O_APPEND);
    if (write(fb, " second", 7) != 7)
        return 1;
    char got[32] = {0};
    pread(fd, got, sizeof got - 1, 0);
    printf("a after a write through b: %s\n", got);
    printf("again: %ld\n", r_(link(at(d, "a"), at(d, "b"))));
    printf("a missing file: %ld\n", r_(link(at(d, "none"), at(d, "c"))));
    mkdir(at(d, "sub"), 0755);
    printf("a directory: %ld\n", r_(link(at(d, "sub"), at(d, "subl"))));
    printf("into a missing directory: %ld\n", r_(link(at(d, "a"), at(d, "no/c"))));
    printf("into a subdirectory: %ld\n", r_(link(at(d, "a"), at(d, "sub/c"))));
    long r = r_(linkat(AT_FDCWD, at(d, "sl"), AT_FDCWD, at(d, "c"), AT_SYMLINK_FOLLOW));
    printf("linkat following sl: %ld, c is a %s\n", r, kind(at(d, "c")));
    int dir = open(d, O_RDONLY | O_DIRECTORY);
    printf("linkat relative to the directory: %ld\n", r_(linkat(dir, "a", dir, "rel", 0)));
    printf("bad flags: %ld\n", r_(linkat(AT_FDCWD, at(d, "a"), AT_FDCWD, at(d, "x"), 0x2)));
    unlink(at(d, "a"));
    stat(at(d, "b"), &st);
    printf("b after a is gone: %ld links, %ld bytes\n", (long)st.st_nlink, (long)st.st_size);
    return 0;
}

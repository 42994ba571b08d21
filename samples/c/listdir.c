/* listdir [DIR]: lists a directory (default "."), sorted, one name per
 * line, "/" after directories; "." and ".." are left out. Needs host files
 * granted by the policy. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : ".";
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "listdir: %s: %s\n", path, strerror(errno));
        return 1;
    }
    size_t n = 0, cap = 16;
    char **names = malloc(cap * sizeof *names);
    if (!names)
        return 1;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (n == cap) {
            cap *= 2;
            names = realloc(names, cap * sizeof *names);
            if (!names)
                return 1;
        }
        size_t len = strlen(e->d_name);
        names[n] = malloc(len + 2);
        if (!names[n])
            return 1;
        memcpy(names[n], e->d_name, len);
        names[n][len] = e->d_type == DT_DIR ? '/' : '\0';
        names[n][len + 1] = '\0';
        n++;
    }
    if (errno) {
        fprintf(stderr, "listdir: %s: %s\n", path, strerror(errno));
        return 1;
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++)
        printf("%s\n", names[i]);
    return 0;
}

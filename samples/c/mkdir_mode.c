/* mkdir_mode.c - mkdir(argv[1], argv[2] in octal); prints the result and
 * the new directory's mode bits as stat reports them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    int r = mkdir(argv[1], (mode_t)strtol(argv[2], NULL, 8));
    struct stat st;
    if (r != 0 || stat(argv[1], &st) != 0) {
        printf("mkdir: errno %d\n", errno);
        return 1;
    }
    printf("mode %04o\n", (unsigned)(st.st_mode & 07777));
    return 0;
}

/* showenv [NAME...]: without arguments prints the whole environment, one
 * variable per line, in order; with names prints NAME=value or
 * "NAME is not set" for each. */
#include <stdio.h>
#include <stdlib.h>

extern char **environ;

int main(int argc, char **argv)
{
    if (argc == 1) {
        int n = 0;
        for (char **e = environ; *e; e++, n++)
            printf("%s\n", *e);
        printf("(%d variables)\n", n);
        return 0;
    }
    int missing = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = getenv(argv[i]);
        if (v)
            printf("%s=%s\n", argv[i], v);
        else {
            printf("%s is not set\n", argv[i]);
            missing = 1;
        }
    }
    return missing;
}

/* hello: printf and malloc from a static musl program.
 * Prints a greeting with its arguments, then exercises the allocator with
 * small blocks (brk heap), a large block (mmap) and a growing realloc
 * (mremap), checking every byte. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check(unsigned char *p, size_t n, unsigned char seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed + i * 7))
            return 0;
    return 1;
}

static void fill(unsigned char *p, size_t n, unsigned char seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed + i * 7);
}

int main(int argc, char **argv)
{
    printf("Hello from a static ELF, argc=%d\n", argc);
    for (int i = 1; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);

    char *small[64];
    for (int i = 0; i < 64; i++) {
        small[i] = malloc(16 + i * 24);
        if (!small[i]) { fprintf(stderr, "hello: malloc failed\n"); return 1; }
        fill((unsigned char *)small[i], 16 + i * 24, (unsigned char)i);
    }
    for (int i = 0; i < 64; i++) {
        if (!check((unsigned char *)small[i], 16 + i * 24, (unsigned char)i)) {
            fprintf(stderr, "hello: small block %d corrupted\n", i);
            return 1;
        }
        free(small[i]);
    }

    size_t big = 8u << 20;
    unsigned char *b = malloc(big);
    if (!b) { fprintf(stderr, "hello: big malloc failed\n"); return 1; }
    fill(b, big, 3);
    size_t n = big;
    for (int step = 0; step < 4; step++) {
        size_t m = n * 2;
        unsigned char *nb = realloc(b, m);
        if (!nb) { fprintf(stderr, "hello: realloc failed\n"); return 1; }
        b = nb;
        if (!check(b, n, 3)) { fprintf(stderr, "hello: realloc lost data\n"); return 1; }
        fill(b, m, 3);
        n = m;
    }
    b = realloc(b, 4096);
    if (!b || !check(b, 4096, 3)) { fprintf(stderr, "hello: shrink lost data\n"); return 1; }
    free(b);
    printf("malloc: ok\n");
    return 0;
}

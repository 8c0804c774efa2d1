/* regress_main.c: replays fuzz inputs without libFuzzer.
 *
 * Usage: fuzz_regress_<target> PATH...   each PATH a file or a folder whose
 * files (not recursive, sorted by name) are each run once through
 * LLVMFuzzerTestOneInput. A crash or sanitizer report fails the test; a
 * missing folder is skipped (a target may have no saved crashes yet).
 * Linked with one fuzz_<target>.c, built by the normal (gcc, ASan) builds.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs one file; 0, or -1 if it cannot be read. */
static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "regress: cannot open %s\n", path); return -1; }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) { cap *= 2; uint8_t *g = realloc(buf, cap); if (!g) { free(buf); buf = NULL; } else buf = g; }
    }
    fclose(f);
    if (!buf) { fprintf(stderr, "regress: out of memory reading %s\n", path); return -1; }
    /* an exact-size copy, so ASan sees reads past the input's end */
    uint8_t *exact = malloc(n ? n : 1);
    if (!exact) { free(buf); return -1; }
    memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    int runs = 0, errors = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) { printf("regress: %s absent, skipped\n", argv[i]); continue; }
        if (!S_ISDIR(st.st_mode)) { errors += run_file(argv[i]) != 0; runs++; continue; }
        DIR *d = opendir(argv[i]);
        if (!d) { fprintf(stderr, "regress: cannot list %s\n", argv[i]); errors++; continue; }
        char **names = NULL;
        size_t n = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            char **g = realloc(names, (n + 1) * sizeof *names);
            if (!g) abort();
            names = g;
            names[n] = malloc(strlen(argv[i]) + strlen(e->d_name) + 2);
            if (!names[n]) abort();
            sprintf(names[n], "%s/%s", argv[i], e->d_name);
            n++;
        }
        closedir(d);
        if (n > 1) qsort(names, n, sizeof *names, cmp_names);
        for (size_t k = 0; k < n; k++) {
            struct stat fs;
            if (stat(names[k], &fs) == 0 && S_ISREG(fs.st_mode)) {
                errors += run_file(names[k]) != 0;
                runs++;
            }
            free(names[k]);
        }
        free(names);
    }
    printf("regress: %d inputs replayed, %d unreadable\n", runs, errors);
    return errors ? 1 : 0;
}

/* fuzz_util.h: what the fuzz targets share (tests/fuzz/fuzz_*.c).
 *
 * Each target defines LLVMFuzzerTestOneInput. Built two ways: with clang and
 * -fsanitize=fuzzer (tests/fuzz/run.sh: the real fuzzers), and with the
 * project's compiler and regress_main.c (a plain main() that replays the
 * seed corpus and every saved crash, in the default suite).
 *
 * Besides "no crash, no sanitizer report", each target checks the error
 * contract: stderr is captured around the library call, and a call that
 * fails must have printed exactly one line starting "llmpi: " (a warning
 * line may precede it). A violation aborts, so the fuzzer keeps the input.
 */
#ifndef LLMPI_FUZZ_UTIL_H
#define LLMPI_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    FILE *saved, *mem;
    char *text;
    size_t len;
} fz_capture;

/* Sends the stdio stream stderr (where ll_error prints) into memory until
 * fz_capture_end; sanitizer and libFuzzer reports write to fd 2 directly
 * and are not affected. */
static inline void fz_capture_begin(fz_capture *c) {
    c->text = NULL;
    c->len = 0;
    c->saved = stderr;
    c->mem = open_memstream(&c->text, &c->len);
    if (!c->mem) abort();
    stderr = c->mem;
}

/* Restores stderr; when failed, aborts unless exactly one "llmpi: " error
 * line was printed (after any "llmpi: warning: " lines). what names the call. */
static inline void fz_capture_end(fz_capture *c, int failed, const char *what) {
    fclose(c->mem);
    stderr = c->saved;
    if (failed) {
        const char *p = c->text;
        while (!strncmp(p, "llmpi: warning: ", 16) && strchr(p, '\n')) p = strchr(p, '\n') + 1;
        const char *nl = strchr(p, '\n');
        if (strncmp(p, "llmpi: ", 7) != 0 || !nl || nl[1] != '\0') {
            fprintf(stderr, "fuzz: %s failed without exactly one 'llmpi: ' line; it printed:\n%s\n", what,
                    c->text);
            abort();
        }
    }
    free(c->text);
}

/* Writes data to a fresh file of this process (for APIs that take a path);
 * returns its path (static), abort on failure. Remove it with unlink. */
static inline const char *fz_write_temp(const uint8_t *data, size_t size, const char *suffix) {
    static char path[256];
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/llmpi-fuzz-%ld%s", dir && *dir ? dir : "/tmp", (long)getpid(), suffix);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        fprintf(stderr, "fuzz: cannot write %s\n", path);
        abort();
    }
    return path;
}

#endif

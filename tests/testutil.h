/* testutil.h: helpers shared by the cmocka tests (store, loader, checkpoints,
 * metrics, ...).
 *
 * A per-test scratch folder under /tmp (removed at the end), and stderr
 * capture so tests can assert that a failure printed exactly one line
 * naming the file. Header-only: each test is its own executable.
 */
#ifndef LLMPI_TESTUTIL_H
#define LLMPI_TESTUTIL_H

#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tu_dir[256];
static int tu_saved_stderr = -1;

/* Creates the scratch folder; its path is tu_dir. */
static inline void tu_make_dir(const char *tag) {
    snprintf(tu_dir, sizeof tu_dir, "/tmp/llmpi-%s-XXXXXX", tag);
    if (!mkdtemp(tu_dir)) { perror("mkdtemp"); abort(); }
}

static inline void tu_remove_dir(void) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tu_dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", tu_dir);
}

/* Group teardown of the HDF5 tests: removes the scratch folder, then fails
 * (-1) if any HDF5 object the library or the test opened is still open. */
static inline int tu_teardown_hdf5(void) {
    tu_remove_dir();
    ssize_t open_ids = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (open_ids != 0) { fprintf(stderr, "%zd HDF5 objects left open\n", open_ids); return -1; }
    return 0;
}

/* "<tu_dir>/<name>" in a static rotating buffer (up to 8 live at once). */
static inline const char *tu_path(const char *name) {
    static char bufs[8][512];
    static int next = 0;
    char *b = bufs[next++ & 7];
    snprintf(b, 512, "%s/%s", tu_dir, name);
    return b;
}

static inline void tu_capture_begin(void) {
    fflush(stderr);
    tu_saved_stderr = dup(2);
    int fd = open(tu_path("stderr.txt"), O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0 || tu_saved_stderr < 0) abort();
    dup2(fd, 2);
    close(fd);
}

/* Restores stderr; returns what was printed (static buffer). */
static inline const char *tu_capture_end(void) {
    static char text[8192];
    fflush(stderr);
    dup2(tu_saved_stderr, 2);
    close(tu_saved_stderr);
    tu_saved_stderr = -1;
    FILE *f = fopen(tu_path("stderr.txt"), "rb");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    text[n] = '\0';
    return text;
}

static inline int tu_count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static inline int tu_file_exists(const char *path) { return access(path, F_OK) == 0; }

/* Number of entries in tu_dir whose name contains ".tmp." (leftover temporaries). */
static inline int tu_count_tmp_files(void) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -c '\\.tmp\\.'", tu_dir);
    FILE *p = popen(cmd, "r");
    int n = 0;
    if (p) { if (fscanf(p, "%d", &n) != 1) n = -1; pclose(p); }
    return n;
}

#ifdef cmocka_unit_test
/* Runs call (returning 0/-1) with stderr captured; asserts -1, exactly one
 * line, and that the line contains needle. */
#define TU_EXPECT_FAIL_ONE_LINE(call, needle)                                               \
    do {                                                                                    \
        tu_capture_begin();                                                                 \
        int tu_rc_ = (call);                                                                \
        const char *tu_err_ = tu_capture_end();                                             \
        if (tu_rc_ != -1) fail_msg("expected -1 from %s, got %d", #call, tu_rc_);           \
        if (tu_count_lines(tu_err_) != 1) fail_msg("expected one stderr line, got: %s", tu_err_); \
        if (!strstr(tu_err_, (needle))) fail_msg("stderr '%s' lacks '%s'", tu_err_, (needle)); \
    } while (0)
#endif

#endif

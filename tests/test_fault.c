/* test_fault.c: the failure-injection hook (ll_fault_set, util.h) and the
 * library paths it found wrong (issue 9): a failed allocation, write or
 * fsync makes the call fail with one line and leaves earlier output alone;
 * the directory fsync counts; the gradient norm allocates nothing; resuming
 * never skips a good checkpoint because memory ran out while checking it.
 * The whole commands are swept by tests/fault_sweep.sh.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llmpi/ckpt.h"
#include "llmpi/gpt.h"
#include "llmpi/h5.h"
#include "llmpi/optim.h"
#include "llmpi/util.h"
#include "testutil.h"

static int setup(void **state) {
    (void)state;
    h5u_quiet();
    tu_make_dir("fault");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    return tu_teardown_hdf5();
}

/* Contents of path, or "" when absent (static buffer). */
static const char *contents(const char *path) {
    static char buf[256];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = '\0';
    return buf;
}

static void test_alloc_hook(void **state) {
    (void)state;
    unsigned long failures = ll_alloc_failures();
    ll_fault_set(LL_FAULT_ALLOC, 2);
    char *a = ll_malloc(8);
    assert_non_null(a);
    assert_true(ll_fault_armed(LL_FAULT_ALLOC));
    tu_capture_begin();
    char *b = ll_realloc(a, 64);
    const char *err = tu_capture_end();
    assert_null(b);                       /* the second call failed ... */
    assert_int_equal(tu_count_lines(err), 1);
    assert_non_null(strstr(err, "out of memory"));
    assert_false(ll_fault_armed(LL_FAULT_ALLOC));
    assert_int_equal(ll_alloc_failures(), failures + 1);
    char *c = ll_strdup("still here");   /* ... and only that one */
    assert_non_null(c);
    free(c);
    free(a);                              /* a failed realloc keeps the block */
}

/* Before: the norm's scratch array was malloc'ed and a failure returned NaN,
 * which the trainer takes for a bad step. */
static void test_grad_norm_allocates_nothing(void **state) {
    (void)state;
    size_t n = 2100 * (size_t)4096 + 123;   /* more than one group of 2048 blocks */
    float *g = malloc(n * sizeof *g);
    assert_non_null(g);
    ll_rng rng;
    ll_rng_seed(&rng, 5, 0);
    for (size_t i = 0; i < n; i++) g[i] = ll_rng_uniform(&rng) - 0.5f;
    double want = 0.0;   /* the documented order: blocks of 4096 summed in order */
    for (size_t b0 = 0; b0 < n; b0 += 4096) {
        double s = 0.0;
        for (size_t i = b0; i < n && i < b0 + 4096; i++) s += (double)g[i] * g[i];
        want += s;
    }
    want = sqrt(want) * 0.5;
    ll_fault_set(LL_FAULT_ALLOC, 1);
    double got = optim_grad_norm(g, n, -0.5f);
    assert_true(ll_fault_armed(LL_FAULT_ALLOC));   /* no allocation was made */
    ll_fault_set(LL_FAULT_ALLOC, 0);
    assert_true(got == want);
    free(g);
}

/* Every failing write or fsync: -1, one line, the earlier file intact (or,
 * when only the directory fsync after the rename failed, the new one whole),
 * no temporary left. Before: a failed directory fsync was ignored. */
static void test_atomic_write_faults(void **state) {
    (void)state;
    char path[600];   /* tu_path's buffers rotate */
    snprintf(path, sizeof path, "%s", tu_path("out.txt"));
    int kinds[2] = {LL_FAULT_WRITE, LL_FAULT_FSYNC};
    for (int k = 0; k < 2; k++) {
        int failed_calls = 0;
        for (unsigned long long n = 1;; n++) {
            assert_int_equal(ll_write_file_atomic(path, "old", 3), 0);
            ll_fault_set(kinds[k], n);
            tu_capture_begin();
            int rc = ll_write_file_atomic(path, "new", 3);
            const char *err = tu_capture_end();
            int reached = !ll_fault_armed(kinds[k]);
            ll_fault_set(kinds[k], 0);
            if (!reached) {
                assert_int_equal(rc, 0);
                assert_string_equal(contents(path), "new");
                break;
            }
            assert_int_equal(rc, -1);
            assert_int_equal(tu_count_lines(err), 1);
            assert_true(!strcmp(contents(path), "old") || (kinds[k] == LL_FAULT_FSYNC && n == 2 &&
                                                           !strcmp(contents(path), "new")));
            assert_int_equal(tu_count_tmp_files(), 0);
            failed_calls++;
        }
        assert_int_equal(failed_calls, kinds[k] == LL_FAULT_FSYNC ? 2 : 1);   /* file, then folder */
    }
}

/* The streaming write (checkpoints, exports): bytes land where the file
 * offset says across window boundaries and odd starts, a pipe (no writeback)
 * works, and the failure hook fails the call once, as ll_write_all's. */
static void test_streaming_write(void **state) {
    (void)state;
    const size_t head = 1001, n = 2 * LL_WRITEBACK_WINDOW + 12345;
    unsigned char *data = malloc(head + n);
    assert_non_null(data);
    for (size_t i = 0; i < head + n; i++) data[i] = (unsigned char)(i * 2654435761u >> 13);
    char path[600];
    snprintf(path, sizeof path, "%s", tu_path("stream.bin"));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ll_write_all(fd, data, head), 0);   /* an unaligned start */
    size_t cut = LL_WRITEBACK_WINDOW - 7;                 /* the first call ends short of a window */
    assert_int_equal(ll_write_all_streaming(fd, data + head, cut), 0);
    assert_int_equal(ll_write_all_streaming(fd, data + head + cut, n - cut), 0);
    assert_int_equal(ll_fsync(fd), 0);
    assert_int_equal(close(fd), 0);
    char *back = NULL;
    size_t nback = 0;
    assert_int_equal(ll_read_file(path, &back, &nback), 0);
    assert_int_equal(nback, head + n);
    assert_memory_equal(back, data, head + n);
    free(back);

    int pipe_fd[2];
    assert_int_equal(pipe(pipe_fd), 0);
    assert_int_equal(ll_write_all_streaming(pipe_fd[1], data, 4000), 0);
    unsigned char got[4000];
    size_t have = 0;
    while (have < sizeof got) {
        ssize_t r = read(pipe_fd[0], got + have, sizeof got - have);
        assert_true(r > 0);
        have += (size_t)r;
    }
    assert_memory_equal(got, data, sizeof got);

    ll_fault_set(LL_FAULT_WRITE, 1);
    assert_int_equal(ll_write_all_streaming(pipe_fd[1], data, 10), -1);
    assert_false(ll_fault_armed(LL_FAULT_WRITE));
    assert_int_equal(ll_write_all_streaming(pipe_fd[1], data, 10), 0);   /* only that one */
    close(pipe_fd[0]);
    close(pipe_fd[1]);
    free(data);
}

/* Before: running out of memory while checking the newest checkpoint made
 * `--resume auto` skip it as damaged and start again from step 0. */
static void test_find_latest_never_skips_for_oom(void **state) {
    (void)state;
    static const gpt_config cfg = {.n_layer = 1, .n_head = 1, .n_embd = 8, .block_size = 8, .vocab_size = 11};
    gpt_model m;
    assert_int_equal(gpt_create(&m, &cfg), 0);
    ckpt_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.step = 5;
    snprintf(meta.tokenizer, sizeof meta.tokenizer, "bytes-v1");
    snprintf(meta.config, sizeof meta.config, "model.n_layer=1\n");
    char run[600], dir[700], path[800], found[800];
    snprintf(run, sizeof run, "%s", tu_path("run"));
    snprintf(dir, sizeof dir, "%s/checkpoints", run);
    assert_int_equal(ll_mkdir_p(dir), 0);
    assert_int_equal(ckpt_step_path(run, 5, path, sizeof path), 0);
    /* a resumable checkpoint holds the AdamW moments */
    float *moment = calloc(m.num_params, sizeof *moment);
    assert_non_null(moment);
    assert_int_equal(ckpt_save(path, &m, moment, moment, &meta), 0);
    free(moment);
    int failed_calls = 0;
    for (unsigned long long n = 1;; n++) {
        ll_fault_set(LL_FAULT_ALLOC, n);
        tu_capture_begin();
        int rc = ckpt_find_latest(run, 1, found, sizeof found);
        const char *err = tu_capture_end();
        int reached = !ll_fault_armed(LL_FAULT_ALLOC);
        ll_fault_set(LL_FAULT_ALLOC, 0);
        if (!reached) {
            if (rc != 0) fail_msg("n=%llu: %s", n, err);
            assert_string_equal(found, path);
            break;
        }
        if (rc == 0) assert_string_equal(found, path);   /* never "" (skipped) */
        else assert_int_equal(tu_count_lines(err), 1);
        failed_calls++;
    }
    assert_true(failed_calls > 0);
    gpt_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_hook),
        cmocka_unit_test(test_grad_norm_allocates_nothing),
        cmocka_unit_test(test_atomic_write_faults),
        cmocka_unit_test(test_streaming_write),
        cmocka_unit_test(test_find_latest_never_skips_for_oom),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

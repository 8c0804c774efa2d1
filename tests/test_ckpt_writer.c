/* test_ckpt_writer.c: the asynchronous checkpoint writer against the
 * synchronous ckpt_save, the way the trainer drives it: begin at a step
 * boundary, read the buffers (forward/backward) while the thread snapshots
 * them, wait for the snapshot, then change them (the optimizer update) while
 * the file is written. Each file must hold the state of its own step, equal
 * byte for byte to a ckpt_save of that state; only the newest `keep` files stay;
 * a finished write leaves no temporary file. Labelled "threads": it runs
 * under ThreadSanitizer in scripts/test, which checks the hand-over itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "llmpi/ckpt.h"
#include "llmpi/gpt.h"
#include "llmpi/h5.h"
#include "llmpi/util.h"
#include "testutil.h"

static const gpt_config k_cfg = {.n_layer = 2, .n_head = 2, .n_embd = 16, .block_size = 16, .vocab_size = 29};
enum { STEPS = 6, KEEP = 2 };

/* The state at step s: a pure function of s, so the test can rebuild it. */
static void fill_state(float *p, float *m, float *v, size_t n, uint64_t s) {
    for (size_t i = 0; i < n; i++) {
        p[i] = (float)((double)(i % 97) * 0.01 - 0.4 + (double)s);
        m[i] = (float)(s * 1e-3 + (double)(i % 13) * 1e-5);
        v[i] = (float)(s * 1e-6 + (double)(i % 7) * 1e-8);
    }
}

static void set_meta(ckpt_meta *meta, uint64_t s) {
    memset(meta, 0, sizeof *meta);
    meta->step = s;
    meta->tokens_seen = s * 1000;
    snprintf(meta->tokenizer, sizeof meta->tokenizer, "bytes-v1");
    snprintf(meta->config, sizeof meta->config, "model.n_layer=2\n");
    meta->loader.seed = 3;
    meta->loader.position = s * 8;
    ll_rng_seed(&meta->rng, s, 1);
}

/* Sum of the buffers: the "forward and backward" reading them during the snapshot. */
static double read_all(const float *p, const float *m, const float *v, size_t n) {
    double acc = 0;
    for (size_t i = 0; i < n; i++) acc += (double)p[i] + m[i] + v[i];
    return acc;
}

static int count_files(const char *dir, const char *needle) {
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, needle)) n++;
    closedir(d);
    return n;
}

static void test_async_equals_sync(void **state) {
    (void)state;
    gpt_model model, back;
    assert_int_equal(gpt_create(&model, &k_cfg), 0);
    assert_int_equal(gpt_create(&back, &k_cfg), 0);
    size_t n = model.num_params;
    float *m = malloc(n * sizeof *m), *v = malloc(n * sizeof *v);
    float *m2 = malloc(n * sizeof *m2), *v2 = malloc(n * sizeof *v2);
    float *want_m = malloc(n * sizeof *want_m), *want_v = malloc(n * sizeof *want_v);
    assert_non_null(m && v && m2 && v2 && want_m && want_v);

    char dir[512];
    snprintf(dir, sizeof dir, "%s/checkpoints", tu_dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    ckpt_writer *w = ckpt_writer_create(&model, 1, tu_dir, KEEP);
    assert_non_null(w);
    ckpt_meta meta;
    char path[512];
    double sink = 0;
    for (uint64_t s = 1; s <= STEPS; s++) {
        fill_state(model.params, m, v, n, s);
        set_meta(&meta, s);
        assert_int_equal(ckpt_step_path(tu_dir, s, path, sizeof path), 0);
        assert_int_equal(ckpt_writer_begin(w, path, model.params, m, v, &meta), 0);
        sink += read_all(model.params, m, v, n);
        double waited = -1;
        ckpt_writer_snapshot_wait(w, &waited);
        assert_true(waited >= 0);
        /* the update: from here on the buffers hold the next step's state
         * while this step's file is still being written */
        for (size_t i = 0; i < n; i++) {
            model.params[i] = NAN;
            m[i] = -1.0f;
            v[i] = -1.0f;
        }
    }
    assert_int_equal(ckpt_writer_wait(w), 0);
    assert_int_equal(ckpt_writer_failed(w), 0);
    ckpt_writer_free(w);
    assert_true(isfinite(sink));

    /* the newest KEEP remain, each equal to its own step's state */
    assert_int_equal(count_files(dir, "step-"), KEEP);
    assert_int_equal(count_files(dir, ".tmp"), 0);
    for (uint64_t s = STEPS - KEEP + 1; s <= STEPS; s++) {
        assert_int_equal(ckpt_step_path(tu_dir, s, path, sizeof path), 0);
        ckpt_meta got;
        assert_int_equal(ckpt_load(path, &back, m2, v2, &got), 0);
        fill_state(model.params, want_m, want_v, n, s);
        assert_memory_equal(back.params, model.params, n * sizeof(float));
        assert_memory_equal(m2, want_m, n * sizeof(float));
        assert_memory_equal(v2, want_v, n * sizeof(float));
        assert_int_equal(got.step, s);
        assert_int_equal(got.loader.position, s * 8);
        /* and byte for byte the file a synchronous save of that state writes */
        set_meta(&meta, s);
        const char *sync = tu_path("sync.h5");
        assert_int_equal(ckpt_save(sync, &model, want_m, want_v, &meta), 0);
        char *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        assert_int_equal(ll_read_file(path, &a, &na), 0);
        assert_int_equal(ll_read_file(sync, &b, &nb), 0);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na);
        free(a);
        free(b);
    }
    gpt_free(&model);
    gpt_free(&back);
    free(m), free(v), free(m2), free(v2), free(want_m), free(want_v);
}

static int setup(void **state) {
    (void)state;
    h5u_quiet();
    tu_make_dir("ckptw");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    return tu_teardown_hdf5();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_async_equals_sync),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* test_gpt_infer.c: the KV-cache forward (gpt_kv_*) against gpt_forward.
 *
 * A batched step on an empty cache must give gpt_forward's last logits bit
 * for bit (same kernels, same shapes); one-token steps on the cache must give
 * the logits of a full forward over the whole sequence to rel 1e-5, for 64+
 * steps, in chunks smaller than the prompt, after a truncation and after a
 * context slide (drop the oldest ids, prefill again); a full cache, a bad id
 * or a cache of another shape are refused with one line and change nothing.
 * A one-token step gives the same bits on 1 and 2 threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llmpi/gpt.h"
#include "llmpi/util.h"
#include "testutil.h"

static const gpt_config k_cfg = {3, 4, 32, 96, 67};

/* A random model with weights large enough that attention is far from
 * uniform (GPT-2 init x 6, LayerNorm weights jittered). */
static void make_model(gpt_model *m, gpt_config cfg) {
    assert_int_equal(gpt_create(m, &cfg), 0);
    gpt_init_weights(m, 3);
    ll_rng rng;
    ll_rng_seed(&rng, 17, 2);
    for (int i = 0; i < m->num_tensors; i++) {
        const gpt_tensor_info *t = &m->tensors[i];
        float *p = m->params + t->offset;
        for (size_t j = 0; j < t->numel; j++) p[j] = t->ndim == 2 ? 6.0f * p[j] : p[j] + 0.1f * (float)ll_rng_normal(&rng);
    }
    assert_int_equal(gpt_alloc_acts(m, 1, cfg.block_size, 0), 0);
}

/* max |a - b| / max |b| */
static double rel_err(const float *a, const float *b, int n) {
    double d = 0.0, s = 0.0;
    for (int i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        s = fmax(s, fabs((double)b[i]));
    }
    return d / s;
}

static void full_logits(gpt_model *m, const int *ids, int n, float *out) {
    assert_int_equal(gpt_forward(m, ids, NULL, 1, n, NULL, NULL, NULL, out), 0);
}

/* A batched step on an empty cache is gpt_forward, bit for bit. */
static void test_prefill_bitwise(void **state) {
    (void)state;
    gpt_model m;
    make_model(&m, k_cfg);
    int V = k_cfg.vocab_size, ids[96];
    ll_rng rng;
    ll_rng_seed(&rng, 5, 1);
    for (int i = 0; i < 96; i++) ids[i] = (int)ll_rng_below(&rng, (uint64_t)V);
    float *a = malloc(V * sizeof *a), *b = malloc(V * sizeof *b);
    gpt_kv kv;
    assert_int_equal(gpt_kv_init(&kv, &k_cfg, 0), 0);
    const int lens[] = {2, 7, 33, 95, 96};
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        gpt_kv_truncate(&kv, 0);
        assert_int_equal(gpt_kv_forward(&m, &kv, ids, lens[i], a), 0);
        assert_int_equal(kv.n, lens[i]);
        full_logits(&m, ids, lens[i], b);
        assert_memory_equal(a, b, V * sizeof *a);
    }
    gpt_kv_free(&kv);
    gpt_kv_free(&kv);   /* twice is safe */
    free(a);
    free(b);
    gpt_free(&m);
}

/* Prompt, then one token at a time far past block_size: each step's logits
 * against a full forward over the ids the cache holds; when the cache is
 * full, the oldest `slide` ids go and the rest is prefilled again. */
static void run_decode(int chunk, int slide, int steps) {
    gpt_model m;
    make_model(&m, k_cfg);
    int V = k_cfg.vocab_size, cap = k_cfg.block_size;
    int *seq = malloc((size_t)(steps + 16) * sizeof *seq);
    float *a = malloc(V * sizeof *a), *b = malloc(V * sizeof *b);
    ll_rng rng;
    ll_rng_seed(&rng, 9, (uint64_t)chunk);
    int n = 11;
    for (int i = 0; i < n; i++) seq[i] = (int)ll_rng_below(&rng, (uint64_t)V);
    gpt_kv kv;
    assert_int_equal(gpt_kv_init(&kv, &k_cfg, chunk), 0);
    int start = 0;   /* the cache holds seq[start .. n) */
    assert_int_equal(gpt_kv_forward(&m, &kv, seq, n, a), 0);
    double worst = 0.0;
    int slides = 0;
    for (int s = 0; s < steps; s++) {
        full_logits(&m, seq + start, n - start, b);
        double e = rel_err(a, b, V);
        worst = fmax(worst, e);
        if (e > 1e-5) fail_msg("step %d (cache %d, chunk %d): rel error %g", s, kv.n, chunk, e);
        /* the next id: greedy on the cache's logits, perturbed so ids vary */
        int next = 0;
        for (int j = 1; j < V; j++) if (a[j] > a[next]) next = j;
        if (s % 3 == 0) next = (int)ll_rng_below(&rng, (uint64_t)V);
        seq[n++] = next;
        if (kv.n == cap) {
            start += slide;
            slides++;
            gpt_kv_truncate(&kv, 0);
            assert_int_equal(gpt_kv_forward(&m, &kv, seq + start, n - start, a), 0);
        } else {
            assert_int_equal(gpt_kv_forward(&m, &kv, &seq[n - 1], 1, a), 0);
        }
        assert_int_equal(kv.n, n - start);
    }
    print_message("chunk %d, slide %d: %d steps, %d slides, worst rel error %.3g\n", chunk, slide, steps, slides,
                  worst);
    assert_true(slides >= 1);
    gpt_kv_free(&kv);
    free(seq);
    free(a);
    free(b);
    gpt_free(&m);
}

static void test_decode_matches_full(void **state) {
    (void)state;
    run_decode(0, 1, 150);    /* the exact sliding window: a prefill per token once full */
    run_decode(0, 40, 200);   /* slide by 40 */
    run_decode(4, 24, 130);   /* prefill in chunks of 4 rows */
}

/* A one-token step on a model wide enough for the threaded matvec gives
 * the same bits on 1 and 2 threads (each weight row is summed by one thread
 * in a fixed order), and the full forward's logits to rel 1e-5. */
static void test_decode_threads(void **state) {
    (void)state;
    const gpt_config cfg = {2, 4, 128, 64, 600};
    gpt_model m;
    make_model(&m, cfg);
    int V = cfg.vocab_size, ids[12];
    for (int i = 0; i < 12; i++) ids[i] = (i * 37 + 5) % V;
    float *a[2], *b = malloc(V * sizeof *b);
    for (int t = 0; t < 2; t++) {
        a[t] = malloc(V * sizeof *a[t]);
        gpt_kv kv;
        assert_int_equal(gpt_kv_init(&kv, &cfg, 0), 0);
        ll_set_threads(1);   /* the same cache for both: the prefill's sgemm may split by threads */
        assert_int_equal(gpt_kv_forward(&m, &kv, ids, 11, a[t]), 0);
        ll_set_threads(t + 1);
        assert_int_equal(gpt_kv_forward(&m, &kv, ids + 11, 1, a[t]), 0);
        gpt_kv_free(&kv);
    }
    ll_set_threads(1);
    assert_memory_equal(a[0], a[1], V * sizeof *a[0]);
    full_logits(&m, ids, 12, b);
    assert_true(rel_err(a[1], b, V) < 1e-5);
    free(a[0]);
    free(a[1]);
    free(b);
    gpt_free(&m);
}

/* Truncating to a prefix and feeding other ids gives what a fresh cache
 * gives; refusals leave the cache as it was. */
static void test_truncate_and_errors(void **state) {
    (void)state;
    gpt_model m;
    make_model(&m, k_cfg);
    int V = k_cfg.vocab_size, ids[96];
    for (int i = 0; i < 96; i++) ids[i] = (i * 7 + 3) % V;
    float *a = malloc(V * sizeof *a), *b = malloc(V * sizeof *b);
    gpt_kv kv;
    assert_int_equal(gpt_kv_init(&kv, &k_cfg, 0), 0);
    assert_int_equal(gpt_kv_forward(&m, &kv, ids, 50, NULL), 0);
    gpt_kv_truncate(&kv, 20);
    gpt_kv_truncate(&kv, 30);   /* longer than what is held: no effect */
    assert_int_equal(kv.n, 20);
    int other[10];
    for (int i = 0; i < 10; i++) other[i] = (i * 5 + 1) % V;
    assert_int_equal(gpt_kv_forward(&m, &kv, other, 10, a), 0);
    int whole[30];
    memcpy(whole, ids, 20 * sizeof *ids);
    memcpy(whole + 20, other, 10 * sizeof *other);
    full_logits(&m, whole, 30, b);
    assert_true(rel_err(a, b, V) <= 1e-5);

    int bad[2] = {1, V};
    TU_EXPECT_FAIL_ONE_LINE(gpt_kv_forward(&m, &kv, bad, 2, a), "outside vocabulary");
    assert_int_equal(kv.n, 30);
    TU_EXPECT_FAIL_ONE_LINE(gpt_kv_forward(&m, &kv, ids, 67, a), "do not fit");
    assert_int_equal(kv.n, 30);
    assert_int_equal(gpt_kv_forward(&m, &kv, ids, 66, a), 0);   /* exactly full */
    TU_EXPECT_FAIL_ONE_LINE(gpt_kv_forward(&m, &kv, ids, 1, a), "do not fit");
    gpt_config other_cfg = k_cfg;
    other_cfg.n_embd = 64;
    gpt_kv kv2;
    assert_int_equal(gpt_kv_init(&kv2, &other_cfg, 0), 0);
    TU_EXPECT_FAIL_ONE_LINE(gpt_kv_forward(&m, &kv2, ids, 1, a), "shape");
    gpt_kv_free(&kv2);
    gpt_config broken = k_cfg;
    broken.n_head = 5;
    TU_EXPECT_FAIL_ONE_LINE(gpt_kv_init(&kv2, &broken, 0), "invalid model shape");
    gpt_kv_free(&kv);
    free(a);
    free(b);
    gpt_free(&m);
}

static int setup(void **state) {
    (void)state;
    tu_make_dir("gpt-infer");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tu_remove_dir();
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefill_bitwise),
        cmocka_unit_test(test_decode_matches_full),
        cmocka_unit_test(test_decode_threads),
        cmocka_unit_test(test_truncate_and_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

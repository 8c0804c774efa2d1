/* test_gpt_grad.c: the hand-written backward against central finite
 * differences, tensor by tensor; thread-count independence (of the gradient
 * and of the weight init); and an overfit check (a tiny model drives the
 * loss on one batch near zero).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llmpi/gpt.h"
#include "llmpi/optim.h"
#include "llmpi/util.h"

enum { B = 2, T = 5 };
static const gpt_config tiny = {.n_layer = 2, .n_head = 2, .n_embd = 8, .block_size = 8, .vocab_size = 11};

static void make_batch(int *in, int *tgt, uint64_t seed) {
    ll_rng r;
    ll_rng_seed(&r, seed, 7);
    for (int i = 0; i < B * T; i++) {
        in[i] = (int)ll_rng_below(&r, tiny.vocab_size);
        tgt[i] = (int)ll_rng_below(&r, tiny.vocab_size);
    }
    tgt[3] = -1; /* an ignored position must get no gradient */
}

/* weights with spread so every path carries gradient */
static void randomize(gpt_model *m, uint64_t seed) {
    ll_rng r;
    ll_rng_seed(&r, seed, 3);
    for (size_t i = 0; i < m->num_params; i++) m->params[i] = (float)(0.3 * ll_rng_normal(&r));
}

static double loss_at(gpt_model *m, const int *in, const int *tgt) {
    double sum;
    long n;
    assert_int_equal(gpt_forward(m, in, tgt, B, T, &sum, &n, NULL, NULL), 0);
    return sum;
}

static void test_finite_differences(void **state) {
    (void)state;
    gpt_model m;
    assert_int_equal(gpt_create(&m, &tiny), 0);
    assert_int_equal(gpt_alloc_grads(&m), 0);
    assert_int_equal(gpt_alloc_acts(&m, B, T, 1), 0);
    randomize(&m, 1);
    int in[B * T], tgt[B * T];
    make_batch(in, tgt, 2);
    double ls;
    long nt;
    gpt_zero_grads(&m);
    assert_int_equal(gpt_forward_backward(&m, in, tgt, B, T, 1.0f, &ls, &nt), 0);
    assert_int_equal(nt, B * T - 1);
    assert_true(fabs(ls - loss_at(&m, in, tgt)) < 1e-4 * fabs(ls));

    const float eps = 1e-2f;
    ll_rng pick;
    ll_rng_seed(&pick, 5, 0);
    int checked = 0;
    for (int ti = 0; ti < m.num_tensors; ti++) {
        const gpt_tensor_info *t = &m.tensors[ti];
        double worst = 0.0;
        for (int k = 0; k < 6; k++) {
            size_t idx = t->offset + ll_rng_below(&pick, t->numel);
            float saved = m.params[idx];
            m.params[idx] = saved + eps;
            double lp = loss_at(&m, in, tgt);
            m.params[idx] = saved - eps;
            double lm = loss_at(&m, in, tgt);
            m.params[idx] = saved;
            double fd = (lp - lm) / (2.0 * eps);
            double an = m.grads[idx];
            double err = fabs(fd - an) / (fabs(fd) + fabs(an) + 1e-2);
            if (err > worst) worst = err;
            checked++;
        }
        if (worst > 2e-2) print_error("%s: worst relative error %.3g\n", t->name, worst);
        assert_true(worst <= 2e-2);
    }
    assert_int_equal(checked, m.num_tensors * 6);
    gpt_free(&m);
}

/* Same gradients bit for bit when run twice at the same thread count (no
 * reduction depends on timing); at 1 vs 2 threads OpenBLAS may block sgemm
 * differently, so there only closeness is required. */
static void run_grads(gpt_model *m, const int *in, const int *tgt, int threads, float *g, double *loss) {
    long n;
    ll_set_threads(threads);
    assert_int_equal(gpt_alloc_acts(m, 4, 32, 1), 0); /* scratch sized for the thread count */
    gpt_zero_grads(m);
    assert_int_equal(gpt_forward_backward(m, in, tgt, 4, 32, 1.0f, loss, &n), 0);
    memcpy(g, m->grads, m->num_params * sizeof(float));
}

static void test_determinism(void **state) {
    (void)state;
    gpt_config cfg = {.n_layer = 2, .n_head = 4, .n_embd = 64, .block_size = 32, .vocab_size = 300};
    gpt_model m;
    assert_int_equal(gpt_create(&m, &cfg), 0);
    gpt_init_weights(&m, 42);
    assert_int_equal(gpt_alloc_grads(&m), 0);
    int in[4 * 32], tgt[4 * 32];
    ll_rng r;
    ll_rng_seed(&r, 9, 0);
    for (int i = 0; i < 4 * 32; i++) { in[i] = (int)ll_rng_below(&r, 300); tgt[i] = (int)ll_rng_below(&r, 300); }
    size_t bytes = m.num_params * sizeof(float);
    float *g1 = malloc(bytes), *g2 = malloc(bytes), *g3 = malloc(bytes);
    double l1, l2, l3;
    run_grads(&m, in, tgt, 2, g1, &l1);
    run_grads(&m, in, tgt, 2, g2, &l2);
    assert_true(l1 == l2);
    assert_memory_equal(g1, g2, bytes);
    run_grads(&m, in, tgt, 1, g3, &l3);
    assert_true(fabs(l1 - l3) <= 1e-5 * fabs(l1));
    double gmax = 0, dmax = 0;
    for (size_t i = 0; i < m.num_params; i++) {
        gmax = fmax(gmax, fabs(g1[i]));
        dmax = fmax(dmax, fabs(g1[i] - g3[i]));
    }
    print_message("1 vs 2 threads: max |dgrad| %.3g of max |grad| %.3g\n", dmax, gmax);
    assert_true(dmax <= 1e-5 * gmax);
    free(g1); free(g2); free(g3);
    gpt_free(&m);
}

/* The init spreads tensors over threads: every thread count gives the values
 * of the serial definition (per tensor, stream 1000 + index, GPT-2 stds),
 * into big buffers that come 64-byte aligned (staggered in their 2 MiB
 * pages) and zeroed. */
static void test_init_threads(void **state) {
    (void)state;
    gpt_config cfg = {.n_layer = 3, .n_head = 2, .n_embd = 16, .block_size = 8, .vocab_size = 50};
    gpt_model m;
    assert_int_equal(gpt_create(&m, &cfg), 0);
    assert_int_equal((uintptr_t)m.params % 64, 0);
    assert_true((uintptr_t)m.params % (2u << 20) != (uintptr_t)m.grads % (2u << 20));
    size_t bytes = m.num_params * sizeof(float);
    float *want = calloc(m.num_params, sizeof(float));
    float resid_std = 0.02f / sqrtf(2.0f * cfg.n_layer);
    for (int i = 0; i < m.num_tensors; i++) {
        const gpt_tensor_info *t = &m.tensors[i];
        const char *dot = strrchr(t->name, '.');
        if (dot && !strcmp(dot, ".bias")) continue;
        if (strstr(t->name, "ln_")) { for (size_t j = 0; j < t->numel; j++) want[t->offset + j] = 1.0f; continue; }
        float std = strstr(t->name, "c_proj.weight") ? resid_std : 0.02f;
        ll_rng r;
        ll_rng_seed(&r, 77, 1000 + (uint64_t)i);
        for (size_t j = 0; j < t->numel; j++) want[t->offset + j] = (float)(std * ll_rng_normal(&r));
    }
    int saved = ll_threads();
    for (int threads = 1; threads <= 3; threads++) {
        memset(m.params, 0x7f, bytes);
        ll_set_threads(threads);
        gpt_init_weights(&m, 77);
        assert_memory_equal(m.params, want, bytes);
    }
    ll_set_threads(saved);
    /* big buffers: zeroed, 64-byte aligned, and no two of 16 in a row at the
     * same offset within their 2 MiB page (streamed side by side, they would
     * share cache sets) */
    float *big[16];
    uintptr_t offsets[16];
    for (int b = 0; b < 16; b++) {
        big[b] = ll_calloc_big(12345 * sizeof(float));
        assert_non_null(big[b]);
        offsets[b] = (uintptr_t)big[b] % (2u << 20);
        assert_int_equal(offsets[b] % 64, 0);
        for (int i = 0; i < 12345; i++) assert_true(big[b][i] == 0.0f);
        for (int a = 0; a < b; a++) assert_true(offsets[a] != offsets[b]);
    }
    for (int b = 0; b < 16; b++) ll_free_big(big[b]);
    ll_free_big(NULL);
    free(want);
    gpt_free(&m);
}

/* A tiny model must memorise one batch. */
static void test_overfit_one_batch(void **state) {
    (void)state;
    gpt_config cfg = {.n_layer = 2, .n_head = 2, .n_embd = 32, .block_size = 16, .vocab_size = 50};
    gpt_model m;
    assert_int_equal(gpt_create(&m, &cfg), 0);
    gpt_init_weights(&m, 1);
    assert_int_equal(gpt_alloc_grads(&m), 0);
    assert_int_equal(gpt_alloc_acts(&m, 4, 16, 1), 0);
    optim_adamw opt;
    assert_int_equal(optim_adamw_init(&opt, m.num_params, 0.9f, 0.95f, 1e-8f, 0.0f), 0);
    int in[64], tgt[64];
    ll_rng r;
    ll_rng_seed(&r, 3, 0);
    for (int i = 0; i < 64; i++) { in[i] = (int)ll_rng_below(&r, 50); tgt[i] = (int)ll_rng_below(&r, 50); }
    double first = 0, last = 0;
    for (int step = 0; step < 300; step++) {
        double ls;
        long n;
        gpt_zero_grads(&m);
        assert_int_equal(gpt_forward_backward(&m, in, tgt, 4, 16, 1.0f, &ls, &n), 0);
        if (step == 0) first = ls / n;
        last = ls / n;
        optim_adamw_step(&opt, &m, 1e-2f, step + 1, 1.0f / n);
    }
    print_message("overfit: loss %.4f -> %.4f\n", first, last);
    assert_true(first > 3.5);   /* ~ln(50) at init */
    assert_true(last < 0.05);
    optim_adamw_free(&opt);
    gpt_free(&m);
}

/* Bad tokens are refused, not read out of bounds. */
static void test_rejects_bad_tokens(void **state) {
    (void)state;
    gpt_model m;
    assert_int_equal(gpt_create(&m, &tiny), 0);
    gpt_init_weights(&m, 1);
    assert_int_equal(gpt_alloc_acts(&m, B, T, 0), 0);
    int in[B * T] = {0}, tgt[B * T] = {0};
    in[4] = tiny.vocab_size;
    assert_int_equal(gpt_forward(&m, in, tgt, B, T, NULL, NULL, NULL, NULL), -1);
    in[4] = 0;
    tgt[2] = -2;
    assert_int_equal(gpt_forward(&m, in, tgt, B, T, NULL, NULL, NULL, NULL), -1);
    assert_int_equal(gpt_forward(&m, in, tgt, B, T + 10, NULL, NULL, NULL, NULL), -1);
    gpt_free(&m);
    gpt_config bad = tiny;
    bad.n_head = 3;
    assert_int_equal(gpt_create(&m, &bad), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_finite_differences),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_init_threads),
        cmocka_unit_test(test_overfit_one_batch),
        cmocka_unit_test(test_rejects_bad_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

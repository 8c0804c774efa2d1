/* test_sampler.c: the sampler against a naive reference, and reentrancy.
 *
 * The reference is the sampler as it was before candidates were cut before
 * sorting: softmax over the whole vocabulary, a full sort by probability
 * (ties: smaller id first), top-k, then top-p, then one draw. The sampler
 * must return the same token for every logits row, setting and RNG state:
 * random logits of several spreads (with many exact ties), vocabularies from
 * 1 to 5000, temperatures from greedy to 10, top-k and top-p from off to
 * extreme. Two samplers in two threads must give what one gives in turn.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "llmpi/infer.h"
#include "llmpi/util.h"
#include "testutil.h"

/* ---- the reference (single-threaded by design: file-scope sort context) ---- */

static const float *ref_probs;
static int ref_by_prob_desc(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (ref_probs[i] != ref_probs[j]) return ref_probs[i] > ref_probs[j] ? -1 : 1;
    return i - j;
}

static int ref_sample(int V, const float *logits, const infer_sampling *cfg, ll_rng *rng) {
    int best = 0;
    for (int i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
    if (cfg->temperature <= 0.0f) return best;
    float *probs = malloc((size_t)V * sizeof *probs);
    int *index = malloc((size_t)V * sizeof *index);
    assert_non_null(probs);
    assert_non_null(index);
    double sum = 0.0;
    for (int i = 0; i < V; i++) {
        probs[i] = expf((logits[i] - logits[best]) / cfg->temperature);
        sum += probs[i];
        index[i] = i;
    }
    for (int i = 0; i < V; i++) probs[i] = (float)(probs[i] / sum);
    ref_probs = probs;
    qsort(index, (size_t)V, sizeof(int), ref_by_prob_desc);
    int n = (cfg->top_k > 0 && cfg->top_k < V) ? cfg->top_k : V;
    if (cfg->top_p > 0.0f && cfg->top_p < 1.0f) {
        double cum = 0.0;
        for (int i = 0; i < n; i++) {
            cum += probs[index[i]];
            if (cum >= cfg->top_p) { n = i + 1; break; }
        }
    }
    if (cfg->min_p > 0.0f) {
        float cut = cfg->min_p * probs[index[0]];
        int kept = 0;
        while (kept < n && probs[index[kept]] >= cut) kept++;
        n = kept;
    }
    double mass = 0.0;
    for (int i = 0; i < n; i++) mass += probs[index[i]];
    double u = ll_rng_uniform(rng) * mass, cum = 0.0;
    int pick = index[n - 1];
    for (int i = 0; i < n; i++) {
        cum += probs[index[i]];
        if (u < cum) { pick = index[i]; break; }
    }
    free(probs);
    free(index);
    return pick;
}

/* ---- the cases ---- */

static const int vocabs[] = {1, 2, 7, 257, 1000, 5000};
static const float temperatures[] = {0.0f, 0.1f, 0.5f, 0.8f, 1.0f, 2.0f, 10.0f};
static const int top_ks[] = {0, 1, 2, 5, 40, -1 /* V - 1 */, -2 /* V */, -3 /* V + 5 */};
static const float top_ps[] = {1.0f, 0.9999999f, 0.99f, 0.95f, 0.9f, 0.5f, 0.1f, 0.001f};
static const float min_ps[] = {0.0f, 0.2f};
#define N_SPREADS 4
#define ROWS 2

/* Logits row `row` of spread kind `spread` for vocabulary V: gaussian of
 * scale 1 or 8, scale 3 quantised to 0.5 (many exact ties), or one token far
 * ahead of a flat rest. */
static void fill_logits(float *logits, int V, int spread, int row) {
    ll_rng rng;
    ll_rng_seed(&rng, (uint64_t)(V * 100 + spread * 10 + row), 9);
    for (int i = 0; i < V; i++) {
        double g = ll_rng_normal(&rng);
        switch (spread) {
        case 0: logits[i] = (float)g; break;
        case 1: logits[i] = (float)(8.0 * g); break;
        case 2: logits[i] = (float)(0.5 * floor(6.0 * g)); break;
        default: logits[i] = i == (row * 7919) % V ? 12.0f : (float)(0.01 * g); break;
        }
    }
}

static int resolve_k(int k, int V) { return k == -1 ? V - 1 : k == -2 ? V : k == -3 ? V + 5 : k; }

/* Runs every case through s (or the reference when s is NULL); writes the
 * tokens to out (in case order) and returns how many. */
static size_t run_cases(infer_sampler *samplers[], int *out) {
    size_t n = 0;
    float *logits = malloc(5000 * sizeof *logits);
    assert_non_null(logits);
    for (size_t v = 0; v < sizeof vocabs / sizeof *vocabs; v++) {
        int V = vocabs[v];
        for (int spread = 0; spread < N_SPREADS; spread++)
            for (int row = 0; row < ROWS; row++) {
                fill_logits(logits, V, spread, row);
                for (size_t t = 0; t < sizeof temperatures / sizeof *temperatures; t++)
                    for (size_t k = 0; k < sizeof top_ks / sizeof *top_ks; k++)
                        for (size_t p = 0; p < sizeof top_ps / sizeof *top_ps; p++)
                        for (size_t mp = 0; mp < sizeof min_ps / sizeof *min_ps; mp++) {
                            infer_sampling cfg = {temperatures[t], resolve_k(top_ks[k], V), top_ps[p], min_ps[mp],
                                                  1.0f, 0};
                            ll_rng rng;
                            ll_rng_seed(&rng, (uint64_t)n * 2654435761u, INFER_RNG_STREAM);
                            out[n++] = samplers ? infer_sample(samplers[v], logits, &cfg, &rng)
                                                : ref_sample(V, logits, &cfg, &rng);
                        }
            }
    }
    free(logits);
    return n;
}

#define N_VOCABS (sizeof vocabs / sizeof *vocabs)
#define N_CASES (N_VOCABS * N_SPREADS * ROWS * (sizeof temperatures / sizeof *temperatures) * \
                 (sizeof top_ks / sizeof *top_ks) * (sizeof top_ps / sizeof *top_ps) * \
                 (sizeof min_ps / sizeof *min_ps))

typedef struct {
    infer_sampler s[N_VOCABS];
    infer_sampler *ptr[N_VOCABS];
    int *out;
    size_t n;
} sampler_set;

static void set_init(sampler_set *set) {
    for (size_t v = 0; v < N_VOCABS; v++) {
        assert_int_equal(infer_sampler_init(&set->s[v], vocabs[v]), 0);
        set->ptr[v] = &set->s[v];
    }
    set->out = malloc(N_CASES * sizeof *set->out);
    assert_non_null(set->out);
}

static void set_free(sampler_set *set) {
    for (size_t v = 0; v < N_VOCABS; v++) infer_sampler_free(&set->s[v]);
    free(set->out);
}

/* Same token as the full-sort reference, in every case. */
static void test_matches_reference(void **state) {
    (void)state;
    int *ref = malloc(N_CASES * sizeof *ref);
    assert_non_null(ref);
    sampler_set set;
    set_init(&set);
    assert_int_equal(run_cases(NULL, ref), N_CASES);
    assert_int_equal(run_cases(set.ptr, set.out), N_CASES);
    size_t differ = 0, changes = 0;
    for (size_t i = 0; i < N_CASES; i++) {
        if (ref[i] != set.out[i]) {
            if (differ < 5) print_error("case %zu: reference %d, sampler %d\n", i, ref[i], set.out[i]);
            differ++;
        }
        changes += i > 0 && ref[i] != ref[i - 1];
    }
    print_message("%zu cases, the token changes %zu times from one case to the next\n", (size_t)N_CASES, changes);
    assert_int_equal(differ, 0);
    assert_true(changes > N_CASES / 10);   /* the cases do draw different tokens */
    free(ref);
    set_free(&set);
}

/* A single draw by hand: top-k 2 over three tokens keeps the two best, and
 * ties go to the smaller id. */
static void test_small_cases(void **state) {
    (void)state;
    infer_sampler s;
    assert_int_equal(infer_sampler_init(&s, 3), 0);
    float logits[3] = {1.0f, 3.0f, 3.0f};
    infer_sampling greedy = {0.0f, 0, 1.0f, 0.0f, 1.0f, 0}, top1 = {1.0f, 1, 1.0f, 0.0f, 1.0f, 0},
                   nucleus = {1.0f, 0, 0.4f, 0.0f, 1.0f, 0};
    ll_rng rng;
    ll_rng_seed(&rng, 1, 1);
    assert_int_equal(infer_sample(&s, logits, &greedy, &rng), 1);
    for (int i = 0; i < 50; i++) {
        assert_int_equal(infer_sample(&s, logits, &top1, &rng), 1);     /* tie: smaller id */
        assert_int_equal(infer_sample(&s, logits, &nucleus, &rng), 1);  /* 0.47 >= 0.4: one token */
    }
    infer_sampler_free(&s);
    infer_sampler_free(&s);   /* twice is safe */
}

static void *thread_run(void *arg) {
    sampler_set *set = arg;
    set->n = run_cases(set->ptr, set->out);
    return NULL;
}

/* Two samplers in two threads at once give what one gives in turn. */
static void test_two_threads(void **state) {
    (void)state;
    sampler_set seq, a, b;
    set_init(&seq);
    set_init(&a);
    set_init(&b);
    seq.n = run_cases(seq.ptr, seq.out);
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, thread_run, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, thread_run, &b), 0);
    assert_int_equal(pthread_join(ta, NULL), 0);
    assert_int_equal(pthread_join(tb, NULL), 0);
    assert_int_equal(a.n, seq.n);
    assert_int_equal(b.n, seq.n);
    assert_memory_equal(a.out, seq.out, seq.n * sizeof *seq.out);
    assert_memory_equal(b.out, seq.out, seq.n * sizeof *seq.out);
    set_free(&seq);
    set_free(&a);
    set_free(&b);
}

/* ---- exact distributions: chi-square over 100k draws ---- */

/* The distribution the settings define on logits, in double: softmax at
 * temperature, sorted (ties: smaller id), top-k, top-p, min-p, renormalised. */
static void exact_dist(const float *logits, int V, const infer_sampling *c, double *q) {
    double mx = logits[0];
    for (int i = 1; i < V; i++) mx = fmax(mx, logits[i]);
    double *p = malloc(V * sizeof *p), sum = 0.0;
    int *idx = malloc(V * sizeof *idx);
    for (int i = 0; i < V; i++) { p[i] = exp((logits[i] - mx) / c->temperature); sum += p[i]; idx[i] = i; }
    for (int i = 0; i < V; i++) p[i] /= sum;
    for (int i = 1; i < V; i++)   /* insertion sort: small V */
        for (int j = i; j > 0 && (p[idx[j]] > p[idx[j - 1]] || (p[idx[j]] == p[idx[j - 1]] && idx[j] < idx[j - 1])); j--) {
            int t = idx[j]; idx[j] = idx[j - 1]; idx[j - 1] = t;
        }
    int n = c->top_k > 0 && c->top_k < V ? c->top_k : V;
    if (c->top_p < 1.0f) {
        double cum = 0.0;
        for (int i = 0; i < n; i++) { cum += p[idx[i]]; if (cum >= c->top_p) { n = i + 1; break; } }
    }
    if (c->min_p > 0.0f) { int k = 0; while (k < n && p[idx[k]] >= c->min_p * p[idx[0]]) k++; n = k; }
    double mass = 0.0;
    for (int i = 0; i < n; i++) mass += p[idx[i]];
    for (int i = 0; i < V; i++) q[i] = 0.0;
    for (int i = 0; i < n; i++) q[idx[i]] = p[idx[i]] / mass;
    free(p);
    free(idx);
}

static void test_chi_square(void **state) {
    (void)state;
    enum { V = 60, DRAWS = 100000 };
    float logits[V];
    ll_rng lr;
    ll_rng_seed(&lr, 2024, 3);
    for (int i = 0; i < V; i++) logits[i] = (float)(1.5 * ll_rng_normal(&lr));
    const infer_sampling cases[] = {
        {1.0f, 0, 1.0f, 0.0f, 1.0f, 0},  {0.7f, 10, 1.0f, 0.0f, 1.0f, 0}, {1.3f, 0, 0.8f, 0.0f, 1.0f, 0},
        {1.0f, 0, 1.0f, 0.1f, 1.0f, 0},  {0.9f, 20, 0.9f, 0.05f, 1.0f, 0}, {2.5f, 0, 0.5f, 0.0f, 1.0f, 0},
    };
    infer_sampler s;
    assert_int_equal(infer_sampler_init(&s, V), 0);
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        double q[V];
        long count[V] = {0};
        exact_dist(logits, V, &cases[c], q);
        ll_rng rng;
        ll_rng_seed(&rng, 99 + c, INFER_RNG_STREAM);
        for (int d = 0; d < DRAWS; d++) count[infer_sample(&s, logits, &cases[c], &rng)]++;
        double chi2 = 0.0;
        int kept = 0;
        for (int i = 0; i < V; i++) {
            if (q[i] == 0.0) { assert_int_equal(count[i], 0); continue; }   /* cut tokens never drawn */
            double e = q[i] * DRAWS;
            chi2 += (count[i] - e) * (count[i] - e) / e;
            kept++;
        }
        /* critical value at p = 1e-4 (Wilson-Hilferty), df = kept - 1 */
        double df = kept - 1, z = 3.719;
        double crit = df > 0 ? df * pow(1.0 - 2.0 / (9.0 * df) + z * sqrt(2.0 / (9.0 * df)), 3) : 0.0;
        print_message("case %zu: %d tokens kept, chi2 %.1f (critical %.1f)\n", c, kept, chi2, crit);
        assert_true(kept >= 2);
        assert_true(chi2 < crit);
    }
    /* the same seed draws the same sequence; another seed another one */
    int a[500], b[500], d[500];
    ll_rng r1, r2, r3;
    ll_rng_seed(&r1, 7, INFER_RNG_STREAM);
    ll_rng_seed(&r2, 7, INFER_RNG_STREAM);
    ll_rng_seed(&r3, 8, INFER_RNG_STREAM);
    for (int i = 0; i < 500; i++) {
        a[i] = infer_sample(&s, logits, &cases[0], &r1);
        b[i] = infer_sample(&s, logits, &cases[0], &r2);
        d[i] = infer_sample(&s, logits, &cases[0], &r3);
    }
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, d, sizeof a);
    infer_sampler_free(&s);
}

/* The repetition penalty: l / p for l > 0, l * p otherwise, once per id,
 * over the last repeat_last_n ids; the caller's logits are not touched. */
static void test_repeat_penalty(void **state) {
    (void)state;
    infer_sampler s;
    assert_int_equal(infer_sampler_init(&s, 4), 0);
    float logits[4] = {3.0f, 2.9f, -1.0f, -1.5f};
    infer_sampling greedy = {0.0f, 0, 1.0f, 0.0f, 2.0f, 0};
    ll_rng rng;
    ll_rng_seed(&rng, 1, 1);
    const int32_t recent[] = {0, 0, 2};
    assert_int_equal(infer_sample_context(&s, logits, &greedy, recent, 3, &rng), 1);   /* 3 -> 1.5 */
    assert_true(logits[0] == 3.0f);
    greedy.repeat_last_n = 1;   /* only id 2 is recent */
    assert_int_equal(infer_sample_context(&s, logits, &greedy, recent, 3, &rng), 0);
    greedy.repeat_penalty = 1.0f;
    assert_int_equal(infer_sample_context(&s, logits, &greedy, recent, 3, &rng), 0);
    /* at temperature: the same draws as the sampler on logits penalised by hand */
    float by_hand[4] = {1.5f, 2.9f, -2.0f, -1.5f};
    infer_sampling warm = {1.0f, 0, 1.0f, 0.0f, 2.0f, 0};
    ll_rng r1, r2;
    ll_rng_seed(&r1, 5, 1);
    ll_rng_seed(&r2, 5, 1);
    for (int i = 0; i < 200; i++)
        assert_int_equal(infer_sample_context(&s, logits, &warm, recent, 3, &r1), infer_sample(&s, by_hand, &warm, &r2));
    infer_sampler_free(&s);
}

/* Absurd settings: one line naming the setting. */
static void test_check(void **state) {
    (void)state;
    const infer_sampling good = {0.8f, 40, 1.0f, 0.0f, 1.0f, 64};
    assert_int_equal(infer_sampling_check(&good), 0);
    infer_sampling b = good;
    b.temperature = -1.0f;
    TU_EXPECT_FAIL_ONE_LINE(infer_sampling_check(&b), "temperature");
    b = good; b.temperature = NAN;
    TU_EXPECT_FAIL_ONE_LINE(infer_sampling_check(&b), "temperature");
    b = good; b.top_p = 1.5f;
    TU_EXPECT_FAIL_ONE_LINE(infer_sampling_check(&b), "top-p");
    b = good; b.top_p = 0.0f;
    TU_EXPECT_FAIL_ONE_LINE(infer_sampling_check(&b), "top-p");
    b = good; b.top_k = -3;
    TU_EXPECT_FAIL_ONE_LINE(infer_sampling_check(&b), "top-k");
    b = good; b.min_p = 2.0f;
    TU_EXPECT_FAIL_ONE_LINE(infer_sampling_check(&b), "min-p");
    b = good; b.repeat_penalty = -0.5f;
    TU_EXPECT_FAIL_ONE_LINE(infer_sampling_check(&b), "repeat penalty");
    b = good; b.repeat_penalty = INFINITY;
    TU_EXPECT_FAIL_ONE_LINE(infer_sampling_check(&b), "repeat penalty");
}

static int setup(void **state) {
    (void)state;
    tu_make_dir("sampler");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tu_remove_dir();
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_cases),
        cmocka_unit_test(test_matches_reference),
        cmocka_unit_test(test_two_threads),
        cmocka_unit_test(test_chi_square),
        cmocka_unit_test(test_repeat_penalty),
        cmocka_unit_test(test_check),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

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
                        for (size_t p = 0; p < sizeof top_ps / sizeof *top_ps; p++) {
                            infer_sampling cfg = {temperatures[t], resolve_k(top_ks[k], V), top_ps[p]};
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
                 (sizeof top_ks / sizeof *top_ks) * (sizeof top_ps / sizeof *top_ps))

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
    infer_sampling greedy = {0.0f, 0, 1.0f}, top1 = {1.0f, 1, 1.0f}, nucleus = {1.0f, 0, 0.4f};
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_cases),
        cmocka_unit_test(test_matches_reference),
        cmocka_unit_test(test_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

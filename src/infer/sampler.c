/* sampler.c: temperature, top-k, top-p, draw.
 *
 * Invariants: the same logits, settings and RNG state give the same token,
 * and that token is the one a full sort of the vocabulary would give: the
 * candidates, in order, are the vocabulary sorted by probability descending
 * with ties broken by the smaller id, cut to the first top_k, then to the
 * shortest prefix whose mass reaches top_p; the draw walks that prefix.
 * Only the candidates are sorted, never the whole vocabulary:
 *   - top-k keeps the k best in a min-heap (O(V log k)), then sorts k;
 *   - top-p alone first drops every probability below (1 - top_p) / (V - 1):
 *     the dropped ones, at most V - 1 of them, hold less than 1 - top_p
 *     together, so the kept ones (a prefix of the sorted order) reach top_p.
 *     Should rounding leave the kept mass short of top_p, the sampler redoes
 *     the step without the cut, so the result never depends on the shortcut.
 * Reentrant: all state lives in the infer_sampler (one per thread); the sort
 * compares (probability, id) pairs and needs no context.
 */
#include "llmpi/infer.h"

#include <math.h>
#include <stdlib.h>

/* See infer.h. */
int infer_sampler_init(infer_sampler *s, int vocab_size) {
    s->V = vocab_size;
    s->probs = ll_malloc((size_t)vocab_size * sizeof *s->probs);
    s->cand = ll_malloc((size_t)vocab_size * sizeof *s->cand);
    if (!s->probs || !s->cand) { infer_sampler_free(s); return -1; }
    return 0;
}

/* See infer.h. */
void infer_sampler_free(infer_sampler *s) {
    free(s->probs);
    free(s->cand);
    s->probs = NULL;
    s->cand = NULL;
}

/* Whether a ranks before b: higher probability, then the smaller id. */
static inline int ranks_before(infer_candidate a, infer_candidate b) {
    return a.prob != b.prob ? a.prob > b.prob : a.id < b.id;
}

/* qsort order: best first (a total order, so the result is unique). */
static int by_rank(const void *pa, const void *pb) {
    infer_candidate a = *(const infer_candidate *)pa, b = *(const infer_candidate *)pb;
    if (a.prob != b.prob) return a.prob > b.prob ? -1 : 1;
    return (a.id > b.id) - (a.id < b.id);
}

/* Restores the heap property below slot i of a heap whose root is the
 * worst-ranked of its n entries. */
static void sift_down(infer_candidate *h, int n, int i) {
    for (;;) {
        int worst = i, l = 2 * i + 1, r = l + 1;
        if (l < n && ranks_before(h[worst], h[l])) worst = l;
        if (r < n && ranks_before(h[worst], h[r])) worst = r;
        if (worst == i) return;
        infer_candidate t = h[i];
        h[i] = h[worst];
        h[worst] = t;
        i = worst;
    }
}

/* Reduces c[0..n) to its k best (k < n) in c[0..k), in no particular order. */
static void keep_best(infer_candidate *c, int n, int k) {
    for (int i = k / 2 - 1; i >= 0; i--) sift_down(c, k, i);
    for (int i = k; i < n; i++)
        if (ranks_before(c[i], c[0])) {
            c[0] = c[i];
            sift_down(c, k, 0);
        }
}

/* Fills s->cand with the sorted candidates: the probabilities >= cutoff
 * (all, NaNs included, when cutoff is 0), cut to the best k. Returns how
 * many. */
static int candidates(infer_sampler *s, float cutoff, int k) {
    int m = 0;
    for (int i = 0; i < s->V; i++)
        if (cutoff <= 0.0f || s->probs[i] >= cutoff) s->cand[m++] = (infer_candidate){s->probs[i], i};
    if (k < m) {
        keep_best(s->cand, m, k);
        m = k;
    }
    qsort(s->cand, (size_t)m, sizeof *s->cand, by_rank);
    return m;
}

/* See infer.h. */
int infer_sample(infer_sampler *s, const float *logits, const infer_sampling *cfg, ll_rng *rng) {
    int V = s->V, best = 0;
    for (int i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
    if (cfg->temperature <= 0.0f || V == 1) return best;

    /* softmax at temperature */
    double sum = 0.0;
    for (int i = 0; i < V; i++) {
        s->probs[i] = expf((logits[i] - logits[best]) / cfg->temperature);
        sum += s->probs[i];
    }
    for (int i = 0; i < V; i++) s->probs[i] = (float)(s->probs[i] / sum);

    /* candidates in descending probability, cut by top-k then top-p */
    int k = (cfg->top_k > 0 && cfg->top_k < V) ? cfg->top_k : V;
    int use_p = cfg->top_p > 0.0f && cfg->top_p < 1.0f;
    float cutoff = use_p ? (float)((1.0 - cfg->top_p) / (V - 1)) : 0.0f;
    int m = candidates(s, cutoff, k), n = m;
    if (use_p) {
        double cum = 0.0;
        int reached = 0;
        for (int i = 0; i < m && !reached; i++) {
            cum += s->cand[i].prob;
            if (cum >= cfg->top_p) { n = i + 1; reached = 1; }
        }
        if (!reached && m < k && cutoff > 0.0f) {
            /* rounding: the cut dropped mass the nucleus needs; do it in full */
            n = m = candidates(s, 0.0f, k);
            cum = 0.0;
            for (int i = 0; i < m; i++) {
                cum += s->cand[i].prob;
                if (cum >= cfg->top_p) { n = i + 1; break; }
            }
        }
    }
    double mass = 0.0;
    for (int i = 0; i < n; i++) mass += s->cand[i].prob;

    double u = ll_rng_uniform(rng) * mass, cum = 0.0;
    for (int i = 0; i < n; i++) {
        cum += s->cand[i].prob;
        if (u < cum) return s->cand[i].id;
    }
    return s->cand[n - 1].id;
}

/* sampler.c: repetition penalty, temperature, top-k, top-p, min-p, draw.
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
 *     the step without the cut, so the result never depends on the shortcut;
 *   - min-p keeps p >= min_p * p_max, also a prefix of the sorted order, so it
 *     is applied as an exact cutoff before sorting (the cut of top-k, top-p
 *     and min-p, in that order, is the same whichever prefix is taken first).
 * The repetition penalty works on a copy of the logits (s->work), so the
 * caller's row is never changed.
 * Reentrant: all state lives in the infer_sampler (one per thread); the sort
 * compares (probability, id) pairs and needs no context.
 */
#include "llmpi/infer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* See infer.h. */
int infer_sampler_init(infer_sampler *s, int vocab_size) {
    s->V = vocab_size;
    s->probs = ll_malloc((size_t)vocab_size * sizeof *s->probs);
    s->cand = ll_malloc((size_t)vocab_size * sizeof *s->cand);
    s->work = ll_malloc((size_t)vocab_size * sizeof *s->work);
    s->seen = ll_calloc((size_t)vocab_size, 1);
    if (!s->probs || !s->cand || !s->work || !s->seen) { infer_sampler_free(s); return -1; }
    return 0;
}

/* See infer.h. */
void infer_sampler_free(infer_sampler *s) {
    free(s->probs);
    free(s->cand);
    free(s->work);
    free(s->seen);
    s->probs = NULL;
    s->cand = NULL;
    s->work = NULL;
    s->seen = NULL;
}

/* See infer.h. */
int infer_sampling_check(const infer_sampling *c) {
    if (!isfinite(c->temperature) || c->temperature < 0.0f) {
        ll_error("sampler: temperature %g: expected a number >= 0 (0: greedy)", (double)c->temperature);
        return -1;
    }
    if (c->top_k < 0) { ll_error("sampler: top-k %d: expected >= 0 (0: off)", c->top_k); return -1; }
    if (!isfinite(c->top_p) || c->top_p <= 0.0f || c->top_p > 1.0f) {
        ll_error("sampler: top-p %g: expected 0 < top-p <= 1 (1: off)", (double)c->top_p);
        return -1;
    }
    if (!isfinite(c->min_p) || c->min_p < 0.0f || c->min_p > 1.0f) {
        ll_error("sampler: min-p %g: expected 0 <= min-p <= 1 (0: off)", (double)c->min_p);
        return -1;
    }
    if (!isfinite(c->repeat_penalty) || c->repeat_penalty < 0.0f || c->repeat_penalty > 100.0f) {
        ll_error("sampler: repeat penalty %g: expected 0 <= penalty <= 100 (0 or 1: off)", (double)c->repeat_penalty);
        return -1;
    }
    if (c->repeat_last_n < 0) {
        ll_error("sampler: repeat window %d: expected >= 0 (0: the whole context)", c->repeat_last_n);
        return -1;
    }
    return 0;
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

    /* candidates in descending probability, cut by top-k, top-p, min-p */
    int k = (cfg->top_k > 0 && cfg->top_k < V) ? cfg->top_k : V;
    int use_p = cfg->top_p > 0.0f && cfg->top_p < 1.0f;
    float p_cut = use_p ? (float)((1.0 - cfg->top_p) / (V - 1)) : 0.0f;
    float min_cut = cfg->min_p > 0.0f ? cfg->min_p * s->probs[best] : 0.0f;
    float cutoff = p_cut > min_cut ? p_cut : min_cut;
    int m = candidates(s, cutoff, k), n = m;
    if (use_p) {
        double cum = 0.0;
        int reached = 0;
        for (int i = 0; i < m && !reached; i++) {
            cum += s->cand[i].prob;
            if (cum >= cfg->top_p) { n = i + 1; reached = 1; }
        }
        if (!reached && m < k && p_cut > min_cut) {
            /* rounding: the shortcut dropped mass the nucleus needs; redo it
             * with only the exact (min-p) cut */
            n = m = candidates(s, min_cut, k);
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

/* See infer.h. */
int infer_sample_context(infer_sampler *s, const float *logits, const infer_sampling *cfg, const int32_t *recent,
                         size_t n_recent, ll_rng *rng) {
    float pen = cfg->repeat_penalty;
    if (pen <= 0.0f || pen == 1.0f || n_recent == 0) return infer_sample(s, logits, cfg, rng);
    if (cfg->repeat_last_n > 0 && n_recent > (size_t)cfg->repeat_last_n) {
        recent += n_recent - (size_t)cfg->repeat_last_n;
        n_recent = (size_t)cfg->repeat_last_n;
    }
    memcpy(s->work, logits, (size_t)s->V * sizeof *s->work);
    for (size_t i = 0; i < n_recent; i++) {
        int32_t id = recent[i];
        if (id < 0 || id >= s->V || s->seen[id]) continue;
        s->seen[id] = 1;
        s->work[id] = s->work[id] > 0.0f ? s->work[id] / pen : s->work[id] * pen;
    }
    for (size_t i = 0; i < n_recent; i++)
        if (recent[i] >= 0 && recent[i] < s->V) s->seen[recent[i]] = 0;
    return infer_sample(s, s->work, cfg, rng);
}

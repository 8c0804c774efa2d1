/* sampler.c: temperature, top-k, top-p, draw. Short on purpose.
 *
 * Invariant: the same logits, settings and RNG state give the same token;
 * ties in sorting are broken by the smaller id.
 */
#include "llmpi/infer.h"

#include <math.h>
#include <stdlib.h>

int infer_sampler_init(infer_sampler *s, int vocab_size) {
    s->V = vocab_size;
    s->probs = ll_malloc((size_t)vocab_size * sizeof(float));
    s->index = ll_malloc((size_t)vocab_size * sizeof(int));
    if (!s->probs || !s->index) { infer_sampler_free(s); return -1; }
    return 0;
}

void infer_sampler_free(infer_sampler *s) {
    free(s->probs);
    free(s->index);
    s->probs = NULL;
    s->index = NULL;
}

static const float *sort_probs;
static int by_prob_desc(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (sort_probs[i] != sort_probs[j]) return sort_probs[i] > sort_probs[j] ? -1 : 1;
    return i - j;
}

int infer_sample(infer_sampler *s, const float *logits, const infer_sampling *cfg, ll_rng *rng) {
    int V = s->V, best = 0;
    for (int i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
    if (cfg->temperature <= 0.0f) return best;

    /* softmax at temperature */
    double sum = 0.0;
    for (int i = 0; i < V; i++) {
        s->probs[i] = expf((logits[i] - logits[best]) / cfg->temperature);
        sum += s->probs[i];
        s->index[i] = i;
    }
    for (int i = 0; i < V; i++) s->probs[i] = (float)(s->probs[i] / sum);

    /* candidates in descending probability, cut by top-k then top-p */
    sort_probs = s->probs;
    qsort(s->index, (size_t)V, sizeof(int), by_prob_desc);
    int n = (cfg->top_k > 0 && cfg->top_k < V) ? cfg->top_k : V;
    if (cfg->top_p > 0.0f && cfg->top_p < 1.0f) {
        double cum = 0.0;
        for (int i = 0; i < n; i++) {
            cum += s->probs[s->index[i]];
            if (cum >= cfg->top_p) { n = i + 1; break; }
        }
    }
    double mass = 0.0;
    for (int i = 0; i < n; i++) mass += s->probs[s->index[i]];

    double u = ll_rng_uniform(rng) * mass, cum = 0.0;
    for (int i = 0; i < n; i++) {
        cum += s->probs[s->index[i]];
        if (u < cum) return s->index[i];
    }
    return s->index[n - 1];
}

/* infer.h: sampling from a trained model.
 *
 * The sampler turns one row of logits into a token id: temperature scaling,
 * then top-k, then top-p (nucleus) truncation, then a draw from the seeded
 * RNG. temperature 0 means greedy (argmax). Deterministic given the RNG state.
 */
#ifndef LLMPI_INFER_H
#define LLMPI_INFER_H

#include "llmpi/util.h"

typedef struct {
    float temperature;   /* 0: greedy */
    int top_k;           /* 0: no limit */
    float top_p;         /* 1: no limit */
} infer_sampling;

typedef struct {
    int V;
    float *probs;        /* (V) scratch */
    int *index;          /* (V) scratch */
} infer_sampler;

int infer_sampler_init(infer_sampler *s, int vocab_size);
void infer_sampler_free(infer_sampler *s);
/* Draws a token from logits (V floats; left unchanged). */
int infer_sample(infer_sampler *s, const float *logits, const infer_sampling *cfg, ll_rng *rng);

#endif

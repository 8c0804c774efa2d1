/* optim.h: AdamW over the flat parameter buffer, the learning-rate schedule,
 * global-norm gradient clipping.
 *
 * AdamW (Loshchilov & Hutter, as torch.optim.AdamW): for each parameter
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
 *   p -= lr * wd * p            (decoupled, only tensors with decay=1)
 *   p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
 * Moments live in two flat buffers with the parameter layout.
 */
#ifndef LLMPI_OPTIM_H
#define LLMPI_OPTIM_H

#include <stddef.h>
#include <stdint.h>
#include "llmpi/gpt.h"

typedef struct {
    float lr;           /* peak learning rate */
    float min_lr_frac;  /* cosine floor = min_lr_frac * lr */
    int warmup_steps;
    int max_steps;
} sched_config;

/* Learning rate for optimizer step `step` (0-based): linear warmup
 * lr*(step+1)/warmup for step < warmup, then cosine from lr down to
 * min_lr_frac*lr at step max_steps-1 (and held there after). */
float sched_lr(const sched_config *s, int step);

typedef struct {
    float beta1, beta2, eps, weight_decay;
    size_t n;           /* parameters this optimizer holds moments for */
    float *m, *v;       /* (n) each: all parameters, or a ZeRO-1 shard */
} optim_adamw;

/* Moments for n parameters (num_params, or a rank's shard under ZeRO-1). */
int optim_adamw_init(optim_adamw *o, size_t n, float beta1, float beta2, float eps, float weight_decay);
void optim_adamw_free(optim_adamw *o);

/* Global L2 norm of grads * scale (computed in double, fixed order). */
double optim_grad_norm(const float *grads, size_t n, float scale);

/* One AdamW step t (1-based for bias correction) on all parameters of model,
 * with the gradient taken as grads * grad_scale (grad_scale folds in the
 * 1/token normalisation and the clipping factor). */
void optim_adamw_step(optim_adamw *o, gpt_model *model, float lr, int t, float grad_scale);

/* AdamW on params[lo, hi) only, with gradient g[0 .. hi-lo) and moments
 * m, v[0 .. hi-lo) (a ZeRO-1 shard); weight decay per the tensors the range
 * cuts through. */
void optim_adamw_apply(const optim_adamw *o, gpt_model *model, size_t lo, size_t hi, const float *g, float *m,
                       float *v, float lr, int t, float grad_scale);

#endif

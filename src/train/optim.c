/* optim.c: AdamW on the flat parameter buffer, LR schedule, gradient norm.
 *
 * Invariants: the optimizer never looks at tensor boundaries except to decide
 * weight decay, which it reads from the model's tensor table once per step;
 * the gradient norm is summed in double over fixed 4096-element blocks, then
 * over blocks in order, so it is the same whatever the thread count.
 * The AdamW update is element-wise (no reduction), so its result does not
 * depend on the instruction set chosen at run time (llmpi/simd.h) either:
 * replicas on unlike nodes stay bit-identical.
 */
#include "llmpi/optim.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "llmpi/simd.h"
#include "llmpi/util.h"

float sched_lr(const sched_config *s, int step) {
    if (step < s->warmup_steps) return s->lr * (float)(step + 1) / (float)s->warmup_steps;
    float min_lr = s->lr * s->min_lr_frac;
    int span = s->max_steps - 1 - s->warmup_steps;
    double p = span > 0 ? (double)(step - s->warmup_steps) / span : 1.0;
    if (p > 1.0) p = 1.0;
    if (p < 0.0) p = 0.0;
    return (float)(min_lr + 0.5 * (s->lr - min_lr) * (1.0 + cos(M_PI * p)));
}

int optim_adamw_init(optim_adamw *o, size_t n, float beta1, float beta2, float eps, float weight_decay) {
    memset(o, 0, sizeof *o);
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->weight_decay = weight_decay;
    o->n = n;
    o->m = ll_calloc_big(o->n * sizeof(float));
    o->v = ll_calloc_big(o->n * sizeof(float));
    if (!o->m || !o->v) { optim_adamw_free(o); return -1; }
    return 0;
}

void optim_adamw_free(optim_adamw *o) {
    ll_free_big(o->m);
    ll_free_big(o->v);
    o->m = o->v = NULL;
}

#define NORM_BLOCK 4096
#define NORM_GROUP 2048   /* blocks per parallel pass: 16 KiB of partial sums on the stack */

double optim_grad_norm(const float *grads, size_t n, float scale) {
    size_t nblocks = (n + NORM_BLOCK - 1) / NORM_BLOCK;
    /* blocks summed in order, NORM_GROUP at a time: no allocation (a failed
     * one would turn a good step into a NaN one), the same sum as one pass */
    double partial[NORM_GROUP];
    double total = 0.0;
    for (size_t g0 = 0; g0 < nblocks; g0 += NORM_GROUP) {
        size_t g1 = g0 + NORM_GROUP < nblocks ? g0 + NORM_GROUP : nblocks;
#pragma omp parallel for schedule(static)
        for (size_t b = g0; b < g1; b++) {
            size_t i1 = (b + 1) * NORM_BLOCK < n ? (b + 1) * NORM_BLOCK : n;
            double s = 0.0;
            for (size_t i = b * NORM_BLOCK; i < i1; i++) s += (double)grads[i] * grads[i];
            partial[b - g0] = s;
        }
        for (size_t b = g0; b < g1; b++) total += partial[b - g0];
    }
    return sqrt(total) * fabs((double)scale);
}

/* AdamW on one chunk of at most ADAMW_CHUNK elements, in torch.optim.AdamW's
 * operation order: p *= 1 - lr*wd;  p -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps).
 * Element-wise, so every instruction-set version gives the same bits. */
LL_MULTIVERSION
static void adamw_chunk(float *p, const float *g, float *m, float *v, size_t n, float decay, float b1, float b2,
                        float step_size, float inv_sqrt_bc2, float eps, float gscale) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float grad = g[i] * gscale;
        float mi = b1 * m[i] + (1.0f - b1) * grad;
        float vi = b2 * v[i] + (1.0f - b2) * grad * grad;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * decay - step_size * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
    }
}

#define ADAMW_CHUNK 8192

/* AdamW on one contiguous range, chunks spread over the threads. */
static void adamw_range(float *p, const float *g, float *m, float *v, size_t n, float lr, float wd, float b1,
                        float b2, float step_size, float inv_sqrt_bc2, float eps, float gscale) {
    float decay = 1.0f - lr * wd;
    size_t chunks = (n + ADAMW_CHUNK - 1) / ADAMW_CHUNK;
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < chunks; c++) {
        size_t i0 = c * ADAMW_CHUNK, len = n - i0 < ADAMW_CHUNK ? n - i0 : ADAMW_CHUNK;
        adamw_chunk(p + i0, g + i0, m + i0, v + i0, len, decay, b1, b2, step_size, inv_sqrt_bc2, eps, gscale);
    }
}

void optim_adamw_apply(const optim_adamw *o, gpt_model *model, size_t lo, size_t hi, const float *g, float *m,
                       float *v, float lr, int t, float grad_scale) {
    float bc1 = 1.0f - powf(o->beta1, (float)t);
    float bc2 = 1.0f - powf(o->beta2, (float)t);
    float step_size = lr / bc1, inv_sqrt_bc2 = 1.0f / sqrtf(bc2);
    /* the range may cut tensors: walk the tensors it intersects for their decay */
    for (int i = 0; i < model->num_tensors; i++) {
        const gpt_tensor_info *ti = &model->tensors[i];
        size_t a = ti->offset > lo ? ti->offset : lo;
        size_t b = ti->offset + ti->numel < hi ? ti->offset + ti->numel : hi;
        if (a >= b) continue;
        adamw_range(model->params + a, g + (a - lo), m + (a - lo), v + (a - lo), b - a, lr,
                    ti->decay ? o->weight_decay : 0.0f, o->beta1, o->beta2, step_size, inv_sqrt_bc2, o->eps,
                    grad_scale);
    }
}

void optim_adamw_step(optim_adamw *o, gpt_model *model, float lr, int t, float grad_scale) {
    optim_adamw_apply(o, model, 0, model->num_params, model->grads, o->m, o->v, lr, t, grad_scale);
}

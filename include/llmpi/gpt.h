/* gpt.h: the GPT model, forward and backward by hand.
 *
 * Parameters live in one contiguous float buffer, gradients in a second of the
 * same layout, activations in one arena sized up front for (B, T). Layout of
 * the parameter buffer (chosen so the gradients that finish first in backward
 * come first, for bucketed all-reduce):
 *   ln_f.weight (C), ln_f.bias (C),
 *   for layer l = L-1 down to 0:  the layer's 12 tensors, contiguous,
 *   wpe (block_size, C), wte (V, C).
 * Weights follow PyTorch's nn.Linear convention, [out, in], row-major.
 *
 * Loss convention: forward returns the SUM of per-token cross-entropy over
 * targets != -1 and the number of such targets; backward accumulates the
 * gradient of (loss_sum * grad_scale) into grads, so callers choose the
 * normalisation (1/total tokens across micro-steps and ranks).
 */
#ifndef LLMPI_GPT_H
#define LLMPI_GPT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int n_layer, n_head, n_embd, block_size, vocab_size;
} gpt_config;

/* Pointers into the parameter (or gradient) buffer for one layer. */
typedef struct {
    float *ln1w, *ln1b;       /* (C), (C) */
    float *qkvw, *qkvb;       /* (3C, C), (3C) */
    float *attprojw, *attprojb; /* (C, C), (C) */
    float *ln2w, *ln2b;       /* (C), (C) */
    float *fcw, *fcb;         /* (4C, C), (4C) */
    float *fcprojw, *fcprojb; /* (C, 4C), (C) */
} gpt_layer_tensors;

typedef struct {
    float *lnfw, *lnfb;       /* (C), (C) */
    gpt_layer_tensors *layer; /* n_layer entries, layer[l] is block l */
    float *wpe;               /* (block_size, C) */
    float *wte;               /* (V, C), tied LM head */
} gpt_tensors;

/* One named tensor of the checkpoint layout (PyTorch names). */
typedef struct {
    char name[64];            /* e.g. "h.3.attn.c_attn.weight" */
    int ndim;
    size_t shape[2];
    size_t offset;            /* in floats, into the parameter buffer */
    size_t numel;
    int decay;                /* 1: 2-D weight, gets weight decay */
} gpt_tensor_info;

typedef struct gpt_acts gpt_acts;  /* opaque activation arena */

/* Called during backward each time a prefix of the gradient buffer becomes
 * final: grads[0 .. ready) will not change again in this call. The prefix
 * grows ln_f, then block L-1, ..., block 0, then (at the end) wpe and wte,
 * so a data-parallel trainer can start reducing while backward goes on. */
typedef void (*gpt_grads_ready_fn)(void *ctx, size_t ready);

typedef struct {
    gpt_config cfg;
    size_t num_params;
    float *params;            /* (num_params) */
    float *grads;             /* (num_params), NULL until gpt_alloc_grads */
    gpt_tensors p, g;         /* named views into params / grads */
    int num_tensors;
    gpt_tensor_info *tensors; /* checkpoint order: wte, wpe, h.0..., ln_f */
    gpt_acts *acts;           /* sized for acts_B x acts_T */
    int acts_B, acts_T;
    int logits_chunk;         /* rows of logits materialised at once */
    int grads_stale;          /* set by gpt_zero_grads: next backward overwrites */
    gpt_grads_ready_fn grads_ready; /* optional, see above */
    void *grads_ready_ctx;
} gpt_model;

/* The largest model and activation arena gpt_create and gpt_alloc_acts
 * accept (cfg_validate checks a run's config against them before anything
 * is allocated): far beyond what one CPU rank trains, far below where size
 * arithmetic could overflow. */
#define GPT_MAX_PARAMS ((size_t)1 << 33)      /* 8.6e9 floats: 32 GiB per copy */
#define GPT_MAX_ACTS_BYTES ((size_t)1 << 38)  /* 256 GiB */

/* Allocates parameters (uninitialised) and the tensor table. -1 on bad shape,
 * more than GPT_MAX_PARAMS parameters, or out of memory. */
int gpt_create(gpt_model *m, const gpt_config *cfg);
void gpt_free(gpt_model *m);
/* Floats of the parameters (= of the gradients); bytes of the activation
 * arena at (B, T). Both saturate at SIZE_MAX instead of wrapping (absurd or
 * negative shapes), so a bound check on the result is always sound. */
size_t gpt_count_params(const gpt_config *cfg);
size_t gpt_acts_bytes(const gpt_config *cfg, int B, int T, int with_backward);
/* GPT-2 init: N(0, 0.02), residual projections scaled 1/sqrt(2L), LN (1, 0),
 * biases 0, seeded. */
void gpt_init_weights(gpt_model *m, uint64_t seed);
int gpt_alloc_grads(gpt_model *m);
/* Zeroes the gradients lazily, in O(1): they are marked stale, and the next
 * gpt_forward_backward writes them instead of adding to them (no memset pass,
 * and the weight-gradient sgemms run with beta = 0). Until that backward, the
 * buffer's contents are undefined. */
void gpt_zero_grads(gpt_model *m);
/* (Re)sizes the activation arena for batches up to B x T (T <= block_size,
 * B*T <= INT_MAX, at most GPT_MAX_ACTS_BYTES). -1 with one line otherwise. */
int gpt_alloc_acts(gpt_model *m, int B, int T, int with_backward);

/* Forward pass. targets (B*T, -1 = ignore) may be NULL. Returns the loss sum
 * and the counted targets. If logits_out is non-NULL it receives (B, T, V)
 * logits; if last_logits_out is non-NULL it receives the (B, V) logits of
 * the last position. */
int gpt_forward(gpt_model *m, const int *inputs, const int *targets, int B, int T,
                double *loss_sum, long *n_targets, float *logits_out, float *last_logits_out);

/* Forward and backward on one micro-batch: grads += d(loss_sum*grad_scale)/dparams.
 * The LM head and cross-entropy are fused and chunked so the full (B,T,V)
 * logits tensor never exists. */
int gpt_forward_backward(gpt_model *m, const int *inputs, const int *targets, int B, int T,
                         float grad_scale, double *loss_sum, long *n_targets);

/* FLOPs of one training token: 6N + 12 L T C (N counts the tied embedding once). */
double gpt_flops_per_token(const gpt_config *cfg, int T);

/* Per-phase time accounting of the last forward/backward (seconds). */
typedef struct { double matmul, attention, elementwise, lm_head; } gpt_profile;
extern gpt_profile gpt_prof;

/* ---- inference: KV cache (src/model/gpt_infer.c) ----
 *
 * Generation feeds ids to the model a few at a time and keeps each layer's
 * keys and values of the positions seen so far, so a new token costs one
 * matrix-vector pass over the weights instead of a forward over the whole
 * context. Invariants:
 * - k and v hold, per layer and head, one hd-vector per position (layout
 *   (L, H, cap, hd)); positions [0, n) are filled, in order; cap is the
 *   model's block_size (positions index wpe, so they cannot go beyond it).
 * - A call with several ids runs them as one batched forward on sgemm, the
 *   same kernels and shapes as gpt_forward (on an empty cache its logits are
 *   gpt_forward's, bit for bit); a call with one id runs matrix-vector
 *   products (sgemv) and a fused attention over the cache.
 * - Threads as in training: OpenMP over rows and heads, OpenBLAS inside.
 * The model is only read: any number of caches may share one gpt_model.
 */
typedef struct {
    gpt_config cfg;
    int cap;                  /* positions the cache holds: block_size */
    int n;                    /* positions filled */
    int chunk;                /* rows one batched step runs (scratch size) */
    float *k, *v;             /* (L, H, cap, hd) each */
    float *mem;               /* the scratch below, one allocation */
    float *x, *ln, *mean, *rstd, *qkv, *atty, *fch, *fgelu, *att;
} gpt_kv;

/* Allocates a cache for cfg's block_size and scratch for batched steps of up
 * to chunk rows (chunk <= 0 or > block_size: block_size; longer inputs run in
 * several steps). 0, or -1 with one line (bad shape, out of memory). */
int gpt_kv_init(gpt_kv *kv, const gpt_config *cfg, int chunk);
/* Frees it; safe on a zeroed or already freed cache. */
void gpt_kv_free(gpt_kv *kv);
/* Keeps the first n positions (n <= kv->n) and forgets the rest: a later
 * call continues at position n. gpt_kv_truncate(kv, 0) empties the cache. */
void gpt_kv_truncate(gpt_kv *kv, int n);
/* Runs ids[0..n) at positions kv->n .. kv->n + n - 1, appends their keys and
 * values, and writes the logits (V) after the last one to logits (NULL:
 * not computed). -1 with one line if kv->n + n exceeds cap, an id is outside
 * the vocabulary, or the cache was made for another shape; the cache is
 * unchanged then. */
int gpt_kv_forward(const gpt_model *m, gpt_kv *kv, const int *ids, int n, float *logits);

#endif

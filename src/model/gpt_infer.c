/* gpt_infer.c: the GPT forward for generation, on a per-layer KV cache.
 *
 * Invariants (see the gpt_kv section of gpt.h):
 * - The cache holds, per layer and head, the key and value hd-vectors of
 *   positions [0, n) in order, layout (L, H, cap, hd): a head's keys are one
 *   contiguous (positions, hd) matrix, which both the sgemm of a batched step
 *   and the vector loop of a single step read in order.
 * - A batched step (several ids) is gpt.c's forward_blocks for B = 1 with
 *   the keys and values taken from the cache: the same kernels (gpt_kernels),
 *   the same sgemm shapes, scale, bias order and softmax loop, so on an empty
 *   cache its result is gpt_forward's bit for bit. The scratch holds one
 *   layer's activations for `chunk` rows (nothing is kept for backward).
 * - A single step (one id) reads every weight once through matvec (one row
 *   at a time per thread), the bandwidth-bound shape of decoding at batch 1;
 *   its attention is a fused loop per head. Its sums run in another order
 *   than sgemm's, so its logits equal a full forward's to float rounding
 *   (tests: rel 1e-5), not in bits; they do not depend on the thread count.
 * - Nothing here writes the model: caches sharing one model are independent.
 */
#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "gpt_kernels.h"
#include "llmpi/gpt.h"
#include "llmpi/simd.h"
#include "llmpi/util.h"

/* Floats of the batched-step scratch for `chunk` rows (one layer). */
static size_t scratch_floats(const gpt_config *c, int chunk) {
    size_t C = (size_t)c->n_embd, R = (size_t)chunk, H = (size_t)c->n_head, cap = (size_t)c->block_size;
    return R * C          /* x */
         + R * C          /* ln */
         + 2 * R          /* mean, rstd */
         + R * 3 * C      /* qkv */
         + R * C          /* atty */
         + 2 * R * 4 * C  /* fch, fgelu */
         + H * R * cap;   /* att: per head, chunk rows of at most cap scores */
}

/* See gpt.h. */
int gpt_kv_init(gpt_kv *kv, const gpt_config *cfg, int chunk) {
    memset(kv, 0, sizeof *kv);
    if (cfg->n_layer < 1 || cfg->n_head < 1 || cfg->n_embd < 1 || cfg->block_size < 1 ||
        cfg->n_embd % cfg->n_head != 0) {
        ll_error("kv cache: invalid model shape n_layer=%d n_head=%d n_embd=%d block_size=%d", cfg->n_layer,
                 cfg->n_head, cfg->n_embd, cfg->block_size);
        return -1;
    }
    if (chunk <= 0 || chunk > cfg->block_size) chunk = cfg->block_size;
    size_t per = (size_t)cfg->n_layer * cfg->block_size * cfg->n_embd;
    kv->cfg = *cfg;
    kv->cap = cfg->block_size;
    kv->chunk = chunk;
    kv->k = ll_malloc(per * sizeof(float));
    kv->v = ll_malloc(per * sizeof(float));
    kv->mem = ll_malloc(scratch_floats(cfg, chunk) * sizeof(float));
    if (!kv->k || !kv->v || !kv->mem) { gpt_kv_free(kv); return -1; }
    size_t C = (size_t)cfg->n_embd, R = (size_t)chunk;
    float *p = kv->mem;
    kv->x = p; p += R * C;
    kv->ln = p; p += R * C;
    kv->mean = p; p += R;
    kv->rstd = p; p += R;
    kv->qkv = p; p += R * 3 * C;
    kv->atty = p; p += R * C;
    kv->fch = p; p += R * 4 * C;
    kv->fgelu = p; p += R * 4 * C;
    kv->att = p;
    return 0;
}

/* See gpt.h. */
void gpt_kv_free(gpt_kv *kv) {
    free(kv->k);
    free(kv->v);
    free(kv->mem);
    memset(kv, 0, sizeof *kv);
}

/* See gpt.h. */
void gpt_kv_truncate(gpt_kv *kv, int n) {
    if (n >= 0 && n < kv->n) kv->n = n;
}

/* Row t (of Tn) of the scores p (row stride ld) becomes the softmax of its
 * first pos0 + t + 1 entries followed by zeros: gpt.c's causal softmax with
 * the rows shifted by the pos0 positions already in the cache (for pos0 = 0
 * the same loop, hence the same bits). */
LL_MULTIVERSION
static void causal_softmax_rows_from(float *p, int Tn, int ld, int pos0) {
    for (int t = 0; t < Tn; t++) {
        float *row = p + (size_t)t * ld;
        int last = pos0 + t;
        float mx = row[0];
#pragma omp simd reduction(max : mx)
        for (int j = 1; j <= last; j++) mx = row[j] > mx ? row[j] : mx;
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j <= last; j++) { float e = fast_expf(row[j] - mx); row[j] = e; sum += e; }
        float inv = 1.0f / sum;
#pragma omp simd
        for (int j = 0; j <= last; j++) row[j] *= inv;
        for (int j = last + 1; j < ld; j++) row[j] = 0.0f;
    }
}

/* One head, one query: out (hd) = softmax(scale q K^T) V over the P cached
 * positions; scores (P) is scratch. */
LL_MULTIVERSION
static void attend_one(float *out, float *scores, const float *q, const float *K, const float *V, int P, int hd,
                       float scale) {
    float mx = -INFINITY;
    for (int j = 0; j < P; j++) {
        const float *kj = K + (size_t)j * hd;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int d = 0; d < hd; d++) s += q[d] * kj[d];
        s *= scale;
        scores[j] = s;
        mx = s > mx ? s : mx;
    }
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < P; j++) { float e = fast_expf(scores[j] - mx); scores[j] = e; sum += e; }
    float inv = 1.0f / sum;
    for (int d = 0; d < hd; d++) out[d] = 0.0f;
    for (int j = 0; j < P; j++) {
        const float *vj = V + (size_t)j * hd;
        float pj = scores[j] * inv;
#pragma omp simd
        for (int d = 0; d < hd; d++) out[d] += pj * vj[d];
    }
}

/* Copies the keys and values of rows [0, Tn) of qkv (Tn, 3C) into layer l's
 * cache at positions pos0.. */
static void store_kv(gpt_kv *kv, int l, const float *qkv, int Tn, int pos0) {
    int C = kv->cfg.n_embd, H = kv->cfg.n_head, hd = C / H;
    size_t layer = (size_t)l * kv->cap * C;
#pragma omp parallel for schedule(static)
    for (int h = 0; h < H; h++) {
        float *kh = kv->k + layer + (size_t)h * kv->cap * hd, *vh = kv->v + layer + (size_t)h * kv->cap * hd;
        for (int t = 0; t < Tn; t++) {
            const float *row = qkv + (size_t)t * 3 * C;
            memcpy(kh + (size_t)(pos0 + t) * hd, row + C + h * hd, hd * sizeof(float));
            memcpy(vh + (size_t)(pos0 + t) * hd, row + 2 * C + h * hd, hd * sizeof(float));
        }
    }
}

/* out (M, N) = inp (M, K) @ W^T + beta out: gpt.c's linear_forward. */
static void linear(float *out, const float *inp, const float *w, int M, int N, int K, float beta) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, inp, K, w, K, beta, out, N);
}

/* y[n0..n1) = W[n0..n1) x + beta y, one row at a time: 32 running sums
 * over a row, added in a fixed order, so a row's bits do not depend on the
 * thread that computes it or on the instruction set (no reassociation). A
 * single sequential stream per thread is what the hardware prefetcher reads
 * fastest: 26.9 GB/s on one core of the dev VM (the 124M shape's weights,
 * out of cache) against 16.8 for OpenBLAS's sgemv. */
LL_MULTIVERSION
static void matvec_rows(float *y, const float *x, const float *w, int n0, int n1, int K, float beta) {
    if (K < 128) {   /* short rows (tiny models): the 32 sums would cost more than the row */
        for (int n = n0; n < n1; n++) {
            const float *r = w + (size_t)n * K;
            float sum = 0.0f;
            for (int k = 0; k < K; k++) sum += r[k] * x[k];
            y[n] = beta != 0.0f ? sum + beta * y[n] : sum;
        }
        return;
    }
    for (int n = n0; n < n1; n++) {
        const float *r = w + (size_t)n * K;
        float acc[32] = {0};
        int k = 0;
        for (; k + 32 <= K; k += 32)
            for (int i = 0; i < 32; i++) acc[i] += r[k + i] * x[k + i];
        float sum = 0.0f;
        for (int i = 0; i < 32; i++) sum += acc[i];
        for (; k < K; k++) sum += r[k] * x[k];
        y[n] = beta != 0.0f ? sum + beta * y[n] : sum;
    }
}

/* y (N) = W (N, K) x + beta y, the rows split evenly over the threads. */
static void matvec(float *y, const float *x, const float *w, int N, int K, float beta) {
    if (omp_get_max_threads() == 1 || (size_t)N * (size_t)K < 65536) {
        matvec_rows(y, x, w, 0, N, K, beta);
        return;
    }
#pragma omp parallel
    {
        long t = omp_get_thread_num(), nt = omp_get_num_threads();
        matvec_rows(y, x, w, (int)(N * t / nt), (int)(N * (t + 1) / nt), K, beta);
    }
}

/* The blocks for Tn rows at positions pos0.. (x holds their embeddings on
 * entry, the last block's output on return); Tn == 1 takes the matvec path. */
static void blocks_step(const gpt_model *m, gpt_kv *kv, int Tn, int pos0) {
    const gpt_config *c = &m->cfg;
    int C = c->n_embd, H = c->n_head, L = c->n_layer, hd = C / H, P = pos0 + Tn;
    float scale = 1.0f / sqrtf((float)hd);
    size_t R = (size_t)Tn;
    float *x = kv->x, *ln = kv->ln, *qkv = kv->qkv, *atty = kv->atty;
    for (int l = 0; l < L; l++) {
        const gpt_layer_tensors *w = &m->p.layer[l];
        size_t layer = (size_t)l * kv->cap * C;
        gpt_layernorm_forward(ln, kv->mean, kv->rstd, x, w->ln1w, w->ln1b, R, C);
        gpt_rows_set_bias(qkv, NULL, w->qkvb, R, 3 * C);
        if (Tn == 1) matvec(qkv, ln, w->qkvw, 3 * C, C, 1.0f);
        else linear(qkv, ln, w->qkvw, Tn, 3 * C, C, 1.0f);
        store_kv(kv, l, qkv, Tn, pos0);
#pragma omp parallel for schedule(static)
        for (int h = 0; h < H; h++) {
            const float *K = kv->k + layer + (size_t)h * kv->cap * hd, *V = kv->v + layer + (size_t)h * kv->cap * hd;
            float *p = kv->att + (size_t)h * R * kv->cap;
            if (Tn == 1) {
                attend_one(atty + h * hd, p, qkv + h * hd, K, V, P, hd, scale);
            } else {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tn, P, hd, scale, qkv + h * hd, 3 * C, K, hd,
                            0.0f, p, P);
                causal_softmax_rows_from(p, Tn, P, pos0);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tn, hd, P, 1.0f, p, P, V, hd, 0.0f,
                            atty + h * hd, C);
            }
        }
        gpt_rows_set_bias(x, x, w->attprojb, R, C);
        if (Tn == 1) matvec(x, atty, w->attprojw, C, C, 1.0f);
        else linear(x, atty, w->attprojw, Tn, C, C, 1.0f);
        gpt_layernorm_forward(ln, kv->mean, kv->rstd, x, w->ln2w, w->ln2b, R, C);
        gpt_rows_set_bias(kv->fch, NULL, w->fcb, R, 4 * C);
        if (Tn == 1) matvec(kv->fch, ln, w->fcw, 4 * C, C, 1.0f);
        else linear(kv->fch, ln, w->fcw, Tn, 4 * C, C, 1.0f);
        gpt_gelu_forward(kv->fgelu, kv->fch, R * 4 * C);
        gpt_rows_set_bias(x, x, w->fcprojb, R, C);
        if (Tn == 1) matvec(x, kv->fgelu, w->fcprojw, C, 4 * C, 1.0f);
        else linear(x, kv->fgelu, w->fcprojw, Tn, C, 4 * C, 1.0f);
    }
}

/* See gpt.h. */
int gpt_kv_forward(const gpt_model *m, gpt_kv *kv, const int *ids, int n, float *logits) {
    const gpt_config *c = &m->cfg;
    if (!kv->k || c->n_layer != kv->cfg.n_layer || c->n_head != kv->cfg.n_head || c->n_embd != kv->cfg.n_embd ||
        c->block_size != kv->cfg.block_size) {
        ll_error("kv cache: not made for this model's shape");
        return -1;
    }
    if (n < 1 || n > kv->cap - kv->n) {
        ll_error("kv cache: %d new positions do not fit: %d of %d are in use", n, kv->n, kv->cap);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size) {
            ll_error("kv cache: input token %d at position %d outside vocabulary [0, %d)", ids[i], i, c->vocab_size);
            return -1;
        }
    int C = c->n_embd;
    for (int done = 0; done < n;) {
        int Tn = n - done < kv->chunk ? n - done : kv->chunk, pos0 = kv->n;
#pragma omp parallel for schedule(static)
        for (int i = 0; i < Tn; i++)
            gpt_add_row(kv->x + (size_t)i * C, m->p.wte + (size_t)ids[done + i] * C,
                        m->p.wpe + (size_t)(pos0 + i) * C, C);
        blocks_step(m, kv, Tn, pos0);
        kv->n += Tn;
        done += Tn;
        if (done == n && logits) {
            float *last = kv->x + (size_t)(Tn - 1) * C;
            gpt_layernorm_forward(kv->ln, kv->mean, kv->rstd, last, m->p.lnfw, m->p.lnfb, 1, C);
            if (Tn == 1) matvec(logits, kv->ln, m->p.wte, c->vocab_size, C, 0.0f);
            else linear(logits, kv->ln, m->p.wte, 1, c->vocab_size, C, 0.0f);
        }
    }
    return 0;
}

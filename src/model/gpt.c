/* gpt.c: GPT-2 forward and backward by hand, every matmul through cblas_sgemm.
 *
 * Invariants:
 * - params and grads are two flat buffers of the same layout (gpt.h); the
 *   named views m->p / m->g and the checkpoint table m->tensors point into them.
 * - activations of one micro-batch live in one arena (gpt_acts) sized for
 *   acts_B x acts_T at allocation; a call may use any B <= acts_B, T <= acts_T.
 * - the LM head and the cross-entropy are fused and chunked by rows: at most
 *   logits_chunk x V logits exist at once, in training their gradient is
 *   consumed (into dlnf and dwte) before the next chunk is computed.
 * - results are bit-identical for the same inputs whatever the thread count
 *   (row-parallel kernels, blocked reductions, per-(b,h) attention).
 */
#include "llmpi/gpt.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpt_kernels.h"
#include "llmpi/simd.h"
#include "llmpi/util.h"

gpt_profile gpt_prof;

/* ---------------------------------------------------------------------------
 * Parameter layout
 * ------------------------------------------------------------------------- */

enum { LAYER_TENSORS = 12 };

/* Size arithmetic saturates at SIZE_MAX instead of wrapping, so an absurd
 * shape or batch yields a size that every bound check refuses, never a small
 * wrapped one that would be allocated and then overrun. */
static size_t sat_add(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }
static size_t sat_mul(size_t a, size_t b) { return b != 0 && a > SIZE_MAX / b ? SIZE_MAX : a * b; }
/* a * b * c * d, saturating (1 for unused factors). */
static size_t sat_prod(size_t a, size_t b, size_t c, size_t d) { return sat_mul(sat_mul(a, b), sat_mul(c, d)); }

/* floats of one transformer block's parameters: 12 C^2 + 13 C */
static size_t layer_numel(size_t C) {
    return sat_add(sat_prod(12, C, C, 1), sat_mul(13, C));
}

/* See gpt.h. Negative fields count as SIZE_MAX (refused by every bound). */
size_t gpt_count_params(const gpt_config *cfg) {
    if (cfg->n_layer < 0 || cfg->n_embd < 0 || cfg->block_size < 0 || cfg->vocab_size < 0) return SIZE_MAX;
    size_t C = (size_t)cfg->n_embd;
    size_t n = sat_mul(2, C);
    n = sat_add(n, sat_mul((size_t)cfg->n_layer, layer_numel(C)));
    n = sat_add(n, sat_mul((size_t)cfg->block_size, C));
    return sat_add(n, sat_mul((size_t)cfg->vocab_size, C));
}

static void add_tensor(gpt_model *m, const char *name, int ndim, size_t d0, size_t d1, const float *base,
                       const float *ptr) {
    gpt_tensor_info *t = &m->tensors[m->num_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = ndim == 2 ? d1 : 1;
    t->numel = d0 * t->shape[1];
    t->offset = (size_t)(ptr - base);
    t->decay = ndim == 2;
}

/* Points the named views of one buffer (params or grads) into it. */
static void carve(const gpt_config *cfg, float *buf, gpt_tensors *v) {
    size_t C = cfg->n_embd;
    float *p = buf;
    v->lnfw = p; p += C;
    v->lnfb = p; p += C;
    for (int l = cfg->n_layer - 1; l >= 0; l--) {
        gpt_layer_tensors *t = &v->layer[l];
        t->ln1w = p; p += C;
        t->ln1b = p; p += C;
        t->qkvw = p; p += 3 * C * C;
        t->qkvb = p; p += 3 * C;
        t->attprojw = p; p += C * C;
        t->attprojb = p; p += C;
        t->ln2w = p; p += C;
        t->ln2b = p; p += C;
        t->fcw = p; p += 4 * C * C;
        t->fcb = p; p += 4 * C;
        t->fcprojw = p; p += 4 * C * C;
        t->fcprojb = p; p += C;
    }
    v->wpe = p; p += (size_t)cfg->block_size * C;
    v->wte = p;
}

static void build_tensor_table(gpt_model *m) {
    const gpt_config *c = &m->cfg;
    size_t C = c->n_embd;
    const float *base = m->params;
    char name[64];
    m->num_tensors = 0;
    add_tensor(m, "wte", 2, c->vocab_size, C, base, m->p.wte);
    add_tensor(m, "wpe", 2, c->block_size, C, base, m->p.wpe);
    for (int l = 0; l < c->n_layer; l++) {
        const gpt_layer_tensors *t = &m->p.layer[l];
#define T1(field, suffix, n) snprintf(name, sizeof name, "h.%d.%s", l, suffix), add_tensor(m, name, 1, n, 1, base, t->field)
#define T2(field, suffix, r, k) snprintf(name, sizeof name, "h.%d.%s", l, suffix), add_tensor(m, name, 2, r, k, base, t->field)
        T1(ln1w, "ln_1.weight", C);
        T1(ln1b, "ln_1.bias", C);
        T2(qkvw, "attn.c_attn.weight", 3 * C, C);
        T1(qkvb, "attn.c_attn.bias", 3 * C);
        T2(attprojw, "attn.c_proj.weight", C, C);
        T1(attprojb, "attn.c_proj.bias", C);
        T1(ln2w, "ln_2.weight", C);
        T1(ln2b, "ln_2.bias", C);
        T2(fcw, "mlp.c_fc.weight", 4 * C, C);
        T1(fcb, "mlp.c_fc.bias", 4 * C);
        T2(fcprojw, "mlp.c_proj.weight", C, 4 * C);
        T1(fcprojb, "mlp.c_proj.bias", C);
#undef T1
#undef T2
    }
    add_tensor(m, "ln_f.weight", 1, C, 1, base, m->p.lnfw);
    add_tensor(m, "ln_f.bias", 1, C, 1, base, m->p.lnfb);
}

int gpt_create(gpt_model *m, const gpt_config *cfg) {
    memset(m, 0, sizeof *m);
    if (cfg->n_layer < 1 || cfg->n_head < 1 || cfg->n_embd < 1 || cfg->block_size < 1 ||
        cfg->vocab_size < 2 || cfg->n_embd % cfg->n_head != 0 || cfg->n_layer > 1024 ||
        cfg->n_embd > 65536 || cfg->block_size > (1 << 20) || cfg->vocab_size > (1 << 24)) {
        ll_error("model: invalid shape n_layer=%d n_head=%d n_embd=%d block_size=%d vocab_size=%d",
                 cfg->n_layer, cfg->n_head, cfg->n_embd, cfg->block_size, cfg->vocab_size);
        return -1;
    }
    size_t num_params = gpt_count_params(cfg);
    if (num_params > GPT_MAX_PARAMS) {
        ll_error("model: n_layer=%d n_embd=%d block_size=%d vocab_size=%d gives %.3g parameters, more than the "
                 "%.3g this build accepts", cfg->n_layer, cfg->n_embd, cfg->block_size, cfg->vocab_size,
                 (double)num_params, (double)GPT_MAX_PARAMS);
        return -1;
    }
    m->cfg = *cfg;
    m->num_params = num_params;
    m->params = ll_calloc_big(m->num_params * sizeof(float));
    m->p.layer = ll_calloc(cfg->n_layer, sizeof(gpt_layer_tensors));
    m->g.layer = ll_calloc(cfg->n_layer, sizeof(gpt_layer_tensors));
    m->tensors = ll_calloc((size_t)cfg->n_layer * LAYER_TENSORS + 4, sizeof(gpt_tensor_info));
    if (!m->params || !m->p.layer || !m->g.layer || !m->tensors) { gpt_free(m); return -1; }
    carve(cfg, m->params, &m->p);
    build_tensor_table(m);
    return 0;
}

int gpt_alloc_grads(gpt_model *m) {
    if (m->grads) return 0;
    m->grads = ll_calloc_big(m->num_params * sizeof(float));
    if (!m->grads) return -1;
    carve(&m->cfg, m->grads, &m->g);
    return 0;
}

void gpt_zero_grads(gpt_model *m) { m->grads_stale = 1; }

/* GPT-2 initialisation, one RNG stream per tensor so the values do not depend
 * on the buffer layout, nor on the thread count: the tensors are spread over
 * the OpenMP threads (dynamically, the table starts with the biggest, wte). */
void gpt_init_weights(gpt_model *m, uint64_t seed) {
    float resid_std = 0.02f / sqrtf(2.0f * m->cfg.n_layer);
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < m->num_tensors; i++) {
        const gpt_tensor_info *t = &m->tensors[i];
        float *p = m->params + t->offset;
        const char *suffix = strrchr(t->name, '.');
        int is_bias = suffix && !strcmp(suffix, ".bias");
        int is_ln_weight = strstr(t->name, "ln_") && suffix && !strcmp(suffix, ".weight");
        if (is_bias) { memset(p, 0, t->numel * sizeof(float)); continue; }
        if (is_ln_weight) { for (size_t j = 0; j < t->numel; j++) p[j] = 1.0f; continue; }
        float std = (strstr(t->name, "c_proj.weight") != NULL) ? resid_std : 0.02f;
        ll_rng rng;
        ll_rng_seed(&rng, seed, 1000 + (uint64_t)i);
        for (size_t j = 0; j < t->numel; j++) p[j] = (float)(std * ll_rng_normal(&rng));
    }
}

/* ---------------------------------------------------------------------------
 * Activation arena
 * ------------------------------------------------------------------------- */

struct gpt_acts {
    float *encoded;                   /* (BT, C) embeddings, input of block 0 */
    float *ln1, *ln1_mean, *ln1_rstd; /* (L, BT, C), (L, BT), (L, BT) */
    float *qkv;                       /* (L, BT, 3C) */
    float *att;                       /* (L, B, H, T, T) softmax probabilities */
    float *atty;                      /* (L, BT, C) attention output, pre-projection */
    float *res2;                      /* (L, BT, C) residual after attention */
    float *ln2, *ln2_mean, *ln2_rstd; /* (L, BT, C), (L, BT), (L, BT) */
    float *fch, *fch_gelu;            /* (L, BT, 4C) */
    float *res3;                      /* (L, BT, C) residual after MLP: block output */
    float *lnf, *lnf_mean, *lnf_rstd; /* (BT, C), (BT), (BT) */
    float *logits;                    /* (logits_chunk, V) */
    float *row_loss;                  /* (BT) */
    /* backward scratch, NULL in forward-only arenas */
    float *dres;                      /* (BT, C) gradient of the residual stream */
    float *dC;                        /* (BT, C) */
    float *dfc;                       /* (BT, 4C) */
    float *dqkv;                      /* (BT, 3C) */
    float *dprob;                     /* (threads, T, T) */
    float *partials;                  /* (ceil(BT/64), 2C) */
    float *mem;
    size_t bytes;
};

/* Rows of logits held at once: a budget of about 64 MB, split into equal
 * chunks (few and large: the dwte update per chunk re-reads all of dwte, and
 * its sgemm has the chunk's rows as inner dimension). */
static size_t logits_chunk_rows(size_t BT, int V) {
    size_t max_rows = ((size_t)16 << 20) / (size_t)(V > 0 ? V : 1);
    if (max_rows < 64) max_rows = 64;
    size_t chunks = (BT + max_rows - 1) / max_rows;
    return (BT + chunks - 1) / chunks;
}

/* Lays the arena out (buf == NULL: only counts) and returns its float count,
 * SIZE_MAX when it does not fit in size_t (then buf must be NULL). */
static size_t acts_layout(struct gpt_acts *a, float *buf, const gpt_config *c, int B, int T, int bwd,
                          int threads) {
    /* negative fields become huge and saturate: refused by the caller */
    size_t L = (size_t)c->n_layer, C = (size_t)c->n_embd, H = (size_t)c->n_head, V = (size_t)c->vocab_size;
    size_t Bs = (size_t)B, Ts = (size_t)T, BT = sat_mul(Bs, Ts);
    size_t off = 0;
#define TAKE(field, n) do { a->field = buf ? buf + off : NULL; off = sat_add(off, (n)); \
        off = off > SIZE_MAX - 15 ? SIZE_MAX : (off + 15) & ~(size_t)15; } while (0)
    TAKE(encoded, sat_mul(BT, C));
    TAKE(ln1, sat_prod(L, BT, C, 1)); TAKE(ln1_mean, sat_mul(L, BT)); TAKE(ln1_rstd, sat_mul(L, BT));
    TAKE(qkv, sat_prod(L, BT, 3, C));
    TAKE(att, sat_mul(sat_prod(L, Bs, H, Ts), Ts));
    TAKE(atty, sat_prod(L, BT, C, 1));
    TAKE(res2, sat_prod(L, BT, C, 1));
    TAKE(ln2, sat_prod(L, BT, C, 1)); TAKE(ln2_mean, sat_mul(L, BT)); TAKE(ln2_rstd, sat_mul(L, BT));
    TAKE(fch, sat_prod(L, BT, 4, C)); TAKE(fch_gelu, sat_prod(L, BT, 4, C));
    TAKE(res3, sat_prod(L, BT, C, 1));
    TAKE(lnf, sat_mul(BT, C)); TAKE(lnf_mean, BT); TAKE(lnf_rstd, BT);
    TAKE(logits, sat_mul(logits_chunk_rows(BT, c->vocab_size), V));
    TAKE(row_loss, BT);
    if (bwd) {
        TAKE(dres, sat_mul(BT, C));
        TAKE(dC, sat_mul(BT, C));
        TAKE(dfc, sat_prod(BT, 4, C, 1));
        TAKE(dqkv, sat_prod(BT, 3, C, 1));
        TAKE(dprob, sat_prod((size_t)threads, Ts, Ts, 1));
        TAKE(partials, sat_prod(BT / GPT_ROW_BLOCK + (BT % GPT_ROW_BLOCK != 0), 2, C, 1));
    } else {
        a->dres = a->dC = a->dfc = a->dqkv = a->dprob = a->partials = NULL;
    }
#undef TAKE
    return off;
}

/* See gpt.h: SIZE_MAX when the arena would not fit in size_t. */
size_t gpt_acts_bytes(const gpt_config *cfg, int B, int T, int with_backward) {
    struct gpt_acts a;
    return sat_mul(acts_layout(&a, NULL, cfg, B, T, with_backward, omp_get_max_threads()), sizeof(float));
}

int gpt_alloc_acts(gpt_model *m, int B, int T, int with_backward) {
    if (B < 1 || T < 1 || T > m->cfg.block_size) {
        ll_error("model: batch %d x %d does not fit block_size %d", B, T, m->cfg.block_size);
        return -1;
    }
    /* every sgemm takes the batch's rows B*T as an int */
    if ((size_t)B * (size_t)T > INT_MAX) {
        ll_error("model: batch %d x %d = %zu rows, more than the %d one matrix product takes", B, T,
                 (size_t)B * (size_t)T, INT_MAX);
        return -1;
    }
    int threads = omp_get_max_threads();
    struct gpt_acts probe;
    size_t n = acts_layout(&probe, NULL, &m->cfg, B, T, with_backward, threads);
    if (sat_mul(n, sizeof(float)) > GPT_MAX_ACTS_BYTES) {
        ll_error("model: activations for batch %d x %d need %.3g GiB, more than the %.0f GiB this build accepts",
                 B, T, (double)n * sizeof(float) / (1 << 30), (double)GPT_MAX_ACTS_BYTES / (1 << 30));
        return -1;
    }
    if (m->acts) { ll_free_big(m->acts->mem); free(m->acts); m->acts = NULL; }
    struct gpt_acts *a = ll_calloc(1, sizeof *a);
    if (!a) return -1;
    a->mem = ll_calloc_big(n * sizeof(float));
    if (!a->mem) { free(a); return -1; }
    acts_layout(a, a->mem, &m->cfg, B, T, with_backward, threads);
    a->bytes = n * sizeof(float);
    m->acts = a;
    m->acts_B = B;
    m->acts_T = T;
    m->logits_chunk = (int)logits_chunk_rows((size_t)B * T, m->cfg.vocab_size);
    return 0;
}

void gpt_free(gpt_model *m) {
    if (m->acts) { ll_free_big(m->acts->mem); free(m->acts); }
    ll_free_big(m->params);
    ll_free_big(m->grads);
    free(m->p.layer);
    free(m->g.layer);
    free(m->tensors);
    memset(m, 0, sizeof *m);
}

double gpt_flops_per_token(const gpt_config *cfg, int T) {
    return 6.0 * (double)gpt_count_params(cfg) + 12.0 * cfg->n_layer * (double)T * cfg->n_embd;
}

/* ---------------------------------------------------------------------------
 * Matmul helpers (row-major, PyTorch Linear convention W[out, in])
 * ------------------------------------------------------------------------- */

/* out (M, N) = inp (M, K) @ W^T (W: N x K) + beta * out */
static void linear_forward(float *out, const float *inp, const float *w, int M, int N, int K, float beta) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, inp, K, w, K, beta, out, N);
}

/* dinp (M, K) (=|+=) dout (M, N) @ W (N, K);  dW (N, K) = dw_beta dW + dout^T @ inp */
static void linear_backward(float *dinp, float dinp_beta, float *dw, float dw_beta, const float *dout,
                            const float *inp, const float *w, int M, int N, int K) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1.0f, dout, N, inp, K, dw_beta, dw, K);
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N, 1.0f, dout, N, w, K, dinp_beta, dinp, K);
}

/* ---------------------------------------------------------------------------
 * Attention: per (batch, head), scores and outputs through sgemm on strided
 * views of qkv; causal softmax rows; the T x T probabilities are kept.
 * ------------------------------------------------------------------------- */

/* Row t of the T x T scores p becomes softmax(p[t][0..t]) followed by zeros. */
LL_MULTIVERSION
static void causal_softmax_rows(float *p, int T) {
    for (int t = 0; t < T; t++) {
        float *row = p + (size_t)t * T;
        float mx = row[0];
#pragma omp simd reduction(max : mx)
        for (int j = 1; j <= t; j++) mx = row[j] > mx ? row[j] : mx;
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j <= t; j++) { float e = fast_expf(row[j] - mx); row[j] = e; sum += e; }
        float inv = 1.0f / sum;
#pragma omp simd
        for (int j = 0; j <= t; j++) row[j] *= inv;
        for (int j = t + 1; j < T; j++) row[j] = 0.0f;
    }
}

/* dp (T x T, holding dP) becomes dS = P * (dP - sum(P * dP)) on the causal
 * part of each row, zero above the diagonal. */
LL_MULTIVERSION
static void causal_softmax_backward_rows(float *dp, const float *p, int T) {
    for (int t = 0; t < T; t++) {
        const float *pr = p + (size_t)t * T;
        float *dr = dp + (size_t)t * T;
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (int j = 0; j <= t; j++) dot += pr[j] * dr[j];
#pragma omp simd
        for (int j = 0; j <= t; j++) dr[j] = pr[j] * (dr[j] - dot);
        for (int j = t + 1; j < T; j++) dr[j] = 0.0f;
    }
}

static void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int H) {
    int hd = C / H;
    float scale = 1.0f / sqrtf((float)hd);
    size_t C3 = 3 * (size_t)C;
#pragma omp parallel for schedule(static)
    for (long bh = 0; bh < (long)B * H; bh++) {
        int b = (int)(bh / H), h = (int)(bh % H);
        const float *q = qkv + (size_t)b * T * C3 + h * hd;
        const float *k = q + C;
        const float *v = q + 2 * C;
        float *p = att + (size_t)bh * T * T;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, scale, q, C3, k, C3, 0.0f, p, T);
        causal_softmax_rows(p, T);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, p, T, v, C3, 0.0f,
                    out + (size_t)b * T * C + h * hd, C);
    }
}

/* dqkv (written, not accumulated) from dout (B, T, C). */
static void attention_backward(float *dqkv, float *dprob_scratch, const float *dout, const float *att,
                               const float *qkv, int B, int T, int C, int H) {
    int hd = C / H;
    float scale = 1.0f / sqrtf((float)hd);
    size_t C3 = 3 * (size_t)C;
#pragma omp parallel for schedule(static)
    for (long bh = 0; bh < (long)B * H; bh++) {
        int b = (int)(bh / H), h = (int)(bh % H);
        float *dp = dprob_scratch + (size_t)omp_get_thread_num() * T * T;
        const float *p = att + (size_t)bh * T * T;
        const float *q = qkv + (size_t)b * T * C3 + h * hd, *k = q + C, *v = q + 2 * C;
        float *dq = dqkv + (size_t)b * T * C3 + h * hd, *dk = dq + C, *dv = dq + 2 * C;
        const float *dy = dout + (size_t)b * T * C + h * hd;
        /* dP = dY V^T ; dV = P^T dY */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1.0f, dy, C, v, C3, 0.0f, dp, T);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, p, T, dy, C, 0.0f, dv, C3);
        /* softmax backward: dS = P * (dP - sum(P * dP)), causal part only */
        causal_softmax_backward_rows(dp, p, T);
        /* dQ = scale dS K ; dK = scale dS^T Q */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, scale, dp, T, k, C3, 0.0f, dq, C3);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, scale, dp, T, q, C3, 0.0f, dk, C3);
    }
}

/* ---------------------------------------------------------------------------
 * Forward
 * ------------------------------------------------------------------------- */

static int check_call(const gpt_model *m, const int *inputs, const int *targets, int B, int T) {
    if (!m->acts || B < 1 || T < 1 || B > m->acts_B || T > m->acts_T || (size_t)B * T > (size_t)m->acts_B * m->acts_T) {
        ll_error("model: batch %d x %d exceeds the activation arena %d x %d", B, T, m->acts_B, m->acts_T);
        return -1;
    }
    int V = m->cfg.vocab_size;
    for (size_t i = 0; i < (size_t)B * T; i++) {
        if (inputs[i] < 0 || inputs[i] >= V) {
            ll_error("model: input token %d at position %zu outside vocabulary [0, %d)", inputs[i], i, V);
            return -1;
        }
        if (targets && (targets[i] < -1 || targets[i] >= V)) {
            ll_error("model: target %d at position %zu outside vocabulary [0, %d) and not -1", targets[i], i, V);
            return -1;
        }
    }
    return 0;
}

/* Runs the blocks; leaves ln_f output in acts->lnf. */
static void forward_blocks(gpt_model *m, const int *inputs, int B, int T) {
    const gpt_config *c = &m->cfg;
    struct gpt_acts *a = m->acts;
    int C = c->n_embd, H = c->n_head, L = c->n_layer;
    size_t BT = (size_t)B * T, BTmax = (size_t)m->acts_B * m->acts_T;
    size_t att_stride = (size_t)m->acts_B * H * m->acts_T * m->acts_T;
    double t0 = ll_now();

#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < BT; i++)
        gpt_add_row(a->encoded + i * C, m->p.wte + (size_t)inputs[i] * C, m->p.wpe + (i % T) * C, C);
    gpt_prof.elementwise += ll_now() - t0;

    for (int l = 0; l < L; l++) {
        const gpt_layer_tensors *w = &m->p.layer[l];
        const float *res_in = l == 0 ? a->encoded : a->res3 + (l - 1) * BTmax * C;
        float *ln1 = a->ln1 + l * BTmax * C, *ln1_mean = a->ln1_mean + l * BTmax, *ln1_rstd = a->ln1_rstd + l * BTmax;
        float *qkv = a->qkv + l * BTmax * 3 * C, *att = a->att + l * att_stride;
        float *atty = a->atty + l * BTmax * C, *res2 = a->res2 + l * BTmax * C;
        float *ln2 = a->ln2 + l * BTmax * C, *ln2_mean = a->ln2_mean + l * BTmax, *ln2_rstd = a->ln2_rstd + l * BTmax;
        float *fch = a->fch + l * BTmax * 4 * C, *fch_gelu = a->fch_gelu + l * BTmax * 4 * C;
        float *res3 = a->res3 + l * BTmax * C;

        double t = ll_now();
        gpt_layernorm_forward(ln1, ln1_mean, ln1_rstd, res_in, w->ln1w, w->ln1b, BT, C);
        gpt_rows_set_bias(qkv, NULL, w->qkvb, BT, 3 * C);
        double t1 = ll_now(); gpt_prof.elementwise += t1 - t;
        linear_forward(qkv, ln1, w->qkvw, (int)BT, 3 * C, C, 1.0f);
        double t2 = ll_now(); gpt_prof.matmul += t2 - t1;
        attention_forward(atty, att, qkv, B, T, C, H);
        double t3 = ll_now(); gpt_prof.attention += t3 - t2;
        gpt_rows_set_bias(res2, res_in, w->attprojb, BT, C);
        double t4 = ll_now(); gpt_prof.elementwise += t4 - t3;
        linear_forward(res2, atty, w->attprojw, (int)BT, C, C, 1.0f);
        double t5 = ll_now(); gpt_prof.matmul += t5 - t4;
        gpt_layernorm_forward(ln2, ln2_mean, ln2_rstd, res2, w->ln2w, w->ln2b, BT, C);
        gpt_rows_set_bias(fch, NULL, w->fcb, BT, 4 * C);
        double t6 = ll_now(); gpt_prof.elementwise += t6 - t5;
        linear_forward(fch, ln2, w->fcw, (int)BT, 4 * C, C, 1.0f);
        double t7 = ll_now(); gpt_prof.matmul += t7 - t6;
        gpt_gelu_forward(fch_gelu, fch, BT * 4 * C);
        gpt_rows_set_bias(res3, res2, w->fcprojb, BT, C);
        double t8 = ll_now(); gpt_prof.elementwise += t8 - t7;
        linear_forward(res3, fch_gelu, w->fcprojw, (int)BT, C, 4 * C, 1.0f);
        gpt_prof.matmul += ll_now() - t8;
    }
    double t = ll_now();
    const float *last = a->res3 + (L - 1) * BTmax * C;
    gpt_layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, last, m->p.lnfw, m->p.lnfb, BT, C);
    gpt_prof.elementwise += ll_now() - t;
}

/* Softmax cross-entropy on one row x (V logits) in place; returns its loss
 * (0 when tgt < 0). With want_grad, x becomes (softmax - onehot) * grad_scale,
 * or zeros when tgt < 0. */
LL_MULTIVERSION
static float softmax_xent_row(float *x, int tgt, int V, int want_grad, float grad_scale) {
    float mx = x[0];
#pragma omp simd reduction(max : mx)
    for (int j = 1; j < V; j++) mx = x[j] > mx ? x[j] : mx;
    float xt = tgt >= 0 ? x[tgt] : 0.0f;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < V; j++) { float e = fast_expf(x[j] - mx); x[j] = e; sum += e; }
    float loss = tgt >= 0 ? (mx + logf(sum)) - xt : 0.0f;
    if (!want_grad) return loss;
    if (tgt < 0) { memset(x, 0, V * sizeof(float)); return loss; }
    float s = grad_scale / sum;
#pragma omp simd
    for (int j = 0; j < V; j++) x[j] *= s;
    x[tgt] -= grad_scale;
    return loss;
}

/* Softmax cross-entropy on rows of logits in place. With want_grad the rows
 * become (softmax - onehot) * grad_scale (zero for ignored targets); loss of
 * each row goes to row_loss (0 for ignored). */
static void softmax_xent_rows(float *logits, float *row_loss, const int *targets, size_t rows, int V,
                              int want_grad, float grad_scale) {
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++)
        row_loss[r] = softmax_xent_row(logits + r * V, targets ? targets[r] : -1, V, want_grad, grad_scale);
}

/* Chunked LM head: loss over all rows; with want_grad, also dlnf (written)
 * and dwte (accumulated, or overwritten by the first chunk when accumulate is 0). */
static void lm_head(gpt_model *m, const int *targets, size_t BT, int want_grad, float grad_scale,
                    float *dlnf, int accumulate, double *loss_sum, long *n_targets) {
    struct gpt_acts *a = m->acts;
    int C = m->cfg.n_embd, V = m->cfg.vocab_size;
    size_t chunk = (size_t)m->logits_chunk;
    for (size_t r0 = 0; r0 < BT; r0 += chunk) {
        size_t rows = BT - r0 < chunk ? BT - r0 : chunk;
        double t0 = ll_now();
        linear_forward(a->logits, a->lnf + r0 * C, m->p.wte, (int)rows, V, C, 0.0f);
        double t1 = ll_now(); gpt_prof.lm_head += t1 - t0;
        softmax_xent_rows(a->logits, a->row_loss + r0, targets ? targets + r0 : NULL, rows, V, want_grad, grad_scale);
        double t2 = ll_now(); gpt_prof.elementwise += t2 - t1;
        if (want_grad)
            linear_backward(dlnf + r0 * C, 0.0f, m->g.wte, (r0 == 0 && !accumulate) ? 0.0f : 1.0f, a->logits,
                            a->lnf + r0 * C, m->p.wte, (int)rows, V, C);
        gpt_prof.lm_head += ll_now() - t2;
    }
    double sum = 0.0;
    long count = 0;
    for (size_t i = 0; i < BT; i++)
        if (targets && targets[i] >= 0) { sum += a->row_loss[i]; count++; }
    *loss_sum = sum;
    *n_targets = count;
}

int gpt_forward(gpt_model *m, const int *inputs, const int *targets, int B, int T, double *loss_sum,
                long *n_targets, float *logits_out, float *last_logits_out) {
    if (check_call(m, inputs, targets, B, T) != 0) return -1;
    forward_blocks(m, inputs, B, T);
    struct gpt_acts *a = m->acts;
    int C = m->cfg.n_embd, V = m->cfg.vocab_size;
    size_t BT = (size_t)B * T;
    double ls = 0.0;
    long nt = 0;
    if (targets) lm_head(m, targets, BT, 0, 0.0f, NULL, 1, &ls, &nt);
    if (logits_out) linear_forward(logits_out, a->lnf, m->p.wte, (int)BT, V, C, 0.0f);
    if (last_logits_out)
        for (int b = 0; b < B; b++)
            linear_forward(last_logits_out + (size_t)b * V, a->lnf + ((size_t)b * T + T - 1) * C, m->p.wte, 1, V, C, 0.0f);
    if (loss_sum) *loss_sum = ls;
    if (n_targets) *n_targets = nt;
    return 0;
}

/* ---------------------------------------------------------------------------
 * Backward
 * ------------------------------------------------------------------------- */

/* Columns [c0, c1) of the embedding gradients: dwte[token] and dwpe[pos] +=
 * dx of each of the BT rows, in row order. */
LL_MULTIVERSION
static void embedding_backward_strip(float *dwte, float *dwpe, const float *dx, const int *inputs, size_t BT,
                                     int T, int C, int c0, int c1) {
    for (size_t i = 0; i < BT; i++) {
        float *te = dwte + (size_t)inputs[i] * C, *pe = dwpe + (i % T) * C;
        const float *d = dx + i * C;
        for (int j = c0; j < c1; j++) { te[j] += d[j]; pe[j] += d[j]; }
    }
}

int gpt_forward_backward(gpt_model *m, const int *inputs, const int *targets, int B, int T, float grad_scale,
                         double *loss_sum, long *n_targets) {
    if (!m->grads) { ll_error("model: gradients not allocated"); return -1; }
    if (!m->acts || !m->acts->dres) { ll_error("model: activation arena has no backward buffers"); return -1; }
    if (!targets) { ll_error("model: backward needs targets"); return -1; }
    if (check_call(m, inputs, targets, B, T) != 0) return -1;
    forward_blocks(m, inputs, B, T);

    const gpt_config *c = &m->cfg;
    struct gpt_acts *a = m->acts;
    int C = c->n_embd, H = c->n_head, L = c->n_layer;
    size_t BT = (size_t)B * T, BTmax = (size_t)m->acts_B * m->acts_T;
    size_t att_stride = (size_t)m->acts_B * H * m->acts_T * m->acts_T;

    /* gradients marked stale by gpt_zero_grads are overwritten, not added to:
     * no separate pass clears them, and no sgemm reads them back */
    int acc = !m->grads_stale;
    float wbeta = acc ? 1.0f : 0.0f;
    m->grads_stale = 0;

    /* LM head fused with the loss: dC = d(lnf) */
    lm_head(m, targets, BT, 1, grad_scale, a->dC, acc, loss_sum, n_targets);

    double t = ll_now();
    memset(a->dres, 0, BT * C * sizeof(float));
    gpt_layernorm_backward(a->dres, m->g.lnfw, m->g.lnfb, a->dC, a->res3 + (L - 1) * BTmax * C, m->p.lnfw,
                           a->lnf_mean, a->lnf_rstd, BT, C, a->partials, acc);
    gpt_prof.elementwise += ll_now() - t;
    if (m->grads_ready) m->grads_ready(m->grads_ready_ctx, 2 * (size_t)C);

    for (int l = L - 1; l >= 0; l--) {
        const gpt_layer_tensors *w = &m->p.layer[l];
        gpt_layer_tensors *g = &m->g.layer[l];
        const float *res_in = l == 0 ? a->encoded : a->res3 + (l - 1) * BTmax * C;
        const float *ln1 = a->ln1 + l * BTmax * C, *ln1_mean = a->ln1_mean + l * BTmax, *ln1_rstd = a->ln1_rstd + l * BTmax;
        const float *qkv = a->qkv + l * BTmax * 3 * C, *att = a->att + l * att_stride;
        const float *atty = a->atty + l * BTmax * C, *res2 = a->res2 + l * BTmax * C;
        const float *ln2 = a->ln2 + l * BTmax * C, *ln2_mean = a->ln2_mean + l * BTmax, *ln2_rstd = a->ln2_rstd + l * BTmax;
        const float *fch = a->fch + l * BTmax * 4 * C, *fch_gelu = a->fch_gelu + l * BTmax * 4 * C;

        /* MLP: dres holds d(res3) */
        double t0 = ll_now();
        gpt_bias_backward(g->fcprojb, a->dres, BT, C, acc);
        double t1 = ll_now(); gpt_prof.elementwise += t1 - t0;
        linear_backward(a->dfc, 0.0f, g->fcprojw, wbeta, a->dres, fch_gelu, w->fcprojw, (int)BT, C, 4 * C);
        double t2 = ll_now(); gpt_prof.matmul += t2 - t1;
        gpt_gelu_backward_inplace(a->dfc, fch, BT * 4 * C);
        gpt_bias_backward(g->fcb, a->dfc, BT, 4 * C, acc);
        double t3 = ll_now(); gpt_prof.elementwise += t3 - t2;
        linear_backward(a->dC, 0.0f, g->fcw, wbeta, a->dfc, ln2, w->fcw, (int)BT, 4 * C, C);
        double t4 = ll_now(); gpt_prof.matmul += t4 - t3;
        gpt_layernorm_backward(a->dres, g->ln2w, g->ln2b, a->dC, res2, w->ln2w, ln2_mean, ln2_rstd, BT, C, a->partials, acc);
        /* attention: dres now holds d(res2) */
        gpt_bias_backward(g->attprojb, a->dres, BT, C, acc);
        double t5 = ll_now(); gpt_prof.elementwise += t5 - t4;
        linear_backward(a->dC, 0.0f, g->attprojw, wbeta, a->dres, atty, w->attprojw, (int)BT, C, C);
        double t6 = ll_now(); gpt_prof.matmul += t6 - t5;
        attention_backward(a->dqkv, a->dprob, a->dC, att, qkv, B, T, C, H);
        double t7 = ll_now(); gpt_prof.attention += t7 - t6;
        gpt_bias_backward(g->qkvb, a->dqkv, BT, 3 * C, acc);
        double t8 = ll_now(); gpt_prof.elementwise += t8 - t7;
        linear_backward(a->dC, 0.0f, g->qkvw, wbeta, a->dqkv, ln1, w->qkvw, (int)BT, 3 * C, C);
        double t9 = ll_now(); gpt_prof.matmul += t9 - t8;
        gpt_layernorm_backward(a->dres, g->ln1w, g->ln1b, a->dC, res_in, w->ln1w, ln1_mean, ln1_rstd, BT, C, a->partials, acc);
        gpt_prof.elementwise += ll_now() - t9;
        if (m->grads_ready) m->grads_ready(m->grads_ready_ctx, (size_t)(m->g.layer[l].ln1w - m->grads) + layer_numel(C));
    }

    /* embeddings: position rows summed over the batch, token rows scattered;
     * split by channel so each output element has one writer, in row order */
    t = ll_now();
    float *dwte = m->g.wte, *dwpe = m->g.wpe;
    const float *dx = a->dres;
    if (!acc) memset(dwpe, 0, (size_t)m->cfg.block_size * C * sizeof(float));
    int strips = (C + 15) / 16;
#pragma omp parallel for schedule(static)
    for (int s = 0; s < strips; s++) {
        int c0 = s * 16, c1 = c0 + 16 < C ? c0 + 16 : C;
        embedding_backward_strip(dwte, dwpe, dx, inputs, BT, T, C, c0, c1);
    }
    gpt_prof.elementwise += ll_now() - t;
    if (m->grads_ready) m->grads_ready(m->grads_ready_ctx, m->num_params);
    return 0;
}

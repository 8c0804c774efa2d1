/* gpt_kernels.c: LayerNorm, GELU and bias kernels of the GPT.
 *
 * Rows are independent, so every kernel is OpenMP-parallel over rows with a
 * static schedule; sums across rows go through fixed GPT_ROW_BLOCK blocks
 * reduced in block order (see gpt_kernels.h), never through atomics.
 * The loop bodies are LL_MULTIVERSION functions (llmpi/simd.h) called once per
 * row, block or GPT_CHUNK elements from the parallel loops, which stay here.
 */
#include "gpt_kernels.h"

#include <omp.h>

#include "llmpi/simd.h"

/* ---- LayerNorm ---- */

/* One row of LayerNorm forward: y = (x - mean) * rstd * w + b. */
LL_MULTIVERSION
static void layernorm_forward_row(float *y, float *mean, float *rstd, const float *x, const float *w,
                                  const float *b, int C) {
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int i = 0; i < C; i++) sum += x[i];
    float m = sum / C;
    float var = 0.0f;
#pragma omp simd reduction(+ : var)
    for (int i = 0; i < C; i++) { float d = x[i] - m; var += d * d; }
    float s = 1.0f / sqrtf(var / C + GPT_LN_EPS);
#pragma omp simd
    for (int i = 0; i < C; i++) y[i] = (x[i] - m) * s * w[i] + b[i];
    *mean = m;
    *rstd = s;
}

void gpt_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                           const float *w, const float *b, size_t rows, int C) {
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++)
        layernorm_forward_row(out + r * C, mean + r, rstd + r, inp + r * C, w, b, C);
}

/* LayerNorm backward of rows [r0, r1): dinp += the input gradient; pdw, pdb
 * (the block's partials, 2C floats) = the rows' weight and bias gradients. */
LL_MULTIVERSION
static void layernorm_backward_block(float *dinp, float *pdw, const float *dout, const float *inp,
                                     const float *w, const float *mean, const float *rstd, size_t r0,
                                     size_t r1, int C) {
    float *pdb = pdw + C;
    memset(pdw, 0, 2 * C * sizeof(float));
    for (size_t r = r0; r < r1; r++) {
        const float *dy = dout + r * C, *x = inp + r * C;
        float *dx = dinp + r * C;
        float m = mean[r], s = rstd[r];
        float dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
#pragma omp simd reduction(+ : dnorm_mean, dnorm_norm_mean)
        for (int i = 0; i < C; i++) {
            float norm = (x[i] - m) * s;
            float dnorm = w[i] * dy[i];
            dnorm_mean += dnorm;
            dnorm_norm_mean += dnorm * norm;
        }
        dnorm_mean /= C;
        dnorm_norm_mean /= C;
#pragma omp simd
        for (int i = 0; i < C; i++) {
            float norm = (x[i] - m) * s;
            float dnorm = w[i] * dy[i];
            dx[i] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
            pdw[i] += norm * dy[i];
            pdb[i] += dy[i];
        }
    }
}

void gpt_layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, const float *mean,
                            const float *rstd, size_t rows, int C, float *partials, int accumulate) {
    size_t nblocks = (rows + GPT_ROW_BLOCK - 1) / GPT_ROW_BLOCK;
#pragma omp parallel for schedule(static)
    for (size_t blk = 0; blk < nblocks; blk++) {
        size_t r0 = blk * GPT_ROW_BLOCK;
        size_t r1 = r0 + GPT_ROW_BLOCK < rows ? r0 + GPT_ROW_BLOCK : rows;
        layernorm_backward_block(dinp, partials + blk * 2 * C, dout, inp, w, mean, rstd, r0, r1, C);
    }
    /* block partials summed in block order: independent of the thread count */
#pragma omp parallel for schedule(static)
    for (int i = 0; i < C; i++) {
        float sw = 0.0f, sb = 0.0f;
        for (size_t blk = 0; blk < nblocks; blk++) {
            sw += partials[blk * 2 * C + i];
            sb += partials[blk * 2 * C + C + i];
        }
        dw[i] = accumulate ? dw[i] + sw : sw;
        db[i] = accumulate ? db[i] + sb : sb;
    }
}

/* ---- GELU (tanh approximation, as GPT-2) ---- */

/* out[i] = gelu_tanh(inp[i]) for i < n. */
LL_MULTIVERSION
static void gelu_forward_chunk(float *out, const float *inp, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float u = GELU_SCALE * (x + 0.044715f * x * x * x);
        out[i] = 0.5f * x * (1.0f + fast_tanhf(u));
    }
}

/* dx[i] *= gelu'(inp[i]) for i < n. */
LL_MULTIVERSION
static void gelu_backward_chunk(float *dx, const float *inp, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float u = GELU_SCALE * (x + 0.044715f * x * x * x);
        float t = fast_tanhf(u);
        float du = GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
        float grad = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
        dx[i] *= grad;
    }
}

void gpt_gelu_forward(float *out, const float *inp, size_t n) {
    size_t chunks = (n + GPT_CHUNK - 1) / GPT_CHUNK;
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < chunks; c++) {
        size_t i0 = c * GPT_CHUNK;
        gelu_forward_chunk(out + i0, inp + i0, n - i0 < GPT_CHUNK ? n - i0 : GPT_CHUNK);
    }
}

void gpt_gelu_backward_inplace(float *dx, const float *inp, size_t n) {
    size_t chunks = (n + GPT_CHUNK - 1) / GPT_CHUNK;
#pragma omp parallel for schedule(static)
    for (size_t c = 0; c < chunks; c++) {
        size_t i0 = c * GPT_CHUNK;
        gelu_backward_chunk(dx + i0, inp + i0, n - i0 < GPT_CHUNK ? n - i0 : GPT_CHUNK);
    }
}

/* ---- biases ---- */

/* y[i] = x[i] + b[i] for i < n (also the embedding sum in gpt.c). */
LL_MULTIVERSION
void gpt_add_row(float *y, const float *x, const float *b, int n) {
#pragma omp simd
    for (int i = 0; i < n; i++) y[i] = x[i] + b[i];
}

void gpt_rows_set_bias(float *out, const float *base, const float *bias, size_t rows, int N) {
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        float *y = out + r * N;
        if (base)
            gpt_add_row(y, base + r * N, bias, N);
        else
            memcpy(y, bias, N * sizeof(float));
    }
}

/* db[c0..c1) (=|+=) the column sums of d (rows, N), rows in order; c1 - c0 <= 64. */
LL_MULTIVERSION
static void bias_backward_strip(float *db, const float *d, size_t rows, int N, int c0, int c1, int accumulate) {
    float acc[64] = {0};
    for (size_t r = 0; r < rows; r++) {
        const float *row = d + r * N;
#pragma omp simd
        for (int c = c0; c < c1; c++) acc[c - c0] += row[c];
    }
    for (int c = c0; c < c1; c++) db[c] = accumulate ? db[c] + acc[c - c0] : acc[c - c0];
}

void gpt_bias_backward(float *db, const float *d, size_t rows, int N, int accumulate) {
    /* columns split across threads in fixed 64-wide strips: each output is
     * summed over rows in row order by exactly one thread */
    int strips = (N + 63) / 64;
#pragma omp parallel for schedule(static)
    for (int s = 0; s < strips; s++) {
        int c0 = s * 64, c1 = c0 + 64 < N ? c0 + 64 : N;
        bias_backward_strip(db, d, rows, N, c0, c1, accumulate);
    }
}

/* gpt_kernels.h: the elementwise kernels of the GPT (private to src/model).
 *
 * Invariants: every kernel is a row loop, OpenMP-parallel over rows and
 * vectorisable within a row; reductions that cross rows (LayerNorm weight
 * gradients, bias gradients) are split in blocks of fixed size, not by thread,
 * so the result is bit-identical whatever the thread count.
 * The loop bodies are compiled per instruction set and chosen at run time
 * (llmpi/simd.h); parallel regions never sit inside a versioned function.
 * fast_expf is a Cephes-style exp (about 1 ulp) written so GCC vectorises the
 * loops that call it; libm's expf/tanhf do not vectorise without -ffast-math.
 */
#ifndef LLMPI_GPT_KERNELS_H
#define LLMPI_GPT_KERNELS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define GPT_LN_EPS 1e-5f
#define GPT_ROW_BLOCK 64   /* rows per partial sum in cross-row reductions */
#define GPT_CHUNK 8192     /* elements per call in element-wise kernels */

/* exp(x) for x in [-87.3, 88.7] (clamped outside, so +-inf give the
 * bounds' values), relative error ~1e-7; NaN gives NaN. */
static inline float fast_expf(float x) {
    x = x < -87.33654f ? -87.33654f : x;
    x = x > 88.37626f ? 88.37626f : x;
    /* round to nearest by the 1.5*2^23 trick: floorf() blocks vectorisation */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    /* NaN in, NaN out, defined: the clamps above let NaN through (every
     * comparison is false), and converting NaN to int is undefined, so the
     * exponent is built from 0 then; p is NaN already and carries it. */
    float n_int = n == n ? n : 0.0f;
    union { int32_t i; float f; } scale = {.i = ((int32_t)n_int + 127) << 23};
    return p * scale.f;
}

/* tanh through exp: 1 - 2/(exp(2u)+1); saturates cleanly at +-1. */
static inline float fast_tanhf(float u) { return 1.0f - 2.0f / (fast_expf(2.0f * u) + 1.0f); }

#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */

/* out = x * w + b per row after normalising x; mean/rstd saved for backward. */
void gpt_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                           const float *w, const float *b, size_t rows, int C);
/* dinp += LN backward; dw, db += row sums (blocked, deterministic), or
 * = when accumulate is 0. partials: (ceil(rows/GPT_ROW_BLOCK), 2C) scratch. */
void gpt_layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, const float *mean,
                            const float *rstd, size_t rows, int C, float *partials, int accumulate);
/* out = gelu_tanh(inp), n elements. */
void gpt_gelu_forward(float *out, const float *inp, size_t n);
/* dx = dout * gelu'(inp), in place on dx which holds dout on entry. */
void gpt_gelu_backward_inplace(float *dx, const float *inp, size_t n);
/* y[i] = x[i] + b[i] for i < n (one row; versioned, see llmpi/simd.h). */
void gpt_add_row(float *y, const float *x, const float *b, int n);
/* Every row of out (rows, N) = bias (N), or optionally = base + bias. */
void gpt_rows_set_bias(float *out, const float *base, const float *bias, size_t rows, int N);
/* db (N) += sum over rows of d (rows, N) (= when accumulate is 0);
 * column-parallel, deterministic. */
void gpt_bias_backward(float *db, const float *d, size_t rows, int N, int accumulate);

#endif

/* sgemm_peak.c: the machine's measured cblas_sgemm GFLOP/s, the denominator
 * of the training benchmark's MFU.
 *
 * Invariants:
 * - FLOPs of one call are 2*M*N*K; a shape's figure is the best of --reps
 *   timed calls after one untimed warm-up call (first-touch page faults and
 *   OpenBLAS buffer setup stay out of the figure).
 * - Matrices hold deterministic values in [-1, 1) from a seeded ll_rng, so no
 *   denormals and no run-to-run variation in the data.
 * - The peak is the best square-matrix figure: square shapes are what
 *   OpenBLAS is tuned for, so this is the honest "what the core can do".
 *   Model shapes (--embd/--rows/--vocab) are printed for diagnosis only.
 * Output: one JSON line per shape, then one summary line
 *   {"bench":"sgemm_peak","threads":T,"peak_gflops":G,...}
 * which train_bench.sh reads (the last line of stdout).
 */
#include <cblas.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpi/util.h"

#define MAX_SIZES 16

typedef struct {
    int threads;
    int reps;
    int n_sizes;
    int sizes[MAX_SIZES];
    int embd, rows, vocab;    /* model shapes; 0 = not asked for */
} sgemm_options;

/* Parses a positive int in [1, max] into *out; -1 (one line) otherwise. */
static int parse_int(const char *flag, const char *text, long max, int *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 1 || v > max) {
        ll_error("sgemm_peak: %s: expected an integer in [1, %ld], got '%s'", flag, max, text);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Parses "1024,1536,2048" into o->sizes; -1 (one line) on a bad list. */
static int parse_sizes(const char *text, sgemm_options *o) {
    char buf[256];
    if (snprintf(buf, sizeof buf, "%s", text) >= (int)sizeof buf) {
        ll_error("sgemm_peak: --sizes: list too long");
        return -1;
    }
    o->n_sizes = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (o->n_sizes == MAX_SIZES) { ll_error("sgemm_peak: --sizes: more than %d sizes", MAX_SIZES); return -1; }
        if (parse_int("--sizes", tok, 16384, &o->sizes[o->n_sizes]) != 0) return -1;
        o->n_sizes++;
    }
    if (o->n_sizes == 0) { ll_error("sgemm_peak: --sizes: empty list"); return -1; }
    return 0;
}

/* Prints the option summary to f. */
static void usage(FILE *f) {
    fprintf(f,
        "usage: sgemm_peak [--threads N] [--reps N] [--sizes 1024,1536,2048]\n"
        "                  [--embd C --rows B*T [--vocab V]]\n"
        "Prints one JSON line per shape and a final {\"bench\":\"sgemm_peak\",...} line\n"
        "whose peak_gflops is the best square-matrix GFLOP/s at --threads threads.\n");
}

/* Fills o from argv (defaults: 1 thread, 5 reps, sizes 1024/1536/2048);
 * -1 (one line) on a bad option; --help prints usage and exits 0. */
static int parse_args(int argc, char **argv, sgemm_options *o) {
    memset(o, 0, sizeof *o);
    o->threads = 1;
    o->reps = 5;
    o->n_sizes = 3;
    o->sizes[0] = 1024; o->sizes[1] = 1536; o->sizes[2] = 2048;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); exit(0); }
        if (i + 1 >= argc) { ll_error("sgemm_peak: %s: missing value (see --help)", a); return -1; }
        const char *v = argv[++i];
        int rc;
        if (!strcmp(a, "--threads")) rc = parse_int(a, v, 1024, &o->threads);
        else if (!strcmp(a, "--reps")) rc = parse_int(a, v, 1000, &o->reps);
        else if (!strcmp(a, "--sizes")) rc = parse_sizes(v, o);
        else if (!strcmp(a, "--embd")) rc = parse_int(a, v, 65536, &o->embd);
        else if (!strcmp(a, "--rows")) rc = parse_int(a, v, 1 << 20, &o->rows);
        else if (!strcmp(a, "--vocab")) rc = parse_int(a, v, 1 << 22, &o->vocab);
        else { ll_error("sgemm_peak: unknown option '%s' (see --help)", a); return -1; }
        if (rc != 0) return -1;
    }
    if ((o->embd > 0) != (o->rows > 0)) {
        ll_error("sgemm_peak: --embd and --rows go together");
        return -1;
    }
    return 0;
}

/* A malloc'ed array of n floats in [-1, 1), or NULL (one line printed). */
static float *random_matrix(size_t n, ll_rng *rng) {
    float *a = ll_malloc(n * sizeof(float));
    if (!a) return NULL;
    for (size_t i = 0; i < n; i++) a[i] = 2.0f * ll_rng_uniform(rng) - 1.0f;
    return a;
}

/* Times C(M,N) = op(A) op(B) (row-major, op = transpose where asked) and
 * returns the best GFLOP/s over reps calls, or -1 if memory ran out. Layouts
 * follow the model: A is (M,K) or, transposed, (K,M); B is (K,N) or (N,K). */
static double time_sgemm(int M, int N, int K, int trans_a, int trans_b, int reps, ll_rng *rng,
                         double *best_seconds) {
    float *A = random_matrix((size_t)M * K, rng);
    float *B = random_matrix((size_t)K * N, rng);
    float *C = ll_calloc((size_t)M * N, sizeof(float));
    double gflops = -1.0;
    if (A && B && C) {
        int lda = trans_a ? M : K, ldb = trans_b ? K : N;
        CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
        CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
        double best = 1e30;
        for (int r = 0; r <= reps; r++) {   /* r == 0 is the untimed warm-up */
            double t0 = ll_now();
            cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N);
            double dt = ll_now() - t0;
            if (r > 0 && dt < best) best = dt;
        }
        *best_seconds = best;
        gflops = 2.0 * M * N * K / best * 1e-9;
    }
    free(A); free(B); free(C);
    return gflops;
}

/* Measures one shape and prints its JSON line; returns its GFLOP/s or -1. */
static double report_shape(const char *kind, const char *name, int M, int N, int K, int trans_a,
                           int trans_b, const sgemm_options *o, ll_rng *rng) {
    double seconds = 0.0;
    double g = time_sgemm(M, N, K, trans_a, trans_b, o->reps, rng, &seconds);
    if (g < 0) return -1;
    char trans[3] = {trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', '\0'};
    json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:s, s:i, s:i, s:f, s:f}",
                          "bench", "sgemm", "kind", kind, "name", name, "m", M, "n", N, "k", K,
                          "trans", trans, "threads", o->threads, "reps", o->reps,
                          "best_s", seconds, "gflops", g);
    if (j) {
        json_dumpf(j, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6));
        fputc('\n', stdout);
        fflush(stdout);
        json_decref(j);
    }
    return g;
}

/* The three GEMMs of one nn.Linear(in, out) in training, as the model does
 * them on row-major [out, in] weights: forward Y = X W^T, input gradient
 * dX = dY W, weight gradient dW = dY^T X. */
static int report_linear(const char *name, int rows, int in, int out, const sgemm_options *o,
                         ll_rng *rng) {
    char label[64];
    snprintf(label, sizeof label, "%s.fwd", name);
    if (report_shape("model", label, rows, out, in, 0, 1, o, rng) < 0) return -1;
    snprintf(label, sizeof label, "%s.dx", name);
    if (report_shape("model", label, rows, in, out, 0, 0, o, rng) < 0) return -1;
    snprintf(label, sizeof label, "%s.dw", name);
    if (report_shape("model", label, out, in, rows, 1, 0, o, rng) < 0) return -1;
    return 0;
}

/* Exit 0 after printing every shape and the summary line; 2 on a bad
 * option, 1 when memory for a shape ran out. */
int main(int argc, char **argv) {
    ll_blas_select_core(argv);   /* the same BLAS kernels as llmpi itself */
    sgemm_options o;
    if (parse_args(argc, argv, &o) != 0) return 2;
    ll_set_threads(o.threads);
    ll_rng rng;
    ll_rng_seed(&rng, 1234, 0);

    double peak = 0.0;
    int peak_size = 0;
    for (int i = 0; i < o.n_sizes; i++) {
        int s = o.sizes[i];
        double g = report_shape("square", "square", s, s, s, 0, 0, &o, &rng);
        if (g < 0) return 1;
        if (g > peak) { peak = g; peak_size = s; }
    }
    if (o.embd > 0) {
        int C = o.embd, R = o.rows;
        if (report_linear("qkv", R, C, 3 * C, &o, &rng) != 0 ||
            report_linear("attn_proj", R, C, C, &o, &rng) != 0 ||
            report_linear("fc", R, C, 4 * C, &o, &rng) != 0 ||
            report_linear("fc_proj", R, 4 * C, C, &o, &rng) != 0)
            return 1;
        if (o.vocab > 0 && report_linear("lm_head", R, C, o.vocab, &o, &rng) != 0) return 1;
    }
    json_t *j = json_pack("{s:s, s:s, s:i, s:f, s:i, s:i}", "bench", "sgemm_peak", "blas_core", ll_blas_core(),
                          "threads", o.threads,
                          "peak_gflops", peak, "peak_size", peak_size, "reps", o.reps);
    if (!j) { ll_error("sgemm_peak: main: cannot build the summary JSON"); return 1; }
    json_dumpf(j, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6));
    fputc('\n', stdout);
    json_decref(j);
    return 0;
}

/* stream_bw.c: memory bandwidth, STREAM style, for the decode bound of
 * benchmarks/infer_bench.sh.
 *
 * usage: stream_bw [--threads N] [--mib M] [--reps R]
 * Two arrays of M MiB (default 512, far beyond any cache); OpenMP threads,
 * static schedule, first touch by the same threads. Prints one JSON line:
 * "copy" (a[i] = b[i], counted as read + write bytes, as STREAM does) and
 * "read" (a sum over b: what decoding does to the weights), GB/s = 1e9
 * bytes/s, best of R repetitions. The read sums each thread's contiguous
 * part with 32 running sums, as the decode's matvec reads a weight row:
 * one vector accumulator would measure the add latency, not the memory.
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpi/simd.h"
#include "llmpi/util.h"

/* The sum of b[i0..i1) with 32 independent running sums. */
LL_MULTIVERSION
static float read_sum(const float *b, size_t i0, size_t i1) {
    float acc[32] = {0};
    size_t i = i0;
    for (; i + 32 <= i1; i += 32)
        for (int k = 0; k < 32; k++) acc[k] += b[i + k];
    float sum = 0.0f;
    for (int k = 0; k < 32; k++) sum += acc[k];
    for (; i < i1; i++) sum += b[i];
    return sum;
}

int main(int argc, char **argv) {
    int threads = 1, reps = 5;
    long mib = 512;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--mib")) mib = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else { fprintf(stderr, "usage: stream_bw [--threads N] [--mib M] [--reps R]\n"); return 2; }
    }
    if (threads < 1 || mib < 1 || reps < 1) { fprintf(stderr, "stream_bw: bad arguments\n"); return 2; }
    ll_set_threads(threads);
    size_t n = (size_t)mib << 18;   /* floats */
    float *a = ll_malloc(n * sizeof *a), *b = ll_malloc(n * sizeof *b);
    if (!a || !b) return 1;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) { a[i] = 0.0f; b[i] = (float)(i & 1023); }
    double best_copy = 1e30, best_read = 1e30, sink = 0.0;
    for (int r = 0; r < reps; r++) {
        double t0 = ll_now();
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) a[i] = b[i];
        double t1 = ll_now();
        float sum = 0.0f;
#pragma omp parallel reduction(+ : sum)
        {
            size_t t = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
            sum += read_sum(b, n * t / nt, n * (t + 1) / nt);
        }
        double t2 = ll_now();
        sink += sum + a[n / 2];
        if (t1 - t0 < best_copy) best_copy = t1 - t0;
        if (t2 - t1 < best_read) best_read = t2 - t1;
    }
    double bytes = (double)n * sizeof(float);
    printf("{\"bench\":\"stream\",\"threads\":%d,\"mib\":%ld,\"copy_gbs\":%.2f,\"read_gbs\":%.2f,\"check\":%.0f}\n",
           threads, mib, 2.0 * bytes / best_copy / 1e9, bytes / best_read / 1e9, sink > 0 ? 1.0 : 0.0);
    free(a);
    free(b);
    return 0;
}

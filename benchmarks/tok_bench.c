/* tok_bench.c: encode throughput of a trained tokenizer.
 *
 * usage: tok_bench TOKENIZER FILE [THREADS]
 * Encodes FILE with one thread, then with THREADS threads (the text cut at
 * blank lines into THREADS parts, one encode call each, all on the same
 * loaded tokenizer), checks that both give the same ids and that decoding
 * gives FILE back, and prints MB/s per core (bytes / thread CPU seconds: the
 * machine may be shared) and wall MB/s, plus bytes per token.
 */
#define _GNU_SOURCE
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llmpi/tokenizer.h"
#include "llmpi/util.h"

static double thread_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: tok_bench TOKENIZER FILE [THREADS]\n"); return 2; }
    int threads = argc > 3 ? atoi(argv[3]) : ll_cores_available();
    if (threads < 1) threads = 1;
    tokenizer *t = tok_load(argv[1]);
    if (!t) return 1;
    char *text;
    size_t n;
    if (ll_read_file(argv[2], &text, &n) != 0) return 1;

    /* warm-up pass on a slice: page faults and the first cache fills */
    tok_ids warm = {0};
    tok_encode(t, text, n < (1 << 20) ? n : (1 << 20), 0, &warm);
    tok_ids_free(&warm);

    tok_ids one = {0};
    double w0 = ll_now(), c0 = thread_cpu();
    if (tok_encode(t, text, n, 0, &one) != 0) return 1;
    double cpu1 = thread_cpu() - c0, wall1 = ll_now() - w0;
    tok_bytes back = {0};
    if (tok_decode(t, one.ids, one.n, &back) != 0 || back.n != n || memcmp(back.data, text, n) != 0) {
        fprintf(stderr, "tok_bench: decode(encode(file)) differs from the file\n");
        return 1;
    }

    /* parts end after a newline followed by a printable non-space ASCII byte:
     * the split pattern always starts a chunk there (LF and CRLF text alike) */
    size_t *cut = ll_calloc((size_t)threads + 1, sizeof *cut);
    if (!cut) return 1;
    cut[threads] = n;
    for (int k = 1; k < threads; k++) {
        size_t at = n / threads * k;
        const char *p = at < n ? memchr(text + at, '\n', n - at) : NULL;
        while (p && (size_t)(p - text) + 1 < n && !(p[1] > 0x20 && p[1] < 0x7f))
            p = memchr(p + 1, '\n', n - (size_t)(p + 1 - text));
        cut[k] = p && (size_t)(p - text) + 1 < n ? (size_t)(p - text) + 1 : n;
        if (cut[k] < cut[k - 1]) cut[k] = cut[k - 1];
    }
    tok_ids *parts = ll_calloc((size_t)threads, sizeof *parts);
    if (!parts) return 1;
    double cpu_sum = 0;
    w0 = ll_now();
    int failed = 0;
    #pragma omp parallel for num_threads(threads) schedule(static, 1) reduction(+ : cpu_sum) reduction(|| : failed)
    for (int k = 0; k < threads; k++) {
        double c = thread_cpu();
        if (tok_encode(t, text + cut[k], cut[k + 1] - cut[k], 0, &parts[k]) != 0) failed = 1;
        cpu_sum += thread_cpu() - c;
    }
    double wallN = ll_now() - w0;
    size_t total = 0;
    for (int k = 0; k < threads && !failed; k++) {
        if (total + parts[k].n > one.n || memcmp(one.ids + total, parts[k].ids, parts[k].n * sizeof *one.ids)) failed = 1;
        total += parts[k].n;
    }
    if (failed || total != one.n) { fprintf(stderr, "tok_bench: the threaded encode differs\n"); return 1; }

    printf("tok_bench: %s: %.1f MB, %zu tokens, %.3f bytes/token\n", argv[2], n / 1e6, one.n, (double)n / one.n);
    printf("tok_bench: encode 1 thread: %.1f MB/s per core (CPU time), %.1f MB/s wall\n", n / 1e6 / cpu1, n / 1e6 / wall1);
    printf("tok_bench: encode %d threads: %.1f MB/s per core (CPU time), %.1f MB/s wall\n", threads,
           n / 1e6 / cpu_sum, n / 1e6 / wallN);
    for (int k = 0; k < threads; k++) tok_ids_free(&parts[k]);
    free(parts);
    free(cut);
    tok_ids_free(&one);
    tok_bytes_free(&back);
    free(text);
    tok_free(t);
    return 0;
}

/* test_tok_threads.c: one tokenizer shared by plain POSIX threads that encode
 * and decode at once (the encoder pool of tok_core.c under contention).
 *
 * test_tok covers the same through OpenMP; this one uses pthreads so that the
 * ThreadSanitizer build (scripts/build Tsan), where OpenMP regions run
 * single-threaded, still sees real concurrency on the pool. Each thread
 * checks its ids against the serial encoding and decodes them back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpi/tokenizer.h"
#include "llmpi/util.h"

enum { THREADS = 4, DOCS = 48, ROUNDS = 3 };

static char *g_text;
static size_t g_text_n;
static tokenizer *g_tok;
static tok_ids g_serial[DOCS];

/* Document d: a window of the corpus, different start and length per d. */
static void doc_span(int d, const char **p, size_t *n) {
    size_t piece = g_text_n / 8;
    *p = g_text + (size_t)(d % 8) * piece;
    *n = piece - (size_t)(d % 32);
}

typedef struct { int first; int failures; } worker_arg;

/* Encodes and decodes every THREADS-th document ROUNDS times; counts mismatches. */
static void *worker(void *p) {
    worker_arg *w = p;
    for (int round = 0; round < ROUNDS; round++) {
        for (int d = w->first; d < DOCS; d += THREADS) {
            const char *text;
            size_t n;
            doc_span(d, &text, &n);
            tok_ids ids = {0};
            tok_bytes back = {0};
            if (tok_encode(g_tok, text, n, d % 2, &ids) != 0 || ids.n != g_serial[d].n ||
                memcmp(ids.ids, g_serial[d].ids, ids.n * sizeof *ids.ids) != 0 ||
                tok_decode(g_tok, ids.ids, ids.n, &back) != 0 || back.n != n || memcmp(back.data, text, n) != 0)
                w->failures++;
            tok_ids_free(&ids);
            tok_bytes_free(&back);
        }
    }
    return NULL;
}

static int setup(void **state) {
    (void)state;
    const char *src = getenv("LLMPI_SOURCE_DIR");
    if (!src) return -1;
    const char *names[] = {"ties.txt", "repeats.txt", "digits.txt", "nonlatin.txt", "emoji.txt", "crlf.txt"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tests/tok/corpora/%s", src, names[i]);
        char *text;
        size_t n;
        if (ll_read_file(path, &text, &n) != 0) return -1;
        g_text = realloc(g_text, g_text_n + n + 1);
        memcpy(g_text + g_text_n, text, n);
        g_text_n += n;
        free(text);
    }
    tok_train_options o;
    tok_train_options_default(&o);
    o.vocab_size = 600;
    o.min_frequency = 1;
    o.threads = 1;
    const char *texts[] = {g_text};
    size_t lens[] = {g_text_n};
    g_tok = tok_train_texts(texts, lens, 1, &o);
    return g_tok ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    for (int d = 0; d < DOCS; d++) tok_ids_free(&g_serial[d]);
    tok_free(g_tok);
    free(g_text);
    return 0;
}

static void test_pthreads_share_one_tokenizer(void **state) {
    (void)state;
    for (int d = 0; d < DOCS; d++) {
        const char *text;
        size_t n;
        doc_span(d, &text, &n);
        assert_int_equal(tok_encode(g_tok, text, n, d % 2, &g_serial[d]), 0);
    }
    pthread_t th[THREADS];
    worker_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (worker_arg){.first = i, .failures = 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    int failures = 0;
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        failures += args[i].failures;
    }
    assert_int_equal(failures, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pthreads_share_one_tokenizer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

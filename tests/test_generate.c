/* test_generate.c: infer_open and infer_generate on a small random model.
 *
 * The generation loop must give the tokens of a naive loop (the whole
 * sequence kept, the forward over its last block_size ids, one sampler and
 * RNG), also far past block_size where the window slides; it streams every
 * token to the callback, stops on a stop id or when the callback asks, and
 * refuses a checkpoint/tokenizer mismatch or a bad prompt with one line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "llmpi/ckpt.h"
#include "llmpi/infer.h"
#include "llmpi/tokenizer.h"
#include "testutil.h"

static const gpt_config k_cfg = {2, 2, 16, 8, 257};   /* block_size 8: windows slide soon */

/* Saves a random model of shape cfg naming tokenizer identity. */
static void save_model(const char *path, gpt_config cfg, const char *identity) {
    gpt_model m;
    memset(&m, 0, sizeof m);
    assert_int_equal(gpt_create(&m, &cfg), 0);
    gpt_init_weights(&m, 11);
    ckpt_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.tokenizer, sizeof meta.tokenizer, "%s", identity);
    assert_int_equal(ckpt_save(path, &m, NULL, NULL, &meta), 0);
    gpt_free(&m);
}

/* The reference: n_new tokens after prompt, no stop ids. */
static void naive_generate(gpt_model *m, const int32_t *prompt, size_t n_prompt, const infer_options *o,
                           int32_t *out) {
    size_t cap = n_prompt + (size_t)o->max_tokens + 1, n = 0, block = (size_t)m->cfg.block_size;
    int *ids = malloc(cap * sizeof *ids);
    float *logits = malloc((size_t)m->cfg.vocab_size * sizeof *logits);
    infer_sampler s;
    assert_int_equal(infer_sampler_init(&s, m->cfg.vocab_size), 0);
    for (size_t i = 0; i < n_prompt; i++) ids[n++] = prompt[i];
    ll_rng rng;
    ll_rng_seed(&rng, o->seed, INFER_RNG_STREAM);
    for (long t = 0; t < o->max_tokens; t++) {
        size_t ctx = n < block ? n : block;
        assert_int_equal(gpt_forward(m, ids + n - ctx, NULL, 1, (int)ctx, NULL, NULL, NULL, logits), 0);
        ids[n] = infer_sample(&s, logits, &o->sampling, &rng);
        out[t] = ids[n++];
    }
    infer_sampler_free(&s);
    free(ids);
    free(logits);
}

typedef struct {
    int32_t ids[256];
    size_t n, stop_after;      /* stop_after 0: never */
    size_t bytes_ok;           /* tokens whose bytes were the token's own */
    const tokenizer *tok;
} collected;

static int collect(void *ctx, int32_t id, const char *bytes, size_t len) {
    collected *c = ctx;
    size_t want_len = 0;
    const char *want = tok_token_bytes(c->tok, id, &want_len);
    c->bytes_ok += want && len == want_len && memcmp(bytes, want, len) == 0;
    c->ids[c->n++] = id;
    return c->stop_after && c->n >= c->stop_after;
}

static void test_matches_naive_loop(void **state) {
    (void)state;
    const char *path = tu_path("bytes.h5");
    save_model(path, k_cfg, TOK_BYTES_IDENTITY);
    infer_model im;
    assert_int_equal(infer_open(&im, path, "/ignored/for/bytes"), 0);
    assert_true(tok_is_bytes(im.tok));
    infer_options o;
    infer_options_default(&o, &im);
    assert_int_equal(o.n_stop, 1);
    assert_int_equal(o.stop_ids[0], 256);
    o.n_stop = 0;                 /* the naive loop has none */
    o.max_tokens = 60;            /* many windows of block_size 8 */
    o.sampling = (infer_sampling){1.0f, 0, 1.0f};
    o.seed = 5;
    const int32_t prompt[] = {'R', 'O', 'M', 'E', 'O', ':', ' ', 'a', 'b', 'c', 'd'};   /* longer than a block */
    size_t np = sizeof prompt / sizeof *prompt;
    int32_t want[60];
    naive_generate(&im.model, prompt, np, &o, want);

    collected got = {.tok = im.tok};
    size_t n_generated = 0;
    assert_int_equal(infer_generate(&im, prompt, np, &o, collect, &got, &n_generated), 0);
    assert_int_equal(got.n, 60);
    assert_int_equal(n_generated, 60);
    assert_int_equal(got.bytes_ok, 60);
    assert_memory_equal(got.ids, want, sizeof want);

    /* the callback stops it */
    collected few = {.tok = im.tok, .stop_after = 5};
    assert_int_equal(infer_generate(&im, prompt, np, &o, collect, &few, &n_generated), 0);
    assert_int_equal(few.n, 5);
    assert_memory_equal(few.ids, want, 5 * sizeof *want);

    /* a stop id ends it before its first occurrence, unreported */
    o.stop_ids[o.n_stop++] = want[7];
    size_t first = 0;
    while (want[first] != want[7]) first++;
    collected stopped = {.tok = im.tok};
    assert_int_equal(infer_generate(&im, prompt, np, &o, collect, &stopped, &n_generated), 0);
    assert_int_equal(stopped.n, first);
    assert_int_equal(n_generated, first);
    if (first) assert_memory_equal(stopped.ids, want, first * sizeof *want);

    /* an empty prompt starts at end-of-text: the naive loop from {256} */
    o.n_stop = 0;
    int32_t eot = 256, from_eot[60];
    naive_generate(&im.model, &eot, 1, &o, from_eot);
    collected empty = {.tok = im.tok};
    assert_int_equal(infer_generate(&im, NULL, 0, &o, collect, &empty, NULL), 0);
    assert_memory_equal(empty.ids, from_eot, sizeof from_eot);

    /* a prompt id outside the vocabulary */
    const int32_t bad[] = {'a', 257};
    TU_EXPECT_FAIL_ONE_LINE(infer_generate(&im, bad, 2, &o, NULL, NULL, NULL), "outside the vocabulary");
    infer_close(&im);
    infer_close(&im);   /* twice is safe */
}

/* A BPE checkpoint needs its own tokenizer: none, or another one, is refused. */
static void test_tokenizer_checks(void **state) {
    (void)state;
    tok_train_options to;
    tok_train_options_default(&to);
    to.vocab_size = 270;
    to.min_frequency = 1;
    const char *texts[] = {"the cat sat on the mat; the cat ate the rat. the end, the end."};
    size_t lens[] = {strlen(texts[0])};
    tokenizer *tok = tok_train_texts(texts, lens, 1, &to);
    assert_non_null(tok);
    const char *tok_path = tu_path("tokenizer.json");
    assert_int_equal(tok_save(tok, tok_path), 0);

    gpt_config cfg = k_cfg;
    cfg.vocab_size = tok_vocab_size(tok);
    const char *good = tu_path("bpe.h5"), *other = tu_path("other.h5");
    save_model(good, cfg, tok_identity(tok));
    save_model(other, cfg, "bpe270-0123456789abcdef");
    infer_model im;
    assert_int_equal(infer_open(&im, good, tok_path), 0);
    assert_string_equal(tok_identity(im.tok), tok_identity(tok));
    tok_ids ids = {0};
    assert_int_equal(tok_encode(im.tok, "the cat", 7, 0, &ids), 0);
    infer_options o;
    infer_options_default(&o, &im);
    assert_int_equal(o.stop_ids[0], tok_eot_id(tok));
    o.max_tokens = 20;
    collected got = {.tok = im.tok};
    assert_int_equal(infer_generate(&im, ids.ids, ids.n, &o, collect, &got, NULL), 0);
    assert_int_equal(got.bytes_ok, got.n);
    tok_ids_free(&ids);
    infer_close(&im);

    TU_EXPECT_FAIL_ONE_LINE(infer_open(&im, good, NULL), "--tokenizer");
    TU_EXPECT_FAIL_ONE_LINE(infer_open(&im, other, tok_path), "bpe270-0123456789abcdef");
    TU_EXPECT_FAIL_ONE_LINE(infer_open(&im, tu_path("missing.h5"), tok_path), "missing.h5");
    tok_free(tok);
}

static int setup(void **state) {
    (void)state;
    tu_make_dir("generate");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    return tu_teardown_hdf5();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_naive_loop),
        cmocka_unit_test(test_tokenizer_checks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* test_generate.c: infer_open, infer_generate, the text stream and the chat
 * on small models.
 *
 * The generation loop (on the KV cache) must give the tokens of a naive loop
 * (the whole sequence kept, gpt_forward over its last block_size ids, one
 * sampler and RNG), also far past block_size where the window slides; it
 * streams the text of every token to the callback, stops on a stop id, a
 * stop string or when the callback asks, and refuses a checkpoint/tokenizer
 * mismatch or a bad prompt with one line. A hand-built model whose greedy
 * output is a fixed byte string (multi-byte characters split over byte
 * tokens) checks that streaming never splits a UTF-8 character and shows
 * each one as soon as it is complete. The chat keeps the template, drops
 * the oldest whole turns but never the system text, and answers greedily
 * what a full forward over the rendered conversation answers.
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
    if (!m->acts) assert_int_equal(gpt_alloc_acts(m, 1, m->cfg.block_size, 0), 0);
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
    char text[4096];           /* everything shown */
    size_t text_n, calls_end;  /* calls_end: calls with id -1 */
    int chunks_whole;          /* every chunk was whole UTF-8 characters */
    int prompt_shown;          /* each token's call showed every complete character so far */
    char raw[4096];            /* the bytes of the tokens so far */
    size_t raw_n;
    const tokenizer *tok;
} collected;

/* Length of the longest prefix of b[0..n) made of whole UTF-8 characters
 * that a later byte could not extend (the tail of an unfinished character
 * excluded). */
static size_t whole_prefix(const char *b, size_t n) {
    tok_bytes clean = {0};
    size_t best = 0;
    for (size_t k = n; k > 0 && k + 4 > n; k--) {
        clean.n = 0;
        assert_int_equal(infer_utf8_sanitize(b, k, &clean), 0);
        if (clean.n == k && memcmp(clean.data, b, k) == 0) { best = k; break; }
    }
    tok_bytes_free(&clean);
    return best;
}

static int collect(void *ctx, int32_t id, const char *text, size_t len) {
    collected *c = ctx;
    tok_bytes clean = {0};
    assert_int_equal(infer_utf8_sanitize(text, len, &clean), 0);
    if (clean.n != len || memcmp(clean.data, text, len) != 0) c->chunks_whole = 0;
    tok_bytes_free(&clean);
    assert_true(c->text_n + len < sizeof c->text);
    memcpy(c->text + c->text_n, text, len);
    c->text_n += len;
    if (id < 0) { c->calls_end++; return 0; }
    size_t tl = 0;
    const char *tb = tok_token_bytes(c->tok, id, &tl);
    assert_non_null(tb);
    memcpy(c->raw + c->raw_n, tb, tl);
    c->raw_n += tl;
    if (c->text_n != whole_prefix(c->raw, c->raw_n)) c->prompt_shown = 0;
    c->ids[c->n++] = id;
    return c->stop_after && c->n >= c->stop_after;
}

#define COLLECTED(t) {.tok = (t), .chunks_whole = 1, .prompt_shown = 1}

static void test_matches_naive_loop(void **state) {
    (void)state;
    const char *path = tu_path("bytes.h5");
    save_model(path, k_cfg, TOK_BYTES_IDENTITY);
    infer_model im;
    assert_int_equal(infer_open(&im, path, NULL), 0);
    assert_true(tok_is_bytes(im.tok));
    infer_options o;
    infer_options_default(&o, &im);
    assert_int_equal(o.n_stop, 1);
    assert_int_equal(o.stop_ids[0], 256);
    o.n_stop = 0;                 /* the naive loop has none */
    o.max_tokens = 60;            /* many windows of block_size 8 */
    o.sampling = (infer_sampling){1.0f, 0, 1.0f, 0.0f, 1.0f, 0};
    o.seed = 5;
    const int32_t prompt[] = {'R', 'O', 'M', 'E', 'O', ':', ' ', 'a', 'b', 'c', 'd'};   /* longer than a block */
    size_t np = sizeof prompt / sizeof *prompt;
    int32_t want[60];
    naive_generate(&im.model, prompt, np, &o, want);

    collected got = COLLECTED(im.tok);
    infer_result r;
    assert_int_equal(infer_generate(&im, prompt, np, &o, collect, &got, &r), 0);
    assert_int_equal(got.n, 60);
    assert_int_equal(r.n_generated, 60);
    assert_int_equal(r.finish, INFER_FINISH_LENGTH);
    assert_int_equal(r.n_prompt, 8);   /* the last block_size ids of the prompt */
    assert_true(r.n_shifts > 40);      /* slide 1: a prefill per token once full */
    assert_memory_equal(got.ids, want, sizeof want);
    /* the text shown is all the tokens' bytes, in whole characters */
    assert_int_equal(got.text_n, got.raw_n);
    assert_memory_equal(got.text, got.raw, got.raw_n);

    /* the callback stops it */
    collected few = COLLECTED(im.tok);
    few.stop_after = 5;
    assert_int_equal(infer_generate(&im, prompt, np, &o, collect, &few, &r), 0);
    assert_int_equal(few.n, 5);
    assert_int_equal(r.finish, INFER_FINISH_CANCEL);
    assert_memory_equal(few.ids, want, 5 * sizeof *want);

    /* a stop id ends it before its first occurrence, unreported */
    o.stop_ids[o.n_stop++] = want[7];
    size_t first = 0;
    while (want[first] != want[7]) first++;
    collected stopped = COLLECTED(im.tok);
    assert_int_equal(infer_generate(&im, prompt, np, &o, collect, &stopped, &r), 0);
    assert_int_equal(stopped.n, first);
    assert_int_equal(r.n_generated, first);
    assert_int_equal(r.finish, INFER_FINISH_STOP);
    if (first) assert_memory_equal(stopped.ids, want, first * sizeof *want);

    /* an empty prompt starts at end-of-text: the naive loop from {256} */
    o.n_stop = 0;
    int32_t eot = 256, from_eot[60];
    naive_generate(&im.model, &eot, 1, &o, from_eot);
    collected empty = COLLECTED(im.tok);
    assert_int_equal(infer_generate(&im, NULL, 0, &o, collect, &empty, NULL), 0);
    assert_memory_equal(empty.ids, from_eot, sizeof from_eot);

    /* a larger slide: the same tokens as the naive loop until the first
     * shift, then the model sees less (drops 4 at once), and far fewer shifts */
    o.slide = 4;
    collected slid = COLLECTED(im.tok);
    assert_int_equal(infer_generate(&im, prompt, np, &o, collect, &slid, &r), 0);
    assert_int_equal(slid.n, 60);
    assert_true(r.n_shifts >= 60 / 4 - 1 && r.n_shifts <= 60 / 4 + 1);
    assert_memory_equal(slid.ids, want, 1 * sizeof *want);

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
    collected got = COLLECTED(im.tok);
    assert_int_equal(infer_generate(&im, ids.ids, ids.n, &o, collect, &got, NULL), 0);
    assert_int_equal(got.text_n, got.raw_n);
    assert_memory_equal(got.text, got.raw, got.raw_n);
    tok_ids_free(&ids);
    infer_close(&im);

    TU_EXPECT_FAIL_ONE_LINE(infer_open(&im, good, NULL), "--tokenizer");
    TU_EXPECT_FAIL_ONE_LINE(infer_open(&im, other, tok_path), "bpe270-0123456789abcdef");
    TU_EXPECT_FAIL_ONE_LINE(infer_open(&im, tu_path("missing.h5"), tok_path), "missing.h5");
    tok_free(tok);
}

/* ---- streaming: whole UTF-8 characters, stop strings ---- */

/* A byte-tokenizer model whose greedy continuation of want[0] is want[1..]:
 * one layer with every block weight 0 (the block adds nothing), so the
 * final LayerNorm sees wte[id] + wpe[pos]; wte of the k-th distinct byte is
 * the unit vector e_k, wpe[pos] = 10 e_(next byte's k), and the tied head
 * then scores the wanted next byte highest. */
static void save_spelling_model(const char *path, const unsigned char *want, size_t n) {
    gpt_config cfg = {1, 1, 16, 32, 257};
    assert_true(n <= 32);
    gpt_model m;
    assert_int_equal(gpt_create(&m, &cfg), 0);
    memset(m.params, 0, m.num_params * sizeof(float));
    for (int i = 0; i < cfg.n_embd; i++) { m.p.lnfw[i] = 1.0f; m.p.layer[0].ln1w[i] = 1.0f; m.p.layer[0].ln2w[i] = 1.0f; }
    int dim[256];
    int next_dim = 0;
    for (int i = 0; i < 256; i++) dim[i] = -1;
    for (size_t i = 0; i < n; i++)
        if (dim[want[i]] < 0) { dim[want[i]] = next_dim++; m.p.wte[(size_t)want[i] * 16 + dim[want[i]]] = 1.0f; }
    assert_true(next_dim <= 16);
    for (size_t p = 0; p + 1 < n; p++) m.p.wpe[p * 16 + dim[want[p + 1]]] = 10.0f;
    ckpt_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.tokenizer, sizeof meta.tokenizer, "%s", TOK_BYTES_IDENTITY);
    assert_int_equal(ckpt_save(path, &m, NULL, NULL, &meta), 0);
    gpt_free(&m);
}

static void test_utf8_streaming(void **state) {
    (void)state;
    /* "a" then é (2 bytes), € (3), 😀 (4), " añ€é" */
    const char *want = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80 a\xC3\xB1\xE2\x82\xAC\xC3\xA9";
    size_t n = strlen(want);
    save_spelling_model(tu_path("spell.h5"), (const unsigned char *)want, n);
    infer_model im;
    assert_int_equal(infer_open(&im, tu_path("spell.h5"), NULL), 0);
    infer_options o;
    infer_options_default(&o, &im);
    o.sampling.temperature = 0.0f;
    o.max_tokens = (long)n - 1;
    int32_t a = 'a';
    collected got = COLLECTED(im.tok);
    infer_result r;
    assert_int_equal(infer_generate(&im, &a, 1, &o, collect, &got, &r), 0);
    assert_int_equal(got.n, n - 1);
    for (size_t i = 0; i + 1 < n; i++) assert_int_equal(got.ids[i], (unsigned char)want[i + 1]);
    assert_int_equal(got.text_n, n - 1);
    assert_memory_equal(got.text, want + 1, n - 1);
    assert_true(got.chunks_whole);   /* no call showed part of a character */
    assert_true(got.prompt_shown);   /* each character shown with its last byte */
    assert_int_equal(got.calls_end, 0);

    /* a stop string across tokens (€ is 3 byte tokens): the text before it, no byte of it */
    o.stop_strings[0] = "\xE2\x82\xAC\xF0";
    o.n_stop_strings = 1;
    collected stopped = COLLECTED(im.tok);
    assert_int_equal(infer_generate(&im, &a, 1, &o, collect, &stopped, &r), 0);
    assert_int_equal(r.finish, INFER_FINISH_STOP);
    assert_int_equal(stopped.text_n, 2);
    assert_memory_equal(stopped.text, "\xC3\xA9", 2);
    assert_int_equal(stopped.n, 6);   /* é, then € and F0 were drawn */
    /* a stop string that only starts like the text: held back, then shown */
    o.stop_strings[0] = "\xC3\xA9X";
    collected held = COLLECTED(im.tok);
    assert_int_equal(infer_generate(&im, &a, 1, &o, collect, &held, &r), 0);
    assert_int_equal(r.finish, INFER_FINISH_LENGTH);
    assert_memory_equal(held.text, want + 1, n - 1);
    assert_int_equal(held.text_n, n - 1);
    assert_int_equal(held.calls_end, 1);   /* the final é was held until the end */
    infer_close(&im);
}

/* The stream on its own: pieces in, showable text out. */
static void test_stream_unit(void **state) {
    (void)state;
    const char *stops[] = {"STOP", "\xE2\x82\xAC!"};
    infer_stream st;
    infer_stream_init(&st, stops, 2);
    const char *out;
    size_t len;
    assert_int_equal(infer_stream_push(&st, "ab\xE2", 3, &out, &len), 0);
    assert_int_equal(len, 2);                     /* E2 starts a character, and maybe the stop */
    assert_int_equal(infer_stream_push(&st, "\x82", 1, &out, &len), 0);
    assert_int_equal(len, 0);
    assert_int_equal(infer_stream_push(&st, "\xAC" "x", 2, &out, &len), 0);
    assert_int_equal(len, 4);                     /* not the stop: all shown */
    assert_memory_equal(out, "\xE2\x82\xAC" "x", 4);
    assert_int_equal(infer_stream_push(&st, "ST", 2, &out, &len), 0);
    assert_int_equal(len, 0);
    assert_int_equal(infer_stream_push(&st, "OQ", 2, &out, &len), 0);
    assert_int_equal(len, 4);
    assert_memory_equal(out, "STOQ", 4);
    assert_int_equal(infer_stream_push(&st, "zzS", 3, &out, &len), 0);
    assert_int_equal(len, 2);
    assert_int_equal(infer_stream_push(&st, "TOPmore", 7, &out, &len), 0);
    assert_int_equal(len, 0);                     /* the stop: nothing of it, nothing after */
    assert_true(st.stopped);
    assert_int_equal(infer_stream_push(&st, "x", 1, &out, &len), 0);
    assert_int_equal(len, 0);
    infer_stream_finish(&st, &out, &len);
    assert_int_equal(len, 0);
    infer_stream_free(&st);

    /* an unfinished character at the end comes out at finish; invalid bytes are not held */
    infer_stream_init(&st, NULL, 0);
    assert_int_equal(infer_stream_push(&st, "\x80\xFFq\xF0\x9F", 5, &out, &len), 0);
    assert_int_equal(len, 3);
    infer_stream_finish(&st, &out, &len);
    assert_int_equal(len, 2);
    assert_memory_equal(out, "\xF0\x9F", 2);
    infer_stream_free(&st);

    tok_bytes clean = {0};
    assert_int_equal(infer_utf8_sanitize("a\xC3(\xED\xA0\x80\xF4\x90\x80\x80\xC3\xA9", 13, &clean), 0);
    /* C3 before '(', ED A0 (a surrogate), F4 90 (past U+10FFFF): each byte replaced */
    assert_string_equal(clean.data, "a\xEF\xBF\xBD(\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
                                    "\xEF\xBF\xBD\xEF\xBF\xBD\xC3\xA9");
    tok_bytes_free(&clean);
}

/* ---- chat ---- */

static tokenizer *small_bpe(void) {
    tok_train_options to;
    tok_train_options_default(&to);
    to.vocab_size = 300;
    to.min_frequency = 1;
    const char *texts[] = {"the cat sat on the mat; the cat ate the rat. the end, the end. hello there, how are you?"};
    size_t lens[] = {strlen(texts[0])};
    tokenizer *tok = tok_train_texts(texts, lens, 1, &to);
    assert_non_null(tok);
    return tok;
}

/* Greedy continuation of ids[0..n) by full forwards until <|end|> or max. */
static size_t naive_greedy(gpt_model *m, const int32_t *ids, size_t n, int32_t end, size_t max, int32_t *out) {
    if (!m->acts) assert_int_equal(gpt_alloc_acts(m, 1, m->cfg.block_size, 0), 0);
    int *seq = malloc((n + max + 1) * sizeof *seq);
    float *logits = malloc((size_t)m->cfg.vocab_size * sizeof *logits);
    for (size_t i = 0; i < n; i++) seq[i] = ids[i];
    size_t k = 0;
    while (k < max) {
        assert_true(n + k <= (size_t)m->cfg.block_size);
        assert_int_equal(gpt_forward(m, seq, NULL, 1, (int)(n + k), NULL, NULL, NULL, logits), 0);
        int best = 0;
        for (int j = 1; j < m->cfg.vocab_size; j++) if (logits[j] > logits[best]) best = j;
        if (best == end || best == 256) break;
        seq[n + k] = best;
        out[k++] = best;
    }
    free(seq);
    free(logits);
    return k;
}

static void test_chat(void **state) {
    (void)state;
    tokenizer *tok = small_bpe();
    const char *tok_path = tu_path("chat-tok.json");
    assert_int_equal(tok_save(tok, tok_path), 0);
    gpt_config cfg = {2, 2, 16, 64, tok_vocab_size(tok)};
    save_model(tu_path("chat.h5"), cfg, tok_identity(tok));
    infer_model im;
    assert_int_equal(infer_open(&im, tu_path("chat.h5"), tok_path), 0);
    int32_t sys_id = tok_special_id(tok, TOK_SYSTEM), user_id = tok_special_id(tok, TOK_USER);
    int32_t asst_id = tok_special_id(tok, TOK_ASSISTANT), end_id = tok_special_id(tok, TOK_END);

    infer_chat *ch = infer_chat_new(&im, "  the cat  ");
    assert_non_null(ch);
    infer_options *o = infer_chat_options(ch);
    o->sampling.temperature = 0.0f;
    o->max_tokens = 12;
    size_t n;
    const int32_t *ids = infer_chat_context(ch, &n);
    assert_true(n >= 3);
    assert_int_equal(ids[0], sys_id);
    assert_int_equal(ids[n - 1], end_id);
    size_t sys_len = n;
    int32_t *sys = malloc(sys_len * sizeof *sys);
    memcpy(sys, ids, sys_len * sizeof *sys);

    /* the first answer is the greedy continuation of the rendered prompt */
    collected got = COLLECTED(im.tok);
    infer_result r;
    assert_int_equal(infer_chat_send(ch, "hello there", 11, collect, &got, &r), 0);
    ids = infer_chat_context(ch, &n);
    int32_t prompt[64], want[64];
    size_t np = 0;
    memcpy(prompt, sys, sys_len * sizeof *sys);
    np = sys_len;
    assert_int_equal(ids[np], user_id);
    while (ids[np] != asst_id) { prompt[np] = ids[np]; np++; }
    prompt[np] = ids[np];
    np++;
    size_t nw = naive_greedy(&im.model, prompt, np, end_id, 12, want);
    assert_int_equal(got.n, nw);
    assert_memory_equal(got.ids, want, nw * sizeof *want);
    assert_int_equal(r.n_prompt, np);
    assert_int_equal(n, np + nw + 1);   /* the answer joined the conversation with its <|end|> */
    assert_int_equal(ids[n - 1], end_id);

    /* the second answer continues the whole conversation; only the new ids are prefilled */
    int32_t conv1[64];
    memcpy(conv1, ids, n * sizeof *ids);
    size_t n1 = n;
    collected got2 = COLLECTED(im.tok);
    assert_int_equal(infer_chat_send(ch, "how are you?", 12, collect, &got2, &r), 0);
    ids = infer_chat_context(ch, &n);
    assert_memory_equal(ids, conv1, n1 * sizeof *ids);
    size_t np2 = n - got2.n - 1;
    /* only the new ids were fed, and the answer's last one or two that never were */
    assert_int_equal(r.n_prompt, np2);
    assert_true(r.n_prefill + r.n_decode - got2.n + 1 >= np2 - n1 + 1);
    assert_true(r.n_prefill + r.n_decode - got2.n + 1 <= np2 - n1 + 2);
    nw = naive_greedy(&im.model, ids, np2, end_id, 12, want);
    assert_int_equal(got2.n, nw);
    assert_memory_equal(got2.ids, want, nw * sizeof *want);

    /* many turns in a context of 64: the oldest whole turns go, never the system text */
    infer_chat_stats st;
    for (int t = 0; t < 12; t++) {
        collected g = COLLECTED(im.tok);
        assert_int_equal(infer_chat_send(ch, t % 2 ? "the cat sat on the mat" : "the rat", t % 2 ? 22 : 7, collect,
                                         &g, &r), 0);
        ids = infer_chat_context(ch, &n);
        assert_true(n <= 64 + 2);
        assert_memory_equal(ids, sys, sys_len * sizeof *sys);
        assert_int_equal(ids[sys_len], user_id);   /* a whole turn follows the system text */
        assert_int_equal(ids[n - 1], end_id);
    }
    infer_chat_get_stats(ch, &st);
    assert_true(st.turns_dropped > 0);
    assert_int_equal(st.turns, 14);
    assert_int_equal(st.context_size, 64);

    /* reset keeps the system text; a message too long for the context is refused, conversation unchanged */
    infer_chat_reset(ch);
    ids = infer_chat_context(ch, &n);
    assert_int_equal(n, sys_len);
    char longmsg[400];
    for (size_t i = 0; i < sizeof longmsg - 1; i++) longmsg[i] = "qzxj"[i % 4];
    longmsg[sizeof longmsg - 1] = '\0';
    TU_EXPECT_FAIL_ONE_LINE(infer_chat_send(ch, longmsg, strlen(longmsg), NULL, NULL, &r), "no room");
    TU_EXPECT_FAIL_ONE_LINE(infer_chat_send(ch, " \n ", 3, NULL, NULL, &r), "empty message");
    ids = infer_chat_context(ch, &n);
    assert_int_equal(n, sys_len);
    /* an answer that fills the context with no older turn to drop ends with "length" */
    o->max_tokens = 1000;
    o->n_stop = 0;
    assert_int_equal(infer_chat_send(ch, "the cat", 7, NULL, NULL, &r), 0);
    assert_int_equal(r.finish, INFER_FINISH_LENGTH);
    ids = infer_chat_context(ch, &n);
    assert_int_equal(n, 64 + 2);   /* a full context, the last token drawn (shown, not fed), <|end|> */
    /* the next message drops that turn */
    o->max_tokens = 3;
    assert_int_equal(infer_chat_send(ch, "the rat", 7, NULL, NULL, &r), 0);
    ids = infer_chat_context(ch, &n);
    assert_memory_equal(ids, sys, sys_len * sizeof *sys);
    assert_true(n < 40);

    /* a system text longer than half the context, and a tokenizer without the chat specials */
    TU_EXPECT_FAIL_ONE_LINE(infer_chat_set_system(ch, longmsg), "system text");
    ids = infer_chat_context(ch, &n);
    assert_memory_equal(ids, sys, sys_len * sizeof *sys);
    assert_int_equal(infer_chat_set_system(ch, NULL), 0);
    ids = infer_chat_context(ch, &n);
    assert_int_equal(n, 0);
    infer_chat_free(ch);
    infer_close(&im);
    save_model(tu_path("bytes-chat.h5"), k_cfg, TOK_BYTES_IDENTITY);
    assert_int_equal(infer_open(&im, tu_path("bytes-chat.h5"), NULL), 0);
    tu_capture_begin();
    infer_chat *none = infer_chat_new(&im, NULL);
    const char *err = tu_capture_end();
    assert_null(none);
    assert_non_null(strstr(err, "<|system|>"));
    infer_close(&im);
    free(sys);
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
        cmocka_unit_test(test_utf8_streaming),
        cmocka_unit_test(test_stream_unit),
        cmocka_unit_test(test_chat),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

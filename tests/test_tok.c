/* test_tok.c: the tokenizer's API: round trips, specials, the two merge
 * kernels, thread-count determinism, concurrent encoding, save/load, the
 * file's Hugging Face shape (no foreign top-level key), files written before
 * it, the byte tokenizer, and the refusal of bad input (each with exactly
 * one error line).
 *
 * The training corpora are the fixtures in tests/tok/corpora plus generated
 * text, so this test needs no shared data.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/tokenizer/tok_internal.h"
#include "llmpi/tokenizer.h"
#include "llmpi/util.h"

static char *g_corpus;        /* all fixture corpora, concatenated */
static size_t g_corpus_n;
static tokenizer *g_tok;      /* trained on g_corpus, vocab 700 */
static char g_dir[256];

/* Reads tests/tok/corpora/<name> into the shared corpus. */
static void append_fixture(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/tok/corpora/%s", getenv("LLMPI_SOURCE_DIR"), name);
    char *text;
    size_t n;
    assert_int_equal(ll_read_file(path, &text, &n), 0);
    g_corpus = realloc(g_corpus, g_corpus_n + n + 1);
    memcpy(g_corpus + g_corpus_n, text, n);
    g_corpus_n += n;
    free(text);
}

/* Runs fn with stderr sent to a file; returns how many lines it printed. */
static int stderr_lines(void (*fn)(void *), void *arg) {
    char path[300];
    snprintf(path, sizeof path, "%s/stderr.txt", g_dir);
    fflush(stderr);
    int saved = dup(2);
    FILE *f = fopen(path, "w");
    dup2(fileno(f), 2);
    fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    fclose(f);
    char *text;
    size_t n;
    assert_int_equal(ll_read_file(path, &text, &n), 0);
    int lines = 0;
    for (size_t i = 0; i < n; i++) lines += text[i] == '\n';
    if (lines != 1) fprintf(stderr, "stderr was: [%s]\n", text);
    else assert_memory_equal(text, "llmpi: ", 7);
    free(text);
    return lines;
}

static int setup(void **state) {
    (void)state;
    if (!getenv("LLMPI_SOURCE_DIR")) return -1;
    const char *names[] = {"ties.txt", "repeats.txt", "digits.txt", "nonlatin.txt", "emoji.txt", "crlf.txt"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) append_fixture(names[i]);
    snprintf(g_dir, sizeof g_dir, "/tmp/llmpi_test_tok_%ld", (long)getpid());
    ll_mkdir_p(g_dir);
    tok_train_options o;
    tok_train_options_default(&o);
    o.vocab_size = 700;
    o.min_frequency = 1;
    const char *texts[] = {g_corpus};
    size_t lens[] = {g_corpus_n};
    g_tok = tok_train_texts(texts, lens, 1, &o);
    return g_tok ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    tok_free(g_tok);
    free(g_corpus);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* encode then decode must give the bytes back, and encoding is a function
 * of the bytes alone (same ids twice, cache or not). */
static void check_roundtrip(const tokenizer *t, const void *bytes, size_t n, int allow_special) {
    tok_ids ids = {0}, again = {0};
    tok_bytes back = {0};
    assert_int_equal(tok_encode(t, bytes, n, allow_special, &ids), 0);
    assert_int_equal(tok_decode(t, ids.ids, ids.n, &back), 0);
    assert_int_equal(back.n, n);
    if (n) assert_memory_equal(back.data, bytes, n);
    assert_int_equal(tok_encode(t, bytes, n, allow_special, &again), 0);
    assert_int_equal(again.n, ids.n);
    if (ids.n) assert_memory_equal(again.ids, ids.ids, ids.n * sizeof *ids.ids);
    for (size_t i = 0; i < ids.n; i++) assert_true(ids.ids[i] >= 0 && ids.ids[i] < tok_vocab_size(t));
    tok_ids_free(&ids);
    tok_ids_free(&again);
    tok_bytes_free(&back);
}

static void test_vocab_layout(void **state) {
    (void)state;
    assert_int_equal(tok_vocab_size(g_tok), 700);
    assert_int_equal(tok_n_specials(g_tok), 5);
    assert_int_equal(tok_n_merges(g_tok), 700 - 256 - 5);
    assert_int_equal(tok_eot_id(g_tok), 256 + tok_n_merges(g_tok));
    assert_int_equal(tok_special_id(g_tok, "<|assistant|>"), tok_eot_id(g_tok) + 3);
    assert_int_equal(tok_special_id(g_tok, "<|nope|>"), -1);
    int32_t l, r;
    for (int id = 256; id < 256 + tok_n_merges(g_tok); id++) {
        assert_int_equal(tok_merge_pair(g_tok, id, &l, &r), 0);
        assert_true(l < id && r < id);
        size_t n, nl, nr;
        const char *b = tok_token_bytes(g_tok, id, &n);
        const char *bl = tok_token_bytes(g_tok, l, &nl), *br = tok_token_bytes(g_tok, r, &nr);
        assert_int_equal(n, nl + nr);
        assert_memory_equal(b, bl, nl);
        assert_memory_equal(b + nl, br, nr);
    }
    assert_int_equal(tok_merge_pair(g_tok, 255, &l, &r), -1);
    assert_int_equal(strncmp(tok_identity(g_tok), "bpe700-", 7), 0);
    assert_int_equal(strlen(tok_identity(g_tok)), 7 + 16);
}

static void test_roundtrip_random_bytes(void **state) {
    (void)state;
    ll_rng rng;
    ll_rng_seed(&rng, 42, 1);
    char buf[4096];
    for (int trial = 0; trial < 300; trial++) {
        size_t n = ll_rng_below(&rng, sizeof buf);
        int mode = trial % 3;
        for (size_t i = 0; i < n; i++) {
            if (mode == 0) buf[i] = (char)ll_rng_below(&rng, 256);                 /* any byte */
            else if (mode == 1) buf[i] = g_corpus[ll_rng_below(&rng, g_corpus_n)];  /* corpus bytes shuffled */
            else buf[i] = "ab <|>endoftext\r\n\xe2\x82\xac"[ll_rng_below(&rng, 21)];
        }
        check_roundtrip(g_tok, buf, n, 0);
        check_roundtrip(g_tok, buf, n, 1);
    }
    check_roundtrip(g_tok, "", 0, 0);
    check_roundtrip(g_tok, g_corpus, g_corpus_n, 0);
    check_roundtrip(g_tok, g_corpus, g_corpus_n, 1);
}

/* An id one past the vocabulary: refused. */
static void run_bad_decode(void *arg) {
    (void)arg;
    int32_t bad = tok_vocab_size(g_tok);
    tok_bytes junk = {0};
    assert_int_equal(tok_decode(g_tok, &bad, 1, &junk), -1);
    tok_bytes_free(&junk);
}

static void test_specials(void **state) {
    (void)state;
    int32_t eot = tok_eot_id(g_tok), user = tok_special_id(g_tok, "<|user|>");
    const char *text = "<|user|>hi<|endoftext|><|endoftext|>x<|endoftext|";
    tok_ids on = {0}, off = {0};
    assert_int_equal(tok_encode(g_tok, text, strlen(text), 1, &on), 0);
    assert_int_equal(tok_encode(g_tok, text, strlen(text), 0, &off), 0);
    assert_int_equal(on.ids[0], user);
    int n_eot = 0;
    for (size_t i = 0; i < on.n; i++) n_eot += on.ids[i] == eot;
    assert_int_equal(n_eot, 2);   /* the unterminated third one is text */
    for (size_t i = 0; i < off.n; i++) assert_true(off.ids[i] < 256 + tok_n_merges(g_tok));
    /* a special id decodes to its string */
    tok_bytes back = {0};
    assert_int_equal(tok_decode(g_tok, &eot, 1, &back), 0);
    assert_string_equal(back.data, "<|endoftext|>");
    /* text around a special is split exactly as without it */
    tok_ids a = {0}, b = {0};
    assert_int_equal(tok_encode(g_tok, "hi", 2, 1, &a), 0);
    assert_int_equal(tok_encode(g_tok, "<|end|>hi<|end|>", 16, 1, &b), 0);
    assert_int_equal(b.n, a.n + 2);
    assert_memory_equal(b.ids + 1, a.ids, a.n * sizeof *a.ids);
    tok_ids_free(&on); tok_ids_free(&off); tok_ids_free(&a); tok_ids_free(&b);
    tok_bytes_free(&back);
    assert_int_equal(stderr_lines(run_bad_decode, NULL), 1);
}

/* Both kernels on random id strings and on the chunks of real text. */
static void test_kernels_agree(void **state) {
    (void)state;
    ll_rng rng;
    ll_rng_seed(&rng, 7, 2);
    int32_t a[600], b[600];
    for (int trial = 0; trial < 2000; trial++) {
        size_t n = 1 + ll_rng_below(&rng, 600);
        const char *alphabet = trial % 2 ? "aab " : "the cat sat on a mat; aaaa";
        size_t na = strlen(alphabet);
        for (size_t i = 0; i < n; i++) a[i] = b[i] = (uint8_t)alphabet[ll_rng_below(&rng, na)];
        size_t m1 = tok_merge_simple(g_tok, a, n);
        long m2 = tok_merge_heap(g_tok, b, n);
        assert_int_equal((long)m1, m2);
        assert_memory_equal(a, b, m1 * sizeof *a);
    }
    /* a long chunk (the heap path inside encode) round-trips */
    size_t n = 100000;
    char *long_chunk = malloc(n);
    for (size_t i = 0; i < n; i++) long_chunk[i] = 'a' + (char)(i % 3 == 0);
    check_roundtrip(g_tok, long_chunk, n, 0);
    memset(long_chunk, ' ', n);
    check_roundtrip(g_tok, long_chunk, n, 0);
    free(long_chunk);
}

/* Different thread counts and block sizes must learn the same merges:
 * the identity covers every merge. */
static void test_thread_count_determinism(void **state) {
    (void)state;
    /* a text of many blocks: the corpus repeated with numbered lines */
    size_t cap = 64 * g_corpus_n + 64 * 32, n = 0;
    char *text = malloc(cap);
    for (int r = 0; r < 64; r++) {
        n += (size_t)sprintf(text + n, "Part %d of the text\n", r);
        memcpy(text + n, g_corpus, g_corpus_n);
        n += g_corpus_n;
    }
    const char *texts[] = {text, g_corpus};
    size_t lens[] = {n, g_corpus_n};
    char first[TOK_IDENTITY_MAX] = "";
    int threads[] = {1, 2, 3, 1, 2};
    size_t blocks[] = {0, 4096, 1000, 777, 64};
    for (int k = 0; k < 5; k++) {
        tok_train_options o;
        tok_train_options_default(&o);
        o.vocab_size = 800;
        o.threads = threads[k];
        o.block_bytes = blocks[k];
        tokenizer *t = tok_train_texts(texts, lens, 2, &o);
        assert_non_null(t);
        if (k == 0) snprintf(first, sizeof first, "%s", tok_identity(t));
        else assert_string_equal(first, tok_identity(t));
        tok_free(t);
    }
    free(text);
}

/* One tokenizer, many threads encoding at once: the same ids as serially. */
static void test_concurrent_encode(void **state) {
    (void)state;
    enum { DOCS = 64 };
    tok_ids serial[DOCS], parallel[DOCS];
    memset(serial, 0, sizeof serial);
    memset(parallel, 0, sizeof parallel);
    size_t piece = g_corpus_n / 8;
    for (int d = 0; d < DOCS; d++)
        assert_int_equal(tok_encode(g_tok, g_corpus + (d % 8) * piece, piece - (size_t)(d % 32), d % 2, &serial[d]), 0);
    int failed = 0;
    #pragma omp parallel for num_threads(4) schedule(dynamic, 1) reduction(|| : failed)
    for (int d = 0; d < DOCS; d++)
        if (tok_encode(g_tok, g_corpus + (d % 8) * piece, piece - (size_t)(d % 32), d % 2, &parallel[d]) != 0) failed = 1;
    assert_false(failed);
    for (int d = 0; d < DOCS; d++) {
        assert_int_equal(serial[d].n, parallel[d].n);
        assert_memory_equal(serial[d].ids, parallel[d].ids, serial[d].n * sizeof(int32_t));
        tok_ids_free(&serial[d]);
        tok_ids_free(&parallel[d]);
    }
}

static void test_save_load(void **state) {
    (void)state;
    char p1[300], p2[300];
    snprintf(p1, sizeof p1, "%s/a.json", g_dir);
    snprintf(p2, sizeof p2, "%s/b.json", g_dir);
    assert_int_equal(tok_save(g_tok, p1), 0);
    tokenizer *t = tok_load(p1);
    assert_non_null(t);
    assert_string_equal(tok_identity(t), tok_identity(g_tok));
    assert_string_equal(tok_pattern(t), TOK_DEFAULT_PATTERN);
    assert_int_equal(tok_save(t, p2), 0);
    char *a, *b;
    size_t na, nb;
    assert_int_equal(ll_read_file(p1, &a, &na), 0);
    assert_int_equal(ll_read_file(p2, &b, &nb), 0);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    free(a);
    free(b);
    tok_ids x = {0}, y = {0};
    assert_int_equal(tok_encode(g_tok, g_corpus, g_corpus_n, 1, &x), 0);
    assert_int_equal(tok_encode(t, g_corpus, g_corpus_n, 1, &y), 0);
    assert_int_equal(x.n, y.n);
    assert_memory_equal(x.ids, y.ids, x.n * sizeof *x.ids);
    tok_ids_free(&x);
    tok_ids_free(&y);
    tok_free(t);
    /* a directory path finds tokenizer.json inside */
    char p3[300];
    snprintf(p3, sizeof p3, "%s/tokenizer.json", g_dir);
    assert_int_equal(tok_save(g_tok, p3), 0);
    t = tok_load(g_dir);
    assert_non_null(t);
    tok_free(t);
}

/* ---- refusals: NULL / -1 and exactly one line ---- */

typedef struct {
    int vocab;
    const char *text;
    const char *pattern;
    const char *special;
} bad_train;

static void run_bad_train(void *arg) {
    bad_train *b = arg;
    tok_train_options o;
    tok_train_options_default(&o);
    o.vocab_size = b->vocab;
    o.pattern = b->pattern;
    if (b->special) { o.extra_specials = &b->special; o.n_extra_specials = 1; }
    const char *texts[] = {b->text};
    size_t lens[] = {strlen(b->text)};
    tokenizer *t = tok_train_texts(texts, lens, 1, &o);
    assert_null(t);
}

static void run_bad_paths(void *arg) {
    const char *paths[] = {arg};
    tok_train_options o;
    tok_train_options_default(&o);
    o.vocab_size = 300;
    assert_null(tok_train_paths(paths, 1, &o));
}

static void test_bad_training_input(void **state) {
    (void)state;
    bad_train cases[] = {
        {300, "", NULL, NULL},                      /* empty input */
        {260, "some text", NULL, NULL},             /* below 256 + 5 specials */
        {261 + 1, "some text", NULL, "<|end|>"},    /* a special twice */
        {300, "some text", "(unclosed", NULL},      /* bad pattern */
        {300, "some text", NULL, "\xff\xfe"},       /* a special that is not UTF-8 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        assert_int_equal(stderr_lines(run_bad_train, &cases[i]), 1);
    assert_int_equal(stderr_lines(run_bad_paths, "/nonexistent/llmpi/corpus"), 1);
    char empty_dir[300];
    snprintf(empty_dir, sizeof empty_dir, "%s/empty", g_dir);
    ll_mkdir_p(empty_dir);
    assert_int_equal(stderr_lines(run_bad_paths, empty_dir), 1);   /* no *.txt */
}

static void run_bad_load(void *arg) { assert_null(tok_load(arg)); }

/* Writes the saved file with `from` replaced by `to` (first occurrence). */
static void write_edited(const char *src, const char *dst, const char *from, const char *to) {
    char *text;
    size_t n;
    assert_int_equal(ll_read_file(src, &text, &n), 0);
    char *at = strstr(text, from);
    assert_non_null(at);
    FILE *f = fopen(dst, "wb");
    fwrite(text, 1, (size_t)(at - text), f);
    fputs(to, f);
    fputs(at + strlen(from), f);
    fclose(f);
    free(text);
}

static void test_bad_files(void **state) {
    (void)state;
    char good[300], bad[300];
    snprintf(good, sizeof good, "%s/good.json", g_dir);
    snprintf(bad, sizeof bad, "%s/bad.json", g_dir);
    assert_int_equal(tok_save(g_tok, good), 0);
    assert_int_equal(stderr_lines(run_bad_load, "/nonexistent/tokenizer.json"), 1);

    /* truncated */
    char *text;
    size_t n;
    assert_int_equal(ll_read_file(good, &text, &n), 0);
    FILE *f = fopen(bad, "wb");
    fwrite(text, 1, n / 2, f);
    fclose(f);
    assert_int_equal(stderr_lines(run_bad_load, bad), 1);
    /* random garbage */
    f = fopen(bad, "wb");
    for (int i = 0; i < 1000; i++) fputc((i * 7919) & 0xff, f);
    fclose(f);
    assert_int_equal(stderr_lines(run_bad_load, bad), 1);
    free(text);

    const char *edits[][2] = {
        {"\"version\": \"1.0\"", "\"version\": \"2.0\""},
        {"\"type\": \"BPE\"", "\"type\": \"WordPiece\""},
        {"\"behavior\": \"Isolated\"", "\"behavior\": \"Removed\""},
        {"\"decoder\": {\n    \"type\": \"ByteLevel\"", "\"decoder\": {\n    \"type\": \"BPEDecoder\""},
        {"\"merges\": [\n      \"", "\"merges\": [\n      \"\xc4\xa0"},   /* merge names another token */
        {"\"a\": 97,", "\"a\": 98,"},                       /* two ids for one string */
        {"\"special\": true", "\"special\": false"},
        {"\"content\": \"<|endoftext|>\"", "\"content\": \"<|eot|>\""},
        {"\"pretokenizers\": [", "\"pretokenizers\": [{\"type\": \"Digits\"},"},
        {"\"normalizer\": null", "\"normalizer\": {\"type\": \"NFC\"}"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof *edits; i++) {
        write_edited(good, bad, edits[i][0], edits[i][1]);
        if (stderr_lines(run_bad_load, bad) != 1) fail_msg("edit %zu (%s) was not refused with one line", i, edits[i][1]);
    }
    /* an edited pattern is another tokenizer: it loads under another identity */
    write_edited(good, bad, "\"Regex\": \"'", "\"Regex\": \"x'");
    tokenizer *edited = tok_load(bad);
    assert_non_null(edited);
    assert_string_not_equal(tok_identity(edited), tok_identity(g_tok));
    tok_free(edited);
}

/* Hugging Face's deserializer refuses any top-level key it does not know:
 * the file holds exactly the keys of its Tokenizer struct. */
static void test_hf_top_level_keys(void **state) {
    (void)state;
    char good[300];
    snprintf(good, sizeof good, "%s/keys.json", g_dir);
    assert_int_equal(tok_save(g_tok, good), 0);
    char *text;
    size_t n;
    assert_int_equal(ll_read_file(good, &text, &n), 0);
    const char *hf_keys[] = {"version", "truncation", "padding", "added_tokens", "normalizer",
                             "pre_tokenizer", "post_processor", "decoder", "model"};
    int found = 0;
    /* top-level keys are the lines indented by exactly two spaces */
    for (char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, "  \"", 3) != 0) continue;
        char key[64];
        const char *end = strchr(line + 3, '"');
        assert_non_null(end);
        snprintf(key, sizeof key, "%.*s", (int)(end - line - 3), line + 3);
        int known = 0;
        for (size_t k = 0; k < sizeof hf_keys / sizeof *hf_keys; k++) known |= !strcmp(key, hf_keys[k]);
        if (!known) fail_msg("top-level key \"%s\" is not one Hugging Face tokenizers accepts", key);
        found++;
    }
    assert_int_equal(found, (int)(sizeof hf_keys / sizeof *hf_keys));
    free(text);
}

/* Files written before HF compatibility carry an "llmpi" object: they load
 * with the same identity, and that object is still checked. */
static void test_legacy_files(void **state) {
    (void)state;
    char good[300], legacy[300], bad[300], meta[512];
    snprintf(good, sizeof good, "%s/new.json", g_dir);
    snprintf(legacy, sizeof legacy, "%s/legacy.json", g_dir);
    snprintf(bad, sizeof bad, "%s/legacy_bad.json", g_dir);
    assert_int_equal(tok_save(g_tok, good), 0);
    snprintf(meta, sizeof meta,
             "{\n  \"llmpi\": {\n    \"format\": \"llmpi-bpe\",\n    \"version\": 1,\n    \"vocab_size\": 700,\n"
             "    \"identity\": \"%s\"\n  },\n  \"version\"", tok_identity(g_tok));
    write_edited(good, legacy, "{\n  \"version\"", meta);
    tokenizer *t = tok_load(legacy);
    assert_non_null(t);
    assert_string_equal(tok_identity(t), tok_identity(g_tok));
    tok_free(t);
    const char *edits[][2] = {
        {"\"format\": \"llmpi-bpe\"", "\"format\": \"x\""},
        {"\"version\": 1,", "\"version\": 2,"},
        {"\"identity\": \"bpe700-", "\"identity\": \"bpe701-"},
        {"\"vocab_size\": 700", "\"vocab_size\": 701"},
        {"\"Regex\": \"'", "\"Regex\": \"x'"},   /* changed pattern: the stored identity differs */
    };
    for (size_t i = 0; i < sizeof edits / sizeof *edits; i++) {
        write_edited(legacy, bad, edits[i][0], edits[i][1]);
        if (stderr_lines(run_bad_load, bad) != 1) fail_msg("legacy edit %zu (%s) was not refused with one line", i, edits[i][1]);
    }
}

static void run_save_bytes(void *arg) {
    tokenizer *t = tok_bytes_new();
    assert_non_null(t);
    assert_int_equal(tok_save(t, arg), -1);
    tok_free(t);
}

/* The byte tokenizer: ids are the bytes, 256 is end-of-text, no file. */
static void test_bytes_tokenizer(void **state) {
    (void)state;
    tokenizer *t = tok_bytes_new(), *named = tok_load(TOK_BYTES_NAME);
    assert_non_null(t);
    assert_non_null(named);
    assert_true(tok_is_bytes(t) && tok_is_bytes(named) && !tok_is_bytes(g_tok));
    assert_string_equal(tok_identity(t), TOK_BYTES_IDENTITY);
    assert_string_equal(tok_identity(named), TOK_BYTES_IDENTITY);
    assert_int_equal(tok_vocab_size(t), 257);
    assert_int_equal(tok_eot_id(t), 256);
    assert_int_equal(tok_n_merges(t), 0);
    assert_int_equal(tok_special_id(t, TOK_EOT), 256);
    unsigned char all[512];
    for (int i = 0; i < 512; i++) all[i] = (unsigned char)(i * 37 + 11);
    tok_ids ids = {0};
    assert_int_equal(tok_encode(t, all, sizeof all, 0, &ids), 0);
    assert_int_equal(ids.n, sizeof all);
    for (size_t i = 0; i < ids.n; i++) assert_int_equal(ids.ids[i], all[i]);
    tok_ids_free(&ids);
    check_roundtrip(t, all, sizeof all, 0);
    check_roundtrip(t, g_corpus, g_corpus_n, 0);
    /* with specials allowed, only the exact end-of-text string becomes 256 */
    const char *text = "ab<|endoftext|><|user|>c";
    assert_int_equal(tok_encode(t, text, strlen(text), 1, &ids), 0);
    assert_int_equal(ids.n, 2 + 1 + strlen("<|user|>") + 1);
    assert_int_equal(ids.ids[2], 256);
    assert_int_equal(ids.ids[3], '<');
    tok_ids_free(&ids);
    char path[300];
    snprintf(path, sizeof path, "%s/bytes.json", g_dir);
    assert_int_equal(stderr_lines(run_save_bytes, path), 1);
    assert_int_equal(access(path, F_OK), -1);
    tok_free(t);
    tok_free(named);
}

int main(void) {
    if (!getenv("LLMPI_SOURCE_DIR")) { fprintf(stderr, "LLMPI_SOURCE_DIR not set\n"); return 1; }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vocab_layout),
        cmocka_unit_test(test_roundtrip_random_bytes),
        cmocka_unit_test(test_specials),
        cmocka_unit_test(test_kernels_agree),
        cmocka_unit_test(test_thread_count_determinism),
        cmocka_unit_test(test_concurrent_encode),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_bad_training_input),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_hf_top_level_keys),
        cmocka_unit_test(test_legacy_files),
        cmocka_unit_test(test_bytes_tokenizer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* test_sft_store.c: the SFT store and the loader's SFT rows.
 * - round trip over the fixtures mix: every train/val example's tokens,
 *   mask and source read back equal the build's, in training order; the
 *   mask marks exactly runs <assistant text> <|end|> after each
 *   <|assistant|>; root attributes (tokenizer, template, mix text, names);
 * - the same build written twice gives the same bytes;
 * - a build that fails (tokenizer without chat specials, missing path)
 *   writes nothing; a token store is refused by the SFT reader;
 * - packing: examples in order, never straddling, a long one truncated and
 *   counted, padding with targets -1, targets only where the mask says;
 * - the SFT loader: 1 rank x 4 rows sees the same rows as 2 ranks x 2, and
 *   a saved state restores the same batches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <sys/stat.h>

#include "llmpi/loader.h"
#include "sft/sft_testutil.h"

static tokenizer *g_tok;
static char g_dir[64], g_tok_path[128];

static int setup(void **state) {
    (void)state;
    g_tok = fixture_tokenizer();
    snprintf(g_dir, sizeof g_dir, "/tmp/sft_store_XXXXXX");
    if (!g_tok || !mkdtemp(g_dir)) return -1;
    snprintf(g_tok_path, sizeof g_tok_path, "%s/tok.json", g_dir);
    return tok_save(g_tok, g_tok_path);
}

static int teardown(void **state) {
    (void)state;
    tok_free(g_tok);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *mix_path(void) {
    static char path[1024];
    const char *src = getenv("LLMPI_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/tests/sft/fixtures-mix.ini", src ? src : "..");
    return path;
}

static const char *tmp(const char *name) {
    static char path[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", g_dir, name);
    return path[k];
}

static void build(sft_mix *m, sft_mixed *x) {
    assert_int_equal(sft_mix_load(mix_path(), m), 0);
    int rc;
    /* the fixtures hold malformed records on purpose: their warnings are expected */
    fflush(stderr);
    rc = sft_mix_build(m, g_tok, x);
    assert_int_equal(rc, 0);
}

/* Checks one loaded split against the build's examples idx[0..n). */
static void check_split(const sft_split *sp, const sft_mixed *x, const int64_t *idx, int64_t n,
                        const sft_template *tpl) {
    assert_int_equal(sp->n_examples, (uint64_t)n);
    for (int64_t k = 0; k < n; k++) {
        const int32_t *ids;
        const uint8_t *mask;
        size_t len = sft_mixed_example(x, idx[k], &ids, &mask);
        uint64_t a = sp->offsets[k];
        assert_int_equal(sp->offsets[k + 1] - a, len);
        assert_memory_equal(sp->tokens + a, ids, len * sizeof *ids);
        assert_memory_equal(sp->mask + a, mask, len);
        assert_int_equal(sp->source[k], x->source[idx[k]]);
        /* mask = runs that follow an <|assistant|> and end with <|end|> */
        int runs = 0, assistants = 0;
        for (size_t t = 0; t < len; t++) {
            assistants += sp->tokens[a + t] == tpl->id_assistant;
            if (sp->mask[a + t] && (t == 0 || !sp->mask[a + t - 1])) {
                runs++;
                assert_true(t > 0 && sp->tokens[a + t - 1] == tpl->id_assistant);
            }
            if (sp->mask[a + t] && (t + 1 == len || !sp->mask[a + t + 1]))
                assert_int_equal(sp->tokens[a + t], tpl->id_end);
            if (sp->tokens[a + t] == tpl->id_end && t > 0 && sp->mask[a + t - 1]) assert_int_equal(sp->mask[a + t], 1);
        }
        assert_int_equal(runs, assistants);
        assert_true(runs >= 1);
        assert_int_equal(sp->tokens[a + len - 1], tpl->id_eot);
        assert_int_equal(sp->mask[a + len - 1], 0);
    }
}

static void test_round_trip(void **state) {
    (void)state;
    sft_mix m;
    sft_mixed x;
    build(&m, &x);
    sft_template tpl;
    assert_int_equal(sft_template_init(&tpl, g_tok), 0);
    assert_int_equal(sft_store_write(tmp("a.h5"), &x, &m, g_tok), 0);
    sft_store s;
    assert_int_equal(sft_store_load(tmp("a.h5"), &s), 0);
    assert_int_equal(s.version, SFT_STORE_VERSION);
    assert_int_equal(s.vocab_size, (uint32_t)tok_vocab_size(g_tok));
    assert_int_equal(s.eot_id, (uint32_t)tok_eot_id(g_tok));
    assert_string_equal(s.tokenizer, tok_identity(g_tok));
    assert_string_equal(s.template_name, SFT_TEMPLATE);
    assert_string_equal(s.mix_text, m.text);
    assert_int_equal(s.n_sources, m.n_sources);
    for (int i = 0; i < m.n_sources; i++) assert_string_equal(s.source_names[i], m.sources[i].name);
    assert_non_null(strstr(s.report, "\"train_examples\""));
    check_split(&s.split[0], &x, x.train, x.n_train, &tpl);
    check_split(&s.split[1], &x, x.val, x.n_val, &tpl);
    char *text = sft_store_summary(&s);
    assert_non_null(text);
    assert_non_null(strstr(text, "sharegpt"));
    free(text);
    assert_int_equal(sft_store_matches(tmp("a.h5"), m.text, tok_identity(g_tok)), 1);
    assert_int_equal(sft_store_matches(tmp("a.h5"), "[mix]\n", tok_identity(g_tok)), 0);
    assert_int_equal(sft_store_matches(tmp("a.h5"), m.text, "bpe-other"), 0);
    assert_int_equal(sft_store_matches(tmp("none.h5"), m.text, tok_identity(g_tok)), 0);
    sft_store_free(&s);

    /* the same build again: the same bytes */
    assert_int_equal(sft_store_write(tmp("b.h5"), &x, &m, g_tok), 0);
    char *a, *b;
    size_t na, nb;
    assert_int_equal(ll_read_file(tmp("a.h5"), &a, &na), 0);
    assert_int_equal(ll_read_file(tmp("b.h5"), &b, &nb), 0);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    free(a);
    free(b);
    sft_mixed_free(&x);
    sft_mix_free(&m);
}

static int build_bytes(void *arg) {
    (void)arg;
    return sft_build_store(mix_path(), "bytes", tmp("bytes.h5"));
}

static int build_missing(void *arg) {
    (void)arg;
    static char path[256];
    snprintf(path, sizeof path, "%s/bad.ini", g_dir);
    const char *text = "[mix]\n[source x]\npath = does/not/exist.jsonl\n";
    if (ll_write_file_atomic(path, text, strlen(text)) != 0) return 0;
    return sft_build_store(path, g_tok_path, tmp("missing.h5"));
}

static int load_token_store(void *arg) {
    sft_store s;
    return sft_store_load((const char *)arg, &s);
}

static void test_errors(void **state) {
    (void)state;
    int rc;
    char *err = capture_stderr(build_bytes, NULL, &rc);
    assert_int_equal(rc, -1);
    assert_int_equal(count_lines(err), 1);
    assert_non_null(strstr(err, "<|assistant|>"));
    free(err);
    struct stat st;
    assert_int_not_equal(stat(tmp("bytes.h5"), &st), 0);
    err = capture_stderr(build_missing, NULL, &rc);
    assert_int_equal(rc, -1);
    assert_int_equal(count_lines(err), 1);
    assert_non_null(strstr(err, "does/not/exist.jsonl"));
    free(err);
    assert_int_not_equal(stat(tmp("missing.h5"), &st), 0);
    /* a token store is not an SFT store */
    store_writer *w = store_writer_create(tmp("tokens.h5"), 300, 256, "bytes-v1");
    assert_non_null(w);
    int32_t t[3] = {1, 2, 256};
    assert_int_equal(store_writer_append(w, STORE_TRAIN, t, 3), 0);
    assert_int_equal(store_writer_finish(w), 0);
    err = capture_stderr(load_token_store, (void *)tmp("tokens.h5"), &rc);
    assert_int_equal(rc, -1);
    assert_int_equal(count_lines(err), 1);
    assert_non_null(strstr(err, "llmpi-sft"));
    free(err);
}

/* examples of lengths 3, 5, 10, 2, 4 (token = 100 * example + position,
 * mask on odd positions); T = 7, rows of 8 slots */
static void make_split(sft_split *sp, int32_t *tokens, uint8_t *mask, uint64_t *offsets, uint16_t *source) {
    static const int lens[5] = {3, 5, 10, 2, 4};
    uint64_t at = 0;
    offsets[0] = 0;
    for (int k = 0; k < 5; k++) {
        for (int i = 0; i < lens[k]; i++, at++) {
            tokens[at] = 100 * k + i;
            mask[at] = (uint8_t)(i % 2);
        }
        offsets[k + 1] = at;
        source[k] = 0;
    }
    *sp = (sft_split){5, at, tokens, mask, offsets, source};
}

static void test_pack(void **state) {
    (void)state;
    int32_t tokens[24];
    uint8_t mask[24];
    uint64_t offsets[6];
    uint16_t source[5];
    sft_split sp;
    make_split(&sp, tokens, mask, offsets, source);
    loader_pack p;
    assert_int_equal(loader_pack_init(&p, &sp, 7, 9999), 0);
    assert_int_equal(p.n_rows, 3);
    assert_int_equal(p.row_first[0], 0);
    assert_int_equal(p.row_first[1], 2);
    assert_int_equal(p.row_first[2], 3);
    assert_int_equal(p.row_first[3], 5);
    assert_int_equal(p.n_truncated, 1);
    assert_true(fabs(loader_pack_padding(&p) - (1.0 - 22.0 / 24.0)) < 1e-12);
    int in[7], tg[7];
    /* row 0: example 0 (0,1,2) then example 1 (100..104): full */
    loader_pack_row(&p, 0, in, tg);
    const int in0[7] = {0, 1, 2, 100, 101, 102, 103}, tg0[7] = {1, -1, -1, 101, -1, 103, -1};
    assert_memory_equal(in, in0, sizeof in0);
    assert_memory_equal(tg, tg0, sizeof tg0);
    /* row 1: example 2 cut to 8 tokens */
    loader_pack_row(&p, 1, in, tg);
    const int in1[7] = {200, 201, 202, 203, 204, 205, 206}, tg1[7] = {201, -1, 203, -1, 205, -1, 207};
    assert_memory_equal(in, in1, sizeof in1);
    assert_memory_equal(tg, tg1, sizeof tg1);
    /* row 2: examples 3 and 4 (6 tokens), then padding */
    loader_pack_row(&p, 2, in, tg);
    const int in2[7] = {300, 301, 400, 401, 402, 403, 9999}, tg2[7] = {301, -1, 401, -1, 403, -1, -1};
    assert_memory_equal(in, in2, sizeof in2);
    assert_memory_equal(tg, tg2, sizeof tg2);
    loader_pack_free(&p);
}

/* A split of n examples with the given lengths (token = 1000 * example +
 * position, all targets); source = example index mod 3. */
static void make_split_lens(sft_split *sp, int n, const int *lens, int32_t *tokens, uint8_t *mask,
                            uint64_t *offsets, uint16_t *source) {
    uint64_t at = 0;
    offsets[0] = 0;
    for (int k = 0; k < n; k++) {
        for (int i = 0; i < lens[k]; i++, at++) {
            tokens[at] = 1000 * k + i;
            mask[at] = 1;
        }
        offsets[k + 1] = at;
        source[k] = (uint16_t)(k % 3);
    }
    *sp = (sft_split){(uint64_t)n, at, tokens, mask, offsets, source};
}

/* Best fit: lengths 5, 5, 3, 3 in rows of 8 make 2 full rows (in-order
 * packing would need 3); each row lists its examples in stored order. */
static void test_pack_best_fit(void **state) {
    (void)state;
    const int lens[4] = {5, 5, 3, 3};
    int32_t tokens[16];
    uint8_t mask[16];
    uint64_t offsets[5];
    uint16_t source[4];
    sft_split sp;
    make_split_lens(&sp, 4, lens, tokens, mask, offsets, source);
    loader_pack p;
    assert_int_equal(loader_pack_init(&p, &sp, 7, 9999), 0);
    assert_int_equal(p.n_rows, 2);
    const uint64_t order[4] = {0, 2, 1, 3}, first[3] = {0, 2, 4};
    assert_memory_equal(p.order, order, sizeof order);
    assert_memory_equal(p.row_first, first, sizeof first);
    assert_true(loader_pack_padding(&p) == 0.0);
    int in[7], tg[7];
    loader_pack_row(&p, 1, in, tg);
    const int in1[7] = {1000, 1001, 1002, 1003, 1004, 3000, 3001}, tg1[7] = {1001, 1002, 1003, 1004, 3000, 3001, 3002};
    assert_memory_equal(in, in1, sizeof in1);
    assert_memory_equal(tg, tg1, sizeof tg1);
    loader_pack_free(&p);
}

/* The window: 40 examples of 5 then 40 of 3 in rows of 8. Only the last
 * LOADER_PACK_OPEN rows of 5 are still open when the 3s come: rows 0..7 keep
 * their padding, rows 8..39 take one 3 each (oldest first), the last eight 3s
 * pair up in rows 40..43. Truncation is counted per source. */
static void test_pack_window(void **state) {
    (void)state;
    enum { N = 82 };
    int lens[N];
    for (int k = 0; k < N; k++) lens[k] = k < 40 ? 5 : k < 80 ? 3 : 20;
    int32_t tokens[40 * 5 + 40 * 3 + 2 * 20];
    uint8_t mask[sizeof tokens / sizeof tokens[0]];
    uint64_t offsets[N + 1];
    uint16_t source[N];
    sft_split sp;
    make_split_lens(&sp, N, lens, tokens, mask, offsets, source);
    assert_int_equal(LOADER_PACK_OPEN, 32);
    loader_pack p;
    assert_int_equal(loader_pack_init(&p, &sp, 7, 0), 0);
    assert_int_equal(p.n_rows, 46);   /* + 2 rows for the truncated 80, 81 */
    for (int r = 0; r < 8; r++) {
        assert_int_equal(p.row_first[r + 1] - p.row_first[r], 1);
        assert_int_equal(p.order[p.row_first[r]], r);
    }
    for (int r = 8; r < 40; r++) {
        assert_int_equal(p.row_first[r + 1] - p.row_first[r], 2);
        assert_int_equal(p.order[p.row_first[r]], r);
        assert_int_equal(p.order[p.row_first[r] + 1], 40 + (r - 8));
    }
    for (int r = 40; r < 44; r++) {
        assert_int_equal(p.row_first[r + 1] - p.row_first[r], 2);
        assert_int_equal(p.order[p.row_first[r]], 72 + 2 * (r - 40));
    }
    assert_int_equal(p.order[p.row_first[44]], 80);
    assert_int_equal(p.order[p.row_first[45]], 81);
    assert_int_equal(p.n_truncated, 2);
    assert_int_equal(p.n_sources, 3);
    assert_int_equal(p.source_truncated[0], 1);   /* 80 % 3 = 2, 81 % 3 = 0 */
    assert_int_equal(p.source_truncated[1], 0);
    assert_int_equal(p.source_truncated[2], 1);
    loader_pack_free(&p);
}

static void test_loader_sft(void **state) {
    (void)state;
    int32_t tokens[24];
    uint8_t mask[24];
    uint64_t offsets[6];
    uint16_t source[5];
    sft_split sp;
    make_split(&sp, tokens, mask, offsets, source);
    loader_pack p;
    assert_int_equal(loader_pack_init(&p, &sp, 3, 0), 0);   /* rows of 4: more rows than a batch */
    loader one, r0, r1;
    assert_int_equal(loader_init_sft(&one, &p, 4, 1, 0, 1, 7), 0);
    assert_int_equal(loader_init_sft(&r0, &p, 2, 1, 0, 2, 7), 0);
    assert_int_equal(loader_init_sft(&r1, &p, 2, 1, 1, 2, 7), 0);
    int a_in[12], a_tg[12], b_in[12], b_tg[12];
    loader_state saved;
    int s_in[12], s_tg[12];
    for (int step = 0; step < 5; step++) {
        if (step == 2) loader_get_state(&one, &saved);
        assert_int_equal(loader_next(&one, a_in, a_tg), 0);
        assert_int_equal(loader_next(&r0, b_in, b_tg), 0);
        assert_int_equal(loader_next(&r1, b_in + 6, b_tg + 6), 0);
        assert_memory_equal(a_in, b_in, sizeof a_in);
        assert_memory_equal(a_tg, b_tg, sizeof a_tg);
        if (step == 2) { memcpy(s_in, a_in, sizeof s_in); memcpy(s_tg, a_tg, sizeof s_tg); }
    }
    loader fresh;
    assert_int_equal(loader_init_sft(&fresh, &p, 4, 1, 0, 1, 7), 0);
    assert_int_equal(loader_set_state(&fresh, &saved), 0);
    assert_int_equal(loader_next(&fresh, a_in, a_tg), 0);
    assert_memory_equal(a_in, s_in, sizeof s_in);
    assert_memory_equal(a_tg, s_tg, sizeof s_tg);
    loader_free(&one);
    loader_free(&r0);
    loader_free(&r1);
    loader_free(&fresh);
    loader_pack_free(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_pack),
        cmocka_unit_test(test_pack_best_fit),
        cmocka_unit_test(test_pack_window),
        cmocka_unit_test(test_loader_sft),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* test_sft_mix.c: the mix file (checked like configs: every bad input is one
 * "FILE:LINE: problem" line), the blending (every prefix within 1 of the
 * target share on random weights; whole seeded passes then a seeded part),
 * and the build over the fixtures: deterministic per seed, a changed weight
 * or seed changes the order, duplicates dropped and counted (first in mix
 * order wins), the val split, an all-malformed source refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "sft/sft_testutil.h"

static tokenizer *g_tok;
static char g_dir[64];

static int setup(void **state) {
    (void)state;
    g_tok = fixture_tokenizer();
    snprintf(g_dir, sizeof g_dir, "/tmp/sft_mix_XXXXXX");
    return g_tok && mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    tok_free(g_tok);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes text to g_dir/name; returns the path (static). */
static const char *write_mix(const char *name, const char *text) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    assert_int_equal(ll_write_file_atomic(path, text, strlen(text)), 0);
    return path;
}

/* The fixtures folder relative to g_dir is not known; use absolute paths. */
static char *mix_text(const char *body_fmt, ...) {
    static char text[8192];
    va_list ap;
    va_start(ap, body_fmt);
    vsnprintf(text, sizeof text, body_fmt, ap);
    va_end(ap);
    return text;
}

static void test_mix_load_good(void **state) {
    (void)state;
    const char *p = write_mix("good.ini",
                              "; a comment\n[mix]\nseed = 7\nval_fraction = 0.25\nsystem = Be kind.\n"
                              "name = Ada\nauthor = Lab\n\n[source one]\npath = data/one.jsonl\n"
                              "format = gsm8k\nweight = 2.5\nmax_examples = 10\n"
                              "[source two]\npath = /abs/two.json\nkeep_status = *\n");
    sft_mix m;
    assert_int_equal(sft_mix_load(p, &m), 0);
    assert_int_equal(m.seed, 7);
    assert_true(m.val_fraction == 0.25);
    assert_string_equal(m.system, "Be kind.");
    assert_string_equal(m.name, "Ada");
    assert_int_equal(m.n_sources, 2);
    assert_string_equal(m.sources[0].name, "one");
    char want[300];
    snprintf(want, sizeof want, "%s/data/one.jsonl", g_dir);
    assert_string_equal(m.sources[0].path, want); /* relative to the mix file's folder */
    assert_int_equal(m.sources[0].format, SFT_FORMAT_GSM8K);
    assert_true(m.sources[0].weight == 2.5);
    assert_int_equal(m.sources[0].max_examples, 10);
    assert_string_equal(m.sources[1].path, "/abs/two.json");
    assert_int_equal(m.sources[1].format, SFT_FORMAT_AUTO);
    assert_true(m.sources[1].weight == 1.0);
    assert_string_equal(m.sources[1].keep_status, "*");
    assert_non_null(strstr(m.text, "[source two]"));
    sft_mix_free(&m);
}

static const char *g_bad_path;
static int load_bad(void *arg) {
    (void)arg;
    sft_mix m;
    int rc = sft_mix_load(g_bad_path, &m);
    if (rc == 0) sft_mix_free(&m);
    return rc;
}

/* Error lines (warnings about skipped records are not errors). */
static int error_lines(const char *s) {
    int n = 0;
    for (const char *p = s; p && *p;) {
        const char *e = strchr(p, '\n');
        if (!e) break;
        if (!strstr(p, "warning:") || strstr(p, "warning:") > e) n++;
        p = e + 1;
    }
    return n;
}

static void expect_bad(const char *text, const char *where, const char *what) {
    g_bad_path = write_mix("bad.ini", text);
    int rc;
    char *err = capture_stderr(load_bad, NULL, &rc);
    if (rc != -1 || count_lines(err) != 1 || !strstr(err, where) || !strstr(err, what))
        fprintf(stderr, "for:\n%s\ngot rc %d: %s", text, rc, err ? err : "(null)");
    assert_int_equal(rc, -1);
    assert_int_equal(count_lines(err), 1);
    assert_non_null(strstr(err, where));
    assert_non_null(strstr(err, what));
    free(err);
}

static void test_mix_load_bad(void **state) {
    (void)state;
    expect_bad("[mix]\nseed = 1\n[source a]\npath = x\nwieght = 2\n", "bad.ini:5:", "unknown key 'wieght'");
    expect_bad("[mix]\n[source a]\npath = x\nweight = -1\n", "bad.ini:4:", "weight: '-1'");
    expect_bad("[mix]\n[source a]\npath = x\nweight = 2x\n", "bad.ini:4:", "weight: '2x'");
    expect_bad("[mix]\n[source a]\npath = x\nformat = alpacca\n", "bad.ini:4:", "unknown format 'alpacca'");
    expect_bad("[mix]\nval_fraction = 1.5\n[source a]\npath = x\n", "bad.ini:2:", "val_fraction");
    expect_bad("[mix]\nseed = -3\n[source a]\npath = x\n", "bad.ini:2:", "seed");
    expect_bad("[mix]\n[sauce a]\npath = x\n", "bad.ini:2:", "unknown section [sauce a]");
    expect_bad("[mix]\n[source a]\npath = x\npath = y\n", "bad.ini:4:", "set twice");
    expect_bad("[mix]\n[source a]\npath = x\n[source a]\npath = y\n", "bad.ini:4:", "defined twice");
    expect_bad("[mix]\n[source a]\nweight = 1\n", "bad.ini:2:", "has no path");
    expect_bad("[mix]\nseed = 1\n", "bad.ini", "no [source NAME]");
    expect_bad("[mix]\n[source a]\npath = x\nmax_examples = 1.5\n", "bad.ini:4:", "max_examples");
    expect_bad("[mix]\n[source a]\nthis line has no equals sign\n", "bad.ini:3:", "syntax error");
    expect_bad("seed = 1\n[mix]\n", "bad.ini:1:", "before any section");
}

/* Every prefix within 1 of the share, on random counts. */
static void test_blend_prefix_property(void **state) {
    (void)state;
    ll_rng r;
    ll_rng_seed(&r, 99, 0);
    double worst = 0;
    for (int trial = 0; trial < 300; trial++) {
        int n = 1 + (int)ll_rng_below(&r, 12);
        int64_t counts[12], total = 0;
        for (int i = 0; i < n; i++) {
            /* a mix of tiny, zero and large sources */
            uint64_t kind = ll_rng_below(&r, 4);
            counts[i] = kind == 0 ? 0 : kind == 1 ? (int64_t)ll_rng_below(&r, 5) : (int64_t)ll_rng_below(&r, 2000);
            total += counts[i];
        }
        if (total == 0) continue;
        uint16_t *order = malloc((size_t)total * sizeof *order);
        assert_int_equal(sft_blend_order(counts, n, order), 0);
        int64_t got[12] = {0};
        for (int64_t k = 0; k < total; k++) {
            assert_true(order[k] < n);
            got[order[k]]++;
            for (int i = 0; i < n; i++) {
                double e = fabs((double)got[i] - (double)counts[i] * (double)(k + 1) / (double)total);
                if (e > worst) worst = e;
                assert_true(e < 1.0);
            }
        }
        for (int i = 0; i < n; i++) assert_int_equal(got[i], counts[i]);
        free(order);
    }
    fprintf(stderr, "worst prefix error over 300 random mixes: %.4f\n", worst);
}

static void test_weighted_take(void **state) {
    (void)state;
    int64_t *t, n;
    assert_int_equal(sft_weighted_take(4, 2.5, 1, 5, &t, &n), 0);
    assert_int_equal(n, 10);
    /* two whole passes: each a permutation of 0..3 */
    for (int p = 0; p < 2; p++) {
        int seen[4] = {0};
        for (int i = 0; i < 4; i++) seen[t[4 * p + i]]++;
        for (int i = 0; i < 4; i++) assert_int_equal(seen[i], 1);
    }
    assert_true(t[8] != t[9]);
    int64_t *t2, n2;
    assert_int_equal(sft_weighted_take(4, 2.5, 1, 5, &t2, &n2), 0);
    assert_memory_equal(t, t2, 10 * sizeof *t);
    free(t2);
    assert_int_equal(sft_weighted_take(4, 2.5, 2, 5, &t2, &n2), 0);
    assert_true(memcmp(t, t2, 10 * sizeof *t) != 0);
    free(t2);
    free(t);
    assert_int_equal(sft_weighted_take(7, 0.5, 1, 5, &t, &n), 0);
    assert_int_equal(n, 4); /* round(3.5) */
    free(t);
    assert_int_equal(sft_weighted_take(7, 0.0, 1, 5, &t, &n), 0);
    assert_int_equal(n, 0);
    free(t);
}

static const char *fixture_mix(const char *name, double w_gsm, uint64_t seed, double val) {
    return write_mix(name, mix_text("[mix]\nseed = %llu\nval_fraction = %g\n"
                                    "[source gsm]\npath = %s\nweight = %g\n"
                                    "[source alpaca]\npath = %s\nweight = 3\n"
                                    "[source chat]\npath = %s\nweight = 0.5\n"
                                    "[source openai]\npath = %s\n"
                                    "[source hh]\npath = %s\nweight = 2\n"
                                    "[source oasst]\npath = %s\nweight = 4\n"
                                    "[source chat-again]\npath = %s\n",
                                    (unsigned long long)seed, val, fixture("gsm8k.jsonl"), w_gsm,
                                    fixture("alpaca.json"), fixture("sharegpt.json"), fixture("openai.jsonl"),
                                    fixture("hh.jsonl"), fixture("oasst_flat.jsonl"), fixture("sharegpt.jsonl")));
}

static void build(const char *path, sft_mixed *x, sft_mix *m) {
    assert_int_equal(sft_mix_load(path, m), 0);
    assert_int_equal(sft_mix_build(m, g_tok, x), 0);
}

static int same_train(const sft_mixed *a, const sft_mixed *b) {
    if (a->n_train != b->n_train) return 0;
    for (int64_t k = 0; k < a->n_train; k++) {
        const int32_t *ia, *ib;
        const uint8_t *ma, *mb;
        size_t na = sft_mixed_example(a, a->train[k], &ia, &ma), nb = sft_mixed_example(b, b->train[k], &ib, &mb);
        if (na != nb || memcmp(ia, ib, na * sizeof *ia) || memcmp(ma, mb, na)) return 0;
    }
    return 1;
}

static void test_build(void **state) {
    (void)state;
    sft_mix m1, m2, m3, m4;
    sft_mixed a, b, c, d;
    build(fixture_mix("a.ini", 2.0, 11, 0.0), &a, &m1);
    /* per source: unique examples and the weighted counts */
    int64_t want_unique[7] = {2, 3, 2, 2, 2, 2, 0};
    int64_t want_train[7] = {4, 9, 1, 2, 4, 8, 0};
    for (int i = 0; i < 7; i++) {
        assert_int_equal(a.reports[i].unique, want_unique[i]);
        assert_int_equal(a.reports[i].train_examples, want_train[i]);
        assert_true(a.reports[i].max_prefix_error <= 1.0);
        assert_true(fabs(a.reports[i].target_share - a.reports[i].actual_share) < 1e-12);
    }
    /* the JSONL twin of the ShareGPT fixture is all duplicates, counted */
    assert_int_equal(a.reports[6].duplicates, 2);
    assert_int_equal(a.n_train, 28);
    /* every train example's mask has a target and tokens are in range */
    for (int64_t k = 0; k < a.n_train; k++) {
        const int32_t *ids;
        const uint8_t *mk;
        size_t n = sft_mixed_example(&a, a.train[k], &ids, &mk);
        int targets = 0;
        for (size_t i = 0; i < n; i++) { targets += mk[i]; assert_true(ids[i] < a.vocab_size); }
        assert_true(targets > 0);
    }
    /* same seed: identical; another weight or seed: another order */
    build(fixture_mix("b.ini", 2.0, 11, 0.0), &b, &m2);
    assert_true(same_train(&a, &b));
    build(fixture_mix("c.ini", 3.0, 11, 0.0), &c, &m3);
    assert_false(same_train(&a, &c));
    assert_int_equal(c.reports[0].train_examples, 6);
    build(fixture_mix("d.ini", 2.0, 12, 0.0), &d, &m4);
    assert_false(same_train(&a, &d));
    char *report = sft_mixed_report_json(&a, &m1);
    assert_non_null(strstr(report, "\"duplicates\": 2"));
    free(report);
    sft_mixed_free(&a); sft_mixed_free(&b); sft_mixed_free(&c); sft_mixed_free(&d);
    sft_mix_free(&m1); sft_mix_free(&m2); sft_mix_free(&m3); sft_mix_free(&m4);
}

static void test_val_split(void **state) {
    (void)state;
    sft_mix m;
    sft_mixed x;
    build(fixture_mix("v.ini", 1.0, 5, 0.5), &x, &m);
    int64_t vals = 0;
    for (int i = 0; i < x.n_sources; i++) {
        int64_t u = x.reports[i].unique;
        int64_t want = u ? (int64_t)llround(0.5 * (double)u) : 0;
        if (u && want > u - 1) want = u - 1;
        assert_int_equal(x.reports[i].val_examples, want);
        assert_int_equal(x.reports[i].train_unique, u - want);
        vals += want;
    }
    assert_int_equal(x.n_val, vals);
    /* no val example is in the train sequence */
    for (int64_t v = 0; v < x.n_val; v++)
        for (int64_t k = 0; k < x.n_train; k++) assert_true(x.train[k] != x.val[v]);
    sft_mixed_free(&x);
    sft_mix_free(&m);
}

static int build_bad(void *arg) {
    sft_mix m;
    sft_mixed x;
    if (sft_mix_load(arg, &m)) return -1;
    int rc = sft_mix_build(&m, g_tok, &x);
    if (rc == 0) sft_mixed_free(&x);
    sft_mix_free(&m);
    return rc;
}

static void test_build_errors(void **state) {
    (void)state;
    /* all records malformed */
    const char *p = write_mix("allbad.ini", mix_text("[mix]\n[source broken]\npath = %s\nformat = gsm8k\n",
                                                   fixture("alpaca.json")));
    int rc;
    char *err = capture_stderr(build_bad, (void *)p, &rc);
    assert_int_equal(rc, -1);
    assert_int_equal(error_lines(err), 1);
    assert_non_null(strstr(err, "source broken"));
    assert_non_null(strstr(err, "no usable example"));
    free(err);
    /* a missing path */
    p = write_mix("missing.ini", "[mix]\n[source gone]\npath = nowhere.jsonl\n");
    err = capture_stderr(build_bad, (void *)p, &rc);
    assert_int_equal(rc, -1);
    assert_int_equal(error_lines(err), 1);
    assert_non_null(strstr(err, "nowhere.jsonl"));
    free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mix_load_good),
        cmocka_unit_test(test_mix_load_bad),
        cmocka_unit_test(test_blend_prefix_property),
        cmocka_unit_test(test_weighted_take),
        cmocka_unit_test(test_build),
        cmocka_unit_test(test_val_split),
        cmocka_unit_test(test_build_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

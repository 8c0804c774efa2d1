/* test_sft_read.c: every SFT reader on fixtures of its shape
 * (tests/sft/fixtures), with the nasty cases: malformed records skipped and
 * counted by reason with file:line, the OASST path rule (rank order, null
 * last, ties first in file, deleted skipped, end on an assistant), GSM8K
 * notes, HH splitting, identity placeholders, alpaca-libre status, a folder
 * read in sorted order, and the two hard errors (an array file that is not
 * JSON, an undetectable format) each as one error line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sft/sft_testutil.h"

typedef struct {
    collected col;
    sft_read_stats st;
    int rc;
} result;

static result read_fmt(const char *name, sft_format f, const char *keep_status) {
    result r = {0};
    sft_read_options o;
    sft_read_options_default(&o);
    o.format = f;
    o.quiet = 1;
    o.name = "Ada";
    o.author = "Lab";
    o.keep_status = keep_status;
    r.rc = sft_read_path(fixture(name), &o, collect_conv, &r.col, &r.st);
    return r;
}

static result read_auto(const char *name) { return read_fmt(name, SFT_FORMAT_AUTO, NULL); }

/* Checks that counts[] lists every non-zero skip reason exactly. */
static void expect_skips(const sft_read_stats *st, const int64_t want[SFT_SKIP_COUNT]) {
    for (int k = 0; k < SFT_SKIP_COUNT; k++) {
        if (st->skipped[k] != want[k]) fprintf(stderr, "reason %s: got %lld want %lld\n", sft_skip_name(k),
                                                (long long)st->skipped[k], (long long)want[k]);
        assert_int_equal(st->skipped[k], want[k]);
    }
}

static void test_alpaca(void **state) {
    (void)state;
    result r = read_auto("alpaca.json");
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.st.detected, SFT_FORMAT_ALPACA);
    assert_int_equal(r.st.records, 8);
    assert_int_equal(r.st.examples, 3);
    assert_int_equal(r.col.n, 3);
    assert_string_equal(r.col.conv[0], "U=Give one tip.|A=Sleep well.");
    assert_string_equal(r.col.conv[1], "U=Translate.\r\n\n\n  chat  |A=\tcat\r\nline2\n");
    assert_string_equal(r.col.conv[2], "S=Be brief.|U=With system|A=ok");
    assert_int_equal(r.col.line[0], 2);   /* array elements: the line of their first byte */
    assert_int_equal(r.col.line[1], 7);
    int64_t want[SFT_SKIP_COUNT] = {0};
    want[SFT_SKIP_EMPTY_ASSISTANT] = 1;
    want[SFT_SKIP_MISSING_FIELD] = 1;
    want[SFT_SKIP_WRONG_TYPE] = 1;
    want[SFT_SKIP_NOT_OBJECT] = 1;
    want[SFT_SKIP_EMPTY_USER] = 1;
    expect_skips(&r.st, want);
    assert_int_equal(r.st.n_reported, 5);
    assert_non_null(strstr(r.st.first[0], "alpaca.json:12: empty_assistant"));
    assert_non_null(strstr(r.st.first[1], "alpaca.json:17: missing_field: \"output\""));
    collected_free(&r.col);
}

static void test_gpteacher_lima_identity(void **state) {
    (void)state;
    result r = read_auto("gpteacher.jsonl");
    assert_int_equal(r.st.detected, SFT_FORMAT_GPTEACHER);
    assert_int_equal(r.col.n, 2);
    assert_string_equal(r.col.conv[1], "U=Roleplay a cat.\n\nYou see a box.|A=*sits in the box*");
    assert_int_equal(r.st.skipped[SFT_SKIP_MISSING_FIELD], 1);
    assert_int_equal(r.col.line[1], 2);
    collected_free(&r.col);

    r = read_auto("lima.json");
    assert_int_equal(r.st.detected, SFT_FORMAT_LIMA);
    assert_int_equal(r.col.n, 2);
    assert_string_equal(r.col.conv[0],
                        "U=First q|A=First a|U=Second q|A=Second a|U=Third question|A=Third answer");
    assert_string_equal(r.col.conv[1], "U=Single|A=Only");
    assert_int_equal(r.st.skipped[SFT_SKIP_WRONG_TYPE], 1);
    collected_free(&r.col);

    r = read_auto("identity.json");
    assert_int_equal(r.st.detected, SFT_FORMAT_IDENTITY);
    assert_int_equal(r.col.n, 2);
    assert_string_equal(r.col.conv[0], "U=Who are you?|A=I am Ada, made by Lab.");
    assert_string_equal(r.col.conv[1], "U=Is Ada your name?|A=Yes, AdaAda.");
    collected_free(&r.col);
    /* forced plain alpaca keeps the placeholders */
    r = read_fmt("identity.json", SFT_FORMAT_ALPACA, NULL);
    assert_string_equal(r.col.conv[0], "U=Who are you?|A=I am {{name}}, made by {{author}}.");
    collected_free(&r.col);
}

static void test_alpaca_libre(void **state) {
    (void)state;
    result r = read_auto("alpaca_libre.jsonl");
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.st.detected, SFT_FORMAT_ALPACA_LIBRE);
    assert_int_equal(r.st.records, 5); /* the blank line is no record */
    assert_int_equal(r.col.n, 2);
    assert_string_equal(r.col.conv[1], "U=Add.\n\n2 and 3|A=5");
    assert_int_equal(r.col.line[1], 5);
    int64_t want[SFT_SKIP_COUNT] = {0};
    want[SFT_SKIP_STATUS] = 1;
    want[SFT_SKIP_INVALID_JSON] = 1;
    want[SFT_SKIP_MISSING_FIELD] = 1;
    expect_skips(&r.st, want);
    /* filtered records are counted, not reported; the broken line is */
    assert_int_equal(r.st.n_reported, 2);
    assert_non_null(strstr(r.st.first[0], "alpaca_libre.jsonl:3: invalid_json"));
    collected_free(&r.col);

    r = read_fmt("alpaca_libre.jsonl", SFT_FORMAT_AUTO, "*");
    assert_int_equal(r.col.n, 3);
    assert_int_equal(r.st.skipped[SFT_SKIP_STATUS], 0);
    collected_free(&r.col);
    r = read_fmt("alpaca_libre.jsonl", SFT_FORMAT_AUTO, "too similar");
    assert_int_equal(r.col.n, 1);
    assert_string_equal(r.col.conv[0], "U=Say hello.|A=Hello.");
    collected_free(&r.col);
}

static void test_self_instruct_gsm8k(void **state) {
    (void)state;
    result r = read_auto("self_instruct.jsonl");
    assert_int_equal(r.st.detected, SFT_FORMAT_SELF_INSTRUCT);
    assert_int_equal(r.st.records, 3);
    assert_int_equal(r.col.n, 4);
    assert_string_equal(r.col.conv[0], "U=Antonym?\n\nhot|A=cold");
    assert_string_equal(r.col.conv[1], "U=Antonym?\n\nup|A=down");
    assert_string_equal(r.col.conv[2], "U=Say yes.|A=yes");
    assert_string_equal(r.col.conv[3], "U=Say yes.|A=again");
    assert_int_equal(r.col.instance[3], 2);
    assert_int_equal(r.st.skipped[SFT_SKIP_MISSING_FIELD], 1);
    assert_int_equal(r.st.skipped[SFT_SKIP_NO_PAIR], 1);
    collected_free(&r.col);

    r = read_auto("gsm8k.jsonl");
    assert_int_equal(r.st.detected, SFT_FORMAT_GSM8K);
    assert_int_equal(r.col.n, 2);
    assert_string_equal(r.col.conv[0], "U=Tom has 2 apples and buys 3. How many?|A=He has 2+3 = 5 apples.\n#### 5");
    assert_string_equal(r.col.conv[1], "U=Two notes?|A=a 2 b 6 c << unclosed\n#### 6");
    assert_int_equal(r.st.skipped[SFT_SKIP_MISSING_FIELD], 1);
    collected_free(&r.col);
}

static void test_oasst(void **state) {
    (void)state;
    result r = read_auto("oasst_flat.jsonl");
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.st.detected, SFT_FORMAT_OASST_FLAT);
    assert_int_equal(r.st.records, 17);
    assert_int_equal(r.col.n, 2);
    /* rank 0 beats rank 1 and null; the deleted rank-0 reply is passed over;
     * of two rank-0 replies the first in the file wins; a ranked follow-up
     * beats a null-ranked one; the trailing prompter message is dropped */
    assert_string_equal(r.col.conv[0], "U=Root question|A=rank 0 answer");
    assert_string_equal(r.col.conv[1], "U=Second tree|A=Second answer");
    assert_int_equal(r.col.line[1], 10);
    int64_t want[SFT_SKIP_COUNT] = {0};
    want[SFT_SKIP_DELETED] = 2;
    want[SFT_SKIP_ORPHAN] = 1;
    want[SFT_SKIP_NO_PAIR] = 1;
    want[SFT_SKIP_UNKNOWN_ROLE] = 1;
    expect_skips(&r.st, want);
    collected_free(&r.col);

    r = read_auto("oasst_tree.json");
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.st.detected, SFT_FORMAT_OASST_TREE);
    assert_int_equal(r.st.records, 4);
    assert_int_equal(r.col.n, 2);
    assert_string_equal(r.col.conv[0], "U=Root question|A=rank 0 answer");
    assert_string_equal(r.col.conv[1], "U=Second tree|A=Second answer");
    int64_t want2[SFT_SKIP_COUNT] = {0};
    want2[SFT_SKIP_DELETED] = 1;
    want2[SFT_SKIP_NO_PAIR] = 1;
    want2[SFT_SKIP_MISSING_FIELD] = 1;
    expect_skips(&r.st, want2);
    collected_free(&r.col);
}

/* A multi-turn OASST path: rank decides at every level. */
static void test_oasst_deep_path(void **state) {
    (void)state;
    char path[] = "/tmp/sft_oasst_XXXXXX";
    int fd = mkstemp(path);
    const char *rows =
        "{\"message_id\":\"r\",\"parent_id\":null,\"role\":\"prompter\",\"text\":\"U1\"}\n"
        "{\"message_id\":\"x\",\"parent_id\":\"r\",\"role\":\"assistant\",\"text\":\"worse\",\"rank\":2}\n"
        "{\"message_id\":\"a\",\"parent_id\":\"r\",\"role\":\"assistant\",\"text\":\"A1\",\"rank\":1}\n"
        "{\"message_id\":\"u\",\"parent_id\":\"a\",\"role\":\"prompter\",\"text\":\"U2\"}\n"
        "{\"message_id\":\"b\",\"parent_id\":\"u\",\"role\":\"assistant\",\"text\":\"A2 null\",\"rank\":null}\n"
        "{\"message_id\":\"c\",\"parent_id\":\"u\",\"role\":\"assistant\",\"text\":\"A2\",\"rank\":3}\n";
    assert_int_equal(write(fd, rows, strlen(rows)), (ssize_t)strlen(rows));
    close(fd);
    collected col = {0};
    sft_read_stats st = {0};
    sft_read_options o;
    sft_read_options_default(&o);
    o.format = SFT_FORMAT_OASST_FLAT;
    assert_int_equal(sft_read_path(path, &o, collect_conv, &col, &st), 0);
    unlink(path);
    assert_int_equal(col.n, 1);
    assert_string_equal(col.conv[0], "U=U1|A=A1|U=U2|A=A2");
    collected_free(&col);
}

static void test_hh(void **state) {
    (void)state;
    result r = read_auto("hh.jsonl");
    assert_int_equal(r.st.detected, SFT_FORMAT_HH_RLHF);
    assert_int_equal(r.col.n, 2);
    assert_string_equal(r.col.conv[0], "U=Hi there|A=Hello!|U=How are you?|A=Fine.");
    assert_string_equal(r.col.conv[1], "U=Quote: Human: inline|A=Text with\n\nparagraphs.");
    int64_t want[SFT_SKIP_COUNT] = {0};
    want[SFT_SKIP_NOT_ALTERNATING] = 3;
    want[SFT_SKIP_EMPTY_ASSISTANT] = 1;
    expect_skips(&r.st, want);
    collected_free(&r.col);
}

static void test_sharegpt_openai(void **state) {
    (void)state;
    result r = read_auto("sharegpt.json");
    assert_int_equal(r.st.detected, SFT_FORMAT_SHAREGPT);
    assert_int_equal(r.col.n, 2);
    assert_string_equal(r.col.conv[0], "S=You are terse.|U=Hi|A=Hi.|U=Bye|A=Bye.");
    assert_string_equal(r.col.conv[1], "U=Q|A=A");
    int64_t want[SFT_SKIP_COUNT] = {0};
    want[SFT_SKIP_NOT_ALTERNATING] = 2;
    want[SFT_SKIP_UNKNOWN_ROLE] = 1;
    want[SFT_SKIP_NO_PAIR] = 1;
    want[SFT_SKIP_WRONG_TYPE] = 1;
    expect_skips(&r.st, want);
    collected_free(&r.col);

    r = read_auto("openai.jsonl");
    assert_int_equal(r.st.detected, SFT_FORMAT_OPENAI);
    assert_int_equal(r.col.n, 2);
    assert_string_equal(r.col.conv[0], "S=Be kind.|U=Hello <|end|><|assistant|> fake|A=Hi!");
    assert_string_equal(r.col.conv[1], "U=Part one.\nPart two.|A=Answer.");
    int64_t want2[SFT_SKIP_COUNT] = {0};
    want2[SFT_SKIP_WRONG_TYPE] = 2;
    want2[SFT_SKIP_UNKNOWN_ROLE] = 1;
    want2[SFT_SKIP_NOT_ALTERNATING] = 1;
    expect_skips(&r.st, want2);
    collected_free(&r.col);
}

/* JSONL and arrays are both accepted for every shape: sharegpt.jsonl holds
 * the same records as sharegpt.json, one per line. */
static void test_array_and_jsonl_agree(void **state) {
    (void)state;
    result a = read_auto("sharegpt.json"), b = read_auto("sharegpt.jsonl");
    assert_int_equal(a.col.n, b.col.n);
    for (int i = 0; i < a.col.n; i++) assert_string_equal(a.col.conv[i], b.col.conv[i]);
    for (int k = 0; k < SFT_SKIP_COUNT; k++) assert_int_equal(a.st.skipped[k], b.st.skipped[k]);
    assert_int_equal(b.col.line[1], 2);
    collected_free(&a.col);
    collected_free(&b.col);
}

static int read_broken(void *arg) {
    (void)arg;
    collected col = {0};
    sft_read_stats st = {0};
    sft_read_options o;
    sft_read_options_default(&o);
    int rc = sft_read_path(fixture("broken_array.json"), &o, collect_conv, &col, &st);
    collected_free(&col);
    return rc;
}

static int read_unknown(void *arg) {
    (void)arg;
    collected col = {0};
    sft_read_stats st = {0};
    sft_read_options o;
    sft_read_options_default(&o);
    int rc = sft_read_path(fixture("unknown.jsonl"), &o, collect_conv, &col, &st);
    collected_free(&col);
    return rc;
}

static int read_missing(void *arg) {
    (void)arg;
    sft_read_stats st = {0};
    sft_read_options o;
    sft_read_options_default(&o);
    return sft_read_path(fixture("no-such-file.jsonl"), &o, collect_conv, NULL, &st);
}

static void test_errors(void **state) {
    (void)state;
    int rc;
    char *err = capture_stderr(read_broken, NULL, &rc);
    assert_int_equal(rc, -1);
    assert_int_equal(count_lines(err), 1);
    assert_non_null(strstr(err, "broken_array.json:3:30: not valid JSON"));
    free(err);
    err = capture_stderr(read_unknown, NULL, &rc);
    assert_int_equal(rc, -1);
    assert_int_equal(count_lines(err), 1);
    assert_non_null(strstr(err, "unknown.jsonl:1: cannot detect"));
    free(err);
    err = capture_stderr(read_missing, NULL, &rc);
    assert_int_equal(rc, -1);
    assert_int_equal(count_lines(err), 1);
    free(err);
}

static void test_folder(void **state) {
    (void)state;
    result r = read_auto("folder");
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.st.files, 2);
    assert_int_equal(r.col.n, 2);
    assert_string_equal(r.col.conv[0], "U=From a/c|A=C");
    assert_string_equal(r.col.conv[1], "U=From b|A=B");
    collected_free(&r.col);
}

static void test_normalise(void **state) {
    (void)state;
    char out[64];
    const char *in = " \t\r\n a\r\nb\rc \n\t";
    size_t n = sft_text_normalise(in, strlen(in), out);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "a\nb\rc", 5);
    assert_int_equal(sft_text_blank(" \r\n\t", 4), 1);
    assert_int_equal(sft_text_blank(" x ", 3), 0);
    sft_format f;
    for (int i = 0; i < SFT_FORMAT_COUNT; i++) {
        assert_int_equal(sft_format_parse(sft_format_name((sft_format)i), &f), 0);
        assert_int_equal(f, i);
    }
    assert_int_equal(sft_format_parse("alpacca", &f), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alpaca),
        cmocka_unit_test(test_gpteacher_lima_identity),
        cmocka_unit_test(test_alpaca_libre),
        cmocka_unit_test(test_self_instruct_gsm8k),
        cmocka_unit_test(test_oasst),
        cmocka_unit_test(test_oasst_deep_path),
        cmocka_unit_test(test_hh),
        cmocka_unit_test(test_sharegpt_openai),
        cmocka_unit_test(test_array_and_jsonl_agree),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_folder),
        cmocka_unit_test(test_normalise),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_metrics.c: metrics.jsonl, writer and reader (src/train/metrics.c).
 *
 *   - the writer's lines are byte for byte the format the trainer has always
 *     written (key order, 8 significant digits), and appending keeps earlier lines;
 *   - write -> read gives back steps, tokens and losses;
 *   - a file written before this module (a real line of a past run) reads;
 *   - malformed lines are skipped with one warning each naming path:line,
 *     blank lines silently, and the good lines still read;
 *   - for a step logged twice (a resumed run) the later line wins;
 *   - a non-finite loss is written as null and skipped on reading;
 *   - a missing file is one error line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "llmpi/metrics.h"
#include "llmpi/util.h"
#include "testutil.h"

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *read_text(const char *path) {
    char *text = NULL;
    assert_int_equal(ll_read_file(path, &text, NULL), 0);
    return text;
}

static void test_format_is_stable(void **state) {
    (void)state;
    const char *p = tu_path("format.jsonl");
    metrics_log *log = metrics_open(p);
    assert_non_null(log);
    assert_int_equal(metrics_append_val(log, &(metrics_val){0, 0, 6.40797615051, 256, 0}), 0);
    assert_int_equal(metrics_append_train(log, &(metrics_train){1, 128, 6.36397337913513, 1.28838443756, 0.0015f,
                                                                2.955947, 43302.5362, 0.157292143, 0.0}),
                     0);
    metrics_close(log);
    char *text = read_text(p);
    assert_string_equal(text,
                        "{\"kind\":\"val\",\"step\":0,\"tokens\":0,\"val_loss\":6.4079762,\"val_tokens\":256}\n"
                        "{\"kind\":\"train\",\"step\":1,\"tokens\":128,\"loss\":6.3639734,\"grad_norm\":1.2883844,"
                        "\"lr\":0.0015,\"ms\":2.955947,\"tokens_per_s\":43302.536,\"mfu\":0.15729214,"
                        "\"comm_wait_ms\":0.0}\n");
    free(text);
    /* a second open appends (a resumed run) */
    log = metrics_open(p);
    assert_non_null(log);
    assert_int_equal(metrics_append_val(log, &(metrics_val){5, 640, 5.0, 256, 0}), 0);
    assert_int_equal(metrics_append_val(log, &(metrics_val){6, 768, 5.0, 256, 1.8125}), 0);
    metrics_close(log);
    text = read_text(p);
    assert_int_equal(tu_count_lines(text), 4);
    assert_non_null(strstr(text, "\n{\"kind\":\"val\",\"step\":5,\"tokens\":640,\"val_loss\":5.0,\"val_tokens\":256}\n"));
    assert_non_null(strstr(text, "\n{\"kind\":\"val\",\"step\":6,\"tokens\":768,\"val_loss\":5.0,\"val_tokens\":256,"
                                 "\"val_bpb\":1.8125}\n"));
    free(text);
}

static void test_round_trip(void **state) {
    (void)state;
    const char *p = tu_path("trip.jsonl");
    metrics_log *log = metrics_open(p);
    assert_non_null(log);
    for (uint64_t s = 0; s <= 40; s++) {
        if (s % 10 == 0) assert_int_equal(metrics_append_val(log, &(metrics_val){s, s * 512, 6.0 - 0.01 * s, 1024, 0}), 0);
        if (s > 0)
            assert_int_equal(metrics_append_train(log, &(metrics_train){s, s * 512, 6.25 - 0.03125 * s, 1.5, 3e-4,
                                                                        10.0, 5e4, 0.25, 0.5}),
                             0);
    }
    metrics_close(log);
    metrics_curves c;
    tu_capture_begin();
    int rc = metrics_read(p, &c);
    const char *err = tu_capture_end();
    assert_int_equal(rc, 0);
    assert_string_equal(err, "");
    assert_int_equal(c.n_skipped, 0);
    assert_int_equal(c.train.n, 40);
    assert_int_equal(c.val.n, 5);
    for (size_t i = 0; i < c.train.n; i++) {
        uint64_t s = i + 1;
        assert_int_equal(c.train.points[i].step, s);
        assert_true(c.train.points[i].tokens == (double)(s * 512));
        assert_true(c.train.points[i].loss == 6.25 - 0.03125 * s);   /* exact in 8 digits */
    }
    for (size_t i = 0; i < c.val.n; i++) {
        uint64_t s = i * 10;
        assert_int_equal(c.val.points[i].step, s);
        assert_true(fabs(c.val.points[i].loss - (6.0 - 0.01 * s)) < 1e-12);
    }
    metrics_curves_free(&c);
}

static void test_reads_an_old_file(void **state) {
    (void)state;
    const char *p = tu_path("old.jsonl");
    /* lines as the trainer wrote them before src/train/metrics.c existed */
    write_text(p, "{\"kind\":\"val\",\"step\":0,\"tokens\":0,\"val_loss\":6.4079762,\"val_tokens\":256}\n"
                  "{\"kind\":\"train\",\"step\":1,\"tokens\":128,\"loss\":6.3639734,\"grad_norm\":1.2883844,"
                  "\"lr\":0.0015,\"ms\":2.955947,\"tokens_per_s\":43302.536,\"mfu\":0.15729214}\n");
    metrics_curves c;
    assert_int_equal(metrics_read(p, &c), 0);
    assert_int_equal(c.n_skipped, 0);
    assert_int_equal(c.train.n, 1);
    assert_int_equal(c.val.n, 1);
    assert_true(c.train.points[0].loss == 6.3639734);
    assert_true(c.val.points[0].loss == 6.4079762);
    metrics_curves_free(&c);
}

static void test_malformed_lines_are_skipped(void **state) {
    (void)state;
    const char *p = tu_path("bad.jsonl");
    write_text(p, "{\"kind\":\"train\",\"step\":1,\"tokens\":128,\"loss\":5.5}\n"   /* 1 ok */
                  "this is not json\n"                                         /* 2 */
                  "{\"kind\":\"train\",\"step\":2,\"tokens\":256}\n"           /* 3 no loss */
                  "\n"                                                         /* 4 blank: silent */
                  "{\"kind\":\"train\",\"step\":-3,\"tokens\":384,\"loss\":5.0}\n" /* 5 */
                  "[1,2,3]\n"                                                  /* 6 */
                  "{\"kind\":\"val\",\"step\":2,\"tokens\":256,\"val_loss\":\"high\"}\n" /* 7 */
                  "{\"kind\":\"train\",\"step\":4,\"tokens\":512,\"loss\":4.9}\n" /* 8 ok */
                  "{\"kind\":\"test\",\"step\":4,\"tokens\":512,\"loss\":4.9}\n" /* 9 unknown kind */
                  "{\"kind\":\"train\",\"step\":5,\"tokens\":640,\"loss\":4.8");  /* 10 torn last line */
    metrics_curves c;
    tu_capture_begin();
    int rc = metrics_read(p, &c);
    const char *err = tu_capture_end();
    assert_int_equal(rc, 0);
    assert_int_equal(c.n_skipped, 7);
    assert_int_equal(tu_count_lines(err), 7);
    static const int bad[] = {2, 3, 5, 6, 7, 9, 10};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[600];
        snprintf(want, sizeof want, "%s:%d: ", p, bad[i]);
        if (!strstr(err, want)) fail_msg("no warning naming %s in: %s", want, err);
    }
    assert_non_null(strstr(err, "\"loss\" is not a finite number; line skipped"));
    assert_non_null(strstr(err, "\"step\" is not a non-negative integer; line skipped"));
    assert_int_equal(c.train.n, 2);
    assert_int_equal(c.train.points[0].step, 1);
    assert_int_equal(c.train.points[1].step, 4);
    assert_true(c.train.points[1].loss == 4.9);
    assert_int_equal(c.val.n, 0);
    metrics_curves_free(&c);
}

static void test_later_line_wins(void **state) {
    (void)state;
    const char *p = tu_path("resumed.jsonl");
    write_text(p, "{\"kind\":\"train\",\"step\":2,\"tokens\":20,\"loss\":2.0}\n"
                  "{\"kind\":\"train\",\"step\":1,\"tokens\":10,\"loss\":1.0}\n"
                  "{\"kind\":\"train\",\"step\":3,\"tokens\":30,\"loss\":3.0}\n"
                  "{\"kind\":\"val\",\"step\":2,\"tokens\":20,\"val_loss\":7.0}\n"
                  "{\"kind\":\"train\",\"step\":2,\"tokens\":20,\"loss\":2.5}\n"
                  "{\"kind\":\"train\",\"step\":3,\"tokens\":30,\"loss\":3.5}\n"
                  "{\"kind\":\"val\",\"step\":2,\"tokens\":20,\"val_loss\":7.5}\n");
    metrics_curves c;
    assert_int_equal(metrics_read(p, &c), 0);
    assert_int_equal(c.train.n, 3);
    assert_true(c.train.points[0].step == 1 && c.train.points[0].loss == 1.0);
    assert_true(c.train.points[1].step == 2 && c.train.points[1].loss == 2.5);
    assert_true(c.train.points[2].step == 3 && c.train.points[2].loss == 3.5);
    assert_int_equal(c.val.n, 1);
    assert_true(c.val.points[0].loss == 7.5);
    metrics_curves_free(&c);
}

static void test_non_finite_is_null(void **state) {
    (void)state;
    const char *p = tu_path("nan.jsonl");
    metrics_log *log = metrics_open(p);
    assert_non_null(log);
    assert_int_equal(metrics_append_train(log, &(metrics_train){1, 64, NAN, INFINITY, 1e-3, 1, 1, 0, 0}), 0);
    assert_int_equal(metrics_append_train(log, &(metrics_train){2, 128, 3.0, 1.0, 1e-3, 1, 1, 0, 0}), 0);
    metrics_close(log);
    char *text = read_text(p);
    assert_non_null(strstr(text, "{\"kind\":\"train\",\"step\":1,\"tokens\":64,\"loss\":null,\"grad_norm\":null,"));
    free(text);
    metrics_curves c;
    tu_capture_begin();
    int rc = metrics_read(p, &c);
    const char *err = tu_capture_end();
    assert_int_equal(rc, 0);
    assert_int_equal(c.n_skipped, 1);
    assert_non_null(strstr(err, "nan.jsonl:1: \"loss\" is not a finite number; line skipped"));
    assert_int_equal(c.train.n, 1);
    assert_int_equal(c.train.points[0].step, 2);
    metrics_curves_free(&c);
}

static int read_missing(void) {
    metrics_curves c;
    int rc = metrics_read(tu_path("none/metrics.jsonl"), &c);
    assert_null(c.train.points);
    assert_int_equal(c.train.n + c.val.n, 0);
    return rc;
}

static void test_missing_file(void **state) {
    (void)state;
    TU_EXPECT_FAIL_ONE_LINE(read_missing(), "metrics.jsonl: cannot open: No such file");
    /* a log that cannot be created: one line, NULL */
    tu_capture_begin();
    metrics_log *log = metrics_open(tu_path("none/metrics.jsonl"));
    const char *err = tu_capture_end();
    assert_null(log);
    assert_int_equal(tu_count_lines(err), 1);
    assert_non_null(strstr(err, "cannot open for appending"));
    metrics_close(NULL);
}

static int setup(void **state) {
    (void)state;
    tu_make_dir("metrics");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tu_remove_dir();
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_is_stable),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_reads_an_old_file),
        cmocka_unit_test(test_malformed_lines_are_skipped),
        cmocka_unit_test(test_later_line_wins),
        cmocka_unit_test(test_non_finite_is_null),
        cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

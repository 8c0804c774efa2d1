/* test_sft_shared.c: the readers on the real files in ../shared/data/sft:
 * records, examples and skips by reason per file must equal the figures
 * documented in docs/sft.md (among them: alpaca-libre v2 has exactly 14
 * malformed JSON lines). Skips (77) without the shared data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>

#include "sft/sft_testutil.h"

static const char *g_data;

typedef struct {
    const char *path;       /* under sft/ */
    sft_format format;      /* expected detection */
    int64_t records, examples;
    const char *skips;      /* "reason=n ..." exactly the non-zero ones */
} expect_file;

static const expect_file files[] = {
    {"alpaca-cleaned-1000_fastchat-pr2000/alpaca_data_cleaned_1000.json", SFT_FORMAT_ALPACA, 1000, 1000, ""},
    {"alpaca-libre_mobarski/alpaca_libre_tasks_v1.jsonl", SFT_FORMAT_ALPACA_LIBRE, 2375, 1173,
     "empty_assistant=29 status=1173"},
    {"alpaca-libre_mobarski/alpaca_libre_tasks_v2.jsonl", SFT_FORMAT_ALPACA_LIBRE, 2294, 1281,
     "invalid_json=14 empty_assistant=5 status=994"},
    {"alpaca-libre_mobarski/alpaca_libre_tasks_v3.jsonl", SFT_FORMAT_ALPACA_LIBRE, 1205, 654, "status=551"},
    {"gpteacher-roleplay_teknium1/roleplay-simple-deduped-roleplay-instruct.json", SFT_FORMAT_GPTEACHER, 1923, 1923, ""},
    {"gsm8k_openai-grade-school-math/train.jsonl", SFT_FORMAT_GSM8K, 7473, 7473, ""},
    {"hh-rlhf_harmless-base-test_anthropic/test.jsonl", SFT_FORMAT_HH_RLHF, 2312, 2300,
     "empty_assistant=4 not_alternating=8"},
    {"llama-factory_hiyouga/identity.json", SFT_FORMAT_IDENTITY, 91, 91, ""},
    {"llama-factory_hiyouga/lima.json", SFT_FORMAT_LIMA, 1029, 1029, ""},
    {"oasst1_en-100-trees_laion/en_100_tree.jsonl", SFT_FORMAT_OASST_TREE, 100, 100, ""},
    {"oasst1_en-validation_turkunlp/en-validation.jsonl", SFT_FORMAT_OASST_FLAT, 2022, 188, "deleted=40 orphan=3"},
    {"self-instruct_yizhongw/seed_tasks.jsonl", SFT_FORMAT_SELF_INSTRUCT, 175, 175, ""},
    {"self-instruct_yizhongw/user_oriented_instructions.jsonl", SFT_FORMAT_SELF_INSTRUCT, 252, 252, ""},
};

static int count_cb(void *ctx, const sft_conv *c) {
    (void)ctx;
    (void)c;
    return 0;
}

static void test_counts(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/sft/%s", g_data, files[i].path);
        sft_read_options o;
        sft_read_options_default(&o);
        o.quiet = 1;
        sft_read_stats st = {0};
        assert_int_equal(sft_read_path(path, &o, count_cb, NULL, &st), 0);
        char skips[256] = "";
        for (int k = 0; k < SFT_SKIP_COUNT; k++)
            if (st.skipped[k]) {
                size_t u = strlen(skips);
                snprintf(skips + u, sizeof skips - u, "%s%s=%lld", u ? " " : "", sft_skip_name((sft_skip_reason)k),
                         (long long)st.skipped[k]);
            }
        fprintf(stderr, "%s: %s records=%lld examples=%lld %s\n", files[i].path, sft_format_name(st.detected),
                (long long)st.records, (long long)st.examples, skips);
        assert_int_equal(st.detected, files[i].format);
        assert_int_equal(st.records, files[i].records);
        assert_int_equal(st.examples, files[i].examples);
        assert_string_equal(skips, files[i].skips);
    }
}

/* alpaca-libre v2 with every status kept: the 14 malformed lines stay the
 * only invalid JSON, whatever the status filter. */
static void test_alpaca_libre_v2_all_status(void **state) {
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/sft/alpaca-libre_mobarski/alpaca_libre_tasks_v2.jsonl", g_data);
    sft_read_options o;
    sft_read_options_default(&o);
    o.quiet = 1;
    o.keep_status = "*";
    sft_read_stats st = {0};
    assert_int_equal(sft_read_path(path, &o, count_cb, NULL, &st), 0);
    assert_int_equal(st.skipped[SFT_SKIP_INVALID_JSON], 14);
    assert_int_equal(st.skipped[SFT_SKIP_STATUS], 0);
    assert_int_equal(st.examples, 2294 - 14 - st.skipped[SFT_SKIP_EMPTY_ASSISTANT]);
}

int main(void) {
    g_data = getenv("LLMPI_SHARED_DATA");
    char probe[1024];
    struct stat sb;
    snprintf(probe, sizeof probe, "%s/sft", g_data ? g_data : "/nonexistent");
    if (!g_data || stat(probe, &sb) != 0) { fprintf(stderr, "no shared data: skipped\n"); return 77; }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_alpaca_libre_v2_all_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

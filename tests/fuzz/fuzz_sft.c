/* fuzz_sft.c: the SFT readers (sft_read_path) on arbitrary bytes.
 *
 * The first input byte picks the format (byte % SFT_FORMAT_COUNT; 0 is
 * auto-detection), the rest is the data file. Besides "no crash", checks the
 * readers' contract: a failed read printed one line; every conversation
 * emitted has at least one turn, no blank user or assistant text, and the
 * count emitted equals stats.examples.
 */
#include "fuzz_util.h"
#include "llmpi/sft.h"

/* Checks one emitted conversation; counts it. */
static int check_conv(void *ctx, const sft_conv *c) {
    if (c->n_turns < 1) { fprintf(stderr, "fuzz: conversation without turns\n"); abort(); }
    for (int i = 0; i < c->n_turns; i++) {
        if (sft_text_blank(c->user[i].text, c->user[i].len) || sft_text_blank(c->assistant[i].text, c->assistant[i].len)) {
            fprintf(stderr, "fuzz: blank turn %d emitted (%s:%ld)\n", i, c->file, c->line);
            abort();
        }
    }
    (*(int64_t *)ctx)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *path = fz_write_temp(data + 1, size - 1, ".jsonl");
    sft_read_options o;
    sft_read_options_default(&o);
    o.format = (sft_format)(data[0] % SFT_FORMAT_COUNT);
    o.quiet = 1;
    sft_read_stats stats;
    memset(&stats, 0, sizeof stats);
    int64_t emitted = 0;
    fz_capture cap;
    fz_capture_begin(&cap);
    int rc = sft_read_path(path, &o, check_conv, &emitted, &stats);
    fz_capture_end(&cap, rc != 0, "sft_read_path");
    if (rc == 0 && emitted != stats.examples) {
        fprintf(stderr, "fuzz: %lld conversations emitted, stats say %lld\n", (long long)emitted,
                (long long)stats.examples);
        abort();
    }
    unlink(path);
    return 0;
}

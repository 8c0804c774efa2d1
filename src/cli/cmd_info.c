/* cmd_info.c: `llmpi info FILE`: describes a token store or a checkpoint.
 *
 * The root "format" attribute decides which reader validates the file; a
 * file that is not HDF5 or carries no known format gets one line and exit 1.
 * Everything printed comes from the validating readers (store_open,
 * ckpt_peek), so info never shows numbers a training run would refuse.
 */
#include <string.h>

#include "cli.h"
#include "llmpi/ckpt.h"
#include "llmpi/h5.h"
#include "llmpi/store.h"
#include "llmpi/util.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: llmpi info FILE\n\n"
            "Describes an llmpi token store (format llmpi-tokens) or checkpoint\n"
            "(format llmpi-checkpoint): format, version, shapes, counts, tokenizer;\n"
            "for checkpoints also step, model config, parameters, tokens seen and\n"
            "the run's stored config.\n");
}

static int info_store(const char *path) {
    store_reader s;
    if (store_open(&s, path) != 0) return 1;
    printf("file        %s\n", path);
    printf("format      %s version %d\n", STORE_FORMAT, s.version);
    printf("tokenizer   %s\n", s.tokenizer);
    printf("vocab_size  %u\n", s.vocab_size);
    printf("eot_id      %u\n", s.eot_id);
    printf("token type  %s\n", s.vocab_size <= 65536 ? "uint16" : "uint32");
    static const char *const names[2] = {"train", "val"};
    for (int i = 0; i < 2; i++)
        printf("%-11s %llu documents, %llu tokens\n", names[i], (unsigned long long)s.split[i].n_docs,
               (unsigned long long)s.split[i].n_tokens);
    store_close(&s);
    return 0;
}

static int info_checkpoint(const char *path) {
    gpt_config cfg;
    ckpt_meta meta;
    uint64_t n_params = 0;
    int n_tensors = 0;
    if (ckpt_peek(path, &cfg, &meta) != 0 || ckpt_count_stored(path, &n_params, &n_tensors) != 0) return 1;
    printf("file        %s\n", path);
    printf("format      %s version %d\n", CKPT_FORMAT, CKPT_VERSION);
    printf("step        %llu\n", (unsigned long long)meta.step);
    printf("tokens seen %llu\n", (unsigned long long)meta.tokens_seen);
    printf("model       n_layer=%d n_head=%d n_embd=%d block_size=%d vocab_size=%d\n", cfg.n_layer,
           cfg.n_head, cfg.n_embd, cfg.block_size, cfg.vocab_size);
    printf("parameters  %llu in %d tensors\n", (unsigned long long)n_params, n_tensors);
    printf("optimizer   %s\n", meta.has_optim ? "AdamW moments stored" : "no optimizer state");
    printf("tokenizer   %s\n", meta.tokenizer);
    printf("loader      seed=%llu position=%llu\n", (unsigned long long)meta.loader.seed,
           (unsigned long long)meta.loader.position);
    printf("config:\n");
    const char *line = meta.config;
    while (*line) {
        const char *end = strchr(line, '\n');
        int len = end ? (int)(end - line) : (int)strlen(line);
        if (len > 0) printf("  %.*s\n", len, line);
        line += len + (end ? 1 : 0);
    }
    return 0;
}

int cmd_info(int argc, char **argv) {
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) { usage(stdout); return 0; }
    if (argc != 2 || argv[1][0] == '-') {
        ll_error("info: expected exactly one FILE (see llmpi info --help)");
        return 2;
    }
    const char *path = argv[1];
    char format[64];
    if (h5u_file_format(path, format, sizeof format) != 0) return 1;
    if (!strcmp(format, STORE_FORMAT)) return info_store(path);
    if (!strcmp(format, CKPT_FORMAT)) return info_checkpoint(path);
    if (format[0] == '\0') ll_error("info: %s: not an llmpi file (no format attribute)", path);
    else ll_error("info: %s: not an llmpi file (format '%s')", path, format);
    return 1;
}

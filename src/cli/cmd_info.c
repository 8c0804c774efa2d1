/* cmd_info.c: `llmpi info FILE`: describes a token store, an SFT store or a
 * checkpoint.
 *
 * The root "format" attribute decides which reader validates the file; a
 * file that is not HDF5 or carries no known format gets one line and exit 1.
 * Everything printed comes from the validating readers (store_open,
 * ckpt_peek), so info never shows numbers a training run would refuse.
 * A store's or checkpoint's content checksums are read through only with --verify (a plain
 * info stays quick on a big store).
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "llmpi/ckpt.h"
#include "llmpi/h5.h"
#include "llmpi/loader.h"
#include "llmpi/sft.h"
#include "llmpi/store.h"
#include "llmpi/util.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: llmpi info [--verify] [--seq T] FILE\n\n"
            "Describes an llmpi token store (format llmpi-tokens), SFT store (llmpi-sft:\n"
            "per source counts, tokens, shares, skipped records by reason; always fully\n"
            "read and verified) or checkpoint\n"
            "(format llmpi-checkpoint): format, version, shapes, counts, tokenizer;\n"
            "for checkpoints also step, model config, parameters, tokens seen and\n"
            "the run's stored config.\n\n"
            "  --verify   also recompute the content checksums (every byte of the data)\n"
            "             and compare them with the stored ones; a mismatch is exit 1\n"
            "  --seq T    SFT store: the packing into rows of T+1 tokens as `llmpi sft`\n"
            "             packs them (rows, padding, truncated per source; default 512)\n");
}

/* " (tokenizer.json inside, N bytes)" or "" for the tokenizer line. */
static const char *embedded_note(int inside, size_t len) {
    static char note[64];
    if (!inside) return "";
    snprintf(note, sizeof note, " (tokenizer.json inside, %zu bytes)", len);
    return note;
}

static int info_store(const char *path, int verify) {
    store_reader s;
    /* a plain info reads the header only; --verify reads everything */
    if (store_open_flags(&s, path, STORE_OPEN_NO_VERIFY) != 0) return 1;
    int rc = verify && store_verify(&s) != 0 ? 1 : 0;
    char *json = NULL;
    size_t json_len = 0;
    if (store_read_tokenizer_json(&s, &json, &json_len) != 0) rc = 1;
    free(json);
    printf("file        %s\n", path);
    printf("format      %s version %d\n", STORE_FORMAT, s.version);
    printf("tokenizer   %s%s\n", s.tokenizer, embedded_note(json != NULL, json_len));
    printf("vocab_size  %u\n", s.vocab_size);
    printf("eot_id      %u\n", s.eot_id);
    printf("token type  %s\n", s.vocab_size <= 65536 ? "uint16" : "uint32");
    static const char *const names[2] = {"train", "val"};
    for (int i = 0; i < 2; i++)
        printf("%-11s %llu documents, %llu tokens\n", names[i], (unsigned long long)s.split[i].n_docs,
               (unsigned long long)s.split[i].n_tokens);
    if (!s.has_checksums) printf("checksums   no checksum (a store written before them)\n");
    else if (!verify) printf("checksums   %s (not verified; llmpi info --verify checks them)\n", STORE_CHECKSUM_KIND);
    else if (rc == 0) printf("checksums   %s: all 4 datasets verified\n", STORE_CHECKSUM_KIND);
    else printf("checksums   %s: MISMATCH (see the error above)\n", STORE_CHECKSUM_KIND);
    store_close(&s);
    return rc;
}

/* One line per split: rows of seq_len+1, padding share, truncated examples
 * (in total and per source) as loader_pack packs them for `llmpi sft`. */
static int info_sft_packing(const sft_store *s, int seq_len) {
    static const char *const names[2] = {"train", "val"};
    for (int i = 0; i < 2; i++) {
        if (s->split[i].n_examples == 0) continue;
        loader_pack p;
        if (loader_pack_init(&p, &s->split[i], seq_len, (int32_t)s->eot_id) != 0) return -1;
        printf("packing     %s at seq_len %d: %llu rows, padding %.1f%%, %llu truncated", names[i], seq_len,
               (unsigned long long)p.n_rows, 100.0 * loader_pack_padding(&p), (unsigned long long)p.n_truncated);
        const char *sep = " (";
        for (int k = 0; k < p.n_sources && k < s->n_sources; k++) {
            if (!p.source_truncated[k]) continue;
            printf("%s%s %llu", sep, s->source_names[k], (unsigned long long)p.source_truncated[k]);
            sep = ", ";
        }
        printf("%s\n", sep[0] == ',' ? ")" : "");
        loader_pack_free(&p);
    }
    return 0;
}

/* An SFT store is read whole (it is small): its checksums are always verified. */
static int info_sft(const char *path, int seq_len) {
    sft_store s;
    if (sft_store_load(path, &s) != 0) return 1;
    char *text = sft_store_summary(&s);
    if (!text) { sft_store_free(&s); return 1; }
    printf("file        %s\n%s", path, text);
    free(text);
    int rc = info_sft_packing(&s, seq_len) != 0 ? 1 : 0;
    sft_store_free(&s);
    printf("checksums   crc32c: all 8 datasets verified\n");
    return rc;
}

static int info_checkpoint(const char *path, int verify) {
    gpt_config cfg;
    ckpt_meta meta;
    uint64_t n_params = 0;
    int n_tensors = 0;
    if (ckpt_peek(path, &cfg, &meta) != 0 || ckpt_count_stored(path, &n_params, &n_tensors) != 0) return 1;
    /* --verify: every tensor read, its checksum and its values checked */
    int rc = verify && ckpt_verify(path, 1, NULL, NULL) != 0 ? 1 : 0;
    printf("file        %s\n", path);
    printf("format      %s version %d\n", CKPT_FORMAT, CKPT_VERSION);
    printf("step        %llu\n", (unsigned long long)meta.step);
    printf("tokens seen %llu\n", (unsigned long long)meta.tokens_seen);
    printf("model       n_layer=%d n_head=%d n_embd=%d block_size=%d vocab_size=%d\n", cfg.n_layer,
           cfg.n_head, cfg.n_embd, cfg.block_size, cfg.vocab_size);
    printf("parameters  %llu in %d tensors\n", (unsigned long long)n_params, n_tensors);
    printf("optimizer   %s\n", meta.has_optim ? "AdamW moments stored" : "no optimizer state");
    char *json = NULL;
    size_t json_len = 0;
    if (ckpt_read_tokenizer_json(path, &json, &json_len) != 0) rc = 1;
    free(json);
    printf("tokenizer   %s%s\n", meta.tokenizer, embedded_note(json != NULL, json_len));
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
    if (!meta.has_checksums) printf("checksums   no checksum (a checkpoint written before them)%s\n",
                                    verify && rc == 0 ? "; shapes and values verified" : "");
    else if (!verify) printf("checksums   crc32c (not verified; llmpi info --verify checks them)\n");
    else if (rc == 0) printf("checksums   crc32c: every tensor verified (checksum, finite values)\n");
    else printf("checksums   crc32c: FAILED (see the error above)\n");
    return rc;
}

int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    int verify = 0;
    long seq_len = 512;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        if (!strcmp(argv[i], "--verify")) verify = 1;
        else if (!strcmp(argv[i], "--seq")) {
            if (i + 1 >= argc) { ll_error("info: --seq needs a value (see llmpi info --help)"); return 2; }
            if (cli_parse_int("--seq", argv[++i], 1, 1 << 20, &seq_len) != 0) return 2;
        }
        else if (argv[i][0] == '-' && argv[i][1] != '\0') return cli_bad_option("info", argv[i], NULL);
        else if (path) {
            ll_error("info: expected exactly one FILE (see llmpi info --help)");
            return 2;
        } else path = argv[i];
    }
    if (!path) {
        ll_error("info: expected exactly one FILE (see llmpi info --help)");
        return 2;
    }
    char format[64];
    if (h5u_file_format(path, format, sizeof format) != 0) return 1;
    if (!strcmp(format, STORE_FORMAT)) return info_store(path, verify);
    if (!strcmp(format, CKPT_FORMAT)) return info_checkpoint(path, verify);
    if (!strcmp(format, SFT_STORE_FORMAT)) return info_sft(path, (int)seq_len);
    if (format[0] == '\0') ll_error("info: %s: not an llmpi file (no format attribute)", path);
    else ll_error("info: %s: not an llmpi file (format '%s')", path, format);
    return 1;
}

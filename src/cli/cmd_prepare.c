/* cmd_prepare.c: `[mpirun -np N] llmpi prepare`: the options of prep_run
 * (src/data/prepare.c: books -> cleanup -> tokens -> HDF5 token store, each
 * rank taking a share of the books) and its summary.
 * Invariant: no pipeline work here; every rank parses the same argv and
 * calls prep_run, rank 0 prints.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "llmpi/prepare.h"
#include "llmpi/util.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: [mpirun -np N] llmpi prepare --tokenizer bytes|DIR/tokenizer.json --input PATH...\n"
            "                     --out STORE.h5 [--val-fraction F] [--seed S] [--no-clean]\n"
            "                     [--keep-all-languages] [--quiet]\n\n"
            "Cleans and tokenizes books into an HDF5 token store (train and val splits);\n"
            "each rank takes a share of the books. The store is the same for any N.\n"
            "  --tokenizer T       'bytes' (ids 0..255, eot 256) or a tokenizer.json (or its folder)\n"
            "  --input PATH...     files, or folders searched recursively for *.txt (sorted)\n"
            "  --out STORE.h5      output (written to a temporary name, then renamed)\n"
            "  --val-fraction F    share of documents for val, 0 < F < 1 (default %g);\n"
            "                      a single document gives its last F of tokens to val\n"
            "  --seed S            seed of the document order and split (default %d)\n"
            "  --no-clean          take every file as it is (default: Project Gutenberg books\n"
            "                      are cleaned, files without a Gutenberg header kept as they are)\n"
            "  --keep-all-languages  keep books whose Language: is not English\n"
            "  --quiet             no progress, no per-book warnings\n",
            PREP_DEFAULT_VAL_FRACTION, PREP_DEFAULT_SEED);
}

/* Parses argv into o (o->inputs malloc'ed). 0, 1 for --help, -1 (one line) on a bad option. */
static int parse_options(int argc, char **argv, prep_options *o) {
    prep_options_default(o);
    const char **inputs = ll_malloc((size_t)argc * sizeof *inputs);
    o->inputs = inputs;
    if (!inputs) return -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return 1;
        int has_value = i + 1 < argc;
        if (!strcmp(a, "--input")) {
            int before = o->n_inputs;
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) inputs[o->n_inputs++] = argv[++i];
            if (o->n_inputs == before) { ll_error("prepare: --input needs at least one path"); return -1; }
        } else if (!strcmp(a, "--tokenizer") && has_value) {
            o->tokenizer = argv[++i];
        } else if (!strcmp(a, "--out") && has_value) {
            o->out = argv[++i];
        } else if (!strcmp(a, "--val-fraction") && has_value) {
            if (cli_parse_float("--val-fraction", argv[++i], &o->val_fraction) != 0) return -1;
            if (!(o->val_fraction > 0.0 && o->val_fraction < 1.0)) {
                ll_error("prepare: --val-fraction must be in (0, 1), got %s", argv[i]);
                return -1;
            }
        } else if (!strcmp(a, "--seed") && has_value) {
            long v;
            if (cli_parse_int("--seed", argv[++i], 0, LONG_MAX, &v) != 0) return -1;
            o->seed = (uint64_t)v;
        } else if (!strcmp(a, "--no-clean")) {
            o->no_clean = 1;
        } else if (!strcmp(a, "--keep-all-languages")) {
            o->keep_all_languages = 1;
        } else if (!strcmp(a, "--quiet")) {
            o->quiet = 1;
        } else {
            static const char *const takes_value[] = {"--tokenizer", "--out", "--val-fraction", "--seed", NULL};
            cli_bad_option("prepare", a, takes_value);
            return -1;
        }
    }
    if (!o->tokenizer) { ll_error("prepare: --tokenizer is required (see llmpi prepare --help)"); return -1; }
    if (o->n_inputs == 0) { ll_error("prepare: --input is required (see llmpi prepare --help)"); return -1; }
    if (!o->out) { ll_error("prepare: --out is required (see llmpi prepare --help)"); return -1; }
    return 0;
}

/* Rank 0: the summary (counts, splits, per-phase speeds over all ranks). */
static void print_summary(const prep_options *o, const prep_report *r) {
    const prep_timing *sum = &r->sum, *max = &r->max;
    int nranks = r->nranks;
    double wall = r->wall;
    size_t dropped = r->n_books - r->counts[CLEAN_KEPT] - r->counts[PREP_PLAIN];
    ll_log("prepare: %zu books, %.1f MB, %d rank%s: %zu cleaned, %zu kept as is, %zu dropped "
           "(%zu empty, %zu binary, %zu no_body, %zu license_in_body, %zu language, %zu duplicate)\n",
           r->n_books, sum->bytes_in / 1e6, nranks, nranks == 1 ? "" : "s", r->counts[CLEAN_KEPT],
           r->counts[PREP_PLAIN], dropped, r->counts[CLEAN_DROP_EMPTY], r->counts[CLEAN_DROP_BINARY],
           r->counts[CLEAN_DROP_NO_BODY], r->counts[CLEAN_DROP_LICENSE], r->counts[CLEAN_DROP_LANGUAGE],
           r->counts[CLEAN_DROP_DUPLICATE]);
    ll_log("prepare: tokenizer %s, vocab_size %u, eot_id %u\n", r->tokenizer_identity, r->vocab_size, r->eot_id);
    if (r->n_docs == 1) ll_log("prepare: one document: its last %g of tokens is the val split\n", o->val_fraction);
    ll_log("prepare: train %llu documents %llu tokens\n", (unsigned long long)r->n_docs_split[STORE_TRAIN],
           (unsigned long long)r->n_tokens[STORE_TRAIN]);
    ll_log("prepare: val %llu documents %llu tokens\n", (unsigned long long)r->n_docs_split[STORE_VAL],
           (unsigned long long)r->n_tokens[STORE_VAL]);
    /* per-rank speeds: bytes over the time ranks spent in that phase, summed over ranks */
    double width = (double)(r->vocab_size <= 65536 ? 2 : 4);
    double clean_s = sum->t[PREP_T_READ] + sum->t[PREP_T_CLEAN];
    ll_log("prepare: per rank: read+cleanup %.1f MB/s, tokenize %.1f MB/s, spill %.1f MB/s, "
           "write %.1f MB/s of tokens (slowest rank: %.2f s cleanup, %.2f s tokenize, %.2f s write)\n",
           clean_s > 0 ? sum->bytes_in / 1e6 / clean_s : 0.0,
           sum->t[PREP_T_TOKENIZE] > 0 ? sum->bytes_text / 1e6 / sum->t[PREP_T_TOKENIZE] : 0.0,
           sum->t[PREP_T_SPILL] > 0 ? sum->tokens_written * width / 1e6 / sum->t[PREP_T_SPILL] : 0.0,
           sum->t[PREP_T_WRITE] > 0 ? sum->tokens_written * width / 1e6 / sum->t[PREP_T_WRITE] : 0.0,
           max->t[PREP_T_READ] + max->t[PREP_T_CLEAN], max->t[PREP_T_TOKENIZE], max->t[PREP_T_WRITE]);
    ll_log("prepare: %.2f s end to end: %.1f MB/s, %.1f MB/s per rank\n", wall,
           wall > 0 ? sum->bytes_in / 1e6 / wall : 0.0, wall > 0 ? sum->bytes_in / 1e6 / wall / nranks : 0.0);
    ll_log("prepare: wrote %s\n", o->out);
}

int cmd_prepare(int argc, char **argv) {
    prep_options o;
    int parsed = parse_options(argc, argv, &o);
    if (parsed != 0) {
        free((void *)o.inputs);
        if (parsed == 1) { usage(stdout); return 0; }
        return 2;
    }
    prep_report r;
    int rc = prep_run(&o, &r);
    if (rc == 0) print_summary(&o, &r);
    free((void *)o.inputs);
    return rc == 0 ? 0 : 1;
}

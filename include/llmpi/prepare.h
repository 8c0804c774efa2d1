/* prepare.h: books -> cleanup -> tokens -> HDF5 token store, over all ranks.
 *
 * prep_run is collective (every rank of MPI_COMM_WORLD calls it with the same
 * options); a plain process is a world of one. The store depends only on the
 * inputs, the tokenizer, the cleanup options and the seed: not on the rank
 * count. On failure every rank returns -1, nothing is left at out (an earlier
 * file there is kept) and no scratch file remains.
 */
#ifndef LLMPI_PREPARE_H
#define LLMPI_PREPARE_H

#include <stddef.h>
#include <stdint.h>

#include "llmpi/clean.h"
#include "llmpi/store.h"

#define PREP_DEFAULT_VAL_FRACTION 0.005
#define PREP_DEFAULT_SEED 1337

/* A book's verdict: the clean_verdict values, plus this one: kept as it is
 * (a file with no Gutenberg header, or no_clean). */
#define PREP_PLAIN CLEAN_VERDICT_COUNT
#define PREP_VERDICTS (CLEAN_VERDICT_COUNT + 1)

typedef struct {
    const char *tokenizer;           /* "bytes" (ids 0..255, eot 256) or a tokenizer.json (or its folder) */
    const char *const *inputs;       /* files, or folders searched for *.txt (see walk.h) */
    int n_inputs;
    const char *out;                 /* the store */
    double val_fraction;             /* 0 < F < 1 */
    uint64_t seed;                   /* order and split */
    int no_clean;                    /* take every non-empty file as it is */
    int keep_all_languages;
    int quiet;                       /* no progress, no per-book warnings */
} prep_options;

/* Per-phase seconds (summed over ranks in sum, slowest rank in max). */
enum { PREP_T_READ, PREP_T_CLEAN, PREP_T_TOKENIZE, PREP_T_SPILL, PREP_T_WRITE, PREP_T_FIELDS };
typedef struct {
    double t[PREP_T_FIELDS];
    double bytes_in, bytes_text, tokens_written;
} prep_timing;

/* What prep_run did; counts and layout on every rank, timings on rank 0. */
typedef struct {
    int nranks;
    size_t n_books;
    size_t counts[PREP_VERDICTS];    /* by verdict (PREP_PLAIN: kept as is) */
    size_t n_docs;                   /* documents in the store */
    uint64_t n_tokens[2], n_docs_split[2];   /* by store_split */
    char tokenizer_identity[TOK_IDENTITY_MAX];
    uint32_t vocab_size, eot_id;
    prep_timing sum, max;            /* rank 0 */
    double wall;                     /* seconds, end to end */
} prep_report;

/* Defaults: val_fraction PREP_DEFAULT_VAL_FRACTION, seed PREP_DEFAULT_SEED,
 * cleanup on; tokenizer, inputs and out unset. */
void prep_options_default(prep_options *o);
/* Writes the store at o->out. Collective. 0 on every rank, or -1 on every
 * rank (one line printed, on rank 0 where every rank agrees). rep may be NULL. */
int prep_run(const prep_options *o, prep_report *rep);

#endif

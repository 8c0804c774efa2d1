/* sft.h: supervised fine-tuning data: instruction/chat datasets in eleven
 * shapes read into conversations, rendered with the `llmpi-chat-1` template
 * into token ids and a loss mask, and mixed by weight into one training
 * sequence (docs/sft.md specifies all of it).
 *
 * Flow: sft_mix_load (the mix file) -> sft_mix_build (read every source with
 * sft_read_path, render with sft_render, drop duplicates, split val, blend)
 * -> an sft_mixed in memory, which the store writer persists.
 *
 * Invariants:
 * - Readers never fail on a bad record: it is skipped and counted by reason
 *   (sft_skip_reason), the first few printed as "file:line: reason". Only an
 *   unreadable path or an array file that is not valid JSON is an error.
 * - Conversation texts are kept as they are in the data; the renderer applies
 *   the template's normalisation (sft_text_trim), and readers judge "empty"
 *   on the normalised text, so what is skipped and what is rendered agree.
 * - Special-token strings inside data are plain text (encoded with
 *   allow_special = 0); only the template inserts control tokens.
 * - Everything seeded comes from ll_rng streams derived from the mix seed and
 *   the source's index, so the same mix file and tokenizer give bit-identical
 *   results on any machine and any rank count.
 */
#ifndef LLMPI_SFT_H
#define LLMPI_SFT_H

#include <stddef.h>
#include <stdint.h>

#include "llmpi/tokenizer.h"

#define SFT_TEMPLATE "llmpi-chat-1"

/* ---- conversations ---- */

typedef struct {
    const char *text;   /* raw text from the data (not normalised) */
    size_t len;
} sft_text;

/* A conversation: optional system text, then n_turns (user, assistant)
 * pairs. Texts point into memory owned by the conversation (sft_conv_*). */
typedef struct {
    sft_text system;        /* len 0 / text NULL: none (the mix default applies) */
    sft_text *user, *assistant;
    int n_turns, cap_turns;
    const char *file;       /* source file, for reports */
    long line;              /* 1-based line of the record */
    long instance;          /* self-instruct: 0-based instance index; else 0 */
    struct sft_arena *arena; /* owned storage of copied texts (blocks never move) */
} sft_conv;

void sft_conv_init(sft_conv *c);
void sft_conv_reset(sft_conv *c);      /* empties it, keeps the storage */
void sft_conv_free(sft_conv *c);
/* Copies text into the conversation's storage. -1 on out of memory. */
int sft_conv_set_system(sft_conv *c, const char *text, size_t len);
int sft_conv_add_turn(sft_conv *c, const char *user, size_t user_len, const char *assistant,
                      size_t assistant_len);

/* The template's per-text normalisation: CRLF -> LF, then leading and
 * trailing spaces, tabs, CRs and LFs removed. Writes into out (capacity >=
 * len) and returns the new length. */
size_t sft_text_normalise(const char *text, size_t len, char *out);
/* 1 iff the text is empty after normalisation. */
int sft_text_blank(const char *text, size_t len);

/* ---- readers ---- */

typedef enum {
    SFT_FORMAT_AUTO = 0,
    SFT_FORMAT_ALPACA,        /* {instruction, input, output} */
    SFT_FORMAT_GPTEACHER,     /* {instruction, input, response} */
    SFT_FORMAT_LIMA,          /* alpaca + history [[u, a], ...] */
    SFT_FORMAT_IDENTITY,      /* alpaca with {{name}} / {{author}} */
    SFT_FORMAT_ALPACA_LIBRE,  /* alpaca + status */
    SFT_FORMAT_SELF_INSTRUCT, /* {instruction, instances: [{input, output}]} */
    SFT_FORMAT_GSM8K,         /* {question, answer} */
    SFT_FORMAT_OASST_FLAT,    /* one message per row */
    SFT_FORMAT_OASST_TREE,    /* {prompt: {..., replies: [...]}} */
    SFT_FORMAT_HH_RLHF,       /* {chosen, rejected} */
    SFT_FORMAT_SHAREGPT,      /* {conversations: [{from, value}]} */
    SFT_FORMAT_OPENAI,        /* {messages: [{role, content}]} */
    SFT_FORMAT_COUNT
} sft_format;

/* "alpaca", "gpteacher", "lima", "identity", "alpaca-libre", "self-instruct",
 * "gsm8k", "oasst-flat", "oasst-tree", "hh-rlhf", "sharegpt", "openai",
 * "auto". */
const char *sft_format_name(sft_format f);
/* -1 for an unknown name. */
int sft_format_parse(const char *name, sft_format *out);

typedef enum {
    SFT_SKIP_INVALID_JSON = 0,  /* a JSONL line that does not parse */
    SFT_SKIP_NOT_OBJECT,        /* a record that is not a JSON object */
    SFT_SKIP_MISSING_FIELD,
    SFT_SKIP_WRONG_TYPE,        /* a field of the wrong JSON type */
    SFT_SKIP_UNKNOWN_ROLE,
    SFT_SKIP_EMPTY_USER,        /* a user text blank after normalisation */
    SFT_SKIP_EMPTY_ASSISTANT,
    SFT_SKIP_NOT_ALTERNATING,   /* roles do not alternate user/assistant */
    SFT_SKIP_NO_PAIR,           /* no complete user/assistant pair */
    /* not malformed, left out by a rule: counted, not reported */
    SFT_SKIP_STATUS,            /* alpaca-libre status not kept */
    SFT_SKIP_DELETED,           /* OASST: a deleted message (with its subtree) */
    SFT_SKIP_ORPHAN,            /* OASST flat: a message whose parent is absent */
    SFT_SKIP_COUNT
} sft_skip_reason;

/* A short stable key ("invalid_json", "missing_field", ...) for reports. */
const char *sft_skip_name(sft_skip_reason r);

#define SFT_REPORT_FIRST 5

/* What a read saw. Units: a record is a JSONL line or an array element
 * (OASST flat: a message row; self-instruct: a task). Skips count records,
 * except: self-instruct counts bad instances, OASST counts trees (no pair,
 * not alternating) and messages (deleted, orphan, bad rows). */
typedef struct {
    int64_t files;
    int64_t records;
    int64_t examples;                   /* conversations emitted */
    int64_t skipped[SFT_SKIP_COUNT];
    sft_format detected;                /* last file's format */
    int n_reported;                     /* lines in first[] */
    char first[SFT_REPORT_FIRST][320];  /* "file:line: reason detail" */
} sft_read_stats;

int64_t sft_read_stats_skipped(const sft_read_stats *s);

typedef struct {
    sft_format format;        /* AUTO: detected per file from its first record */
    const char *name;         /* identity {{name}} (NULL: "llmpi") */
    const char *author;       /* identity {{author}} (NULL: "the llmpi authors") */
    const char *keep_status;  /* alpaca-libre: keep this status (NULL: "ok"; "*": all) */
    int quiet;                /* 0: print the first SFT_REPORT_FIRST skips as warnings */
} sft_read_options;

void sft_read_options_default(sft_read_options *o);

/* Called once per conversation; the conversation is valid only during the
 * call. Return 0 to go on, -1 to stop the read (it then returns -1; the
 * callback has printed the error). */
typedef int (*sft_emit_fn)(void *ctx, const sft_conv *c);

/* Reads one file or a folder (recursively, every *.json and *.jsonl, in
 * byte-wise sorted path order) and emits every good conversation in file
 * order. A file whose first non-blank byte is '[' is a JSON array, anything
 * else JSONL. stats accumulate (zero them first). -1 with one line on an
 * unreadable or missing path, a folder without data files, an array file
 * that is not valid JSON ("file:line:column: problem"), a format that cannot
 * be detected, or a callback failure. */
int sft_read_path(const char *path, const sft_read_options *o, sft_emit_fn emit, void *ctx,
                  sft_read_stats *stats);

/* ---- the chat template ---- */

typedef struct {
    const tokenizer *tok;
    int32_t id_system, id_user, id_assistant, id_end, id_eot;
} sft_template;

/* Looks up the five specials; -1 with one line naming the missing one(s). */
int sft_template_init(sft_template *t, const tokenizer *tok);

/* Rendered example: ids and loss mask (1 = target) of equal length. */
typedef struct {
    tok_ids ids;
    uint8_t *mask;
    size_t mask_cap;
} sft_rendered;

void sft_rendered_free(sft_rendered *r);

/* Renders c (its own system text, else default_system when non-empty, else
 * none) into r (replacing its content):
 * [<|system|> S <|end|>] (<|user|> U <|end|> <|assistant|> A <|end|>)+ <|endoftext|>
 * with every text normalised and encoded on its own without specials. */
int sft_render(const sft_template *t, const sft_conv *c, const char *default_system,
               sft_rendered *r);

/* The same template as a Jinja text (llama.cpp, transformers, Ollama's
 * importer): [system] user/assistant turns, then <|assistant|> with
 * add_generation_prompt, else <|endoftext|>. Static storage. */
const char *sft_template_jinja(void);

/* ---- the mix ---- */

typedef struct {
    char *name;             /* from [source NAME] */
    char *path;             /* resolved against the mix file's folder */
    sft_format format;
    double weight;          /* >= 0: passes over the train examples */
    int64_t max_examples;   /* 0: all (else the first N in read order) */
    char *keep_status;      /* NULL: default */
    int line;               /* of the section header */
} sft_source;

typedef struct {
    char *path;             /* the mix file */
    char *text;             /* its bytes, for the store */
    uint64_t seed;
    double val_fraction;    /* [0, 1) */
    char *system;           /* default system text, NULL: none */
    char *name, *author;    /* identity placeholders, NULL: defaults */
    sft_source *sources;
    int n_sources;
} sft_mix;

/* Parses a mix file. -1 with one line "FILE:LINE: problem" on an unknown
 * section or key, a key set twice, a bad value, weight < 0, an unknown
 * format, a source without path, no sources, or duplicate source names. */
int sft_mix_load(const char *path, sft_mix *m);
void sft_mix_free(sft_mix *m);

/* Per-source figures of a build. */
typedef struct {
    sft_read_stats read;
    int64_t over_max;           /* examples beyond max_examples, dropped */
    int64_t duplicates;         /* rendered identically to an earlier example */
    int64_t unique;             /* examples kept (train + val) */
    int64_t val_examples, val_tokens;
    int64_t train_unique;       /* distinct train examples */
    int64_t train_examples;     /* round(weight x train_unique) */
    int64_t train_tokens;
    double target_share;        /* train_examples / all train examples */
    double actual_share;        /* measured in the built sequence */
    double max_prefix_error;    /* max over prefixes k of |count - share * k| (< 1) */
} sft_source_report;

/* The result of a build: the pool of unique examples (tokens, masks,
 * source), the train sequence and the val set as pool indices. */
typedef struct {
    int32_t *tokens;        /* all pool examples back to back */
    uint8_t *mask;
    uint64_t *offsets;      /* n_pool + 1 */
    uint16_t *source;       /* n_pool */
    int64_t n_pool;
    int64_t *train;         /* n_train pool indices, in training order */
    int64_t n_train;
    int64_t *val;           /* n_val pool indices (source order, then file order) */
    int64_t n_val;
    int n_sources;
    sft_source_report *reports;
    int vocab_size;
} sft_mixed;

/* Reads, renders, deduplicates, splits and blends every source of m with
 * tok (which must have the chat specials). -1 with one line on a read error,
 * a source with no usable example ("all records malformed", empty), or a
 * missing special. */
int sft_mix_build(const sft_mix *m, const tokenizer *tok, sft_mixed *out);
void sft_mixed_free(sft_mixed *x);

/* Ids and mask of pool example i. */
size_t sft_mixed_example(const sft_mixed *x, int64_t i, const int32_t **ids, const uint8_t **mask);

/* The build report as JSON text (malloc'ed), one object per source. */
char *sft_mixed_report_json(const sft_mixed *x, const sft_mix *m);

/* ---- blending (exposed for tests) ---- */

/* Interleaves counts[0..n) by greatest sampling error: writes the source of
 * each of the sum(counts) positions to order. At every prefix k, source i's
 * count is within 1 of counts[i] / total * k (floor <= count <= ceil): among
 * the sources not above that ceiling, the one whose next example is most
 * overdue goes next; ties go to the lower index. */
int sft_blend_order(const int64_t *counts, int n, uint16_t *order);

/* Chooses round(weight x n) of n items: whole passes, each a seeded
 * permutation of 0..n-1, then the first items of one more permutation. Writes
 * *n_out indices into a malloc'ed *out. */
int sft_weighted_take(int64_t n, double weight, uint64_t seed, uint64_t stream, int64_t **out,
                      int64_t *n_out);


/* ---- the SFT store (HDF5, docs/sft.md) ----
 * /train and /val, each: tokens (uint16 when vocab_size <= 65536, else
 * uint32), loss_mask (uint8, 1 on target tokens), example_offsets (uint64,
 * n + 1), example_source (uint16, index into the sources); examples in
 * training-sequence order (val: source order, then file order). Each dataset
 * carries the attribute crc32c (CRC-32C of its elements as little-endian
 * bytes). Root attributes: format = "llmpi-sft", version = 1, vocab_size,
 * eot_id, tokenizer (identity), template ("llmpi-chat-1"), mix (the mix
 * file's text), sources (the source names, one per line), report (the build
 * report JSON), n_examples_train/val, n_tokens_train/val, checksums =
 * "crc32c". Written to a temporary name, fsynced, renamed; no object times,
 * so the same mix and tokenizer give the same bytes. */

#define SFT_STORE_FORMAT "llmpi-sft"
#define SFT_STORE_VERSION 1

/* Writes x (built from m with tok) as an SFT store at path. -1 with one line;
 * then nothing is left at path's temporary name and an earlier file at path
 * is untouched. */
int sft_store_write(const char *path, const sft_mixed *x, const sft_mix *m, const tokenizer *tok);

/* Loads the mix file and the tokenizer (file or folder, which must have the
 * chat specials), builds the mix and writes the store at out_path. One
 * process (rank 0 under MPI). -1 with one line. */
int sft_build_store(const char *mix_path, const char *tokenizer_path, const char *out_path);
/* sft_build_store with a tokenizer already loaded (e.g. a checkpoint's copy). */
int sft_build_store_with(const char *mix_path, const tokenizer *tok, const char *out_path);

/* One split of a store, read whole into memory. */
typedef struct {
    uint64_t n_examples, n_tokens;
    int32_t *tokens;        /* n_tokens */
    uint8_t *mask;          /* n_tokens, 0 / 1 */
    uint64_t *offsets;      /* n_examples + 1, offsets[0] = 0, non-decreasing, last = n_tokens */
    uint16_t *source;       /* n_examples, each < n_sources */
} sft_split;

typedef struct {
    char path[1024];
    int version;
    uint32_t vocab_size, eot_id;
    char tokenizer[TOK_IDENTITY_MAX];
    char template_name[64];
    char *mix_text;         /* malloc'ed */
    char *report;           /* malloc'ed JSON */
    char **source_names;    /* n_sources, malloc'ed */
    int n_sources;
    sft_split split[2];     /* [0] train, [1] val */
} sft_store;

/* Opens, validates (attributes, shapes, values, checksums) and reads a
 * whole SFT store. -1 with one line naming path and the problem. */
int sft_store_load(const char *path, sft_store *s);
void sft_store_free(sft_store *s);

/* 1 when the store at path was built from exactly this mix text and
 * tokenizer identity (and template), 0 when it differs or cannot be read
 * (nothing printed: the caller rebuilds). */
int sft_store_matches(const char *path, const char *mix_text, const char *tokenizer_identity);


/* A human-readable description of a loaded store (totals, then per source:
 * format, records, examples train/val, train tokens, target/actual share,
 * duplicates, skipped records by reason), malloc'ed; NULL with one line on
 * out of memory or a report that is not the JSON the writer makes. */
char *sft_store_summary(const sft_store *s);

#endif

/* clean.h: Project Gutenberg cleanup, one book at a time, in memory.
 *
 * A book goes in as raw bytes (UTF-8 or Latin-1, CRLF or LF); what comes out
 * is the body only (no PG header, small print, license, producer lines or
 * leading transcriber's notes), normalised to UTF-8 NFC with LF line ends,
 * plus a verdict (kept, or dropped and why) and what the header told us.
 *
 * Thread safety: a clean_ctx holds only compiled, read-only rules; after
 * clean_ctx_new() it may be shared by any number of threads calling
 * clean_book() at once. There is no global state.
 *
 * Duplicates are a property of a collection, not of a book: clean_book()
 * fills body_hash and the caller decides which of two equal bodies to keep
 * (llmpi clean keeps the first in input order).
 */
#ifndef LLMPI_CLEAN_H
#define LLMPI_CLEAN_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    CLEAN_KEPT = 0,
    CLEAN_DROP_EMPTY,       /* no bytes, or only whitespace */
    CLEAN_DROP_BINARY,      /* NUL or other control bytes: not a text file */
    CLEAN_DROP_NO_BODY,     /* no START marker / small print, or nothing between the markers */
    CLEAN_DROP_LICENSE,     /* license or marker text left inside the body: refuse to guess */
    CLEAN_DROP_LANGUAGE,    /* Language: header names something other than English */
    CLEAN_DROP_DUPLICATE,   /* set by the caller: same body_hash as an earlier book */
    CLEAN_VERDICT_COUNT
} clean_verdict;

typedef enum {
    CLEAN_HEADER_NONE = 0,
    CLEAN_HEADER_MODERN,    /* *** START OF THE/THIS PROJECT GUTENBERG EBOOK ... *** */
    CLEAN_HEADER_LEGACY     /* old "Etext" with the small print and no START marker */
} clean_header_kind;

typedef struct {
    int unwrap_prose;       /* join hard-wrapped prose paragraphs (default 1) */
    int keep_all_languages; /* 0: drop books whose Language: is not English (default 0) */
} clean_options;

typedef struct clean_ctx clean_ctx;

typedef struct {
    clean_verdict verdict;
    char reason[192];             /* one sentence when dropped, "" when kept */
    char title[256];              /* from "Title:" in the header, "" when unknown */
    char language[64];            /* from "Language:", "" when the header has none */
    clean_header_kind header;
    int latin1;                   /* 1: input was not valid UTF-8 and was read as Latin-1 */
    size_t bytes_in;              /* raw input size */
    size_t bytes_out;             /* == text_len (0 when dropped) */
    char *text;                   /* malloc'ed cleaned body, NUL-terminated; NULL when dropped */
    size_t text_len;
    uint64_t body_hash;           /* clean_body_hash(text, text_len); 0 when dropped */
} clean_result;

/* Fills o with the defaults (unwrap prose, keep English and unknown). */
void clean_options_default(clean_options *o);

/* Compiles the rules. Returns NULL after one error line (PCRE2 failure or
 * out of memory). opts may be NULL for the defaults. */
clean_ctx *clean_ctx_new(const clean_options *opts);
void clean_ctx_free(clean_ctx *ctx);

/* Cleans one book of n bytes at data (need not be NUL-terminated).
 * Returns 0 with *out filled, whether the book was kept or dropped (see
 * out->verdict / out->reason); -1 only when memory ran out (one error line).
 * The caller owns out->text: release with clean_result_free(). */
int clean_book(const clean_ctx *ctx, const char *data, size_t n, clean_result *out);

/* Releases out->text and zeroes the result. Safe on a zeroed result. */
void clean_result_free(clean_result *out);

/* 64-bit identity of a cleaned body for duplicate detection (FNV-1a, never 0). */
uint64_t clean_body_hash(const char *text, size_t n);

/* Stable lower-case name of a verdict ("kept", "no_body", ...). */
const char *clean_verdict_name(clean_verdict v);

/* ---- a folder of books -> a folder of cleaned books + report.json ----
 * (clean_run.c) One cleaned UTF-8 file per kept book at the same path
 * relative to its input under out_dir (a file input keeps its base name),
 * and out_dir/report.json naming every book's fate. Inputs are listed by
 * walk.h (every regular file inside folders); duplicates: the first in that
 * order stays. Every file is written atomically; a dropped book's stale
 * output from an earlier run is removed. */
typedef struct {
    const char *const *inputs;
    size_t n_inputs;
    const char *out_dir;
    clean_options clean;
    int quiet;                    /* no warnings for dropped books */
} clean_run_options;

typedef struct {
    size_t n_books;               /* listed, unreadable ones included */
    size_t counts[CLEAN_VERDICT_COUNT];
    size_t n_unreadable;          /* listed in the report, named on stderr */
    size_t bytes_in, bytes_out;
    double clean_seconds, wall;   /* in clean_book; end to end */
} clean_run_report;

/* Cleans every book of the inputs into o->out_dir. 0 when report.json was
 * written (unreadable entries are counted in rep, not an error), -1 (one
 * line) when an input argument is missing or unreadable, two inputs map to
 * one output, nothing was found, or a write failed. */
int clean_run(const clean_run_options *o, clean_run_report *rep);

#endif

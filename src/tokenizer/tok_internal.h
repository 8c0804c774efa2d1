/* tok_internal.h: what the tokenizer's .c files share (not a public API;
 * tests include it to reach the two merge kernels and the splitter).
 *
 * Invariants of struct tokenizer: ids 0..255 are bytes, id 256+i is merges[i]
 * whose parts are both < 256+i, specials follow the merges, token_bytes of
 * every id is the concatenation of its parts (specials: their string), and
 * pair_to_id maps (left, right) of every merge to its id. Everything but the
 * encoder pool is immutable after tok_build().
 */
#ifndef LLMPI_TOK_INTERNAL_H
#define LLMPI_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "llmpi/tokenizer.h"

/* ---- u64 -> i32 open-addressing map (pairs) ---- */
#define TOK_MAP_EMPTY UINT64_MAX
typedef struct {
    uint64_t *keys;
    int32_t *vals;
    size_t cap, n;   /* cap is a power of two; n < cap / 2 */
} tok_map;

int tok_map_init(tok_map *m, size_t expected);
void tok_map_free(tok_map *m);
/* Value of key, or -1. */
int32_t tok_map_get(const tok_map *m, uint64_t key);
/* Inserts or overwrites. */
int tok_map_put(tok_map *m, uint64_t key, int32_t val);

static inline uint64_t tok_pair_key(int32_t left, int32_t right) {
    return ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
}

static inline uint64_t tok_mix64(uint64_t h) {
    h ^= h >> 33; h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33; h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

/* Hash of a byte string, well mixed in the low bits. */
uint64_t tok_hash_bytes(const void *p, size_t n);

/* ---- pre-tokenizer (tok_pretok.c) ---- */
typedef struct {
    pcre2_code *code;
    int jit;         /* JIT compiled */
} tok_regex;

/* Compiles pattern (UTF, UCP, JIT when available). where names the source
 * for the error line. */
int tok_regex_compile(tok_regex *r, const char *pattern, const char *where);
void tok_regex_free(tok_regex *r);

/* Called for each chunk in text order; a non-zero return stops the split. */
typedef int (*tok_chunk_fn)(void *ctx, const uint8_t *chunk, size_t len);

/* Splits text[0..n) into chunks: regex matches, the gaps between them, and
 * one chunk per byte that is not well-formed UTF-8. md must come from
 * pcre2_match_data_create_from_pattern(r->code). Returns 0, the callback's
 * non-zero value, or -1 on a regex engine error (one line printed). */
int tok_split(const tok_regex *r, pcre2_match_data *md, const uint8_t *text, size_t n,
              tok_chunk_fn fn, void *ctx);

/* Length of the well-formed UTF-8 prefix of s[0..n). */
size_t tok_utf8_valid_prefix(const uint8_t *s, size_t n);

/* Where a long text may be cut for parallel splitting: the first offset at
 * or after `from` that follows a '\n' and precedes a byte that is not ASCII
 * whitespace (no chunk of the GPT-2/GPT-4 patterns crosses it), or n. */
size_t tok_next_cut(const uint8_t *text, size_t n, size_t from);

/* ---- the model (tok_core.c) ---- */
typedef struct tok_pool tok_pool;

struct tokenizer {
    int n_merges;
    int32_t *merges;          /* 2 per merge: left, right */
    int vocab_size;           /* 256 + n_merges + n_specials */
    uint32_t *token_off;      /* vocab_size + 1 offsets into token_data */
    char *token_data;
    int n_specials;
    char **specials;          /* NUL-terminated strings */
    char *pattern;
    tok_regex regex;
    tok_map pair_to_id;
    char identity[TOK_IDENTITY_MAX];
    int is_bytes;             /* the byte tokenizer (tok_bytes_new): no file, ids = bytes */
    tok_pool *pool;           /* mutable encoder states (behind a mutex) */
};

/* Builds a tokenizer from its content (copies everything); checks the
 * invariants above and compiles the pattern. where names the source for
 * error lines. */
tokenizer *tok_build(const char *pattern, const int32_t *merges, int n_merges,
                     const char *const *specials, int n_specials, const char *where);

/* The two merge kernels (identical results; the heap one is for long
 * chunks). Both turn ids[0..n) in place into the chunk's tokens and return
 * the new length; on out of memory simple returns (size_t)-1 (only above 48
 * ids) and heap -1. */
/* simple: (size_t)-1 on out of memory (only past SIMPLE_MERGE_MAX ids) */
size_t tok_merge_simple(const tokenizer *t, int32_t *ids, size_t n);
long tok_merge_heap(const tokenizer *t, int32_t *ids, size_t n);

/* The GPT-2 byte <-> printable unicode map used by the vocab strings. */
void tok_byte_to_unicode(uint32_t out[256]);

#endif

/* tok_train.c: BPE training.
 *
 * Phase 1 (parallel): the text is cut into blocks (after a newline that
 * precedes printable ASCII, where the GPT-2/GPT-4 patterns always end a
 * chunk; block edges do not depend on the thread count), each thread splits
 * blocks into chunks and counts unique chunks in its own table; the tables
 * are summed and sorted by bytes, so what follows sees the same input
 * whatever the thread count. (A custom --pattern whose chunks can cross such
 * a newline is still cut there in texts longer than a block: deterministic,
 * only chunk statistics change, never the encoder.)
 * Phase 2 (serial, integer only, hence deterministic): every unique chunk is
 * a word of ids weighted by its count. Pair counts live in a map with, per
 * pair, the list of words that may hold it; a max-heap keyed by (count desc,
 * left asc, right asc) with lazy updates picks the next merge. Counts of a
 * pair that exists only ever fall (a merge only creates pairs holding the new
 * id), so a popped entry whose stored count is stale is pushed back with the
 * true count, and a fresh entry is exact. Only the words listed for the
 * merged pair are touched.
 * Memory: proportional to the unique chunks plus one read window, never to
 * the whole corpus.
 * Rules beyond the issue's: a pair whose merged bytes already form a token
 * is skipped (the HF vocab maps each string to one id), and so is a pair
 * longer than --max-token-bytes (or 1 MiB).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "llmpi/util.h"
#include "llmpi/walk.h"
#include "tok_internal.h"

#define TRAIN_WINDOW_BYTES ((size_t)32 << 20)   /* text read per parallel batch */
#define TRAIN_BLOCK_BYTES ((size_t)1 << 20)
#define TRAIN_MAX_TOKEN_BYTES (1 << 20)

static const char *const builtin_specials[] = {TOK_EOT, TOK_SYSTEM, TOK_USER, TOK_ASSISTANT, TOK_END};
#define N_BUILTIN_SPECIALS 5

/* Sets the documented defaults. */
void tok_train_options_default(tok_train_options *o) {
    memset(o, 0, sizeof *o);
    o->min_frequency = 2;
}

/* ---- phase 1: unique chunks ---- */

typedef struct {
    uint32_t tag;            /* high half of the hash: most mismatches stop here */
    uint32_t len;            /* 0: empty slot (chunks are never empty) */
    uint64_t head;           /* the first 8 bytes, zero padded: short chunks compare here */
    uint64_t off;            /* all the bytes, in arena */
    int64_t count;
} chunk_slot;

/* Open addressing with the entries in the slots themselves: one cache line
 * per probe, and no arena access for chunks of up to 8 bytes (most of them),
 * which is what bounds the counting speed. */
typedef struct {
    /* each thread counts into its own table, and the tables sit side by side
     * in one array: a cache line of their own each, or every insert of one
     * thread invalidates the other's line (false sharing halved the speed
     * of each thread at 2 threads) */
    _Alignas(64) chunk_slot *slots; /* power-of-two size, load < 1/2 */
    size_t n_slots, n;
    uint8_t *arena;
    size_t arena_n, arena_cap;
    int failed;              /* out of memory seen (already reported) */
} chunk_table;

/* Prepares an empty table; -1 on out of memory. */
static int table_init(chunk_table *c) {
    memset(c, 0, sizeof *c);
    c->n_slots = 1 << 15;
    c->arena_cap = 1 << 20;
    c->slots = ll_calloc(c->n_slots, sizeof *c->slots);
    c->arena = ll_malloc(c->arena_cap);
    if (!c->slots || !c->arena) return -1;
    return 0;
}

/* Frees the table's memory; safe on a zeroed table. */
static void table_free(chunk_table *c) {
    free(c->slots);
    free(c->arena);
    memset(c, 0, sizeof *c);
}

/* The first 8 bytes of p[0..len) as a zero-padded word. */
static inline uint64_t head_of(const uint8_t *p, size_t len) {
    uint64_t w = 0;
    memcpy(&w, p, len < 8 ? len : 8);
    return w;
}

/* Doubles the slots and re-inserts every entry (hashing the bytes again:
 * slots keep only half of the hash). */
static int table_grow(chunk_table *c) {
    size_t n_slots = c->n_slots * 2;
    chunk_slot *slots = ll_calloc(n_slots, sizeof *slots);
    if (!slots) {
        return -1;
    }
    for (size_t e = 0; e < c->n_slots; e++) {
        if (!c->slots[e].len) continue;
        size_t i = tok_hash_bytes(c->arena + c->slots[e].off, c->slots[e].len) & (n_slots - 1);
        while (slots[i].len) i = (i + 1) & (n_slots - 1);
        slots[i] = c->slots[e];
    }
    free(c->slots);
    c->slots = slots;
    c->n_slots = n_slots;
    return 0;
}

/* Whether slot e holds chunk[0..len) (tag and head already computed). */
static inline int slot_holds(const chunk_table *c, const chunk_slot *e, const uint8_t *chunk, size_t len,
                             uint32_t tag, uint64_t head) {
    if (e->tag != tag || e->len != len || e->head != head) return 0;
    return len <= 8 || memcmp(c->arena + e->off + 8, chunk + 8, len - 8) == 0;
}

/* Adds `count` occurrences of chunk[0..len) (len > 0) with hash h. */
static int table_add(chunk_table *c, const uint8_t *chunk, size_t len, uint64_t h, int64_t count) {
    size_t mask = c->n_slots - 1;
    size_t i = h & mask;
    uint32_t tag = (uint32_t)(h >> 32);
    uint64_t head = head_of(chunk, len);
    for (; c->slots[i].len; i = (i + 1) & mask) {
        if (slot_holds(c, &c->slots[i], chunk, len, tag, head)) {
            c->slots[i].count += count;
            return 0;
        }
    }
    if ((c->n + 1) * 2 > c->n_slots) {
        if (table_grow(c) != 0) return -1;
        mask = c->n_slots - 1;
        for (i = h & mask; c->slots[i].len; i = (i + 1) & mask) {}
    }
    if (c->arena_n + len > c->arena_cap) {
        size_t cap = c->arena_cap * 2;
        while (cap < c->arena_n + len) cap *= 2;
        uint8_t *a = ll_realloc(c->arena, cap);
        if (!a) return -1;
        c->arena = a;
        c->arena_cap = cap;
    }
    memcpy(c->arena + c->arena_n, chunk, len);
    c->slots[i] = (chunk_slot){tag, (uint32_t)len, head, c->arena_n, count};
    c->arena_n += len;
    c->n++;
    return 0;
}

/* Whether bytes[0..len) is in the table. */
static int table_has(const chunk_table *c, const uint8_t *bytes, size_t len) {
    uint64_t h = tok_hash_bytes(bytes, len);
    size_t mask = c->n_slots - 1;
    uint32_t tag = (uint32_t)(h >> 32);
    uint64_t head = head_of(bytes, len);
    for (size_t i = h & mask; c->slots[i].len; i = (i + 1) & mask)
        if (slot_holds(c, &c->slots[i], bytes, len, tag, head)) return 1;
    return 0;
}

/* The split callback: one more occurrence of a chunk. */
static int count_chunk(void *ctx, const uint8_t *chunk, size_t len) {
    chunk_table *c = ctx;
    if (len > UINT32_MAX) { ll_error("tokenizer: train: a chunk of %zu bytes", len); return -1; }
    if (table_add(c, chunk, len, tok_hash_bytes(chunk, len), 1) != 0) { c->failed = 1; return -1; }
    return 0;
}

typedef struct { const uint8_t *p; size_t n; const char *path; } text_block;   /* path: for error lines */

typedef struct {
    const tok_regex *regex;
    int threads;
    chunk_table *tables;     /* one per thread */
    pcre2_match_data **md;   /* one per thread */
    text_block *blocks;
    size_t n_blocks, cap_blocks;
    size_t block_bytes;
    uint64_t bytes_done;
    double t0, last_print;
    int progress;
    const char *path;        /* the file being queued (NULL: text given in memory) */
} counter;

/* Queues a block (the text must stay put until counter_flush). */
static int counter_queue(counter *k, const uint8_t *p, size_t n) {
    if (n == 0) return 0;
    if (k->n_blocks == k->cap_blocks) {
        size_t cap = k->cap_blocks ? k->cap_blocks * 2 : 64;
        text_block *b = ll_realloc(k->blocks, cap * sizeof *b);
        if (!b) return -1;
        k->blocks = b;
        k->cap_blocks = cap;
    }
    k->blocks[k->n_blocks++] = (text_block){p, n, k->path};
    return 0;
}

/* Cuts text[0..n) into blocks of about block_bytes at tok_next_cut points
 * and queues them; with is_last == 0, the tail after the last cut is kept
 * back (returned as its offset) for more text to follow. */
static size_t counter_cut(counter *k, const uint8_t *text, size_t n, int is_last, int *err) {
    size_t start = 0;
    while (n - start > k->block_bytes) {
        size_t cut = tok_next_cut(text, n, start + k->block_bytes);
        if (cut >= n) break;
        if (counter_queue(k, text + start, cut - start) != 0) { *err = 1; return start; }
        start = cut;
    }
    if (is_last) {
        if (counter_queue(k, text + start, n - start) != 0) *err = 1;
        return n;
    }
    return start;
}

/* Counts every queued block, in parallel, then empties the queue. */
static int counter_flush(counter *k) {
    int failed = 0;
    uint64_t bytes = 0;
    #pragma omp parallel for schedule(dynamic, 1) num_threads(k->threads) reduction(|| : failed) reduction(+ : bytes)
    for (size_t b = 0; b < k->n_blocks; b++) {
        int tid = omp_get_thread_num();
        if (k->tables[tid].failed) { failed = 1; continue; }
        tok_set_error_place(k->blocks[b].path);
        if (tok_split(k->regex, k->md[tid], k->blocks[b].p, k->blocks[b].n, count_chunk, &k->tables[tid]) != 0)
            failed = 1;
        tok_set_error_place(NULL);
        bytes += k->blocks[b].n;
    }
    k->n_blocks = 0;
    k->bytes_done += bytes;
    double now = ll_now();
    if (k->progress && !failed && now - k->last_print > 1.0) {
        double rate = k->bytes_done / 1e6 / (now - k->t0 + 1e-9);
        ll_log("tokenizer: read %.1f MB (%.1f MB/s)\n", k->bytes_done / 1e6, rate);
        k->last_print = now;
    }
    return failed ? -1 : 0;
}

/* A file (or the text of one) is one document: the last block ends at its
 * end. Reads in windows so that memory does not grow with the file. */
static int counter_add_file(counter *k, const char *path, uint8_t *window, size_t window_cap, size_t *used) {
    FILE *f = fopen(path, "rb");
    if (!f) { ll_error("%s: cannot open: %s", path, strerror(errno)); return -1; }
    k->path = path;
    size_t pending = *used;   /* start of this file's text not yet queued */
    int err = 0;
    for (;;) {
        if (*used == window_cap) {
            if (pending == 0) {
                /* a whole window without a cut point: cut at a character
                 * boundary anyway (only inputs without newlines get here) */
                size_t cut = window_cap;
                while (cut > window_cap - 4 && (window[cut - 1] & 0xc0) == 0x80) cut--;
                if ((window[cut - 1] & 0xc0) == 0xc0) cut--;
                if (counter_queue(k, window, cut) != 0) { err = 1; break; }
                pending = cut;
            }
            if (counter_flush(k) != 0) { err = 1; break; }
            memmove(window, window + pending, *used - pending);
            *used -= pending;
            pending = 0;
        }
        size_t got = fread(window + *used, 1, window_cap - *used, f);
        if (got == 0) {
            if (ferror(f)) { ll_error("%s: read error", path); err = 1; break; }
            pending += counter_cut(k, window + pending, *used - pending, 1, &err);
            break;
        }
        *used += got;
        pending += counter_cut(k, window + pending, *used - pending, 0, &err);
        if (err) break;
    }
    fclose(f);
    return err ? -1 : 0;
}

/* ---- phase 2: merges ---- */

typedef struct {
    const uint8_t *bytes;
    uint32_t len;
    int64_t count;
} unique_chunk;

/* qsort order of chunks: bytes, then length (a prefix first). */
static int cmp_chunk(const void *a, const void *b) {
    const unique_chunk *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->bytes, y->bytes, n);
    if (c) return c;
    return (x->len > y->len) - (x->len < y->len);
}

typedef struct {
    int32_t left, right;
    int64_t count;
    int32_t *words;          /* words that may hold the pair (stale entries allowed) */
    int32_t n_words, cap_words;
    int32_t stamp;           /* last merge that touched the count upwards */
} pair_info;

typedef struct { int64_t count; uint64_t key; } heap_entry;

typedef struct {
    /* words */
    int32_t *ids;            /* all words' ids, word w at ids + word_off[w] */
    uint64_t *word_off;
    uint32_t *word_len;
    int64_t *word_count;
    int32_t *word_stamp;
    size_t n_words;
    /* pairs */
    tok_map pair_index;
    pair_info *pairs;
    size_t n_pairs, cap_pairs;
    /* heap */
    heap_entry *heap;
    size_t heap_n, heap_cap;
    /* tokens */
    uint32_t *tok_off, *tok_len;
    uint8_t *tok_bytes;
    size_t tok_bytes_n, tok_bytes_cap;
    int n_tokens;
    chunk_table token_set;   /* token strings, for the duplicate rule */
    int32_t *merges;
    int n_merges;
    /* pairs whose count rose during the current merge */
    int32_t *touched;
    size_t n_touched, cap_touched;
} bpe;

/* Order: higher count first, then smaller (left, right). */
static inline int heap_above(heap_entry a, heap_entry b) {
    return a.count > b.count || (a.count == b.count && a.key < b.key);
}

/* Adds an entry to the max-heap; -1 (one line) on out of memory. */
static int heap_push(bpe *s, int64_t count, uint64_t key) {
    if (s->heap_n == s->heap_cap) {
        size_t cap = s->heap_cap ? s->heap_cap * 2 : 1024;
        heap_entry *h = ll_realloc(s->heap, cap * sizeof *h);
        if (!h) return -1;
        s->heap = h;
        s->heap_cap = cap;
    }
    heap_entry x = {count, key};
    size_t i = s->heap_n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_above(x, s->heap[p])) break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = x;
    return 0;
}

/* Removes and returns the top entry (heap not empty). */
static heap_entry heap_pop(bpe *s) {
    heap_entry top = s->heap[0], x = s->heap[--s->heap_n];
    size_t i = 0, n = s->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_above(s->heap[c + 1], s->heap[c])) c++;
        if (!heap_above(s->heap[c], x)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n > 0) s->heap[i] = x;
    return top;
}

/* Index of pair (left, right), created with count 0 if new; -1 on OOM. */
static int32_t pair_get(bpe *s, int32_t left, int32_t right) {
    uint64_t key = tok_pair_key(left, right);
    int32_t p = tok_map_get(&s->pair_index, key);
    if (p >= 0) return p;
    if (s->n_pairs == s->cap_pairs) {
        size_t cap = s->cap_pairs ? s->cap_pairs * 2 : 4096;
        pair_info *v = cap > INT32_MAX ? NULL : ll_realloc(s->pairs, cap * sizeof *v);
        if (!v) { if (cap > INT32_MAX) ll_error("tokenizer: train: more than %d pairs", INT32_MAX); return -1; }
        s->pairs = v;
        s->cap_pairs = cap;
    }
    p = (int32_t)s->n_pairs++;
    s->pairs[p] = (pair_info){left, right, 0, NULL, 0, 0, -1};
    if (tok_map_put(&s->pair_index, key, p) != 0) { ll_error("tokenizer: train: out of memory for the pair map"); return -1; }
    return p;
}

/* Adds delta to the pair's count; a rise also lists word w under the pair
 * and marks the pair for a heap push at the end of the merge. */
static int pair_add(bpe *s, int32_t left, int32_t right, int64_t delta, int32_t w, int32_t stamp) {
    int32_t p = pair_get(s, left, right);
    if (p < 0) return -1;
    pair_info *pi = &s->pairs[p];
    pi->count += delta;
    if (delta <= 0) return 0;
    if (pi->n_words == 0 || pi->words[pi->n_words - 1] != w) {
        if (pi->n_words == pi->cap_words) {
            int32_t cap = pi->cap_words ? pi->cap_words * 2 : 4;
            int32_t *v = ll_realloc(pi->words, (size_t)cap * sizeof *v);
            if (!v) return -1;
            pi->words = v;
            pi->cap_words = cap;
        }
        pi->words[pi->n_words++] = w;
    }
    if (pi->stamp != stamp) {
        pi->stamp = stamp;
        if (s->n_touched == s->cap_touched) {
            size_t cap = s->cap_touched ? s->cap_touched * 2 : 1024;
            int32_t *v = ll_realloc(s->touched, cap * sizeof *v);
            if (!v) return -1;
            s->touched = v;
            s->cap_touched = cap;
        }
        s->touched[s->n_touched++] = p;
    }
    return 0;
}

/* Appends token bytes for a new id and records the string. */
static int token_add(bpe *s, const uint8_t *bytes, uint32_t len) {
    if (s->tok_bytes_n + len > s->tok_bytes_cap) {
        size_t cap = s->tok_bytes_cap * 2;
        while (cap < s->tok_bytes_n + len) cap *= 2;
        uint8_t *v = ll_realloc(s->tok_bytes, cap);
        if (!v) return -1;
        s->tok_bytes = v;
        s->tok_bytes_cap = cap;
    }
    memcpy(s->tok_bytes + s->tok_bytes_n, bytes, len);
    s->tok_off[s->n_tokens] = (uint32_t)s->tok_bytes_n;
    s->tok_len[s->n_tokens] = len;
    s->tok_bytes_n += len;
    s->n_tokens++;
    return table_add(&s->token_set, bytes, len, tok_hash_bytes(bytes, len), 1);
}

/* Whether bytes[0..len) is already a token. */
static int token_exists(const bpe *s, const uint8_t *bytes, size_t len) {
    return table_has(&s->token_set, bytes, len);
}

/* Rewrites word w with merge (left, right) -> id, left to right and
 * non-overlapping, and moves the pair counts: each occurrence removes the
 * pairs it breaks and adds the pairs the new symbol makes (weighted by the
 * word's count). The merged pair itself ends at zero. */
static int apply_merge(bpe *s, int32_t w, int32_t left, int32_t right, int32_t id) {
    int32_t *a = s->ids + s->word_off[w];
    size_t n = s->word_len[w];
    int64_t c = s->word_count[w];
    size_t i = 0, j = 0;
    while (i < n) {
        if (i + 1 < n && a[i] == left && a[i + 1] == right) {
            if (j > 0) {
                if (pair_add(s, a[j - 1], left, -c, w, id) != 0) return -1;
                if (pair_add(s, a[j - 1], id, c, w, id) != 0) return -1;
            }
            if (pair_add(s, left, right, -c, w, id) != 0) return -1;
            if (i + 2 < n) {
                if (pair_add(s, right, a[i + 2], -c, w, id) != 0) return -1;
                if (pair_add(s, id, a[i + 2], c, w, id) != 0) return -1;
            }
            a[j++] = id;
            i += 2;
        } else {
            a[j++] = a[i++];
        }
    }
    s->word_len[w] = (uint32_t)j;
    return 0;
}

/* Frees everything bpe_run allocated, also after a failure midway. */
static void bpe_free(bpe *s) {
    free(s->ids); free(s->word_off); free(s->word_len); free(s->word_count); free(s->word_stamp);
    for (size_t p = 0; p < s->n_pairs; p++) free(s->pairs[p].words);
    free(s->pairs);
    tok_map_free(&s->pair_index);
    free(s->heap);
    free(s->tok_off); free(s->tok_len); free(s->tok_bytes);
    table_free(&s->token_set);
    free(s->merges);
    free(s->touched);
}

/* Learns up to n_target merges from the unique chunks; the merges end up in
 * s->merges. */
static int bpe_run(bpe *s, const unique_chunk *chunks, size_t n_chunks, int n_target,
                   const tok_train_options *o) {
    memset(s, 0, sizeof *s);
    int rc = -1;
    size_t total = 0;
    for (size_t i = 0; i < n_chunks; i++) total += chunks[i].len;
    s->n_words = n_chunks;
    s->ids = ll_malloc(total * sizeof *s->ids);
    s->word_off = ll_malloc(n_chunks * sizeof *s->word_off);
    s->word_len = ll_malloc(n_chunks * sizeof *s->word_len);
    s->word_count = ll_malloc(n_chunks * sizeof *s->word_count);
    s->word_stamp = ll_malloc(n_chunks * sizeof *s->word_stamp);
    s->tok_off = ll_malloc(((size_t)n_target + 256) * sizeof *s->tok_off);
    s->tok_len = ll_malloc(((size_t)n_target + 256) * sizeof *s->tok_len);
    s->tok_bytes_cap = 1 << 16;
    s->tok_bytes = ll_malloc(s->tok_bytes_cap);
    s->merges = ll_malloc(((size_t)n_target * 2 + 1) * sizeof *s->merges);
    if (!s->ids || !s->word_off || !s->word_len || !s->word_count || !s->word_stamp || !s->tok_off ||
        !s->tok_len || !s->tok_bytes || !s->merges || table_init(&s->token_set) != 0 ||
        tok_map_init(&s->pair_index, total / 4 + 1024) != 0)
        return -1;
    for (int b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        if (token_add(s, &byte, 1) != 0) return -1;
    }
    size_t off = 0;
    for (size_t w = 0; w < n_chunks; w++) {
        s->word_off[w] = off;
        s->word_len[w] = chunks[w].len;
        s->word_count[w] = chunks[w].count;
        s->word_stamp[w] = -1;
        for (uint32_t i = 0; i < chunks[w].len; i++) s->ids[off + i] = chunks[w].bytes[i];
        for (uint32_t i = 0; i + 1 < chunks[w].len; i++)
            if (pair_add(s, s->ids[off + i], s->ids[off + i + 1], chunks[w].count, (int32_t)w, 0) != 0)
                return -1;
        off += chunks[w].len;
    }
    for (size_t k = 0; k < s->n_touched; k++) {
        pair_info *pi = &s->pairs[s->touched[k]];
        if (pi->count > 0 && heap_push(s, pi->count, tok_pair_key(pi->left, pi->right)) != 0) return -1;
    }
    s->n_touched = 0;

    int64_t min_freq = o->min_frequency > 0 ? o->min_frequency : 1;
    size_t max_bytes = o->max_token_bytes > 0 && o->max_token_bytes < TRAIN_MAX_TOKEN_BYTES
                           ? (size_t)o->max_token_bytes : TRAIN_MAX_TOKEN_BYTES;
    uint8_t *joined = ll_malloc(2 * TRAIN_MAX_TOKEN_BYTES);
    if (!joined) return -1;
    double t0 = ll_now(), last_print = t0;
    while (s->n_merges < n_target && s->heap_n > 0) {
        heap_entry top = heap_pop(s);
        int32_t p = tok_map_get(&s->pair_index, top.key);
        pair_info *pi = &s->pairs[p];
        if (pi->count != top.count) {
            if (pi->count >= min_freq && heap_push(s, pi->count, top.key) != 0) goto done;
            continue;
        }
        if (top.count < min_freq) break;
        int32_t left = pi->left, right = pi->right;
        size_t len = (size_t)s->tok_len[left] + s->tok_len[right];
        if (len > max_bytes) continue;                 /* dropped for good */
        memcpy(joined, s->tok_bytes + s->tok_off[left], s->tok_len[left]);
        memcpy(joined + s->tok_len[left], s->tok_bytes + s->tok_off[right], s->tok_len[right]);
        if (token_exists(s, joined, len)) continue;    /* dropped for good */
        int32_t id = 256 + s->n_merges;
        s->merges[2 * s->n_merges] = left;
        s->merges[2 * s->n_merges + 1] = right;
        s->n_merges++;
        if (token_add(s, joined, (uint32_t)len) != 0) goto done;
        /* the list is detached: pair_add may grow the pairs array */
        int32_t *words = pi->words, n_words = pi->n_words;
        pi->words = NULL;
        pi->n_words = pi->cap_words = 0;
        for (int32_t k = 0; k < n_words; k++) {
            int32_t w = words[k];
            if (s->word_stamp[w] == id) continue;
            s->word_stamp[w] = id;
            if (apply_merge(s, w, left, right, id) != 0) { free(words); goto done; }
        }
        free(words);
        for (size_t k = 0; k < s->n_touched; k++) {
            pair_info *q = &s->pairs[s->touched[k]];
            if (q->count >= min_freq && heap_push(s, q->count, tok_pair_key(q->left, q->right)) != 0) goto done;
        }
        s->n_touched = 0;
        double now = ll_now();
        if (o->progress && now - last_print > 1.0) {
            double rate = s->n_merges / (now - t0);
            ll_log("tokenizer: %d/%d merges (%.0f merges/s, ETA %.0f s)\n", s->n_merges, n_target, rate,
                   (n_target - s->n_merges) / (rate + 1e-9));
            last_print = now;
        }
    }
    rc = 0;
done:
    free(joined);
    return rc;
}

/* ---- the two entry points ---- */

typedef struct {
    const char *const *paths;
    int n_paths;
    const char *const *texts;
    const size_t *lens;
    int n_texts;
} train_input;

/* Checks the options, counts the input's unique chunks (phase 1), learns
 * the merges (phase 2) and builds the tokenizer. */
static tokenizer *train(const train_input *in, const tok_train_options *o) {
    const char *pattern = o->pattern ? o->pattern : TOK_DEFAULT_PATTERN;
    const char *specials[TOK_MAX_SPECIALS];
    int n_specials = 0;
    for (int k = 0; k < N_BUILTIN_SPECIALS; k++) specials[n_specials++] = builtin_specials[k];
    if (o->n_extra_specials < 0 || o->n_extra_specials > TOK_MAX_SPECIALS - N_BUILTIN_SPECIALS) {
        ll_error("tokenizer: train: at most %d extra special tokens", TOK_MAX_SPECIALS - N_BUILTIN_SPECIALS);
        return NULL;
    }
    for (int k = 0; k < o->n_extra_specials; k++) {
        const char *sp = o->extra_specials[k];
        if (!sp || !*sp || strlen(sp) > 256 || tok_utf8_valid_prefix((const uint8_t *)sp, strlen(sp)) != strlen(sp)) {
            ll_error("tokenizer: train: --special: a special token must be 1 to 256 bytes of UTF-8");
            return NULL;
        }
        for (int j = 0; j < n_specials; j++)
            if (!strcmp(specials[j], sp)) {
                ll_error("tokenizer: train: --special: '%s' is already a special token", sp);
                return NULL;
            }
        specials[n_specials++] = sp;
    }
    if (o->vocab_size < 256 + n_specials || o->vocab_size > TOK_MAX_VOCAB) {
        ll_error("tokenizer: train: --vocab-size %d must be in [%d, %d] (256 bytes + %d specials + merges)",
                 o->vocab_size, 256 + n_specials, TOK_MAX_VOCAB, n_specials);
        return NULL;
    }
    tok_regex regex;
    if (tok_regex_compile(&regex, pattern, "tokenizer: train: --pattern") != 0) return NULL;

    int threads = o->threads > 0 ? o->threads : ll_cores_available();
    counter k = {0};
    k.regex = &regex;
    k.threads = threads;
    k.block_bytes = o->block_bytes ? o->block_bytes : TRAIN_BLOCK_BYTES;
    k.progress = o->progress;
    k.t0 = k.last_print = ll_now();
    /* cache-line aligned: see chunk_table */
    k.tables = ll_aligned_alloc(64, (size_t)threads * sizeof *k.tables);
    if (k.tables) memset(k.tables, 0, (size_t)threads * sizeof *k.tables);
    k.md = ll_calloc((size_t)threads, sizeof *k.md);
    walk_list files = {0};
    uint8_t *window = NULL;
    unique_chunk *chunks = NULL;
    tokenizer *t = NULL;
    bpe s;
    int have_bpe = 0;
    if (!k.tables || !k.md) goto out;
    for (int i = 0; i < threads; i++) {
        if (table_init(&k.tables[i]) != 0) goto out;
        if (!(k.md[i] = pcre2_match_data_create_from_pattern(regex.code, NULL))) {
            ll_error("tokenizer: train: out of memory for regex match data");
            goto out;
        }
    }

    if (in->paths) {
        /* walk.h: argument order, sorted within a folder, any unreadable entry fails */
        walk_options wo;
        walk_options_default(&wo);
        wo.strict = 1;
        wo.max_file_bytes = 0;   /* files are streamed in windows: any size */
        if (walk_inputs(in->paths, (size_t)in->n_paths, &wo, &files) != 0) goto out;
        if (files.n == 0) { ll_error("tokenizer: train: no *.txt file in the given input"); goto out; }
        window = ll_malloc(TRAIN_WINDOW_BYTES);
        if (!window) goto out;
        size_t used = 0;
        for (size_t i = 0; i < files.n; i++) {
            if (counter_add_file(&k, files.v[i].path, window, TRAIN_WINDOW_BYTES, &used) != 0) goto out;
            if (used > TRAIN_WINDOW_BYTES / 2) {
                if (counter_flush(&k) != 0) goto out;
                used = 0;
            }
        }
        if (counter_flush(&k) != 0) goto out;
    } else {
        int err = 0;
        for (int i = 0; i < in->n_texts && !err; i++)
            counter_cut(&k, (const uint8_t *)in->texts[i], in->lens[i], 1, &err);
        if (err || counter_flush(&k) != 0) goto out;
    }
    if (k.bytes_done == 0) { ll_error("tokenizer: train: the input holds no text"); goto out; }

    /* sum the per-thread tables into the first one */
    for (int i = 1; i < threads; i++) {
        chunk_table *c = &k.tables[i];
        for (size_t e = 0; e < c->n_slots; e++) {
            chunk_slot *x = &c->slots[e];
            if (x->len && table_add(&k.tables[0], c->arena + x->off, x->len,
                                    tok_hash_bytes(c->arena + x->off, x->len), x->count) != 0)
                goto out;
        }
        table_free(c);
    }
    chunk_table *all = &k.tables[0];
    if (all->n > INT32_MAX) {   /* words are indexed with int32 */
        ll_error("tokenizer: train: %zu unique chunks, more than %d", all->n, INT32_MAX);
        goto out;
    }
    chunks = ll_malloc(all->n * sizeof *chunks);
    if (!chunks) goto out;
    size_t n_chunks = 0;
    for (size_t e = 0; e < all->n_slots; e++) {
        chunk_slot *x = &all->slots[e];
        if (x->len) chunks[n_chunks++] = (unique_chunk){all->arena + x->off, x->len, x->count};
    }
    qsort(chunks, all->n, sizeof *chunks, cmp_chunk);
    if (o->progress)
        ll_log("tokenizer: %.1f MB split and counted in %.2f s (%d threads): %zu unique chunks; learning %d merges\n",
               k.bytes_done / 1e6, ll_now() - k.t0, threads, all->n, o->vocab_size - 256 - n_specials);

    int n_target = o->vocab_size - 256 - n_specials;
    have_bpe = 1;
    double t_merge = ll_now();
    if (bpe_run(&s, chunks, all->n, n_target, o) != 0) goto out;
    if (o->progress) ll_log("tokenizer: %d merges in %.2f s\n", s.n_merges, ll_now() - t_merge);
    if (s.n_merges < n_target)
        ll_warn("tokenizer: train: stopped after %d of %d merges (no pair left with count >= %lld); "
                "vocabulary %d", s.n_merges, n_target, (long long)(o->min_frequency > 0 ? o->min_frequency : 1),
                256 + s.n_merges + n_specials);
    t = tok_build(pattern, s.merges, s.n_merges, specials, n_specials, "tokenizer: train");
out:
    if (have_bpe) bpe_free(&s);
    free(chunks);
    free(window);
    walk_list_free(&files);
    if (k.tables)
        for (int i = 0; i < threads; i++) table_free(&k.tables[i]);
    if (k.md)
        for (int i = 0; i < threads; i++)
            if (k.md[i]) pcre2_match_data_free(k.md[i]);
    free(k.tables);
    free(k.md);
    free(k.blocks);
    tok_regex_free(&regex);
    return t;
}

/* See tokenizer.h. */
tokenizer *tok_train_paths(const char *const *paths, int n_paths, const tok_train_options *o) {
    if (n_paths <= 0) { ll_error("tokenizer: train: no input given"); return NULL; }
    train_input in = {paths, n_paths, NULL, NULL, 0};
    return train(&in, o);
}

/* See tokenizer.h. */
tokenizer *tok_train_texts(const char *const *texts, const size_t *lens, int n_texts,
                           const tok_train_options *o) {
    train_input in = {NULL, 0, texts, lens, n_texts};
    return train(&in, o);
}

/* tok_core.c: the loaded tokenizer: building it from merges, encoding,
 * decoding, identity.
 *
 * Invariants: see struct tokenizer in tok_internal.h. Encoding a chunk applies
 * the merge with the lowest id among adjacent pairs to all its occurrences,
 * left to right, until none applies: exactly how training rewrote the chunk.
 * Encoder states (regex match data, chunk cache, scratch) live in a pool
 * guarded by a mutex, so concurrent tok_encode calls never share one; the
 * cache only remembers results, so output never depends on it.
 */
#define _GNU_SOURCE   /* memmem */
#include <stdlib.h>
#include <string.h>

#include "llmpi/util.h"
#include "tok_internal.h"

#define TOK_MAX_TOKEN_BYTES (1u << 20)   /* a merge may not build a longer token */
#define TOK_MAX_TOTAL_BYTES (1u << 30)   /* all token strings together */
#define SIMPLE_MERGE_MAX 48              /* longer chunks use the heap kernel */
#define CACHE_SETS (1u << 15)            /* two slots each: 4 MiB per encoder state */
#define CACHE_MAX_BYTES 22               /* longer chunks are not cached ... */
#define CACHE_MAX_IDS 8                  /* ... nor ones of more tokens */

/* ---- growable outputs ---- */

/* Frees the ids and zeroes the struct. */
void tok_ids_free(tok_ids *v) { free(v->ids); v->ids = NULL; v->n = v->cap = 0; }
/* Frees the bytes and zeroes the struct. */
void tok_bytes_free(tok_bytes *b) { free(b->data); b->data = NULL; b->n = b->cap = 0; }

/* Makes room for `more` ids; -1 (one line) on out of memory. */
static int ids_reserve(tok_ids *v, size_t more) {
    if (v->n + more <= v->cap) return 0;
    size_t cap = v->cap ? v->cap : 1024;
    while (cap < v->n + more) cap *= 2;
    int32_t *p = ll_realloc(v->ids, cap * sizeof *p);
    if (!p) return -1;
    v->ids = p;
    v->cap = cap;
    return 0;
}

int tok_bytes_append(tok_bytes *b, const void *p, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1) cap *= 2;
        char *q = ll_realloc(b->data, cap);
        if (!q) return -1;
        b->data = q;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->n, p, n);   /* p may be NULL when n == 0 */
    b->n += n;
    b->data[b->n] = '\0';
    return 0;
}

/* ---- GPT-2 byte <-> unicode ---- */

/* Printable Latin-1 bytes stand for themselves; the other 68 bytes get
 * U+0100 and up, in byte order (GPT-2's bytes_to_unicode). */
void tok_byte_to_unicode(uint32_t out[256]) {
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; b++) {
        int printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae);
        out[b] = printable ? b : next++;
    }
}

/* ---- identity ---- */

/* FNV-1a over a canonical serialisation of what decides behaviour: the
 * format, the pattern, the merges and the specials (lengths first, so no two
 * contents serialise alike). */
static void compute_identity(tokenizer *t) {
    char line[64];
    uint64_t h = LL_FNV_INIT;
    int k = snprintf(line, sizeof line, "%s %d\n", TOK_FORMAT, TOK_VERSION);
    h = ll_fnv1a(h, line, (size_t)k);
    k = snprintf(line, sizeof line, "pattern %zu\n", strlen(t->pattern));
    h = ll_fnv1a(h, line, (size_t)k);
    h = ll_fnv1a(h, t->pattern, strlen(t->pattern));
    k = snprintf(line, sizeof line, "\nmerges %d\n", t->n_merges);
    h = ll_fnv1a(h, line, (size_t)k);
    for (int i = 0; i < t->n_merges; i++) {
        k = snprintf(line, sizeof line, "%d %d\n", (int)t->merges[2 * i], (int)t->merges[2 * i + 1]);
        h = ll_fnv1a(h, line, (size_t)k);
    }
    k = snprintf(line, sizeof line, "specials %d\n", t->n_specials);
    h = ll_fnv1a(h, line, (size_t)k);
    for (int i = 0; i < t->n_specials; i++) {
        k = snprintf(line, sizeof line, "%zu ", strlen(t->specials[i]));
        h = ll_fnv1a(h, line, (size_t)k);
        h = ll_fnv1a(h, t->specials[i], strlen(t->specials[i]) + 1);
    }
    snprintf(t->identity, sizeof t->identity, "bpe%d-%016llx", t->vocab_size, (unsigned long long)h);
}

/* ---- encoder states ---- */

/* One cache line: the chunk's bytes are kept so a hit is exact, not a hash
 * match. */
typedef struct {
    uint64_t hash;
    uint8_t len, n_ids;
    uint8_t bytes[CACHE_MAX_BYTES];
    int32_t ids[CACHE_MAX_IDS];
} cache_slot;

typedef struct tok_encoder {
    pcre2_match_data *md;
    cache_slot *cache;         /* 2-way sets, most recent first */
    int32_t *scratch;
    size_t scratch_cap;
    const tokenizer *t;
    tok_ids *out;              /* the current call's output */
    struct tok_encoder *next;  /* pool free list */
} tok_encoder;

struct tok_pool {
    pthread_mutex_t mutex;
    tok_encoder *free_list;
};

/* Frees one encoder state. */
static void encoder_free(tok_encoder *e) {
    if (!e) return;
    if (e->md) pcre2_match_data_free(e->md);
    free(e->cache);
    free(e->scratch);
    free(e);
}

/* Takes an idle encoder state from the pool or makes a new one. */
static tok_encoder *encoder_acquire(const tokenizer *t) {
    pthread_mutex_lock(&t->pool->mutex);
    tok_encoder *e = t->pool->free_list;
    if (e) t->pool->free_list = e->next;
    pthread_mutex_unlock(&t->pool->mutex);
    if (e) return e;
    e = ll_calloc(1, sizeof *e);
    if (!e) return NULL;
    e->t = t;
    e->md = pcre2_match_data_create_from_pattern(t->regex.code, NULL);
    e->cache = ll_aligned_alloc(64, 2 * CACHE_SETS * sizeof *e->cache);
    if (e->cache) memset(e->cache, 0, 2 * CACHE_SETS * sizeof *e->cache);
    e->scratch_cap = 256;
    e->scratch = ll_malloc(e->scratch_cap * sizeof *e->scratch);
    if (!e->md || !e->cache || !e->scratch) {
        if (!e->md) ll_error("tokenizer: encode: out of memory for regex match data");
        encoder_free(e);
        return NULL;
    }
    return e;
}

/* Returns an encoder state to the pool. */
static void encoder_release(const tokenizer *t, tok_encoder *e) {
    pthread_mutex_lock(&t->pool->mutex);
    e->next = t->pool->free_list;
    t->pool->free_list = e;
    pthread_mutex_unlock(&t->pool->mutex);
}

/* ---- the merge kernels ---- */

/* Quadratic in the chunk length but with tiny constants: the common case.
 * rank[i] is the merge id of (ids[i], ids[i+1]) (INT32_MAX: none); after a
 * round only the pairs next to a merged symbol are looked up again. */
size_t tok_merge_simple(const tokenizer *t, int32_t *ids, size_t n) {
    if (n < 2) return n;
    int32_t stack_rank[SIMPLE_MERGE_MAX];
    int32_t *rank = n <= SIMPLE_MERGE_MAX ? stack_rank : ll_malloc(n * sizeof *rank);
    if (!rank) return (size_t)-1;
    for (size_t i = 0; i + 1 < n; i++) {
        int32_t id = tok_map_get(&t->pair_to_id, tok_pair_key(ids[i], ids[i + 1]));
        rank[i] = id >= 0 ? id : INT32_MAX;
    }
    while (n >= 2) {
        int32_t best = INT32_MAX;
        for (size_t i = 0; i + 1 < n; i++)
            if (rank[i] < best) best = rank[i];
        if (best == INT32_MAX) break;
        int32_t left = t->merges[2 * (best - 256)], right = t->merges[2 * (best - 256) + 1];
        /* in place: j <= i, and rank[i - 1] is read before index i - 1 can
         * be written */
        size_t j = 0;
        int prev_merged = 0;
        for (size_t i = 0; i < n;) {
            int merged = i + 1 < n && ids[i] == left && ids[i + 1] == right;
            int32_t sym = merged ? best : ids[i];
            if (j > 0) {
                if (!merged && !prev_merged) {
                    rank[j - 1] = rank[i - 1];
                } else {
                    int32_t id = tok_map_get(&t->pair_to_id, tok_pair_key(ids[j - 1], sym));
                    rank[j - 1] = id >= 0 ? id : INT32_MAX;
                }
            }
            ids[j++] = sym;
            prev_merged = merged;
            i += merged ? 2 : 1;
        }
        n = j;
    }
    if (rank != stack_rank) free(rank);
    return n;
}

typedef struct { int32_t id, pos; } heap_item;

/* (id, pos) order: lowest merge id first, then leftmost. */
static inline int heap_less(heap_item a, heap_item b) {
    return a.id < b.id || (a.id == b.id && a.pos < b.pos);
}

/* Adds x to the binary min-heap h[0..*n). */
static void heap_push(heap_item *h, size_t *n, heap_item x) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(x, h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

/* Removes and returns the smallest item (*n > 0). */
static heap_item heap_pop(heap_item *h, size_t *n) {
    heap_item top = h[0], x = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && heap_less(h[c + 1], h[c])) c++;
        if (!heap_less(h[c], x)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = x;
    return top;
}

/* O(n log n): a linked list of symbols and a heap of candidate merges
 * (lowest id, then leftmost). A popped candidate is acted on only if the two
 * symbols it names are still adjacent and unchanged. Every merge a candidate
 * creates has a higher id than the one just applied, so the order equals
 * "lowest id everywhere, left to right, then the next". */
long tok_merge_heap(const tokenizer *t, int32_t *ids, size_t n) {
    if (n < 2) return (long)n;
    int32_t *next = ll_malloc(n * sizeof *next);
    int32_t *prev = ll_malloc(n * sizeof *prev);
    heap_item *heap = ll_malloc(3 * n * sizeof *heap);
    if (!next || !prev || !heap) { free(next); free(prev); free(heap); return -1; }
    size_t hn = 0;
    for (size_t i = 0; i < n; i++) {
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
        if (i + 1 < n) {
            int32_t id = tok_map_get(&t->pair_to_id, tok_pair_key(ids[i], ids[i + 1]));
            if (id >= 0) heap_push(heap, &hn, (heap_item){id, (int32_t)i});
        }
    }
    while (hn > 0) {
        heap_item c = heap_pop(heap, &hn);
        int32_t pos = c.pos, nx = next[pos];
        if (ids[pos] < 0 || nx < 0) continue;
        if (ids[pos] != t->merges[2 * (c.id - 256)] || ids[nx] != t->merges[2 * (c.id - 256) + 1]) continue;
        ids[pos] = c.id;
        ids[nx] = -1;
        next[pos] = next[nx];
        if (next[pos] >= 0) prev[next[pos]] = pos;
        /* at most two new candidates per merge: the heap never exceeds 3n */
        if (prev[pos] >= 0) {
            int32_t id = tok_map_get(&t->pair_to_id, tok_pair_key(ids[prev[pos]], c.id));
            if (id >= 0) heap_push(heap, &hn, (heap_item){id, prev[pos]});
        }
        if (next[pos] >= 0) {
            int32_t id = tok_map_get(&t->pair_to_id, tok_pair_key(c.id, ids[next[pos]]));
            if (id >= 0) heap_push(heap, &hn, (heap_item){id, pos});
        }
    }
    size_t j = 0;
    for (int32_t i = 0; i >= 0; i = next[i]) ids[j++] = ids[i];
    free(next); free(prev); free(heap);
    return (long)j;
}

/* ---- encoding ---- */

/* Encodes one chunk into e->out (cache first). */
static int encode_chunk(void *ctx, const uint8_t *chunk, size_t len) {
    tok_encoder *e = ctx;
    const tokenizer *t = e->t;
    if (ids_reserve(e->out, len) != 0) return -1;
    int32_t *out = e->out->ids + e->out->n;
    if (len == 1) { out[0] = chunk[0]; e->out->n++; return 0; }
    cache_slot *set = NULL;
    uint64_t h = 0;
    if (len <= CACHE_MAX_BYTES) {
        h = tok_hash_bytes(chunk, len);
        set = &e->cache[2 * (h & (CACHE_SETS - 1))];
        for (int way = 0; way < 2; way++) {
            cache_slot *c = &set[way];
            if (c->hash == h && c->len == len && memcmp(c->bytes, chunk, len) == 0) {
                memcpy(out, c->ids, c->n_ids * sizeof *out);
                e->out->n += c->n_ids;
                if (way == 1) { cache_slot tmp = set[0]; set[0] = set[1]; set[1] = tmp; }
                return 0;
            }
        }
    }
    /* merge in the output buffer itself: the result is never longer */
    for (size_t i = 0; i < len; i++) out[i] = chunk[i];
    size_t n;
    if (len <= SIMPLE_MERGE_MAX) {
        n = tok_merge_simple(t, out, len);
    } else {
        long r = tok_merge_heap(t, out, len);
        if (r < 0) return -1;
        n = (size_t)r;
    }
    e->out->n += n;
    if (set && n <= CACHE_MAX_IDS) {
        set[1] = set[0];
        set[0].hash = h;
        set[0].len = (uint8_t)len;
        set[0].n_ids = (uint8_t)n;
        memcpy(set[0].bytes, chunk, len);
        memcpy(set[0].ids, out, n * sizeof *out);
    }
    return 0;
}

#define SPECIAL_NONE SIZE_MAX           /* no occurrence left */
#define SPECIAL_UNKNOWN (SIZE_MAX - 1)  /* not searched yet */

/* The first special at or after `from` (the longest one at the earliest
 * position); returns its index or -1, its offset in *at. next_at caches
 * each special's next occurrence. */
static int find_special(const tokenizer *t, const uint8_t *s, size_t n, size_t from,
                        size_t *next_at, size_t *at) {
    int best = -1;
    for (int k = 0; k < t->n_specials; k++) {
        size_t len = strlen(t->specials[k]);
        if (next_at[k] == SPECIAL_UNKNOWN || (next_at[k] != SPECIAL_NONE && next_at[k] < from)) {
            const uint8_t *p = memmem(s + from, n - from, t->specials[k], len);
            next_at[k] = p ? (size_t)(p - s) : SPECIAL_NONE;
        }
        if (next_at[k] == SPECIAL_NONE) continue;
        if (best < 0 || next_at[k] < *at ||
            (next_at[k] == *at && len > strlen(t->specials[best]))) {
            best = k;
            *at = next_at[k];
        }
    }
    return best;
}

/* See tokenizer.h. Specials split the text first (as HF's added tokens do),
 * so each plain stretch is pre-tokenized on its own. */
int tok_encode(const tokenizer *t, const void *bytes, size_t n, int allow_special, tok_ids *out) {
    const uint8_t *s = bytes;
    if (t->is_bytes && !allow_special) {   /* no merges: the ids are the bytes */
        if (ids_reserve(out, n) != 0) return -1;
        for (size_t i = 0; i < n; i++) out->ids[out->n++] = s[i];
        return 0;
    }
    tok_encoder *e = encoder_acquire(t);
    if (!e) return -1;
    e->out = out;
    int rc = 0;
    if (!allow_special) {
        rc = tok_split(&t->regex, e->md, s, n, encode_chunk, e);
    } else {
        size_t next_at[TOK_MAX_SPECIALS];
        for (int k = 0; k < t->n_specials; k++) next_at[k] = SPECIAL_UNKNOWN;
        size_t pos = 0;
        while (rc == 0 && pos < n) {
            size_t at = n;
            int k = find_special(t, s, n, pos, next_at, &at);
            if (k < 0) at = n;
            rc = tok_split(&t->regex, e->md, s + pos, at - pos, encode_chunk, e);
            if (rc == 0 && k >= 0) {
                if (ids_reserve(out, 1) != 0) rc = -1;
                else out->ids[out->n++] = 256 + t->n_merges + k;
                pos = at + strlen(t->specials[k]);
            } else {
                pos = n;
            }
        }
    }
    e->out = NULL;
    encoder_release(t, e);
    return rc == 0 ? 0 : -1;
}

/* See tokenizer.h. */
int tok_decode(const tokenizer *t, const int32_t *ids, size_t n, tok_bytes *out) {
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->vocab_size) {
            ll_error("tokenizer: decode: id %ld at position %zu is outside the vocabulary [0, %d)",
                     (long)ids[i], i, t->vocab_size);
            return -1;
        }
        size_t len = t->token_off[ids[i] + 1] - t->token_off[ids[i]];
        if (tok_bytes_append(out, t->token_data + t->token_off[ids[i]], len) != 0) return -1;
    }
    if (!out->data && tok_bytes_append(out, "", 0) != 0) return -1;
    return 0;
}

/* ---- building and accessors ---- */

/* See tok_internal.h. */
tokenizer *tok_build(const char *pattern, const int32_t *merges, int n_merges,
                     const char *const *specials, int n_specials, const char *where) {
    if (n_merges < 0 || n_specials < 1 || n_specials > TOK_MAX_SPECIALS ||
        (int64_t)256 + n_merges + n_specials > TOK_MAX_VOCAB) {
        ll_error("%s: %d merges and %d specials are outside the supported range", where, n_merges,
                 n_specials);
        return NULL;
    }
    tokenizer *t = ll_calloc(1, sizeof *t);
    if (!t) return NULL;
    t->n_merges = n_merges;
    t->n_specials = n_specials;
    t->vocab_size = 256 + n_merges + n_specials;
    t->pattern = ll_strdup(pattern);
    t->merges = ll_malloc((size_t)(2 * n_merges + 1) * sizeof *t->merges);
    t->specials = ll_calloc((size_t)n_specials, sizeof *t->specials);
    t->token_off = ll_malloc(((size_t)t->vocab_size + 1) * sizeof *t->token_off);
    t->pool = ll_calloc(1, sizeof *t->pool);
    if (!t->pattern || !t->merges || !t->specials || !t->token_off || !t->pool) goto fail;   /* printed */
    pthread_mutex_init(&t->pool->mutex, NULL);
    if (n_merges) memcpy(t->merges, merges, (size_t)(2 * n_merges) * sizeof *t->merges);

    /* token lengths first: a crafted file could double a length per merge */
    uint64_t total = 256;
    uint32_t *len = ll_malloc((size_t)t->vocab_size * sizeof *len);
    if (!len) goto fail;
    for (int b = 0; b < 256; b++) len[b] = 1;
    for (int i = 0; i < n_merges; i++) {
        int32_t l = t->merges[2 * i], r = t->merges[2 * i + 1];
        if (l < 0 || r < 0 || l >= 256 + i || r >= 256 + i) {
            ll_error("%s: merge %d (id %d) uses ids %ld and %ld, not both below %d", where, i,
                     256 + i, (long)l, (long)r, 256 + i);
            free(len);
            goto fail;
        }
        uint64_t sum = (uint64_t)len[l] + len[r];
        if (sum > TOK_MAX_TOKEN_BYTES) {
            ll_error("%s: merge %d builds a token of %llu bytes (limit %u)", where, i,
                     (unsigned long long)sum, TOK_MAX_TOKEN_BYTES);
            free(len);
            goto fail;
        }
        len[256 + i] = (uint32_t)sum;
        total += sum;
    }
    for (int k = 0; k < n_specials; k++) {
        size_t sl = specials[k] ? strlen(specials[k]) : 0;
        if (sl == 0 || sl > 256) {
            ll_error("%s: special token %d is empty or longer than 256 bytes", where, k);
            free(len);
            goto fail;
        }
        for (int j = 0; j < k; j++)
            if (!strcmp(specials[j], specials[k])) {
                ll_error("%s: special token '%s' appears twice", where, specials[k]);
                free(len);
                goto fail;
            }
        if (tok_utf8_valid_prefix((const uint8_t *)specials[k], sl) != sl) {
            ll_error("%s: special token %d is not valid UTF-8", where, k);
            free(len);
            goto fail;
        }
        len[256 + n_merges + k] = (uint32_t)sl;
        total += sl;
        if (!(t->specials[k] = ll_strdup(specials[k]))) { free(len); goto fail; }
    }
    if (total > TOK_MAX_TOTAL_BYTES) {
        ll_error("%s: the tokens hold %llu bytes in all (limit %u)", where, (unsigned long long)total,
                 TOK_MAX_TOTAL_BYTES);
        free(len);
        goto fail;
    }
    t->token_data = ll_malloc((size_t)total);
    if (!t->token_data) { free(len); goto fail; }
    uint32_t off = 0;
    for (int id = 0; id < t->vocab_size; id++) {
        t->token_off[id] = off;
        char *dst = t->token_data + off;
        if (id < 256) {
            *dst = (char)id;
        } else if (id < 256 + n_merges) {
            int32_t l = t->merges[2 * (id - 256)], r = t->merges[2 * (id - 256) + 1];
            memcpy(dst, t->token_data + t->token_off[l], len[l]);
            memcpy(dst + len[l], t->token_data + t->token_off[r], len[r]);
        } else {
            memcpy(dst, t->specials[id - 256 - n_merges], len[id]);
        }
        off += len[id];
    }
    t->token_off[t->vocab_size] = off;
    free(len);

    if (tok_map_init(&t->pair_to_id, (size_t)n_merges) != 0) goto fail;
    for (int i = 0; i < n_merges; i++) {
        uint64_t key = tok_pair_key(t->merges[2 * i], t->merges[2 * i + 1]);
        if (tok_map_get(&t->pair_to_id, key) >= 0) {
            ll_error("%s: merge %d repeats the pair (%d, %d)", where, i, (int)t->merges[2 * i],
                     (int)t->merges[2 * i + 1]);
            goto fail;
        }
        if (tok_map_put(&t->pair_to_id, key, 256 + i) != 0) goto fail;
    }
    if (tok_regex_compile(&t->regex, t->pattern, where) != 0) goto fail;
    compute_identity(t);
    return t;
fail:
    tok_free(t);
    return NULL;
}

/* Frees everything, the pooled encoder states included; NULL is a no-op.
 * No tok_encode may be running. */
void tok_free(tokenizer *t) {
    if (!t) return;
    if (t->pool) {
        tok_encoder *e = t->pool->free_list;
        while (e) { tok_encoder *nx = e->next; encoder_free(e); e = nx; }
        pthread_mutex_destroy(&t->pool->mutex);
        free(t->pool);
    }
    if (t->specials)
        for (int k = 0; k < t->n_specials; k++) free(t->specials[k]);
    free(t->specials);
    free(t->merges);
    free(t->token_off);
    free(t->token_data);
    free(t->pattern);
    tok_map_free(&t->pair_to_id);
    tok_regex_free(&t->regex);
    free(t);
}

/* The bytes of token id; NULL when id is out of range. */
const char *tok_token_bytes(const tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->vocab_size) return NULL;
    *len = t->token_off[id + 1] - t->token_off[id];
    return t->token_data + t->token_off[id];
}

/* See tokenizer.h: tok_build without merges, named by its own identity. */
tokenizer *tok_bytes_new(void) {
    const char *specials[] = {TOK_EOT};
    tokenizer *t = tok_build(TOK_DEFAULT_PATTERN, NULL, 0, specials, 1, TOK_BYTES_NAME);
    if (!t) return NULL;
    t->is_bytes = 1;
    snprintf(t->identity, sizeof t->identity, "%s", TOK_BYTES_IDENTITY);
    return t;
}

int tok_is_bytes(const tokenizer *t) { return t->is_bytes; }
int tok_vocab_size(const tokenizer *t) { return t->vocab_size; }
int tok_n_merges(const tokenizer *t) { return t->n_merges; }
int32_t tok_eot_id(const tokenizer *t) { return 256 + t->n_merges; }
int tok_n_specials(const tokenizer *t) { return t->n_specials; }
const char *tok_pattern(const tokenizer *t) { return t->pattern; }
const char *tok_identity(const tokenizer *t) { return t->identity; }

/* See tokenizer.h. */
int tok_identity_matches(const char *a, uint32_t va, const char *b, uint32_t vb) {
    if (va != vb) return 0;
    return strcmp(a, b) == 0 || strcmp(a, TOK_NO_IDENTITY) == 0 || strcmp(b, TOK_NO_IDENTITY) == 0;
}

int tok_check_identity(const char *path, const char *made, uint32_t made_vocab, const char *needed,
                       uint32_t needed_vocab, const char *remedy) {
    if (tok_identity_matches(made, made_vocab, needed, needed_vocab)) return 0;
    ll_error("%s: made with tokenizer %s (vocab %u), but %s (vocab %u) is given: %s", path, made, made_vocab, needed,
             needed_vocab, remedy);
    return -1;
}

/* Parts of merge id; -1 when id is not a merge. */
int tok_merge_pair(const tokenizer *t, int32_t id, int32_t *left, int32_t *right) {
    if (id < 256 || id >= 256 + t->n_merges) return -1;
    *left = t->merges[2 * (id - 256)];
    *right = t->merges[2 * (id - 256) + 1];
    return 0;
}

/* Special i's string (its id in *id), NULL when i is out of range. */
const char *tok_special(const tokenizer *t, int i, int32_t *id) {
    if (i < 0 || i >= t->n_specials) return NULL;
    if (id) *id = 256 + t->n_merges + i;
    return t->specials[i];
}

/* Id of the special named name, -1 when there is none. */
int32_t tok_special_id(const tokenizer *t, const char *name) {
    for (int k = 0; k < t->n_specials; k++)
        if (!strcmp(t->specials[k], name)) return 256 + t->n_merges + k;
    return -1;
}

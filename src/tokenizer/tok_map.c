/* tok_map.c: the pair map (u64 key -> i32) and the byte-string hash.
 *
 * Invariants: capacity is a power of two, the load stays below 1/2 (so a
 * probe always ends at an empty slot), TOK_MAP_EMPTY is never a key (pair
 * keys have ids < 2^24 in both halves).
 */
#include <stdlib.h>
#include <string.h>

#include "llmpi/util.h"
#include "tok_internal.h"

/* Allocates a map able to hold `expected` keys without growing. */
int tok_map_init(tok_map *m, size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2 + 2) cap *= 2;
    m->keys = ll_malloc(cap * sizeof *m->keys);
    m->vals = ll_malloc(cap * sizeof *m->vals);
    if (!m->keys || !m->vals) { free(m->keys); free(m->vals); m->keys = NULL; m->vals = NULL; return -1; }
    memset(m->keys, 0xff, cap * sizeof *m->keys);
    m->cap = cap;
    m->n = 0;
    return 0;
}

/* Frees the map's arrays; safe on a zeroed map. */
void tok_map_free(tok_map *m) {
    free(m->keys);
    free(m->vals);
    m->keys = NULL; m->vals = NULL; m->cap = m->n = 0;
}

/* Value stored for key, or -1 when absent. */
int32_t tok_map_get(const tok_map *m, uint64_t key) {
    if (m->cap == 0) return -1;
    size_t mask = m->cap - 1;
    for (size_t i = tok_mix64(key) & mask;; i = (i + 1) & mask) {
        if (m->keys[i] == key) return m->vals[i];
        if (m->keys[i] == TOK_MAP_EMPTY) return -1;
    }
}

/* Doubles the table; -1 on out of memory (the map is unchanged). */
static int map_grow(tok_map *m) {
    tok_map bigger;
    if (tok_map_init(&bigger, m->cap) != 0) return -1;
    size_t mask = bigger.cap - 1;
    for (size_t j = 0; j < m->cap; j++) {
        if (m->keys[j] == TOK_MAP_EMPTY) continue;
        size_t i = tok_mix64(m->keys[j]) & mask;
        while (bigger.keys[i] != TOK_MAP_EMPTY) i = (i + 1) & mask;
        bigger.keys[i] = m->keys[j];
        bigger.vals[i] = m->vals[j];
    }
    bigger.n = m->n;
    tok_map_free(m);
    *m = bigger;
    return 0;
}

/* Inserts key -> val, overwriting an existing value; -1 on out of memory. */
int tok_map_put(tok_map *m, uint64_t key, int32_t val) {
    if ((m->n + 1) * 2 > m->cap && map_grow(m) != 0) return -1;
    size_t mask = m->cap - 1;
    size_t i = tok_mix64(key) & mask;
    while (m->keys[i] != TOK_MAP_EMPTY && m->keys[i] != key) i = (i + 1) & mask;
    if (m->keys[i] == TOK_MAP_EMPTY) { m->keys[i] = key; m->n++; }
    m->vals[i] = val;
    return 0;
}

/* 8 bytes at a time (the chunks are short, so the tail matters as much). */
uint64_t tok_hash_bytes(const void *p, size_t n) {
    const uint8_t *s = p;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (n * 0xff51afd7ed558ccdULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ tok_mix64(w)) * 0x100000001b3ULL;
        s += 8; n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h ^= w + n;
    return tok_mix64(h);
}

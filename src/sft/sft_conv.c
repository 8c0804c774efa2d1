/* sft_conv.c: conversations, the template's text normalisation, and the
 * names of formats and skip reasons.
 *
 * Invariants:
 * - A conversation's copied texts live in an arena of blocks that never move,
 *   so an sft_text pointer stays valid until sft_conv_reset/free; texts that
 *   need no change may point into the caller's memory (the JSON record).
 * - Normalisation is CRLF -> LF and trimming of ' ', '\t', '\r', '\n' at both
 *   ends; trimming first and converting the interior gives the same result
 *   as the spec's order (a trimmed CR is whitespace either way).
 */
#include <stdlib.h>
#include <string.h>

#include "llmpi/sft.h"
#include "llmpi/util.h"
#include "sft_internal.h"

#define ARENA_BLOCK (64 * 1024)

struct sft_arena {
    char **blocks;
    size_t *caps;
    int n_blocks, cap_blocks;
    int cur;            /* block being filled */
    size_t used;        /* bytes used in blocks[cur] */
};

/* Zeroes c; no allocation until the first text is copied. */
void sft_conv_init(sft_conv *c) { memset(c, 0, sizeof *c); }

/* Forgets the texts and turns; keeps the arena's blocks for reuse. */
void sft_conv_reset(sft_conv *c) {
    c->system.text = NULL;
    c->system.len = 0;
    c->n_turns = 0;
    c->instance = 0;
    if (c->arena) {
        c->arena->cur = 0;
        c->arena->used = 0;
    }
}

void sft_conv_free(sft_conv *c) {
    if (c->arena) {
        for (int i = 0; i < c->arena->n_blocks; i++) free(c->arena->blocks[i]);
        free(c->arena->blocks);
        free(c->arena->caps);
        free(c->arena);
    }
    free(c->user);
    free(c->assistant);
    memset(c, 0, sizeof *c);
}

/* Copies len bytes (plus a NUL) into the arena; NULL on out of memory. */
static char *arena_copy(sft_conv *c, const char *text, size_t len) {
    if (!c->arena && !(c->arena = ll_calloc(1, sizeof *c->arena))) return NULL;
    struct sft_arena *a = c->arena;
    size_t need = len + 1;
    while (a->cur < a->n_blocks && a->used + need > a->caps[a->cur]) {
        a->cur++;
        a->used = 0;
    }
    if (a->cur == a->n_blocks) {
        if (a->n_blocks == a->cap_blocks) {
            int cap = a->cap_blocks ? 2 * a->cap_blocks : 8;
            char **b = ll_realloc(a->blocks, (size_t)cap * sizeof *b);
            if (!b) return NULL;
            a->blocks = b;
            size_t *cs = ll_realloc(a->caps, (size_t)cap * sizeof *cs);
            if (!cs) return NULL;
            a->caps = cs;
            a->cap_blocks = cap;
        }
        size_t cap = need > ARENA_BLOCK ? need : ARENA_BLOCK;
        if (!(a->blocks[a->n_blocks] = ll_malloc(cap))) return NULL;
        a->caps[a->n_blocks++] = cap;
        a->used = 0;
    }
    char *p = a->blocks[a->cur] + a->used;
    if (len) memcpy(p, text, len);
    p[len] = '\0';
    a->used += need;
    return p;
}

/* Sets the system text (copied). */
int sft_conv_set_system(sft_conv *c, const char *text, size_t len) {
    char *p = arena_copy(c, text, len);
    if (!p) return -1;
    c->system.text = p;
    c->system.len = len;
    return 0;
}

/* Appends one (user, assistant) turn, both copied. */
int sft_conv_add_turn(sft_conv *c, const char *user, size_t user_len, const char *assistant,
                      size_t assistant_len) {
    if (c->n_turns == c->cap_turns) {
        int cap = c->cap_turns ? 2 * c->cap_turns : 8;
        sft_text *u = ll_realloc(c->user, (size_t)cap * sizeof *u);
        if (!u) return -1;
        c->user = u;
        sft_text *a = ll_realloc(c->assistant, (size_t)cap * sizeof *a);
        if (!a) return -1;
        c->assistant = a;
        c->cap_turns = cap;
    }
    char *u = arena_copy(c, user, user_len);
    char *a = u ? arena_copy(c, assistant, assistant_len) : NULL;
    if (!a) return -1;
    c->user[c->n_turns] = (sft_text){u, user_len};
    c->assistant[c->n_turns] = (sft_text){a, assistant_len};
    c->n_turns++;
    return 0;
}

static int is_trim(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; }

/* Normalises text[0..len) into out (capacity >= len); returns the length. */
size_t sft_text_normalise(const char *text, size_t len, char *out) {
    size_t b = 0, e = len;
    while (b < e && is_trim(text[b])) b++;
    while (e > b && is_trim(text[e - 1])) e--;
    size_t n = 0;
    for (size_t i = b; i < e; i++) {
        if (text[i] == '\r' && i + 1 < e && text[i + 1] == '\n') continue;
        out[n++] = text[i];
    }
    return n;
}

/* 1 iff nothing is left after normalisation. */
int sft_text_blank(const char *text, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (!is_trim(text[i])) return 0;
    return 1;
}

static const char *const format_names[SFT_FORMAT_COUNT] = {
    "auto", "alpaca", "gpteacher", "lima", "identity", "alpaca-libre", "self-instruct",
    "gsm8k", "oasst-flat", "oasst-tree", "hh-rlhf", "sharegpt", "openai"};

const char *sft_format_name(sft_format f) {
    return (int)f >= 0 && f < SFT_FORMAT_COUNT ? format_names[f] : "?";
}

/* Parses a format name (exact, lower case). */
int sft_format_parse(const char *name, sft_format *out) {
    for (int i = 0; i < SFT_FORMAT_COUNT; i++)
        if (!strcmp(name, format_names[i])) { *out = (sft_format)i; return 0; }
    return -1;
}

static const char *const skip_names[SFT_SKIP_COUNT] = {
    "invalid_json", "not_object", "missing_field", "wrong_type", "unknown_role",
    "empty_user", "empty_assistant", "not_alternating", "no_pair", "status",
    "deleted", "orphan"};

const char *sft_skip_name(sft_skip_reason r) {
    return (int)r >= 0 && r < SFT_SKIP_COUNT ? skip_names[r] : "?";
}

int64_t sft_read_stats_skipped(const sft_read_stats *s) {
    int64_t n = 0;
    for (int i = 0; i < SFT_SKIP_COUNT; i++) n += s->skipped[i];
    return n;
}

void sft_read_options_default(sft_read_options *o) {
    memset(o, 0, sizeof *o);
    o->format = SFT_FORMAT_AUTO;
}

/* ---- sft_buf (sft_internal.h) ---- */

/* Makes room for extra more bytes plus a NUL. */
int sft_buf_reserve(sft_buf *b, size_t extra) {
    if (b->n + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra + 1) cap *= 2;
    char *d = ll_realloc(b->data, cap);
    if (!d) return -1;
    b->data = d;
    b->cap = cap;
    return 0;
}

/* Appends s[0..n) and keeps the buffer NUL-terminated. */
int sft_buf_add(sft_buf *b, const char *s, size_t n) {
    if (sft_buf_reserve(b, n)) return -1;
    if (n) memcpy(b->data + b->n, s, n);
    b->n += n;
    b->data[b->n] = '\0';
    return 0;
}

void sft_buf_free(sft_buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* stream.c: the text of generation as it becomes showable.
 *
 * Invariants: the bytes shown so far plus s->buf are exactly the bytes of the
 * accepted tokens (until a stop string: then what was shown is everything
 * before its first occurrence). What is held back is always a suffix of the
 * bytes that could still turn out to be the start of a stop string or the
 * first bytes of an incomplete UTF-8 character (at most 3 bytes); each push
 * shows the rest at once (flush per token). A match of a stop string can only
 * end in the newest bytes, and every byte before a possible match start was
 * shown, so the search in s->buf finds the first occurrence in the whole text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llmpi/infer.h"

/* See infer.h. */
void infer_stream_init(infer_stream *s, const char *const *stops, int n_stops) {
    memset(s, 0, sizeof *s);
    s->stops = stops;
    s->n_stops = n_stops;
}

/* See infer.h. */
void infer_stream_free(infer_stream *s) {
    free(s->buf);
    memset(s, 0, sizeof *s);
}

/* Bytes a well-formed sequence starting with lead byte b has (0: b cannot
 * start one: a continuation byte, C0, C1 or F5..FF). */
static int utf8_seq_len(unsigned char b) {
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) return 2;
    if (b >= 0xE0 && b <= 0xEF) return 3;
    if (b >= 0xF0 && b <= 0xF4) return 4;
    return 0;
}

/* Whether c is a valid second byte after lead byte b (the narrower ranges
 * of E0, ED, F0, F4 exclude overlongs, surrogates and > U+10FFFF). */
static int utf8_second_ok(unsigned char b, unsigned char c) {
    if (b == 0xE0) return c >= 0xA0 && c <= 0xBF;
    if (b == 0xED) return c >= 0x80 && c <= 0x9F;
    if (b == 0xF0) return c >= 0x90 && c <= 0xBF;
    if (b == 0xF4) return c >= 0x80 && c <= 0x8F;
    return (c & 0xC0) == 0x80;
}

/* Length of the well-formed sequence at p (of n bytes left), 0 if the bytes
 * there are not one (or it is cut short by the end: then *partial = 1 when
 * what is there is a valid beginning). */
static int utf8_valid_at(const unsigned char *p, size_t n, int *partial) {
    int len = utf8_seq_len(p[0]);
    *partial = 0;
    if (len == 0) return 0;
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n) { *partial = 1; return 0; }
        if (i == 1 ? !utf8_second_ok(p[0], p[1]) : (p[i] & 0xC0) != 0x80) return 0;
    }
    return len;
}

/* Bytes at the end of b[0..n) that begin a character still incomplete. */
static size_t utf8_incomplete_tail(const char *b, size_t n) {
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        const unsigned char *p = (const unsigned char *)b + n - back;
        if ((p[0] & 0xC0) == 0x80) continue;   /* a continuation byte: look further back */
        int partial = 0;
        utf8_valid_at(p, back, &partial);
        return partial ? back : 0;
    }
    return 0;
}

/* First occurrence of needle (m > 0 bytes) in hay[0..n), or SIZE_MAX. */
static size_t find_bytes(const char *hay, size_t n, const char *needle, size_t m) {
    for (size_t i = 0; i + m <= n; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, m) == 0) return i;
    return SIZE_MAX;
}

/* Longest proper suffix of b[0..n) that is a prefix of some stop string. */
static size_t stop_prefix_tail(const infer_stream *s, const char *b, size_t n) {
    size_t best = 0;
    for (int i = 0; i < s->n_stops; i++) {
        size_t sl = strlen(s->stops[i]);
        if (sl == 0) continue;
        for (size_t k = sl - 1 < n ? sl - 1 : n; k > best; k--)
            if (memcmp(b + n - k, s->stops[i], k) == 0) { best = k; break; }
    }
    return best;
}

/* See infer.h. */
int infer_stream_push(infer_stream *s, const char *bytes, size_t len, const char **out, size_t *out_len) {
    *out = s->buf;
    *out_len = 0;
    if (s->stopped) return 0;
    /* what the previous call showed goes now (its caller is done with it) */
    if (s->shown) {
        memmove(s->buf, s->buf + s->shown, s->n - s->shown);
        s->n -= s->shown;
        s->shown = 0;
    }
    if (s->n + len + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 64;
        while (cap < s->n + len + 1) cap *= 2;
        char *g = ll_realloc(s->buf, cap);
        if (!g) return -1;
        s->buf = g;
        s->cap = cap;
    }
    *out = s->buf;
    if (len) memcpy(s->buf + s->n, bytes, len);
    s->n += len;
    /* the first complete stop string: show what precedes it, nothing more */
    size_t first = SIZE_MAX;
    for (int i = 0; i < s->n_stops; i++) {
        size_t at = s->stops[i][0] ? find_bytes(s->buf, s->n, s->stops[i], strlen(s->stops[i])) : SIZE_MAX;
        if (at < first) first = at;
    }
    if (first != SIZE_MAX) {
        s->stopped = 1;
        *out_len = first;
        s->n = 0;
        return 0;
    }
    size_t show = s->n - stop_prefix_tail(s, s->buf, s->n);
    show -= utf8_incomplete_tail(s->buf, show);
    *out_len = show;
    s->shown = show;
    return 0;
}

/* See infer.h. */
void infer_stream_finish(infer_stream *s, const char **out, size_t *out_len) {
    *out = s->buf ? s->buf + s->shown : "";
    *out_len = s->stopped ? 0 : s->n - s->shown;
    s->shown = s->n;
}

/* See infer.h. */
int infer_utf8_sanitize(const char *bytes, size_t n, tok_bytes *out) {
    static const char replacement[] = "\xEF\xBF\xBD";
    size_t need = out->n + 3 * n + 1;
    if (need > out->cap) {
        char *g = ll_realloc(out->data, need);
        if (!g) return -1;
        out->data = g;
        out->cap = need;
    }
    const unsigned char *p = (const unsigned char *)bytes;
    for (size_t i = 0; i < n;) {
        int partial = 0, len = utf8_valid_at(p + i, n - i, &partial);
        if (len > 0) {
            memcpy(out->data + out->n, p + i, (size_t)len);
            out->n += (size_t)len;
            i += (size_t)len;
        } else {
            memcpy(out->data + out->n, replacement, 3);
            out->n += 3;
            i++;
        }
    }
    out->data[out->n] = '\0';
    return 0;
}

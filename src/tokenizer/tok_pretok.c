/* tok_pretok.c: pre-tokenization, the regex split of text into chunks.
 *
 * Invariants: the regex only ever sees well-formed UTF-8 (each maximal valid
 * run is its own subject; every other byte is a chunk by itself), so matching
 * runs with PCRE2_NO_UTF_CHECK / the JIT fast path is safe; the chunks of a
 * text are contiguous, non-empty and cover every byte exactly once.
 */
#include <string.h>
#include <utf8proc.h>

#include "llmpi/util.h"
#include "tok_internal.h"

/* What the text being split on this thread comes from (a file name), for
 * the one error line; NULL: unnamed. Thread-local: encoders run in threads. */
static _Thread_local const char *error_place;

void tok_set_error_place(const char *place) { error_place = place; }

/* Compiles with UTF (code points) and UCP (\s, \d, \w follow Unicode, as in
 * Python's regex and Oniguruma, which HF tokenizers uses); JIT is an
 * optimisation, so its failure only falls back to the interpreter. */
int tok_regex_compile(tok_regex *r, const char *pattern, const char *where) {
    int err = 0;
    PCRE2_SIZE at = 0;
    memset(r, 0, sizeof *r);
    r->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                            &err, &at, NULL);
    if (!r->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        ll_error("%s: pattern: %s at offset %zu", where, (const char *)msg, (size_t)at);
        return -1;
    }
    r->jit = pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE) == 0;
    return 0;
}

/* Frees the compiled pattern; safe on a zeroed regex. */
void tok_regex_free(tok_regex *r) {
    if (r->code) pcre2_code_free(r->code);
    r->code = NULL;
}

/* Well-formed means RFC 3629 (no overlongs, no surrogates, <= U+10FFFF), the
 * same rule PCRE2 and Python apply; ASCII is skipped 8 bytes at a time. */
size_t tok_utf8_valid_prefix(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if ((w & 0x8080808080808080ULL) == 0) { i += 8; continue; }
        }
        if (s[i] < 0x80) { i++; continue; }
        utf8proc_int32_t cp;
        utf8proc_ssize_t len = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &cp);
        if (len <= 0) return i;
        i += (size_t)len;
    }
    return n;
}

/* Byte length of the UTF-8 character starting at s[0] (s is well-formed). */
static size_t utf8_char_len(uint8_t c) {
    return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

/* Splits one well-formed run: each match is a chunk, and so is each gap
 * between matches (HF's "Isolated" behaviour). An empty match is no chunk:
 * the search resumes one character later. */
static int split_run(const tok_regex *r, pcre2_match_data *md, const uint8_t *s, size_t len,
                     tok_chunk_fn fn, void *ctx) {
    size_t emitted = 0, search = 0;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    while (search < len) {
        int rc = r->jit ? pcre2_jit_match(r->code, s, len, search, 0, md, NULL)
                        : pcre2_match(r->code, s, len, search, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            /* e.g. "match limit exceeded" on a run of millions of spaces: name the input and where */
            if (error_place)
                ll_error("%s: pre-tokenizer: regex match failed near byte %zu of a %zu-byte run of text: %s",
                         error_place, search, len, (const char *)msg);
            else
                ll_error("tokenizer: pre-tokenizer: regex match failed near byte %zu of a %zu-byte run of text: %s",
                         search, len, (const char *)msg);
            return -1;
        }
        size_t start = ov[0], end = ov[1];
        if (start < search || end < start || end > len) {
            /* \K and friends can report such spans; they make no sense as chunks */
            ll_error("tokenizer: pre-tokenizer: the pattern reported a match outside the text (\\K?)");
            return -1;
        }
        if (end == start) {
            search = start + utf8_char_len(s[start]);
            continue;
        }
        int stop;
        if (start > emitted && (stop = fn(ctx, s + emitted, start - emitted)) != 0) return stop;
        if ((stop = fn(ctx, s + start, end - start)) != 0) return stop;
        emitted = search = end;
    }
    if (emitted < len) return fn(ctx, s + emitted, len - emitted);
    return 0;
}

/* See tok_internal.h. */
int tok_split(const tok_regex *r, pcre2_match_data *md, const uint8_t *text, size_t n,
              tok_chunk_fn fn, void *ctx) {
    size_t pos = 0;
    while (pos < n) {
        size_t run = tok_utf8_valid_prefix(text + pos, n - pos);
        if (run > 0) {
            int rc = split_run(r, md, text + pos, run, fn, ctx);
            if (rc != 0) return rc;
            pos += run;
        }
        if (pos < n) {
            int rc = fn(ctx, text + pos, 1);   /* an invalid byte: its own chunk */
            if (rc != 0) return rc;
            pos++;
        }
    }
    return 0;
}

/* After '\n' and before printable ASCII, the GPT-2 and GPT-4 patterns always
 * end a chunk (the newline can only be the tail of a whitespace or
 * punctuation match), so splitting there and starting a fresh search gives
 * the same chunks as one pass. */
size_t tok_next_cut(const uint8_t *text, size_t n, size_t from) {
    if (from == 0) from = 1;
    while (from < n) {
        const uint8_t *nl = memchr(text + from - 1, '\n', n - (from - 1));
        if (!nl) return n;
        size_t after = (size_t)(nl - text) + 1;
        if (after >= n) return n;
        if (text[after] > 0x20 && text[after] < 0x7f) return after;
        from = after + 1;
    }
    return n;
}

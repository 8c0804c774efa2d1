/* clean.c: Project Gutenberg cleanup (see include/llmpi/clean.h).
 *
 * The pipeline, per book:
 *   decode (UTF-8, else Latin-1) -> LF line ends -> find the body between the
 *   START marker (or the legacy small print) and the first footer line ->
 *   strip producer lines / transcriber's notes at the top -> refuse the book
 *   if license or marker text is still inside -> per line: trailing blanks
 *   off, NFC; per paragraph: join hard-wrapped prose when it is safe ->
 *   at most two blank lines in a row, none at either end.
 *
 * Invariants:
 *   - A kept book never contains a START/END marker, the small print or the
 *     license: the final scan (re_license) drops the book instead of guessing.
 *   - Nothing is searched past the bytes given; every offset is bounded by
 *     the working buffer's length.
 *   - clean_ctx is read-only after clean_ctx_new(); each clean_book() call
 *     owns its scratch (PCRE2 match data, buffers), so calls may run in
 *     parallel on one context.
 *   - Output depends only on the input bytes and the options.
 */
#include "llmpi/clean.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>

#include "llmpi/util.h"

/* A block note (transcriber's / scanner's note) that finds no end within
 * this many paragraphs or bytes is cut to its first paragraph only: when the
 * end is unclear we would rather keep a note than eat the book. */
#define NOTE_MAX_PARAGRAPHS 40
#define NOTE_MAX_BYTES 16384
/* A START marker's closing "***" may wrap onto this many following lines. */
#define MARKER_MAX_EXTRA_LINES 3
/* Hard-wrapped prose is set at a fixed width; lines of a wrapped paragraph
 * (but the last) end within this many bytes of the longest one. */
#define WRAP_MIN_WIDTH 50
#define WRAP_MAX_WIDTH 100
#define WRAP_MAX_SPREAD 20

struct clean_ctx {
    clean_options opts;
    pcre2_code *re_start;      /* *** START OF THE/THIS PROJECT GUTENBERG */
    pcre2_code *re_small_end;  /* *END*THE SMALL PRINT ... (end of the legacy header) */
    pcre2_code *re_footer;     /* first line of any footer */
    pcre2_code *re_license;    /* text that must never survive in a body */
    pcre2_code *re_producer;   /* one-paragraph producer / PG notes */
    pcre2_code *re_note;       /* multi-paragraph notes (transcriber's, scanner's) */
    pcre2_code *re_signature;  /* "David Reed": the name that closes a note */
};

/* ---- patterns ---------------------------------------------------------- */

#define WS "[ \\t]"
static const char PAT_START[] =
    "^" WS "*\\*{2,}" WS "*START" WS "+OF" WS "+(?:THE" WS "+|THIS" WS "+)?PROJECT" WS "+GUTENBERG";
static const char PAT_SMALL_END[] =
    "^" WS "*\\*+" WS "*END\\*?" WS "*THE" WS "+SMALL" WS "+PRINT";
/* The footer starts at the first of: the END marker, an "End of [the]
 * Project Gutenb[eu]rg ..." line, the small print placed at the end, or the
 * legacy "*Project Gutenberg Etext of TITLE*" closing line. */
static const char PAT_FOOTER[] =
    "^" WS "*(?:"
    "\\*{2,}" WS "*END" WS "+OF" WS "+(?:THE" WS "+|THIS" WS "+)?PROJECT" WS "+GUTENBERG"
    "|\\**" WS "*END" WS "+OF" WS "+(?:THE" WS "+|THIS" WS "+)?PROJECT" WS "+GUTENB[EU]RG"
    "|\\*+" WS "*START\\*+" WS "*THE" WS "+SMALL" WS "+PRINT"
    "|\\*+" WS "*(?:THE" WS "+)?PROJECT" WS "+GUTENB[EU]RG(?:'S|\xe2\x80\x99S)?" WS "+E-?TEXT" WS "+OF\\b[^\\n]*\\*" WS "*$"
    ")";
static const char PAT_LICENSE[] =
    "\\*\\*\\*" WS "*(?:START|END)" WS "*(?:OF" WS "+(?:THE" WS "+|THIS" WS "+)?PROJECT|:" WS "*FULL" WS "+LICENSE)"
    "|\\*END\\*?" WS "*THE" WS "+SMALL" WS "+PRINT"
    "|START\\*+" WS "*THE" WS "+SMALL" WS "+PRINT"
    "|FULL" WS "+PROJECT" WS "+GUTENBERG(?:-TM|\xe2\x84\xa2)?" WS "+LICENSE"
    "|PROJECT" WS "+GUTENBERG(?:-TM|\xe2\x84\xa2)" WS "+LICENSE"
    "|END" WS "+OF" WS "+(?:THE" WS "+|THIS" WS "+)?PROJECT" WS "+GUTENB[EU]RG" WS "+E-?(?:BOOK|TEXT)";
/* Matched at a paragraph's first line, leading blanks and '[' skipped. */
static const char PAT_PRODUCER[] =
    "^(?:produced\\b"
    "|e-?(?:text|book)\\s+(?:was\\s+)?(?:prepared|produced|scanned|transcribed)"
    "|this\\s+(?:e-?text|e-?book|text|file)\\s+(?:was\\s+)?(?:first\\s+)?(?:prepared|produced|transcribed|scanned|created)"
    "|(?:transcribed|scanned|digitized|prepared|proofread)\\s+(?:from|form|by)\\b"
    "|images\\s+of\\s+the\\s+original\\s+pages"
    "|special\\s+thanks"
    "|based\\s+on\\s+scans"
    "|an\\s+anonymous\\s+(?:project\\s+gutenberg\\s+)?volunteer"
    "|html\\s+version"
    "|portions\\s+of\\s+this\\s+header"
    "|note:\\s+(?:project\\s+gutenberg|images\\s+of|this\\s+is\\s+one\\s+of\\s+project)"
    "|(?:the\\s+)?project\\s+gutenberg(?:'s|\xe2\x80\x99s)?\\s+(?:e-?text|e-?book)\\s+of"
    "|please\\s+note:)";
static const char PAT_NOTE[] =
    "^(?:transcriber(?:'s|\xe2\x80\x99s|s)?|scanner(?:'s|\xe2\x80\x99s|s)?|executive\\s+director(?:'s|\xe2\x80\x99s)?)"
    "\\s+notes?\\b";
static const char PAT_SIGNATURE[] = "^[A-Z][a-z]+(?: +(?:[A-Z]\\.|[A-Z][a-z]+)){1,3}$";

static pcre2_code *compile(const char *pattern, uint32_t flags, const char *name) {
    int err = 0;
    PCRE2_SIZE at = 0;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, flags, &err, &at, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        ll_error("clean.c: clean_ctx_new: pattern %s at offset %zu: %s", name, (size_t)at, (char *)msg);
        return NULL;
    }
    /* JIT is a speed-up only; the interpreter gives the same matches. */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    return re;
}

void clean_options_default(clean_options *o) {
    o->unwrap_prose = 1;
    o->keep_all_languages = 0;
}

clean_ctx *clean_ctx_new(const clean_options *opts) {
    clean_ctx *c = ll_calloc(1, sizeof *c);
    if (!c) return NULL;
    if (opts) c->opts = *opts; else clean_options_default(&c->opts);
    const uint32_t ml = PCRE2_MULTILINE | PCRE2_CASELESS;
    if (!(c->re_start = compile(PAT_START, ml, "start")) ||
        !(c->re_small_end = compile(PAT_SMALL_END, ml, "small_end")) ||
        !(c->re_footer = compile(PAT_FOOTER, ml, "footer")) ||
        !(c->re_license = compile(PAT_LICENSE, PCRE2_CASELESS, "license")) ||
        !(c->re_producer = compile(PAT_PRODUCER, PCRE2_CASELESS, "producer")) ||
        !(c->re_note = compile(PAT_NOTE, PCRE2_CASELESS, "note")) ||
        !(c->re_signature = compile(PAT_SIGNATURE, 0, "signature"))) {
        clean_ctx_free(c);
        return NULL;
    }
    return c;
}

void clean_ctx_free(clean_ctx *c) {
    if (!c) return;
    pcre2_code_free(c->re_start);
    pcre2_code_free(c->re_small_end);
    pcre2_code_free(c->re_footer);
    pcre2_code_free(c->re_license);
    pcre2_code_free(c->re_producer);
    pcre2_code_free(c->re_note);
    pcre2_code_free(c->re_signature);
    free(c);
}

const char *clean_verdict_name(clean_verdict v) {
    static const char *names[CLEAN_VERDICT_COUNT] = {
        "kept", "empty", "binary", "no_body", "license_in_body", "language", "duplicate"};
    return (unsigned)v < CLEAN_VERDICT_COUNT ? names[v] : "unknown";
}

uint64_t clean_body_hash(const char *text, size_t n) {
    uint64_t h = ll_fnv1a(LL_FNV_INIT, text, n);
    return h ? h : 1;  /* 0 means "no body" in clean_result */
}

void clean_result_free(clean_result *out) {
    if (!out) return;
    free(out->text);
    memset(out, 0, sizeof *out);
}

/* ---- growable output buffer ------------------------------------------- */

typedef struct { char *p; size_t n, cap; int oom; } strbuf;

/* Makes room for extra more bytes (+1 for the NUL); sets oom on failure. */
static int sb_reserve(strbuf *b, size_t extra) {
    if (b->oom) return -1;
    if (b->n + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + extra + 1) cap *= 2;
    char *p = ll_realloc(b->p, cap);
    if (!p) { b->oom = 1; return -1; }
    b->p = p; b->cap = cap;
    return 0;
}

static void sb_put(strbuf *b, const char *s, size_t n) {
    if (sb_reserve(b, n) != 0) return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_putc(strbuf *b, char ch) { sb_put(b, &ch, 1); }

/* ---- decoding ----------------------------------------------------------- */

/* Returns 1 when s[0..n) is well-formed UTF-8 (no overlongs, surrogates or
 * code points above U+10FFFF). The ASCII fast path checks 8 bytes at once. */
static int utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ULL)) { i += 8; continue; }
        }
        unsigned char c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t len; uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
        else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return 0;
        if (n - i < len) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += len;
    }
    return 1;
}

/* Copies the book into b as UTF-8 with LF line ends: CRLF and lone CR become
 * LF, BOMs (U+FEFF) are dropped, Latin-1 bytes become two-byte sequences. */
static void decode_to_lf(strbuf *b, const unsigned char *s, size_t n, int latin1) {
    if (sb_reserve(b, latin1 ? 2 * n : n) != 0) return;
    size_t i = 0;
    if (!latin1 && n >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF) i = 3;
    char *o = b->p;
    size_t k = 0;
    for (; i < n; i++) {
        unsigned char c = s[i];
        if (c == '\r') {
            o[k++] = '\n';
            if (i + 1 < n && s[i + 1] == '\n') i++;
        } else if (!latin1 && c == 0xEF && i + 2 < n && s[i + 1] == 0xBB && s[i + 2] == 0xBF) {
            i += 2;  /* U+FEFF inside the text: a BOM left by pasting files together */
        } else if (latin1 && c >= 0x80) {
            o[k++] = (char)(0xC0 | (c >> 6));
            o[k++] = (char)(0x80 | (c & 0x3F));
        } else {
            o[k++] = (char)c;
        }
    }
    b->n = k;
    b->p[k] = '\0';
}

/* A text file has no NUL and almost no other C0 control bytes (form feeds
 * and escapes do occur in old etexts). Returns 1 for binary data. */
static int looks_binary(const unsigned char *s, size_t n) {
    size_t controls = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c >= 0x20 || c == '\n' || c == '\r' || c == '\t' || c == '\f') continue;
        if (c == 0) return 1;
        controls++;
    }
    return controls > 16 && controls * 1000 > n;  /* more than 0.1% */
}

/* ---- line helpers ------------------------------------------------------- */

typedef struct { size_t beg, end; } span;  /* [beg, end) into the working text, no '\n' */

static size_t line_end(const char *t, size_t n, size_t at) {
    const char *nl = memchr(t + at, '\n', n - at);
    return nl ? (size_t)(nl - t) : n;
}

static size_t line_start(const char *t, size_t at) {
    while (at > 0 && t[at - 1] != '\n') at--;
    return at;
}

/* 1 when needle occurs in s[0..n). */
static int strstr_bounded(const char *s, size_t n, const char *needle) {
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(s + i, needle, k)) return 1;
    return 0;
}

static int is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\f') return 0;
    return 1;
}

/* First match of re in t[from..n); returns its offset or (size_t)-1. */
static size_t find(const pcre2_code *re, pcre2_match_data *md, const char *t, size_t n, size_t from) {
    if (from > n) return (size_t)-1;
    int rc = pcre2_match(re, (PCRE2_SPTR)t, n, from, 0, md, NULL);
    if (rc < 0) return (size_t)-1;
    return pcre2_get_ovector_pointer(md)[0];
}

static int matches(const pcre2_code *re, pcre2_match_data *md, const char *s, size_t n) {
    return pcre2_match(re, (PCRE2_SPTR)s, n, 0, 0, md, NULL) >= 0;
}

/* Copies s[0..n) into dst (cap bytes with the NUL), trimmed, cut at a UTF-8
 * character boundary when it does not fit. */
static void copy_field(char *dst, size_t cap, const char *s, size_t n) {
    while (n && (*s == ' ' || *s == '\t')) { s++; n--; }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    if (n >= cap) {
        n = cap - 1;
        while (n && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* Reads "Title:" (with indented continuation lines) and "Language:" from
 * the header t[0..n). */
static void read_header(const char *t, size_t n, clean_result *out) {
    size_t at = 0;
    while (at < n) {
        size_t e = line_end(t, n, at);
        size_t len = e - at;
        if (!out->title[0] && len > 6 && !strncmp(t + at, "Title:", 6)) {
            char joined[512];
            size_t k = 0;
            size_t seg = at + 6;
            for (;;) {
                size_t sl = e - seg;
                while (sl && (t[seg] == ' ' || t[seg] == '\t')) { seg++; sl--; }
                if (k && k < sizeof joined - 1) joined[k++] = ' ';
                if (sl > sizeof joined - 1 - k) sl = sizeof joined - 1 - k;
                memcpy(joined + k, t + seg, sl);
                k += sl;
                /* the next line continues the title when it is indented and not blank */
                size_t nx = e + 1;
                if (nx >= n || (t[nx] != ' ' && t[nx] != '\t')) break;
                size_t ne = line_end(t, n, nx);
                if (is_blank(t + nx, ne - nx)) break;
                e = ne; seg = nx;
            }
            copy_field(out->title, sizeof out->title, joined, k);
        } else if (!out->language[0] && len > 9 && !strncmp(t + at, "Language:", 9)) {
            copy_field(out->language, sizeof out->language, t + at + 9, len - 9);
        }
        at = e + 1;
    }
}

/* Offset of the line after the START marker at `at`. The marker ends at
 * the line holding its closing "***", which may wrap onto the next lines
 * ("...EBOOK BARTY CRUSOE AND HIS MAN\nSATURDAY***"). */
static size_t after_start_marker(const char *t, size_t tn, size_t at) {
    size_t e = line_end(t, tn, at);
    size_t kw = at;
    while (kw < e && t[kw] != 'S' && t[kw] != 's') kw++;  /* past the opening stars */
    int closed = strstr_bounded(t + kw, e - kw, "***");
    for (int k = 0; !closed && k < MARKER_MAX_EXTRA_LINES && e < tn; k++) {
        size_t ne = line_end(t, tn, e + 1);
        if (strstr_bounded(t + e + 1, ne - e - 1, "***")) { closed = 1; e = ne; }
        else if (is_blank(t + e + 1, ne - e - 1)) break;
        else e = ne;
    }
    if (!closed) e = line_end(t, tn, at);  /* no closing stars: the marker is one line */
    return e < tn ? e + 1 : tn;
}

/* ---- front matter ------------------------------------------------------- */

/* Paragraphs of the body: runs of non-blank lines. blank_before counts the
 * blank lines in front of the paragraph. */
typedef struct { size_t first, last; int blank_before; } para;  /* line indices, inclusive */

static int is_separator_line(const char *s, size_t n) {
    size_t marks = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '*' || s[i] == '-' || s[i] == '=' || s[i] == '_' || s[i] == '+') marks++;
        else if (s[i] != ' ' && s[i] != '\t') return 0;
    }
    return marks >= 3;
}

/* "|        |": an empty row inside a boxed note. */
static int is_empty_box_line(const char *s, size_t n) {
    int bars = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '|') bars++;
        else if (s[i] != ' ' && s[i] != '\t') return 0;
    }
    return bars > 0;
}

/* "+-----+" (or "+-----"): the top or bottom of a boxed note. */
static int is_box_border(const char *s, size_t n) {
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
    if (i >= n || s[i] != '+') return 0;
    size_t dashes = 0;
    for (i++; i < n && s[i] == '-'; i++) dashes++;
    return dashes >= 3;
}

static const char *skip_lead(const char *s, size_t *n) {
    while (*n && (*s == ' ' || *s == '\t' || *s == '[' || *s == '|')) { s++; (*n)--; }
    return s;
}

/* Bracket depth change over the paragraph's lines. */
static int bracket_delta(const char *t, const span *lines, const para *p) {
    int d = 0;
    for (size_t l = p->first; l <= p->last; l++)
        for (size_t i = lines[l].beg; i < lines[l].end; i++)
            d += (t[i] == '[') - (t[i] == ']');
    return d;
}

static size_t para_bytes(const span *lines, const para *p) {
    return lines[p->last].end - lines[p->first].beg;
}

/* Returns the index of the first paragraph that belongs to the book: the
 * producer lines, PG notes and transcriber's/scanner's notes in front of it
 * are skipped. Conservative: a note whose end cannot be seen loses only its
 * first paragraph. */
static size_t strip_front_matter(const clean_ctx *c, pcre2_match_data *md, const char *t,
                                 const span *lines, const para *ps, size_t np) {
    size_t i = 0;
    while (i < np) {
        const para *p = &ps[i];
        /* the first line that is not a rule or box border says what this is */
        size_t cl = p->first;
        int boxed = 0;
        while (cl < p->last && (is_separator_line(t + lines[cl].beg, lines[cl].end - lines[cl].beg) ||
                                is_empty_box_line(t + lines[cl].beg, lines[cl].end - lines[cl].beg))) {
            boxed |= is_box_border(t + lines[cl].beg, lines[cl].end - lines[cl].beg);
            cl++;
        }
        const char *s = t + lines[cl].beg;
        size_t n = lines[cl].end - lines[cl].beg;
        if (cl == p->last && is_separator_line(s, n)) { i++; continue; }  /* a lone rule */
        int bracketed = 0;
        for (size_t k = 0; k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '[' || s[k] == '|'); k++) {
            if (s[k] == '[') bracketed = 1;
            if (s[k] == '|') boxed = 1;
        }
        size_t ln = n;
        const char *lead = skip_lead(s, &ln);

        int producer = matches(c->re_producer, md, lead, ln);
        int note = !producer && matches(c->re_note, md, lead, ln);
        if (!producer && !note) break;

        /* A boxed note ends at the paragraph holding the box's bottom border. */
        if (boxed) {
            size_t j = i, bytes = 0, found = (size_t)-1;
            for (; j < np && j < i + NOTE_MAX_PARAGRAPHS && bytes < NOTE_MAX_BYTES && found == (size_t)-1; j++) {
                bytes += para_bytes(lines, &ps[j]);
                for (size_t l = (j == i ? cl + 1 : ps[j].first); l <= ps[j].last; l++)
                    if (is_box_border(t + lines[l].beg, lines[l].end - lines[l].beg)) { found = j; break; }
            }
            i = found != (size_t)-1 ? found + 1 : i + 1;
            continue;
        }

        /* A bracketed note ends where its brackets balance. */
        if (bracketed) {
            int depth = 0;
            size_t j = i, bytes = 0;
            for (; j < np && j < i + NOTE_MAX_PARAGRAPHS && bytes < NOTE_MAX_BYTES; j++) {
                depth += bracket_delta(t, lines, &ps[j]);
                bytes += para_bytes(lines, &ps[j]);
                if (depth <= 0) break;
            }
            i = (j < np && depth <= 0) ? j + 1 : i + 1;
            continue;
        }

        if (producer) {
            /* "Produced by" / "This text was prepared for Project Gutenberg
             * by" may put the names in the next paragraph. */
            const char *le = t + lines[p->last].end;
            size_t last_len = lines[p->last].end - lines[p->last].beg;
            int dangling = (last_len >= 2 && !strncmp(le - 2, "by", 2) &&
                            (last_len == 2 || le[-3] == ' ')) ||
                           (last_len >= 1 && le[-1] == ':');
            i++;
            if (dangling && i < np && ps[i].blank_before < 3) i++;
            /* indented paragraphs right below a note continue it */
            while (i < np && ps[i].blank_before < 3) {
                char f = t[lines[ps[i].first].beg];
                if (f != ' ' && f != '\t') break;
                i++;
            }
            continue;
        }

        /* Block note: runs until a wide gap (3+ blank lines, PG's section
         * break) or a signature paragraph ("David Reed", "Michael S. Hart /
         * Project Gutenberg / Executive Director"). */
        size_t j = i, bytes = 0, end = (size_t)-1;
        for (; j < np && j < i + NOTE_MAX_PARAGRAPHS && bytes < NOTE_MAX_BYTES; j++) {
            bytes += para_bytes(lines, &ps[j]);
            if (j > i) {
                const para *q = &ps[j];
                int short_lines = q->last - q->first < 4;
                for (size_t l = q->first; short_lines && l <= q->last; l++)
                    if (lines[l].end - lines[l].beg > 40) short_lines = 0;
                if (short_lines && matches(c->re_signature, md, t + lines[q->first].beg,
                                           lines[q->first].end - lines[q->first].beg)) {
                    end = j;
                    break;
                }
            }
            if (j + 1 < np && ps[j + 1].blank_before >= 3) { end = j; break; }
        }
        i = end != (size_t)-1 ? end + 1 : i + 1;
    }
    return i;
}

/* ---- normalisation ------------------------------------------------------ */

/* Code points below U+0300 are NFC-stable and never compose with what comes
 * before them, and so are U+2010..U+2027 and U+2030..U+205E (dashes, curly
 * quotes, ellipsis, primes: checked in tests/test_clean.c). A line made only
 * of those needs no NFC pass, which keeps the common case at memcpy speed. */
static int needs_nfc(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = s[i];
        if (ch < 0xCC) continue;
        if (ch == 0xE2 && i + 2 < n) {
            uint32_t cp = ((uint32_t)(ch & 0x0F) << 12) | ((uint32_t)(s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
            if ((cp >= 0x2010 && cp <= 0x2027) || (cp >= 0x2030 && cp <= 0x205E)) { i += 2; continue; }
        }
        return 1;
    }
    return 0;
}

/* Appends the line s[0..n) in NFC. Returns -1 when out of memory. */
static int put_nfc(strbuf *b, const char *s, size_t n) {
    if (!needs_nfc((const unsigned char *)s, n)) { sb_put(b, s, n); return b->oom ? -1 : 0; }
    utf8proc_uint8_t *nfc = NULL;
    utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &nfc,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (m < 0) { sb_put(b, s, n); return b->oom ? -1 : 0; }  /* input was validated: cannot happen */
    sb_put(b, (const char *)nfc, (size_t)m);
    free(nfc);
    return b->oom ? -1 : 0;
}

static size_t utf8_chars(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

static int starts_upper(const char *s, size_t n) {
    size_t i = 0;
    while (i < n && (s[i] == '"' || s[i] == '\'' || s[i] == '_' || s[i] == '(')) i++;
    if (i + 2 < n && (unsigned char)s[i] == 0xE2 && (unsigned char)s[i + 1] == 0x80) i += 3;  /* curly quote */
    return i < n && s[i] >= 'A' && s[i] <= 'Z';
}

/* Decides whether a paragraph is prose set in hard-wrapped lines. Poetry,
 * tables, lists and indented blocks keep their line breaks: when unsure,
 * the answer is no. */
static int is_wrapped_prose(const char *t, const span *lines, const para *p) {
    size_t nl = p->last - p->first + 1;
    if (nl < 2) return 0;
    size_t widest = 0, narrowest = (size_t)-1;
    int all_upper = 1;
    for (size_t l = p->first; l <= p->last; l++) {
        const char *s = t + lines[l].beg;
        size_t n = lines[l].end - lines[l].beg;
        if (s[0] == ' ' || s[0] == '\t') return 0;
        if (memchr(s, '\t', n) || memchr(s, '|', n)) return 0;
        for (size_t i = 0; i + 2 < n; i++)
            if (s[i] == ' ' && s[i + 1] == ' ' && s[i + 2] == ' ') return 0;
        if (l > p->first) {
            if (strchr("-*+#>=", s[0])) return 0;
            size_t d = 0;
            while (d < n && s[d] >= '0' && s[d] <= '9') d++;
            if (d && d < n && (s[d] == '.' || s[d] == ')')) return 0;
        }
        if (!starts_upper(s, n)) all_upper = 0;
        size_t w = utf8_chars(s, n);
        if (w > widest) widest = w;
        if (l < p->last && w < narrowest) narrowest = w;
    }
    if (widest < WRAP_MIN_WIDTH || widest > WRAP_MAX_WIDTH) return 0;
    if (widest - narrowest > WRAP_MAX_SPREAD) return 0;
    if (nl >= 3 && all_upper) return 0;  /* verse: every line opens with a capital */
    if (nl == 2 && all_upper) {
        const char *s = t + lines[p->first].beg;
        size_t n = lines[p->first].end - lines[p->first].beg;
        if (strchr(",;:.!?", s[n - 1])) return 0;  /* a couplet */
    }
    return 1;
}

/* Appends the paragraph, joined into one line when it is wrapped prose. */
static int put_paragraph(const clean_ctx *c, strbuf *b, const char *t, const span *lines, const para *p) {
    int join = c->opts.unwrap_prose && is_wrapped_prose(t, lines, p);
    for (size_t l = p->first; l <= p->last; l++) {
        const char *s = t + lines[l].beg;
        size_t n = lines[l].end - lines[l].beg;
        if (put_nfc(b, s, n) != 0) return -1;
        if (l == p->last) { sb_putc(b, '\n'); break; }
        if (!join) sb_putc(b, '\n');
        else if (s[n - 1] != '-') sb_putc(b, ' ');  /* "well-" + "known" stays "well-known" */
    }
    return b->oom ? -1 : 0;
}

/* ---- the book ----------------------------------------------------------- */

static void drop(clean_result *out, clean_verdict v, const char *reason) {
    out->verdict = v;
    snprintf(out->reason, sizeof out->reason, "%s", reason);
}

/* Cleans t[bs..be) into out. Returns -1 when out of memory. */
static int clean_body(const clean_ctx *c, pcre2_match_data *md, const char *t, size_t bs, size_t be,
                      clean_result *out) {
    /* lines, with trailing blanks cut off */
    size_t cap_lines = 1024, nl = 0;
    span *lines = ll_malloc(cap_lines * sizeof *lines);
    para *ps = NULL;
    strbuf b = {0};
    int rc = -1;
    if (!lines) return -1;
    for (size_t at = bs; at < be;) {
        size_t e = line_end(t, be, at);
        size_t te = e;
        while (te > at && (t[te - 1] == ' ' || t[te - 1] == '\t' || t[te - 1] == '\f')) te--;
        if (nl == cap_lines) {
            span *nlines = ll_realloc(lines, 2 * cap_lines * sizeof *lines);
            if (!nlines) goto done;
            lines = nlines; cap_lines *= 2;
        }
        lines[nl++] = (span){at, te};
        at = e + 1;
    }
    /* paragraphs */
    size_t np = 0;
    ps = ll_malloc((nl + 1) * sizeof *ps);
    if (!ps) goto done;
    int blanks = 0;
    for (size_t l = 0; l < nl; l++) {
        if (lines[l].end == lines[l].beg) { blanks++; continue; }
        if (np && ps[np - 1].last == l - 1 && blanks == 0) { ps[np - 1].last = l; continue; }
        ps[np++] = (para){l, l, blanks};
        blanks = 0;
    }
    size_t first = strip_front_matter(c, md, t, lines, ps, np);
    if (first >= np) {
        drop(out, CLEAN_DROP_NO_BODY, "nothing left between the header and the footer");
        rc = 0;
        goto done;
    }
    /* license text inside what we would keep: refuse rather than guess */
    size_t from = lines[ps[first].first].beg, to = lines[ps[np - 1].last].end;
    size_t hit = find(c->re_license, md, t, to, from);
    if (hit != (size_t)-1) {
        size_t ls = line_start(t, hit), le = line_end(t, to, hit);
        char line[72];
        copy_field(line, sizeof line, t + ls, le - ls);
        snprintf(out->reason, sizeof out->reason, "license or marker text inside the body: \"%s\"", line);
        out->verdict = CLEAN_DROP_LICENSE;
        rc = 0;
        goto done;
    }
    for (size_t i = first; i < np; i++) {
        if (i > first) {
            int gap = ps[i].blank_before > 2 ? 2 : ps[i].blank_before;
            for (int k = 0; k < gap; k++) sb_putc(&b, '\n');
        }
        if (put_paragraph(c, &b, t, lines, &ps[i]) != 0) break;
    }
    if (b.oom) goto done;   /* ll_realloc printed the line */
    out->text = b.p; b.p = NULL;
    out->text_len = out->bytes_out = b.n;
    out->body_hash = clean_body_hash(out->text, out->text_len);
    out->verdict = CLEAN_KEPT;
    rc = 0;
done:
    free(b.p);
    free(ps);
    free(lines);
    return rc;
}

int clean_book(const clean_ctx *c, const char *data, size_t n, clean_result *out) {
    memset(out, 0, sizeof *out);
    out->bytes_in = n;
    const unsigned char *s = (const unsigned char *)data;
    if (n == 0) { drop(out, CLEAN_DROP_EMPTY, "empty file"); return 0; }
    if (looks_binary(s, n)) { drop(out, CLEAN_DROP_BINARY, "binary data (NUL or control bytes), not a text file"); return 0; }
    size_t visible = 0;
    for (size_t i = 0; i < n && !visible; i++)
        visible = !(s[i] == '\n' || s[i] == '\r' || s[i] == ' ' || s[i] == '\t' || s[i] == '\f');
    if (!visible) { drop(out, CLEAN_DROP_EMPTY, "only whitespace"); return 0; }
    out->latin1 = !utf8_valid(s, n);

    strbuf w = {0};
    decode_to_lf(&w, s, n, out->latin1);
    if (w.oom) return -1;   /* ll_realloc printed the line */
    const char *t = w.p;
    size_t tn = w.n;

    pcre2_match_data *md = pcre2_match_data_create(4, NULL);
    if (!md) { free(w.p); ll_error("clean.c: clean_book: out of memory (pcre2 match data)"); return -1; }
    int rc = 0;

    size_t body_start, header_end;
    size_t at = find(c->re_start, md, t, tn, 0);
    if (at != (size_t)-1) {
        out->header = CLEAN_HEADER_MODERN;
        header_end = at;
        body_start = after_start_marker(t, tn, at);
    } else if ((at = find(c->re_small_end, md, t, tn, 0)) != (size_t)-1) {
        out->header = CLEAN_HEADER_LEGACY;
        header_end = at;
        size_t e = line_end(t, tn, at);
        body_start = e < tn ? e + 1 : tn;
    } else {
        drop(out, CLEAN_DROP_NO_BODY, "no '*** START OF' marker and no legacy small print: body not found");
        goto done;
    }
    read_header(t, header_end, out);

    if (!c->opts.keep_all_languages && out->language[0] && strncasecmp(out->language, "English", 7) != 0) {
        snprintf(out->reason, sizeof out->reason, "language is %s, not English", out->language);
        out->verdict = CLEAN_DROP_LANGUAGE;
        goto done;
    }

    size_t body_end = find(c->re_footer, md, t, tn, body_start);
    if (body_end == (size_t)-1) body_end = tn;
    /* Some books repeat the header and START marker (a second edition's
     * header pasted below the first): the body follows the last one. */
    for (size_t again; (again = find(c->re_start, md, t, body_end, body_start)) != (size_t)-1;) {
        body_start = after_start_marker(t, tn, again);
        if (body_start > body_end) body_end = body_start;
    }
    if (clean_body(c, md, t, body_start, body_end, out) != 0) rc = -1;
done:
    pcre2_match_data_free(md);
    free(w.p);
    return rc;
}

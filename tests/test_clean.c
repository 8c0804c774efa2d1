/* test_clean.c: the Project Gutenberg cleanup (src/data/clean.c).
 *
 * Fixture tests: one small book per header/footer variant in tests/clean/,
 * each checked for its exact first and last body line and for the absence
 * of every boilerplate line. Unit tests: unwrapping, NFC (including the fast
 * path's claim that some ranges need no NFC), binary/empty input, hashing.
 * The corpus test runs every book of ../shared/data/gutenberg (skips when
 * absent) against body limits found here independently, by plain substring
 * search, not by the library's patterns.
 */
#define _GNU_SOURCE  /* strcasestr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <utf8proc.h>

#include "llmpi/clean.h"
#include "llmpi/util.h"

static clean_ctx *g_ctx;

static int setup(void **state) {
    (void)state;
    g_ctx = clean_ctx_new(NULL);
    return g_ctx ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    clean_ctx_free(g_ctx);
    return 0;
}

static char *fixture(const char *name, size_t *n) {
    const char *src = getenv("LLMPI_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/clean/%s", src ? src : "..", name);
    char *data = NULL;
    if (ll_read_file(path, &data, n) != 0) fail_msg("cannot read fixture %s", path);
    char *copy = malloc(*n + 1);  /* a fresh pointer: GCC's dangling-pointer check misreads &data */
    if (!copy) fail_msg("out of memory");
    memcpy(copy, data, *n + 1);
    free(data);
    return copy;
}

/* Lines a kept book must never contain (case-insensitive substrings). */
static const char *BOILERPLATE[] = {
    "*** start", "***start", "*** end", "***end", "small print!", "start: full license",
    "project gutenberg-tm", "project gutenberg license", "end of the project gutenberg",
    "end of project gutenberg", "this file should be named", NULL};

/* Returns the first boilerplate line in text, or NULL. */
static const char *find_boilerplate(const char *text) {
    for (const char **b = BOILERPLATE; *b; b++) {
        const char *hit = strcasestr(text, *b);
        if (hit) return hit;
    }
    return NULL;
}

static void assert_first_last(const clean_result *r, const char *first_line, const char *last_line) {
    assert_int_equal(r->verdict, CLEAN_KEPT);
    assert_non_null(r->text);
    assert_int_equal(strlen(r->text), r->text_len);
    size_t fl = strlen(first_line);
    assert_true(r->text_len > fl);
    assert_memory_equal(r->text, first_line, fl);
    assert_int_equal(r->text[fl], '\n');
    /* last line: the text ends with exactly one '\n' */
    assert_int_equal(r->text[r->text_len - 1], '\n');
    assert_true(r->text_len < 2 || r->text[r->text_len - 2] != '\n');
    size_t ll = strlen(last_line);
    assert_true(r->text_len > ll + 1);
    assert_memory_equal(r->text + r->text_len - 1 - ll, last_line, ll);
    assert_int_equal(r->text[r->text_len - 2 - ll], '\n');
    assert_null(find_boilerplate(r->text));
    assert_null(strchr(r->text, '\r'));
    assert_null(strstr(r->text, "\n\n\n\n"));  /* at most two blank lines in a row */
    assert_null(strstr(r->text, " \n"));       /* no trailing spaces */
    assert_int_equal(r->body_hash, clean_body_hash(r->text, r->text_len));
    assert_int_equal(r->bytes_out, r->text_len);
}

static void test_modern_this_crlf(void **state) {
    (void)state;
    size_t n;
    char *raw = fixture("modern_this.txt", &n);
    clean_result r;
    assert_int_equal(clean_book(g_ctx, raw, n, &r), 0);
    assert_first_last(&r, "THE QUIET HARBOUR", "THE END OF THE FIRST SKETCH, WHICH CLOSES THE BOOK.");
    assert_int_equal(r.header, CLEAN_HEADER_MODERN);
    assert_string_equal(r.title, "The Quiet Harbour and Other Sketches");
    assert_string_equal(r.language, "English");
    assert_int_equal(r.latin1, 0);
    assert_int_equal(r.bytes_in, n);
    assert_null(strstr(r.text, "Produced by"));
    /* the wrapped prose paragraph became one line; the indented verse did not */
    assert_non_null(strstr(r.text, "against the stone wall where the old men sat mending their nets in the thin "
                                   "sunlight of early spring, talking of nothing in particular. Nobody expected"));
    assert_non_null(strstr(r.text, "\n    Here the tide comes in,\n    Here the tide goes out,\n"));
    clean_result_free(&r);
    assert_null(r.text);
    free(raw);
}

static void test_modern_the_wrapped_marker(void **state) {
    (void)state;
    size_t n;
    char *raw = fixture("modern_the.txt", &n);
    clean_result r;
    assert_int_equal(clean_book(g_ctx, raw, n, &r), 0);
    /* "***START OF THE ... THAT\nWRAPS***": the marker's second line must go too */
    assert_first_last(&r, "STARS OVER KENT", "Last paragraph of Stars Over Kent.");
    assert_null(strstr(r.text, "WRAPS"));
    assert_null(strstr(r.text, "E-text prepared"));
    assert_null(strstr(r.text, "HTML version"));
    assert_null(strstr(r.text, "Images of the original"));
    clean_result_free(&r);
    free(raw);
}

static void test_legacy_small_print_latin1(void **state) {
    (void)state;
    size_t n;
    char *raw = fixture("legacy_small_print.txt", &n);
    clean_result r;
    assert_int_equal(clean_book(g_ctx, raw, n, &r), 0);
    assert_first_last(&r, "OLD ROADS", "It was the end of the road, and the end of the book.");
    assert_int_equal(r.header, CLEAN_HEADER_LEGACY);
    assert_int_equal(r.latin1, 1);
    assert_string_equal(r.title, "Old Roads");
    assert_string_equal(r.language, "");
    assert_non_null(strstr(r.text, "the na\xc3\xafve memory"));  /* Latin-1 0xEF became U+00EF */
    assert_null(strstr(r.text, "Sue Scanner"));                  /* "This etext was prepared by" */
    assert_null(strcasestr(r.text, "etext"));
    clean_result_free(&r);
    free(raw);
}

static void test_producer_and_notes(void **state) {
    (void)state;
    size_t n;
    char *raw = fixture("producer_notes.txt", &n);
    clean_result r;
    assert_int_equal(clean_book(g_ctx, raw, n, &r), 0);
    assert_first_last(&r, "NOTES AND QUERIES", "Last body paragraph.");
    assert_null(strcasestr(r.text, "transcriber"));
    assert_null(strstr(r.text, "Anonymous Volunteer"));
    assert_null(strstr(r.text, "+---"));
    /* NFC: "Cafe" + U+0301 became U+00E9; precomposed letters are unchanged */
    assert_non_null(strstr(r.text, "Caf\xc3\xa9 cr\xc3\xa8me, na\xc3\xafve, \xc3\x85ngstr\xc3\xb6m."));
    clean_result_free(&r);
    free(raw);
}

static void test_no_body_dropped(void **state) {
    (void)state;
    size_t n;
    char *raw = fixture("no_body.txt", &n);
    clean_result r;
    assert_int_equal(clean_book(g_ctx, raw, n, &r), 0);
    assert_int_equal(r.verdict, CLEAN_DROP_NO_BODY);
    assert_null(r.text);
    assert_int_equal(r.bytes_out, 0);
    assert_true(strlen(r.reason) > 10);
    assert_string_equal(clean_verdict_name(r.verdict), "no_body");
    clean_result_free(&r);
    free(raw);
}

static void test_language_filter(void **state) {
    (void)state;
    size_t n;
    char *raw = fixture("language_french.txt", &n);
    clean_result r;
    assert_int_equal(clean_book(g_ctx, raw, n, &r), 0);
    assert_int_equal(r.verdict, CLEAN_DROP_LANGUAGE);
    assert_string_equal(r.language, "French");
    assert_non_null(strstr(r.reason, "French"));
    clean_result_free(&r);
    clean_options o;
    clean_options_default(&o);
    o.keep_all_languages = 1;
    clean_ctx *all = clean_ctx_new(&o);
    assert_non_null(all);
    assert_int_equal(clean_book(all, raw, n, &r), 0);
    assert_int_equal(r.verdict, CLEAN_KEPT);
    assert_string_equal(r.text, "Il \xc3\xa9tait une fois un conte en fran\xc3\xa7" "ais.\n");
    clean_result_free(&r);
    clean_ctx_free(all);
    free(raw);
}

/* The license left inside a body (a START marker with no END and the
 * license after it) must drop the book, never keep the license. */
static void test_license_in_body_dropped(void **state) {
    (void)state;
    const char *book =
        "Title: X\n\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\n\nBody text.\n\n"
        "*** START: FULL LICENSE ***\n\nTHE FULL PROJECT GUTENBERG LICENSE\n";
    clean_result r;
    assert_int_equal(clean_book(g_ctx, book, strlen(book), &r), 0);
    assert_int_equal(r.verdict, CLEAN_DROP_LICENSE);
    assert_null(r.text);
    clean_result_free(&r);
}

static void test_binary_and_empty(void **state) {
    (void)state;
    clean_result r;
    assert_int_equal(clean_book(g_ctx, "", 0, &r), 0);
    assert_int_equal(r.verdict, CLEAN_DROP_EMPTY);
    assert_int_equal(clean_book(g_ctx, " \r\n\n\t\n", 6, &r), 0);
    assert_int_equal(r.verdict, CLEAN_DROP_EMPTY);
    unsigned char bin[4096];
    for (size_t i = 0; i < sizeof bin; i++) bin[i] = (unsigned char)(i * 131 + 7);
    assert_int_equal(clean_book(g_ctx, (const char *)bin, sizeof bin, &r), 0);
    assert_int_equal(r.verdict, CLEAN_DROP_BINARY);
    assert_null(r.text);
    clean_result_free(&r);
}

static const char *clean_text(const char *book, clean_result *r) {
    assert_int_equal(clean_book(g_ctx, book, strlen(book), r), 0);
    assert_int_equal(r->verdict, CLEAN_KEPT);
    return r->text;
}

static void test_unwrap_rules(void **state) {
    (void)state;
    clean_result r;
    /* prose wrapped at ~70 columns joins; "well-" + "known" keeps the hyphen */
    const char *prose =
        "*** START OF THE PROJECT GUTENBERG EBOOK P ***\n"
        "It was a fact known to everyone in the village, and a well-\n"
        "known one, that the miller never paid his debts until the very\n"
        "last day, and that he always paid them then, in silver coin.\n"
        "*** END OF THE PROJECT GUTENBERG EBOOK P ***\n";
    assert_string_equal(clean_text(prose, &r),
                        "It was a fact known to everyone in the village, and a well-known one, that the miller "
                        "never paid his debts until the very last day, and that he always paid them then, in silver coin.\n");
    clean_result_free(&r);
}

static void test_unwrap_refusals(void **state) {
    (void)state;
    clean_result r;
    /* verse: every line opens with a capital -> line breaks kept */
    const char *verse =
        "*** START OF THE PROJECT GUTENBERG EBOOK V ***\n"
        "Tiger, tiger, burning bright in the forests of the night so very long,\n"
        "What immortal hand or eye could frame thy fearful symmetry, my friend,\n"
        "In what distant deeps or skies burnt the fire of thine eyes, I wonder?\n"
        "*** END OF THE PROJECT GUTENBERG EBOOK V ***\n";
    const char *vt = clean_text(verse, &r);
    assert_int_equal(strchr(vt, '\n') - vt, 70);
    assert_non_null(strstr(vt, "friend,\nIn what"));
    clean_result_free(&r);
    /* a table (runs of spaces) and short lines keep their breaks */
    const char *table =
        "*** START OF THE PROJECT GUTENBERG EBOOK T ***\n"
        "SENSE AND SENSIBILITY                    2 vols. and more text here to be wide\n"
        "PRIDE AND PREJUDICE                      2 vols. and more text here to be wide\n"
        "\n"
        "Short line one\n"
        "short line two\n"
        "*** END OF THE PROJECT GUTENBERG EBOOK T ***\n";
    const char *tt = clean_text(table, &r);
    assert_non_null(strstr(tt, "wide\nPRIDE"));
    assert_non_null(strstr(tt, "Short line one\nshort line two\n"));
    clean_result_free(&r);
    /* --no-unwrap keeps every break */
    clean_options o;
    clean_options_default(&o);
    o.unwrap_prose = 0;
    clean_ctx *keep = clean_ctx_new(&o);
    const char *prose =
        "*** START OF THE PROJECT GUTENBERG EBOOK P ***\n"
        "It was known in the village, and had been for years, that the miller\n"
        "never paid his debts until the very last day, and then paid in silver.\n"
        "*** END OF THE PROJECT GUTENBERG EBOOK P ***\n";
    assert_int_equal(clean_book(keep, prose, strlen(prose), &r), 0);
    assert_non_null(strstr(r.text, "miller\nnever"));
    clean_result_free(&r);
    clean_ctx_free(keep);
    assert_non_null(strstr(clean_text(prose, &r), "miller never paid"));
    clean_result_free(&r);
}

/* The NFC fast path skips lines whose code points are all below U+0300 or
 * in U+2010..U+2027 / U+2030..U+205E. Prove those are NFC-inert: unchanged
 * alone and after a base letter. */
static void test_nfc_fast_path_ranges(void **state) {
    (void)state;
    const int32_t ranges[][2] = {{0x20, 0x2FF}, {0x2010, 0x2027}, {0x2030, 0x205E}};
    for (size_t k = 0; k < 3; k++)
        for (int32_t cp = ranges[k][0]; cp <= ranges[k][1]; cp++) {
            if (cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) continue;
            unsigned char s[16] = {'a', 'A'};
            utf8proc_ssize_t len = utf8proc_encode_char(cp, s + 2);
            s[2 + len] = 0;
            unsigned char *nfc = utf8proc_NFC(s);
            assert_non_null(nfc);
            if (strcmp((char *)nfc, (char *)s) != 0) fail_msg("U+%04X is not NFC-inert", (unsigned)cp);
            free(nfc);
        }
}

static void test_deterministic_hash(void **state) {
    (void)state;
    size_t n;
    char *raw = fixture("modern_this.txt", &n);
    clean_result a, b;
    assert_int_equal(clean_book(g_ctx, raw, n, &a), 0);
    assert_int_equal(clean_book(g_ctx, raw, n, &b), 0);
    assert_int_equal(a.text_len, b.text_len);
    assert_memory_equal(a.text, b.text, a.text_len);
    assert_int_equal(a.body_hash, b.body_hash);
    assert_true(a.body_hash != 0);
    /* a one-byte change in the body changes the hash */
    size_t at = (size_t)(strstr(raw, "quiet that") - raw);
    raw[at] = 'Q';
    clean_result c;
    assert_int_equal(clean_book(g_ctx, raw, n, &c), 0);
    assert_true(c.body_hash != a.body_hash);
    clean_result_free(&a);
    clean_result_free(&b);
    clean_result_free(&c);
    free(raw);
}

/* ---- the real corpus ------------------------------------------------------ */

/* Whitespace removed: unwrapping and trailing-blank removal change only
 * whitespace, so this is what must survive unchanged. */
static size_t squeeze(const char *s, size_t n, char *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') continue;
        if (c == 0xEF && i + 2 < n && (unsigned char)s[i + 1] == 0xBB && (unsigned char)s[i + 2] == 0xBF) { i += 2; continue; }
        out[k++] = (char)c;
    }
    out[k] = '\0';
    return k;
}

static int line_starts_ci(const char *line, const char *prefix) {
    while (*line == ' ' || *line == '\t') line++;
    return strncasecmp(line, prefix, strlen(prefix)) == 0;
}

/* Independent body limits by substring search on the raw text (CR removed):
 * body = after the last START marker (or the small print's end), up to the
 * first footer line. Returns 0, or -1 when the book has neither. */
static int raw_limits(const char *t, size_t n, size_t *beg, size_t *end) {
    size_t start = (size_t)-1, footer = n;
    for (size_t at = 0; at < n;) {
        const char *nl = memchr(t + at, '\n', n - at);
        size_t e = nl ? (size_t)(nl - t) : n;
        char line[512];
        size_t len = e - at < sizeof line - 1 ? e - at : sizeof line - 1;
        memcpy(line, t + at, len);
        line[len] = '\0';
        int is_start = (line_starts_ci(line, "***") && strcasestr(line, "START OF T") && strcasestr(line, "GUTENBERG"));
        int is_small_end = line_starts_ci(line, "*END") && strcasestr(line, "SMALL PRINT");
        if (start == (size_t)-1 || is_start) {
            if (is_start || is_small_end) {
                /* a START marker may wrap: its body begins after the line with the closing *** */
                size_t b = e;
                if (is_start && !strstr(strcasestr(line, "START") , "***")) {
                    const char *nl2 = memchr(t + e + 1, '\n', n - e - 1);
                    b = nl2 ? (size_t)(nl2 - t) : n;
                }
                start = b < n ? b + 1 : n;
                footer = n;
            }
        } else if (footer == n && at >= start) {
            int foot = (line_starts_ci(line, "***") && strcasestr(line, "END OF T") && strcasestr(line, "GUTENBERG")) ||
                       (line_starts_ci(line, "End of") && (strcasestr(line, "Project Gutenb"))) ||
                       (line_starts_ci(line, "*END") == 0 && line_starts_ci(line, "*") && strcasestr(line, "SMALL PRINT")) ||
                       (line_starts_ci(line, "*") && strcasestr(line, "Etext of") && len && line[len - 1] == '*');
            if (foot) footer = at;
        }
        at = e + 1;
    }
    if (start == (size_t)-1) return -1;
    *beg = start;
    *end = footer;
    return 0;
}

/* Last paragraph of t[beg..end) (blank-line separated), as [*pb, *pe). */
static void last_paragraph(const char *t, size_t beg, size_t end, size_t *pb, size_t *pe) {
    size_t e = end;
    while (e > beg && (t[e - 1] == '\n' || t[e - 1] == ' ' || t[e - 1] == '\t')) e--;
    size_t b = e;
    while (b > beg) {
        if (t[b - 1] == '\n') {
            size_t k = b - 1;
            while (k > beg && (t[k - 1] == ' ' || t[k - 1] == '\t')) k--;
            if (k > beg && t[k - 1] == '\n') break;
        }
        b--;
    }
    *pb = b;
    *pe = e;
}

typedef struct { const char *file, *first, *last; } expected_book;

/* Checked by eye against the raw files: the first and last body lines. */
static const expected_book HAND_CHECKED[] = {
    {"legacy/Darwin, Charles/Coral Reefs.txt", "CORAL REEFS", "ZONES of different kinds of corals outside the same reefs."},
    {"legacy/Shakespeare, William/As You Like It.txt", "As you Like it", "FINIS. As you Like it."},
    {"legacy/Shakespeare, William/King John.txt", "KING JOHN", "[Exeunt.]"},
    {"legacy/Nesbit, E. (Edith)/Five Children and It.txt", "FIVE CHILDREN AND IT", NULL},
    {"books/Franklin, Benjamin/The Autobiography of Benjamin Franklin.txt", "THE AUTOBIOGRAPHY OF BENJAMIN FRANKLIN", NULL},
    {"books/Burnett, Frances Hodgson/Barty Crusoe and His Man Saturday.txt", "BARTY CRUSOE AND HIS MAN SATURDAY",
     "And that is the end of _this_ story."},
    {"books/Russell, Bertrand/The Practice and Theory of Bolshevism.txt", "The Practice and Theory", NULL},
    {"books/Alger, Horatio, Jr./Young Captain Jack; Or, The Son of a Soldier.txt", "YOUNG CAPTAIN JACK", NULL},
    {"books/Carroll, Lewis/A Tangled Tale.txt", "A TANGLED TALE", NULL},
};

static void collect(const char *dir, char ***names, size_t *n, size_t *cap) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) { collect(path, names, n, cap); continue; }
        if (*n == *cap) { *cap = *cap ? 2 * *cap : 512; *names = realloc(*names, *cap * sizeof **names); }
        (*names)[(*n)++] = strdup(path);
    }
    closedir(d);
}

static void test_corpus(void **state) {
    (void)state;
    const char *data = getenv("LLMPI_SHARED_DATA");
    char root[4096];
    snprintf(root, sizeof root, "%s/gutenberg", data ? data : "../shared/data");
    char **names = NULL;
    size_t n = 0, cap = 0;
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/books", root);
    collect(sub, &names, &n, &cap);
    snprintf(sub, sizeof sub, "%s/legacy", root);
    collect(sub, &names, &n, &cap);
    assert_true(n >= 300);
    size_t kept = 0, bytes = 0, hand = 0, failures = 0;
    double t_clean = 0;
    for (size_t i = 0; i < n; i++) {
        char *raw = NULL;
        size_t len = 0;
        assert_int_equal(ll_read_file(names[i], &raw, &len), 0);
        clean_result r;
        double t0 = ll_now();
        assert_int_equal(clean_book(g_ctx, raw, len, &r), 0);
        t_clean += ll_now() - t0;
        bytes += len;
        /* raw text with CRs and BOMs gone, for the independent limits */
        char *t = malloc(len + 1);
        size_t tn = 0;
        for (size_t k = 0; k < len; k++) if (raw[k] != '\r') t[tn++] = raw[k];
        t[tn] = '\0';
        size_t beg = 0, end = 0;
        int has_body = raw_limits(t, tn, &beg, &end) == 0;
        if (r.verdict != CLEAN_KEPT) {
            print_message("DROPPED %s: %s\n", names[i], r.reason);
            failures += has_body;  /* every book here has a body */
        } else {
            kept++;
            const char *bp = find_boilerplate(r.text);
            if (bp) { print_message("BOILERPLATE %s: %.60s\n", names[i], bp); failures++; }
            assert_true(has_body);
            /* last paragraph: equal, whitespace aside, to the raw one before the footer */
            size_t pb, pe, ob, oe;
            last_paragraph(t, beg, end, &pb, &pe);
            last_paragraph(r.text, 0, r.text_len, &ob, &oe);
            char *a = malloc(pe - pb + 1), *b = malloc(oe - ob + 1);
            squeeze(t + pb, pe - pb, a);
            squeeze(r.text + ob, oe - ob, b);
            unsigned char *a_nfc = utf8proc_NFC((unsigned char *)a);
            assert_non_null(a_nfc);
            if (strcmp((char *)a_nfc, b) != 0) {
                print_message("LAST %s:\n raw: %.80s\n out: %.80s\n", names[i], a, b);
                failures++;
            }
            free(a_nfc); free(a); free(b);
            /* first paragraph: found in the raw body, after at most 8000
             * non-blank bytes of producer lines and notes */
            size_t fe = 0;
            while (fe < r.text_len && !(r.text[fe] == '\n' && fe + 1 < r.text_len && r.text[fe + 1] == '\n')) fe++;
            char *body = malloc(end - beg + 1), *first = malloc(fe + 1);
            size_t front = end - beg < 65536 ? end - beg : 65536;  /* the front is enough */
            while (front < end - beg && ((unsigned char)t[beg + front] & 0xC0) == 0x80) front--;
            squeeze(t + beg, front, body);
            squeeze(r.text, fe, first);
            unsigned char *body_nfc = utf8proc_NFC((unsigned char *)body);
            assert_non_null(body_nfc);
            const char *at = strstr((char *)body_nfc, first);
            if (!at || at - (char *)body_nfc > 8000) {
                print_message("FIRST %s: %s (skipped %td)\n", names[i], first, at ? at - (char *)body_nfc : -1);
                failures++;
            }
            free(body_nfc); free(body); free(first);
            for (size_t h = 0; h < sizeof HAND_CHECKED / sizeof HAND_CHECKED[0]; h++) {
                size_t fl = strlen(HAND_CHECKED[h].file), nl = strlen(names[i]);
                if (nl < fl || strcmp(names[i] + nl - fl, HAND_CHECKED[h].file) != 0) continue;
                hand++;
                const char *want = HAND_CHECKED[h].first;
                if (strncmp(r.text, want, strlen(want)) != 0 || r.text[strlen(want)] != '\n') {
                    print_message("HAND first %s: %.60s\n", names[i], r.text);
                    failures++;
                }
                const char *last = HAND_CHECKED[h].last;
                if (last) {
                    size_t ll = strlen(last);
                    if (r.text_len < ll + 1 || memcmp(r.text + r.text_len - 1 - ll, last, ll) != 0) {
                        print_message("HAND last %s\n", names[i]);
                        failures++;
                    }
                }
            }
        }
        clean_result_free(&r);
        free(t);
        free(raw);
    }
    print_message("corpus: %zu books, %zu kept, %zu hand-checked, %.1f MB, cleanup %.1f MB/s\n", n, kept,
                  hand, bytes / 1e6, t_clean > 0 ? bytes / 1e6 / t_clean : 0.0);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    assert_int_equal(failures, 0);
    assert_int_equal(kept, n);
    assert_int_equal(hand, sizeof HAND_CHECKED / sizeof HAND_CHECKED[0]);
}

/* `test_clean` runs the unit tests; `test_clean --corpus` (its own CTest
 * test, tests/cmake/clean.cmake) runs the corpus and exits 77 without it. */
int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--corpus")) {
        const char *data = getenv("LLMPI_SHARED_DATA");
        char root[4096];
        snprintf(root, sizeof root, "%s/gutenberg", data ? data : "../shared/data");
        struct stat st;
        if (stat(root, &st) != 0) { printf("no %s: skipped\n", root); return 77; }
        const struct CMUnitTest corpus[] = {cmocka_unit_test(test_corpus)};
        return cmocka_run_group_tests(corpus, setup, teardown);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modern_this_crlf),
        cmocka_unit_test(test_modern_the_wrapped_marker),
        cmocka_unit_test(test_legacy_small_print_latin1),
        cmocka_unit_test(test_producer_and_notes),
        cmocka_unit_test(test_no_body_dropped),
        cmocka_unit_test(test_language_filter),
        cmocka_unit_test(test_license_in_body_dropped),
        cmocka_unit_test(test_binary_and_empty),
        cmocka_unit_test(test_unwrap_rules),
        cmocka_unit_test(test_unwrap_refusals),
        cmocka_unit_test(test_nfc_fast_path_ranges),
        cmocka_unit_test(test_deterministic_hash),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

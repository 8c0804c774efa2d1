/* cmd_clean.c: `llmpi clean --input PATH... --out DIR`.
 *
 * Makes the cleanup stage visible: one cleaned UTF-8 .txt per kept book at
 * the same relative path under DIR, and DIR/report.json saying what happened
 * to every book (kept, or dropped and why; bytes in/out; language; title).
 *
 * Invariants:
 *   - Inputs are walked in sorted order, so "first of two duplicates" and
 *     the report are the same on every run (report.json holds no timings).
 *   - Every file under DIR is written to a temporary name, fsynced and
 *     renamed; a failed run leaves earlier outputs whole.
 *   - An unreadable file or folder is named on stderr, listed in the report
 *     and makes the exit status 1; the other books are still cleaned.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "llmpi/clean.h"
#include "llmpi/util.h"

#define REPORT_FORMAT "llmpi-clean-report"
#define REPORT_VERSION 1

typedef struct {
    char *path;       /* as given / found */
    char *rel;        /* output path relative to --out; NULL for an unreadable folder */
    int unreadable;   /* folder that could not be listed */
} book_file;

typedef struct { book_file *v; size_t n, cap; } file_list;

static void usage(FILE *f) {
    fprintf(f,
            "usage: llmpi clean --input PATH [PATH...] --out DIR [options]\n"
            "\n"
            "Strips the Project Gutenberg header, footer, license, producer lines and\n"
            "leading transcriber's notes; normalises to UTF-8 NFC with LF line ends;\n"
            "joins hard-wrapped prose; keeps English books and drops duplicate bodies.\n"
            "A folder is walked recursively; outputs keep the paths relative to it\n"
            "(a file given directly keeps its name). DIR/report.json lists every book.\n"
            "\n"
            "options:\n"
            "  --input PATH...        books or folders of books (one or more)\n"
            "  --out DIR              output folder (created if needed)\n"
            "  --keep-all-languages   do not drop books whose Language: is not English\n"
            "  --no-unwrap            keep every line break as in the source\n"
            "  --quiet                no per-book warnings for dropped books\n");
}

static int list_push(file_list *l, const char *path, const char *rel, int unreadable) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        book_file *v = realloc(l->v, cap * sizeof *v);
        if (!v) { ll_error("cmd_clean.c: list_push: out of memory"); return -1; }
        l->v = v; l->cap = cap;
    }
    book_file *b = &l->v[l->n];
    b->path = strdup(path);
    b->rel = rel ? strdup(rel) : NULL;
    b->unreadable = unreadable;
    if (!b->path || (rel && !b->rel)) {
        free(b->path); free(b->rel);
        ll_error("cmd_clean.c: list_push: out of memory");
        return -1;
    }
    l->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds the regular files under dir (rel: its path below the input root, ""
 * at the root) in sorted order. Hidden entries are skipped. A folder that
 * cannot be listed is warned about and recorded, not fatal. */
static int walk(file_list *l, const char *dir, const char *rel) {
    DIR *d = opendir(dir);
    if (!d) {
        ll_warn("%s: cannot read folder: %s", dir, strerror(errno));
        return list_push(l, dir, NULL, 1);
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) { ll_error("cmd_clean.c: walk: out of memory"); rc = -1; break; }
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name))) { ll_error("cmd_clean.c: walk: out of memory"); rc = -1; break; }
        n++;
    }
    closedir(d);
    if (rc == 0) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char path[4096], sub[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= (int)sizeof path ||
            snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", names[i]) >= (int)sizeof sub) {
            ll_error("%s/%s: path too long", dir, names[i]);
            rc = -1;
            break;
        }
        struct stat st;
        if (stat(path, &st) != 0) {
            ll_warn("%s: cannot stat: %s", path, strerror(errno));
            rc = list_push(l, path, sub, 0);  /* reading it will fail and be reported */
        } else if (S_ISDIR(st.st_mode)) {
            rc = walk(l, path, sub);
        } else if (S_ISREG(st.st_mode)) {
            rc = list_push(l, path, sub, 0);
        }
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

/* json_string() refuses invalid UTF-8 (file names may be anything): fall
 * back to a copy with the offending bytes replaced by '?'. */
static json_t *jstr(const char *s) {
    json_t *j = json_string(s);
    if (j) return j;
    char *copy = strdup(s);
    if (!copy) return json_null();
    for (char *p = copy; *p; p++) if ((unsigned char)*p >= 0x80) *p = '?';
    j = json_string(copy);
    free(copy);
    return j ? j : json_null();
}

/* Open-addressing set of body hashes -> index of the first book with it. */
typedef struct { uint64_t *hash; size_t *first; size_t cap; } hash_set;

static int set_init(hash_set *s, size_t n) {
    s->cap = 16;
    while (s->cap < 2 * n + 1) s->cap *= 2;
    s->hash = ll_calloc(s->cap, sizeof *s->hash);
    s->first = ll_calloc(s->cap, sizeof *s->first);
    return s->hash && s->first ? 0 : -1;
}

/* Returns the index of the earlier book with hash h, or (size_t)-1 after
 * recording index as its first holder. h is never 0 (clean_body_hash). */
static size_t set_check(hash_set *s, uint64_t h, size_t index) {
    size_t i = (size_t)h & (s->cap - 1);
    while (s->hash[i]) {
        if (s->hash[i] == h) return s->first[i];
        i = (i + 1) & (s->cap - 1);
    }
    s->hash[i] = h;
    s->first[i] = index;
    return (size_t)-1;
}

/* Creates the parent folders of path. */
static int mkdir_parent(const char *path) {
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) { ll_error("%s: path too long", path); return -1; }
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return 0;
    *slash = '\0';
    return ll_mkdir_p(dir);
}

static const char *header_name(clean_header_kind h) {
    return h == CLEAN_HEADER_MODERN ? "modern" : h == CLEAN_HEADER_LEGACY ? "legacy" : "none";
}

int cmd_clean(int argc, char **argv) {
    const char *out_dir = NULL;
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    size_t n_inputs = 0;
    int quiet = 0;
    clean_options opts;
    clean_options_default(&opts);
    if (!inputs) { ll_error("cmd_clean.c: out of memory"); return 1; }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); free(inputs); return 0; }
        else if (!strcmp(argv[i], "--input")) {
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
                char *in = argv[++i];
                size_t len = strlen(in);
                while (len > 1 && in[len - 1] == '/') in[--len] = '\0';  /* "dir/" names files "dir/x", not "dir//x" */
                inputs[n_inputs++] = in;
            }
        } else if (!strcmp(argv[i], "--out") && i + 1 < argc) out_dir = argv[++i];
        else if (!strcmp(argv[i], "--keep-all-languages")) opts.keep_all_languages = 1;
        else if (!strcmp(argv[i], "--no-unwrap")) opts.unwrap_prose = 0;
        else if (!strcmp(argv[i], "--quiet")) quiet = 1;
        else {
            ll_error("clean: unknown or incomplete option '%s' (see llmpi clean --help)", argv[i]);
            free(inputs);
            return 2;
        }
    }
    if (!n_inputs || !out_dir) {
        ll_error("clean: --input and --out are required (see llmpi clean --help)");
        free(inputs);
        return 2;
    }

    /* Collect every book first: a bad top-level input fails before any write. */
    file_list files = {0};
    int rc = 0;
    for (size_t i = 0; i < n_inputs && rc == 0; i++) {
        struct stat st;
        if (stat(inputs[i], &st) != 0) {
            ll_error("%s: cannot read input: %s", inputs[i], strerror(errno));
            rc = 1;
        } else if (S_ISDIR(st.st_mode)) {
            if (access(inputs[i], R_OK | X_OK) != 0) {
                ll_error("%s: cannot read folder: %s", inputs[i], strerror(errno));
                rc = 1;
            } else if (walk(&files, inputs[i], "") != 0) rc = 1;
        } else {
            const char *base = strrchr(inputs[i], '/');
            if (list_push(&files, inputs[i], base ? base + 1 : inputs[i], 0) != 0) rc = 1;
        }
    }
    free(inputs);
    /* Two inputs must not write the same output file. */
    if (rc == 0) {
        char **rels = malloc((files.n + 1) * sizeof *rels);
        size_t nr = 0;
        if (!rels) { ll_error("cmd_clean.c: out of memory"); rc = 1; }
        for (size_t i = 0; rc == 0 && i < files.n; i++) if (files.v[i].rel) rels[nr++] = files.v[i].rel;
        if (rc == 0) qsort(rels, nr, sizeof *rels, cmp_str);
        for (size_t i = 1; rc == 0 && i < nr; i++)
            if (!strcmp(rels[i - 1], rels[i])) {
                ll_error("clean: two inputs map to the same output %s/%s (give the folders separately)", out_dir, rels[i]);
                rc = 1;
            }
        free(rels);
    }
    if (rc == 0 && files.n == 0) { ll_error("clean: no files found under the inputs"); rc = 1; }
    if (rc == 0 && ll_mkdir_p(out_dir) != 0) rc = 1;

    clean_ctx *ctx = rc == 0 ? clean_ctx_new(&opts) : NULL;
    hash_set seen = {0};
    if (rc == 0 && (!ctx || set_init(&seen, files.n) != 0)) rc = 1;

    json_t *books = json_array();
    size_t counts[CLEAN_VERDICT_COUNT] = {0}, unreadable = 0;
    size_t bytes_in = 0, bytes_out = 0;
    double t_clean = 0, t0 = ll_now();
    int any_unreadable = 0;
    for (size_t i = 0; rc == 0 && i < files.n; i++) {
        book_file *f = &files.v[i];
        json_t *rec = json_object();
        json_object_set_new(rec, "input", jstr(f->path));
        char *raw = NULL;
        size_t n = 0;
        if (f->unreadable || ll_read_file(f->path, &raw, &n) != 0) {
            if (!f->unreadable) ll_warn("%s: skipped: cannot read this book", f->path);
            json_object_set_new(rec, "output", json_null());
            json_object_set_new(rec, "verdict", json_string("unreadable"));
            json_object_set_new(rec, "reason", json_string(f->unreadable ? "folder cannot be listed" : "file cannot be read"));
            json_array_append_new(books, rec);
            unreadable++;
            any_unreadable = 1;
            continue;
        }
        clean_result r;
        double tc = ll_now();
        int crc = clean_book(ctx, raw, n, &r);
        t_clean += ll_now() - tc;
        free(raw);
        if (crc != 0) { json_decref(rec); rc = 1; break; }
        bytes_in += r.bytes_in;

        char out_path[4096];
        if (snprintf(out_path, sizeof out_path, "%s/%s", out_dir, f->rel) >= (int)sizeof out_path) {
            ll_error("%s/%s: path too long", out_dir, f->rel);
            clean_result_free(&r); json_decref(rec); rc = 1; break;
        }
        size_t dup_of = (size_t)-1;
        if (r.verdict == CLEAN_KEPT && (dup_of = set_check(&seen, r.body_hash, i)) != (size_t)-1) {
            r.verdict = CLEAN_DROP_DUPLICATE;
            snprintf(r.reason, sizeof r.reason, "same body as an earlier book");
            free(r.text); r.text = NULL; r.text_len = r.bytes_out = 0;
        }
        if (r.verdict == CLEAN_KEPT) {
            if (mkdir_parent(out_path) != 0 || ll_write_file_atomic(out_path, r.text, r.text_len) != 0) {
                clean_result_free(&r); json_decref(rec); rc = 1; break;
            }
            bytes_out += r.text_len;
        } else {
            /* the folder must agree with the report: no stale book from an earlier run */
            if (unlink(out_path) != 0 && errno != ENOENT)
                ll_warn("%s: cannot remove the stale output: %s", out_path, strerror(errno));
            if (!quiet && r.verdict != CLEAN_DROP_DUPLICATE && r.verdict != CLEAN_DROP_LANGUAGE)
                ll_warn("%s: dropped: %s", f->path, r.reason);
        }
        counts[r.verdict]++;
        json_object_set_new(rec, "output", r.verdict == CLEAN_KEPT ? jstr(f->rel) : json_null());
        json_object_set_new(rec, "verdict", json_string(clean_verdict_name(r.verdict)));
        json_object_set_new(rec, "reason", r.reason[0] ? jstr(r.reason) : json_null());
        if (dup_of != (size_t)-1) json_object_set_new(rec, "duplicate_of", jstr(files.v[dup_of].path));
        json_object_set_new(rec, "title", r.title[0] ? jstr(r.title) : json_null());
        json_object_set_new(rec, "language", r.language[0] ? jstr(r.language) : json_null());
        json_object_set_new(rec, "header", json_string(header_name(r.header)));
        json_object_set_new(rec, "latin1", json_boolean(r.latin1));
        json_object_set_new(rec, "bytes_in", json_integer((json_int_t)r.bytes_in));
        json_object_set_new(rec, "bytes_out", json_integer((json_int_t)r.bytes_out));
        char hex[17];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)r.body_hash);
        json_object_set_new(rec, "body_hash", r.body_hash ? json_string(hex) : json_null());
        json_array_append_new(books, rec);
        clean_result_free(&r);
    }

    if (rc == 0) {
        json_t *report = json_object();
        json_object_set_new(report, "format", json_string(REPORT_FORMAT));
        json_object_set_new(report, "version", json_integer(REPORT_VERSION));
        json_t *o = json_object();
        json_object_set_new(o, "unwrap_prose", json_boolean(opts.unwrap_prose));
        json_object_set_new(o, "keep_all_languages", json_boolean(opts.keep_all_languages));
        json_object_set_new(report, "options", o);
        json_t *tot = json_object();
        json_object_set_new(tot, "books", json_integer((json_int_t)files.n));
        for (int v = 0; v < CLEAN_VERDICT_COUNT; v++)
            json_object_set_new(tot, clean_verdict_name((clean_verdict)v), json_integer((json_int_t)counts[v]));
        json_object_set_new(tot, "unreadable", json_integer((json_int_t)unreadable));
        json_object_set_new(tot, "bytes_in", json_integer((json_int_t)bytes_in));
        json_object_set_new(tot, "bytes_out", json_integer((json_int_t)bytes_out));
        json_object_set_new(report, "totals", tot);
        json_object_set_new(report, "books", books);
        books = NULL;
        char *text = json_dumps(report, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        json_decref(report);
        char path[4096];
        if (!text) { ll_error("cmd_clean.c: cannot serialise the report"); rc = 1; }
        else if (snprintf(path, sizeof path, "%s/report.json", out_dir) >= (int)sizeof path) {
            ll_error("%s/report.json: path too long", out_dir); rc = 1;
        } else {
            size_t len = strlen(text);
            text[len] = '\0';
            char *withnl = realloc(text, len + 2);
            if (withnl) { text = withnl; text[len++] = '\n'; text[len] = '\0'; }
            if (ll_write_file_atomic(path, text, len) != 0) rc = 1;
        }
        free(text);
    }
    json_decref(books);

    if (rc == 0) {
        double wall = ll_now() - t0;
        size_t dropped = files.n - counts[CLEAN_KEPT] - unreadable;
        ll_log("clean: %zu books: %zu kept, %zu dropped (%zu no_body, %zu license_in_body, %zu binary, "
               "%zu empty, %zu language, %zu duplicate), %zu unreadable\n",
               files.n, counts[CLEAN_KEPT], dropped, counts[CLEAN_DROP_NO_BODY], counts[CLEAN_DROP_LICENSE],
               counts[CLEAN_DROP_BINARY], counts[CLEAN_DROP_EMPTY], counts[CLEAN_DROP_LANGUAGE],
               counts[CLEAN_DROP_DUPLICATE], unreadable);
        ll_log("clean: %.1f MB in, %.1f MB out; cleanup %.1f MB/s (1 core), end to end %.1f MB/s "
               "(read + clean + fsync'ed writes)\n",
               bytes_in / 1e6, bytes_out / 1e6, t_clean > 0 ? bytes_in / 1e6 / t_clean : 0.0,
               wall > 0 ? bytes_in / 1e6 / wall : 0.0);
        ll_log("clean: report in %s/report.json\n", out_dir);
        if (any_unreadable) {
            ll_error("clean: %zu input(s) could not be read (listed in %s/report.json)", unreadable, out_dir);
            rc = 1;
        }
    }
    free(seen.hash);
    free(seen.first);
    clean_ctx_free(ctx);
    for (size_t i = 0; i < files.n; i++) { free(files.v[i].path); free(files.v[i].rel); }
    free(files.v);
    return rc;
}

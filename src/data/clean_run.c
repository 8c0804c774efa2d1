/* clean_run.c: a set of books -> cleaned books + report.json (clean_run,
 * see clean.h); `llmpi clean` is its command line.
 *
 * Invariants:
 *   - inputs are listed by walk.h (argument order, sorted full paths inside
 *     a folder), so "first of two duplicates" and the report are the same on
 *     every run (report.json holds no timings);
 *   - every file under out_dir is written to a temporary name, fsynced and
 *     renamed; a failed run leaves earlier outputs whole;
 *   - an unreadable entry inside a folder is named on stderr (by the walker)
 *     and listed in the report; the other books are still cleaned. Running
 *     out of memory while reading a book is not "unreadable": the run fails
 *     (one line) before the report is written.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llmpi/clean.h"
#include "llmpi/util.h"
#include "llmpi/walk.h"

#define REPORT_FORMAT "llmpi-clean-report"
#define REPORT_VERSION 1

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* json_string() refuses invalid UTF-8 (file names may be anything): fall
 * back to a copy with the offending bytes replaced by '?'. */
static json_t *jstr(const char *s) {
    json_t *j = json_string(s);
    if (j) return j;
    char *copy = ll_malloc_quiet(strlen(s) + 1);   /* fallback: null */
    if (!copy) return json_null();
    memcpy(copy, s, strlen(s) + 1);
    for (char *p = copy; *p; p++) if ((unsigned char)*p >= 0x80) *p = '?';
    j = json_string(copy);
    free(copy);
    return j ? j : json_null();
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

int clean_run(const clean_run_options *o, clean_run_report *rep) {
    clean_run_report local;
    if (!rep) rep = &local;
    memset(rep, 0, sizeof *rep);
    const char *out_dir = o->out_dir;
    clean_options opts = o->clean;
    int quiet = o->quiet;
    double t0 = ll_now();
    /* Collect every book first: a bad input argument fails before any write. */
    walk_options wo;
    walk_options_default(&wo);
    wo.filter = WALK_ALL;
    wo.list_unreadable = 1;
    walk_list files = {0};
    /* the output folder must be neither an input, nor inside one, nor hold one */
    int rc = walk_check_output(o->inputs, o->n_inputs, out_dir, "clean") == 0 ? 0 : 1;
    if (rc == 0 && walk_inputs(o->inputs, o->n_inputs, &wo, &files) != 0) rc = 1;
    /* Two inputs must not write the same output file. */
    if (rc == 0) {
        char **rels = ll_malloc((files.n + 1) * sizeof *rels);
        size_t nr = 0;
        if (!rels) rc = 1;
        for (size_t i = 0; rc == 0 && i < files.n; i++) if (!files.v[i].unreadable) rels[nr++] = files.v[i].path + files.v[i].rel;
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
    ll_hashset seen = {0};
    if (rc == 0 && (!ctx || ll_hashset_init(&seen, files.n) != 0)) rc = 1;

    json_t *books = json_array();
    size_t counts[CLEAN_VERDICT_COUNT] = {0}, unreadable = 0;
    size_t bytes_in = 0, bytes_out = 0;
    double t_clean = 0;
    for (size_t i = 0; rc == 0 && i < files.n; i++) {
        walk_entry *f = &files.v[i];
        const char *rel = f->path + f->rel;
        json_t *rec = json_object();
        json_object_set_new(rec, "input", jstr(f->path));
        char *raw = NULL;
        size_t n = 0;
        unsigned long oom_before = ll_alloc_failures();
        if (!f->unreadable && ll_read_file(f->path, &raw, &n) != 0 && ll_alloc_failures() != oom_before) {
            json_decref(rec);   /* out of memory (its line printed): no book of ours is unreadable */
            rc = 1;
            break;
        }
        if (f->unreadable || !raw) {
            json_object_set_new(rec, "output", json_null());
            json_object_set_new(rec, "verdict", json_string("unreadable"));
            json_object_set_new(rec, "reason", json_string(f->unreadable == WALK_UNREADABLE_FOLDER ? "folder cannot be listed" : "file cannot be read"));
            json_array_append_new(books, rec);
            unreadable++;
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
        if (snprintf(out_path, sizeof out_path, "%s/%s", out_dir, rel) >= (int)sizeof out_path) {
            ll_error("%s/%s: path too long", out_dir, rel);
            clean_result_free(&r); json_decref(rec); rc = 1; break;
        }
        size_t dup_of = (size_t)-1;
        if (r.verdict == CLEAN_KEPT && (dup_of = ll_hashset_first(&seen, r.body_hash, i, NULL)) != LL_HASHSET_NEW) {
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
        json_object_set_new(rec, "output", r.verdict == CLEAN_KEPT ? jstr(rel) : json_null());
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
        json_t *jo = json_object();
        json_object_set_new(jo, "unwrap_prose", json_boolean(opts.unwrap_prose));
        json_object_set_new(jo, "keep_all_languages", json_boolean(opts.keep_all_languages));
        json_object_set_new(report, "options", jo);
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
        if (!text) { ll_error("clean: cannot serialise the report"); rc = 1; }
        else if (snprintf(path, sizeof path, "%s/report.json", out_dir) >= (int)sizeof path) {
            ll_error("%s/report.json: path too long", out_dir); rc = 1;
        } else {
            size_t len = strlen(text);
            text[len] = '\0';
            char *withnl = ll_realloc(text, len + 2);
            if (withnl) { text = withnl; text[len++] = '\n'; text[len] = '\0'; }
            if (!withnl || ll_write_file_atomic(path, text, len) != 0) rc = 1;
        }
        free(text);
    }
    json_decref(books);

    rep->n_books = files.n;
    memcpy(rep->counts, counts, sizeof rep->counts);
    rep->n_unreadable = unreadable;
    rep->bytes_in = bytes_in;
    rep->bytes_out = bytes_out;
    rep->clean_seconds = t_clean;
    rep->wall = ll_now() - t0;
    ll_hashset_free(&seen);
    clean_ctx_free(ctx);
    walk_list_free(&files);
    return rc == 0 ? 0 : -1;
}

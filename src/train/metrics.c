/* metrics.c: RUNDIR/metrics.jsonl, written and read (format in include/llmpi/metrics.h).
 *
 * Invariants:
 * - the writer emits each line with one write(2) (ll_write_all), so a reader
 *   (or a crash) sees whole lines, except at worst a torn last one, which the
 *   reader skips like any malformed line;
 * - key order and number formatting are fixed here and only here (jansson
 *   keeps insertion order; reals with JSON_REAL_PRECISION(8)), so the file
 *   reads the same from run to run and version to version;
 * - the reader accepts every file the writer ever wrote (unknown keys are
 *   ignored; null values, written for non-finite numbers, make a line
 *   unusable and it is skipped with a warning, never misread as 0).
 */
#include "llmpi/metrics.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpi/util.h"

#define METRICS_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(8))

struct metrics_log {
    FILE *f;
    char path[4096];
    int failed;   /* a write failed and was reported: later failures stay quiet */
};

/* ---- writer ---- */

metrics_log *metrics_open(const char *path) {
    metrics_log *log = ll_calloc(1, sizeof *log);
    if (!log) return NULL;
    if (snprintf(log->path, sizeof log->path, "%s", path) >= (int)sizeof log->path) {
        ll_error("%s: path too long", path);
        free(log);
        return NULL;
    }
    if (!(log->f = fopen(path, "a"))) {
        ll_error("%s: cannot open for appending: %s", path, strerror(errno));
        free(log);
        return NULL;
    }
    return log;
}

/* Adds key: x as a JSON real, or null when x is not finite. 0 / -1. */
static int set_real(json_t *obj, const char *key, double x) {
    return json_object_set_new(obj, key, isfinite(x) ? json_real(x) : json_null());
}

static int set_int(json_t *obj, const char *key, uint64_t x) {
    return json_object_set_new(obj, key, json_integer((json_int_t)x));
}

/* Writes obj as one line and flushes; takes obj's reference. built is 0
 * when every key went in. 0 / -1 (one warning line the first time: the
 * trainer goes on, so the run ends well and this is no error). */
static int append_line(metrics_log *log, json_t *obj, int built) {
    char *text = built == 0 && obj ? json_dumps(obj, METRICS_JSON_FLAGS) : NULL;
    json_decref(obj);
    const char *why = "out of memory";
    int rc = -1;
    if (text) {
        size_t n = strlen(text);
        text[n] = '\n';   /* json_dumps' NUL becomes the line end; write is told the length */
        if (ll_write_all(fileno(log->f), text, n + 1) == 0) rc = 0;
        else why = strerror(errno);
        free(text);
    }
    if (rc != 0 && !log->failed) {
        ll_warn("%s: cannot append a line: %s (the run goes on; lines are missing)", log->path, why);
        log->failed = 1;
    }
    return rc;
}

int metrics_append_train(metrics_log *log, const metrics_train *r) {
    json_t *o = json_object();
    /* || evaluates in order: the keys go in in the documented order */
    int built = !o || json_object_set_new(o, "kind", json_string("train")) || set_int(o, "step", r->step) ||
                set_int(o, "tokens", r->tokens) || set_real(o, "loss", r->loss) ||
                set_real(o, "grad_norm", r->grad_norm) || set_real(o, "lr", r->lr) || set_real(o, "ms", r->ms) ||
                set_real(o, "tokens_per_s", r->tokens_per_s) || set_real(o, "mfu", r->mfu) ||
                set_real(o, "comm_wait_ms", r->comm_wait_ms);
    return append_line(log, o, built);
}

int metrics_append_val(metrics_log *log, const metrics_val *r) {
    json_t *o = json_object();
    int built = !o || json_object_set_new(o, "kind", json_string("val")) || set_int(o, "step", r->step) ||
                set_int(o, "tokens", r->tokens) || set_real(o, "val_loss", r->val_loss) ||
                set_int(o, "val_tokens", r->val_tokens) || (r->val_bpb > 0 && set_real(o, "val_bpb", r->val_bpb));
    return append_line(log, o, built);
}

void metrics_close(metrics_log *log) {
    if (!log) return;
    fclose(log->f);
    free(log);
}

/* ---- reader ---- */

typedef struct {
    metrics_point p;
    long line;   /* the later line for a step wins */
} read_point;

typedef struct {
    read_point *p;
    size_t n, cap;
} read_series;

/* Appends one point; 0, or -1 (one line) when out of memory. */
static int series_push(read_series *s, const metrics_point *p, long line, const char *path) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        read_point *np = ll_realloc(s->p, cap * sizeof *np);
        if (!np) return -1;
        s->p = np;
        s->cap = cap;
    }
    s->p[s->n++] = (read_point){*p, line};
    return 0;
}

static int point_cmp(const void *a, const void *b) {
    const read_point *x = a, *y = b;
    if (x->p.step != y->p.step) return x->p.step < y->p.step ? -1 : 1;
    return (x->line > y->line) - (x->line < y->line);
}

/* Sorts by step, keeps the point read last for each step, and moves the
 * result into curve. 0, or -1 (one line) when out of memory. */
static int series_settle(read_series *s, metrics_curve *curve) {
    curve->points = NULL;
    curve->n = 0;
    if (s->n == 0) return 0;
    qsort(s->p, s->n, sizeof *s->p, point_cmp);
    size_t out = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (out > 0 && s->p[out - 1].p.step == s->p[i].p.step) s->p[out - 1] = s->p[i];
        else s->p[out++] = s->p[i];
    }
    curve->points = ll_malloc(out * sizeof *curve->points);
    if (!curve->points) return -1;
    for (size_t i = 0; i < out; i++) curve->points[i] = s->p[i].p;
    curve->n = out;
    return 0;
}

/* Reads a finite number field into *out; 0, or -1 when absent or not a finite number. */
static int get_number(json_t *obj, const char *key, double *out) {
    json_t *v = json_object_get(obj, key);
    if (!v || !json_is_number(v)) return -1;
    double x = json_number_value(v);
    if (!isfinite(x)) return -1;
    *out = x;
    return 0;
}

/* What is wrong with one non-blank line, or NULL when it gave a point
 * (*is_val says which curve). */
static const char *parse_line(const char *line, metrics_point *pt, int *is_val, json_error_t *jerr) {
    json_t *obj = json_loads(line, JSON_REJECT_DUPLICATES, jerr);
    const char *problem = NULL;
    double step = 0, tokens = 0, loss = 0;
    if (!obj) return jerr->text;
    if (!json_is_object(obj)) {
        problem = "not a JSON object";
    } else {
        const char *kind = json_string_value(json_object_get(obj, "kind"));
        const char *loss_key = NULL;
        if (kind && !strcmp(kind, "train")) { *is_val = 0; loss_key = "loss"; }
        else if (kind && !strcmp(kind, "val")) { *is_val = 1; loss_key = "val_loss"; }
        if (!loss_key) problem = "no \"kind\" of \"train\" or \"val\"";
        else if (get_number(obj, "step", &step) != 0 || step < 0 || step > 1e15 || step != floor(step))
            problem = "\"step\" is not a non-negative integer";
        else if (get_number(obj, "tokens", &tokens) != 0 || tokens < 0)
            problem = "\"tokens\" is not a non-negative number";
        else if (get_number(obj, loss_key, &loss) != 0)
            problem = *is_val ? "\"val_loss\" is not a finite number" : "\"loss\" is not a finite number";
    }
    json_decref(obj);
    if (!problem) *pt = (metrics_point){(uint64_t)step, tokens, loss};
    return problem;
}

int metrics_read(const char *path, metrics_curves *out) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f) { ll_error("%s: cannot open: %s", path, strerror(errno)); return -1; }
    read_series series[2] = {{0}, {0}};   /* train, val */
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    int rc = 0;
    while (rc == 0 && getline(&line, &cap, f) != -1) {
        lineno++;
        const char *c = line;
        while (*c == ' ' || *c == '\t' || *c == '\r' || *c == '\n') c++;
        if (*c == '\0') continue;
        json_error_t jerr;
        metrics_point pt;
        int is_val = 0;
        const char *problem = parse_line(line, &pt, &is_val, &jerr);
        if (problem) {
            ll_warn("%s:%ld: %s; line skipped", path, lineno, problem);
            out->n_skipped++;
        } else {
            rc = series_push(&series[is_val], &pt, lineno, path);
        }
    }
    if (rc == 0 && ferror(f)) { ll_error("%s: read error", path); rc = -1; }
    free(line);
    fclose(f);
    if (rc == 0 && series_settle(&series[0], &out->train) != 0) rc = -1;
    if (rc == 0 && series_settle(&series[1], &out->val) != 0) rc = -1;
    free(series[0].p);
    free(series[1].p);
    if (rc != 0) {
        long skipped = out->n_skipped;
        metrics_curves_free(out);
        out->n_skipped = skipped;
    }
    return rc;
}

void metrics_curves_free(metrics_curves *c) {
    free(c->train.points);
    free(c->val.points);
    memset(c, 0, sizeof *c);
}

/* sft_mix.c: the mix file ([mix] + [source NAME] sections, parsed with inih)
 * and the build: read + render every source, drop duplicates, split val,
 * weight and interleave into the training sequence.
 *
 * Invariants:
 * - The mix file is checked like configs: an unknown section or key, a key
 *   set twice, a bad value, weight < 0, an unknown format are refused with one
 *   line "FILE:LINE: problem" and nothing is built.
 * - Sources are read in mix-file order into one pool; an example whose
 *   rendered tokens equal an earlier pool example is dropped and counted on
 *   its own source (first in mix order wins).
 * - Seeded choices use ll_rng streams (mix seed, STREAM_* + source index):
 *   the val subset, the permutations of whole passes and of the fractional
 *   pass. Nothing depends on the rank count, threads or the machine.
 * - Source i gets c_i = round(weight_i * train_unique_i) train examples; the
 *   sequence interleaves them by greatest sampling error, computed in exact
 *   integers (c_i * k - count_i * N), so every prefix of length k holds
 *   within 1 of c_i / N * k examples of source i.
 */
#include <errno.h>
#include <ini.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpi/sft.h"
#include "llmpi/util.h"
#include "sft_internal.h"

#define STREAM_VAL 0x5f7600000000ULL
#define STREAM_TRAIN 0x5f7400000000ULL

/* ---- the mix file ---- */

enum { MIX_SEED, MIX_VAL, MIX_SYSTEM, MIX_NAME, MIX_AUTHOR, MIX_N };
static const char *const mix_keys[MIX_N] = {"seed", "val_fraction", "system", "name", "author"};
enum { SRC_PATH, SRC_FORMAT, SRC_WEIGHT, SRC_MAX, SRC_STATUS, SRC_N };
static const char *const src_keys[SRC_N] = {"path", "format", "weight", "max_examples", "keep_status"};

typedef struct {
    FILE *f;
    const char *path;
    sft_mix *m;
    int line;
    int section;            /* -2: none yet, -1: [mix], >= 0: source index */
    int mix_seen[MIX_N];
    int *src_seen;          /* SRC_N per source */
    int err_line;
    char err[400];
} mix_state;

static void mix_fail(mix_state *st, const char *fmt, const char *a, const char *b) {
    if (st->err_line) return;
    st->err_line = st->line;
    snprintf(st->err, sizeof st->err, fmt, a, b);
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = ll_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* A new [section] line: [mix] or [source NAME]. */
static void mix_section(mix_state *st, const char *raw) {
    const char *b = raw + 1, *e = strchr(b, ']');
    if (!e) return; /* inih reports the syntax error */
    char name[256];
    size_t n = (size_t)(e - b);
    if (n >= sizeof name) n = sizeof name - 1;
    memcpy(name, b, n);
    name[n] = '\0';
    if (!strcmp(name, "mix")) {
        if (st->section != -2) { mix_fail(st, "[mix] must come first and only once%s%s", "", ""); return; }
        st->section = -1;
        return;
    }
    if (strncmp(name, "source ", 7)) {
        mix_fail(st, "unknown section [%s] (expected [mix] or [source NAME])%s", name, "");
        return;
    }
    const char *src = name + 7;
    while (*src == ' ') src++;
    if (!*src) { mix_fail(st, "[source] needs a name: [source NAME]%s%s", "", ""); return; }
    sft_mix *m = st->m;
    for (int i = 0; i < m->n_sources; i++)
        if (!strcmp(m->sources[i].name, src)) { mix_fail(st, "source '%s' is defined twice%s", src, ""); return; }
    sft_source *g = ll_realloc(m->sources, (size_t)(m->n_sources + 1) * sizeof *g);
    int *seen = g ? ll_realloc(st->src_seen, (size_t)(m->n_sources + 1) * SRC_N * sizeof *seen) : NULL;
    if (g) m->sources = g;
    if (seen) st->src_seen = seen;
    if (!g || !seen) { mix_fail(st, "out of memory%s%s", "", ""); return; }
    sft_source *s = &m->sources[m->n_sources];
    memset(s, 0, sizeof *s);
    memset(st->src_seen + (size_t)m->n_sources * SRC_N, 0, SRC_N * sizeof *seen);
    s->name = dup_str(src);
    s->weight = 1.0;
    s->line = st->line;
    st->section = m->n_sources++;
}

/* fgets-style reader for inih that counts lines and sees section headers. */
static char *mix_read_line(char *str, int num, void *stream) {
    mix_state *st = stream;
    if (!fgets(str, num, st->f)) return NULL;
    st->line++;
    const char *p = str;
    while (*p == ' ' || *p == '\t') p++;
    if (*p == '[') mix_section(st, p);
    return str;
}

static int parse_double(const char *v, double *out) {
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(d)) return -1;
    *out = d;
    return 0;
}

static int parse_i64(const char *v, long long *out) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || errno) return -1;
    *out = x;
    return 0;
}

/* Resolves p against the folder of the mix file (absolute p unchanged). */
static char *resolve(const char *mix_path, const char *p) {
    if (p[0] == '/') return dup_str(p);
    const char *slash = strrchr(mix_path, '/');
    size_t dl = slash ? (size_t)(slash - mix_path) : 1;
    const char *dir = slash ? mix_path : ".";
    char *out = ll_malloc(dl + strlen(p) + 2);
    if (out) sprintf(out, "%.*s/%s", (int)dl, dir, p);
    return out;
}

static int mix_handler(void *user, const char *section, const char *key, const char *value) {
    mix_state *st = user;
    sft_mix *m = st->m;
    (void)section;
    if (st->err_line) return 0;
    if (st->section == -2) { mix_fail(st, "'%s' appears before any section%s", key, ""); return 0; }
    if (st->section == -1) {
        int k = 0;
        while (k < MIX_N && strcmp(mix_keys[k], key)) k++;
        if (k == MIX_N) {
            mix_fail(st, "unknown key '%s' in [mix] (expected seed, val_fraction, system, name, author)%s", key, "");
            return 0;
        }
        if (st->mix_seen[k]) { mix_fail(st, "%s is set twice in [mix]%s", key, ""); return 0; }
        st->mix_seen[k] = st->line;
        long long x;
        double d;
        switch (k) {
        case MIX_SEED:
            if (parse_i64(value, &x) || x < 0) { mix_fail(st, "seed: '%s' is not a non-negative integer%s", value, ""); return 0; }
            m->seed = (uint64_t)x;
            break;
        case MIX_VAL:
            if (parse_double(value, &d) || d < 0 || d >= 1) {
                mix_fail(st, "val_fraction: '%s' is not a number in [0, 1)%s", value, "");
                return 0;
            }
            m->val_fraction = d;
            break;
        case MIX_SYSTEM: m->system = dup_str(value); break;
        case MIX_NAME: m->name = dup_str(value); break;
        case MIX_AUTHOR: m->author = dup_str(value); break;
        }
        return 1;
    }
    sft_source *s = &m->sources[st->section];
    int *seen = st->src_seen + (size_t)st->section * SRC_N;
    int k = 0;
    while (k < SRC_N && strcmp(src_keys[k], key)) k++;
    if (k == SRC_N) {
        mix_fail(st, "unknown key '%s' in [source %s] (expected path, format, weight, max_examples, keep_status)",
                 key, s->name);
        return 0;
    }
    if (seen[k]) { mix_fail(st, "%s is set twice in [source %s]", key, s->name); return 0; }
    seen[k] = st->line;
    long long x;
    switch (k) {
    case SRC_PATH:
        if (!*value) { mix_fail(st, "path is empty in [source %s]%s", s->name, ""); return 0; }
        s->path = resolve(st->path, value);
        break;
    case SRC_FORMAT:
        if (sft_format_parse(value, &s->format)) {
            mix_fail(st, "unknown format '%s' (expected auto, alpaca, gpteacher, lima, identity, alpaca-libre, "
                         "self-instruct, gsm8k, oasst-flat, oasst-tree, hh-rlhf, sharegpt, openai)%s", value, "");
            return 0;
        }
        break;
    case SRC_WEIGHT:
        if (parse_double(value, &s->weight) || s->weight < 0) {
            mix_fail(st, "weight: '%s' is not a number >= 0%s", value, "");
            return 0;
        }
        break;
    case SRC_MAX:
        if (parse_i64(value, &x) || x < 0) { mix_fail(st, "max_examples: '%s' is not an integer >= 0%s", value, ""); return 0; }
        s->max_examples = x;
        break;
    case SRC_STATUS:
        if (!*value) { mix_fail(st, "keep_status is empty in [source %s]%s", s->name, ""); return 0; }
        s->keep_status = dup_str(value);
        break;
    }
    return 1;
}

/* Parses the mix file; see sft.h. */
int sft_mix_load(const char *path, sft_mix *out) {
    sft_mix m = {0};
    m.seed = 1234;
    m.val_fraction = 0;
    if (!(m.path = dup_str(path))) return -1;
    size_t tn;
    if (ll_read_file(path, &m.text, &tn)) { sft_mix_free(&m); return -1; }
    FILE *f = fopen(path, "r");
    if (!f) { ll_error("%s: cannot open mix file: %s", path, strerror(errno)); sft_mix_free(&m); return -1; }
    mix_state st = {.f = f, .path = path, .m = &m, .section = -2};
    int rc = ini_parse_stream(mix_read_line, &st, mix_handler, &st);
    fclose(f);
    int ok = 0;
    if (rc > 0 && (!st.err_line || rc < st.err_line)) {
        ll_error("%s:%d: syntax error (expected '[section]', 'key = value' or a ';' comment)", path, rc);
    } else if (st.err_line) {
        ll_error("%s:%d: %s", path, st.err_line, st.err);
    } else if (rc < 0) {
        ll_error("%s: out of memory parsing the mix file", path);
    } else if (m.n_sources == 0) {
        ll_error("%s: no [source NAME] sections", path);
    } else {
        ok = 1;
        for (int i = 0; i < m.n_sources && ok; i++)
            if (!m.sources[i].path) {
                ll_error("%s:%d: [source %s] has no path", path, m.sources[i].line, m.sources[i].name);
                ok = 0;
            }
    }
    free(st.src_seen);
    if (!ok) { sft_mix_free(&m); return -1; }
    *out = m;
    return 0;
}

void sft_mix_free(sft_mix *m) {
    for (int i = 0; i < m->n_sources; i++) {
        free(m->sources[i].name);
        free(m->sources[i].path);
        free(m->sources[i].keep_status);
    }
    free(m->sources);
    free(m->path);
    free(m->text);
    free(m->system);
    free(m->name);
    free(m->author);
    memset(m, 0, sizeof *m);
}

/* ---- blending ---- */

/* Interleaves by greatest sampling error within quota; see sft.h.
 * Position k (1-based) may take source i only if i is not ahead of its upper
 * quota (got_i < c_i k / N); among those, the source whose next example is
 * most overdue, i.e. due earliest at ceil((got_i + 1) N / c_i), wins (ties:
 * lower index). This is earliest-deadline-first over the windows that keep
 * floor(c_i k / N) <= got_i <= ceil(c_i k / N), which always has a solution
 * (Balinski and Young's quota method), so every prefix is within 1 of the
 * share. Megatron's plain largest (share k - got) rule can drift past 1
 * with many sources; this one cannot. Exact integer arithmetic throughout. */
int sft_blend_order(const int64_t *counts, int n, uint16_t *order) {
    int64_t total = 0;
    for (int i = 0; i < n; i++) total += counts[i];
    if (total > 2000000000LL) { ll_error("sft: blend of %lld examples is too large", (long long)total); return -1; }
    int64_t *got = ll_calloc((size_t)(n ? n : 1), sizeof *got);
    if (!got) return -1;
    for (int64_t k = 1; k <= total; k++) {
        int best = -1;
        int64_t best_due = 0;
        for (int i = 0; i < n; i++) {
            if (got[i] == counts[i] || got[i] * total >= k * counts[i]) continue;
            int64_t due = ((got[i] + 1) * total + counts[i] - 1) / counts[i];
            if (best < 0 || due < best_due) { best = i; best_due = due; }
        }
        if (best < 0) { free(got); ll_error("sft: blend found no source for position %lld", (long long)k); return -1; }
        order[k - 1] = (uint16_t)best;
        got[best]++;
    }
    free(got);
    return 0;
}

/* Fisher-Yates permutation of 0..n-1 into p. */
static void permute(ll_rng *r, int64_t *p, int64_t n) {
    for (int64_t i = 0; i < n; i++) p[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)ll_rng_below(r, (uint64_t)i + 1);
        int64_t t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
}

/* round(weight * n) items: whole seeded passes, then a seeded subset. */
int sft_weighted_take(int64_t n, double weight, uint64_t seed, uint64_t stream, int64_t **out, int64_t *n_out) {
    int64_t c = n > 0 ? (int64_t)llround(weight * (double)n) : 0;
    *out = ll_malloc((size_t)(c ? c : 1) * sizeof **out);
    int64_t *perm = ll_malloc((size_t)(n ? n : 1) * sizeof *perm);
    if (!*out || !perm) { free(*out); free(perm); *out = NULL; return -1; }
    ll_rng r;
    ll_rng_seed(&r, seed, stream);
    int64_t done = 0;
    while (done < c) {
        permute(&r, perm, n);
        int64_t take = c - done < n ? c - done : n;
        memcpy(*out + done, perm, (size_t)take * sizeof *perm);
        done += take;
    }
    free(perm);
    *n_out = c;
    return 0;
}

/* ---- the build ---- */

typedef struct {
    sft_mixed *x;
    const sft_template *tpl;
    const char *system;
    sft_rendered rend;
    int source;
    const sft_source *src;
    sft_source_report *rep;
    int64_t seen;           /* examples read from this source */
    size_t tok_cap;
    int64_t pool_cap;
    int64_t *table;         /* dedup hash table of pool indices, -1 empty */
    uint64_t *table_hash;
    size_t table_cap;
} build_ctx;

static uint64_t tokens_hash(const int32_t *ids, size_t n) {
    return ll_fnv1a(LL_FNV_INIT, ids, n * sizeof *ids);
}

static int table_grow(build_ctx *b) {
    size_t cap = b->table_cap ? 2 * b->table_cap : 4096;
    int64_t *t = ll_malloc(cap * sizeof *t);
    uint64_t *h = ll_malloc(cap * sizeof *h);
    if (!t || !h) { free(t); free(h); return -1; }
    for (size_t i = 0; i < cap; i++) t[i] = -1;
    for (size_t i = 0; i < b->table_cap; i++) {
        if (b->table[i] < 0) continue;
        size_t s = b->table_hash[i] & (cap - 1);
        while (t[s] >= 0) s = (s + 1) & (cap - 1);
        t[s] = b->table[i];
        h[s] = b->table_hash[i];
    }
    free(b->table);
    free(b->table_hash);
    b->table = t;
    b->table_hash = h;
    b->table_cap = cap;
    return 0;
}

/* Renders one conversation and adds it to the pool unless it is a duplicate. */
static int build_emit(void *ctx, const sft_conv *c) {
    build_ctx *b = ctx;
    sft_mixed *x = b->x;
    if (b->src->max_examples && b->seen >= b->src->max_examples) { b->rep->over_max++; return 0; }
    b->seen++;
    if (sft_render(b->tpl, c, b->system, &b->rend)) return -1;
    const int32_t *ids = b->rend.ids.ids;
    size_t n = b->rend.ids.n;
    uint64_t h = tokens_hash(ids, n);
    if ((size_t)(x->n_pool + 1) * 2 > b->table_cap && table_grow(b)) return -1;
    size_t s = h & (b->table_cap - 1);
    for (; b->table[s] >= 0; s = (s + 1) & (b->table_cap - 1)) {
        int64_t j = b->table[s];
        size_t len = x->offsets[j + 1] - x->offsets[j];
        if (b->table_hash[s] == h && len == n && !memcmp(x->tokens + x->offsets[j], ids, n * sizeof *ids)) {
            b->rep->duplicates++;
            return 0;
        }
    }
    uint64_t at = x->offsets[x->n_pool];
    if (at + n > b->tok_cap) {
        size_t cap = b->tok_cap ? b->tok_cap : 1 << 20;
        while (cap < at + n) cap *= 2;
        int32_t *t = ll_realloc(x->tokens, cap * sizeof *t);
        if (t) x->tokens = t;
        uint8_t *mk = t ? ll_realloc(x->mask, cap) : NULL;
        if (mk) x->mask = mk;
        if (!t || !mk) return -1;
        b->tok_cap = cap;
    }
    if (x->n_pool + 2 > b->pool_cap) {
        int64_t cap = b->pool_cap ? 2 * b->pool_cap : 4096;
        uint64_t *o = ll_realloc(x->offsets, (size_t)(cap + 1) * sizeof *o);
        if (o) x->offsets = o;
        uint16_t *so = o ? ll_realloc(x->source, (size_t)cap * sizeof *so) : NULL;
        if (so) x->source = so;
        if (!o || !so) return -1;
        b->pool_cap = cap;
    }
    memcpy(x->tokens + at, ids, n * sizeof *ids);
    memcpy(x->mask + at, b->rend.mask, n);
    x->source[x->n_pool] = (uint16_t)b->source;
    x->offsets[x->n_pool + 1] = at + n;
    b->table[s] = x->n_pool;
    b->table_hash[s] = h;
    x->n_pool++;
    b->rep->unique++;
    return 0;
}

/* Reads, renders, deduplicates, splits and blends; see sft.h. */
int sft_mix_build(const sft_mix *m, const tokenizer *tok, sft_mixed *out) {
    sft_template tpl;
    if (sft_template_init(&tpl, tok)) return -1;
    if (m->n_sources > 65535) { ll_error("%s: more than 65535 sources", m->path); return -1; }
    sft_mixed x = {0};
    x.n_sources = m->n_sources;
    x.vocab_size = tok_vocab_size(tok);
    x.reports = ll_calloc((size_t)m->n_sources, sizeof *x.reports);
    x.offsets = ll_calloc(1, sizeof *x.offsets);
    build_ctx b = {.x = &x, .tpl = &tpl, .system = m->system, .pool_cap = 0};
    int64_t *first = ll_calloc((size_t)m->n_sources + 1, sizeof *first);
    int64_t **take = ll_calloc((size_t)m->n_sources, sizeof *take);
    int64_t **train_of = ll_calloc((size_t)m->n_sources, sizeof *train_of);
    int64_t *counts = ll_calloc((size_t)m->n_sources, sizeof *counts);
    uint16_t *order = NULL;
    int rc = -1;
    if (!x.reports || !x.offsets || !first || !take || !train_of || !counts) goto done;

    for (int i = 0; i < m->n_sources; i++) {
        const sft_source *s = &m->sources[i];
        sft_read_options o;
        sft_read_options_default(&o);
        o.format = s->format;
        o.name = m->name;
        o.author = m->author;
        o.keep_status = s->keep_status;
        b.source = i;
        b.src = s;
        b.rep = &x.reports[i];
        b.seen = 0;
        first[i] = x.n_pool;
        if (sft_read_path(s->path, &o, build_emit, &b, &b.rep->read)) goto done;
        if (b.rep->read.examples == 0) {
            ll_error("%s: source %s (%s): no usable example in %lld records (%lld skipped as malformed or filtered)",
                     m->path, s->name, s->path, (long long)b.rep->read.records,
                     (long long)sft_read_stats_skipped(&b.rep->read));
            goto done;
        }
    }
    first[m->n_sources] = x.n_pool;

    /* val split and weighting, per source */
    uint8_t *is_val = ll_calloc((size_t)(x.n_pool ? x.n_pool : 1), 1);
    x.val = ll_malloc((size_t)(x.n_pool ? x.n_pool : 1) * sizeof *x.val);
    if (!is_val || !x.val) { free(is_val); goto done; }
    int64_t total = 0;
    for (int i = 0; i < m->n_sources; i++) {
        sft_source_report *rep = &x.reports[i];
        int64_t n = first[i + 1] - first[i];
        int64_t n_val = (int64_t)llround(m->val_fraction * (double)n);
        if (n_val > n - 1) n_val = n - 1;
        int64_t *perm = ll_malloc((size_t)(n ? n : 1) * sizeof *perm);
        if (!perm) { free(is_val); goto done; }
        ll_rng r;
        ll_rng_seed(&r, m->seed, STREAM_VAL + (uint64_t)i);
        permute(&r, perm, n);
        for (int64_t k = 0; k < n_val; k++) is_val[first[i] + perm[k]] = 1;
        free(perm);
        train_of[i] = ll_malloc((size_t)(n ? n : 1) * sizeof **train_of);
        if (!train_of[i]) { free(is_val); goto done; }
        int64_t nt = 0;
        for (int64_t j = first[i]; j < first[i + 1]; j++) {
            size_t len = x.offsets[j + 1] - x.offsets[j];
            if (is_val[j]) { x.val[x.n_val++] = j; rep->val_examples++; rep->val_tokens += (int64_t)len; }
            else train_of[i][nt++] = j;
        }
        rep->train_unique = nt;
        if (sft_weighted_take(nt, m->sources[i].weight, m->seed, STREAM_TRAIN + (uint64_t)i, &take[i], &counts[i])) {
            free(is_val);
            goto done;
        }
        rep->train_examples = counts[i];
        total += counts[i];
    }
    free(is_val);
    if (total == 0) { ll_error("%s: every source has weight 0: no training examples", m->path); goto done; }

    /* interleave */
    order = ll_malloc((size_t)total * sizeof *order);
    x.train = ll_malloc((size_t)total * sizeof *x.train);
    if (!order || !x.train || sft_blend_order(counts, m->n_sources, order)) goto done;
    int64_t *next = ll_calloc((size_t)m->n_sources, sizeof *next);
    if (!next) goto done;
    for (int64_t k = 0; k < total; k++) {
        int i = order[k];
        int64_t j = train_of[i][take[i][next[i]++]];
        x.train[k] = j;
        x.reports[i].train_tokens += (int64_t)(x.offsets[j + 1] - x.offsets[j]);
        for (int s = 0; s < m->n_sources; s++) {
            double e = fabs((double)next[s] - (double)counts[s] / (double)total * (double)(k + 1));
            if (e > x.reports[s].max_prefix_error) x.reports[s].max_prefix_error = e;
        }
    }
    x.n_train = total;
    for (int i = 0; i < m->n_sources; i++) {
        x.reports[i].target_share = (double)counts[i] / (double)total;
        x.reports[i].actual_share = (double)next[i] / (double)total;
    }
    free(next);
    rc = 0;
done:
    for (int i = 0; i < m->n_sources; i++) {
        if (take) free(take[i]);
        if (train_of) free(train_of[i]);
    }
    free(take);
    free(train_of);
    free(first);
    free(counts);
    free(order);
    free(b.table);
    free(b.table_hash);
    sft_rendered_free(&b.rend);
    if (rc) sft_mixed_free(&x);
    else *out = x;
    return rc;
}

void sft_mixed_free(sft_mixed *x) {
    free(x->tokens);
    free(x->mask);
    free(x->offsets);
    free(x->source);
    free(x->train);
    free(x->val);
    free(x->reports);
    memset(x, 0, sizeof *x);
}

size_t sft_mixed_example(const sft_mixed *x, int64_t i, const int32_t **ids, const uint8_t **mask) {
    uint64_t a = x->offsets[i], e = x->offsets[i + 1];
    *ids = x->tokens + a;
    *mask = x->mask + a;
    return (size_t)(e - a);
}

/* The per-source report as a JSON text. */
char *sft_mixed_report_json(const sft_mixed *x, const sft_mix *m) {
    json_t *root = json_object(), *arr = json_array();
    json_object_set_new(root, "template", json_string(SFT_TEMPLATE));
    json_object_set_new(root, "train_examples", json_integer(x->n_train));
    json_object_set_new(root, "val_examples", json_integer(x->n_val));
    for (int i = 0; i < x->n_sources; i++) {
        const sft_source_report *r = &x->reports[i];
        json_t *s = json_object(), *sk = json_object(), *first = json_array();
        json_object_set_new(s, "name", json_string(m->sources[i].name));
        json_object_set_new(s, "path", json_string(m->sources[i].path));
        json_object_set_new(s, "format", json_string(sft_format_name(r->read.detected)));
        json_object_set_new(s, "weight", json_real(m->sources[i].weight));
        json_object_set_new(s, "files", json_integer(r->read.files));
        json_object_set_new(s, "records", json_integer(r->read.records));
        json_object_set_new(s, "examples_read", json_integer(r->read.examples));
        for (int k = 0; k < SFT_SKIP_COUNT; k++)
            if (r->read.skipped[k]) json_object_set_new(sk, sft_skip_name(k), json_integer(r->read.skipped[k]));
        json_object_set_new(s, "skipped", sk);
        for (int k = 0; k < r->read.n_reported; k++) json_array_append_new(first, json_string(r->read.first[k]));
        json_object_set_new(s, "first_skipped", first);
        json_object_set_new(s, "over_max_examples", json_integer(r->over_max));
        json_object_set_new(s, "duplicates", json_integer(r->duplicates));
        json_object_set_new(s, "val_examples", json_integer(r->val_examples));
        json_object_set_new(s, "val_tokens", json_integer(r->val_tokens));
        json_object_set_new(s, "train_unique", json_integer(r->train_unique));
        json_object_set_new(s, "train_examples", json_integer(r->train_examples));
        json_object_set_new(s, "train_tokens", json_integer(r->train_tokens));
        json_object_set_new(s, "target_share", json_real(r->target_share));
        json_object_set_new(s, "actual_share", json_real(r->actual_share));
        json_object_set_new(s, "max_prefix_error", json_real(r->max_prefix_error));
        json_array_append_new(arr, s);
    }
    json_object_set_new(root, "sources", arr);
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_REAL_PRECISION(17));
    json_decref(root);
    if (!text) ll_error("sft: out of memory writing the report");
    return text;
}

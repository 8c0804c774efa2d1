/* sft_dump.c: test-only driver (no CLI command exists yet).
 *
 *   sft_dump dump MIX TOKENIZER OUT.jsonl [PER_SOURCE]
 *       reads every source of the mix, renders each conversation and writes
 *       up to PER_SOURCE (default 200, evenly spaced) per source as JSONL:
 *       {source, format, file, line, instance, system, default_system,
 *        turns: [[u, a], ...], ids, mask} (texts raw, as the reader saw them)
 *       for tests/sft/render_ref.py to check against the spec.
 *   sft_dump counts MIX
 *       prints one line per source: records, examples, skips by reason.
 *   sft_dump report MIX TOKENIZER
 *       builds the mix and prints sft_mixed_report_json.
 *   sft_dump time MIX TOKENIZER
 *       runs sft_mix_build once on one thread and prints input MB, seconds
 *       and MB/s (parse + render + tokenize + dedupe + blend).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "llmpi/sft.h"
#include "llmpi/tokenizer.h"
#include "llmpi/util.h"

typedef struct {
    const sft_template *tpl;
    const char *source, *default_system;
    sft_format format;
    FILE *out;
    int64_t index, every;
    sft_rendered r;
} dump_ctx;

static json_t *text_json(sft_text t) { return t.text ? json_stringn(t.text, t.len) : json_null(); }

static int dump_one(void *arg, const sft_conv *c) {
    dump_ctx *d = arg;
    if (d->index++ % d->every) return 0;
    if (sft_render(d->tpl, c, d->default_system, &d->r)) return -1;
    json_t *o = json_object(), *turns = json_array(), *ids = json_array(), *mask = json_array();
    json_object_set_new(o, "source", json_string(d->source));
    json_object_set_new(o, "format", json_string(sft_format_name(d->format)));
    json_object_set_new(o, "file", json_string(c->file));
    json_object_set_new(o, "line", json_integer(c->line));
    json_object_set_new(o, "instance", json_integer(c->instance));
    json_object_set_new(o, "system", c->system.len ? text_json(c->system) : json_null());
    json_object_set_new(o, "default_system", d->default_system ? json_string(d->default_system) : json_null());
    for (int i = 0; i < c->n_turns; i++) {
        json_t *pair = json_array();
        json_array_append_new(pair, text_json(c->user[i]));
        json_array_append_new(pair, text_json(c->assistant[i]));
        json_array_append_new(turns, pair);
    }
    json_object_set_new(o, "turns", turns);
    for (size_t i = 0; i < d->r.ids.n; i++) {
        json_array_append_new(ids, json_integer(d->r.ids.ids[i]));
        json_array_append_new(mask, json_integer(d->r.mask[i]));
    }
    json_object_set_new(o, "ids", ids);
    json_object_set_new(o, "mask", mask);
    int rc = json_dumpf(o, d->out, JSON_COMPACT) == 0 && fputc('\n', d->out) != EOF ? 0 : -1;
    json_decref(o);
    return rc;
}

static int count_only(void *arg, const sft_conv *c) { (void)arg; (void)c; return 0; }

static void read_opts(const sft_mix *m, const sft_source *s, sft_read_options *o) {
    sft_read_options_default(o);
    o->format = s->format;
    o->name = m->name;
    o->author = m->author;
    o->keep_status = s->keep_status;
    o->quiet = 1;
}

/* Sums the sizes of the data files under a path. */
static int64_t input_bytes(const char *path) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "find '%s' -type f \\( -name '*.json' -o -name '*.jsonl' \\) -printf '%%s\\n'", path);
    FILE *p = popen(cmd, "r");
    int64_t total = 0;
    long long x;
    while (p && fscanf(p, "%lld", &x) == 1) total += x;
    if (p) pclose(p);
    return total;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: sft_dump dump|counts|time MIX [TOKENIZER OUT [PER_SOURCE]]\n"); return 2; }
    sft_mix m;
    if (sft_mix_load(argv[2], &m)) return 1;
    int rc = 1;
    if (!strcmp(argv[1], "counts")) {
        for (int i = 0; i < m.n_sources; i++) {
            sft_read_options o;
            read_opts(&m, &m.sources[i], &o);
            sft_read_stats st = {0};
            if (sft_read_path(m.sources[i].path, &o, count_only, NULL, &st)) goto done;
            printf("%s format=%s files=%lld records=%lld examples=%lld", m.sources[i].name,
                   sft_format_name(st.detected), (long long)st.files, (long long)st.records, (long long)st.examples);
            for (int k = 0; k < SFT_SKIP_COUNT; k++)
                if (st.skipped[k]) printf(" %s=%lld", sft_skip_name((sft_skip_reason)k), (long long)st.skipped[k]);
            printf("\n");
        }
        rc = 0;
        goto done;
    }
    if (argc < 4) { fprintf(stderr, "sft_dump: %s needs a tokenizer\n", argv[1]); goto done; }
    tokenizer *tok = tok_load(argv[3]);
    if (!tok) goto done;
    if (!strcmp(argv[1], "report")) {
        sft_mixed x;
        if (sft_mix_build(&m, tok, &x) == 0) {
            char *text = sft_mixed_report_json(&x, &m);
            if (text) { printf("%s\n", text); rc = 0; }
            free(text);
            sft_mixed_free(&x);
        }
    } else if (!strcmp(argv[1], "time")) {
        ll_set_threads(1);
        int64_t bytes = 0;
        for (int i = 0; i < m.n_sources; i++) bytes += input_bytes(m.sources[i].path);
        sft_mixed x;
        double t0 = ll_now();
        if (sft_mix_build(&m, tok, &x) == 0) {
            double s = ll_now() - t0;
            int64_t tokens = 0;
            for (int i = 0; i < x.n_sources; i++) tokens += x.reports[i].train_tokens;
            printf("input %.2f MB, %lld pool examples, %lld train examples, %lld train tokens: %.3f s, %.1f MB/s\n",
                   (double)bytes / 1e6, (long long)x.n_pool, (long long)x.n_train, (long long)tokens, s,
                   (double)bytes / 1e6 / s);
            sft_mixed_free(&x);
            rc = 0;
        }
    } else if (argc >= 5) {
        sft_template tpl;
        FILE *out = fopen(argv[4], "w");
        int64_t per = argc > 5 ? atoll(argv[5]) : 200;
        if (out && sft_template_init(&tpl, tok) == 0) {
            rc = 0;
            for (int i = 0; i < m.n_sources && rc == 0; i++) {
                sft_read_options o;
                read_opts(&m, &m.sources[i], &o);
                sft_read_stats st = {0};
                if (sft_read_path(m.sources[i].path, &o, count_only, NULL, &st)) { rc = 1; break; }
                dump_ctx d = {.tpl = &tpl, .source = m.sources[i].name, .default_system = m.system,
                              .format = st.detected, .out = out,
                              .every = st.examples > per ? (st.examples + per - 1) / per : 1};
                sft_read_stats st2 = {0};
                if (sft_read_path(m.sources[i].path, &o, dump_one, &d, &st2)) rc = 1;
                sft_rendered_free(&d.r);
            }
        }
        if (out && fclose(out)) rc = 1;
    }
    tok_free(tok);
done:
    sft_mix_free(&m);
    return rc;
}

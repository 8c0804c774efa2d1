/* train_sample.c: the samples rank 0 draws during pretraining and SFT
 * (train.sample_every), printed and appended to RUN/samples.jsonl.
 *
 * Invariants:
 * - A sample only reads the run: the model's weights through a const view
 *   (gpt_kv_forward never writes the model), its own KV cache, sampler and
 *   RNG (ll_rng_seed(seed, INFER_RNG_STREAM), seeded afresh per sample), and
 *   nothing of the trainer's RNG, loader or optimizer. A run with samples
 *   therefore trains to the same bits as one without.
 * - The same weights, prompt and seed give the same sample, so samples of
 *   two steps differ only by what the model learned in between.
 * - samples.jsonl is an append-only log like metrics.jsonl (a resumed run
 *   appends the steps after its checkpoint again); a failed write warns once
 *   and the run goes on.
 */
#include "llmpi/infer.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct infer_train_sampler {
    infer_model im;          /* im.model: a shallow copy of the run's model (not owned) */
    tok_ids prompt;          /* plain-text mode: the prompt's ids */
    char *prompt_text;       /* the prompt as configured */
    int chat;                /* the prompt is a user message in the chat template */
    infer_options opt;
    int fd;                  /* samples.jsonl, opened for appending */
    char path[4096];
    int write_failed;        /* warned once */
};

/* See infer.h. */
infer_train_sampler *infer_train_sampler_open(const gpt_model *m, const char *tok_identity, const char *tok_json,
                                              size_t tok_json_len, const char *prompt, int max_tokens, uint64_t seed,
                                              int chat, const char *path) {
    infer_train_sampler *s = ll_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->fd = -1;
    if (snprintf(s->path, sizeof s->path, "%s", path) >= (int)sizeof s->path) {
        ll_error("%s: path too long", path);
        goto fail;
    }
    if (!strcmp(tok_identity, TOK_BYTES_IDENTITY)) {
        s->im.tok = tok_bytes_new();
    } else if (!tok_json) {
        ll_error("train.sample_every: the data's tokenizer %s came without its tokenizer.json", tok_identity);
        goto fail;
    } else {
        s->im.tok = tok_load_buffer("train.sample_every: the run's tokenizer.json", tok_json, tok_json_len);
    }
    if (!s->im.tok) goto fail;
    s->im.model = *m;
    infer_options_default(&s->opt, &s->im);
    s->opt.max_tokens = max_tokens;
    s->opt.seed = seed;
    /* chat needs the template's specials; a tokenizer without them samples plain text */
    s->chat = chat && prompt[0] && tok_special_id(s->im.tok, TOK_USER) >= 0 && tok_special_id(s->im.tok, TOK_END) >= 0;
    if (!(s->prompt_text = ll_strdup(prompt))) goto fail;
    if (!s->chat && tok_encode(s->im.tok, prompt, strlen(prompt), 0, &s->prompt) != 0) goto fail;
    if (s->prompt.n > (size_t)m->cfg.block_size) {
        ll_error("train.sample_prompt: %zu tokens, more than the context of %d", s->prompt.n, m->cfg.block_size);
        goto fail;
    }
    s->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (s->fd < 0) {
        ll_error("%s: cannot open for appending: %s", path, strerror(errno));
        goto fail;
    }
    return s;
fail:
    infer_train_sampler_close(s);
    return NULL;
}

/* See infer.h. */
void infer_train_sampler_close(infer_train_sampler *s) {
    if (!s) return;
    if (s->fd >= 0) close(s->fd);
    tok_free(s->im.tok);   /* never infer_close: the model is the run's */
    tok_ids_free(&s->prompt);
    free(s->prompt_text);
    free(s);
}

/* Collects the sample's text. */
static int collect_text(void *ctx, int32_t id, const char *text, size_t len) {
    (void)id;
    return tok_bytes_append(ctx, text, len) != 0;
}

/* See infer.h. */
int infer_train_sample(infer_train_sampler *s, uint64_t step) {
    tok_bytes text = {0}, clean = {0}, prompt = {0};
    infer_result r;
    double t0 = ll_now();
    int rc = -1;
    if (s->chat) {
        infer_chat *ch = infer_chat_new(&s->im, NULL);
        if (!ch) goto done;
        *infer_chat_options(ch) = s->opt;
        rc = infer_chat_send(ch, s->prompt_text, strlen(s->prompt_text), collect_text, &text, &r);
        infer_chat_free(ch);
    } else {
        rc = infer_generate(&s->im, s->prompt.ids, s->prompt.n, &s->opt, collect_text, &text, &r);
    }
    if (rc != 0) goto done;
    rc = -1;
    if (infer_utf8_sanitize(text.data ? text.data : "", text.n, &clean) != 0 ||
        infer_utf8_sanitize(s->prompt_text, strlen(s->prompt_text), &prompt) != 0)
        goto done;
    double seconds = ll_now() - t0;
    json_t *shown = json_stringn(clean.data ? clean.data : "", clean.n);
    char *shown_text = shown ? json_dumps(shown, JSON_ENCODE_ANY) : NULL;
    json_decref(shown);
    json_t *o = json_pack("{s:I, s:s, s:s%, s:I, s:s, s:f}", "step", (json_int_t)step, "prompt",
                          prompt.data ? prompt.data : "", "text", clean.data ? clean.data : "", clean.n,
                          "tokens", (json_int_t)r.n_generated, "finish_reason", infer_finish_name(r.finish),
                          "seconds", seconds);
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!line || !shown_text) {
        ll_error("train.sample_every: out of memory");
        free(line);
        free(shown_text);
        goto done;
    }
    ll_log("step %6llu | sample (%zu tokens, %.2f s): %s\n", (unsigned long long)step, r.n_generated, seconds,
           shown_text);
    size_t n = strlen(line);
    line[n] = '\n';   /* json_dumps' NUL becomes the line end; the write is told the length */
    if (ll_write_all(s->fd, line, n + 1) != 0 && !s->write_failed) {
        ll_warn("%s: cannot append a sample: %s (the run goes on; samples are missing)", s->path, strerror(errno));
        s->write_failed = 1;
    }
    free(line);
    free(shown_text);
    rc = 0;
done:
    tok_bytes_free(&text);
    tok_bytes_free(&clean);
    tok_bytes_free(&prompt);
    return rc;
}

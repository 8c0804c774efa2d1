/* generate.c: a checkpoint and its tokenizer, opened for generation; the
 * token-by-token generation loop on a KV cache.
 *
 * Invariants:
 * - An infer_ctx's cache holds exactly ctx->ids[0..kv.n) and ctx->logits
 *   are the model's logits after the last of them. Feeding goes through
 *   feed(): batched steps (prefill) for several ids, one-token steps
 *   (decode) for one, each timed into the result it was given.
 * - A generation draws from the current logits with one sampler and one RNG
 *   seeded once per call, so the same model, context and options give the
 *   same tokens. A drawn token is fed only when another draw will follow.
 * - When the cache is full and a token must go in, a shift removes ids (the
 *   oldest o->slide for plain text, whole turns for chat) and the rest is
 *   prefilled from scratch: positions are absolute (wpe), so cached keys of
 *   shifted ids cannot be reused. With slide 1 every step past the context
 *   is thus a forward over the last block_size ids, as the generation loop
 *   did before it had a cache.
 * - Text goes out through an infer_stream: whole UTF-8 characters, nothing
 *   of a stop string, flushed per token.
 */
#include "llmpi/infer.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llmpi/store.h"

/* See infer.h. */
int infer_open(infer_model *im, const char *ckpt_path, const char *tokenizer_path) {
    memset(im, 0, sizeof *im);
    gpt_config mc;
    if (ckpt_peek(ckpt_path, &mc, &im->meta) != 0) return -1;
    if (tokenizer_path) {
        im->tok = tok_load(tokenizer_path);   /* given: must match (checked below) */
    } else if (strcmp(im->meta.tokenizer, TOK_BYTES_IDENTITY) == 0) {
        im->tok = tok_bytes_new();
    } else if (strcmp(im->meta.tokenizer, TOK_NO_IDENTITY) == 0) {
        ll_error("%s: the model has no tokenizer (imported without tokenizer.json): give the tokenizer.json its "
                 "%d ids belong to with --tokenizer", ckpt_path, mc.vocab_size);
        return -1;
    } else {
        /* the checkpoint's own copy (checkpoints carry their tokenizer.json) */
        char *json = NULL, name[4200];
        size_t len = 0;
        if (ckpt_read_tokenizer_json(ckpt_path, &json, &len) != 0) return -1;
        if (!json) {
            ll_error("%s: model uses tokenizer %s and the file carries no copy (written before checkpoints "
                     "did): give its tokenizer.json with --tokenizer", ckpt_path, im->meta.tokenizer);
            return -1;
        }
        snprintf(name, sizeof name, "%s: /tokenizer_json", ckpt_path);
        im->tok = tok_load_buffer(name, json, len);
        free(json);
    }
    if (!im->tok) goto fail;

    if (tok_check_identity(ckpt_path, im->meta.tokenizer, (uint32_t)mc.vocab_size, tok_identity(im->tok),
                           (uint32_t)tok_vocab_size(im->tok), "pass the tokenizer.json the model was trained with") != 0)
        goto fail;

    if (gpt_create(&im->model, &mc) != 0 || ckpt_load(ckpt_path, &im->model, NULL, NULL, &im->meta) != 0) goto fail;
    return 0;
fail:
    infer_close(im);
    return -1;
}

/* See infer.h. */
void infer_close(infer_model *im) {
    gpt_free(&im->model);
    tok_free(im->tok);
    memset(im, 0, sizeof *im);
}

/* See infer.h. */
const char *infer_finish_name(infer_finish f) {
    switch (f) {
    case INFER_FINISH_STOP: return "stop";
    case INFER_FINISH_LENGTH: return "length";
    case INFER_FINISH_CANCEL: return "cancelled";
    }
    return "unknown";
}

/* See infer.h. */
void infer_options_default(infer_options *o, const infer_model *im) {
    memset(o, 0, sizeof *o);
    o->sampling = (infer_sampling){.temperature = 0.8f, .top_k = 40, .top_p = 1.0f, .min_p = 0.0f,
                                   .repeat_penalty = 1.0f, .repeat_last_n = 64};
    o->max_tokens = 200;
    o->seed = 1337;
    o->stop_ids[o->n_stop++] = tok_eot_id(im->tok);
    int32_t end = tok_special_id(im->tok, TOK_END);
    if (end >= 0) o->stop_ids[o->n_stop++] = end;
    o->slide = 1;
}

/* Parses a whole-string number; -1 if s is not one. */
static int parse_double(const char *s, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0') return -1;
    *out = v;
    return 0;
}

/* See infer.h. */
int infer_options_set(infer_options *o, const char *name, const char *value) {
    double v;
    if (!value || parse_double(value, &v) != 0 || !isfinite(v)) {
        ll_error("set %s: expected a number, got '%s'", name, value ? value : "");
        return -1;
    }
    infer_options t = *o;
    int is_int = 1;
    if (!strcmp(name, "temperature")) { t.sampling.temperature = (float)v; is_int = 0; }
    else if (!strcmp(name, "top_p")) { t.sampling.top_p = (float)v; is_int = 0; }
    else if (!strcmp(name, "min_p")) { t.sampling.min_p = (float)v; is_int = 0; }
    else if (!strcmp(name, "repeat_penalty")) { t.sampling.repeat_penalty = (float)v; is_int = 0; }
    else if (!strcmp(name, "top_k") || !strcmp(name, "repeat_last_n") || !strcmp(name, "seed") ||
             !strcmp(name, "max_tokens")) {
        double hi = !strcmp(name, "seed") ? 4611686018427387904.0 : (double)(1 << 24);
        if (v != floor(v) || v < 0 || v > hi) {
            ll_error("set %s: expected a whole number in [0, %.0f], got '%s'", name, hi, value);
            return -1;
        }
        if (!strcmp(name, "top_k")) t.sampling.top_k = (int)v;
        else if (!strcmp(name, "repeat_last_n")) t.sampling.repeat_last_n = (int)v;
        else if (!strcmp(name, "seed")) t.seed = (uint64_t)v;
        else t.max_tokens = (long)v;
    } else {
        ll_error("set: unknown option '%s' (temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n, "
                 "seed, max_tokens)", name);
        return -1;
    }
    (void)is_int;
    if (infer_sampling_check(&t.sampling) != 0) return -1;
    *o = t;
    return 0;
}

/* ---- the context ---- */

/* See infer.h. */
int infer_ctx_init(infer_ctx *c, infer_model *im) {
    memset(c, 0, sizeof *c);
    c->im = im;
    const gpt_config *mc = &im->model.cfg;
    if (gpt_kv_init(&c->kv, mc, 0) != 0) return -1;
    c->ids = ll_malloc((size_t)mc->block_size * sizeof *c->ids);
    c->logits = ll_malloc((size_t)mc->vocab_size * sizeof *c->logits);
    if (!c->ids || !c->logits || infer_sampler_init(&c->sampler, mc->vocab_size) != 0) {
        infer_ctx_free(c);
        return -1;
    }
    return 0;
}

/* See infer.h. */
void infer_ctx_free(infer_ctx *c) {
    gpt_kv_free(&c->kv);
    free(c->ids);
    free(c->logits);
    infer_sampler_free(&c->sampler);
    memset(c, 0, sizeof *c);
}

/* Appends ids[0..n) to the cache (which has room), timing it as prefill
 * (n > 1) or decode (n == 1) into c->res. */
static int feed(infer_ctx *c, const int32_t *ids, size_t n) {
    double t0 = ll_now();
    int at = c->kv.n;
    if (gpt_kv_forward(&c->im->model, &c->kv, ids, (int)n, c->logits) != 0) return -1;
    memmove(c->ids + at, ids, n * sizeof *ids);
    double dt = ll_now() - t0;
    if (c->res) {
        if (n > 1) { c->res->prefill_s += dt; c->res->n_prefill += n; }
        else { c->res->decode_s += dt; c->res->n_decode += n; }
    }
    return 0;
}

/* See infer.h. */
int infer_ctx_sync(infer_ctx *c, const int32_t *ids, size_t n) {
    const gpt_config *mc = &c->im->model.cfg;
    if (n < 1 || n > (size_t)mc->block_size) {
        ll_error("generate: %zu ids for a context of 1..%d", n, mc->block_size);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= mc->vocab_size) {
            ll_error("generate: prompt id %ld at position %zu is outside the vocabulary [0, %d)", (long)ids[i], i,
                     mc->vocab_size);
            return -1;
        }
    size_t keep = 0;
    while (keep < (size_t)c->kv.n && keep < n && c->ids[keep] == ids[keep]) keep++;
    if (keep == n) keep--;   /* the last id again: its logits are needed */
    gpt_kv_truncate(&c->kv, (int)keep);
    return feed(c, ids + keep, n - keep);
}

/* Whether id is one of the stop ids. */
static int is_stop(const infer_options *o, int32_t id) {
    for (int i = 0; i < o->n_stop && i < INFER_MAX_STOP; i++)
        if (o->stop_ids[i] == id) return 1;
    return 0;
}

/* The plain-text shift: drops the oldest o->slide ids (all but one at most). */
static int slide_shift(void *ctx, int32_t *ids, size_t *n) {
    const infer_options *o = ctx;
    size_t drop = o->slide > 1 ? (size_t)o->slide : 1;
    if (*n <= 1) return 1;
    if (drop > *n - 1) drop = *n - 1;
    memmove(ids, ids + drop, (*n - drop) * sizeof *ids);
    *n -= drop;
    return 0;
}

/* Appends one id to the cache, shifting first when it is full. 0, 1 when
 * the shift can drop nothing, -1 on error. */
static int feed_one(infer_ctx *c, int32_t id, infer_shift_fn shift, void *shift_ctx, infer_result *res) {
    if (c->kv.n < c->kv.cap) return feed(c, &id, 1);
    size_t n = (size_t)c->kv.n;
    int rc = shift(shift_ctx, c->ids, &n);
    if (rc != 0) return rc;
    if (n >= (size_t)c->kv.cap) { ll_error("generate: the context shift freed no room"); return -1; }
    c->ids[n++] = id;
    if (res) res->n_shifts++;
    gpt_kv_truncate(&c->kv, 0);
    return feed(c, c->ids, n);   /* feed copies the ids onto themselves: memmove */
}

/* Passes shown text to the callback; 1 if it asks to stop. */
static int emit(infer_token_fn on_text, void *ctx, int32_t id, const char *text, size_t len) {
    return on_text ? on_text(ctx, id, text, len) != 0 : 0;
}

/* See infer.h. */
int infer_ctx_generate(infer_ctx *c, const infer_options *o, infer_shift_fn shift, void *shift_ctx,
                       infer_token_fn on_text, void *text_ctx, tok_ids *out, infer_result *res) {
    infer_result local;
    if (!res) res = &local;
    infer_result *saved = c->res;
    c->res = res;
    res->finish = INFER_FINISH_LENGTH;
    if (!shift) { shift = slide_shift; shift_ctx = (void *)o; }
    if (c->kv.n < 1) { ll_error("generate: nothing to continue (empty context)"); c->res = saved; return -1; }
    infer_stream st;
    infer_stream_init(&st, o->stop_strings, o->n_stop_strings);
    ll_rng rng;
    ll_rng_seed(&rng, o->seed, INFER_RNG_STREAM);
    int rc = -1, stop = 0;
    for (long step = 0; step < o->max_tokens && !stop; step++) {
        int32_t next = infer_sample_context(&c->sampler, c->logits, &o->sampling, c->ids, (size_t)c->kv.n, &rng);
        if (is_stop(o, next)) { res->finish = INFER_FINISH_STOP; break; }
        res->n_generated++;
        if (out) {
            if (out->n == out->cap) {
                size_t cap = out->cap ? 2 * out->cap : 256;
                int32_t *g = ll_realloc(out->ids, cap * sizeof *g);
                if (!g) goto done;
                out->ids = g;
                out->cap = cap;
            }
            out->ids[out->n++] = next;
        }
        size_t len = 0, shown = 0;
        const char *bytes = tok_token_bytes(c->im->tok, next, &len), *text = NULL;
        if (infer_stream_push(&st, bytes, len, &text, &shown) != 0) goto done;
        if (emit(on_text, text_ctx, next, text, shown)) { res->finish = INFER_FINISH_CANCEL; stop = 1; }
        if (st.stopped && !stop) { res->finish = INFER_FINISH_STOP; stop = 1; }
        if (stop || step + 1 == o->max_tokens) break;
        int fed = feed_one(c, next, shift, shift_ctx, res);
        if (fed < 0) goto done;
        if (fed == 1) { res->finish = INFER_FINISH_LENGTH; break; }
    }
    const char *rest = NULL;
    size_t rest_len = 0;
    infer_stream_finish(&st, &rest, &rest_len);
    if (rest_len) emit(on_text, text_ctx, -1, rest, rest_len);
    rc = 0;
done:
    infer_stream_free(&st);
    c->res = saved;
    return rc;
}

/* See infer.h. */
int infer_generate(infer_model *im, const int32_t *prompt, size_t n_prompt, const infer_options *o,
                   infer_token_fn on_text, void *ctx, infer_result *res) {
    infer_result local;
    if (!res) res = &local;
    memset(res, 0, sizeof *res);
    const gpt_config *mc = &im->model.cfg;
    for (size_t i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= mc->vocab_size) {
            ll_error("generate: prompt id %ld at position %zu is outside the vocabulary [0, %d)", (long)prompt[i], i,
                     mc->vocab_size);
            return -1;
        }
    if (o->max_tokens <= 0) return 0;
    infer_ctx c;
    if (infer_ctx_init(&c, im) != 0) return -1;
    int32_t eot = tok_eot_id(im->tok);
    const int32_t *p = n_prompt ? prompt : &eot;   /* empty: a new document */
    size_t n = n_prompt ? n_prompt : 1, block = (size_t)mc->block_size;
    if (n > block) { p += n - block; n = block; }   /* the model sees the last block_size ids */
    res->n_prompt = n;
    c.res = res;
    int rc = infer_ctx_sync(&c, p, n);
    c.res = NULL;
    if (rc == 0) rc = infer_ctx_generate(&c, o, NULL, NULL, on_text, ctx, NULL, res);
    infer_ctx_free(&c);
    return rc;
}

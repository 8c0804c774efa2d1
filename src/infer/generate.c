/* generate.c: a checkpoint and its tokenizer, opened for generation; the
 * token-by-token generation loop.
 *
 * Invariants: each step runs the full forward over the last block_size ids
 * of the sequence (no KV cache yet) and draws from the last position's
 * logits with one sampler and one RNG seeded once per call, so the same
 * model, prompt and options give the same tokens. The window buffer keeps
 * only what the next forward can see (at most block_size ids), so memory
 * does not grow with max_tokens.
 */
#include "llmpi/infer.h"

#include <stdlib.h>
#include <string.h>

#include "llmpi/store.h"

/* See infer.h. */
int infer_open(infer_model *im, const char *ckpt_path, const char *tokenizer_path) {
    memset(im, 0, sizeof *im);
    gpt_config mc;
    if (ckpt_peek(ckpt_path, &mc, &im->meta) != 0) return -1;
    if (strcmp(im->meta.tokenizer, TOK_BYTES_IDENTITY) == 0) {
        im->tok = tok_bytes_new();
    } else if (!tokenizer_path) {
        ll_error("%s: model uses tokenizer %s: its tokenizer.json is needed (--tokenizer)", ckpt_path,
                 im->meta.tokenizer);
        return -1;
    } else {
        im->tok = tok_load(tokenizer_path);
    }
    if (!im->tok) goto fail;

    /* the one tokenizer check (store.c): the checkpoint stands for the store it was trained on */
    store_reader trained = {0};
    trained.raw_fd = -1;
    trained.vocab_size = (uint32_t)mc.vocab_size;
    snprintf(trained.path, sizeof trained.path, "%s", ckpt_path);
    snprintf(trained.tokenizer, sizeof trained.tokenizer, "%s", im->meta.tokenizer);
    if (store_check_tokenizer(&trained, tok_identity(im->tok), (uint32_t)tok_vocab_size(im->tok)) != 0) goto fail;

    if (gpt_create(&im->model, &mc) != 0 || ckpt_load(ckpt_path, &im->model, NULL, NULL, &im->meta) != 0 ||
        gpt_alloc_acts(&im->model, 1, mc.block_size, 0) != 0)
        goto fail;
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
void infer_options_default(infer_options *o, const infer_model *im) {
    memset(o, 0, sizeof *o);
    o->sampling = (infer_sampling){0.8f, 40, 1.0f};
    o->max_tokens = 200;
    o->seed = 1337;
    o->stop_ids[o->n_stop++] = tok_eot_id(im->tok);
}

/* Whether id is one of the stop ids. */
static int is_stop(const infer_options *o, int32_t id) {
    for (int i = 0; i < o->n_stop && i < INFER_MAX_STOP; i++)
        if (o->stop_ids[i] == id) return 1;
    return 0;
}

/* See infer.h. */
int infer_generate(infer_model *im, const int32_t *prompt, size_t n_prompt, const infer_options *o,
                   infer_token_fn on_token, void *ctx, size_t *n_generated) {
    const gpt_config *mc = &im->model.cfg;
    size_t block = (size_t)mc->block_size, cap = 2 * block;
    if (n_generated) *n_generated = 0;
    for (size_t i = 0; i < n_prompt; i++)
        if (prompt[i] < 0 || prompt[i] >= mc->vocab_size) {
            ll_error("generate: prompt id %ld at position %zu is outside the vocabulary [0, %d)", (long)prompt[i], i,
                     mc->vocab_size);
            return -1;
        }
    int rc = -1;
    infer_sampler sampler = {0};
    int *window = ll_malloc(cap * sizeof *window);
    float *logits = ll_malloc((size_t)mc->vocab_size * sizeof *logits);
    if (!window || !logits || infer_sampler_init(&sampler, mc->vocab_size) != 0) goto done;

    /* the window holds the last n ids of the sequence (n <= cap) */
    size_t n = 0;
    if (n_prompt == 0) window[n++] = tok_eot_id(im->tok);   /* a new document */
    for (size_t i = n_prompt > block ? n_prompt - block : 0; i < n_prompt; i++) window[n++] = prompt[i];
    ll_rng rng;
    ll_rng_seed(&rng, o->seed, INFER_RNG_STREAM);
    for (long step = 0; step < o->max_tokens; step++) {
        size_t ctx_len = n < block ? n : block;
        if (gpt_forward(&im->model, window + n - ctx_len, NULL, 1, (int)ctx_len, NULL, NULL, NULL, logits) != 0)
            goto done;
        int32_t next = infer_sample(&sampler, logits, &o->sampling, &rng);
        if (is_stop(o, next)) break;
        if (n == cap) {   /* keep the last block - 1 ids: with next, a full context */
            memmove(window, window + n - (block - 1), (block - 1) * sizeof *window);
            n = block - 1;
        }
        window[n++] = next;
        if (n_generated) (*n_generated)++;
        if (on_token) {
            size_t len = 0;
            const char *bytes = tok_token_bytes(im->tok, next, &len);
            if (on_token(ctx, next, bytes, len) != 0) break;
        }
    }
    rc = 0;
done:
    free(window);
    free(logits);
    infer_sampler_free(&sampler);
    return rc;
}

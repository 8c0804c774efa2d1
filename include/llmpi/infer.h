/* infer.h: generating text from a trained model.
 *
 * The sampler turns one row of logits into a token id: temperature scaling,
 * then top-k, then top-p (nucleus) truncation, then a draw from the seeded
 * RNG. temperature 0 means greedy (argmax). Deterministic given the RNG
 * state; reentrant (one infer_sampler per thread, nothing shared).
 *
 * Generation: infer_open loads a checkpoint with its tokenizer (checked
 * against the identity the checkpoint records), infer_generate extends a
 * sequence of ids token by token and hands each new token to a callback as
 * soon as it is drawn (streaming, for sample, chat and a server).
 */
#ifndef LLMPI_INFER_H
#define LLMPI_INFER_H

#include <stddef.h>
#include <stdint.h>

#include "llmpi/ckpt.h"
#include "llmpi/gpt.h"
#include "llmpi/tokenizer.h"
#include "llmpi/util.h"

/* ---- sampler ---- */

typedef struct {
    float temperature;   /* 0: greedy */
    int top_k;           /* 0: no limit */
    float top_p;         /* 1: no limit */
} infer_sampling;

typedef struct {
    float prob;
    int id;
} infer_candidate;

typedef struct {
    int V;
    float *probs;            /* (V) scratch: the softmax */
    infer_candidate *cand;   /* (V) scratch: the candidates, best first */
} infer_sampler;

/* Allocates the scratch for a vocabulary of vocab_size. 0 / -1 (one line). */
int infer_sampler_init(infer_sampler *s, int vocab_size);
/* Frees the scratch; safe on a zeroed or already freed sampler. */
void infer_sampler_free(infer_sampler *s);
/* Draws a token from logits (V floats; left unchanged). Uses one RNG draw
 * unless greedy. */
int infer_sample(infer_sampler *s, const float *logits, const infer_sampling *cfg, ll_rng *rng);

/* ---- generation ---- */

typedef struct {
    gpt_model model;     /* activations sized for one sequence of block_size */
    ckpt_meta meta;
    tokenizer *tok;      /* the checkpoint's tokenizer (the byte one or a BPE file) */
} infer_model;

/* Loads checkpoint ckpt_path for generation. Its tokenizer is the byte
 * tokenizer when the checkpoint names it (tokenizer_path is then ignored),
 * else the tokenizer.json at tokenizer_path, which must be given and whose
 * identity and vocabulary size must equal the checkpoint's. 0, or -1 with
 * one line and nothing left to free. */
int infer_open(infer_model *im, const char *ckpt_path, const char *tokenizer_path);
/* Frees everything infer_open made; safe on a zeroed model. */
void infer_close(infer_model *im);

/* Receives each generated token as soon as it is drawn: its id and its
 * bytes (a special token's string for a special). Returns 0 to go on,
 * non-zero to stop generation (not an error). */
typedef int (*infer_token_fn)(void *ctx, int32_t id, const char *bytes, size_t len);

#define INFER_RNG_STREAM 4
#define INFER_MAX_STOP 8

typedef struct {
    infer_sampling sampling;
    long max_tokens;                  /* at most this many new tokens */
    uint64_t seed;                    /* the draw: ll_rng_seed(seed, INFER_RNG_STREAM) */
    int32_t stop_ids[INFER_MAX_STOP]; /* drawing one of these ends generation; */
    int n_stop;                       /* it is not passed on (0: no stop id) */
} infer_options;

/* Fills the defaults of `llmpi sample`: 200 tokens, temperature 0.8, top-k
 * 40, top-p 1, seed 1337, stop at the tokenizer's end-of-text. */
void infer_options_default(infer_options *o, const infer_model *im);

/* Continues prompt[0..n_prompt) (ids of im's tokenizer; an empty prompt
 * starts a new document at end-of-text): each step runs the model over the
 * last block_size ids, draws the next id, stops on a stop id, else passes
 * it to on_token (may be NULL) and appends it. *n_generated (may be NULL)
 * counts the tokens passed on. 0, or -1 with one line (an id outside the
 * vocabulary, out of memory). */
int infer_generate(infer_model *im, const int32_t *prompt, size_t n_prompt, const infer_options *o,
                   infer_token_fn on_token, void *ctx, size_t *n_generated);

#endif

/* infer.h: generating text from a trained model.
 *
 * The sampler turns one row of logits into a token id: an optional
 * repetition penalty on the raw logits, temperature scaling, then top-k,
 * top-p (nucleus) and min-p truncation, then a draw from the seeded RNG.
 * temperature 0 means greedy (argmax). Deterministic given the RNG state;
 * reentrant (one infer_sampler per thread, nothing shared).
 *
 * Generation: infer_open loads a checkpoint with its tokenizer (checked
 * against the identity the checkpoint records). An infer_ctx holds one
 * sequence's KV cache (gpt_kv) and the ids in it; infer_ctx_generate draws
 * token after token on the cache and streams the text through a callback,
 * flushed per token, never splitting a UTF-8 character and never showing a
 * stop string. When the context fills up, a shift callback decides what to
 * drop (plain text: the oldest ids; chat: the oldest whole turns) and the
 * rest is prefilled again. infer_generate is the one-shot form (sample);
 * infer_chat (chat.c) keeps a conversation.
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
    float temperature;    /* 0: greedy */
    int top_k;            /* 0: no limit */
    float top_p;          /* 1: no limit */
    float min_p;          /* 0: off; else keep p >= min_p * p_max (after temperature) */
    float repeat_penalty; /* 1 (or 0, as in a zeroed struct): off; > 1 discourages repeats */
    int repeat_last_n;    /* the penalty looks at this many last ids of the context (0: all) */
} infer_sampling;

typedef struct {
    float prob;
    int id;
} infer_candidate;

typedef struct {
    int V;
    float *probs;            /* (V) scratch: the softmax */
    infer_candidate *cand;   /* (V) scratch: the candidates, best first */
    float *work;             /* (V) scratch: penalised logits */
    uint8_t *seen;           /* (V) scratch: ids already penalised */
} infer_sampler;

/* Allocates the scratch for a vocabulary of vocab_size. 0 / -1 (one line). */
int infer_sampler_init(infer_sampler *s, int vocab_size);
/* Frees the scratch; safe on a zeroed or already freed sampler. */
void infer_sampler_free(infer_sampler *s);
/* 0 if the settings are usable, else -1 with one line naming the bad one:
 * temperature >= 0, top_k >= 0, 0 < top_p <= 1, 0 <= min_p <= 1,
 * 0 <= repeat_penalty <= 100, repeat_last_n >= 0, all finite. */
int infer_sampling_check(const infer_sampling *cfg);
/* Draws a token from logits (V floats; left unchanged). Uses one RNG draw
 * unless greedy. No repetition penalty (it needs the context). */
int infer_sample(infer_sampler *s, const float *logits, const infer_sampling *cfg, ll_rng *rng);
/* The same after the repetition penalty over recent[0..n_recent) (the
 * context's last ids): each distinct id's logit l becomes l / penalty if
 * l > 0, else l * penalty (CTRL, as llama.cpp). */
int infer_sample_context(infer_sampler *s, const float *logits, const infer_sampling *cfg, const int32_t *recent,
                         size_t n_recent, ll_rng *rng);

/* ---- text streaming: whole UTF-8 characters, stop strings held back ---- */

#define INFER_MAX_STOP 8

typedef struct {
    char *buf;               /* buf[shown..n): bytes not shown yet */
    size_t n, cap, shown;
    const char *const *stops;/* not owned */
    int n_stops;
    int stopped;             /* a stop string was found: nothing more is shown */
} infer_stream;

/* An empty stream watching stops[0..n_stops) (non-empty byte strings). */
void infer_stream_init(infer_stream *s, const char *const *stops, int n_stops);
void infer_stream_free(infer_stream *s);
/* Appends bytes; *out / *out_len receive what can be shown now (valid until
 * the next call): everything before the first stop string if one is now
 * complete (then s->stopped is set and later pushes show nothing), else all
 * but a tail that could still begin a stop string or that is an incomplete
 * UTF-8 character. -1 on out of memory (one line). */
int infer_stream_push(infer_stream *s, const char *bytes, size_t len, const char **out, size_t *out_len);
/* What is left at the end (nothing once stopped): the held-back bytes. */
void infer_stream_finish(infer_stream *s, const char **out, size_t *out_len);
/* Appends bytes[0..n) to out as valid UTF-8: every byte that is not part of
 * a well-formed sequence becomes U+FFFD (for JSON output). -1 on OOM. */
int infer_utf8_sanitize(const char *bytes, size_t n, tok_bytes *out);

/* ---- model ---- */

typedef struct {
    gpt_model model;     /* weights only: generation keeps its state in an infer_ctx */
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

/* ---- generation ---- */

/* Receives the text of generation as it becomes showable: once per accepted
 * token (id >= 0) with the bytes it made showable (possibly none, possibly
 * bytes of earlier tokens that completed a character), and once at the end
 * with id -1 for what was still held back (only when there is some). Returns
 * 0 to go on, non-zero to stop generation (not an error: finish CANCEL). */
typedef int (*infer_token_fn)(void *ctx, int32_t id, const char *text, size_t len);

#define INFER_RNG_STREAM 4

typedef enum {
    INFER_FINISH_STOP = 0,   /* a stop id or stop string */
    INFER_FINISH_LENGTH,     /* max_tokens, or a full context with nothing to drop */
    INFER_FINISH_CANCEL,     /* the callback asked to stop */
} infer_finish;

/* "stop", "length", "cancelled". */
const char *infer_finish_name(infer_finish f);

typedef struct {
    infer_sampling sampling;
    long max_tokens;                  /* at most this many new tokens */
    uint64_t seed;                    /* the draw: ll_rng_seed(seed, INFER_RNG_STREAM) */
    int32_t stop_ids[INFER_MAX_STOP]; /* drawing one of these ends generation; */
    int n_stop;                       /* it is not passed on (0: no stop id) */
    const char *stop_strings[INFER_MAX_STOP]; /* byte strings ending generation (not shown); not owned */
    int n_stop_strings;
    int slide;                        /* plain text, full context: ids dropped at once (>= 1) */
} infer_options;

/* Fills the defaults of `llmpi sample`: 200 tokens, temperature 0.8, top-k
 * 40, top-p 1, min-p 0, no repetition penalty (window 64), seed 1337, stop
 * at the tokenizer's <|endoftext|> and <|end|> (when it has one), slide 1
 * (the model always sees the last block_size ids, as a full forward would;
 * past the context each token then costs a prefill). */
void infer_options_default(infer_options *o, const infer_model *im);
/* Sets one option by name from text (the chat's /set, a server's fields):
 * temperature, top_k, top_p, min_p, repeat_penalty, repeat_last_n, seed,
 * max_tokens. -1 with one line on an unknown name or a bad value (o is then
 * unchanged). */
int infer_options_set(infer_options *o, const char *name, const char *value);

/* What one generation did. Times in seconds; prefill counts every id fed in
 * batched steps (the prompt, and again after each shift), decode the
 * one-token steps. */
typedef struct {
    size_t n_prompt;         /* ids of the context generation started from (after any cut
                              * to the context; chat: the whole conversation, of which
                              * only the ids not cached yet were fed: see n_prefill) */
    size_t n_generated;      /* accepted tokens (passed to the callback) */
    infer_finish finish;
    size_t n_prefill, n_decode;
    double prefill_s, decode_s;
    int n_shifts;            /* context shifts (drops and prefills) */
} infer_result;

/* One sequence's state: the KV cache, the ids it holds and the logits after
 * the last of them. One per conversation (or per server slot); many may share
 * one infer_model. */
typedef struct {
    infer_model *im;
    gpt_kv kv;
    int32_t *ids;            /* (block_size) the ids in the cache, ids[0..kv.n) */
    float *logits;           /* (V) after ids[kv.n - 1]; valid when kv.n > 0 */
    infer_sampler sampler;
    infer_result *res;       /* where feeding adds its time (may be NULL) */
} infer_ctx;

int infer_ctx_init(infer_ctx *c, infer_model *im);
void infer_ctx_free(infer_ctx *c);
/* Makes the cache hold exactly ids[0..n) (1 <= n <= block_size): keeps the
 * longest common prefix with what it holds and prefills the rest in batched
 * steps (at least the last id is fed again, for fresh logits). -1 with one
 * line on n out of range or an id outside the vocabulary. */
int infer_ctx_sync(infer_ctx *c, const int32_t *ids, size_t n);

/* Called when the cache is full and one more id must go in: removes ids
 * from ids[0..*n) (any ranges; *n becomes smaller), after which the rest is
 * prefilled again. Returns 0, 1 when nothing can be dropped (generation then
 * ends with finish LENGTH), -1 on error (one line). */
typedef int (*infer_shift_fn)(void *ctx, int32_t *ids, size_t *n);

/* Generates after the ids in c (its logits current): draws with o (one RNG
 * seeded once per call), stops on a stop id (not passed on, not fed), on a
 * stop string (text before it shown), at max_tokens or when on_text asks;
 * streams the text through on_text (may be NULL); feeds each accepted token
 * except the last one, shifting through shift (NULL: drop o->slide oldest ids)
 * when the cache is full. Accepted ids are appended to out (may be NULL);
 * res (may be NULL) receives the figures. 0, or -1 with one line. */
int infer_ctx_generate(infer_ctx *c, const infer_options *o, infer_shift_fn shift, void *shift_ctx,
                       infer_token_fn on_text, void *text_ctx, tok_ids *out, infer_result *res);

/* One shot: continues prompt[0..n_prompt) (ids of im's tokenizer; an empty
 * prompt starts a new document at end-of-text; a prompt longer than the
 * context is cut to its last block_size ids) in a fresh context. 0, or -1
 * with one line (an id outside the vocabulary, out of memory). */
int infer_generate(infer_model *im, const int32_t *prompt, size_t n_prompt, const infer_options *o,
                   infer_token_fn on_text, void *ctx, infer_result *res);

/* ---- chat (chat.c): a conversation in the `llmpi-chat-1` template ---- */

typedef struct infer_chat infer_chat;

typedef struct {
    long turns;              /* answered user messages since the last reset */
    long turns_dropped;      /* oldest turns dropped to make room */
    size_t context_used;     /* ids the conversation holds now */
    size_t context_size;     /* block_size */
    size_t prompt_tokens, generated_tokens;      /* totals since open */
    double prefill_tok_s, decode_tok_s;           /* over all answers since open */
    infer_result last;       /* the last answer */
} infer_chat_stats;

/* A conversation on im (whose tokenizer must have the chat specials) with an
 * optional system text (NULL or blank: none). NULL with one line otherwise. */
infer_chat *infer_chat_new(infer_model *im, const char *system);
void infer_chat_free(infer_chat *ch);
/* The options answers use (sample's defaults, but 512 tokens and stops at
 * <|end|> and <|endoftext|>); change them between answers. */
infer_options *infer_chat_options(infer_chat *ch);
/* Forgets the turns, keeps the system text. */
void infer_chat_reset(infer_chat *ch);
/* Replaces the system text (NULL or blank: none) and forgets the turns.
 * -1 with one line if it leaves too little room in the context. */
int infer_chat_set_system(infer_chat *ch, const char *system);
/* Answers one user message: renders it, drops the oldest whole turns (never
 * the system text) when the context would not leave room for an answer, and
 * generates, streaming through on_text. The answer (also a cancelled or
 * cut one) joins the conversation, closed by <|end|>. -1 with one line when
 * the message is blank or does not fit the context beside the system text
 * (the conversation is then unchanged). */
int infer_chat_send(infer_chat *ch, const char *user, size_t len, infer_token_fn on_text, void *ctx,
                    infer_result *res);
void infer_chat_get_stats(const infer_chat *ch, infer_chat_stats *st);
/* The conversation's ids as the model will see them next (system segment,
 * then whole turns); *n receives their count. Valid until the next call. */
const int32_t *infer_chat_context(const infer_chat *ch, size_t *n);

/* ---- samples during training (train_sample.c; train.sample_every) ---- */

typedef struct infer_train_sampler infer_train_sampler;

/* Prepares rank 0's samples of a training run: the tokenizer (the byte one
 * when tok_identity is TOK_BYTES_IDENTITY, else parsed from tok_json), the
 * prompt (a user message in the chat template when chat is set and the
 * tokenizer has the chat specials, else plain text; "" starts a new
 * document), max_tokens new tokens per sample with sample's default sampler
 * and seed, and path (RUN/samples.jsonl) opened for appending. m is only
 * read, at each sample, and must outlive the sampler. NULL with one line on
 * failure (a prompt longer than the context included). */
infer_train_sampler *infer_train_sampler_open(const gpt_model *m, const char *tok_identity, const char *tok_json,
                                              size_t tok_json_len, const char *prompt, int max_tokens, uint64_t seed,
                                              int chat, const char *path);
/* Draws one sample from the model's current weights, prints it (one line,
 * JSON-escaped) and appends {"step","prompt","text","tokens",
 * "finish_reason","seconds"} to samples.jsonl. Touches no state of the run:
 * training is bit for bit the same with or without it. 0, or -1 with one
 * line (out of memory); a failed append only warns, once. */
int infer_train_sample(infer_train_sampler *s, uint64_t step);
/* Frees the sampler (not the model); safe on NULL. */
void infer_train_sampler_close(infer_train_sampler *s);

#endif

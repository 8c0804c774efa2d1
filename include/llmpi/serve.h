/* serve.h: an OpenAI-compatible HTTP server for one model (`llmpi serve`).
 *
 * serve_run answers POST /v1/chat/completions, POST /v1/completions,
 * GET /v1/models and GET /health on libmicrohttpd (one thread per
 * connection, so /health is never behind a generation). Generation runs on
 * `parallel` slots, each a worker thread with its own infer_ctx; requests
 * wait in one FIFO queue and are taken in arrival order. A request's text is
 * what `llmpi sample` (completions) or `llmpi sample --chat` / `llmpi chat`
 * (a first turn) would give for the same prompt, seed and settings: every
 * request starts from an empty cache. Errors are OpenAI-style objects
 * {"error": {"message", "type", "param", "code"}} with 400 / 401 / 404 /
 * 405 / 413 / 503.
 */
#ifndef LLMPI_SERVE_H
#define LLMPI_SERVE_H

#include <signal.h>
#include <stddef.h>

#include "llmpi/infer.h"
#include "llmpi/sft.h"

typedef struct {
    const char *host;        /* numeric IPv4/IPv6 address to bind ("127.0.0.1") */
    int port;                /* 0: any free port (reported through on_ready) */
    const char *api_key;     /* NULL: open; else "Authorization: Bearer KEY" is required (not for /health) */
    const char *model_name;  /* the id /v1/models lists and requests may name */
    int parallel;            /* generation slots (>= 1) */
    int threads;             /* OpenMP threads per slot (>= 1) */
    size_t max_body;         /* request bodies above this many bytes: 413 */
    int max_queue;           /* requests waiting beyond this many: 503 */
    infer_options defaults;  /* sampler settings, max_tokens and seed of requests that do not set them */
} serve_config;

/* Fills the defaults: 127.0.0.1:8080, no key, model "llmpi", 1 slot, all
 * cores, 1 MiB bodies, 64 waiting, sample's options (infer_options_default). */
void serve_config_default(serve_config *cfg, const infer_model *im);

/* Serves im until *stop becomes non-zero (a signal handler sets it), then
 * stops accepting, lets running requests finish for up to 2 s, cancels the
 * rest and returns 0. on_ready (may be NULL) is called once the socket
 * listens, with the port. -1 with one line when the server cannot start
 * (bad address, port in use, out of memory). */
int serve_run(infer_model *im, const serve_config *cfg, const volatile sig_atomic_t *stop,
              void (*on_ready)(void *ctx, const char *host, int port), void *ready_ctx);

/* ---- request parsing (pure: no HTTP, no threads; fuzzed by tests/fuzz/fuzz_http.c) ---- */

enum { SERVE_CHAT, SERVE_COMPLETION };   /* the two POST endpoints */

/* What a request body is checked against: the server's settings, the
 * model's tokenizer and context. */
typedef struct {
    const serve_config *cfg;  /* model_name and defaults (kept by pointer) */
    const tokenizer *tok;
    size_t context;           /* the model's block size */
    int has_chat;             /* the tokenizer has the chat specials (tpl is set) */
    sft_template tpl;
} serve_parser;

/* A checked request, ready to generate. */
typedef struct {
    int kind;                      /* SERVE_CHAT or SERVE_COMPLETION */
    int stream, include_usage;
    tok_ids prompt;                /* 1..context tokens (a chat prompt leaves room for one more) */
    infer_options opt;             /* cfg->defaults with the request's fields; stop_strings point into stops */
    char *stops[INFER_MAX_STOP];   /* owned copies */
} serve_request;

/* An OpenAI error for the client: {"error": {message, type, param, code}}. */
typedef struct {
    unsigned status;               /* 400, or 500 (out of memory, the encoder failed) */
    const char *param, *code;      /* static strings, or NULL (JSON null) */
    char message[512];             /* valid UTF-8 (a cut or ill-formed byte is a '?') */
} serve_error;

/* Fills p for a model with tokenizer tok and the given context; chat
 * requests are refused (400) unless tok has the chat specials. */
void serve_parser_init(serve_parser *p, const serve_config *cfg, const tokenizer *tok, size_t context);

/* Parses and checks the JSON body[0..n) of a kind request (chat: messages
 * rendered with the training template; completion: prompt encoded, empty
 * meaning end-of-text). 0 with *out filled (free it with
 * serve_request_free), or -1 with *err set and *out empty. Checks, in this
 * order: JSON, an object, model, the sampler/length/stream/stop fields,
 * messages or prompt, the context. Prints nothing itself. */
int serve_parse_request(const serve_parser *p, int kind, const char *body, size_t n, serve_request *out,
                        serve_error *err);

/* Frees what a parsed request owns; leaves it empty (safe to call twice). */
void serve_request_free(serve_request *r);

#endif

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

#endif

/* serve.c: `llmpi serve`, an OpenAI-compatible HTTP server on libmicrohttpd.
 *
 * Threads: MHD runs one thread per connection (so /health and /v1/models are
 * answered while every slot generates); `parallel` slots each own an
 * infer_ctx and take jobs from one FIFO queue. Slot 0 runs on the thread
 * that called serve_run (the one whose OpenMP team loaded the model), the
 * others on threads of their own, and a watcher thread waits for the stop
 * flag: a second OpenMP team on a fully used machine makes libgomp throttle
 * its spin waits for every team, and the decode loop then sleeps and wakes
 * at each of its many parallel regions (measured on 2 cores, small shape,
 * 2 threads: 200 tok/s on a worker thread against 700 in `sample`). A connection
 * thread parses and checks the request (all 4xx are decided before a job is
 * queued: JSON, types, model, prompt length, by serve_parse_request, which
 * knows nothing of MHD or threads and so is fuzzed alone), queues a job and
 * then either waits for it (plain response) or hands it to an SSE content reader
 * (stream: true) that sends each piece of text as a chunk.
 *
 * Invariants:
 * - One mutex (srv->mu) guards the queue, every job's state and text, and
 *   the reference counts. A job has two references while queued or running:
 *   the worker's and the connection's; whoever drops the last frees it.
 * - A job's text only grows while it runs, except that the stream reader
 *   takes (empties) it as it turns it into chunks.
 * - The connection side sets job->cancel when its client is gone (MHD ends
 *   the response: free callback / completed callback, or the waiter sees
 *   the socket hang up); the worker's text callback then stops generation
 *   (finish CANCEL) within one token, so the slot is free again.
 * - Every job starts from an empty cache and draws with its own seed, so the
 *   text of a request depends only on the request and the server defaults
 *   (not on what ran before on the slot): the same as `llmpi sample`.
 * - Chat messages are rendered by sft_render (the training template), as
 *   chat.c does; the server never drops turns (the client owns the
 *   history): a prompt that leaves no room for an answer is a 400, and a
 *   full context ends the answer with finish "length". Completions slide the
 *   context like `llmpi sample` (infer_options.slide).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "llmpi/serve.h"
#include "llmpi/sft.h"

enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED };

typedef struct serve_job {
    serve_request req;            /* owned: prompt, options, stop strings */
    char id[48];
    long long created;
    /* guarded by srv->mu */
    int state, cancel, refs;
    tok_bytes text;               /* everything shown so far */
    infer_result res;
    pthread_cond_t changed;
    struct serve_job *next;
} serve_job;

typedef struct {
    infer_model *im;
    const serve_config *cfg;
    serve_parser parser;          /* checks request bodies (serve_parse_request) */
    pthread_mutex_t mu;
    pthread_cond_t work;          /* a job was queued, or stopping */
    serve_job *head, *tail;
    int queued, running, stopping, cancel_all;
    int answering;                /* jobs a connection still holds (its answer not yet sent) */
    unsigned long long next_id;
    pthread_t *workers;
    int n_workers;              /* slot threads started (slots 1..parallel-1) */
} serve_server;

/* Per-connection request state (MHD's con_cls). */
typedef struct {
    tok_bytes body;
    int too_large;
    serve_job *job;               /* the job this connection waits for (plain responses) */
} serve_req;

/* ---- jobs ---- */

/* Drops one reference (srv->mu held); frees the job with the last. */
static void job_unref(serve_job *j) {
    if (--j->refs > 0) return;
    serve_request_free(&j->req);
    tok_bytes_free(&j->text);
    pthread_cond_destroy(&j->changed);
    free(j);
}


/* The worker's text callback: appends to the job's text, wakes the
 * connection; non-zero (stop) once the client is gone or the server stops. */
static int on_text(void *ctx, int32_t id, const char *text, size_t len) {
    (void)id;
    void **pair = ctx;
    serve_server *srv = pair[0];
    serve_job *j = pair[1];
    pthread_mutex_lock(&srv->mu);
    int stop = j->cancel || srv->cancel_all;
    if (!stop && len && tok_bytes_append(&j->text, text, len) != 0) stop = 1;
    pthread_cond_broadcast(&j->changed);
    pthread_mutex_unlock(&srv->mu);
    return stop;
}

/* The chat shift: the server never drops turns, so a full context ends the
 * answer (finish "length"). */
static int no_shift(void *ctx, int32_t *ids, size_t *n) {
    (void)ctx; (void)ids; (void)n;
    return 1;
}

/* Runs one job on slot c; 0, or -1 (one line printed). */
static int run_job(serve_server *srv, infer_ctx *c, serve_job *j, infer_result *res) {
    memset(res, 0, sizeof *res);
    gpt_kv_truncate(&c->kv, 0);   /* an empty cache: the text depends on the request only */
    c->res = res;
    int rc = infer_ctx_sync(c, j->req.prompt.ids, j->req.prompt.n);
    c->res = NULL;
    res->n_prompt = j->req.prompt.n;
    if (rc != 0) return -1;
    void *pair[2] = {srv, j};
    return infer_ctx_generate(c, &j->req.opt, j->req.kind == SERVE_CHAT ? no_shift : NULL, NULL, on_text, pair, NULL,
                              res);
}

typedef struct {
    serve_server *srv;
    int slot;
} worker_arg;

/* A slot: takes jobs in arrival order until the server stops. */
static void *worker_main(void *arg) {
    serve_server *srv = ((worker_arg *)arg)->srv;
    free(arg);
    ll_set_threads(srv->cfg->threads);
    infer_ctx c;
    int ok = infer_ctx_init(&c, srv->im) == 0;
    for (;;) {
        pthread_mutex_lock(&srv->mu);
        while (!srv->head && !srv->stopping) pthread_cond_wait(&srv->work, &srv->mu);
        serve_job *j = srv->head;
        if (!j) { pthread_mutex_unlock(&srv->mu); break; }   /* stopping, nothing left */
        srv->head = j->next;
        if (!srv->head) srv->tail = NULL;
        srv->queued--;
        int skip = j->cancel || srv->cancel_all;
        j->state = JOB_RUNNING;
        srv->running++;
        pthread_mutex_unlock(&srv->mu);

        infer_result res;
        memset(&res, 0, sizeof res);
        int rc = 0;
        if (skip) res.finish = INFER_FINISH_CANCEL;
        else if (!ok) rc = -1;
        else rc = run_job(srv, &c, j, &res);

        pthread_mutex_lock(&srv->mu);
        j->res = res;
        j->state = rc == 0 ? JOB_DONE : JOB_FAILED;
        srv->running--;
        pthread_cond_broadcast(&j->changed);
        pthread_cond_broadcast(&srv->work);   /* serve_run's shutdown waits on it */
        job_unref(j);
        pthread_mutex_unlock(&srv->mu);
    }
    if (ok) infer_ctx_free(&c);
    return NULL;
}

/* Queues j (srv->mu not held). 0, 1 when the queue is full, 2 when the
 * server is stopping. */
static int enqueue(serve_server *srv, serve_job *j) {
    pthread_mutex_lock(&srv->mu);
    if (srv->stopping || srv->queued >= srv->cfg->max_queue) {
        int why = srv->stopping ? 2 : 1;
        pthread_mutex_unlock(&srv->mu);
        return why;
    }
    j->refs = 2;
    j->state = JOB_QUEUED;
    snprintf(j->id, sizeof j->id, "%s-%llx%llx", j->req.kind == SERVE_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long long)time(NULL), ++srv->next_id);
    j->created = (long long)time(NULL);
    if (srv->tail) srv->tail->next = j;
    else srv->head = j;
    srv->tail = j;
    srv->queued++;
    srv->answering++;
    pthread_cond_signal(&srv->work);
    pthread_mutex_unlock(&srv->mu);
    return 0;
}

/* 1 when the peer of socket fd has closed or reset the connection. */
static int peer_gone(int fd) {
    if (fd < 0) return 0;
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return 0;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

/* ---- JSON out ---- */

/* Queues a JSON response (steals body). */
static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned status, json_t *body) {
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!s) return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
    if (!r) { free(s); return MHD_NO; }
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (status == MHD_HTTP_UNAUTHORIZED) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE) MHD_add_response_header(r, "Retry-After", "1");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, surrogates or code points above U+10FFFF), 0 if there is none;
 * stops at a NUL (never a continuation byte). */
static int utf8_seq_len(const unsigned char *p) {
    unsigned c = p[0];
    if (c < 0x80) return 1;
    int n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (!n) return 0;
    unsigned lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
    unsigned hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
    if (p[1] < lo || p[1] > hi) return 0;
    for (int k = 2; k < n; k++)
        if (p[k] < 0x80 || p[k] > 0xBF) return 0;
    return n;
}

/* Makes the NUL-terminated s valid UTF-8 in place: a byte that starts no
 * well-formed sequence becomes '?'. An error message goes out as a JSON
 * string, which jansson refuses otherwise (the client then got no answer):
 * a client's bytes may sit in it (a URL), or be cut inside a character by
 * the message's size (a long model name). */
static void utf8_repair(char *s) {
    for (unsigned char *p = (unsigned char *)s; *p;) {
        int n = utf8_seq_len(p);
        if (n) p += n;
        else *p++ = '?';
    }
}

/* An OpenAI-style error: {"error": {message, type, param, code}}. */
static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status, const char *param,
                                  const char *code, const char *fmt, ...) LL_PRINTF(5, 6);
static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status, const char *param,
                                  const char *code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    utf8_repair(msg);
    const char *type = status >= 500 ? "server_error"
                       : status == MHD_HTTP_UNAUTHORIZED ? "authentication_error"
                       : status == MHD_HTTP_NOT_FOUND ? "not_found_error"
                                                      : "invalid_request_error";
    json_t *e = json_pack("{s:{s:s, s:s, s:o, s:o}}", "error", "message", msg, "type", type, "param",
                          param ? json_string(param) : json_null(), "code", code ? json_string(code) : json_null());
    return send_json(conn, status, e);
}

/* A JSON string of text[0..n) with every ill-formed byte as U+FFFD. */
static json_t *json_text(const char *text, size_t n) {
    tok_bytes clean = {0};
    if (infer_utf8_sanitize(text ? text : "", n, &clean) != 0) return NULL;
    json_t *s = json_stringn(clean.data ? clean.data : "", clean.n);
    tok_bytes_free(&clean);
    return s;
}

/* "stop" or "length" (a cancelled job never reaches a client). */
static const char *finish_reason(const infer_result *r) {
    return r->finish == INFER_FINISH_STOP ? "stop" : "length";
}

/* The usage object: prompt, completion and total tokens. */
static json_t *usage_json(const infer_result *r) {
    return json_pack("{s:I, s:I, s:I}", "prompt_tokens", (json_int_t)r->n_prompt, "completion_tokens",
                     (json_int_t)r->n_generated, "total_tokens", (json_int_t)(r->n_prompt + r->n_generated));
}

/* The whole response of a finished job (stream: false). */
static json_t *completion_json(const serve_server *srv, const serve_job *j) {
    json_t *text = json_text(j->text.data, j->text.n);
    if (!text) return NULL;
    json_t *choice = j->req.kind == SERVE_CHAT
                         ? json_pack("{s:i, s:{s:s, s:o}, s:n, s:s}", "index", 0, "message", "role", "assistant",
                                     "content", text, "logprobs", "finish_reason", finish_reason(&j->res))
                         : json_pack("{s:i, s:o, s:n, s:s}", "index", 0, "text", text, "logprobs", "finish_reason",
                                     finish_reason(&j->res));
    return json_pack("{s:s, s:s, s:I, s:s, s:[o], s:o}", "id", j->id, "object",
                     j->req.kind == SERVE_CHAT ? "chat.completion" : "text_completion", "created", (json_int_t)j->created,
                     "model", srv->cfg->model_name, "choices", choice, "usage", usage_json(&j->res));
}

/* One stream chunk: delta (chat) or text (completion); finish NULL: null. */
static json_t *chunk_json(const serve_server *srv, const serve_job *j, json_t *delta_or_text, const char *finish) {
    json_t *fin = finish ? json_string(finish) : json_null();
    json_t *choice = j->req.kind == SERVE_CHAT
                         ? json_pack("{s:i, s:o, s:n, s:o}", "index", 0, "delta", delta_or_text, "logprobs",
                                     "finish_reason", fin)
                         : json_pack("{s:i, s:o, s:n, s:o}", "index", 0, "text", delta_or_text, "logprobs",
                                     "finish_reason", fin);
    return json_pack("{s:s, s:s, s:I, s:s, s:[o]}", "id", j->id, "object",
                     j->req.kind == SERVE_CHAT ? "chat.completion.chunk" : "text_completion", "created",
                     (json_int_t)j->created, "model", srv->cfg->model_name, "choices", choice);
}

/* Appends "data: JSON\n\n" (steals o). -1 on failure. */
static int sse_event(tok_bytes *out, json_t *o) {
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s) return -1;
    int rc = tok_bytes_append(out, "data: ", 6) | tok_bytes_append(out, s, strlen(s)) | tok_bytes_append(out, "\n\n", 2);
    free(s);
    return rc ? -1 : 0;
}

/* ---- streaming (Server-Sent Events) ---- */

typedef struct {
    serve_server *srv;
    serve_job *job;
    int fd;
    int phase;                    /* 0: role chunk next, 1: text, 2: all queued */
    size_t sent;                  /* bytes of job->text turned into chunks */
    tok_bytes out;
    size_t out_pos;
    double last_text;             /* ll_now() when the last text chunk was built; 0: none yet */
} sse_state;

/* Text chunks go out at most every SSE_GAP_S; tokens that come faster share
 * a chunk (the first goes out at once). Each chunk wakes this thread and the
 * client, and on a machine whose cores all generate that time is taken from
 * the generation. */
#define SSE_GAP_S 0.02

/* Builds the next events into st->out (waiting for text); -1 when the
 * client is gone or a chunk cannot be built. */
static int sse_fill(sse_state *st) {
    serve_server *srv = st->srv;
    serve_job *j = st->job;
    st->out.n = 0;
    st->out_pos = 0;
    if (st->phase == 0) {
        st->phase = 1;
        if (j->req.kind == SERVE_CHAT)
            return sse_event(&st->out, chunk_json(srv, j, json_pack("{s:s, s:s}", "role", "assistant", "content", ""),
                                                  NULL));
    }
    double since = ll_now() - st->last_text;
    if (st->last_text > 0 && since < SSE_GAP_S) {
        struct timespec gap = {0, (long)((SSE_GAP_S - since) * 1e9)};
        nanosleep(&gap, NULL);
    }
    pthread_mutex_lock(&srv->mu);
    while (j->text.n == st->sent && j->state < JOB_DONE) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 200 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000L) { until.tv_sec++; until.tv_nsec -= 1000000000L; }
        pthread_cond_timedwait(&j->changed, &srv->mu, &until);
        if (j->text.n == st->sent && j->state < JOB_DONE && peer_gone(st->fd)) {
            j->cancel = 1;
            pthread_mutex_unlock(&srv->mu);
            return -1;
        }
    }
    json_t *piece = NULL;
    if (j->text.n > st->sent) piece = json_text(j->text.data + st->sent, j->text.n - st->sent);
    j->text.n = st->sent = 0;   /* sent: a long stream keeps no more than one chunk's text */
    int state = j->state;
    infer_result res = j->res;
    pthread_mutex_unlock(&srv->mu);
    if (piece) {
        st->last_text = ll_now();
        json_t *d = j->req.kind == SERVE_CHAT ? json_pack("{s:o}", "content", piece) : piece;
        if (sse_event(&st->out, chunk_json(srv, j, d, NULL)) != 0) return -1;
    }
    if (state < JOB_DONE) return 0;
    st->phase = 2;
    if (state == JOB_FAILED || res.finish == INFER_FINISH_CANCEL) {
        json_t *e = json_pack("{s:{s:s, s:s, s:n, s:n}}", "error", "message",
                              state == JOB_FAILED ? "generation failed (see the server's log)"
                                                  : "the server is shutting down",
                              "type", "server_error", "param", "code");
        if (sse_event(&st->out, e) != 0) return -1;
    } else {
        json_t *last = j->req.kind == SERVE_CHAT ? json_object() : json_string("");
        if (sse_event(&st->out, chunk_json(srv, j, last, finish_reason(&res))) != 0) return -1;
        if (j->req.include_usage) {
            json_t *u = json_pack("{s:s, s:s, s:I, s:s, s:[], s:o}", "id", j->id, "object",
                                  j->req.kind == SERVE_CHAT ? "chat.completion.chunk" : "text_completion", "created",
                                  (json_int_t)j->created, "model", srv->cfg->model_name, "choices", "usage",
                                  usage_json(&res));
            if (sse_event(&st->out, u) != 0) return -1;
        }
    }
    return tok_bytes_append(&st->out, "data: [DONE]\n\n", 14);
}

/* MHD's content reader: copies prepared events, preparing more as needed. */
static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    sse_state *st = cls;
    while (st->out_pos == st->out.n) {
        if (st->phase == 2) return MHD_CONTENT_READER_END_OF_STREAM;
        if (sse_fill(st) != 0) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = st->out.n - st->out_pos;
    if (n > max) n = max;
    memcpy(buf, st->out.data + st->out_pos, n);
    st->out_pos += n;
    return (ssize_t)n;
}

/* MHD frees the response (sent, or the client is gone): the job stops. */
static void sse_free(void *cls) {
    sse_state *st = cls;
    pthread_mutex_lock(&st->srv->mu);
    st->job->cancel = 1;
    job_unref(st->job);
    st->srv->answering--;
    pthread_mutex_unlock(&st->srv->mu);
    tok_bytes_free(&st->out);
    free(st);
}

/* ---- requests (pure: no MHD, no threads; serve_parse_request) ---- */

/* Fills e with an OpenAI error (param and code static or NULL; the message
 * made valid UTF-8 by utf8_repair); returns -1. */
static int parse_fail(serve_error *e, unsigned status, const char *param, const char *code, const char *fmt, ...)
    LL_PRINTF(5, 6);
static int parse_fail(serve_error *e, unsigned status, const char *param, const char *code, const char *fmt, ...) {
    e->status = status;
    e->param = param;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    utf8_repair(e->message);
    return -1;
}

/* Reads the common fields into r->opt; -1 with *e on a bad one. */
static int read_options(const serve_parser *p, serve_request *r, json_t *req, serve_error *e) {
    r->opt = p->cfg->defaults;
    r->opt.n_stop_strings = 0;
    static const struct { const char *name; int integer; double lo, hi; } fields[] = {
        {"max_tokens", 1, 1, 1 << 24},      {"max_completion_tokens", 1, 1, 1 << 24},
        {"temperature", 0, 0, 100},         {"top_p", 0, 0, 1},
        {"top_k", 1, 0, 1 << 24},           {"min_p", 0, 0, 1},
        {"repeat_penalty", 0, 0, 100},      {"seed", 1, 0, 4611686018427387904.0},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        json_t *v = json_object_get(req, fields[i].name);
        if (!v || json_is_null(v)) continue;
        double x = json_number_value(v);
        int ok = fields[i].integer ? json_is_integer(v) : json_is_number(v);
        if (!ok || !isfinite(x) || x < fields[i].lo || x > fields[i].hi ||
            (!strcmp(fields[i].name, "top_p") && x <= 0))
            return parse_fail(e, MHD_HTTP_BAD_REQUEST, fields[i].name, "invalid_value",
                              "'%s' must be %s in [%.9g, %.9g]%s", fields[i].name,
                              fields[i].integer ? "an integer" : "a number", fields[i].lo, fields[i].hi,
                              !strcmp(fields[i].name, "top_p") ? " and > 0" : "");
        const char *n = fields[i].name;
        if (!strcmp(n, "max_tokens") || !strcmp(n, "max_completion_tokens")) r->opt.max_tokens = (long)x;
        else if (!strcmp(n, "temperature")) r->opt.sampling.temperature = (float)x;
        else if (!strcmp(n, "top_p")) r->opt.sampling.top_p = (float)x;
        else if (!strcmp(n, "top_k")) r->opt.sampling.top_k = (int)x;
        else if (!strcmp(n, "min_p")) r->opt.sampling.min_p = (float)x;
        else if (!strcmp(n, "repeat_penalty")) r->opt.sampling.repeat_penalty = (float)x;
        else r->opt.seed = (uint64_t)json_integer_value(v);
    }
    json_t *n = json_object_get(req, "n");
    if (n && !json_is_null(n) && (!json_is_integer(n) || json_integer_value(n) != 1))
        return parse_fail(e, MHD_HTTP_BAD_REQUEST, "n", "invalid_value", "only n = 1 is supported");
    json_t *stream = json_object_get(req, "stream");
    if (stream && !json_is_null(stream) && !json_is_boolean(stream))
        return parse_fail(e, MHD_HTTP_BAD_REQUEST, "stream", "invalid_type", "'stream' must be a boolean");
    r->stream = stream && json_is_true(stream);
    json_t *so = json_object_get(req, "stream_options");
    r->include_usage = so && json_is_object(so) && json_is_true(json_object_get(so, "include_usage"));
    json_t *stop = json_object_get(req, "stop");
    if (stop && !json_is_null(stop)) {
        size_t count = json_is_array(stop) ? json_array_size(stop) : 1;
        int ok = json_is_string(stop) || (json_is_array(stop) && count <= INFER_MAX_STOP);
        for (size_t i = 0; ok && json_is_array(stop) && i < count; i++) ok = json_is_string(json_array_get(stop, i));
        if (!ok)
            return parse_fail(e, MHD_HTTP_BAD_REQUEST, "stop", "invalid_type",
                              "'stop' must be a string or an array of at most %d strings", INFER_MAX_STOP);
        for (size_t i = 0; i < count; i++) {
            json_t *s = json_is_array(stop) ? json_array_get(stop, i) : stop;
            if (json_string_length(s) == 0) continue;
            char *copy = ll_malloc(json_string_length(s) + 1);
            if (!copy) return parse_fail(e, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL, "out of memory");
            memcpy(copy, json_string_value(s), json_string_length(s) + 1);
            r->stops[r->opt.n_stop_strings] = copy;
            r->opt.stop_strings[r->opt.n_stop_strings++] = copy;
        }
    }
    if (infer_sampling_check(&r->opt.sampling) != 0)
        return parse_fail(e, MHD_HTTP_BAD_REQUEST, NULL, "invalid_value", "invalid sampler settings");
    return 0;
}

/* The text of a message's content: a string (null: empty), or an array of
 * text parts, joined. NULL when it is neither (or on out of memory); the
 * result is malloc'ed and its length goes to *len. */
static char *content_text(json_t *content, size_t *len) {
    tok_bytes b = {0};
    if (tok_bytes_append(&b, "", 0) != 0) return NULL;
    if (json_is_string(content)) {
        if (tok_bytes_append(&b, json_string_value(content), json_string_length(content)) != 0) goto fail;
    } else if (json_is_array(content)) {
        size_t i;
        json_t *part;
        json_array_foreach(content, i, part) {
            json_t *t = json_object_get(part, "text");
            if (!json_is_object(part) || !json_is_string(json_object_get(part, "type")) ||
                strcmp(json_string_value(json_object_get(part, "type")), "text") != 0 || !json_is_string(t))
                goto fail;
            if (tok_bytes_append(&b, json_string_value(t), json_string_length(t)) != 0) goto fail;
        }
    } else if (!json_is_null(content)) {
        goto fail;
    }
    *len = b.n;
    return b.data;
fail:
    tok_bytes_free(&b);
    return NULL;
}

/* Renders messages (system..., then (user, assistant)*, user) into
 * r->prompt as `llmpi chat` would see them; -1 with *e on bad messages. */
static int render_messages(const serve_parser *p, serve_request *r, json_t *msgs, serve_error *e) {
    if (!p->has_chat)
        return parse_fail(e, MHD_HTTP_BAD_REQUEST, "messages", "chat_not_supported",
                          "this model's tokenizer has no chat template specials: use /v1/completions");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return parse_fail(e, MHD_HTTP_BAD_REQUEST, "messages", "invalid_type", "'messages' must be a non-empty array");
    sft_conv conv;
    sft_conv_init(&conv);
    sft_rendered out = {0};
    tok_bytes system = {0};
    char *user = NULL, *text = NULL;
    size_t user_len = 0, len = 0, i;
    int rc = -1, turns = 0;
    const char *problem = NULL;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        json_t *role = json_object_get(m, "role");
        if (!json_is_object(m) || !json_is_string(role)) { problem = "each message needs a string 'role'"; break; }
        free(text);
        text = content_text(json_object_get(m, "content"), &len);
        if (!text) { problem = "a message's 'content' must be a string or an array of text parts"; break; }
        const char *rn = json_string_value(role);
        if (!strcmp(rn, "system") || !strcmp(rn, "developer")) {
            if (user || turns) { problem = "system messages must come before the conversation"; break; }
            if ((system.n && tok_bytes_append(&system, "\n", 1) != 0) || tok_bytes_append(&system, text, len) != 0) {
                problem = "out of memory";
                break;
            }
        } else if (!strcmp(rn, "user")) {
            if (user) { problem = "two user messages in a row (user and assistant must alternate)"; break; }
            if (sft_text_blank(text, len)) { problem = "a user message is empty"; break; }
            user = text;
            user_len = len;
            text = NULL;
        } else if (!strcmp(rn, "assistant")) {
            if (!user) { problem = "an assistant message must answer a user message"; break; }
            if (sft_conv_add_turn(&conv, user, user_len, text, len) != 0) { problem = "out of memory"; break; }
            free(user);
            user = NULL;
            turns++;
        } else {
            problem = "unknown role (system, developer, user, assistant)";
            break;
        }
    }
    if (!problem && !user) problem = "the last message must be a user message";
    if (problem) {
        parse_fail(e, MHD_HTTP_BAD_REQUEST, "messages", "invalid_value", "%s", problem);
        goto done;
    }
    if (system.n && !sft_text_blank(system.data, system.n) &&
        sft_conv_set_system(&conv, system.data, system.n) != 0)
        goto oom;
    if (sft_conv_add_turn(&conv, user, user_len, "", 0) != 0 || sft_render(&p->tpl, &conv, NULL, &out) != 0)
        goto oom;
    /* without what closes the conversation: the empty answer's <|end|> and <|endoftext|> */
    size_t n = out.ids.n - 2, cap = p->context;
    if (n + 1 > cap) {
        parse_fail(e, MHD_HTTP_BAD_REQUEST, "messages", "context_length_exceeded",
                   "the messages are %zu tokens; the model's context of %zu leaves no room for an answer", n, cap);
        goto done;
    }
    r->prompt.n = 0;
    for (size_t k = 0; k < n; k++) {
        if (r->prompt.n == r->prompt.cap) {
            size_t c2 = r->prompt.cap ? 2 * r->prompt.cap : 64;
            int32_t *g = ll_realloc(r->prompt.ids, c2 * sizeof *g);
            if (!g) goto oom;
            r->prompt.ids = g;
            r->prompt.cap = c2;
        }
        r->prompt.ids[r->prompt.n++] = out.ids.ids[k];
    }
    rc = 0;
    goto done;
oom:
    parse_fail(e, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL, "could not render the messages");
done:
    free(text);
    free(user);
    tok_bytes_free(&system);
    sft_rendered_free(&out);
    sft_conv_free(&conv);
    return rc;
}

/* The prompt of a completion: a string (empty: a new document). */
static int read_prompt(const serve_parser *p, serve_request *r, json_t *prompt, serve_error *e) {
    if (json_is_array(prompt) && json_array_size(prompt) == 1) prompt = json_array_get(prompt, 0);
    if (!json_is_string(prompt))
        return parse_fail(e, MHD_HTTP_BAD_REQUEST, "prompt", "invalid_type", "'prompt' must be a string");
    if (tok_encode(p->tok, json_string_value(prompt), json_string_length(prompt), 0, &r->prompt) != 0)
        return parse_fail(e, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL, "could not encode the prompt");
    size_t cap = p->context;
    if (r->prompt.n > cap)
        return parse_fail(e, MHD_HTTP_BAD_REQUEST, "prompt", "context_length_exceeded",
                          "the prompt is %zu tokens, longer than the model's context of %zu", r->prompt.n, cap);
    if (r->prompt.n == 0) {   /* as infer_generate: a new document starts after end-of-text */
        tok_ids one = {0};
        one.ids = ll_malloc(sizeof *one.ids);
        if (!one.ids) return parse_fail(e, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL, "out of memory");
        one.ids[0] = tok_eot_id(p->tok);
        one.n = one.cap = 1;
        tok_ids_free(&r->prompt);
        r->prompt = one;
    }
    return 0;
}

/* See serve.h. */
void serve_parser_init(serve_parser *p, const serve_config *cfg, const tokenizer *tok, size_t context) {
    memset(p, 0, sizeof *p);
    p->cfg = cfg;
    p->tok = tok;
    p->context = context;
    p->has_chat = tok_special_id(tok, TOK_END) >= 0 && tok_special_id(tok, TOK_USER) >= 0;
    if (p->has_chat && sft_template_init(&p->tpl, tok) != 0) p->has_chat = 0;
}

/* See serve.h. */
void serve_request_free(serve_request *r) {
    tok_ids_free(&r->prompt);
    for (int i = 0; i < INFER_MAX_STOP; i++) free(r->stops[i]);
    memset(r, 0, sizeof *r);
}

/* See serve.h. */
int serve_parse_request(const serve_parser *p, int kind, const char *body, size_t n, serve_request *out,
                        serve_error *err) {
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    out->kind = kind;
    json_error_t jerr;
    json_t *req = json_loadb(body ? body : "", n, 0, &jerr);
    if (!req) return parse_fail(err, MHD_HTTP_BAD_REQUEST, NULL, "invalid_json", "malformed JSON: %s", jerr.text);
    int rc = -1;
    if (!json_is_object(req)) {
        parse_fail(err, MHD_HTTP_BAD_REQUEST, NULL, "invalid_type", "the body must be a JSON object");
        goto done;
    }
    json_t *model = json_object_get(req, "model");
    if (model && !json_is_null(model) &&
        (!json_is_string(model) || strcmp(json_string_value(model), p->cfg->model_name) != 0)) {
        parse_fail(err, MHD_HTTP_BAD_REQUEST, "model", "model_not_found",
                   "the model '%s' does not exist (this server has '%s')",
                   json_is_string(model) ? json_string_value(model) : "?", p->cfg->model_name);
        goto done;
    }
    if (read_options(p, out, req, err) != 0) goto done;
    if (kind == SERVE_CHAT) {
        json_t *msgs = json_object_get(req, "messages");
        if (!msgs) {
            parse_fail(err, MHD_HTTP_BAD_REQUEST, "messages", "missing", "'messages' is required");
            goto done;
        }
        if (render_messages(p, out, msgs, err) != 0) goto done;
    } else {
        json_t *prompt = json_object_get(req, "prompt");
        if (!prompt) {
            parse_fail(err, MHD_HTTP_BAD_REQUEST, "prompt", "missing", "'prompt' is required");
            goto done;
        }
        if (read_prompt(p, out, prompt, err) != 0) goto done;
    }
    rc = 0;
done:
    json_decref(req);
    if (rc != 0) {
        serve_request_free(out);
        out->kind = kind;
    }
    return rc;
}

/* Waits for a plain (not streamed) job and sends its response. */
static enum MHD_Result answer_plain(serve_server *srv, serve_req *rq, struct MHD_Connection *conn) {
    serve_job *j = rq->job;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    int fd = ci ? ci->connect_fd : -1;
    pthread_mutex_lock(&srv->mu);
    while (j->state < JOB_DONE) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 200 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000L) { until.tv_sec++; until.tv_nsec -= 1000000000L; }
        pthread_cond_timedwait(&j->changed, &srv->mu, &until);
        if (j->state < JOB_DONE && !j->cancel && peer_gone(fd)) j->cancel = 1;   /* the worker stops; we wait */
    }
    int state = j->state, cancelled = j->res.finish == INFER_FINISH_CANCEL;
    pthread_mutex_unlock(&srv->mu);
    if (state == JOB_FAILED)
        return send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL, "generation failed (see the server's log)");
    if (cancelled) return send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, "cancelled", "the request was cancelled");
    json_t *o = completion_json(srv, j);
    if (!o) return send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL, "could not build the response");
    return send_json(conn, MHD_HTTP_OK, o);
}

/* Handles a complete POST body for a completion endpoint: every 4xx comes
 * from serve_parse_request, before a job exists. */
static enum MHD_Result handle_completion(serve_server *srv, serve_req *rq, struct MHD_Connection *conn, int kind) {
    serve_request req;
    serve_error err;
    if (serve_parse_request(&srv->parser, kind, rq->body.data, rq->body.n, &req, &err) != 0)
        return send_error(conn, err.status, err.param, err.code, "%s", err.message);
    serve_job *j = ll_calloc(1, sizeof *j);
    if (!j) { serve_request_free(&req); return send_error(conn, 500, NULL, NULL, "out of memory"); }
    pthread_cond_init(&j->changed, NULL);
    j->refs = 1;
    j->req = req;   /* the job owns the prompt and the stop strings now */
    enum MHD_Result ret = MHD_NO;
    int refused = enqueue(srv, j);
    if (refused) {
        ret = send_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, "server_busy",
                         refused == 2 ? "the server is shutting down" : "too many requests are waiting");
        goto refuse;
    }
    if (!j->req.stream) {
        rq->job = j;   /* the completed callback drops the connection's reference */
        return answer_plain(srv, rq, conn);
    }
    sse_state *st = ll_calloc(1, sizeof *st);
    struct MHD_Response *r = NULL;
    if (st) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        st->srv = srv;
        st->job = j;
        st->fd = ci ? ci->connect_fd : -1;
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, st, sse_free);
    }
    if (!r) {   /* sse_free was not registered: drop the reference here */
        free(st);
        rq->job = j;
        pthread_mutex_lock(&srv->mu);
        j->cancel = 1;
        pthread_mutex_unlock(&srv->mu);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
refuse:
    pthread_mutex_lock(&srv->mu);
    job_unref(j);
    pthread_mutex_unlock(&srv->mu);
    return ret;
}

/* Constant-time comparison of the Authorization header with "Bearer KEY". */
static int authorised(const serve_server *srv, struct MHD_Connection *conn) {
    if (!srv->cfg->api_key) return 1;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncmp(h, "Bearer ", 7) != 0) return 0;
    h += 7;
    const char *k = srv->cfg->api_key;
    size_t hn = strlen(h), kn = strlen(k);
    unsigned char diff = hn != kn;
    for (size_t i = 0; i < kn; i++) diff |= (unsigned char)(k[i] ^ (i < hn ? h[i] : 0));
    return diff == 0;
}

/* MHD's handler, called per request: first with the headers (routing, key,
 * GET endpoints, an announced body over the cap), then once per piece of
 * the body, then once more with none (the completion endpoints). */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)version;
    serve_server *srv = cls;
    serve_req *rq = *con_cls;
    int post = !strcmp(method, MHD_HTTP_METHOD_POST), get = !strcmp(method, MHD_HTTP_METHOD_GET);
    int chat = !strcmp(url, "/v1/chat/completions") || !strcmp(url, "/chat/completions");
    int completion = !strcmp(url, "/v1/completions") || !strcmp(url, "/completions");
    if (!rq) {
        rq = ll_calloc(1, sizeof *rq);
        if (!rq) return MHD_NO;
        *con_cls = rq;
        if (!strcmp(url, "/health")) {
            if (!get) return send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, NULL, NULL, "use GET /health");
            pthread_mutex_lock(&srv->mu);
            json_t *o = json_pack("{s:s, s:i, s:i, s:i}", "status", srv->stopping ? "stopping" : "ok", "slots",
                                  srv->cfg->parallel, "slots_busy", srv->running, "queued", srv->queued);
            pthread_mutex_unlock(&srv->mu);
            return send_json(conn, MHD_HTTP_OK, o);
        }
        if (!authorised(srv, conn))
            return send_error(conn, MHD_HTTP_UNAUTHORIZED, NULL, "invalid_api_key",
                              "missing or incorrect API key (Authorization: Bearer KEY)");
        if (!strcmp(url, "/v1/models") || !strcmp(url, "/models")) {
            if (!get) return send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, NULL, NULL, "use GET /v1/models");
            json_t *o = json_pack("{s:s, s:[{s:s, s:s, s:I, s:s, s:I}]}", "object", "list", "data", "id",
                                  srv->cfg->model_name, "object", "model", "created", (json_int_t)0, "owned_by",
                                  "llmpi", "context_length", (json_int_t)srv->im->model.cfg.block_size);
            return send_json(conn, MHD_HTTP_OK, o);
        }
        if (!chat && !completion)
            return send_error(conn, MHD_HTTP_NOT_FOUND, NULL, "unknown_url", "no such endpoint: %s %s", method, url);
        if (!post) return send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, NULL, NULL, "use POST %s", url);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > srv->cfg->max_body)
            return send_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, NULL, "request_too_large",
                              "the body is larger than %zu bytes", srv->cfg->max_body);
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!rq->too_large && rq->body.n + *upload_data_size > srv->cfg->max_body) {
            rq->too_large = 1;
            tok_bytes_free(&rq->body);
        }
        if (!rq->too_large && tok_bytes_append(&rq->body, upload_data, *upload_data_size) != 0) return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rq->too_large)
        return send_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, NULL, "request_too_large",
                          "the body is larger than %zu bytes", srv->cfg->max_body);
    return handle_completion(srv, rq, conn, chat ? SERVE_CHAT : SERVE_COMPLETION);
}

/* MHD: the request is over (answered, or the client is gone). */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)conn; (void)toe;
    serve_server *srv = cls;
    serve_req *rq = *con_cls;
    if (!rq) return;
    if (rq->job) {
        pthread_mutex_lock(&srv->mu);
        rq->job->cancel = 1;
        job_unref(rq->job);
        srv->answering--;
        pthread_mutex_unlock(&srv->mu);
    }
    tok_bytes_free(&rq->body);
    free(rq);
    *con_cls = NULL;
}

/* MHD's own messages go out as warnings. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
    ll_warn("serve: %s", msg);
}

/* See serve.h. */
void serve_config_default(serve_config *cfg, const infer_model *im) {
    memset(cfg, 0, sizeof *cfg);
    cfg->host = "127.0.0.1";
    cfg->port = 8080;
    cfg->model_name = "llmpi";
    cfg->parallel = 1;
    cfg->threads = ll_cores_available();
    cfg->max_body = 1 << 20;
    cfg->max_queue = 64;
    infer_options_default(&cfg->defaults, im);
}

typedef struct {
    serve_server *srv;
    const volatile sig_atomic_t *stop;
} watcher_arg;

/* Waits for the stop flag, then stops the server: refuses new requests,
 * gives running ones 2 s and cancels the rest; the slots then end. */
static void *watcher_main(void *arg) {
    watcher_arg *w = arg;
    serve_server *srv = w->srv;
    while (!*w->stop) usleep(50 * 1000);
    pthread_mutex_lock(&srv->mu);
    srv->stopping = 1;
    double until = ll_now() + 2.0;
    while ((srv->running || srv->queued) && ll_now() < until) {
        pthread_mutex_unlock(&srv->mu);
        usleep(20 * 1000);
        pthread_mutex_lock(&srv->mu);
    }
    srv->cancel_all = 1;
    pthread_cond_broadcast(&srv->work);
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

/* See serve.h. */
int serve_run(infer_model *im, const serve_config *cfg, const volatile sig_atomic_t *stop,
              void (*on_ready)(void *ctx, const char *host, int port), void *ready_ctx) {
    serve_server srv;
    memset(&srv, 0, sizeof srv);
    srv.im = im;
    srv.cfg = cfg;
    serve_parser_init(&srv.parser, cfg, im->tok, (size_t)im->model.cfg.block_size);
    if (cfg->parallel < 1 || cfg->threads < 1 || cfg->max_queue < 1) {
        ll_error("serve: parallel, threads and max_queue must be >= 1");
        return -1;
    }
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    hints.ai_socktype = SOCK_STREAM;
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", cfg->port);
    int gai = getaddrinfo(cfg->host, port_s, &hints, &ai);
    if (gai != 0) {
        ll_error("serve: --host '%s': %s (a numeric IPv4 or IPv6 address)", cfg->host, gai_strerror(gai));
        return -1;
    }
    pthread_mutex_init(&srv.mu, NULL);
    pthread_cond_init(&srv.work, NULL);
    int rc = -1;
    struct MHD_Daemon *d = NULL;
    srv.workers = ll_calloc((size_t)cfg->parallel, sizeof *srv.workers);
    if (!srv.workers) goto done;
    for (int i = 1; i < cfg->parallel; i++) {   /* slot 0 is this thread, below */
        worker_arg *a = ll_malloc(sizeof *a);
        if (!a) goto stop_workers;
        a->srv = &srv;
        a->slot = i;
        if (pthread_create(&srv.workers[srv.n_workers], NULL, worker_main, a) != 0) {
            free(a);
            ll_error("serve: could not start slot %d", i);
            goto stop_workers;
        }
        srv.n_workers++;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
                     MHD_USE_ERROR_LOG | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    d = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request, &srv, MHD_OPTION_EXTERNAL_LOGGER,
                         on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_NOTIFY_COMPLETED,
                         on_completed, &srv, MHD_OPTION_CONNECTION_LIMIT,
                         (unsigned)(cfg->max_queue + cfg->parallel + 64), MHD_OPTION_CONNECTION_TIMEOUT,
                         (unsigned)60, MHD_OPTION_END);
    if (!d) {
        ll_error("serve: cannot listen on %s:%d (%s)", cfg->host, cfg->port,
                 errno ? strerror(errno) : "address in use or not available");
        goto stop_workers;
    }
    watcher_arg wa = {&srv, stop};
    pthread_t watcher;
    worker_arg *a0 = ll_malloc(sizeof *a0);
    if (!a0) goto stop_workers;
    if (pthread_create(&watcher, NULL, watcher_main, &wa) != 0) {
        free(a0);
        ll_error("serve: could not start the stop watcher");
        goto stop_workers;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (on_ready) on_ready(ready_ctx, cfg->host, di ? di->port : cfg->port);
    a0->srv = &srv;
    a0->slot = 0;
    worker_main(a0);   /* until the watcher has stopped the server and the queue is empty */
    pthread_join(watcher, NULL);
    rc = 0;
stop_workers:
    pthread_mutex_lock(&srv.mu);
    srv.stopping = 1;
    if (rc != 0) srv.cancel_all = 1;
    pthread_cond_broadcast(&srv.work);
    pthread_mutex_unlock(&srv.mu);
    for (int i = 0; i < srv.n_workers; i++) pthread_join(srv.workers[i], NULL);
    /* every job is over; its connection may still be sending the end of the answer (a stream's
     * last chunk and [DONE]): stopping the daemon now would cut it, so wait up to 2 s more */
    double flush_until = ll_now() + 2.0;
    pthread_mutex_lock(&srv.mu);
    while (d && srv.answering > 0 && ll_now() < flush_until) {
        pthread_mutex_unlock(&srv.mu);
        usleep(10 * 1000);
        pthread_mutex_lock(&srv.mu);
    }
    pthread_mutex_unlock(&srv.mu);
    if (d) MHD_stop_daemon(d);
done:
    free(srv.workers);
    freeaddrinfo(ai);
    pthread_cond_destroy(&srv.work);
    pthread_mutex_destroy(&srv.mu);
    return rc;
}

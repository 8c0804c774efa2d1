/* fuzz_http.c: the HTTP request parser of `llmpi serve` (serve_parse_request)
 * on arbitrary bodies.
 *
 * The first input byte picks the endpoint (bit 0: 0 chat, 1 completion) and
 * the tokenizer (bit 1: 0 a tiny BPE with the chat specials, 1 the byte
 * tokenizer, which has none, so chat is refused); the rest is the body. The
 * model's context is 48 tokens, so "too long" is reachable. Besides "no
 * crash, no leak", checks the parser's contract:
 * - accepted: 1..48 prompt ids, each in the vocabulary (a chat prompt
 *   leaves room for one more); the stop strings are non-empty owned copies
 *   the options point at; the sampler settings pass infer_sampling_check;
 *   max_tokens >= 1;
 * - refused: status 400, or 500 only after a failed allocation or encoding;
 *   a non-empty message that is valid UTF-8 (the server sends it as a JSON
 *   string: jansson refuses anything else, and the client would get no
 *   answer at all); the request left empty;
 * - nothing printed on stderr, except by a failing encoder.
 * LLMPI_FUZZ_VERBOSE=1 prints each input's outcome (to check seeds by eye).
 */
#include <jansson.h>

#include "fuzz_util.h"
#include "llmpi/serve.h"

enum { CONTEXT = 48 };

static tokenizer *g_bpe, *g_bytes;
static serve_config g_cfg;

/* The two tokenizers and the server settings, made once. */
static void setup(void) {
    if (g_bpe) return;
    tok_train_options to;
    tok_train_options_default(&to);
    to.vocab_size = 300;
    to.min_frequency = 1;
    to.threads = 1;
    const char *texts[] = {"Hello there! How are you? The cat sat on the mat; the cat ate the rat. "
                           "Say hello to the user and the assistant, then stop."};
    size_t lens[] = {strlen(texts[0])};
    g_bpe = tok_train_texts(texts, lens, 1, &to);
    g_bytes = tok_bytes_new();
    if (!g_bpe || !g_bytes) { fprintf(stderr, "fuzz: cannot make the tokenizers\n"); abort(); }
    infer_model im;
    memset(&im, 0, sizeof im);
    im.tok = g_bpe;
    im.model.cfg.block_size = CONTEXT;
    serve_config_default(&g_cfg, &im);
    g_cfg.threads = 1;
}

static void fail(const char *what) {
    fprintf(stderr, "fuzz: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    setup();
    int kind = data[0] & 1 ? SERVE_COMPLETION : SERVE_CHAT;
    const tokenizer *tok = data[0] & 2 ? g_bytes : g_bpe;
    serve_parser p;
    serve_parser_init(&p, &g_cfg, tok, CONTEXT);
    if (p.has_chat != (tok == g_bpe)) fail("has_chat is wrong for the tokenizer");
    serve_request r;
    serve_error e;
    unsigned long oom_before = ll_alloc_failures();
    fz_capture cap;
    fz_capture_begin(&cap);
    int rc = serve_parse_request(&p, kind, (const char *)data + 1, size - 1, &r, &e);
    fclose(cap.mem);
    stderr = cap.saved;
    int printed = cap.len > 0;
    if (getenv("LLMPI_FUZZ_VERBOSE"))   /* what each input gave, to check a seed corpus by eye */
        printf("kind %d tok %s: %s\n", kind, tok == g_bpe ? "bpe" : "bytes",
               rc == 0 ? "accepted" : e.message);
    if (rc == 0) {
        if (printed) fail("an accepted request printed something");
        if (r.kind != kind) fail("wrong kind");
        if (r.prompt.n < 1 || r.prompt.n > CONTEXT || (kind == SERVE_CHAT && r.prompt.n + 1 > CONTEXT))
            fail("prompt length out of range");
        for (size_t i = 0; i < r.prompt.n; i++)
            if (r.prompt.ids[i] < 0 || r.prompt.ids[i] >= tok_vocab_size(tok)) fail("prompt id outside the vocabulary");
        if (r.opt.n_stop_strings < 0 || r.opt.n_stop_strings > INFER_MAX_STOP) fail("stop string count");
        for (int i = 0; i < r.opt.n_stop_strings; i++)
            if (r.opt.stop_strings[i] != r.stops[i] || !r.stops[i] || !r.stops[i][0]) fail("stop strings not owned");
        if (r.opt.max_tokens < 1) fail("max_tokens < 1");
        if (r.stream != 0 && r.stream != 1) fail("stream not 0/1");
        if (infer_sampling_check(&r.opt.sampling) != 0) fail("accepted sampler settings that do not check");
        serve_request_free(&r);
    } else {
        if (rc != -1) fail("return value not 0/-1");
        if (e.status != 400 && e.status != 500) fail("status not 400/500");
        if (e.status == 500 && ll_alloc_failures() == oom_before && strcmp(e.message, "could not encode the prompt"))
            fail("500 without a failed allocation or encoding");
        if (printed && strcmp(e.message, "could not encode the prompt")) fail("a refused request printed something");
        if (memchr(e.message, '\0', sizeof e.message) == NULL || !e.message[0]) fail("message empty or unterminated");
        json_t *s = json_string(e.message);   /* jansson checks UTF-8, as send_error's json_pack does */
        if (!s) {
            fprintf(stderr, "fuzz: the error message is not valid UTF-8: %s\n", e.message);
            abort();
        }
        json_decref(s);
        if ((e.param && !e.param[0]) || (e.code && !e.code[0])) fail("empty param or code");
        if (r.prompt.ids || r.prompt.n || r.opt.n_stop_strings) fail("a refused request was not emptied");
        for (int i = 0; i < INFER_MAX_STOP; i++)
            if (r.stops[i]) fail("a refused request kept a stop string");
    }
    free(cap.text);
    return 0;
}

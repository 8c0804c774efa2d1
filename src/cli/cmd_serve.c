/* cmd_serve.c: `llmpi serve`: an OpenAI-compatible HTTP server for a model.
 *
 * Options in, serve_run (src/infer/serve.c) does the work. Prints one line
 * "llmpi serve: listening on http://HOST:PORT (model NAME)" on stdout once
 * the socket listens (with --port 0 it names the port picked), then runs
 * until SIGTERM or SIGINT, which stop it cleanly (exit 0). The sampler
 * options set the defaults of requests that do not name their own.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "llmpi/infer.h"
#include "llmpi/serve.h"
#include "llmpi/util.h"

static volatile sig_atomic_t g_stop;

static void on_stop(int sig) {
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: llmpi serve --checkpoint CKPT.h5 [--tokenizer tokenizer.json] [--host ADDR] [--port N]\n"
            "                   [--api-key KEY] [--model-name NAME] [--parallel N] [--threads N]\n"
            "                   [--max-body BYTES] [--max-queue N] [--max-tokens N] [--temperature X]\n"
            "                   [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty X] [--seed S]\n\n"
            "OpenAI-compatible HTTP API: POST /v1/chat/completions, POST /v1/completions,\n"
            "GET /v1/models, GET /health. SIGTERM or Ctrl-C stops it (exit 0).\n\n"
            "  --host ADDR         numeric address to bind (default 127.0.0.1; 0.0.0.0: all)\n"
            "  --port N            TCP port (default 8080; 0: any free port, printed)\n"
            "  --api-key KEY       require 'Authorization: Bearer KEY' (not for /health)\n"
            "  --model-name NAME   the model id clients name (default llmpi)\n"
            "  --parallel N        requests generated at once (default 1); others queue in order\n"
            "  --threads N         threads per request (default: the cores available / parallel)\n"
            "  --max-body BYTES    largest request body (default 1048576; larger: 413)\n"
            "  --max-queue N       requests waiting beyond N are refused with 503 (default 64)\n"
            "  sampler defaults as in llmpi sample: --max-tokens 200, --temperature 0.8,\n"
            "  --top-k 40, --top-p 1, --min-p 0, --repeat-penalty 1, --seed 1337\n");
}

static void on_ready(void *ctx, const char *host, int port) {
    const char *name = ctx;
    int v6 = strchr(host, ':') != NULL;
    printf("llmpi serve: listening on http://%s%s%s:%d (model %s)\n", v6 ? "[" : "", host, v6 ? "]" : "", port, name);
    fflush(stdout);
}

int cmd_serve(int argc, char **argv) {
    static const struct option opts[] = {
        {"checkpoint", required_argument, 0, 'c'},  {"tokenizer", required_argument, 0, 'T'},
        {"host", required_argument, 0, 'H'},        {"port", required_argument, 0, 'p'},
        {"api-key", required_argument, 0, 'K'},     {"model-name", required_argument, 0, 'M'},
        {"parallel", required_argument, 0, 'j'},    {"threads", required_argument, 0, 'J'},
        {"max-body", required_argument, 0, 'B'},    {"max-queue", required_argument, 0, 'Q'},
        {"max-tokens", required_argument, 0, 'n'},  {"temperature", required_argument, 0, 't'},
        {"top-k", required_argument, 0, 'k'},       {"top-p", required_argument, 0, 'P'},
        {"min-p", required_argument, 0, 'm'},       {"repeat-penalty", required_argument, 0, 'r'},
        {"seed", required_argument, 0, 's'},        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *ckpt = NULL, *tok_path = NULL, *host = "127.0.0.1", *api_key = NULL, *name = "llmpi";
    const char *set_name[16], *set_value[16];
    long port = 8080, parallel = 1, threads = 0, max_body = 1 << 20, max_queue = 64;
    int n_sets = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        const char *set = NULL;
        switch (c) {
        case 'c': ckpt = optarg; break;
        case 'T': tok_path = optarg; break;
        case 'H': host = optarg; break;
        case 'p': if (cli_parse_int("--port", optarg, 0, 65535, &port) != 0) return 2; break;
        case 'K': api_key = optarg; break;
        case 'M': name = optarg; break;
        case 'j': if (cli_parse_int("--parallel", optarg, 1, 256, &parallel) != 0) return 2; break;
        case 'J': if (cli_parse_int("--threads", optarg, 1, 4096, &threads) != 0) return 2; break;
        case 'B': if (cli_parse_int("--max-body", optarg, 64, 1L << 30, &max_body) != 0) return 2; break;
        case 'Q': if (cli_parse_int("--max-queue", optarg, 1, 100000, &max_queue) != 0) return 2; break;
        case 'n': set = "max_tokens"; break;
        case 't': set = "temperature"; break;
        case 'k': set = "top_k"; break;
        case 'P': set = "top_p"; break;
        case 'm': set = "min_p"; break;
        case 'r': set = "repeat_penalty"; break;
        case 's': set = "seed"; break;
        case 'h': usage(stdout); return 0;
        default: return cli_getopt_error("serve", c, argv);
        }
        if (set && n_sets < 16) { set_name[n_sets] = set; set_value[n_sets++] = optarg; }
    }
    if (optind < argc) { ll_error("serve: unexpected argument '%s'", argv[optind]); return 2; }
    if (!ckpt) { ll_error("serve: --checkpoint is required (see llmpi serve --help)"); return 2; }
    if (api_key && !api_key[0]) { ll_error("serve: --api-key must not be empty"); return 2; }
    if (!name[0]) { ll_error("serve: --model-name must not be empty"); return 2; }
    /* the sampler options are checked before the model is loaded */
    infer_options probe;
    memset(&probe, 0, sizeof probe);
    probe.sampling = (infer_sampling){0.8f, 40, 1.0f, 0.0f, 1.0f, 64};
    for (int i = 0; i < n_sets; i++)
        if (infer_options_set(&probe, set_name[i], set_value[i]) != 0) return 2;
    if (ll_rank() != 0) return 0;   /* serving is rank 0's job */

    infer_model im;
    if (infer_open(&im, ckpt, tok_path) != 0) return 1;
    serve_config cfg;
    serve_config_default(&cfg, &im);
    cfg.host = host;
    cfg.port = (int)port;
    cfg.api_key = api_key;
    cfg.model_name = name;
    cfg.parallel = (int)parallel;
    cfg.threads = threads ? (int)threads : (ll_cores_available() / (int)parallel > 0 ? ll_cores_available() / (int)parallel : 1);
    cfg.max_body = (size_t)max_body;
    cfg.max_queue = (int)max_queue;
    for (int i = 0; i < n_sets; i++) infer_options_set(&cfg.defaults, set_name[i], set_value[i]);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int rc = serve_run(&im, &cfg, &g_stop, on_ready, (void *)name) == 0 ? 0 : 1;
    infer_close(&im);
    return rc;
}

/* cmd_sample.c: `llmpi sample`: generate text from a checkpoint.
 *
 * Options in, infer_open / infer_generate (src/infer/generate.c) do the work,
 * text out: the prompt as given, then each token as it is drawn. The byte
 * tokenizer ("bytes-v1") needs nothing; a BPE model needs --tokenizer FILE
 * whose identity must equal the one recorded in the checkpoint. Generation
 * stops at max tokens or end-of-text.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "llmpi/ckpt.h"
#include "llmpi/infer.h"
#include "llmpi/tokenizer.h"
#include "llmpi/util.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: llmpi sample --checkpoint CKPT.h5 --prompt TEXT [--max-tokens N] [--temperature X]\n"
            "                    [--top-k K] [--top-p P] [--seed S] [--tokenizer tokenizer.json]\n\n"
            "  --max-tokens N    tokens to generate (default 200)\n"
            "  --temperature X   0 = greedy (default 0.8)\n"
            "  --top-k K         keep the K most likely tokens (default 40, 0 = all)\n"
            "  --top-p P         nucleus sampling mass (default 1 = off)\n"
            "  --seed S          sampling seed (default 1337)\n"
            "  --tokenizer FILE  the BPE tokenizer.json the model was trained with\n");
}

/* Streams each generated token to stdout. */
static int print_token(void *ctx, int32_t id, const char *bytes, size_t len) {
    (void)ctx;
    (void)id;
    fwrite(bytes, 1, len, stdout);
    fflush(stdout);
    return 0;
}

int cmd_sample(int argc, char **argv) {
    static const struct option opts[] = {
        {"checkpoint", required_argument, 0, 'c'}, {"prompt", required_argument, 0, 'p'},
        {"max-tokens", required_argument, 0, 'n'}, {"temperature", required_argument, 0, 't'},
        {"top-k", required_argument, 0, 'k'},      {"top-p", required_argument, 0, 'P'},
        {"seed", required_argument, 0, 's'},       {"tokenizer", required_argument, 0, 'T'},
        {"help", no_argument, 0, 'h'},             {0, 0, 0, 0}};
    const char *ckpt = NULL, *prompt = NULL, *tok_path = NULL;
    long max_tokens = 200, top_k = 40, seed = 1337;
    double temperature = 0.8, top_p = 1.0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': ckpt = optarg; break;
        case 'p': prompt = optarg; break;
        case 'n': if (cli_parse_int("--max-tokens", optarg, 0, 1 << 24, &max_tokens) != 0) return 2; break;
        case 't': if (cli_parse_float("--temperature", optarg, &temperature) != 0) return 2; break;
        case 'k': if (cli_parse_int("--top-k", optarg, 0, 1 << 24, &top_k) != 0) return 2; break;
        case 'P': if (cli_parse_float("--top-p", optarg, &top_p) != 0) return 2; break;
        case 's': if (cli_parse_int("--seed", optarg, 0, 1L << 62, &seed) != 0) return 2; break;
        case 'T': tok_path = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return cli_getopt_error("sample", c, argv);
        }
    }
    if (optind < argc) { ll_error("sample: unexpected argument '%s'", argv[optind]); return 2; }
    if (!ckpt || !prompt) { ll_error("sample: --checkpoint and --prompt are required (see llmpi sample --help)"); return 2; }
    if (temperature < 0 || top_p <= 0 || top_p > 1) {
        ll_error("sample: need --temperature >= 0 and 0 < --top-p <= 1");
        return 2;
    }
    if (ll_rank() != 0) return 0;  /* generation is rank 0's job */
    ll_set_threads(ll_cores_available());

    infer_model im;
    if (infer_open(&im, ckpt, tok_path) != 0) return 1;
    infer_options o;
    infer_options_default(&o, &im);
    o.sampling = (infer_sampling){(float)temperature, (int)top_k, (float)top_p};
    o.max_tokens = max_tokens;
    o.seed = (uint64_t)seed;
    tok_ids ids = {0};
    int rc = 1;
    if (tok_encode(im.tok, prompt, strlen(prompt), 0, &ids) != 0) goto done;
    fputs(prompt, stdout);
    if (infer_generate(&im, ids.ids, ids.n, &o, print_token, NULL, NULL) != 0) goto done;
    fputc('\n', stdout);
    rc = 0;
done:
    tok_ids_free(&ids);
    infer_close(&im);
    return rc;
}

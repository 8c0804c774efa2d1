/* cmd_sample.c: `llmpi sample`: generate text from a checkpoint.
 *
 * The prompt is encoded with the checkpoint's tokenizer: the byte tokenizer
 * ("bytes-v1") needs nothing; a BPE model needs --tokenizer FILE whose
 * identity must equal the one recorded in the checkpoint. Generation runs the
 * full forward over the last block_size tokens per new token (a KV cache comes
 * with chat) and stops at max tokens or end-of-text.
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

#define BYTES_IDENTITY "bytes-v1"
#define BYTES_EOT 256

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

/* Encodes the prompt; ids malloc'ed. */
static int encode_prompt(const tokenizer *tok, const char *prompt, int **ids, size_t *n) {
    if (!tok) {
        size_t len = strlen(prompt);
        *ids = ll_malloc((len ? len : 1) * sizeof(int));
        if (!*ids) return -1;
        for (size_t i = 0; i < len; i++) (*ids)[i] = (unsigned char)prompt[i];
        *n = len;
        return 0;
    }
    tok_ids v = {0};
    if (tok_encode(tok, prompt, strlen(prompt), 0, &v) != 0) return -1;
    *ids = ll_malloc((v.n ? v.n : 1) * sizeof(int));
    if (!*ids) { tok_ids_free(&v); return -1; }
    for (size_t i = 0; i < v.n; i++) (*ids)[i] = v.ids[i];
    *n = v.n;
    tok_ids_free(&v);
    return 0;
}

/* Writes one token's text to stdout. */
static void emit(const tokenizer *tok, int id) {
    if (!tok) { if (id < 256) fputc(id, stdout); return; }
    size_t len = 0;
    const char *bytes = tok_token_bytes(tok, id, &len);
    if (bytes) fwrite(bytes, 1, len, stdout);
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
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
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
        default: usage(stderr); return 2;
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

    gpt_config mc;
    ckpt_meta meta;
    if (ckpt_peek(ckpt, &mc, &meta) != 0) return 1;
    tokenizer *tok = NULL;
    int eot = BYTES_EOT;
    if (strcmp(meta.tokenizer, BYTES_IDENTITY) != 0) {
        if (!tok_path) {
            ll_error("%s: model uses tokenizer %s: pass its tokenizer.json with --tokenizer", ckpt, meta.tokenizer);
            return 2;
        }
        if (!(tok = tok_load(tok_path))) return 1;
        if (strcmp(tok_identity(tok), meta.tokenizer) != 0 || tok_vocab_size(tok) != mc.vocab_size) {
            ll_error("%s: tokenizer %s (vocab %d) is not the checkpoint's %s (vocab %d)", tok_path, tok_identity(tok),
                     tok_vocab_size(tok), meta.tokenizer, mc.vocab_size);
            tok_free(tok);
            return 1;
        }
        eot = tok_eot_id(tok);
    }

    int rc = 1;
    gpt_model m;
    memset(&m, 0, sizeof m);
    infer_sampler sampler = {0};
    int *ids = NULL;
    size_t n = 0;
    float *logits = ll_malloc((size_t)mc.vocab_size * sizeof(float));
    if (!logits || gpt_create(&m, &mc) != 0 || ckpt_load(ckpt, &m, NULL, NULL, &meta) != 0 ||
        gpt_alloc_acts(&m, 1, mc.block_size, 0) != 0 || infer_sampler_init(&sampler, mc.vocab_size) != 0 ||
        encode_prompt(tok, prompt, &ids, &n) != 0)
        goto done;
    int *grown = realloc(ids, (n + (size_t)max_tokens + 1) * sizeof(int));
    if (!grown) { ll_error("sample: out of memory"); goto done; }
    ids = grown;
    if (n == 0) ids[n++] = eot;  /* an empty prompt starts a new document */
    else fputs(prompt, stdout);
    infer_sampling cfg = {(float)temperature, (int)top_k, (float)top_p};
    ll_rng rng;
    ll_rng_seed(&rng, (uint64_t)seed, 4);
    for (long i = 0; i < max_tokens; i++) {
        size_t ctx = n < (size_t)mc.block_size ? n : (size_t)mc.block_size;
        if (gpt_forward(&m, ids + n - ctx, NULL, 1, (int)ctx, NULL, NULL, NULL, logits) != 0) goto done;
        int next = infer_sample(&sampler, logits, &cfg, &rng);
        if (next == eot) break;
        ids[n++] = next;
        emit(tok, next);
        fflush(stdout);
    }
    fputc('\n', stdout);
    rc = 0;
done:
    free(ids);
    free(logits);
    infer_sampler_free(&sampler);
    gpt_free(&m);
    if (tok) tok_free(tok);
    return rc;
}

/* cmd_sample.c: `llmpi sample`: generate text from a checkpoint.
 *
 * Options in, infer_open / infer_generate or infer_chat (src/infer) do the
 * work, text out. Plain text: the prompt as given, then each token as it is
 * drawn (whole UTF-8 characters, flushed per token), then a newline; several
 * samples are separated by a line "---". --chat renders the message in the
 * chat template (optional --system) and prints only the answer. --json
 * prints one JSON object per sample instead. Sample i draws with seed + i.
 * The byte tokenizer ("bytes-v1") needs nothing; a BPE model needs
 * --tokenizer FILE whose identity must equal the one in the checkpoint.
 */
#include <getopt.h>
#include <jansson.h>
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
            "usage: llmpi sample --checkpoint CKPT.h5 (--prompt TEXT | --prompt-file F | --chat TEXT [--system S])\n"
            "                    [--num-samples N] [--max-tokens N] [--temperature X] [--top-k K] [--top-p P]\n"
            "                    [--min-p P] [--repeat-penalty X] [--seed S] [--stop STR]... [--json]\n"
            "                    [--slide N] [--tokenizer tokenizer.json]\n\n"
            "  --prompt TEXT       text to continue (--prompt-file F: the bytes of file F)\n"
            "  --chat TEXT         a user message in the chat template; prints only the answer\n"
            "  --system S          system text for --chat\n"
            "  --num-samples N     samples to draw (default 1); sample i uses seed + i\n"
            "  --max-tokens N      tokens to generate (default 200)\n"
            "  --temperature X     0 = greedy (default 0.8)\n"
            "  --top-k K           keep the K most likely tokens (default 40, 0 = all)\n"
            "  --top-p P           nucleus sampling mass (default 1 = off)\n"
            "  --min-p P           drop tokens below P x the top probability (default 0 = off)\n"
            "  --repeat-penalty X  penalise the last 64 tokens' logits (default 1 = off)\n"
            "  --seed S            sampling seed (default 1337)\n"
            "  --stop STR          stop when the text contains STR (up to %d times; <|end|> and\n"
            "                      <|endoftext|> always stop)\n"
            "  --json              one JSON object per sample: text, tokens, finish_reason, tok/s\n"
            "  --slide N           past the context, drop N oldest tokens at once (default 1: the\n"
            "                      model always sees the last block_size tokens; larger is faster)\n"
            "  --tokenizer FILE    the BPE tokenizer.json the model was trained with\n",
            INFER_MAX_STOP);
}

typedef struct {
    int json;
    tok_bytes text;          /* --json: the sample's text */
} sink;

/* Streams each piece of text to stdout, or collects it for --json. */
static int on_text(void *ctx, int32_t id, const char *text, size_t len) {
    (void)id;
    sink *s = ctx;
    if (s->json) {
        if (tok_bytes_append(&s->text, text, len) != 0) return 1;
        return 0;
    }
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

static double rate(size_t n, double s) { return s > 0 ? (double)n / s : 0.0; }

/* One JSON line for a sample. */
static int print_json(long sample, uint64_t seed, const tok_bytes *text, const infer_result *r) {
    tok_bytes clean = {0};
    if (infer_utf8_sanitize(text->data ? text->data : "", text->n, &clean) != 0) return -1;
    json_t *o = json_pack("{s:I, s:I, s:s%, s:I, s:I, s:s, s:f, s:f, s:I}", "sample", (json_int_t)sample, "seed",
                          (json_int_t)seed, "text", clean.data, clean.n, "prompt_tokens", (json_int_t)r->n_prompt,
                          "tokens", (json_int_t)r->n_generated, "finish_reason", infer_finish_name(r->finish),
                          "prefill_tok_s", rate(r->n_prefill, r->prefill_s), "decode_tok_s",
                          rate(r->n_decode, r->decode_s), "context_shifts", (json_int_t)r->n_shifts);
    tok_bytes_free(&clean);
    if (!o) { ll_error("sample: could not build the JSON output"); return -1; }
    json_dumpf(o, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
    fputc('\n', stdout);
    fflush(stdout);
    json_decref(o);
    return 0;
}

int cmd_sample(int argc, char **argv) {
    static const struct option opts[] = {
        {"checkpoint", required_argument, 0, 'c'},  {"prompt", required_argument, 0, 'p'},
        {"prompt-file", required_argument, 0, 'f'}, {"chat", required_argument, 0, 'C'},
        {"system", required_argument, 0, 'S'},      {"num-samples", required_argument, 0, 'N'},
        {"max-tokens", required_argument, 0, 'n'},  {"temperature", required_argument, 0, 't'},
        {"top-k", required_argument, 0, 'k'},       {"top-p", required_argument, 0, 'P'},
        {"min-p", required_argument, 0, 'm'},       {"repeat-penalty", required_argument, 0, 'r'},
        {"seed", required_argument, 0, 's'},        {"stop", required_argument, 0, 'x'},
        {"json", no_argument, 0, 'j'},              {"slide", required_argument, 0, 'l'},
        {"tokenizer", required_argument, 0, 'T'},   {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *ckpt = NULL, *prompt = NULL, *prompt_file = NULL, *chat = NULL, *system = NULL, *tok_path = NULL;
    const char *stops[INFER_MAX_STOP];
    int n_stops = 0, json = 0;
    long max_tokens = 200, top_k = 40, seed = 1337, num_samples = 1, slide = 1;
    double temperature = 0.8, top_p = 1.0, min_p = 0.0, repeat_penalty = 1.0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': ckpt = optarg; break;
        case 'p': prompt = optarg; break;
        case 'f': prompt_file = optarg; break;
        case 'C': chat = optarg; break;
        case 'S': system = optarg; break;
        case 'N': if (cli_parse_int("--num-samples", optarg, 1, 1 << 20, &num_samples) != 0) return 2; break;
        case 'n': if (cli_parse_int("--max-tokens", optarg, 0, 1 << 24, &max_tokens) != 0) return 2; break;
        case 't': if (cli_parse_float("--temperature", optarg, &temperature) != 0) return 2; break;
        case 'k': if (cli_parse_int("--top-k", optarg, 0, 1 << 24, &top_k) != 0) return 2; break;
        case 'P': if (cli_parse_float("--top-p", optarg, &top_p) != 0) return 2; break;
        case 'm': if (cli_parse_float("--min-p", optarg, &min_p) != 0) return 2; break;
        case 'r': if (cli_parse_float("--repeat-penalty", optarg, &repeat_penalty) != 0) return 2; break;
        case 's': if (cli_parse_int("--seed", optarg, 0, 1L << 62, &seed) != 0) return 2; break;
        case 'x':
            if (n_stops == INFER_MAX_STOP || !optarg[0]) {
                ll_error("sample: --stop takes a non-empty string, at most %d times", INFER_MAX_STOP);
                return 2;
            }
            stops[n_stops++] = optarg;
            break;
        case 'j': json = 1; break;
        case 'l': if (cli_parse_int("--slide", optarg, 1, 1 << 24, &slide) != 0) return 2; break;
        case 'T': tok_path = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return cli_getopt_error("sample", c, argv);
        }
    }
    if (optind < argc) { ll_error("sample: unexpected argument '%s'", argv[optind]); return 2; }
    if (!ckpt || (!!prompt + !!prompt_file + !!chat) != 1) {
        ll_error("sample: --checkpoint and one of --prompt, --prompt-file, --chat are required (see llmpi sample "
                 "--help)");
        return 2;
    }
    if (system && !chat) { ll_error("sample: --system goes with --chat"); return 2; }
    infer_sampling sampling = {(float)temperature, (int)top_k, (float)top_p, (float)min_p, (float)repeat_penalty, 64};
    if (infer_sampling_check(&sampling) != 0) return 2;
    if (ll_rank() != 0) return 0;  /* generation is rank 0's job */
    ll_set_threads(ll_cores_available());

    char *file_text = NULL;
    size_t prompt_len = prompt ? strlen(prompt) : 0;
    if (prompt_file) {
        if (ll_read_file(prompt_file, &file_text, &prompt_len) != 0) return 1;
        prompt = file_text;
    }
    infer_model im;
    if (infer_open(&im, ckpt, tok_path) != 0) { free(file_text); return 1; }
    infer_options o;
    infer_options_default(&o, &im);
    o.sampling = sampling;
    o.max_tokens = max_tokens;
    o.seed = (uint64_t)seed;
    o.slide = (int)slide;
    for (int i = 0; i < n_stops; i++) o.stop_strings[o.n_stop_strings++] = stops[i];
    tok_ids ids = {0};
    infer_chat *ch = NULL;
    sink out = {.json = json};
    int rc = 1;
    if (chat) {
        if (!(ch = infer_chat_new(&im, system))) goto done;
        infer_options *co = infer_chat_options(ch);
        *co = o;
    } else {
        if (tok_encode(im.tok, prompt, prompt_len, 0, &ids) != 0) goto done;
        if (ids.n > (size_t)im.model.cfg.block_size)
            ll_warn("sample: the prompt is %zu tokens, longer than the context of %d: the model sees its last %d",
                    ids.n, im.model.cfg.block_size, im.model.cfg.block_size);
    }
    for (long i = 0; i < num_samples; i++) {
        infer_result r;
        out.text.n = 0;
        if (!json && i > 0) fputs("---\n", stdout);
        if (ch) {
            infer_chat_reset(ch);   /* sample i is answer i: seed + i */
            if (infer_chat_send(ch, chat, strlen(chat), on_text, &out, &r) != 0) goto done;
        } else {
            if (!json) fwrite(prompt, 1, prompt_len, stdout);
            o.seed = (uint64_t)seed + (uint64_t)i;
            if (infer_generate(&im, ids.ids, ids.n, &o, on_text, &out, &r) != 0) goto done;
        }
        if (json) {
            if (print_json(i, (uint64_t)seed + (uint64_t)i, &out.text, &r) != 0) goto done;
        } else {
            fputc('\n', stdout);
        }
    }
    rc = 0;
done:
    fflush(stdout);
    tok_bytes_free(&out.text);
    infer_chat_free(ch);
    tok_ids_free(&ids);
    infer_close(&im);
    free(file_text);
    return rc;
}

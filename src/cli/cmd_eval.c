/* cmd_eval.c: `llmpi eval`: mean cross-entropy of a checkpoint on a split.
 *
 * Window k of the split: inputs tokens[k*T .. k*T+T-1], targets
 * tokens[k*T+1 .. k*T+T], k = 0..N-1. Under mpirun the windows are shared
 * among the ranks and the sums reduced; the figure is the same.
 * On an SFT store (llmpi-sft) the windows are the split's packed rows
 * (loader_pack, as `llmpi sft` trains on them) and the loss is the masked
 * one: mean over assistant targets only, in total and per source (the
 * store's example_source; computed from the logits in double).
 * Bits per byte (loss / ln 2 per UTF-8 byte of the decoded targets; compares
 * across tokenizers) comes with it when the tokenizer is known: the
 * checkpoint's tokenizer.json, else the store's, else the byte tokenizer.
 */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "llmpi/ckpt.h"
#include "llmpi/comm.h"
#include "llmpi/h5.h"
#include "llmpi/loader.h"
#include "llmpi/sft.h"
#include "llmpi/store.h"
#include "llmpi/trainer.h"
#include "llmpi/util.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: llmpi eval --checkpoint CKPT.h5 --data STORE.h5 --split val|train --windows N\n"
            "                  [--seq T] [--batch B] [--json]\n\n"
            "Mean cross-entropy (nats per token) over windows 0..N-1 of a split.\n"
            "On an SFT store (llmpi mix) the windows are the packed rows of seq T and the\n"
            "loss counts assistant targets only (--windows optional: all rows), in total\n"
            "and per source.\n"
            "  --seq T     window length (default: the model's block_size)\n"
            "  --batch B   windows per forward pass (default 8; does not change the result)\n"
            "  --json      print one JSON object: loss, tokens, windows, seq, perplexity, bpb, ...\n"
            "Bits per byte (bpb) = loss / ln 2 per UTF-8 byte the target tokens decode to.\n");
}

int cmd_eval(int argc, char **argv) {
    static const struct option opts[] = {
        {"checkpoint", required_argument, 0, 'c'}, {"data", required_argument, 0, 'd'},
        {"split", required_argument, 0, 's'},      {"windows", required_argument, 0, 'w'},
        {"seq", required_argument, 0, 'T'},        {"batch", required_argument, 0, 'b'},
        {"json", no_argument, 0, 'j'},             {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *ckpt = NULL, *data = NULL, *split_name = NULL;
    long windows = 0, seq = 0, batch = 8;
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': ckpt = optarg; break;
        case 'd': data = optarg; break;
        case 's': split_name = optarg; break;
        case 'w': if (cli_parse_int("--windows", optarg, 1, 1L << 40, &windows) != 0) return 2; break;
        case 'T': if (cli_parse_int("--seq", optarg, 1, 1 << 20, &seq) != 0) return 2; break;
        case 'b': if (cli_parse_int("--batch", optarg, 1, 4096, &batch) != 0) return 2; break;
        case 'j': json = 1; break;
        case 'h': usage(stdout); return 0;
        default: return cli_getopt_error("eval", c, argv);
        }
    }
    if (optind < argc) { ll_error("eval: unexpected argument '%s'", argv[optind]); return 2; }
    char format[64] = "";
    if (data && h5u_file_format(data, format, sizeof format) != 0) return 1;
    int is_sft = !strcmp(format, SFT_STORE_FORMAT);
    if (!ckpt || !data || !split_name || (windows == 0 && !is_sft)) {
        ll_error("eval: --checkpoint, --data, --split and --windows are required (see llmpi eval --help)");
        return 2;
    }
    store_split split;
    if (!strcmp(split_name, "val")) split = STORE_VAL;
    else if (!strcmp(split_name, "train")) split = STORE_TRAIN;
    else { ll_error("eval: --split must be 'val' or 'train', got '%s'", split_name); return 2; }

    comm_world w;
    if (comm_init(&w) != 0) return 1;
    ll_set_threads(comm_default_threads(&w));

    gpt_config mc;
    ckpt_meta meta;
    if (ckpt_peek(ckpt, &mc, &meta) != 0) return 1;
    store_reader s;
    sft_store sft;
    loader_pack pack;
    memset(&s, 0, sizeof s);
    memset(&sft, 0, sizeof sft);
    memset(&pack, 0, sizeof pack);
    int T = seq > 0 ? (int)seq : mc.block_size;
    if (is_sft) {
        if (sft_store_load(data, &sft) != 0) return 1;
    } else if (store_open(&s, data) != 0) {
        return 1;
    }
    int rc = 1;
    gpt_model m;
    memset(&m, 0, sizeof m);
    double *src_loss = NULL;   /* SFT: per source */
    long *src_tokens = NULL;
    uint32_t *token_bytes = NULL;
    if (T > mc.block_size) { ll_error("eval: --seq %d exceeds the model's block_size %d", T, mc.block_size); goto done; }
    if (is_sft) {
        if (!tok_identity_matches(sft.tokenizer, sft.vocab_size, meta.tokenizer, (uint32_t)mc.vocab_size)) {
            ll_error("eval: %s was made with tokenizer %s (vocab %u), the checkpoint with %s (vocab %d)", data,
                     sft.tokenizer, sft.vocab_size, meta.tokenizer, mc.vocab_size);
            goto done;
        }
        if (loader_pack_init(&pack, &sft.split[split], T, (int32_t)sft.eot_id) != 0) goto done;
        if (windows == 0) windows = (long)pack.n_rows;
    } else if (store_check_tokenizer(&s, meta.tokenizer, (uint32_t)mc.vocab_size) != 0) {
        goto done;
    }
    if (batch > windows) batch = windows;
    if (gpt_create(&m, &mc) != 0 || ckpt_load(ckpt, &m, NULL, NULL, &meta) != 0 ||
        gpt_alloc_acts(&m, (int)batch, T, 0) != 0)
        goto done;
    double loss_sum, n_bytes = 0.0;
    long n_tokens;
    /* every rank builds the table (the files are on shared storage) */
    char *tok_json = NULL;
    size_t tok_len = 0;
    if (ckpt_read_tokenizer_json(ckpt, &tok_json, &tok_len) != 0 ||
        (!tok_json && !is_sft && store_read_tokenizer_json(&s, &tok_json, &tok_len) != 0))
        goto done;
    if (tok_json || !strcmp(meta.tokenizer, TOK_BYTES_IDENTITY)) {
        token_bytes = trainer_token_bytes(ckpt, tok_json, tok_len, mc.vocab_size);
        free(tok_json);
        if (!token_bytes) goto done;
    }
    double t0 = ll_now();
    if (is_sft) {
        src_loss = ll_calloc((size_t)sft.n_sources, sizeof *src_loss);
        src_tokens = ll_calloc((size_t)sft.n_sources, sizeof *src_tokens);
        if (!src_loss || !src_tokens) goto done;
    }
    if ((is_sft ? trainer_eval_sft_sources(&m, &pack, windows, (int)batch, &w, token_bytes, &loss_sum, &n_tokens,
                                           &n_bytes, sft.n_sources, src_loss, src_tokens)
                : trainer_eval_bytes(&m, &s, split, windows, T, (int)batch, &w, token_bytes, &loss_sum, &n_tokens,
                                     &n_bytes)) != 0)
        goto done;
    double loss = loss_sum / (double)n_tokens, secs = ll_now() - t0;
    double bpb = n_bytes > 0 ? loss_sum / M_LN2 / n_bytes : NAN;
    if (w.rank == 0) {
        if (json) {
            json_t *o = json_pack("{s:f, s:I, s:I, s:i, s:s, s:f, s:o, s:f, s:I, s:s, s:s, s:f}", "loss", loss,
                                  "tokens", (json_int_t)n_tokens, "windows", (json_int_t)windows, "seq", T, "split",
                                  split_name, "perplexity", exp(loss), "bpb",
                                  isfinite(bpb) ? json_real(bpb) : json_null(), "bytes", n_bytes, "step",
                                  (json_int_t)meta.step, "checkpoint", ckpt, "data", data, "seconds", secs);
            if (is_sft) {
                json_t *arr = json_array();
                for (int i = 0; i < sft.n_sources; i++)
                    json_array_append_new(
                        arr, json_pack("{s:s, s:o, s:I}", "name", sft.source_names[i], "loss",
                                       src_tokens[i] ? json_real(src_loss[i] / (double)src_tokens[i]) : json_null(),
                                       "tokens", (json_int_t)src_tokens[i]));
                json_object_set_new(o, "sources", arr);
            }
            char *txt = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
            printf("%s\n", txt);
            free(txt);
            json_decref(o);
        } else {
            char bpb_text[48] = "";
            if (isfinite(bpb)) snprintf(bpb_text, sizeof bpb_text, ", %.4f bits per byte", bpb);
            printf("%s split: %sloss %.4f (perplexity %.2f%s) over %ld %s x %d: %ld %stokens, step %llu, %.2f s\n",
                   split_name, is_sft ? "masked " : "", loss, exp(loss), bpb_text, windows,
                   is_sft ? "rows" : "windows", T, n_tokens, is_sft ? "target " : "", (unsigned long long)meta.step,
                   secs);
            for (int i = 0; is_sft && i < sft.n_sources; i++) {
                if (src_tokens[i]) printf("  %-16s loss %.4f over %ld target tokens\n", sft.source_names[i],
                                          src_loss[i] / (double)src_tokens[i], src_tokens[i]);
                else printf("  %-16s no target token in these rows\n", sft.source_names[i]);
            }
        }
    }
    rc = 0;
done:
    free(src_loss);
    free(src_tokens);
    free(token_bytes);
    gpt_free(&m);
    loader_pack_free(&pack);
    if (is_sft) sft_store_free(&sft);
    else store_close(&s);
    return rc;
}

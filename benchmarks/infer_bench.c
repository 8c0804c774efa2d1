/* infer_bench.c: generation speed of the KV-cache forward (gpt_kv_*), the
 * llmpi side of benchmarks/infer_bench.sh.
 *
 * usage: infer_bench --mode decode|prefill|train_forward|generate [--layers 12 --heads 12
 *                    --embd 768 --vocab 50257 --block-size 1024] [--threads N] [--prompt P]
 *                    [--tokens N] [--reps R] [--save CKPT] [--ckpt CKPT]
 * Random GPT-2-initialised weights (seeded: the same for the same shape), prompt ids
 * (i * 7919 + 13) mod vocab (the PyTorch peer builds the same). --save writes the
 * weights as a checkpoint first (byte tokenizer when vocab is 257), so peers and
 * `llmpi sample`/`serve` run the very same model. One JSON line:
 *   decode:        P prompt ids prefilled, then N greedy one-token steps timed (batch 1:
 *                  gpt_kv_forward and an argmax, the loop a generator cannot do
 *                  without); the first 16 ids drawn; the bytes each step must read (all
 *                  weights but wpe, one wpe row, the cached keys and values at the mean
 *                  context length)
 *   generate:      the library's generation loop (infer_generate on the checkpoint
 *                  --ckpt, a byte-tokenizer one that --save wrote, greedy, no stop id, text discarded): (N - 1) / (time of
 *                  N tokens - time of 1 token), best of R, the rate `sample` and
 *                  `serve` are measured with too (infer_bench.sh)
 *   prefill:       one batched step of P ids on an empty cache (best of R)
 *   train_forward: gpt_forward of one sequence of P ids with targets (the forward of
 *                  a training step: all P rows through the LM head and the loss), best of R
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpi/ckpt.h"
#include "llmpi/config.h"
#include "llmpi/gpt.h"
#include "llmpi/infer.h"
#include "llmpi/util.h"

/* Index of the largest of x[0..n) (the first on ties). */
static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Writes m as a checkpoint at path (the byte tokenizer's identity when the
 * vocabulary is 257, else a name no tokenizer has). 0 / -1 (printed). */
static int save_model(const gpt_model *m, const char *path) {
    ckpt_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.tokenizer, sizeof meta.tokenizer, "%s",
             m->cfg.vocab_size == 257 ? TOK_BYTES_IDENTITY : "infer-bench-random-weights");
    cfg_config c;
    cfg_defaults(&c);
    c.n_layer = m->cfg.n_layer;
    c.n_head = m->cfg.n_head;
    c.n_embd = m->cfg.n_embd;
    c.block_size = m->cfg.block_size;
    c.seq_len = c.block_size;
    char *text = cfg_to_string(&c);
    if (!text) return -1;
    snprintf(meta.config, sizeof meta.config, "%s", text);
    free(text);
    return ckpt_save(path, m, NULL, NULL, &meta);
}

/* Swallows generated text (the bare loop shows nothing). */
static int discard_text(void *ctx, int32_t id, const char *text, size_t len) {
    (void)ctx, (void)id, (void)text, (void)len;
    return 0;
}

int main(int argc, char **argv) {
    ll_blas_select_core(argv);   /* the same BLAS kernels as llmpi itself */
    gpt_config cfg = {12, 12, 768, 1024, 50257};
    const char *mode = "decode", *save = NULL, *ckpt = NULL;
    int threads = 1, prompt = 16, tokens = 128, reps = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *f = argv[i], *v = argv[i + 1];
        if (!strcmp(f, "--mode")) mode = v;
        else if (!strcmp(f, "--layers")) cfg.n_layer = atoi(v);
        else if (!strcmp(f, "--heads")) cfg.n_head = atoi(v);
        else if (!strcmp(f, "--embd")) cfg.n_embd = atoi(v);
        else if (!strcmp(f, "--vocab")) cfg.vocab_size = atoi(v);
        else if (!strcmp(f, "--block-size")) cfg.block_size = atoi(v);
        else if (!strcmp(f, "--threads")) threads = atoi(v);
        else if (!strcmp(f, "--prompt")) prompt = atoi(v);
        else if (!strcmp(f, "--tokens")) tokens = atoi(v);
        else if (!strcmp(f, "--reps")) reps = atoi(v);
        else if (!strcmp(f, "--save")) save = v;
        else if (!strcmp(f, "--ckpt")) ckpt = v;
        else { fprintf(stderr, "infer_bench: unknown option %s\n", f); return 2; }
    }
    if (prompt < 1 || tokens < 1 || reps < 1 || prompt + tokens > cfg.block_size + 1) {
        fprintf(stderr, "infer_bench: need prompt >= 1, tokens >= 1, prompt + tokens <= block size + 1\n");
        return 2;
    }
    ll_set_threads(threads);
    gpt_model m;
    if (gpt_create(&m, &cfg) != 0) return 1;
    gpt_init_weights(&m, 1);
    if (save && save_model(&m, save) != 0) return 1;
    int n_ids = prompt + tokens + 1;
    int *ids = ll_malloc((size_t)n_ids * sizeof *ids), *targets = ll_malloc((size_t)n_ids * sizeof *targets);
    float *logits = ll_malloc((size_t)cfg.vocab_size * sizeof *logits);
    if (!ids || !targets || !logits) return 1;
    for (int i = 0; i < n_ids; i++) ids[i] = (int)(((long long)i * 7919 + 13) % cfg.vocab_size);
    for (int i = 0; i + 1 < n_ids; i++) targets[i] = ids[i + 1];
    double C = cfg.n_embd, L = cfg.n_layer;
    printf("{\"bench\":\"infer\",\"mode\":\"%s\",\"threads\":%d,\"layers\":%d,\"embd\":%d,\"vocab\":%d,"
           "\"block_size\":%d,\"params\":%zu,", mode, threads, cfg.n_layer, cfg.n_embd, cfg.vocab_size,
           cfg.block_size, m.num_params);
    if (!strcmp(mode, "train_forward")) {
        if (gpt_alloc_acts(&m, 1, prompt, 0) != 0) return 1;
        double best = 1e30, loss;
        long nt;
        for (int r = 0; r < reps + 1; r++) {   /* the first call warms up */
            double t0 = ll_now();
            if (gpt_forward(&m, ids, targets, 1, prompt, &loss, &nt, NULL, NULL) != 0) return 1;
            double dt = ll_now() - t0;
            if (r > 0 && dt < best) best = dt;
        }
        printf("\"prompt\":%d,\"seconds\":%.4f,\"tok_s\":%.1f}\n", prompt, best, prompt / best);
    } else if (!strcmp(mode, "prefill")) {
        gpt_kv kv;
        if (gpt_kv_init(&kv, &cfg, 0) != 0) return 1;
        double best = 1e30;
        for (int r = 0; r < reps + 1; r++) {
            gpt_kv_truncate(&kv, 0);
            double t0 = ll_now();
            if (gpt_kv_forward(&m, &kv, ids, prompt, logits) != 0) return 1;
            double dt = ll_now() - t0;
            if (r > 0 && dt < best) best = dt;
        }
        printf("\"prompt\":%d,\"seconds\":%.4f,\"tok_s\":%.1f}\n", prompt, best, prompt / best);
        gpt_kv_free(&kv);
    } else if (!strcmp(mode, "decode")) {
        gpt_kv kv;
        if (gpt_kv_init(&kv, &cfg, 0) != 0) return 1;
        if (gpt_kv_forward(&m, &kv, ids, prompt, logits) != 0) return 1;
        ids[prompt] = argmax(logits, cfg.vocab_size);
        if (gpt_kv_forward(&m, &kv, ids + prompt, 1, logits) != 0) return 1;   /* warm-up step */
        double t0 = ll_now();
        for (int t = 1; t < tokens; t++) {
            ids[prompt + t] = argmax(logits, cfg.vocab_size);
            if (gpt_kv_forward(&m, &kv, ids + prompt + t, 1, logits) != 0) return 1;
        }
        double dt = ll_now() - t0, steps = tokens - 1;
        double mean_ctx = prompt + 1 + steps / 2.0;
        double weight_bytes = ((double)m.num_params - (double)cfg.block_size * C + C) * 4.0;
        double kv_bytes = 2.0 * L * mean_ctx * C * 4.0;
        printf("\"prompt\":%d,\"tokens\":%.0f,\"seconds\":%.4f,\"tok_s\":%.2f,\"weight_bytes\":%.0f,"
               "\"kv_bytes\":%.0f,\"bytes_per_token\":%.0f,\"ids\":[", prompt, steps, dt, steps / dt, weight_bytes,
               kv_bytes, weight_bytes + kv_bytes);
        for (int t = 0; t < 16 && t < tokens; t++) printf("%s%d", t ? "," : "", ids[prompt + t]);
        printf("]}\n");
        gpt_kv_free(&kv);
    } else if (!strcmp(mode, "generate")) {
        if (!ckpt) { fprintf(stderr, "infer_bench: --mode generate needs --ckpt CKPT\n"); return 2; }
        infer_model im;
        if (infer_open(&im, ckpt, NULL) != 0) return 1;
        infer_options o;
        infer_options_default(&o, &im);
        o.sampling.temperature = 0.0f;
        o.n_stop = 0;                 /* random weights may draw <|endoftext|>: go on */
        int32_t *p32 = ll_malloc((size_t)prompt * sizeof *p32);
        if (!p32) return 1;
        for (int i = 0; i < prompt; i++) p32[i] = ids[i];
        /* best wall time of a generation of N tokens and of 1 token: their
         * difference is what the N - 1 later tokens cost, start-up excluded */
        double best_n = 1e30, best_1 = 1e30;
        infer_result res = {0};
        for (int r = 0; r < reps + 1; r++) {   /* the first round warms up */
            o.max_tokens = 1;
            double t0 = ll_now();
            if (infer_generate(&im, p32, (size_t)prompt, &o, discard_text, NULL, &res) != 0) return 1;
            double t1 = ll_now() - t0;
            o.max_tokens = tokens;
            t0 = ll_now();
            if (infer_generate(&im, p32, (size_t)prompt, &o, discard_text, NULL, &res) != 0) return 1;
            double tn = ll_now() - t0;
            if (r > 0 && t1 < best_1) best_1 = t1;
            if (r > 0 && tn < best_n) best_n = tn;
        }
        printf("\"prompt\":%d,\"tokens\":%zu,\"seconds_n\":%.4f,\"seconds_1\":%.4f,\"tok_s\":%.2f}\n", prompt,
               res.n_generated, best_n, best_1, (double)(res.n_generated - 1) / (best_n - best_1));
        free(p32);
        infer_close(&im);
    } else {
        fprintf(stderr, "infer_bench: --mode decode, prefill or train_forward\n");
        return 2;
    }
    free(ids);
    free(targets);
    free(logits);
    gpt_free(&m);
    return 0;
}

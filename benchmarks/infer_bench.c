/* infer_bench.c: generation speed of the KV-cache forward (gpt_kv_*), the
 * llmpi side of benchmarks/infer_bench.sh.
 *
 * usage: infer_bench --mode decode|prefill|train_forward [--layers 12 --heads 12 --embd 768
 *                    --vocab 50257 --block-size 1024] [--threads N] [--prompt P] [--tokens N]
 *                    [--reps R]
 * Random GPT-2-initialised weights (seeded), random ids. One JSON line:
 *   decode:        P prompt ids prefilled, then N one-token steps timed (batch 1);
 *                  also the bytes each step must read (all weights but wpe, one wpe
 *                  row, the cached keys and values at the mean context length)
 *   prefill:       one batched step of P ids on an empty cache (best of R)
 *   train_forward: gpt_forward of one sequence of P ids with targets (the forward of
 *                  a training step: all P rows through the LM head and the loss), best of R
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpi/gpt.h"
#include "llmpi/util.h"

int main(int argc, char **argv) {
    gpt_config cfg = {12, 12, 768, 1024, 50257};
    const char *mode = "decode";
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
    int n_ids = prompt + tokens + 1;
    int *ids = ll_malloc((size_t)n_ids * sizeof *ids), *targets = ll_malloc((size_t)n_ids * sizeof *targets);
    float *logits = ll_malloc((size_t)cfg.vocab_size * sizeof *logits);
    if (!ids || !targets || !logits) return 1;
    ll_rng rng;
    ll_rng_seed(&rng, 7, 1);
    for (int i = 0; i < n_ids; i++) ids[i] = (int)ll_rng_below(&rng, (uint64_t)cfg.vocab_size);
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
        if (gpt_kv_forward(&m, &kv, ids + prompt, 1, logits) != 0) return 1;   /* warm-up step */
        double t0 = ll_now();
        for (int t = 1; t < tokens; t++)
            if (gpt_kv_forward(&m, &kv, ids + prompt + t, 1, logits) != 0) return 1;
        double dt = ll_now() - t0, steps = tokens - 1;
        double mean_ctx = prompt + 1 + steps / 2.0;
        double weight_bytes = ((double)m.num_params - (double)cfg.block_size * C + C) * 4.0;
        double kv_bytes = 2.0 * L * mean_ctx * C * 4.0;
        printf("\"prompt\":%d,\"tokens\":%.0f,\"seconds\":%.4f,\"tok_s\":%.2f,\"weight_bytes\":%.0f,"
               "\"kv_bytes\":%.0f,\"bytes_per_token\":%.0f}\n", prompt, steps, dt, steps / dt, weight_bytes, kv_bytes,
               weight_bytes + kv_bytes);
        gpt_kv_free(&kv);
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

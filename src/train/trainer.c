/* trainer.c: the pretraining loop.
 *
 * Invariants:
 * - every rank runs the same loop with the same parameters; gradients are
 *   summed over micro-steps and ranks, then scaled once by 1/(tokens counted
 *   on all ranks), so the update does not depend on how the batch is split;
 * - the learning rate depends only on the step (sched_lr), the data only on
 *   the loader state, the init only on the seed: a run is a function of
 *   (config, store, seed, rank count), and a checkpoint holds all of its state;
 * - rank 0 alone writes files (checkpoints, metrics.jsonl, config.ini).
 */
#include "llmpi/trainer.h"

#include <cblas.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpi/ckpt.h"
#include "llmpi/dist.h"
#include "llmpi/loader.h"
#include "llmpi/optim.h"
#include "llmpi/util.h"

/* ---- evaluation ---- */

int trainer_eval(gpt_model *m, store_reader *s, store_split split, long n_windows, int T, int batch_size,
                 int reduce, double *loss_sum, long *n_tokens) {
    int rank = 0, size = 1;
    if (reduce) {
        dist_world w;
        if (dist_init(&w) != 0) return -1;
        rank = w.rank;
        size = w.size;
    }
    uint64_t avail = s->split[split].n_tokens > 0 ? (s->split[split].n_tokens - 1) / (uint64_t)T : 0;
    if (n_windows < 1 || (uint64_t)n_windows > avail) {
        ll_error("%s: %s split holds %llu windows of %d tokens, %ld requested", s->path,
                 split == STORE_TRAIN ? "train" : "val", (unsigned long long)avail, T, n_windows);
        return -1;
    }
    int32_t *win = ll_malloc((size_t)batch_size * (T + 1) * sizeof(int32_t));
    int *in = ll_malloc((size_t)batch_size * T * sizeof(int));
    int *tgt = ll_malloc((size_t)batch_size * T * sizeof(int));
    int rc = (win && in && tgt) ? 0 : -1;
    double sum = 0.0;
    long count = 0;
    /* this rank's windows: k = rank, rank + size, ... in batches */
    for (long k0 = rank; rc == 0 && k0 < n_windows; k0 += (long)size * batch_size) {
        int b = 0;
        for (; b < batch_size; b++) {
            long k = k0 + (long)b * size;
            if (k >= n_windows) break;
            if (store_read(s, split, (uint64_t)k * T, (size_t)T + 1, win + (size_t)b * (T + 1)) != 0) { rc = -1; break; }
            for (int t = 0; t < T; t++) {
                in[(size_t)b * T + t] = win[(size_t)b * (T + 1) + t];
                tgt[(size_t)b * T + t] = win[(size_t)b * (T + 1) + t + 1];
            }
        }
        if (rc != 0 || b == 0) break;
        double ls;
        long nt;
        if (gpt_forward(m, in, tgt, b, T, &ls, &nt, NULL, NULL) != 0) { rc = -1; break; }
        sum += ls;
        count += nt;
    }
    free(win);
    free(in);
    free(tgt);
    if (reduce && size > 1) {
        /* every rank must join the reduction, even one that failed */
        double d[2] = {sum, rc != 0 ? 1.0 : 0.0};
        if (dist_allreduce_doubles(d, 2) != 0 || dist_allreduce_longs(&count, 1) != 0) return -1;
        sum = d[0];
        if (d[1] != 0.0) rc = -1;
    }
    *loss_sum = sum;
    *n_tokens = count;
    return rc;
}

/* ---- sgemm peak probe, for the MFU column ---- */

/* One-thread sgemm GFLOP/s on a 512^3 product, best of 3 (about 50 ms). */
static double probe_sgemm_gflops(void) {
    const int n = 512;
    float *a = ll_calloc((size_t)n * n, sizeof(float)), *b = ll_calloc((size_t)n * n, sizeof(float)),
          *c = ll_calloc((size_t)n * n, sizeof(float));
    double best = 0.0;
    if (a && b && c) {
        int threads = ll_threads();
        ll_set_threads(1);
        for (int i = 0; i < n * n; i++) { a[i] = (float)(i % 7); b[i] = (float)(i % 5); }
        for (int r = 0; r < 3; r++) {
            double t = ll_now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
            t = ll_now() - t;
            double g = 2.0 * n * n * n / t / 1e9;
            if (g > best) best = g;
        }
        ll_set_threads(threads);
    }
    free(a);
    free(b);
    free(c);
    return best;
}

/* ---- run state ---- */

typedef struct {
    trainer_options opt;
    cfg_config cfg;
    dist_world world;
    store_reader store;
    gpt_model model;
    optim_adamw adam;
    loader data;
    sched_config sched;
    ll_rng rng;
    uint64_t step, tokens_seen;
    int *inputs, *targets;
    FILE *metrics;
    double peak_gflops;
    int have_store, have_model, have_adam, have_loader;
} run;

static void run_free(run *r) {
    if (r->have_loader) loader_free(&r->data);
    if (r->have_adam) optim_adamw_free(&r->adam);
    if (r->have_model) gpt_free(&r->model);
    if (r->have_store) store_close(&r->store);
    if (r->metrics) fclose(r->metrics);
    free(r->inputs);
    free(r->targets);
}

static void append_metrics(run *r, json_t *obj) {
    if (r->world.rank == 0 && r->metrics) {
        json_dumpf(obj, r->metrics, JSON_COMPACT | JSON_REAL_PRECISION(8));
        fputc('\n', r->metrics);
        fflush(r->metrics);
    }
    json_decref(obj);
}

static int save_checkpoint(run *r) {
    int rc = 0;
    if (r->world.rank == 0) {
        char path[4096];
        ckpt_meta meta;
        memset(&meta, 0, sizeof meta);
        meta.step = r->step;
        meta.tokens_seen = r->tokens_seen;
        snprintf(meta.tokenizer, sizeof meta.tokenizer, "%s", r->store.tokenizer);
        char *cfgs = cfg_to_string(&r->cfg);
        if (cfgs) { snprintf(meta.config, sizeof meta.config, "%s", cfgs); free(cfgs); }
        loader_get_state(&r->data, &meta.loader);
        meta.rng = r->rng;
        meta.has_optim = 1;
        double t = ll_now();
        if (ckpt_step_path(r->opt.out_dir, r->step, path, sizeof path) != 0 ||
            ckpt_save(path, &r->model, r->adam.m, r->adam.v, &meta) != 0) {
            rc = -1;
        } else {
            ll_log("checkpoint %s (%.2f s)\n", path, ll_now() - t);
            if (r->cfg.keep_checkpoints > 0) ckpt_prune(r->opt.out_dir, r->cfg.keep_checkpoints);
        }
    }
    /* all ranks learn whether rank 0 succeeded */
    return dist_any(rc != 0) ? -1 : 0;
}

static int run_eval(run *r) {
    double ls;
    long nt;
    int T = r->cfg.seq_len;
    uint64_t avail = r->store.split[STORE_VAL].n_tokens > 0 ? (r->store.split[STORE_VAL].n_tokens - 1) / T : 0;
    long windows = r->cfg.eval_windows < (long)avail ? r->cfg.eval_windows : (long)avail;
    if (windows < 1) return 0;
    double t = ll_now();
    if (trainer_eval(&r->model, &r->store, STORE_VAL, windows, T, r->cfg.batch_size, 1, &ls, &nt) != 0) return -1;
    double val = nt > 0 ? ls / nt : NAN;
    ll_log("step %6llu | val loss %.4f (%ld windows, %.2f s)\n", (unsigned long long)r->step, val, windows,
           ll_now() - t);
    append_metrics(r, json_pack("{s:s, s:I, s:I, s:f, s:I}", "kind", "val", "step", (json_int_t)r->step,
                                "tokens", (json_int_t)r->tokens_seen, "val_loss", val, "val_tokens",
                                (json_int_t)nt));
    return 0;
}

/* ---- setup ---- */

static int setup(run *r) {
    cfg_config *c = &r->cfg;
    if (dist_init(&r->world) != 0) return -1;
    if (store_open(&r->store, r->opt.data_path) != 0) return -1;
    r->have_store = 1;
    c->vocab_size = (int)r->store.vocab_size;
    if (cfg_validate(c) != 0) return -1;

    int threads = c->threads > 0 ? c->threads : dist_default_threads(&r->world);
    ll_set_threads(threads);

    /* resume: the checkpoint's shape must match the config's */
    char ckpt_path[4096] = "";
    if (r->opt.resume) {
        if (!strcmp(r->opt.resume, "auto")) {
            if (ckpt_find_latest(r->opt.out_dir, ckpt_path, sizeof ckpt_path) != 0) return -1;
        } else {
            snprintf(ckpt_path, sizeof ckpt_path, "%s", r->opt.resume);
        }
    }

    gpt_config mc = {c->n_layer, c->n_head, c->n_embd, c->block_size, c->vocab_size};
    if (gpt_create(&r->model, &mc) != 0) return -1;
    r->have_model = 1;
    if (gpt_alloc_grads(&r->model) != 0 || gpt_alloc_acts(&r->model, c->batch_size, c->seq_len, 1) != 0) return -1;
    if (optim_adamw_init(&r->adam, &r->model, c->beta1, c->beta2, 1e-8f, c->weight_decay) != 0) return -1;
    r->have_adam = 1;
    if (loader_init(&r->data, &r->store, STORE_TRAIN, c->seq_len, c->batch_size, c->grad_accum, r->world.rank,
                    r->world.size, c->seed) != 0)
        return -1;
    r->have_loader = 1;
    ll_rng_seed(&r->rng, c->seed, 2);

    if (ckpt_path[0]) {
        ckpt_meta meta;
        if (ckpt_load(ckpt_path, &r->model, r->adam.m, r->adam.v, &meta) != 0) return -1;
        if (strcmp(meta.tokenizer, r->store.tokenizer) != 0) {
            ll_error("%s: checkpoint tokenizer '%s' differs from the store's '%s' (%s)", ckpt_path, meta.tokenizer,
                     r->store.tokenizer, r->opt.data_path);
            return -1;
        }
        if (!meta.has_optim) { ll_error("%s: checkpoint holds no optimizer state to resume from", ckpt_path); return -1; }
        if (loader_set_state(&r->data, &meta.loader) != 0) return -1;
        r->step = meta.step;
        r->tokens_seen = meta.tokens_seen;
        r->rng = meta.rng;
        ll_log("resumed from %s at step %llu\n", ckpt_path, (unsigned long long)r->step);
    } else {
        gpt_init_weights(&r->model, c->seed);
    }

    r->sched = (sched_config){c->lr, c->min_lr_frac, c->warmup_steps, c->max_steps};
    size_t bt = (size_t)c->batch_size * c->seq_len;
    r->inputs = ll_malloc(bt * sizeof(int));
    r->targets = ll_malloc(bt * sizeof(int));
    if (!r->inputs || !r->targets) return -1;

    /* run directory, resolved config, metrics (rank 0) */
    int rc = 0;
    if (r->world.rank == 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s/checkpoints", r->opt.out_dir);
        rc = ll_mkdir_p(path);
        char *cfgs = rc == 0 ? cfg_to_string(c) : NULL;
        snprintf(path, sizeof path, "%s/config.ini", r->opt.out_dir);
        if (cfgs) { rc = ll_write_file_atomic(path, cfgs, strlen(cfgs)); free(cfgs); }
        snprintf(path, sizeof path, "%s/metrics.jsonl", r->opt.out_dir);
        if (rc == 0 && !(r->metrics = fopen(path, "a"))) {
            ll_error("%s: cannot open for appending: %s", path, strerror(errno));
            rc = -1;
        }
    }
    if (dist_any(rc != 0)) return -1;

    r->peak_gflops = probe_sgemm_gflops();

    /* what this run is, before it starts */
    cfg_print(c);
    size_t P = r->model.num_params;
    double mib = 1.0 / (1024.0 * 1024.0);
    ll_log("ranks %d, threads per rank %d (cores available %d), sgemm peak %.1f GFLOP/s per thread\n",
           r->world.size, threads, ll_cores_available(), r->peak_gflops);
    ll_log("model %.2fM parameters; memory: params %.0f MiB, grads %.0f MiB, AdamW %.0f MiB, activations %.0f MiB\n",
           P / 1e6, P * 4 * mib, P * 4 * mib, 2 * P * 4 * mib,
           gpt_acts_bytes(&mc, c->batch_size, c->seq_len, 1) * mib);
    ll_log("data %s: %llu train tokens, %llu val tokens, vocab %u, tokenizer %s\n", r->opt.data_path,
           (unsigned long long)r->store.split[STORE_TRAIN].n_tokens,
           (unsigned long long)r->store.split[STORE_VAL].n_tokens, r->store.vocab_size, r->store.tokenizer);
    ll_log("global batch %d sequences x %d tokens = %llu tokens per step\n",
           r->world.size * c->batch_size * c->grad_accum, c->seq_len,
           (unsigned long long)r->world.size * c->batch_size * c->grad_accum * c->seq_len);
    return 0;
}

/* ---- one optimizer step ---- */

/* Forward/backward over the micro-steps, reduce, clip, AdamW. */
static int train_step(run *r, double *loss_out, double *norm_out, float *lr_out) {
    cfg_config *c = &r->cfg;
    gpt_model *m = &r->model;
    gpt_zero_grads(m);
    double loss_sum = 0.0;
    long count = 0;
    for (int a = 0; a < c->grad_accum; a++) {
        if (loader_next(&r->data, r->inputs, r->targets) != 0) return -1;
        double ls;
        long nt;
        if (gpt_forward_backward(m, r->inputs, r->targets, c->batch_size, c->seq_len, 1.0f, &ls, &nt) != 0)
            return -1;
        loss_sum += ls;
        count += nt;
    }
    if (r->world.size > 1) {
        if (dist_allreduce_floats(m->grads, m->num_params) != 0 || dist_allreduce_doubles(&loss_sum, 1) != 0 ||
            dist_allreduce_longs(&count, 1) != 0)
            return -1;
    }
    if (count == 0) { ll_error("train: a step with no target tokens"); return -1; }
    float scale = 1.0f / (float)count;
    double norm = optim_grad_norm(m->grads, m->num_params, scale);
    if (c->grad_clip > 0.0f && norm > c->grad_clip) scale *= (float)(c->grad_clip / (norm + 1e-6));
    float lr = sched_lr(&r->sched, (int)r->step);
    optim_adamw_step(&r->adam, m, lr, (int)r->step + 1, scale);
    r->tokens_seen += (uint64_t)count;
    *loss_out = loss_sum / count;
    *norm_out = norm;
    *lr_out = lr;
    return 0;
}

int trainer_run(const trainer_options *opt) {
    run r;
    memset(&r, 0, sizeof r);
    r.opt = *opt;
    r.cfg = opt->cfg;
    int rc = setup(&r);
    cfg_config *c = &r.cfg;
    uint64_t end = (uint64_t)c->max_steps;
    if (opt->stop_after > 0 && (uint64_t)opt->stop_after < end) end = (uint64_t)opt->stop_after;
    double tokens_per_step = (double)r.world.size * c->batch_size * c->grad_accum * c->seq_len;
    double flops_per_token = rc == 0 ? gpt_flops_per_token(&r.model.cfg, c->seq_len) : 0.0;
    double t_start = ll_now();
    uint64_t first_step = r.step;
    if (rc == 0 && r.step == 0 && c->eval_every > 0) rc = run_eval(&r);

    while (rc == 0 && r.step < end) {
        double t0 = ll_now(), loss, norm;
        float lr;
        if (train_step(&r, &loss, &norm, &lr) != 0) { rc = -1; break; }
        if (!isfinite(loss) || !isfinite(norm)) {
            ll_error("train: step %llu: loss %g, gradient norm %g: diverged", (unsigned long long)r.step, loss, norm);
            rc = -1;
            break;
        }
        r.step++;
        double dt = ll_now() - t0;
        double tps = tokens_per_step / dt;
        double mfu = r.peak_gflops > 0 ? flops_per_token * tps / (r.world.size * ll_threads() * r.peak_gflops * 1e9) : 0;
        if (c->log_every > 0 && (r.step % (uint64_t)c->log_every == 0 || r.step == end || r.step == first_step + 1)) {
            double elapsed = ll_now() - t_start;
            double eta = elapsed / (double)(r.step - first_step) * (double)(end - r.step);
            ll_log("step %6llu/%d | loss %.4f | norm %6.3f | lr %.2e | %7.1f ms | %8.0f tok/s | MFU %5.1f%% | ETA %s%.0f s\n",
                   (unsigned long long)r.step, c->max_steps, loss, norm, lr, dt * 1e3, tps, 100 * mfu,
                   eta >= 60 ? "" : " ", eta);
            append_metrics(&r, json_pack("{s:s, s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:f}", "kind", "train", "step",
                                         (json_int_t)r.step, "tokens", (json_int_t)r.tokens_seen, "loss", loss,
                                         "grad_norm", norm, "lr", (double)lr, "ms", dt * 1e3, "tokens_per_s", tps,
                                         "mfu", mfu));
        }
        if (c->eval_every > 0 && (r.step % (uint64_t)c->eval_every == 0 || r.step == end)) rc = run_eval(&r);
        if (rc == 0 && ((c->ckpt_every > 0 && r.step % (uint64_t)c->ckpt_every == 0) || r.step == end))
            rc = save_checkpoint(&r);
    }
    if (rc == 0) ll_log("done: %llu steps, %llu tokens, %.1f s\n", (unsigned long long)r.step,
                        (unsigned long long)r.tokens_seen, ll_now() - t_start);
    run_free(&r);
    return rc;
}

/* trainer.c: the pretraining loop.
 *
 * Invariants:
 * - every rank runs the same loop with the same parameters; gradients are
 *   summed over micro-steps and ranks, then scaled once by 1/(tokens counted
 *   on all ranks), so the update does not depend on how the batch is split;
 * - the learning rate depends only on the step (sched_lr), the data only on
 *   the loader state, the init only on the seed: a run is a function of
 *   (config, store, seed, rank count), and a checkpoint holds all of its state;
 * - rank 0 alone writes files (checkpoints, metrics.jsonl, config.ini, samples.jsonl, and
 *   in SFT mode the SFT store built from a mix); checkpoints are written in
 *   the background (ckpt_writer): the state of the step boundary, snapshot
 *   before the next update; the run ends only after the last write finished;
 * - samples (train.sample_every) are drawn on rank 0 from the weights
 *   alone, with their own RNG: a run's bits do not depend on them;
 * - SFT mode changes only the data: packed rows of masked examples
 *   (loader_pack) instead of windows, and the loss counts masked targets
 *   only (targets -1 are ignored by the model); the step, the reduction, the
 *   checkpoints and resume are the same code.
 */
#include "llmpi/trainer.h"

#include <cblas.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llmpi/ckpt.h"
#include "llmpi/comm.h"
#include "llmpi/infer.h"
#include "llmpi/loader.h"
#include "llmpi/metrics.h"
#include "llmpi/optim.h"
#include "llmpi/util.h"

/* ---- evaluation ---- */

/* Per-source sums of an eval pass (NULL: none): the CE of every counted
 * target, in double from the logits, added to its source's sum. */
typedef struct {
    int n_sources;
    double *loss;   /* n_sources */
    long *tokens;   /* n_sources */
} eval_sources;

/* Adds each counted target's -log softmax(logits)[target] to its source. */
static void add_source_losses(const float *logits, const int *targets, const int *sources, long n, int V,
                              eval_sources *es) {
    for (long i = 0; i < n; i++) {
        if (targets[i] < 0 || sources[i] < 0 || sources[i] >= es->n_sources) continue;
        const float *z = logits + (size_t)i * (size_t)V;
        double mx = z[0], sum = 0.0;
        for (int v = 1; v < V; v++) if (z[v] > mx) mx = z[v];
        for (int v = 0; v < V; v++) sum += exp((double)z[v] - mx);
        es->loss[sources[i]] += mx + log(sum) - (double)z[targets[i]];
        es->tokens[sources[i]]++;
    }
}

/* Runs a prepared evaluation pass (windows or SFT rows) and reduces the sums
 * (bytes of the counted targets when token_bytes, per source when es). */
static int eval_pass(gpt_model *m, loader_eval *windows_in, int T, int batch_size, const comm_world *world,
                     const uint32_t *token_bytes, double *loss_sum, long *n_tokens, double *n_bytes,
                     eval_sources *es) {
    int size = world ? world->size : 1;
    loader_eval windows = *windows_in;
    const int V = m->cfg.vocab_size;
    int *in = ll_malloc((size_t)batch_size * T * sizeof(int));
    int *tgt = ll_malloc((size_t)batch_size * T * sizeof(int));
    int *src = es ? ll_malloc((size_t)batch_size * T * sizeof(int)) : NULL;
    float *logits = es ? ll_malloc((size_t)batch_size * T * (size_t)V * sizeof(float)) : NULL;
    int rc = (in && tgt && (!es || (src && logits))) ? 0 : -1;
    double sum = 0.0, bytes = 0.0;
    long count = 0;
    for (int rows = 1; rc == 0;) {
        if (loader_eval_next_sources(&windows, in, tgt, src, &rows) != 0) { rc = -1; break; }
        if (rows == 0) break;
        double ls;
        long nt;
        if (gpt_forward(m, in, tgt, rows, T, &ls, &nt, logits, NULL) != 0) { rc = -1; break; }
        sum += ls;
        count += nt;
        if (es) add_source_losses(logits, tgt, src, (long)rows * T, V, es);
        /* the targets the loss counted: ids >= 0 (the model ignores -1) */
        if (token_bytes)
            for (long i = 0; i < (long)rows * T; i++)
                if (tgt[i] >= 0) bytes += token_bytes[tgt[i]];
    }
    loader_eval_free(&windows);
    free(in);
    free(tgt);
    free(src);
    free(logits);
    if (size > 1) {
        /* every rank must join the reduction, even one that failed */
        double d[3] = {sum, rc != 0 ? 1.0 : 0.0, bytes};
        if (comm_allreduce_doubles(d, 3) != 0 || comm_allreduce_longs(&count, 1) != 0) return -1;
        if (es && (comm_allreduce_doubles(es->loss, es->n_sources) != 0 ||
                   comm_allreduce_longs(es->tokens, es->n_sources) != 0))
            return -1;
        sum = d[0];
        if (d[1] != 0.0) rc = -1;
        bytes = d[2];
    }
    *loss_sum = sum;
    *n_tokens = count;
    if (n_bytes) *n_bytes = bytes;
    return rc;
}

uint32_t *trainer_token_bytes(const char *name, const char *json, size_t len, int vocab_size) {
    tokenizer *t = json ? tok_load_buffer(name, json, len) : tok_bytes_new();
    if (!t) return NULL;
    uint32_t *table = NULL;
    if (tok_vocab_size(t) != vocab_size)
        ll_error("%s: the tokenizer has %d tokens, the model %d", name, tok_vocab_size(t), vocab_size);
    else if ((table = ll_malloc((size_t)vocab_size * sizeof *table)) != NULL)
        for (int id = 0; id < vocab_size; id++) {
            size_t n = 0;
            tok_token_bytes(t, id, &n);
            table[id] = (uint32_t)n;
        }
    tok_free(t);
    return table;
}

int trainer_eval(gpt_model *m, store_reader *s, store_split split, long n_windows, int T, int batch_size,
                 const comm_world *world, double *loss_sum, long *n_tokens) {
    int rank = world ? world->rank : 0, size = world ? world->size : 1;
    loader_eval windows;
    if (loader_eval_init(&windows, s, split, T, batch_size, n_windows, rank, size) != 0) return -1;
    return eval_pass(m, &windows, T, batch_size, world, NULL, loss_sum, n_tokens, NULL, NULL);
}

int trainer_eval_bytes(gpt_model *m, store_reader *s, store_split split, long n_windows, int T, int batch_size,
                       const comm_world *world, const uint32_t *token_bytes, double *loss_sum, long *n_tokens,
                       double *n_bytes) {
    int rank = world ? world->rank : 0, size = world ? world->size : 1;
    loader_eval windows;
    if (loader_eval_init(&windows, s, split, T, batch_size, n_windows, rank, size) != 0) return -1;
    return eval_pass(m, &windows, T, batch_size, world, token_bytes, loss_sum, n_tokens, n_bytes, NULL);
}

int trainer_eval_sft(gpt_model *m, const loader_pack *pack, long n_rows, int batch_size, const comm_world *world,
                     double *loss_sum, long *n_tokens) {
    int rank = world ? world->rank : 0, size = world ? world->size : 1;
    loader_eval rows;
    if (loader_eval_init_sft(&rows, pack, batch_size, n_rows, rank, size) != 0) return -1;
    return eval_pass(m, &rows, pack->seq_len, batch_size, world, NULL, loss_sum, n_tokens, NULL, NULL);
}

int trainer_eval_sft_bytes(gpt_model *m, const loader_pack *pack, long n_rows, int batch_size,
                           const comm_world *world, const uint32_t *token_bytes, double *loss_sum, long *n_tokens,
                           double *n_bytes) {
    int rank = world ? world->rank : 0, size = world ? world->size : 1;
    loader_eval rows;
    if (loader_eval_init_sft(&rows, pack, batch_size, n_rows, rank, size) != 0) return -1;
    return eval_pass(m, &rows, pack->seq_len, batch_size, world, token_bytes, loss_sum, n_tokens, n_bytes, NULL);
}

int trainer_eval_sft_sources(gpt_model *m, const loader_pack *pack, long n_rows, int batch_size,
                             const comm_world *world, const uint32_t *token_bytes, double *loss_sum,
                             long *n_tokens, double *n_bytes, int n_sources, double *source_loss,
                             long *source_tokens) {
    int rank = world ? world->rank : 0, size = world ? world->size : 1;
    for (int i = 0; i < n_sources; i++) { source_loss[i] = 0.0; source_tokens[i] = 0; }
    eval_sources es = {n_sources, source_loss, source_tokens};
    loader_eval rows;
    if (loader_eval_init_sft(&rows, pack, batch_size, n_rows, rank, size) != 0) return -1;
    return eval_pass(m, &rows, pack->seq_len, batch_size, world, token_bytes, loss_sum, n_tokens, n_bytes, &es);
}

/* ---- sgemm peak probe, for the MFU column ---- */

/* One-thread sgemm GFLOP/s on a 768^3 product: one untimed call (OpenBLAS
 * start-up, page faults), then the best of 4 (about 50 ms in all). */
static double probe_sgemm_gflops(void) {
    const int n = 768;
    float *a = ll_calloc_quiet((size_t)n * n, sizeof(float)), *b = ll_calloc_quiet((size_t)n * n, sizeof(float)),
          *c = ll_calloc_quiet((size_t)n * n, sizeof(float));   /* without them: MFU 0, no error */
    double best = 0.0;
    if (a && b && c) {
        int threads = ll_threads();
        ll_set_threads(1);
        for (int i = 0; i < n * n; i++) { a[i] = (float)(i % 7); b[i] = (float)(i % 5); }
        /* at least 0.25 s of multiplications: a few milliseconds can fall
         * into another thread's burst (a rank's setup, the prefetcher) and
         * read half the peak, which then shows MFU above 100% */
        double start = ll_now();
        for (int r = 0; r < 200 && (r < 5 || ll_now() - start < 0.25); r++) {
            double t = ll_now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
            t = ll_now() - t;
            double g = 2.0 * n * n * n / t / 1e9;
            if (r > 0 && g > best) best = g;
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
    comm_world world;
    store_reader store;
    sft_store sft;           /* SFT mode: the whole store in memory */
    loader_pack pack[2];     /* SFT mode: train and val rows */
    char tokenizer[TOK_IDENTITY_MAX]; /* identity of the data's tokenizer */
    uint32_t vocab_size;
    gpt_model model;
    optim_adamw adam;        /* moments of all parameters, or of this rank's ZeRO-1 shard */
    comm_reducer *reducer;   /* NULL in a world of one */
    int zero;                /* ZeRO-1 active */
    loader data;
    sched_config sched;
    ll_rng rng;
    uint64_t step, tokens_seen;
    int *inputs, *targets;
    metrics_log *metrics;    /* rank 0 only; NULL elsewhere */
    infer_train_sampler *sampler; /* rank 0 with train.sample_every > 0; NULL elsewhere */
    ckpt_writer *writer;     /* rank 0 only: checkpoints written in the background */
    uint32_t *token_bytes;   /* bytes per token id (all ranks), NULL: tokenizer unknown, no bpb */
    double peak_gflops, comm_wait;
    int bad_steps;
    int have_store, have_model, have_adam, have_loader, have_sft;
    char *tokenizer_json;    /* rank 0: the tokenizer.json put into every checkpoint (or NULL) */
    size_t tokenizer_json_len;
} run;

static volatile sig_atomic_t g_stop_signal = 0;
static void on_stop_signal(int sig) { g_stop_signal = sig; }

static void install_signal_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESTART;  /* let file and MPI calls in progress complete */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

static void run_free(run *r) {
    ckpt_writer_free(r->writer);   /* waits for the write in flight */
    free(r->token_bytes);
    if (r->reducer) comm_reducer_free(r->reducer);
    if (r->have_loader) loader_free(&r->data);
    if (r->have_adam) optim_adamw_free(&r->adam);
    if (r->have_model) gpt_free(&r->model);
    if (r->have_store) store_close(&r->store);
    free(r->tokenizer_json);
    loader_pack_free(&r->pack[0]);
    loader_pack_free(&r->pack[1]);
    if (r->have_sft) sft_store_free(&r->sft);
    metrics_close(r->metrics);
    infer_train_sampler_close(r->sampler);
    free(r->inputs);
    free(r->targets);
}

/* Copies this rank's ZeRO-1 parts of a full-size buffer into shard order. */
static void full_to_shard(const run *r, const float *full, float *shard) {
    size_t off = 0;
    for (int i = 0; i < comm_reducer_n_parts(r->reducer); i++) {
        size_t lo, hi;
        comm_reducer_part(r->reducer, i, &lo, &hi);
        memcpy(shard + off, full + lo, (hi - lo) * sizeof(float));
        off += hi - lo;
    }
}

/* All ranks call it at a step boundary; rank 0 hands the state to its
 * writer, which snapshots it while the next step's forward and backward run
 * (train_step waits for the snapshot before the update) and writes it in the
 * background. ZeRO-1 moments are gathered to rank 0 into buffers that live
 * until the snapshot is taken (waited for here). Fails (on all ranks) when
 * the previous write failed or this one cannot start. */
static int save_checkpoint(run *r) {
    double t_stall = ll_now();
    int rc = 0;
    const float *m = r->adam.m, *v = r->adam.v;
    float *full_m = NULL, *full_v = NULL;
    if (r->zero) {
        if (r->world.rank == 0) {
            full_m = ll_malloc(r->model.num_params * sizeof(float));
            full_v = ll_malloc(r->model.num_params * sizeof(float));
            if (!full_m || !full_v) rc = -1;
        }
        if (comm_any(rc != 0) || comm_reducer_gather_shard(r->reducer, r->adam.m, full_m) != 0 ||
            comm_reducer_gather_shard(r->reducer, r->adam.v, full_v) != 0) {
            free(full_m);
            free(full_v);
            return -1;
        }
        m = full_m;
        v = full_v;
    }
    if (r->world.rank == 0) {
        char path[4096];
        ckpt_meta meta;
        memset(&meta, 0, sizeof meta);
        meta.step = r->step;
        meta.tokens_seen = r->tokens_seen;
        meta.world_size = (uint64_t)r->world.size;
        snprintf(meta.tokenizer, sizeof meta.tokenizer, "%s", r->tokenizer);
        char *cfgs = cfg_to_string(&r->cfg);
        if (!cfgs) rc = -1;   /* out of memory, printed: no checkpoint without its config */
        else if (strlen(cfgs) >= sizeof meta.config) {
            ll_error("checkpoint: the config text (%zu bytes) exceeds the %zu the format holds", strlen(cfgs),
                     sizeof meta.config - 1);
            rc = -1;
        }
        if (cfgs) { snprintf(meta.config, sizeof meta.config, "%s", cfgs); free(cfgs); }
        loader_get_state(&r->data, &meta.loader);
        meta.rng = r->rng;
        meta.has_optim = 1;
        meta.tokenizer_json = r->tokenizer_json;
        meta.tokenizer_json_len = r->tokenizer_json_len;
        if (rc != 0 || ckpt_step_path(r->opt.out_dir, r->step, path, sizeof path) != 0 ||
            ckpt_writer_begin(r->writer, path, r->model.params, m, v, &meta) != 0)
            rc = -1;
        /* the gathered moments are freed below: the snapshot must be taken */
        else if (full_m)
            ckpt_writer_snapshot_wait(r->writer, NULL);
        if (rc == 0)
            ll_log("step %6llu | checkpoint begun (training stalled %.3f s so far)\n", (unsigned long long)r->step,
                   ll_now() - t_stall);
    }
    free(full_m);
    free(full_v);
    /* all ranks learn whether rank 0 succeeded */
    return comm_any(rc != 0) ? -1 : 0;
}

static int run_eval(run *r) {
    double ls;
    long nt;
    int T = r->cfg.seq_len;
    uint64_t avail = r->opt.sft ? r->pack[1].n_rows
                     : r->store.split[STORE_VAL].n_tokens > 0 ? (r->store.split[STORE_VAL].n_tokens - 1) / T : 0;
    long windows = r->cfg.eval_windows < (long)avail ? r->cfg.eval_windows : (long)avail;
    if (windows < 1) return 0;
    double t = ll_now();
    double nb = 0.0;
    int erc = r->opt.sft ? trainer_eval_sft_bytes(&r->model, &r->pack[1], windows, r->cfg.batch_size, &r->world,
                                                  r->token_bytes, &ls, &nt, &nb)
                         : trainer_eval_bytes(&r->model, &r->store, STORE_VAL, windows, T, r->cfg.batch_size,
                                              &r->world, r->token_bytes, &ls, &nt, &nb);
    if (erc != 0) return -1;
    double val = nt > 0 ? ls / nt : NAN, bpb = nb > 0 ? ls / M_LN2 / nb : 0.0;
    char bpb_text[32] = "";
    if (bpb > 0) snprintf(bpb_text, sizeof bpb_text, " | bpb %.4f", bpb);
    ll_log("step %6llu | val loss %.4f%s (%ld windows, %.2f s)\n", (unsigned long long)r->step, val, bpb_text, windows,
           ll_now() - t);
    /* a lost metrics line must not end the run: the log said so once */
    if (r->metrics)
        metrics_append_val(r->metrics, &(metrics_val){r->step, r->tokens_seen, val, (uint64_t)nt, bpb});
    return 0;
}

/* ---- setup ---- */

/* The checkpoint at path (its tokenizer identity and vocabulary size) was
 * trained with the data's tokenizer. 0 / -1 (one line naming both). */
static int check_tokenizer(run *r, const char *path, const char *identity, int vocab_size) {
    if (!r->opt.sft) return store_check_tokenizer(&r->store, identity, (uint32_t)vocab_size);
    if (!tok_identity_matches(identity, (uint32_t)vocab_size, r->tokenizer, r->vocab_size)) {
        ll_error("%s: checkpoint made with tokenizer %s (vocab %d), the SFT store %s with %s (vocab %u)", path,
                 identity, vocab_size, r->opt.data_path, r->tokenizer, r->vocab_size);
        return -1;
    }
    return 0;
}

/* The tokenizer SFT renders with: --tokenizer when given (checked against
 * the checkpoint later), else the copy the --init checkpoint carries. NULL
 * with one line when there is neither. */
static tokenizer *sft_tokenizer(run *r) {
    if (r->opt.tokenizer_path) return tok_load(r->opt.tokenizer_path);
    char *json = NULL, name[4200];
    size_t len = 0;
    if (!r->opt.init || ckpt_read_tokenizer_json(r->opt.init, &json, &len) != 0) {
        if (!r->opt.init) ll_error("sft: --mix needs --tokenizer or an --init checkpoint that carries one");
        return NULL;
    }
    if (!json) {
        ll_error("%s: carries no tokenizer.json (written before checkpoints did): give it with --tokenizer",
                 r->opt.init);
        return NULL;
    }
    snprintf(name, sizeof name, "%s: /tokenizer_json", r->opt.init);
    tokenizer *tok = tok_load_buffer(name, json, len);
    free(json);
    return tok;
}

/* SFT with a mix file: rank 0 builds data_path, or keeps it when it records
 * the same mix text and tokenizer; the others wait for the verdict. */
static int sft_prepare_store(run *r) {
    int rc = 0;
    if (r->world.rank == 0) {
        char *mix_text = NULL;
        size_t n;
        tokenizer *tok = NULL;
        if (ll_mkdir_p(r->opt.out_dir) != 0 || ll_read_file(r->opt.mix_path, &mix_text, &n) != 0 ||
            !(tok = sft_tokenizer(r)))
            rc = -1;
        else if (sft_store_matches(r->opt.data_path, mix_text, tok_identity(tok)))
            ll_log("sft: %s matches the mix and tokenizer: reused\n", r->opt.data_path);
        else {
            ll_log("sft: building %s from %s\n", r->opt.data_path, r->opt.mix_path);
            rc = sft_build_store_with(r->opt.mix_path, tok, r->opt.data_path);
        }
        if (tok) tok_free(tok);
        free(mix_text);
    }
    return comm_any(rc != 0) ? -1 : 0;
}

/* SFT mode: loads the store, packs both splits; one pass sets max_steps. */
static int sft_setup_data(run *r) {
    cfg_config *c = &r->cfg;
    if (sft_store_load(r->opt.data_path, &r->sft) != 0) return -1;
    r->have_sft = 1;
    if (loader_pack_init(&r->pack[0], &r->sft.split[0], c->seq_len, (int32_t)r->sft.eot_id) != 0) return -1;
    if (r->sft.split[1].n_examples > 0 &&
        loader_pack_init(&r->pack[1], &r->sft.split[1], c->seq_len, (int32_t)r->sft.eot_id) != 0)
        return -1;
    r->vocab_size = r->sft.vocab_size;
    snprintf(r->tokenizer, sizeof r->tokenizer, "%s", r->sft.tokenizer);
    if (r->opt.steps_one_pass) {
        uint64_t per_step = (uint64_t)r->world.size * (uint64_t)c->batch_size * (uint64_t)c->grad_accum;
        uint64_t steps = (r->pack[0].n_rows + per_step - 1) / per_step;
        c->max_steps = steps > INT32_MAX ? INT32_MAX : (int)steps;
    }
    return 0;
}

/* Loads a checkpoint into the run: parameters, moments (this rank's shard
 * under ZeRO-1), loader, RNG, step. */
static int resume_from(run *r, const char *path) {
    ckpt_meta meta;
    size_t P = r->model.num_params;
    float *m = r->adam.m, *v = r->adam.v, *full_m = NULL, *full_v = NULL;
    if (r->zero) {
        full_m = ll_malloc(P * sizeof(float));
        full_v = ll_malloc(P * sizeof(float));
        if (!full_m || !full_v) { free(full_m); free(full_v); return -1; }
        m = full_m;
        v = full_v;
    }
    int rc = ckpt_load_ex(path, &r->model, m, v, &meta, !r->opt.no_verify);
    if (rc == 0 && r->zero) {
        full_to_shard(r, full_m, r->adam.m);
        full_to_shard(r, full_v, r->adam.v);
    }
    free(full_m);
    free(full_v);
    if (rc != 0) return -1;
    if (check_tokenizer(r, path, meta.tokenizer, r->model.cfg.vocab_size) != 0) return -1;
    if (!meta.has_optim) { ll_error("%s: checkpoint holds no optimizer state to resume from", path); return -1; }
    /* the loader adds one step's windows per step: the positions still to
     * come must fit in 64 bits (a damaged state would wrap around) */
    const cfg_config *c = &r->cfg;
    uint64_t per_step = (uint64_t)r->world.size * (uint64_t)c->batch_size * (uint64_t)c->grad_accum;
    uint64_t steps_left = (uint64_t)c->max_steps > meta.step ? (uint64_t)c->max_steps - meta.step : 0;
    /* pretraining counts every target, so each window consumed added at
     * least one token to tokens_seen (an SFT row may hold no target) */
    if (!r->opt.sft && meta.loader.position > meta.tokens_seen) {
        ll_error("%s: loader position %llu exceeds the %llu tokens seen: the checkpoint's state is damaged", path,
                 (unsigned long long)meta.loader.position, (unsigned long long)meta.tokens_seen);
        return -1;
    }
    if (per_step == 0 || steps_left + 1 > (UINT64_MAX - meta.loader.position) / per_step) {
        ll_error("%s: loader position %llu leaves no room for %llu more steps: the checkpoint's state is damaged",
                 path, (unsigned long long)meta.loader.position, (unsigned long long)steps_left);
        return -1;
    }
    if (loader_set_state(&r->data, &meta.loader) != 0) return -1;
    if (meta.world_size && meta.world_size != (uint64_t)r->world.size)
        ll_log("warning: %s was written by %llu ranks, resuming on %d: the run continues, but bits may differ "
               "from an uninterrupted one\n", path, (unsigned long long)meta.world_size, r->world.size);
    r->step = meta.step;
    r->tokens_seen = meta.tokens_seen;
    r->rng = meta.rng;
    ll_log("resumed from %s at step %llu\n", path, (unsigned long long)r->step);
    return 0;
}

/* 1 when dir already holds a run: metrics.jsonl, or a file named like a
 * checkpoint (readable or not) in dir/checkpoints. */
static int run_dir_in_use(const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    if (access(path, F_OK) == 0) return 1;
    snprintf(path, sizeof path, "%s/checkpoints", dir);
    DIR *d = opendir(path);
    if (!d) return 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        found = strncmp(e->d_name, "step-", 5) == 0 && len > 8 && strcmp(e->d_name + len - 3, ".h5") == 0;
    }
    closedir(d);
    return found;
}

/* --force: removes what an earlier run left in dir (its checkpoints and
 * metrics.jsonl; nothing else), so the new run cannot be mixed with it:
 * `--resume auto` would otherwise pick up the old run's newer steps. */
static int clear_run_dir(const char *dir) {
    char path[4400];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    if (unlink(path) != 0 && errno != ENOENT) { ll_error("%s: cannot remove: %s", path, strerror(errno)); return -1; }
    snprintf(path, sizeof path, "%s/samples.jsonl", dir);
    if (unlink(path) != 0 && errno != ENOENT) { ll_error("%s: cannot remove: %s", path, strerror(errno)); return -1; }
    snprintf(path, sizeof path, "%s/checkpoints", dir);
    DIR *d = opendir(path);
    if (!d) return 0;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "step-", 5) != 0 || len <= 8 || strcmp(e->d_name + len - 3, ".h5") != 0) continue;
        snprintf(path, sizeof path, "%s/checkpoints/%s", dir, e->d_name);
        if (unlink(path) != 0 && errno != ENOENT) { ll_error("%s: cannot remove: %s", path, strerror(errno)); rc = -1; }
    }
    closedir(d);
    return rc;
}

static int setup(run *r) {
    cfg_config *c = &r->cfg;
    if (comm_init(&r->world) != 0) return -1;
    if (r->opt.out_dir[0] == '\0') { ll_error("pretrain: --out: empty path"); return -1; }
    /* a new run must not silently overwrite or append to an earlier one */
    int in_use = 0;
    if (r->world.rank == 0 && !r->opt.resume && !r->opt.force && run_dir_in_use(r->opt.out_dir)) {
        ll_error("%s: already holds a run (checkpoints or metrics.jsonl): continue it with --resume auto, "
                 "or start over with --force (deletes its checkpoints and metrics)", r->opt.out_dir);
        in_use = 1;
    }
    if (comm_any(in_use)) return -1;
    if (r->opt.sft) {
        if (r->opt.mix_path && sft_prepare_store(r) != 0) return -1;
        if (sft_setup_data(r) != 0) return -1;
    } else {
        /* the checksum pass reads the whole store: once, on rank 0, for all */
        if (store_open_flags(&r->store, r->opt.data_path, STORE_OPEN_NO_VERIFY) != 0) return -1;
        r->have_store = 1;
        int bad_store = r->world.rank == 0 && ((!r->opt.no_verify && store_verify(&r->store) != 0) ||
                                               store_read_tokenizer_json(&r->store, &r->tokenizer_json,
                                                                         &r->tokenizer_json_len) != 0);
        if (comm_any(bad_store)) return -1;
        r->vocab_size = r->store.vocab_size;
        snprintf(r->tokenizer, sizeof r->tokenizer, "%s", r->store.tokenizer);
    }
    c->vocab_size = (int)r->vocab_size;
    if (cfg_validate(c) != 0) return -1;

    int threads = c->threads > 0 ? c->threads : comm_default_threads(&r->world);
    ll_set_threads(threads);

    /* every rank probes its own core, before this process starts any thread
     * of its own (the loader's prefetcher, the reducer's communication
     * thread) that could share the core during the probe; rank 0, which
     * prints MFU, takes the best: a rank disturbed during its probe must not
     * inflate the figure. (One run in a dozen on the Emerald Rapids VM read
     * 84.6 GFLOP/s on both ranks against 158-170 in the others, and printed
     * MFU above 100%; what disturbed it is not known.) */
    double peak = probe_sgemm_gflops(), peak_sum = 0, peak_max = peak;
    if (r->world.size > 1 && comm_reduce_sum_max_doubles(&peak, &peak_sum, &peak_max, 1) != 0) return -1;
    r->peak_gflops = r->world.rank == 0 ? peak_max : peak;

    /* resume: the checkpoint's shape must match the config's */
    char ckpt_path[4096] = "";
    if (r->opt.resume) {
        if (!strcmp(r->opt.resume, "auto")) {
            /* rank 0 chooses (one warning per skipped file), all ranks load it */
            int frc = r->world.rank == 0 ? ckpt_find_latest(r->opt.out_dir, !r->opt.no_verify, ckpt_path,
                                                            sizeof ckpt_path)
                                         : 0;
            if (comm_any(frc != 0)) return -1;
            if (r->world.size > 1 && comm_bcast(ckpt_path, sizeof ckpt_path, 0) != 0) return -1;
        } else {
            snprintf(ckpt_path, sizeof ckpt_path, "%s", r->opt.resume);
        }
    }

    gpt_config mc = {c->n_layer, c->n_head, c->n_embd, c->block_size, c->vocab_size};
    if (gpt_create(&r->model, &mc) != 0) return -1;
    r->have_model = 1;
    if (gpt_alloc_grads(&r->model) != 0 || gpt_alloc_acts(&r->model, c->batch_size, c->seq_len, 1) != 0) return -1;
    if (r->world.size > 1) {
        r->zero = c->zero;
        size_t bucket = (size_t)(c->bucket_mb * 1024.0 * 1024.0 / sizeof(float));
        r->reducer = comm_reducer_create(r->model.grads, r->model.num_params, bucket, r->zero);
        if (!r->reducer) return -1;
    }
    size_t moments = r->zero ? comm_reducer_shard_size(r->reducer) : r->model.num_params;
    if (optim_adamw_init(&r->adam, moments, c->beta1, c->beta2, 1e-8f, c->weight_decay) != 0) return -1;
    r->have_adam = 1;
    if (r->opt.sft ? loader_init_sft(&r->data, &r->pack[0], c->batch_size, c->grad_accum, r->world.rank,
                                     r->world.size, c->seed) != 0
                   : loader_init(&r->data, &r->store, STORE_TRAIN, c->seq_len, c->batch_size, c->grad_accum,
                                 r->world.rank, r->world.size, c->seed) != 0)
        return -1;
    r->have_loader = 1;
    ll_rng_seed(&r->rng, c->seed, 2);

    if (ckpt_path[0]) {
        if (resume_from(r, ckpt_path) != 0) return -1;
    } else if (r->opt.init) {
        /* a fresh run from trained parameters (SFT): no moments, step 0 */
        ckpt_meta meta;
        gpt_config ic;
        /* the tokenizer first: a model of another vocabulary would otherwise
         * be refused for its shapes, which names the wrong problem */
        if (ckpt_peek(r->opt.init, &ic, &meta) != 0 ||
            check_tokenizer(r, r->opt.init, meta.tokenizer, ic.vocab_size) != 0 ||
            ckpt_load_ex(r->opt.init, &r->model, NULL, NULL, &meta, !r->opt.no_verify) != 0)
            return -1;
        ll_log("initialised from %s (step %llu)\n", r->opt.init, (unsigned long long)meta.step);
    } else {
        /* a one-off pass of ~10^8 normals (libm log and cos): on every core
         * this rank may use, even when it trains on fewer; the values do not
         * depend on the thread count */
        int init_threads = comm_default_threads(&r->world);
        ll_set_threads(init_threads > threads ? init_threads : threads);
        gpt_init_weights(&r->model, c->seed);
        ll_set_threads(threads);
    }
    /* SFT: the tokenizer.json comes with the checkpoint it starts or resumes from */
    const char *tok_src = ckpt_path[0] ? ckpt_path : r->opt.init;
    int bad_tok = r->opt.sft && r->world.rank == 0 && !r->tokenizer_json && tok_src &&
                  ckpt_read_tokenizer_json(tok_src, &r->tokenizer_json, &r->tokenizer_json_len) != 0;
    if (comm_any(bad_tok)) return -1;

    /* bytes per token for the val bits per byte: rank 0 has the tokenizer
     * (the store's, or the checkpoint's in SFT), the others get its table */
    int have_bytes = 0, bad_bytes = 0;
    if (r->world.rank == 0 && (r->tokenizer_json || !strcmp(r->tokenizer, TOK_BYTES_IDENTITY))) {
        r->token_bytes = trainer_token_bytes(r->opt.data_path, r->tokenizer_json, r->tokenizer_json_len, c->vocab_size);
        have_bytes = r->token_bytes != NULL;
        bad_bytes = !have_bytes;   /* the line is printed; a known tokenizer that fails is an error */
    }
    if (comm_any(bad_bytes)) return -1;
    if (r->world.size > 1) {
        if (comm_bcast(&have_bytes, sizeof have_bytes, 0) != 0) return -1;
        if (have_bytes && r->world.rank != 0 && !(r->token_bytes = ll_malloc((size_t)c->vocab_size * sizeof(uint32_t))))
            have_bytes = 0;   /* out of memory: printed, and the bcast below must still be joined */
        if (comm_any(have_bytes && !r->token_bytes)) return -1;
        if (have_bytes && comm_bcast(r->token_bytes, (size_t)c->vocab_size * sizeof(uint32_t), 0) != 0) return -1;
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
        if (r->opt.force) rc = clear_run_dir(r->opt.out_dir);
        snprintf(path, sizeof path, "%s/checkpoints", r->opt.out_dir);
        if (rc == 0) rc = ll_mkdir_p(path);
        char *cfgs = rc == 0 ? cfg_to_string(c) : NULL;
        snprintf(path, sizeof path, "%s/config.ini", r->opt.out_dir);
        if (cfgs) { rc = ll_write_file_atomic(path, cfgs, strlen(cfgs)); free(cfgs); } else rc = -1;
        snprintf(path, sizeof path, "%s/metrics.jsonl", r->opt.out_dir);
        if (rc == 0 && !(r->metrics = metrics_open(path))) rc = -1;
        snprintf(path, sizeof path, "%s/samples.jsonl", r->opt.out_dir);
        if (rc == 0 && c->sample_every > 0 &&
            !(r->sampler = infer_train_sampler_open(&r->model, r->tokenizer, r->tokenizer_json, r->tokenizer_json_len,
                                                    c->sample_prompt, c->sample_tokens, c->seed, r->opt.sft, path)))
            rc = -1;
        if (rc == 0 && !(r->writer = ckpt_writer_create(&r->model, 1, r->opt.out_dir, r->cfg.keep_checkpoints)))
            rc = -1;
    }
    if (comm_any(rc != 0)) return -1;

    install_signal_handlers();

    /* what this run is, before it starts */
    cfg_print(c);
    size_t P = r->model.num_params;
    double mib = 1.0 / (1024.0 * 1024.0);
    ll_log("ranks %d (%d on this node), threads per rank %d (cores available to rank 0: %d), "
           "sgemm peak %.1f GFLOP/s per thread\n",
           r->world.size, r->world.local_size, threads, ll_cores_available(), r->peak_gflops);
    if (r->world.size > 1)
        ll_log("gradients: %s in %d buckets of %.1f MiB, overlapped with backward\n",
               r->zero ? "ZeRO-1 reduce-scatter + all-gather" : "all-reduce", comm_reducer_n_parts(r->reducer),
               c->bucket_mb);
    ll_log("model %.2fM parameters; memory per rank: params %.0f MiB, grads %.0f MiB, AdamW %.0f MiB, "
           "activations %.0f MiB\n",
           P / 1e6, P * 4 * mib, P * 4 * mib, 2.0 * moments * 4 * mib,
           gpt_acts_bytes(&mc, c->batch_size, c->seq_len, 1) * mib);
    if (r->opt.sft)
        ll_log("data %s (SFT): %llu train examples in %llu rows of %d+1 (padding %.1f%%, %llu truncated), "
               "%llu val rows, vocab %u, tokenizer %s\n", r->opt.data_path,
               (unsigned long long)r->sft.split[0].n_examples, (unsigned long long)r->pack[0].n_rows, c->seq_len,
               100.0 * loader_pack_padding(&r->pack[0]), (unsigned long long)r->pack[0].n_truncated,
               (unsigned long long)r->pack[1].n_rows, r->vocab_size, r->tokenizer);
    else
        ll_log("data %s: %llu train tokens, %llu val tokens, vocab %u, tokenizer %s\n", r->opt.data_path,
               (unsigned long long)r->store.split[STORE_TRAIN].n_tokens,
               (unsigned long long)r->store.split[STORE_VAL].n_tokens, r->store.vocab_size, r->store.tokenizer);
    ll_log("global batch %d sequences x %d tokens = %llu tokens per step\n",
           r->world.size * c->batch_size * c->grad_accum, c->seq_len,
           (unsigned long long)r->world.size * c->batch_size * c->grad_accum * c->seq_len);
    return 0;
}

/* ---- one optimizer step ---- */

/* Sum of squares of this rank's reduced ZeRO-1 gradient parts, summed over
 * ranks: the global norm of the summed gradient, times scale. */
static double zero_grad_norm(run *r, float scale) {
    double ss = optim_grad_norm(comm_reducer_shard_grads(r->reducer), comm_reducer_shard_size(r->reducer), 1.0f);
    ss *= ss;
    if (comm_allreduce_doubles(&ss, 1) != 0) return NAN;
    return sqrt(ss) * fabs((double)scale);
}

/* AdamW on this rank's parts, then every rank gets all parameters back. */
static int zero_update(run *r, float lr, int t, float scale) {
    size_t off = 0;
    float *g = comm_reducer_shard_grads(r->reducer);
    for (int i = 0; i < comm_reducer_n_parts(r->reducer); i++) {
        size_t lo, hi;
        comm_reducer_part(r->reducer, i, &lo, &hi);
        optim_adamw_apply(&r->adam, &r->model, lo, hi, g + off, r->adam.m + off, r->adam.v + off, lr, t, scale);
        off += hi - lo;
    }
    return comm_reducer_allgather_params(r->reducer, r->model.params);
}

/* Forward/backward over the micro-steps, reduce (overlapped with the last
 * backward), clip, AdamW. *skipped is set when the loss or gradient was not
 * finite and no update was made. */
static int train_step(run *r, double *loss_out, double *norm_out, float *lr_out, int *skipped) {
    cfg_config *c = &r->cfg;
    gpt_model *m = &r->model;
    gpt_zero_grads(m);
    double loss_sum = 0.0;
    long count = 0;
    for (int a = 0; a < c->grad_accum; a++) {
        if (loader_next(&r->data, r->inputs, r->targets) != 0) return -1;
        int last = a == c->grad_accum - 1;
        if (r->reducer && last) {
            comm_reducer_begin(r->reducer);
            m->grads_ready = comm_reducer_ready;
            m->grads_ready_ctx = r->reducer;
        }
        double ls;
        long nt;
        int rc = gpt_forward_backward(m, r->inputs, r->targets, c->batch_size, c->seq_len, 1.0f, &ls, &nt);
        m->grads_ready = NULL;
        if (rc != 0) {
            /* the communication thread may still be inside a collective:
             * let it finish what it started rather than abort mid-call */
            if (r->reducer && last) comm_reducer_finish(r->reducer, NULL);
            return -1;
        }
        loss_sum += ls;
        count += nt;
    }
    double wait = 0.0;
    if (r->reducer) {
        if (comm_reducer_finish(r->reducer, &wait) != 0 || comm_allreduce_doubles(&loss_sum, 1) != 0 ||
            comm_allreduce_longs(&count, 1) != 0)
            return -1;
    }
    r->comm_wait = wait;
    if (count == 0) { ll_error("train: a step with no target tokens"); return -1; }
    float scale = 1.0f / (float)count;
    double norm = r->zero ? zero_grad_norm(r, scale) : optim_grad_norm(m->grads, m->num_params, scale);
    float lr = sched_lr(&r->sched, (int)r->step);
    *loss_out = loss_sum / count;
    *norm_out = norm;
    *lr_out = lr;
    /* loss and norm are the same on every rank: all ranks skip together */
    *skipped = !isfinite(*loss_out) || !isfinite(norm);
    if (r->writer) {
        /* a checkpoint begun at the last step boundary copies the parameters
         * and moments: the update must wait until it has them */
        double waited;
        ckpt_writer_snapshot_wait(r->writer, &waited);
        if (waited > 0.001) ll_log("step %6llu | waited %.3f s for the checkpoint's snapshot\n",
                                   (unsigned long long)r->step + 1, waited);
    }
    if (!*skipped) {
        if (c->grad_clip > 0.0f && norm > c->grad_clip) scale *= (float)(c->grad_clip / (norm + 1e-6));
        if (r->zero) {
            if (zero_update(r, lr, (int)r->step + 1, scale) != 0) return -1;
        } else {
            optim_adamw_step(&r->adam, m, lr, (int)r->step + 1, scale);
        }
    }
    r->tokens_seen += (uint64_t)count;
    return 0;
}

/* Every rank's parameter checksum must equal rank 0's. */
static int check_sync(run *r) {
    uint64_t h = ll_fnv1a(LL_FNV_INIT, r->model.params, r->model.num_params * sizeof(float));
    uint64_t *all = ll_malloc((size_t)r->world.size * sizeof(uint64_t));
    /* every rank must join the gather, even one without the memory for it */
    if (comm_any(all == NULL)) { free(all); return -1; }
    if (comm_allgather_u64(h, all) != 0) { free(all); return -1; }
    int rc = 0;
    for (int i = 1; i < r->world.size; i++)
        if (all[i] != all[0]) {
            ll_error("check-sync: step %llu: parameters of rank %d (checksum %016llx) differ from rank 0's (%016llx)",
                     (unsigned long long)r->step, i, (unsigned long long)all[i], (unsigned long long)all[0]);
            rc = -1;
            break;
        }
    if (rc == 0) ll_log("step %6llu | check-sync: parameters identical on %d ranks (%016llx)\n",
                        (unsigned long long)r->step, r->world.size, (unsigned long long)all[0]);
    free(all);
    return rc;
}

static void format_duration(char *buf, size_t cap, double s) {
    if (s < 60) snprintf(buf, cap, "%.0fs", s);
    else if (s < 3600) snprintf(buf, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, cap, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

int trainer_run(const trainer_options *opt) {
    run r;
    memset(&r, 0, sizeof r);
    r.opt = *opt;
    r.cfg = opt->cfg;
    g_stop_signal = 0;
    double t_start = ll_now();
    int rc = setup(&r);
    cfg_config *c = &r.cfg;
    uint64_t end = (uint64_t)c->max_steps;
    if (opt->stop_after > 0 && (uint64_t)opt->stop_after < end) end = (uint64_t)opt->stop_after;
    double tokens_per_step = (double)r.world.size * c->batch_size * c->grad_accum * c->seq_len;
    double flops_per_token = rc == 0 ? gpt_flops_per_token(&r.model.cfg, c->seq_len) : 0.0;
    uint64_t first_step = r.step;
    double t_loop = ll_now(), last_step_time = 0.0;
    int saved_at_step = -1;
    if (rc == 0 && r.step == 0 && c->eval_every > 0) rc = run_eval(&r);

    while (rc == 0 && r.step < end) {
        double t0 = ll_now(), loss, norm;
        float lr;
        int skipped = 0;
        if (train_step(&r, &loss, &norm, &lr, &skipped) != 0) { rc = -1; break; }
        r.step++;
        if (skipped) {
            r.bad_steps++;
            ll_log("warning: step %llu: loss %g, gradient norm %g: update skipped (%d in a row)\n",
                   (unsigned long long)r.step, loss, norm, r.bad_steps);
            if (r.bad_steps >= c->max_bad_steps) {
                ll_error("train: %d steps in a row with a non-finite loss or gradient (last: step %llu): stopping; "
                         "lower train.lr or resume from an earlier checkpoint", r.bad_steps, (unsigned long long)r.step);
                rc = -1;
                break;
            }
        } else {
            r.bad_steps = 0;
        }
        double dt = ll_now() - t0;
        last_step_time = dt;
        double tps = tokens_per_step / dt;
        double mfu = r.peak_gflops > 0 ? flops_per_token * tps / (r.world.size * ll_threads() * r.peak_gflops * 1e9) : 0;
        if (c->log_every > 0 && (r.step % (uint64_t)c->log_every == 0 || r.step == end || r.step == first_step + 1)) {
            double elapsed = ll_now() - t_loop;
            char eta[32];
            format_duration(eta, sizeof eta, elapsed / (double)(r.step - first_step) * (double)(end - r.step));
            ll_log("step %6llu/%d | loss %.4f | norm %6.3f | lr %.2e | %7.1f ms | %8.0f tok/s | MFU %5.1f%% | "
                   "comm %5.1f ms | ETA %s\n",
                   (unsigned long long)r.step, c->max_steps, loss, norm, lr, dt * 1e3, tps, 100 * mfu,
                   r.comm_wait * 1e3, eta);
            if (r.metrics)
                metrics_append_train(r.metrics, &(metrics_train){r.step, r.tokens_seen, loss, norm, (double)lr,
                                                                 dt * 1e3, tps, mfu, r.comm_wait * 1e3});
        }
        if (opt->check_sync > 0 && r.world.size > 1 && r.step % (uint64_t)opt->check_sync == 0 && check_sync(&r) != 0) {
            rc = -1;
            break;
        }
        if (c->eval_every > 0 && (r.step % (uint64_t)c->eval_every == 0 || r.step == end)) rc = run_eval(&r);
        /* rank 0 alone, reading the weights only (the other ranks go on to
         * the next step's collectives and wait there); a failure is printed
         * and the run goes on: samples watch the run, they are not part of it */
        if (rc == 0 && r.sampler && r.step % (uint64_t)c->sample_every == 0) (void)infer_train_sample(r.sampler, r.step);
        if (rc == 0 && ((c->ckpt_every > 0 && r.step % (uint64_t)c->ckpt_every == 0) || r.step == end)) {
            rc = save_checkpoint(&r);
            saved_at_step = (int)r.step;
        }
        if (rc != 0) break;
        /* agree on stopping: a signal on any rank, or the time budget; and
         * on failing: a checkpoint write of rank 0's failed (printed) */
        long flags[2] = {g_stop_signal != 0 ||
                             (opt->max_time > 0 && ll_now() - t_start + 2 * last_step_time > opt->max_time),
                         r.writer && ckpt_writer_failed(r.writer)};
        if (r.world.size > 1 && comm_allreduce_longs(flags, 2) != 0) { rc = -1; break; }
        if (flags[1]) {
            ll_log("stopping at step %llu: a checkpoint could not be written (above)\n", (unsigned long long)r.step);
            rc = -1;
            break;
        }
        if (r.step < end && flags[0]) {
            ll_log("stopping at step %llu (%s): writing a checkpoint\n", (unsigned long long)r.step,
                   g_stop_signal ? "signal received" : "time budget");
            if (saved_at_step != (int)r.step) rc = save_checkpoint(&r);
            break;
        }
    }
    /* the end of the run, a stop or a failure: the write in flight completes
     * (or its failure is reported) before the process ends */
    if (r.writer && ckpt_writer_wait(r.writer) != 0) rc = -1;
    if (rc == 0) ll_log("done: step %llu, %llu tokens, %.1f s\n", (unsigned long long)r.step,
                        (unsigned long long)r.tokens_seen, ll_now() - t_start);
    run_free(&r);
    return rc;
}

/* bench_train.c: training throughput of the llmpi GPT, one process, no data
 * pipeline: whole optimizer steps on seeded random token ids.
 *
 * Invariants:
 * - A timed step is exactly what the trainer does per optimizer step with one
 *   micro-batch: zero grads, fused forward+backward (grad_scale 1, loss SUM),
 *   global grad norm of the mean-loss gradient, clip to 1.0, scheduled lr,
 *   AdamW. Drawing the random ids happens outside the timed region.
 * - The first --warmup-steps steps are run but not timed (page faults on the
 *   activation arena and AdamW moments, OpenBLAS buffers, OpenMP pool start).
 * - FLOPs per token follow the benchmark spec, 6N + 12*L*T*C with N = every
 *   parameter (the tied embedding once, wpe included); MFU divides the
 *   achieved FLOP/s by threads x the one-thread sgemm peak (--peak-gflops).
 * - No MPI: the model and optimizer never call it, so this runs as a plain
 *   process and its peak RSS is the model's, not an MPI runtime's.
 * Output: one JSON line on stdout; progress and errors go to stderr.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpi/gpt.h"
#include "llmpi/optim.h"
#include "llmpi/util.h"

typedef struct {
    gpt_config cfg;
    int seq, batch, threads, steps, warmup_steps;
    unsigned long long seed;
    double peak_gflops;         /* one-thread sgemm GFLOP/s; 0 = no MFU */
    const char *label;          /* free text copied into the JSON ("config") */
    int verbose;
} bench_options;

/* Parses an int in [lo, hi] into *out; -1 (one line) otherwise. */
static int parse_int(const char *flag, const char *text, long lo, long hi, int *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi) {
        ll_error("bench_train: %s: expected an integer in [%ld, %ld], got '%s'", flag, lo, hi, text);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Parses a finite double >= 0 into *out; -1 (one line) otherwise. */
static int parse_double(const char *flag, const char *text, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !isfinite(v) || v < 0) {
        ll_error("bench_train: %s: expected a number >= 0, got '%s'", flag, text);
        return -1;
    }
    *out = v;
    return 0;
}

/* Prints the option summary to f. */
static void usage(FILE *f) {
    fprintf(f,
        "usage: bench_train [--layers 6] [--heads 6] [--embd 384] [--vocab 8192]\n"
        "                   [--seq 256] [--block-size SEQ] [--batch 8] [--threads 1]\n"
        "                   [--steps 10] [--warmup-steps 2] [--seed 1]\n"
        "                   [--peak-gflops G] [--label NAME] [--verbose]\n"
        "Times whole AdamW training steps of the GPT on random token ids and\n"
        "prints one JSON line (tokens_per_s, ms_per_step, peak_rss_mb, phases,\n"
        "and mfu when --peak-gflops gives the one-thread sgemm GFLOP/s).\n");
}

/* Fills o from argv (defaults: config (a) of the benchmark); -1 on a bad
 * option, 1 when --help was printed. */
static int parse_args(int argc, char **argv, bench_options *o) {
    memset(o, 0, sizeof *o);
    o->cfg = (gpt_config){.n_layer = 6, .n_head = 6, .n_embd = 384, .block_size = 0, .vocab_size = 8192};
    o->seq = 256; o->batch = 8; o->threads = 1; o->steps = 10; o->warmup_steps = 2; o->seed = 1;
    o->label = "";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 1; }
        if (!strcmp(a, "--verbose")) { o->verbose = 1; continue; }
        if (i + 1 >= argc) { ll_error("bench_train: %s: missing value (see --help)", a); return -1; }
        const char *v = argv[++i];
        int rc, seed = 0;
        if (!strcmp(a, "--layers")) rc = parse_int(a, v, 1, 1024, &o->cfg.n_layer);
        else if (!strcmp(a, "--heads")) rc = parse_int(a, v, 1, 1024, &o->cfg.n_head);
        else if (!strcmp(a, "--embd")) rc = parse_int(a, v, 1, 65536, &o->cfg.n_embd);
        else if (!strcmp(a, "--vocab")) rc = parse_int(a, v, 2, 1 << 22, &o->cfg.vocab_size);
        else if (!strcmp(a, "--block-size")) rc = parse_int(a, v, 1, 1 << 20, &o->cfg.block_size);
        else if (!strcmp(a, "--seq")) rc = parse_int(a, v, 1, 1 << 20, &o->seq);
        else if (!strcmp(a, "--batch")) rc = parse_int(a, v, 1, 1 << 16, &o->batch);
        else if (!strcmp(a, "--threads")) rc = parse_int(a, v, 1, 1024, &o->threads);
        else if (!strcmp(a, "--steps")) rc = parse_int(a, v, 1, 1 << 20, &o->steps);
        else if (!strcmp(a, "--warmup-steps")) rc = parse_int(a, v, 0, 1 << 20, &o->warmup_steps);
        else if (!strcmp(a, "--seed")) { rc = parse_int(a, v, 0, 0x7fffffff, &seed); o->seed = (unsigned)seed; }
        else if (!strcmp(a, "--peak-gflops")) rc = parse_double(a, v, &o->peak_gflops);
        else if (!strcmp(a, "--label")) { o->label = v; rc = 0; }
        else { ll_error("bench_train: unknown option '%s' (see --help)", a); return -1; }
        if (rc != 0) return -1;
    }
    if (o->cfg.block_size == 0) o->cfg.block_size = o->seq;
    if (o->seq > o->cfg.block_size) {
        ll_error("bench_train: --seq %d exceeds --block-size %d", o->seq, o->cfg.block_size);
        return -1;
    }
    if (o->cfg.n_embd % o->cfg.n_head != 0) {
        ll_error("bench_train: --heads %d does not divide --embd %d", o->cfg.n_head, o->cfg.n_embd);
        return -1;
    }
    return 0;
}

/* Fills inputs/targets (batch x seq each) from batch rows of seq+1 random ids,
 * targets shifted by one as in language-model training. */
static void draw_batch(int *inputs, int *targets, int batch, int seq, int vocab, ll_rng *rng) {
    for (int b = 0; b < batch; b++) {
        int prev = (int)ll_rng_below(rng, (uint64_t)vocab);
        for (int t = 0; t < seq; t++) {
            int next = (int)ll_rng_below(rng, (uint64_t)vocab);
            inputs[b * seq + t] = prev;
            targets[b * seq + t] = next;
            prev = next;
        }
    }
}

/* qsort comparator for doubles, ascending. */
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Per-phase seconds summed over the timed steps. */
typedef struct { double fwd_bwd, optimizer, matmul, attention, elementwise, lm_head; } phase_totals;

/* Runs warmup + timed steps and prints the JSON line; -1 (one line) on error. */
static int run_bench(const bench_options *o) {
    gpt_model model;
    memset(&model, 0, sizeof model);
    optim_adamw opt;
    memset(&opt, 0, sizeof opt);
    const int B = o->batch, T = o->seq, total_steps = o->warmup_steps + o->steps;
    int *inputs = ll_malloc((size_t)B * T * sizeof(int));
    int *targets = ll_malloc((size_t)B * T * sizeof(int));
    double *step_seconds = ll_calloc((size_t)o->steps, sizeof(double));
    int rc = -1;
    if (!inputs || !targets || !step_seconds) goto done;

    double t_setup = ll_now();
    if (gpt_create(&model, &o->cfg) != 0) goto done;
    gpt_init_weights(&model, o->seed);
    if (gpt_alloc_grads(&model) != 0 || gpt_alloc_acts(&model, B, T, 1) != 0) goto done;
    if (optim_adamw_init(&opt, model.num_params, 0.9f, 0.95f, 1e-8f, 0.1f) != 0) goto done;
    t_setup = ll_now() - t_setup;

    const sched_config sched = {.lr = 6e-4f, .min_lr_frac = 0.1f,
                                .warmup_steps = o->warmup_steps > 0 ? o->warmup_steps : 1,
                                .max_steps = total_steps};
    ll_rng rng;
    ll_rng_seed(&rng, o->seed, 1);
    phase_totals tot = {0};
    double loss_first = NAN, loss_last = NAN, norm_last = NAN;
    for (int step = 0; step < total_steps; step++) {
        draw_batch(inputs, targets, B, T, o->cfg.vocab_size, &rng);
        /* zeroed here so the figures are this step's whether the model
         * resets or accumulates gpt_prof */
        memset(&gpt_prof, 0, sizeof gpt_prof);
        double t0 = ll_now();
        gpt_zero_grads(&model);
        double loss_sum = 0.0;
        long n_targets = 0;
        if (gpt_forward_backward(&model, inputs, targets, B, T, 1.0f, &loss_sum, &n_targets) != 0)
            goto done;
        double t1 = ll_now();
        gpt_profile prof = gpt_prof;
        if (n_targets <= 0) {
            ll_error("bench_train: step %d: forward counted %ld targets", step, n_targets);
            goto done;
        }
        float mean_scale = 1.0f / (float)n_targets;
        double norm = optim_grad_norm(model.grads, model.num_params, mean_scale);
        float clip = norm > 1.0 ? (float)(1.0 / norm) : 1.0f;
        optim_adamw_step(&opt, &model, sched_lr(&sched, step), step + 1, mean_scale * clip);
        double t2 = ll_now();

        double loss = loss_sum / (double)n_targets;
        if (!isfinite(loss) || !isfinite(norm)) {
            ll_error("bench_train: step %d: loss %g, grad norm %g (not finite)", step, loss, norm);
            goto done;
        }
        if (step == 0) loss_first = loss;
        loss_last = loss;
        norm_last = norm;
        if (o->verbose)
            fprintf(stderr, "step %d: loss %.4f norm %.4f fwd+bwd %.1f ms optim %.1f ms\n", step,
                    loss, norm, (t1 - t0) * 1e3, (t2 - t1) * 1e3);
        if (step < o->warmup_steps) continue;
        int k = step - o->warmup_steps;
        step_seconds[k] = t2 - t0;
        tot.fwd_bwd += t1 - t0;
        tot.optimizer += t2 - t1;
        tot.matmul += prof.matmul;
        tot.attention += prof.attention;
        tot.elementwise += prof.elementwise;
        tot.lm_head += prof.lm_head;
    }

    double total = 0.0;
    for (int k = 0; k < o->steps; k++) total += step_seconds[k];
    qsort(step_seconds, (size_t)o->steps, sizeof(double), cmp_double);
    double median = (o->steps % 2) ? step_seconds[o->steps / 2]
                                   : 0.5 * (step_seconds[o->steps / 2 - 1] + step_seconds[o->steps / 2]);
    const double tokens_per_step = (double)B * T;
    const double tokens_per_s = tokens_per_step * o->steps / total;
    /* The spec's formula, computed here so the figure does not depend on the
     * model's own accounting; gpt_flops_per_token is reported beside it. */
    const gpt_config *c = &o->cfg;
    const double flops_per_token = 6.0 * (double)model.num_params + 12.0 * c->n_layer * (double)T * c->n_embd;
    const double achieved_gflops = flops_per_token * tokens_per_s * 1e-9;
    const double n = (double)o->steps;

    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:I, s:I,"
        " s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}",
        "impl", "llmpi", "config", o->label, "blas_core", ll_blas_core(),
        "layers", c->n_layer, "heads", c->n_head, "embd", c->n_embd, "vocab", c->vocab_size,
        "block_size", c->block_size, "seq", T, "batch", B, "threads", o->threads,
        "steps", o->steps, "warmup_steps", o->warmup_steps,
        "params", (json_int_t)model.num_params, "seed", (json_int_t)o->seed,
        /* integers, so the 6-digit real precision below cannot round them */
        "flops_per_token", (json_int_t)llround(flops_per_token),
        "model_flops_per_token", (json_int_t)llround(gpt_flops_per_token(c, T)),
        "tokens_per_s", tokens_per_s, "ms_per_step", total / n * 1e3,
        "ms_per_step_median", median * 1e3, "ms_per_step_min", step_seconds[0] * 1e3,
        "achieved_gflops", achieved_gflops,
        "peak_rss_mb", (double)ll_peak_rss() / 1e6, "setup_s", t_setup,
        "loss_first", loss_first, "loss_last", loss_last, "grad_norm_last", norm_last,
        "acts_mb", (double)gpt_acts_bytes(c, B, T, 1) / 1e6);
    if (!j) { ll_error("bench_train: run_bench: cannot build the result JSON"); goto done; }
    json_t *phases = json_pack("{s:f, s:f, s:f, s:f, s:f, s:f}",
        "fwd_bwd_ms", tot.fwd_bwd / n * 1e3, "optimizer_ms", tot.optimizer / n * 1e3,
        "matmul_ms", tot.matmul / n * 1e3, "attention_ms", tot.attention / n * 1e3,
        "elementwise_ms", tot.elementwise / n * 1e3, "lm_head_ms", tot.lm_head / n * 1e3);
    if (phases) json_object_set_new(j, "phases", phases);
    if (o->peak_gflops > 0)
        json_object_set_new(j, "mfu", json_real(achieved_gflops / (o->threads * o->peak_gflops)));
    json_dumpf(j, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6));
    fputc('\n', stdout);
    fflush(stdout);
    json_decref(j);
    rc = 0;

done:
    optim_adamw_free(&opt);
    gpt_free(&model);
    free(inputs); free(targets); free(step_seconds);
    return rc;
}

/* Exit 0 with the JSON line printed; 2 on a bad option; 1 when the model
 * could not be built or a step failed (one error line already printed). */
int main(int argc, char **argv) {
    ll_blas_select_core(argv);   /* the same BLAS kernels as llmpi itself */
    bench_options o;
    int prc = parse_args(argc, argv, &o);
    if (prc != 0) return prc > 0 ? 0 : 2;
    ll_set_threads(o.threads);
    return run_bench(&o) == 0 ? 0 : 1;
}

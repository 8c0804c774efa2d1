/* trainer.h: the pretraining loop and evaluation.
 *
 * The trainer owns a run directory: RUNDIR/checkpoints/step-NNNNNNNN.h5,
 * RUNDIR/metrics.jsonl (one JSON object per logged step or evaluation) and
 * RUNDIR/config.ini (the resolved config). Every rank runs the loop; rank 0
 * logs and writes files. SIGTERM or SIGUSR1 on any rank, or the --max-time
 * budget, ends the run at the next step boundary with a checkpoint and
 * success: all ranks agree on the stop through one small all-reduce per step.
 * A run directory that already holds a run (metrics.jsonl or step-*.h5) is
 * only used with resume (continue it) or force (start over, deleting them).
 */
#ifndef LLMPI_TRAINER_H
#define LLMPI_TRAINER_H

#include "llmpi/comm.h"
#include "llmpi/config.h"
#include "llmpi/gpt.h"
#include "llmpi/loader.h"
#include "llmpi/store.h"

typedef struct {
    cfg_config cfg;
    const char *data_path;
    const char *out_dir;
    const char *resume;      /* NULL, "auto" or a checkpoint path */
    long stop_after;         /* end after this step with a checkpoint (0: run to max_steps) */
    double max_time;         /* wall-clock budget in seconds: checkpoint and stop before it (0: none) */
    int check_sync;          /* every K steps compare a parameter checksum across ranks (0: off) */
    int force;               /* out_dir may hold an earlier run: its checkpoints and metrics are deleted */
    int no_verify;           /* resume without checking the checkpoint's CRC-32C checksums (faster) */
    /* SFT (llmpi sft): data_path is an SFT store (llmpi-sft) packed into rows
     * (loader_pack); the loss counts only masked targets. With mix_path, rank 0
     * first builds data_path from the mix file and tokenizer_path, or reuses it
     * when it records the same mix text and tokenizer; the other ranks wait. */
    int sft;
    const char *mix_path, *tokenizer_path;
    const char *init;        /* checkpoint whose parameters start a fresh run (NULL: seeded init) */
    int steps_one_pass;      /* max_steps = the steps of one pass over the packed train rows */
} trainer_options;

/* Runs (or resumes) pretraining. 0 on success, -1 (one line printed). */
int trainer_run(const trainer_options *opt);

/* Mean cross-entropy over windows k = 0..n_windows-1 of a split, window k
 * being inputs tokens[k*T .. k*T+T-1] and targets tokens[k*T+1 .. k*T+T].
 * The windows come from the loader (loader_eval), batch_size at a time;
 * with a world, this rank takes windows k = rank, rank + size, ... and the
 * sums are reduced over it (collective: every rank of the world calls it);
 * world NULL: this process evaluates every window alone. The figure does
 * not depend on batch_size. The model's activation arena must hold
 * batch_size x T. */
int trainer_eval(gpt_model *m, store_reader *s, store_split split, long n_windows, int T, int batch_size,
                 const comm_world *world, double *loss_sum, long *n_tokens);
/* The same, also summing into *n_bytes the bytes the counted target tokens
 * decode to (token_bytes[id], from trainer_token_bytes; the same table on
 * every rank): bits per byte = loss_sum / ln 2 / n_bytes, a figure that
 * compares across tokenizers. token_bytes NULL: *n_bytes = 0. */
int trainer_eval_bytes(gpt_model *m, store_reader *s, store_split split, long n_windows, int T, int batch_size,
                       const comm_world *world, const uint32_t *token_bytes, double *loss_sum, long *n_tokens,
                       double *n_bytes);
/* Bytes each token id decodes to (UTF-8 bytes of tok_decode), for the
 * tokenizer of a tokenizer.json text, or the byte tokenizer when json is
 * NULL; vocab_size must be the tokenizer's. A malloc'ed table, or NULL with
 * one line (name says whose tokenizer). */
uint32_t *trainer_token_bytes(const char *name, const char *json, size_t len, int vocab_size);

/* Mean masked cross-entropy over packed rows 0..n_rows-1 of an SFT split
 * (loader_eval_init_sft), shared among the ranks of world like trainer_eval. */
int trainer_eval_sft(gpt_model *m, const loader_pack *pack, long n_rows, int batch_size, const comm_world *world,
                     double *loss_sum, long *n_tokens);
/* trainer_eval_sft, and per source (example_source 0..n_sources-1) the
 * summed cross-entropy and the count of its targets (reduced over world),
 * computed in double from the logits: the sources' sums add up to loss_sum
 * up to float rounding, their counts to n_tokens exactly. The caller's
 * arrays hold n_sources each; needs batch_size x T x vocab floats more.
 * token_bytes, n_bytes: as trainer_eval_bytes (NULL: none). */
int trainer_eval_sft_sources(gpt_model *m, const loader_pack *pack, long n_rows, int batch_size,
                             const comm_world *world, const uint32_t *token_bytes, double *loss_sum,
                             long *n_tokens, double *n_bytes, int n_sources, double *source_loss,
                             long *source_tokens);
/* trainer_eval_sft with bits per byte's denominator, as trainer_eval_bytes. */
int trainer_eval_sft_bytes(gpt_model *m, const loader_pack *pack, long n_rows, int batch_size,
                           const comm_world *world, const uint32_t *token_bytes, double *loss_sum, long *n_tokens,
                           double *n_bytes);

#endif

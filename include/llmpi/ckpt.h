/* ckpt.h: checkpoints in HDF5, readable by other tools.
 *
 * /model/<name> one dataset per tensor, PyTorch names and shapes ([out, in]);
 * /optim/m/<name>, /optim/v/<name> AdamW moments (same names and shapes);
 * /state: step, RNG states, loader state, tokens seen.
 * Root attributes: format = "llmpi-checkpoint", version, n_layer, n_head,
 * n_embd, block_size, vocab_size, step, tokenizer (identity), config (the
 * run's full config as "section.key=value" lines).
 * /state datasets (uint64): step, tokens_seen, loader_seed, loader_position,
 * rng (4 words of the trainer's xoshiro state), world_size.
 * Saved to a temporary name, fsynced, renamed, directory fsynced.
 */
#ifndef LLMPI_CKPT_H
#define LLMPI_CKPT_H

#include <stdint.h>
#include "llmpi/gpt.h"
#include "llmpi/loader.h"
#include "llmpi/tokenizer.h"
#include "llmpi/util.h"

#define CKPT_FORMAT "llmpi-checkpoint"
#define CKPT_VERSION 1

typedef struct {
    uint64_t step;                 /* optimizer steps completed */
    uint64_t tokens_seen;
    char tokenizer[TOK_IDENTITY_MAX]; /* tokenizer identity (from the store) */
    char config[4096];             /* cfg_to_string() of the run */
    loader_state loader;
    ll_rng rng;                    /* trainer RNG (future dropout/sampling) */
    int has_optim;                 /* /optim present */
    uint64_t world_size;           /* ranks of the run that wrote it (0: unknown) */
} ckpt_meta;

/* Writes a checkpoint. adam_m / adam_v may be NULL (then no /optim group). */
int ckpt_save(const char *path, const gpt_model *m, const float *adam_m, const float *adam_v,
              const ckpt_meta *meta);
/* Reads only the model shape and metadata (to create the model first). */
int ckpt_peek(const char *path, gpt_config *cfg, ckpt_meta *meta);
/* Loads parameters (and moments if adam_m/adam_v non-NULL and present) into a
 * model created with the same shape; refuses any other shape. */
int ckpt_load(const char *path, gpt_model *m, float *adam_m, float *adam_v, ckpt_meta *meta);
/* Newest complete "step-NNNNNNNN.h5" in dir/checkpoints; out empty if none. */
int ckpt_find_latest(const char *run_dir, char *out, size_t cap);
/* Deletes all but the newest keep checkpoints in dir/checkpoints (keep > 0). */
int ckpt_prune(const char *run_dir, int keep);
/* Formats run_dir/checkpoints/step-NNNNNNNN.h5 (creates nothing). */
int ckpt_step_path(const char *run_dir, uint64_t step, char *out, size_t cap);
/* Counts the tensors and float parameters stored under /model (for `llmpi info`). */
int ckpt_count_stored(const char *path, uint64_t *n_params, int *n_tensors);

#endif

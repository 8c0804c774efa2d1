/* ckpt.h: checkpoints in HDF5, readable by other tools.
 *
 * /model/<name> one dataset per tensor, PyTorch names and shapes ([out, in]);
 * /optim/m/<name>, /optim/v/<name> AdamW moments (same names and shapes);
 * /state: step, RNG states, loader state, tokens seen.
 * /tokenizer_json (uint8, optional): the tokenizer.json text of a BPE model,
 * with its crc32c attribute (absent for the byte tokenizer and older files).
 * Root attributes: format = "llmpi-checkpoint", version, n_layer, n_head,
 * n_embd, block_size, vocab_size, step, tokenizer (identity), config (the
 * run's full config as "section.key=value" lines).
 * /state datasets (uint64): step, tokens_seen, loader_seed, loader_position,
 * rng (4 words of the trainer's xoshiro state), world_size.
 * Checksums: root attribute checksums = "crc32c"; every dataset (tensors and
 * /state) has an integer attribute crc32c, the CRC-32C of its little-endian
 * bytes. Files without the root attribute (written before) load unverified.
 * Written with HDF5 1.8 file format objects (libver bounds V18), whose
 * metadata HDF5 checksums itself; readable by HDF5 >= 1.8 (h5py, h5dump).
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
    int has_checksums;             /* per-dataset CRC-32C attributes present */
    /* save only: the tokenizer.json text to embed as /tokenizer_json (not
     * owned; NULL: none). Loading leaves these NULL / 0: read the text with
     * ckpt_read_tokenizer_json. */
    const char *tokenizer_json;
    size_t tokenizer_json_len;
} ckpt_meta;

/* Writes a checkpoint. adam_m / adam_v may be NULL (then no /optim group). */
int ckpt_save(const char *path, const gpt_model *m, const float *adam_m, const float *adam_v,
              const ckpt_meta *meta);
/* ckpt_save that also reports where its time went (times may be NULL). */
typedef struct {
    double build_s;   /* building the file image in memory (HDF5, checksums) */
    double write_s;   /* writing it: temporary, fsync, rename, directory fsync */
    size_t bytes;     /* the file's size */
} ckpt_save_times;
/* A file-image buffer kept from one save to the next (the asynchronous
 * writer's), so its pages are faulted in once per run, not once per
 * checkpoint. Zero-initialise it; ckpt_image_release frees it. Not shared
 * between threads. */
typedef struct {
    void *mem;
    size_t cap;
} ckpt_image;
void ckpt_image_release(ckpt_image *image);
/* reuse may be NULL (a fresh buffer, freed before return). */
int ckpt_save_timed(const char *path, const gpt_model *m, const float *adam_m, const float *adam_v,
                    const ckpt_meta *meta, ckpt_image *reuse, ckpt_save_times *times);

/* ---- asynchronous checkpoints (ckpt_writer.c) ----
 * One writer per training run (on the rank that writes). A checkpoint is
 * taken in two halves: ckpt_writer_begin hands over the step's state; the
 * writer thread copies parameters and moments into its staging buffers (the
 * snapshot) while the caller goes on with work that only reads them (the
 * next forward and backward); ckpt_writer_snapshot_wait must return before
 * the caller changes them (the optimizer update). The thread then writes the
 * file (ckpt_save: temporary, fsync, rename, directory fsync) and, with keep
 * > 0, prunes to the newest keep: the previous checkpoint stays until the
 * new one is complete. One write at a time: begin waits for the one in flight. */
typedef struct ckpt_writer ckpt_writer;
/* A writer for checkpoints of m (its tensor table and shape; the model must
 * outlive the writer) with moments (NULL adam buffers allowed at begin when
 * with_moments is 0), pruned to keep (0: never) in run_dir/checkpoints.
 * Starts the thread, which allocates its staging buffers at once (in the
 * background, while training starts).
 * NULL with one line. */
ckpt_writer *ckpt_writer_create(const gpt_model *m, int with_moments, const char *run_dir, int keep);
/* Waits for the write in flight (its failure returns -1, already printed),
 * then starts the checkpoint of meta->step to path from params, adam_m,
 * adam_v (full size; they must stay unchanged until ckpt_writer_snapshot_wait)
 * and a copy of meta (tokenizer_json must outlive the write). 0 / -1. */
int ckpt_writer_begin(ckpt_writer *w, const char *path, const float *params, const float *adam_m,
                      const float *adam_v, const ckpt_meta *meta);
/* Returns once the snapshot of the checkpoint begun last is taken (at once
 * when there is none); the seconds waited in *waited (may be NULL). */
void ckpt_writer_snapshot_wait(ckpt_writer *w, double *waited);
/* Waits for the write in flight. 0, or -1 when a write since the last call
 * failed (printed by the thread). */
int ckpt_writer_wait(ckpt_writer *w);
/* 1 when a finished write failed (and was not yet reported by a wait), without waiting. */
int ckpt_writer_failed(ckpt_writer *w);
/* Waits for the write in flight, stops the thread, frees. NULL is a no-op. */
void ckpt_writer_free(ckpt_writer *w);
/* The tokenizer.json text the checkpoint carries: a new NUL-terminated
 * buffer (*len bytes; free it), checksum verified; *out = NULL when it has
 * none (byte tokenizer, or written before checkpoints carried it). 0 / -1. */
int ckpt_read_tokenizer_json(const char *path, char **out, size_t *len);
/* Reads only the model shape and metadata (to create the model first). */
int ckpt_peek(const char *path, gpt_config *cfg, ckpt_meta *meta);
/* Loads parameters (and moments if adam_m/adam_v non-NULL and present) into a
 * model created with the same shape; refuses any other shape, a checksum
 * mismatch (the tensor named) and non-finite values (negative ones in
 * /optim/v). On -1 the buffers may be partly overwritten. */
int ckpt_load(const char *path, gpt_model *m, float *adam_m, float *adam_v, ckpt_meta *meta);
/* ckpt_load with checksum verification optional (verify_checksums 0 skips
 * the CRC pass; the finiteness check always runs). */
int ckpt_load_ex(const char *path, gpt_model *m, float *adam_m, float *adam_v, ckpt_meta *meta,
                 int verify_checksums);
/* Validates a whole checkpoint without a model: header, state, and every
 * tensor of /model and /optim (name, type, shape); read_data also reads each
 * tensor (one at a time) to verify its checksum and values. cfg and meta
 * (either may be NULL) are filled on success. 0 / -1 (one line). */
int ckpt_verify(const char *path, int read_data, gpt_config *cfg, ckpt_meta *meta);
/* Newest "step-NNNNNNNN.h5" in dir/checkpoints that passes ckpt_verify
 * (read_data as there), holds the step its name says and AdamW moments
 * (/optim: what a run resumes from); out empty if none.
 * Each newer file that fails is skipped with one warning line (the reason). */
int ckpt_find_latest(const char *run_dir, int read_data, char *out, size_t cap);
/* Deletes older checkpoints in dir/checkpoints beyond the newest keep (keep
 * > 0). Only files that pass ckpt_verify (structure), hold the step their
 * name says and match the newest such file (the reference: model shape,
 * tokenizer) are counted or deleted; the reference is never deleted; other
 * files are never touched. */
int ckpt_prune(const char *run_dir, int keep);
/* Formats run_dir/checkpoints/step-NNNNNNNN.h5 (creates nothing). */
int ckpt_step_path(const char *run_dir, uint64_t step, char *out, size_t cap);
/* Counts the tensors and float parameters stored under /model (for `llmpi info`). */
int ckpt_count_stored(const char *path, uint64_t *n_params, int *n_tensors);

#endif

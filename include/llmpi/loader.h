/* loader.h: deterministic, sharded, resumable windows from a token store.
 *
 * A window is seq_len+1 consecutive tokens starting at k*seq_len (k = 0 ..
 * n_windows-1, n_windows = (n_tokens-1)/seq_len). The stream of windows is
 * epoch after epoch, each epoch a permutation of 0..n_windows-1 seeded by
 * (seed, epoch). Global step s uses stream positions [s*G, (s+1)*G), G = N x
 * batch_size x grad_accum; rank r takes the contiguous slice
 * [s*G + r*B*A, s*G + (r+1)*B*A), micro-step a the B windows at offset a*B.
 * The state is (seed, position): position counts windows consumed globally,
 * so it is the same on every rank and restores exactly.
 *
 * Prefetch: when the split allows raw reads (store_has_raw), a worker thread
 * reads the next micro-batch into a second buffer while the caller computes;
 * loader_next takes it when it is for the position now due and reads
 * synchronously otherwise, so the batches are the same with or without it.
 * The worker makes no HDF5 call. Free the loader before closing its store.
 */
#ifndef LLMPI_LOADER_H
#define LLMPI_LOADER_H

#include <stdint.h>
#include "llmpi/sft.h"
#include "llmpi/store.h"

typedef struct {
    uint64_t seed;
    uint64_t position;      /* global stream position at the start of the next step */
} loader_state;

/* ---- SFT rows (packing) ----
 * The examples of an SFT split (sft_split) are packed into rows of
 * seq_len+1 tokens by bounded best fit: taking the examples in stored order,
 * each goes into the open row whose free room it fills most tightly (ties:
 * the oldest row), else it opens a new row; at most LOADER_PACK_OPEN rows
 * are open, opening one more closes the oldest, and a full row closes. Rows
 * are numbered in the order they open; a row lists its examples in stored
 * order. So an example lands in one of the LOADER_PACK_OPEN most recently
 * opened rows: the mix's interleaving holds to within that many rows. An example never
 * straddles two rows; one longer than seq_len+1 is cut to seq_len+1 tokens
 * (alone in its row) and counted as truncated (also per source). The rest
 * of a row is padding (pad_id, never a target). A row becomes a training
 * pair like a window: inputs = row[0..T-1], targets[t] = row[t+1] when the
 * loss mask marks row position t+1, else -1 (ignored by the loss). The rows
 * depend only on the split and seq_len (no RNG, not the rank count). */
#define LOADER_PACK_OPEN 32
typedef struct {
    const sft_split *split;
    int seq_len;
    int32_t pad_id;
    uint64_t n_rows;
    uint64_t *row_first;    /* (n_rows + 1): row r holds order[row_first[r] .. row_first[r+1]) */
    uint64_t *order;        /* (n_examples): example indices, row after row */
    uint64_t n_truncated;   /* examples cut to seq_len+1 tokens */
    uint64_t *source_truncated; /* (n_sources): of them, per example_source */
    int n_sources;          /* 1 + the largest example_source of the split */
    uint64_t slots_used;    /* token slots of all rows holding example tokens */
} loader_pack;

/* -1 (one line) on an empty split or out of memory. */
int loader_pack_init(loader_pack *p, const sft_split *sp, int seq_len, int32_t pad_id);
void loader_pack_free(loader_pack *p);
/* Writes row r's inputs and targets (seq_len each). */
void loader_pack_row(const loader_pack *p, uint64_t r, int *inputs, int *targets);
/* Writes the example_source of each of row r's seq_len targets (the source
 * of the token at row position t+1), -1 on padding. */
void loader_pack_row_sources(const loader_pack *p, uint64_t r, int *sources);
/* Fraction of the rows' seq_len+1 token slots that are padding. */
double loader_pack_padding(const loader_pack *p);

typedef struct {
    store_reader *store;
    const loader_pack *pack;  /* SFT mode (loader_init_sft): rows instead of windows */
    store_split split;
    int seq_len, batch_size, grad_accum, rank, nranks;
    uint64_t n_windows;     /* windows, or rows in SFT mode */
    uint64_t perm_epoch;    /* epoch the cached permutation belongs to */
    uint64_t *perm;         /* (n_windows) */
    int micro;              /* next micro-step within the current step */
    loader_state st;
    int32_t *buf;           /* (batch_size, seq_len+1) */
    int prefetch;           /* 1 (default): use the worker when the split allows it */
    struct loader_prefetch *pf; /* the worker, started at the first loader_next; NULL before */
} loader;

int loader_init(loader *l, store_reader *s, store_split split, int seq_len, int batch_size,
                int grad_accum, int rank, int nranks, uint64_t seed);
/* SFT mode: the stream is the packed rows of p in order, epoch after epoch
 * (row at global position q = q mod n_rows; no shuffle: the mix already
 * interleaved the sources), split over steps, ranks and micro-steps exactly
 * like windows, with the same state (seed, position). No prefetch thread:
 * the rows are in memory. p must outlive the loader. */
int loader_init_sft(loader *l, const loader_pack *p, int batch_size, int grad_accum, int rank, int nranks,
                    uint64_t seed);
void loader_free(loader *l);
/* Fills inputs and targets (batch_size x seq_len each) with this rank's next
 * micro-batch; after grad_accum calls the step advances. */
int loader_next(loader *l, int *inputs, int *targets);
/* Epoch of the next micro-batch. */
uint64_t loader_epoch(const loader *l);
void loader_get_state(const loader *l, loader_state *st);
/* Restores a state saved at a step boundary. */
int loader_set_state(loader *l, const loader_state *st);
/* Turns prefetching on (default) or off; off stops the worker. The batches
 * do not depend on it. */
void loader_set_prefetch(loader *l, int on);
/* 1 while a prefetch worker is running (for tests and logs). */
int loader_prefetching(const loader *l);

/* ---- evaluation windows ----
 * Every window k = 0..n_windows-1 of a split once, in order, no shuffle:
 * window k is tokens [k*seq_len, k*seq_len + seq_len], made into inputs and
 * targets exactly as for training. Rank r of nranks takes k = r, r + nranks,
 * r + 2*nranks, ..., batch_size at a time, so the windows and their order
 * depend only on (n_windows, rank, nranks, batch_size). */
typedef struct {
    store_reader *store;
    const loader_pack *pack;  /* SFT mode: rows 0..n_windows-1 of the pack */
    store_split split;
    int seq_len, batch_size, rank, nranks;
    long n_windows;
    long next;              /* this rank's next window */
    int32_t *buf;           /* (batch_size, seq_len+1) */
} loader_eval;

int loader_eval_init(loader_eval *e, store_reader *s, store_split split, int seq_len, int batch_size,
                     long n_windows, int rank, int nranks);
/* Fills rows x seq_len of inputs and targets (room for batch_size rows);
 * *rows = 0 when this rank has no window left. */
/* SFT mode: rows 0..n_rows-1 of p, shared among ranks like windows. */
int loader_eval_init_sft(loader_eval *e, const loader_pack *p, int batch_size, long n_rows, int rank, int nranks);
int loader_eval_next(loader_eval *e, int *inputs, int *targets, int *rows);
/* SFT mode: also each target's source (loader_pack_row_sources), when
 * sources (room for batch_size x seq_len) is non-NULL. */
int loader_eval_next_sources(loader_eval *e, int *inputs, int *targets, int *sources, int *rows);
void loader_eval_free(loader_eval *e);

#endif

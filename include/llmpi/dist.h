/* dist.h: the few places MPI appears in training.
 *
 * A plain process (no launcher) is an MPI singleton: rank 0 of 1, and every
 * call here degenerates to a no-op copy. The model and optimizer never see MPI.
 */
#ifndef LLMPI_DIST_H
#define LLMPI_DIST_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int rank, size;            /* in MPI_COMM_WORLD */
    int local_rank, local_size; /* among the ranks on this node */
} dist_world;

/* Fills w from MPI_COMM_WORLD (MPI must be initialised). */
int dist_init(dist_world *w);
/* In-place sum of n floats over all ranks (fixed order: rank count fixed). */
int dist_allreduce_floats(float *buf, size_t n);
/* In-place sum of doubles / longs. */
int dist_allreduce_doubles(double *buf, int n);
int dist_allreduce_longs(long *buf, int n);
/* 1 if any rank passes a non-zero flag. */
int dist_any(int flag);
/* Threads per rank: the cores of this rank's node divided by its ranks there
 * (at least 1), bounded by the cores this process may use. */
int dist_default_threads(const dist_world *w);

/* ---- small collectives and messages for the data stages (prepare) ----
 * Each returns 0 / -1 (one line) unless said otherwise; counts may exceed INT_MAX. */
/* 1 on every rank when every rank passes a non-zero flag, else 0. */
int dist_all(int flag);
/* Broadcasts bytes of buf from root. */
int dist_bcast(void *buf, size_t bytes, int root);
/* In-place sum of n uint64 over all ranks. */
int dist_allreduce_u64(uint64_t *buf, size_t n);
/* Sum and maximum of in[0..n) over all ranks into sum and max on rank 0
 * (sum and max unused elsewhere, may be NULL there). */
int dist_reduce_sum_max_doubles(const double *in, double *sum, double *max, int n);

/* A rank's stream of small status messages (at most DIST_NOTE_MAX uint64)
 * to rank 0 under one tag; sending never waits for the receiver beyond the
 * previous message of the same stream. */
#define DIST_NOTE_MAX 4
typedef struct dist_notes dist_notes;
dist_notes *dist_notes_new(int tag);
/* Sends msg[0..n); the previous message of this stream has left first. */
int dist_notes_send(dist_notes *s, const uint64_t *msg, int n);
/* Waits until the last message has left, then frees s (NULL is fine). */
void dist_notes_free(dist_notes *s);
/* Rank 0: takes one message with tag (blocking with wait, else only if one
 * has arrived). 1 and *source / msg[0..n) filled if taken, 0 if none. */
int dist_notes_receive(int tag, int wait, uint64_t *msg, int n, int *source);

#endif

/* ---- bucketed gradient reduction, overlapped with backward ----
 *
 * The gradient buffer is cut into buckets of `bucket` floats, reduced in
 * bucket order on every rank. A communication thread reduces bucket b as soon
 * as backward reports (dist_reducer_ready) that grads[0 .. end of b) are
 * final, so communication hides behind the remaining backward. The main
 * thread makes no MPI call between dist_reducer_begin and dist_reducer_finish
 * (MPI_THREAD_SERIALIZED is enough).
 * Mode DDP: each bucket is all-reduced (every rank ends with the full sum).
 * Mode ZeRO-1: each bucket is reduce-scattered: bucket b is cut in `size`
 * equal parts, rank r receives the sum of part r into its shard buffer;
 * after the optimizer updates its parts, dist_reducer_allgather_params
 * brings every rank the whole parameter buffer again.
 */
typedef struct dist_reducer dist_reducer;

dist_reducer *dist_reducer_create(float *grads, size_t n, size_t bucket_floats, int zero);
void dist_reducer_free(dist_reducer *r);
/* Starts a reduction round (call before the last micro-step's backward). */
void dist_reducer_begin(dist_reducer *r);
/* grads[0 .. ready) are final (a gpt_grads_ready_fn). */
void dist_reducer_ready(void *reducer, size_t ready);
/* Reduces what is left and waits for all buckets; *wait_seconds: exposed
 * communication, from the end of backward to the reduced gradient. */
int dist_reducer_finish(dist_reducer *r, double *wait_seconds);

/* ZeRO-1 shard of this rank: n_parts ranges [lo, hi) of the full buffer,
 * stored back to back in shard order (shard offset of part i = sum of the
 * lengths of parts before it). */
size_t dist_reducer_shard_size(const dist_reducer *r);
int dist_reducer_n_parts(const dist_reducer *r);
void dist_reducer_part(const dist_reducer *r, int i, size_t *lo, size_t *hi);
float *dist_reducer_shard_grads(dist_reducer *r);
/* Every rank's parts of params are gathered into everyone's params. */
int dist_reducer_allgather_params(dist_reducer *r, float *params);
/* Gathers a shard-laid-out buffer (e.g. AdamW moments) into a full-size
 * buffer on rank 0 (full may be NULL elsewhere); scatter is the inverse. */
int dist_reducer_gather_shard(dist_reducer *r, const float *shard, float *full);
int dist_reducer_scatter_shard(dist_reducer *r, const float *full, float *shard);

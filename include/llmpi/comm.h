/* comm.h: the few places MPI appears in training.
 *
 * A plain process (no launcher) is an MPI singleton: rank 0 of 1, and every
 * call here degenerates to a no-op copy. The model and optimizer never see MPI.
 */
#ifndef LLMPI_COMM_H
#define LLMPI_COMM_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int rank, size;            /* in MPI_COMM_WORLD */
    int local_rank, local_size; /* among the ranks on this node */
} comm_world;

/* Fills w from MPI_COMM_WORLD (MPI must be initialised). Collective (it
 * splits the world by node): call it once per process and pass w around. */
int comm_init(comm_world *w);
/* In-place sum of n floats over all ranks (fixed order: rank count fixed). */
int comm_allreduce_floats(float *buf, size_t n);
/* In-place sum of doubles / longs. */
int comm_allreduce_doubles(double *buf, int n);
int comm_allreduce_longs(long *buf, int n);
/* 1 if any rank passes a non-zero flag. */
int comm_any(int flag);
/* Gathers one uint64 from every rank: all[r] = rank r's value, on every
 * rank (all holds the world size). */
int comm_allgather_u64(uint64_t value, uint64_t *all);
/* Threads per rank: the cores of this rank's node divided by its ranks there
 * (at least 1), bounded by the cores this process may use. */
int comm_default_threads(const comm_world *w);

/* ---- small collectives and messages for the data stages (prepare) ----
 * Each returns 0 / -1 (one line) unless said otherwise; counts may exceed INT_MAX. */
/* This process's rank in MPI_COMM_WORLD (MPI must be initialised); not
 * collective, unlike comm_init. */
int comm_rank(void);
/* 1 on every rank when every rank passes a non-zero flag, else 0. */
int comm_all(int flag);
/* Broadcasts bytes of buf from root. */
int comm_bcast(void *buf, size_t bytes, int root);
/* In-place sum of n uint64 over all ranks. */
int comm_allreduce_u64(uint64_t *buf, size_t n);
/* Sum and maximum of in[0..n) over all ranks into sum and max on rank 0
 * (sum and max unused elsewhere, may be NULL there). */
int comm_reduce_sum_max_doubles(const double *in, double *sum, double *max, int n);

/* A rank's stream of small status messages (at most COMM_NOTE_MAX uint64)
 * to rank 0 under one tag; sending never waits for the receiver beyond the
 * previous message of the same stream. */
#define COMM_NOTE_MAX 4
typedef struct comm_notes comm_notes;
comm_notes *comm_notes_new(int tag);
/* Sends msg[0..n); the previous message of this stream has left first. */
int comm_notes_send(comm_notes *s, const uint64_t *msg, int n);
/* Waits until the last message has left, then frees s (NULL is fine). */
void comm_notes_free(comm_notes *s);
/* Rank 0: takes one message with tag (blocking with wait, else only if one
 * has arrived). 1 and *source / msg[0..n) filled if taken, 0 if none. */
int comm_notes_receive(int tag, int wait, uint64_t *msg, int n, int *source);

/* ---- bucketed gradient reduction, overlapped with backward ----
 *
 * The gradient buffer is cut into buckets of `bucket` floats, reduced in
 * bucket order on every rank. A communication thread reduces bucket b as soon
 * as backward reports (comm_reducer_ready) that grads[0 .. end of b) are
 * final, so communication hides behind the remaining backward. The main
 * thread makes no MPI call between comm_reducer_begin and comm_reducer_finish
 * (MPI_THREAD_SERIALIZED is enough).
 * Mode DDP: each bucket is all-reduced (every rank ends with the full sum).
 * Mode ZeRO-1: each bucket is reduce-scattered: bucket b is cut in `size`
 * equal parts, rank r receives the sum of part r into its shard buffer;
 * after the optimizer updates its parts, comm_reducer_allgather_params
 * brings every rank the whole parameter buffer again.
 */
typedef struct comm_reducer comm_reducer;

comm_reducer *comm_reducer_create(float *grads, size_t n, size_t bucket_floats, int zero);
void comm_reducer_free(comm_reducer *r);
/* Starts a reduction round (call before the last micro-step's backward). */
void comm_reducer_begin(comm_reducer *r);
/* grads[0 .. ready) are final (a gpt_grads_ready_fn). */
void comm_reducer_ready(void *reducer, size_t ready);
/* Reduces what is left and waits for all buckets; *wait_seconds: exposed
 * communication, from the end of backward to the reduced gradient. */
int comm_reducer_finish(comm_reducer *r, double *wait_seconds);

/* ZeRO-1 shard of this rank: n_parts ranges [lo, hi) of the full buffer,
 * stored back to back in shard order (shard offset of part i = sum of the
 * lengths of parts before it). */
size_t comm_reducer_shard_size(const comm_reducer *r);
int comm_reducer_n_parts(const comm_reducer *r);
void comm_reducer_part(const comm_reducer *r, int i, size_t *lo, size_t *hi);
float *comm_reducer_shard_grads(comm_reducer *r);
/* Every rank's parts of params are gathered into everyone's params. */
int comm_reducer_allgather_params(comm_reducer *r, float *params);
/* Gathers a shard-laid-out buffer (e.g. AdamW moments) into a full-size
 * buffer on rank 0 (full may be NULL elsewhere); scatter is the inverse. */
int comm_reducer_gather_shard(comm_reducer *r, const float *shard, float *full);
int comm_reducer_scatter_shard(comm_reducer *r, const float *full, float *shard);

#endif

/* reducer.c: bucketed gradient all-reduce (DDP) or reduce-scatter (ZeRO-1),
 * overlapped with backward by a communication thread.
 *
 * Invariants:
 * - buckets are reduced strictly in order 0, 1, ... on every rank, each with
 *   one blocking collective on MPI_COMM_WORLD, so all ranks issue the same
 *   collectives in the same order and the sums are the same on every run;
 * - between begin and finish only the communication thread calls MPI; the
 *   main thread hands it the "ready" frontier under a mutex;
 * - in ZeRO-1 mode the part of bucket b owned by rank p is
 *   [b0 + p*ps, min(b1, b0 + (p+1)*ps)), ps = ceil((b1 - b0) / size).
 */
#include <limits.h>
#include <mpi.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "llmpi/comm.h"
#include "llmpi/util.h"

struct comm_reducer {
    float *grads;
    size_t n, bucket;
    int n_buckets, zero, rank, size;
    /* ZeRO-1 */
    float *shard;          /* (shard_n) reduced gradient parts of this rank */
    size_t shard_n;
    size_t *shard_off;     /* (n_buckets + 1) */
    int *counts, *displs;  /* (size) scratch */
    /* the communication thread */
    pthread_t thread;
    int have_thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t ready;          /* frontier published by backward */
    double t_all_ready;    /* when backward published the whole buffer (0: not yet) */
    int next;              /* next bucket to reduce */
    int round_active, shutdown, failed;
};

static void bucket_range(const comm_reducer *r, int b, size_t *b0, size_t *b1) {
    *b0 = (size_t)b * r->bucket;
    *b1 = *b0 + r->bucket < r->n ? *b0 + r->bucket : r->n;
}

/* counts/displs (relative to the bucket start) of the parts of bucket b */
static void bucket_parts(const comm_reducer *r, int b, int *counts, int *displs) {
    size_t b0, b1;
    bucket_range(r, b, &b0, &b1);
    size_t len = b1 - b0, ps = (len + r->size - 1) / r->size;
    for (int p = 0; p < r->size; p++) {
        size_t lo = (size_t)p * ps < len ? (size_t)p * ps : len;
        size_t hi = lo + ps < len ? lo + ps : len;
        counts[p] = (int)(hi - lo);
        displs[p] = (int)lo;
    }
}

static int reduce_bucket(comm_reducer *r, int b, int *counts, int *displs) {
    size_t b0, b1;
    bucket_range(r, b, &b0, &b1);
    if (!r->zero)
        return MPI_Allreduce(MPI_IN_PLACE, r->grads + b0, (int)(b1 - b0), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    bucket_parts(r, b, counts, displs);
    return MPI_Reduce_scatter(r->grads + b0, r->shard + r->shard_off[b], counts, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}

static void *comm_main(void *arg) {
    comm_reducer *r = arg;
    int *counts = ll_malloc(sizeof(int) * r->size), *displs = ll_malloc(sizeof(int) * r->size);
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->shutdown && !(r->round_active && r->next < r->n_buckets)) pthread_cond_wait(&r->cv, &r->mu);
        if (r->shutdown) break;
        size_t b0, b1;
        bucket_range(r, r->next, &b0, &b1);
        if (r->ready < b1) { pthread_cond_wait(&r->cv, &r->mu); continue; }
        int b = r->next;
        pthread_mutex_unlock(&r->mu);
        int rc = (counts && displs) ? reduce_bucket(r, b, counts, displs) : -1;
        pthread_mutex_lock(&r->mu);
        if (rc != MPI_SUCCESS) r->failed = 1;
        r->next = b + 1;
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    free(counts);
    free(displs);
    return NULL;
}

comm_reducer *comm_reducer_create(float *grads, size_t n, size_t bucket_floats, int zero) {
    comm_reducer *r = ll_calloc(1, sizeof *r);
    if (!r) return NULL;
    MPI_Comm_rank(MPI_COMM_WORLD, &r->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &r->size);
    r->grads = grads;
    r->n = n;
    r->bucket = bucket_floats < 1024 ? 1024 : bucket_floats;
    if (r->bucket > (size_t)INT_MAX / 2) r->bucket = (size_t)INT_MAX / 2;
    r->n_buckets = (int)((n + r->bucket - 1) / r->bucket);
    r->zero = zero;
    r->counts = ll_malloc(sizeof(int) * r->size);
    r->displs = ll_malloc(sizeof(int) * r->size);
    r->shard_off = ll_calloc((size_t)r->n_buckets + 1, sizeof(size_t));
    if (!r->counts || !r->displs || !r->shard_off) { comm_reducer_free(r); return NULL; }
    for (int b = 0; b < r->n_buckets; b++) {
        bucket_parts(r, b, r->counts, r->displs);
        r->shard_off[b + 1] = r->shard_off[b] + (size_t)r->counts[r->rank];
    }
    r->shard_n = r->shard_off[r->n_buckets];
    if (zero && !(r->shard = ll_calloc(r->shard_n ? r->shard_n : 1, sizeof(float)))) { comm_reducer_free(r); return NULL; }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    int provided = MPI_THREAD_SINGLE;
    MPI_Query_thread(&provided);
    /* without SERIALIZED support the reduction runs in finish(), unoverlapped */
    if (provided >= MPI_THREAD_SERIALIZED && pthread_create(&r->thread, NULL, comm_main, r) == 0) r->have_thread = 1;
    return r;
}

void comm_reducer_free(comm_reducer *r) {
    if (!r) return;
    if (r->have_thread) {
        pthread_mutex_lock(&r->mu);
        r->shutdown = 1;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->thread, NULL);
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv);
    }
    free(r->shard);
    free(r->shard_off);
    free(r->counts);
    free(r->displs);
    free(r);
}

void comm_reducer_begin(comm_reducer *r) {
    pthread_mutex_lock(&r->mu);
    r->ready = 0;
    r->t_all_ready = 0.0;
    r->next = 0;
    r->failed = 0;
    r->round_active = 1;
    pthread_mutex_unlock(&r->mu);
}

void comm_reducer_ready(void *reducer, size_t ready) {
    comm_reducer *r = reducer;
    pthread_mutex_lock(&r->mu);
    if (ready > r->ready) r->ready = ready;
    if (ready >= r->n && r->t_all_ready == 0.0) r->t_all_ready = ll_now();
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

int comm_reducer_finish(comm_reducer *r, double *wait_seconds) {
    double t0 = ll_now();
    int failed = 0;
    if (r->have_thread) {
        pthread_mutex_lock(&r->mu);
        r->ready = r->n;
        pthread_cond_broadcast(&r->cv);
        while (r->next < r->n_buckets) pthread_cond_wait(&r->cv, &r->mu);
        r->round_active = 0;
        failed = r->failed;
        pthread_mutex_unlock(&r->mu);
    } else {
        for (int b = 0; b < r->n_buckets && !failed; b++)
            failed = reduce_bucket(r, b, r->counts, r->displs) != MPI_SUCCESS;
        r->round_active = 0;
    }
    /* exposed communication: from the end of backward's compute (not from
     * this call: a spinning communication thread can delay the main thread
     * getting here) to the reduced gradient being available */
    if (wait_seconds) *wait_seconds = ll_now() - (r->t_all_ready > 0.0 && r->t_all_ready < t0 ? r->t_all_ready : t0);
    if (failed) { ll_error("mpi: gradient reduction failed"); return -1; }
    return 0;
}

size_t comm_reducer_shard_size(const comm_reducer *r) { return r->shard_n; }
int comm_reducer_n_parts(const comm_reducer *r) { return r->n_buckets; }
float *comm_reducer_shard_grads(comm_reducer *r) { return r->shard; }

void comm_reducer_part(const comm_reducer *r, int i, size_t *lo, size_t *hi) {
    size_t b0, b1;
    bucket_range(r, i, &b0, &b1);
    size_t len = b1 - b0, ps = (len + r->size - 1) / r->size;
    size_t a = (size_t)r->rank * ps < len ? (size_t)r->rank * ps : len;
    size_t e = a + ps < len ? a + ps : len;
    *lo = b0 + a;
    *hi = b0 + e;
}

int comm_reducer_allgather_params(comm_reducer *r, float *params) {
    for (int b = 0; b < r->n_buckets; b++) {
        size_t b0, b1;
        bucket_range(r, b, &b0, &b1);
        bucket_parts(r, b, r->counts, r->displs);
        if (MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, params + b0, r->counts, r->displs, MPI_FLOAT,
                           MPI_COMM_WORLD) != MPI_SUCCESS) {
            ll_error("mpi: parameter all-gather failed");
            return -1;
        }
    }
    return 0;
}

int comm_reducer_gather_shard(comm_reducer *r, const float *shard, float *full) {
    for (int b = 0; b < r->n_buckets; b++) {
        size_t b0, b1;
        bucket_range(r, b, &b0, &b1);
        bucket_parts(r, b, r->counts, r->displs);
        if (MPI_Gatherv(shard + r->shard_off[b], r->counts[r->rank], MPI_FLOAT, r->rank == 0 ? full + b0 : NULL,
                        r->counts, r->displs, MPI_FLOAT, 0, MPI_COMM_WORLD) != MPI_SUCCESS) {
            ll_error("mpi: optimizer state gather failed");
            return -1;
        }
    }
    return 0;
}

int comm_reducer_scatter_shard(comm_reducer *r, const float *full, float *shard) {
    for (int b = 0; b < r->n_buckets; b++) {
        size_t b0, b1;
        bucket_range(r, b, &b0, &b1);
        bucket_parts(r, b, r->counts, r->displs);
        if (MPI_Scatterv(r->rank == 0 ? full + b0 : NULL, r->counts, r->displs, MPI_FLOAT, shard + r->shard_off[b],
                         r->counts[r->rank], MPI_FLOAT, 0, MPI_COMM_WORLD) != MPI_SUCCESS) {
            ll_error("mpi: optimizer state scatter failed");
            return -1;
        }
    }
    return 0;
}

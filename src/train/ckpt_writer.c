/* ckpt_writer.c: asynchronous checkpoints (contract in include/llmpi/ckpt.h).
 *
 * Invariants:
 * - one thread, one job at a time: begin waits for the job in flight, so a
 *   run never has two checkpoint files being written;
 * - the file written is the state at the step boundary of begin: parameters
 *   and moments are copied into the writer's own staging buffers before
 *   snapshot_wait returns (the caller updates them only after it), the
 *   metadata (step, loader, RNG, config) is copied by value at begin;
 * - every durability rule is ckpt_save's (temporary, fsync, rename,
 *   directory fsync; a failed save leaves no file), and pruning runs only
 *   after the new file is complete: the previous checkpoint is never
 *   deleted before its successor exists;
 * - HDF5 (not thread-safe) is used by the thread only inside ckpt_save's
 *   image build and ckpt_prune, both under h5u_lock; the trainer's own HDF5
 *   reads (the token store) take the same lock;
 * - a failure is printed by the thread (one line) and kept until a wait or
 *   begin returns it: the trainer stops at its next step boundary;
 * - the file image (ckpt_image) is kept from one checkpoint to the next, so
 *   its pages fault in once per run: steady memory is one file image higher
 *   (~1.1 GB at 124M with moments), the peak during a write is unchanged.
 */
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "llmpi/ckpt.h"
#include "llmpi/util.h"

struct ckpt_writer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    gpt_model view;           /* the model's shape and tensor table, params -> staging */
    int with_moments, keep;
    char run_dir[4096];
    /* the job, guarded by mu */
    int pending;              /* a job was begun and its write is not finished */
    int snapshot_taken;       /* the job's copy into staging is done */
    int quit;
    int failed;               /* a finished write failed, not yet returned */
    char path[4200];
    const float *src_params, *src_m, *src_v;
    ckpt_meta meta;
    float *stage;             /* params, then m and v: 1 or 3 x num_params floats */
    ckpt_image image;         /* the file image, kept between checkpoints */
};

/* Copies n floats in 64 MiB pieces (the staging is touched as it is filled). */
static void copy_floats(float *dst, const float *src, size_t n) {
    const size_t piece = (size_t)16 << 20;
    for (size_t i = 0; i < n; i += piece) memcpy(dst + i, src + i, (n - i < piece ? n - i : piece) * sizeof(float));
}

/* Takes the snapshot (allocating the staging on first use), then writes and
 * prunes. 0 / -1 (printed). */
static int run_job(ckpt_writer *w) {
    size_t P = w->view.num_params;
    int rc = 0;
    if (!w->stage) {
        /* one 2 MiB-paged buffer, zeroed by this thread alone (its OpenMP
         * team is set to one thread: the training threads keep their cores) */
        w->stage = ll_calloc_big(P * sizeof(float) * (w->with_moments ? 3 : 1));
        if (!w->stage) rc = -1;
    }
    if (rc == 0) {
        copy_floats(w->stage, w->src_params, P);
        if (w->with_moments) {
            copy_floats(w->stage + P, w->src_m, P);
            copy_floats(w->stage + 2 * P, w->src_v, P);
        }
    }
    pthread_mutex_lock(&w->mu);
    w->snapshot_taken = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (rc != 0) return -1;

    w->view.params = w->stage;
    ckpt_save_times t;
    if (ckpt_save_timed(w->path, &w->view, w->with_moments ? w->stage + P : NULL,
                        w->with_moments ? w->stage + 2 * P : NULL, &w->meta, &w->image, &t) != 0)
        return -1;
    ll_log("checkpoint %s (written in the background: build %.2f s, write %.2f s, %.0f MB/s)\n", w->path, t.build_s,
           t.write_s, t.write_s > 0 ? t.bytes / t.write_s / 1e6 : 0.0);
    /* a failed prune (printed) ends the run: its new checkpoint is safe, resume goes on */
    if (w->keep > 0 && ckpt_prune(w->run_dir, w->keep) != 0) return -1;
    return 0;
}

static void *writer_main(void *arg) {
    ckpt_writer *w = arg;
    omp_set_num_threads(1);
    /* the staging is allocated and touched now, off the training threads,
     * so that the first checkpoint's snapshot is a plain copy (a failure
     * here is retried, and reported, by the first job) */
    if (!w->stage)
        w->stage = ll_calloc_big_quiet(w->view.num_params * sizeof(float) * (w->with_moments ? 3 : 1));
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->quit && !(w->pending && !w->snapshot_taken)) pthread_cond_wait(&w->cv, &w->mu);
        if (w->pending && !w->snapshot_taken) {
            pthread_mutex_unlock(&w->mu);
            int rc = run_job(w);
            pthread_mutex_lock(&w->mu);
            if (rc != 0) w->failed = 1;
            w->pending = 0;
            pthread_cond_broadcast(&w->cv);
            continue;
        }
        if (w->quit) break;
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

ckpt_writer *ckpt_writer_create(const gpt_model *m, int with_moments, const char *run_dir, int keep) {
    ckpt_writer *w = ll_calloc(1, sizeof *w);
    if (!w) return NULL;
    if (strlen(run_dir) >= sizeof w->run_dir) {
        ll_error("%s: ckpt_writer_create: run directory path too long", run_dir);
        free(w);
        return NULL;
    }
    w->view = *m;
    w->view.grads = NULL;
    w->view.acts = NULL;
    w->with_moments = with_moments;
    w->keep = keep;
    snprintf(w->run_dir, sizeof w->run_dir, "%s", run_dir);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    int err = pthread_create(&w->thread, NULL, writer_main, w);
    if (err != 0) {
        ll_error("ckpt_writer.c: cannot start the checkpoint writer thread: %s", strerror(err));
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
    }
    return w;
}

/* Waits under mu until no job is in flight; returns and clears the failure. */
static int wait_idle_locked(ckpt_writer *w) {
    while (w->pending) pthread_cond_wait(&w->cv, &w->mu);
    int failed = w->failed;
    w->failed = 0;
    return failed ? -1 : 0;
}

int ckpt_writer_begin(ckpt_writer *w, const char *path, const float *params, const float *adam_m,
                      const float *adam_v, const ckpt_meta *meta) {
    if (w->with_moments && (!adam_m || !adam_v)) {
        ll_error("%s: ckpt_writer_begin: the writer was made for moments, none given", path);
        return -1;
    }
    if (strlen(path) >= sizeof w->path) { ll_error("%s: path too long", path); return -1; }
    pthread_mutex_lock(&w->mu);
    int rc = wait_idle_locked(w);
    if (rc == 0) {
        snprintf(w->path, sizeof w->path, "%s", path);
        w->src_params = params;
        w->src_m = adam_m;
        w->src_v = adam_v;
        w->meta = *meta;
        w->snapshot_taken = 0;
        w->pending = 1;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void ckpt_writer_snapshot_wait(ckpt_writer *w, double *waited) {
    double t = ll_now();
    pthread_mutex_lock(&w->mu);
    while (w->pending && !w->snapshot_taken) pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    if (waited) *waited = ll_now() - t;
}

int ckpt_writer_wait(ckpt_writer *w) {
    pthread_mutex_lock(&w->mu);
    int rc = wait_idle_locked(w);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int ckpt_writer_failed(ckpt_writer *w) {
    pthread_mutex_lock(&w->mu);
    int failed = w->failed;
    pthread_mutex_unlock(&w->mu);
    return failed;
}

void ckpt_writer_free(ckpt_writer *w) {
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    while (w->pending) pthread_cond_wait(&w->cv, &w->mu);
    w->quit = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    ll_free_big(w->stage);
    ckpt_image_release(&w->image);
    free(w);
}

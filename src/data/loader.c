/* loader.c: deterministic, sharded, resumable windows (spec in include/llmpi/loader.h).
 *
 * Invariants:
 *   - the window at global stream position q is perm_e[q mod n_windows] with
 *     e = q / n_windows and perm_e a Fisher-Yates shuffle from an ll_rng
 *     seeded with (seed, LOADER_STREAM + e): it depends on nothing else, not
 *     on the rank count, the batch shape or timing;
 *   - st.position only moves at step boundaries, by G = nranks*B*A, so it is
 *     the same on every rank and a saved state restores exactly;
 *   - a rank reads only the windows of its own slice, one hyperslab each.
 * Positions a rank visits only increase, so caching one epoch's permutation
 * is enough. Working out the positions (loader_position_of, the permutation)
 * stays on the caller's thread; the prefetch worker only gets a list of
 * window indices and a buffer, reads them with store_read_raw (no HDF5, no
 * printing) and marks the job done. A prefetched batch is used only when its
 * key (seed, first global position) is the one now due, so set_state,
 * prefetch on/off and read failures can only cost a synchronous read, never
 * change a batch.
 *
 * Evaluation (loader_eval) reads windows in order, without a permutation or
 * a worker: its windows depend only on (n_windows, rank, nranks,
 * batch_size). Both paths turn windows into (inputs, targets) through one
 * function, windows_to_pairs.
 *
 * SFT mode (loader_pack): rows of packed examples held in memory replace the
 * windows; positions, ranks, micro-steps and the state are the same code,
 * only the row at a position is read from the pack (in order, no
 * permutation) instead of the store. The pack is a pure function of the
 * split and seq_len (bounded best fit, no RNG), so it is the same on every
 * rank and at every resume.
 */
#include "llmpi/loader.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "llmpi/util.h"

/* Keeps the data-order RNG apart from other RNGs seeded with the run seed
 * (weight init, sampling), which use small stream numbers. */
#define LOADER_STREAM 0x4c4f414445520000ULL  /* "LOADER\0\0" */
#define LOADER_NO_EPOCH UINT64_MAX

/* The worker and its one job slot; everything below mu is guarded by it. */
struct loader_prefetch {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const store_reader *store;
    store_split split;
    int seq_len, batch_size;
    int quit;
    int posted, busy, done, ok;   /* job life: posted -> busy -> done */
    uint64_t key_seed, key_position;
    uint64_t *windows;            /* (batch_size) window indices of the job */
    int32_t *buf;                 /* (batch_size, seq_len+1): where the job reads to */
};

/* Worker: waits for a job, reads its windows, marks it done; until quit. */
static void *prefetch_main(void *arg) {
    struct loader_prefetch *pf = arg;
    pthread_mutex_lock(&pf->mu);
    for (;;) {
        while (!pf->quit && !pf->posted) pthread_cond_wait(&pf->cv, &pf->mu);
        if (pf->quit) break;
        pf->posted = 0;
        pf->busy = 1;
        pthread_mutex_unlock(&pf->mu);
        int ok = 1;
        size_t row = (size_t)pf->seq_len + 1;
        for (int b = 0; b < pf->batch_size && ok; b++)
            ok = store_read_raw(pf->store, pf->split, pf->windows[b] * (uint64_t)pf->seq_len, row,
                                pf->buf + (size_t)b * row) == 0;
        pthread_mutex_lock(&pf->mu);
        pf->busy = 0;
        pf->done = 1;
        pf->ok = ok;
        pthread_cond_broadcast(&pf->cv);
    }
    pthread_mutex_unlock(&pf->mu);
    return NULL;
}

/* Stops and frees the worker (waits for a job in flight). */
static void prefetch_stop(loader *l) {
    struct loader_prefetch *pf = l->pf;
    if (!pf) return;
    pthread_mutex_lock(&pf->mu);
    pf->quit = 1;
    pthread_cond_broadcast(&pf->cv);
    pthread_mutex_unlock(&pf->mu);
    pthread_join(pf->thread, NULL);
    pthread_cond_destroy(&pf->cv);
    pthread_mutex_destroy(&pf->mu);
    free(pf->windows);
    free(pf->buf);
    free(pf);
    l->pf = NULL;
}

/* Starts the worker if prefetch is on and the split allows raw reads.
 * Failing to start is not an error: the loader then reads synchronously. */
static void prefetch_start(loader *l) {
    if (l->pf || !l->prefetch || !store_has_raw(l->store, l->split)) return;
    struct loader_prefetch *pf = ll_calloc_quiet(1, sizeof *pf);   /* fallback: no prefetch */
    if (!pf) return;
    pf->store = l->store;
    pf->split = l->split;
    pf->seq_len = l->seq_len;
    pf->batch_size = l->batch_size;
    pf->windows = ll_malloc_quiet((size_t)l->batch_size * sizeof *pf->windows);
    pf->buf = ll_malloc_quiet((size_t)l->batch_size * (size_t)(l->seq_len + 1) * sizeof *pf->buf);
    int mu = -1, cv = -1;
    if (pf->windows && pf->buf) mu = pthread_mutex_init(&pf->mu, NULL);
    if (mu == 0) cv = pthread_cond_init(&pf->cv, NULL);
    if (cv == 0 && pthread_create(&pf->thread, NULL, prefetch_main, pf) == 0) { l->pf = pf; return; }
    if (cv == 0) pthread_cond_destroy(&pf->cv);
    if (mu == 0) pthread_mutex_destroy(&pf->mu);
    free(pf->windows);
    free(pf->buf);
    free(pf);
}

/* Sets up a loader over one split of an open store. -1 (one line) when the
 * shape is invalid or the split holds no complete window. */
int loader_init(loader *l, store_reader *s, store_split split, int seq_len, int batch_size,
                int grad_accum, int rank, int nranks, uint64_t seed) {
    memset(l, 0, sizeof *l);
    if (seq_len < 1 || batch_size < 1 || grad_accum < 1 || nranks < 1 || rank < 0 || rank >= nranks) {
        ll_error("loader.c: loader_init: invalid shape seq_len=%d batch_size=%d grad_accum=%d rank=%d/%d",
                 seq_len, batch_size, grad_accum, rank, nranks);
        return -1;
    }
    if (split != STORE_TRAIN && split != STORE_VAL) {
        ll_error("loader.c: loader_init: bad split %d", (int)split);
        return -1;
    }
    uint64_t n_tokens = s->split[split].n_tokens;
    uint64_t n_windows = n_tokens > 0 ? (n_tokens - 1) / (uint64_t)seq_len : 0;
    if (n_windows == 0) {
        ll_error("%s: %s split has %llu tokens, fewer than one window of %d+1", s->path,
                 split == STORE_TRAIN ? "train" : "val", (unsigned long long)n_tokens, seq_len);
        return -1;
    }
    if (n_windows > SIZE_MAX / sizeof *l->perm) {
        ll_error("%s: %llu windows do not fit in memory", s->path, (unsigned long long)n_windows);
        return -1;
    }
    l->perm = ll_malloc((size_t)n_windows * sizeof *l->perm);
    l->buf = ll_malloc((size_t)batch_size * (size_t)(seq_len + 1) * sizeof *l->buf);
    if (!l->perm || !l->buf) { loader_free(l); return -1; }
    l->store = s;
    l->split = split;
    l->seq_len = seq_len;
    l->batch_size = batch_size;
    l->grad_accum = grad_accum;
    l->rank = rank;
    l->nranks = nranks;
    l->n_windows = n_windows;
    l->perm_epoch = LOADER_NO_EPOCH;
    l->micro = 0;
    l->st.seed = seed;
    l->st.position = 0;
    l->prefetch = 1;
    l->pf = NULL;
    return 0;
}

/* Stops the worker and frees the buffers; safe on a zeroed or freed loader. */
void loader_free(loader *l) {
    prefetch_stop(l);
    free(l->perm);
    free(l->buf);
    l->perm = NULL;
    l->buf = NULL;
}

/* Fills perm with epoch's permutation (idempotent for the cached epoch). */
static void ensure_epoch(loader *l, uint64_t epoch) {
    if (l->perm_epoch == epoch) return;
    ll_permutation(l->perm, l->n_windows, l->st.seed, LOADER_STREAM + epoch);
    l->perm_epoch = epoch;
}

/* Global stream position of sample b of this rank's next micro-batch. */
static uint64_t loader_position_of(const loader *l, int b) {
    uint64_t per_rank = (uint64_t)l->batch_size * (uint64_t)l->grad_accum;
    return l->st.position + (uint64_t)l->rank * per_rank + (uint64_t)l->micro * (uint64_t)l->batch_size +
           (uint64_t)b;
}

/* Window index at global stream position q (caller's thread only: it may
 * recompute the cached permutation). */
static uint64_t window_at(loader *l, uint64_t q) {
    ensure_epoch(l, q / l->n_windows);
    return l->perm[q % l->n_windows];
}

/* Takes the worker's batch into l->buf if it is the one starting at global
 * position q0; 1 if taken. Always leaves the worker idle. */
static int prefetch_take(loader *l, uint64_t q0) {
    struct loader_prefetch *pf = l->pf;
    if (!pf) return 0;
    pthread_mutex_lock(&pf->mu);
    while (pf->posted || pf->busy) pthread_cond_wait(&pf->cv, &pf->mu);
    int hit = pf->done && pf->ok && pf->key_seed == l->st.seed && pf->key_position == q0;
    if (hit) {
        int32_t *t = l->buf;
        l->buf = pf->buf;
        pf->buf = t;
    }
    pf->done = 0;
    pthread_mutex_unlock(&pf->mu);
    return hit;
}

/* Posts the micro-batch due next (the worker is idle: prefetch_take ran). */
static void prefetch_post(loader *l) {
    prefetch_start(l);
    struct loader_prefetch *pf = l->pf;
    if (!pf) return;
    uint64_t q0 = loader_position_of(l, 0);
    for (int b = 0; b < l->batch_size; b++) pf->windows[b] = window_at(l, q0 + (uint64_t)b);
    pthread_mutex_lock(&pf->mu);
    pf->key_seed = l->st.seed;
    pf->key_position = q0;
    pf->done = 0;
    pf->posted = 1;
    pthread_cond_broadcast(&pf->cv);
    pthread_mutex_unlock(&pf->mu);
}

/* Turns rows windows of T+1 tokens into inputs (the first T of each) and
 * targets (the same shifted by one): the one place where a window becomes a
 * training pair, for training and evaluation alike. */
static void windows_to_pairs(const int32_t *buf, int rows, int T, int *inputs, int *targets) {
    for (int b = 0; b < rows; b++) {
        const int32_t *row = buf + (size_t)b * (size_t)(T + 1);
        for (int t = 0; t < T; t++) {
            inputs[(size_t)b * T + t] = row[t];
            targets[(size_t)b * T + t] = row[t + 1];
        }
    }
}

/* Reads this rank's next micro-batch: inputs[b*T+t] = window[t], targets =
 * the same shifted by one. Advances the global position after grad_accum
 * calls, then posts the following micro-batch to the prefetch worker. -1
 * (one line) on a read error; the state is then unchanged. */
int loader_next(loader *l, int *inputs, int *targets) {
    const int T = l->seq_len;
    uint64_t q0 = loader_position_of(l, 0);
    if (l->pack) {
        for (int b = 0; b < l->batch_size; b++)
            loader_pack_row(l->pack, (q0 + (uint64_t)b) % l->n_windows, inputs + (size_t)b * T,
                            targets + (size_t)b * T);
        if (++l->micro == l->grad_accum) {
            l->micro = 0;
            l->st.position += (uint64_t)l->nranks * (uint64_t)l->batch_size * (uint64_t)l->grad_accum;
        }
        return 0;
    }
    if (!prefetch_take(l, q0)) {
        for (int b = 0; b < l->batch_size; b++) {
            uint64_t window = window_at(l, q0 + (uint64_t)b);
            int32_t *row = l->buf + (size_t)b * (size_t)(T + 1);
            if (store_read(l->store, l->split, window * (uint64_t)T, (size_t)T + 1, row) != 0) return -1;
        }
    }
    windows_to_pairs(l->buf, l->batch_size, T, inputs, targets);
    if (++l->micro == l->grad_accum) {
        l->micro = 0;
        l->st.position += (uint64_t)l->nranks * (uint64_t)l->batch_size * (uint64_t)l->grad_accum;
    }
    prefetch_post(l);
    return 0;
}

/* Epoch of the first window of this rank's next micro-batch. */
uint64_t loader_epoch(const loader *l) { return loader_position_of(l, 0) / l->n_windows; }

/* The state at the start of the next step (a micro-step in progress is not
 * part of it: save at step boundaries). */
void loader_get_state(const loader *l, loader_state *st) { *st = l->st; }

/* Restores a state saved at a step boundary, possibly by a run with another
 * rank count: positions are global. */
int loader_set_state(loader *l, const loader_state *st) {
    if (st->seed != l->st.seed) l->perm_epoch = LOADER_NO_EPOCH;
    l->st = *st;
    l->micro = 0;
    return 0;
}

/* Off stops the worker now; on takes effect at the next loader_next. */
void loader_set_prefetch(loader *l, int on) {
    l->prefetch = on != 0;
    if (!l->prefetch) prefetch_stop(l);
}

int loader_prefetching(const loader *l) { return l->pf != NULL; }

/* ---- evaluation windows ---- */

/* Sets up this rank's pass over windows 0..n_windows-1. -1 (one line) when
 * the shape is invalid or the split holds fewer windows than asked. */
int loader_eval_init(loader_eval *e, store_reader *s, store_split split, int seq_len, int batch_size,
                     long n_windows, int rank, int nranks) {
    memset(e, 0, sizeof *e);
    if (seq_len < 1 || batch_size < 1 || nranks < 1 || rank < 0 || rank >= nranks ||
        (split != STORE_TRAIN && split != STORE_VAL)) {
        ll_error("loader.c: loader_eval_init: invalid shape seq_len=%d batch_size=%d rank=%d/%d split=%d", seq_len,
                 batch_size, rank, nranks, (int)split);
        return -1;
    }
    uint64_t n_tokens = s->split[split].n_tokens;
    uint64_t avail = n_tokens > 0 ? (n_tokens - 1) / (uint64_t)seq_len : 0;
    if (n_windows < 1 || (uint64_t)n_windows > avail) {
        ll_error("%s: %s split holds %llu windows of %d tokens, %ld requested", s->path,
                 split == STORE_TRAIN ? "train" : "val", (unsigned long long)avail, seq_len, n_windows);
        return -1;
    }
    e->buf = ll_malloc((size_t)batch_size * (size_t)(seq_len + 1) * sizeof *e->buf);
    if (!e->buf) return -1;
    e->store = s;
    e->split = split;
    e->seq_len = seq_len;
    e->batch_size = batch_size;
    e->rank = rank;
    e->nranks = nranks;
    e->n_windows = n_windows;
    e->next = rank;
    return 0;
}

/* Reads up to batch_size of this rank's next windows (k = next, next +
 * nranks, ...) into inputs and targets; *rows = how many, 0 at the end. -1
 * (one line) on a read error. */
int loader_eval_next(loader_eval *e, int *inputs, int *targets, int *rows) {
    return loader_eval_next_sources(e, inputs, targets, NULL, rows);
}

/* loader_eval_next, and on packed rows each target's source when sources is
 * non-NULL. */
int loader_eval_next_sources(loader_eval *e, int *inputs, int *targets, int *sources, int *rows) {
    const int T = e->seq_len;
    int b = 0;
    if (e->pack) {
        for (; b < e->batch_size && e->next < e->n_windows; b++, e->next += e->nranks) {
            loader_pack_row(e->pack, (uint64_t)e->next, inputs + (size_t)b * T, targets + (size_t)b * T);
            if (sources) loader_pack_row_sources(e->pack, (uint64_t)e->next, sources + (size_t)b * T);
        }
        *rows = b;
        return 0;
    }
    for (; b < e->batch_size && e->next < e->n_windows; b++, e->next += e->nranks)
        if (store_read(e->store, e->split, (uint64_t)e->next * (uint64_t)T, (size_t)T + 1,
                       e->buf + (size_t)b * (size_t)(T + 1)) != 0)
            return -1;
    windows_to_pairs(e->buf, b, T, inputs, targets);
    *rows = b;
    return 0;
}

/* Frees the buffer; safe on a zeroed or freed pass. */
void loader_eval_free(loader_eval *e) {
    free(e->buf);
    e->buf = NULL;
}

/* ---- SFT rows ---- */

/* Packs the split's examples by bounded best fit (spec in loader.h): the
 * open rows, oldest first, in open[0..n_open); each example goes to the open
 * row it fills most tightly, else to a new row, closing the oldest open row
 * when more than LOADER_PACK_OPEN would be open. Then a stable counting sort
 * by row lists every row's examples in stored order. */
int loader_pack_init(loader_pack *p, const sft_split *sp, int seq_len, int32_t pad_id) {
    memset(p, 0, sizeof *p);
    if (seq_len < 1) { ll_error("loader.c: loader_pack_init: seq_len %d", seq_len); return -1; }
    if (sp->n_examples == 0) { ll_error("SFT split holds no example to pack into rows"); return -1; }
    const uint64_t n = sp->n_examples, cap = (uint64_t)seq_len + 1;
    int n_sources = 1;
    for (uint64_t k = 0; k < n; k++)
        if (sp->source[k] >= n_sources) n_sources = sp->source[k] + 1;
    p->row_first = ll_malloc((size_t)(n + 1) * sizeof *p->row_first);
    p->order = ll_malloc((size_t)n * sizeof *p->order);
    p->source_truncated = ll_calloc((size_t)n_sources, sizeof *p->source_truncated);
    uint64_t *row_of = ll_malloc((size_t)n * sizeof *row_of);
    if (!p->row_first || !p->order || !p->source_truncated || !row_of) {
        free(row_of);
        loader_pack_free(p);
        return -1;
    }
    p->n_sources = n_sources;
    struct { uint64_t row, room; } open[LOADER_PACK_OPEN + 1];
    int n_open = 0;
    uint64_t rows = 0;
    for (uint64_t k = 0; k < n; k++) {
        uint64_t len = sp->offsets[k + 1] - sp->offsets[k];
        if (len > cap) {
            len = cap;
            p->n_truncated++;
            p->source_truncated[sp->source[k]]++;
        }
        int best = -1;
        for (int i = 0; i < n_open; i++)
            if (open[i].room >= len && (best < 0 || open[i].room < open[best].room)) best = i;
        if (best < 0) {
            best = n_open++;
            open[best].row = rows++;
            open[best].room = cap;
        }
        row_of[k] = open[best].row;
        open[best].room -= len;
        p->slots_used += len;
        /* a full row takes nothing more; past the bound the oldest closes */
        int drop = open[best].room == 0 ? best : n_open > LOADER_PACK_OPEN ? 0 : -1;
        if (drop >= 0) {
            memmove(&open[drop], &open[drop + 1], (size_t)(n_open - drop - 1) * sizeof open[0]);
            n_open--;
        }
    }
    /* rows in opening order; within a row, examples in stored order */
    memset(p->row_first, 0, (size_t)(rows + 1) * sizeof *p->row_first);
    for (uint64_t k = 0; k < n; k++) p->row_first[row_of[k] + 1]++;
    for (uint64_t r = 0; r < rows; r++) p->row_first[r + 1] += p->row_first[r];
    for (uint64_t k = 0; k < n; k++) p->order[p->row_first[row_of[k]]++] = k;
    for (uint64_t r = rows; r > 0; r--) p->row_first[r] = p->row_first[r - 1];
    p->row_first[0] = 0;
    free(row_of);
    p->n_rows = rows;
    p->split = sp;
    p->seq_len = seq_len;
    p->pad_id = pad_id;
    return 0;
}

void loader_pack_free(loader_pack *p) {
    free(p->row_first);
    free(p->order);
    free(p->source_truncated);
    p->row_first = NULL;
    p->order = NULL;
    p->source_truncated = NULL;
    p->n_rows = 0;
}

double loader_pack_padding(const loader_pack *p) {
    double slots = (double)p->n_rows * (double)(p->seq_len + 1);
    return slots > 0 ? 1.0 - (double)p->slots_used / slots : 0.0;
}

/* Row r: its examples back to back (each cut to seq_len+1), then padding;
 * inputs the first T slots, targets the next token where the mask marks it. */
void loader_pack_row(const loader_pack *p, uint64_t r, int *inputs, int *targets) {
    const int T = p->seq_len;
    const sft_split *sp = p->split;
    int at = 0;   /* slots filled: slot s is input s (s < T) and target s-1 (s > 0) */
    for (uint64_t j = p->row_first[r]; j < p->row_first[r + 1]; j++) {
        uint64_t k = p->order[j], a = sp->offsets[k], e = sp->offsets[k + 1];
        if (e - a > (uint64_t)T + 1) e = a + (uint64_t)T + 1;
        for (uint64_t i = a; i < e; i++, at++) {
            if (at < T) inputs[at] = sp->tokens[i];
            if (at > 0) targets[at - 1] = sp->mask[i] ? sp->tokens[i] : -1;
        }
    }
    for (; at <= T; at++) {
        if (at < T) inputs[at] = p->pad_id;
        if (at > 0) targets[at - 1] = -1;
    }
}

/* Row r's sources, slot by slot like loader_pack_row's targets. */
void loader_pack_row_sources(const loader_pack *p, uint64_t r, int *sources) {
    const int T = p->seq_len;
    const sft_split *sp = p->split;
    int at = 0;
    for (uint64_t j = p->row_first[r]; j < p->row_first[r + 1]; j++) {
        uint64_t k = p->order[j], len = sp->offsets[k + 1] - sp->offsets[k];
        if (len > (uint64_t)T + 1) len = (uint64_t)T + 1;
        for (uint64_t i = 0; i < len; i++, at++)
            if (at > 0) sources[at - 1] = sp->source[k];
    }
    for (; at <= T; at++)
        if (at > 0) sources[at - 1] = -1;
}

/* SFT mode: windows become the pack's rows, read in order. */
int loader_init_sft(loader *l, const loader_pack *p, int batch_size, int grad_accum, int rank, int nranks,
                    uint64_t seed) {
    memset(l, 0, sizeof *l);
    if (batch_size < 1 || grad_accum < 1 || nranks < 1 || rank < 0 || rank >= nranks || p->n_rows == 0) {
        ll_error("loader.c: loader_init_sft: invalid shape batch_size=%d grad_accum=%d rank=%d/%d rows=%llu",
                 batch_size, grad_accum, rank, nranks, (unsigned long long)p->n_rows);
        return -1;
    }
    l->pack = p;
    l->split = STORE_TRAIN;
    l->seq_len = p->seq_len;
    l->batch_size = batch_size;
    l->grad_accum = grad_accum;
    l->rank = rank;
    l->nranks = nranks;
    l->n_windows = p->n_rows;
    l->perm_epoch = LOADER_NO_EPOCH;
    l->st.seed = seed;
    l->prefetch = 0;
    return 0;
}

int loader_eval_init_sft(loader_eval *e, const loader_pack *p, int batch_size, long n_rows, int rank, int nranks) {
    memset(e, 0, sizeof *e);
    if (batch_size < 1 || nranks < 1 || rank < 0 || rank >= nranks) {
        ll_error("loader.c: loader_eval_init_sft: invalid shape batch_size=%d rank=%d/%d", batch_size, rank, nranks);
        return -1;
    }
    if (n_rows < 1 || (uint64_t)n_rows > p->n_rows) {
        ll_error("SFT val split holds %llu rows of %d tokens, %ld requested", (unsigned long long)p->n_rows,
                 p->seq_len, n_rows);
        return -1;
    }
    e->pack = p;
    e->seq_len = p->seq_len;
    e->batch_size = batch_size;
    e->rank = rank;
    e->nranks = nranks;
    e->n_windows = n_rows;
    e->next = rank;
    return 0;
}

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
 * is enough. Working out the positions (loader_position_of) is separate from
 * reading them, so a prefetch thread can later read step s+1 while s trains.
 */
#include "llmpi/loader.h"

#include <stdlib.h>
#include <string.h>

#include "llmpi/util.h"

/* Keeps the data-order RNG apart from other RNGs seeded with the run seed
 * (weight init, sampling), which use small stream numbers. */
#define LOADER_STREAM 0x4c4f414445520000ULL  /* "LOADER\0\0" */
#define LOADER_NO_EPOCH UINT64_MAX

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
    return 0;
}

void loader_free(loader *l) {
    free(l->perm);
    free(l->buf);
    l->perm = NULL;
    l->buf = NULL;
}

/* Fills perm with epoch's permutation (idempotent for the cached epoch). */
static void ensure_epoch(loader *l, uint64_t epoch) {
    if (l->perm_epoch == epoch) return;
    ll_rng rng;
    ll_rng_seed(&rng, l->st.seed, LOADER_STREAM + epoch);
    for (uint64_t i = 0; i < l->n_windows; i++) l->perm[i] = i;
    for (uint64_t i = l->n_windows - 1; i > 0; i--) {
        uint64_t j = ll_rng_below(&rng, i + 1);
        uint64_t t = l->perm[i]; l->perm[i] = l->perm[j]; l->perm[j] = t;
    }
    l->perm_epoch = epoch;
}

/* Global stream position of sample b of this rank's next micro-batch. */
static uint64_t loader_position_of(const loader *l, int b) {
    uint64_t per_rank = (uint64_t)l->batch_size * (uint64_t)l->grad_accum;
    return l->st.position + (uint64_t)l->rank * per_rank + (uint64_t)l->micro * (uint64_t)l->batch_size +
           (uint64_t)b;
}

/* Reads this rank's next micro-batch: inputs[b*T+t] = window[t], targets =
 * the same shifted by one. Advances the global position after grad_accum
 * calls. -1 (one line) on a read error; the state is then unchanged. */
int loader_next(loader *l, int *inputs, int *targets) {
    const int T = l->seq_len;
    for (int b = 0; b < l->batch_size; b++) {
        uint64_t q = loader_position_of(l, b);
        ensure_epoch(l, q / l->n_windows);
        uint64_t window = l->perm[q % l->n_windows];
        int32_t *row = l->buf + (size_t)b * (size_t)(T + 1);
        if (store_read(l->store, l->split, window * (uint64_t)T, (size_t)T + 1, row) != 0) return -1;
    }
    for (int b = 0; b < l->batch_size; b++) {
        const int32_t *row = l->buf + (size_t)b * (size_t)(T + 1);
        for (int t = 0; t < T; t++) {
            inputs[(size_t)b * T + t] = row[t];
            targets[(size_t)b * T + t] = row[t + 1];
        }
    }
    if (++l->micro == l->grad_accum) {
        l->micro = 0;
        l->st.position += (uint64_t)l->nranks * (uint64_t)l->batch_size * (uint64_t)l->grad_accum;
    }
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

/* test_loader.c: the sharded loader. The store holds token i at position i,
 * so every window names itself (first input / seq_len) and the tests can
 * check which windows each rank read: with 1, 2 and 3 ranks the union over
 * an epoch is one permutation without overlaps, and the same one for every
 * rank count; a saved state continues identically; epochs change order.
 * The evaluation pass reads windows in order, rank r taking r, r+n, ...,
 * batch_size at a time, every window exactly once over the ranks. */
#include <hdf5.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "llmpi/h5.h"
#include "llmpi/loader.h"
#include "llmpi/store.h"
#include "llmpi/util.h"
#include "testutil.h"

#define SEQ 4
#define N_WINDOWS 30
#define N_TOKENS (N_WINDOWS * SEQ + 3)   /* 3 spare tokens: still 30 windows */

static store_reader g_store;

/* Reads one micro-batch and returns each row's window index; checks the
 * targets are the inputs shifted by one. */
static void next_windows(loader *l, int B, uint64_t *windows) {
    int inputs[16 * SEQ], targets[16 * SEQ];
    assert_int_equal(loader_next(l, inputs, targets), 0);
    for (int b = 0; b < B; b++) {
        assert_int_equal(inputs[b * SEQ] % SEQ, 0);
        for (int t = 0; t < SEQ; t++) {
            assert_int_equal(inputs[b * SEQ + t], inputs[b * SEQ] + t);
            assert_int_equal(targets[b * SEQ + t], inputs[b * SEQ] + t + 1);
        }
        windows[b] = (uint64_t)inputs[b * SEQ] / SEQ;
    }
}

/* Runs nranks loaders in lockstep for `steps` steps; seq[q] = window at
 * global position q, filled from the rank that owns q. */
static void run_ranks(int nranks, int B, int A, int steps, uint64_t seed, uint64_t *seq, int seq_cap) {
    loader ls[3];
    for (int r = 0; r < nranks; r++)
        assert_int_equal(loader_init(&ls[r], &g_store, STORE_TRAIN, SEQ, B, A, r, nranks, seed), 0);
    int G = nranks * B * A;
    for (int q = 0; q < seq_cap; q++) seq[q] = UINT64_MAX;
    for (int s = 0; s < steps; s++) {
        for (int r = 0; r < nranks; r++) {
            for (int a = 0; a < A; a++) {
                uint64_t w[16];
                next_windows(&ls[r], B, w);
                for (int b = 0; b < B; b++) {
                    int q = s * G + r * B * A + a * B + b;
                    assert_true(q < seq_cap);
                    assert_int_equal(seq[q], UINT64_MAX);   /* no position read twice */
                    seq[q] = w[b];
                }
            }
            loader_state st;
            loader_get_state(&ls[r], &st);
            assert_int_equal(st.position, (uint64_t)(s + 1) * (uint64_t)G);
        }
    }
    for (int r = 0; r < nranks; r++) loader_free(&ls[r]);
}

static int is_permutation(const uint64_t *v, int n) {
    int seen[N_WINDOWS] = {0};
    for (int i = 0; i < n; i++) {
        if (v[i] >= (uint64_t)n || seen[v[i]]) return 0;
        seen[v[i]] = 1;
    }
    return 1;
}

static void test_union_over_ranks_is_the_permutation(void **state) {
    (void)state;
    enum { B = 2, A = 2, CAP = 3 * N_WINDOWS + 3 * B * A * 3 };
    uint64_t seq1[CAP], seqn[CAP];
    /* N = 1: G = 4, 15 steps = 60 positions = exactly two epochs */
    run_ranks(1, B, A, 15, 42, seq1, CAP);
    assert_true(is_permutation(seq1, N_WINDOWS));
    assert_true(is_permutation(seq1 + N_WINDOWS, N_WINDOWS));
    assert_memory_not_equal(seq1, seq1 + N_WINDOWS, N_WINDOWS * sizeof(uint64_t));
    int identity = 1;
    for (int i = 0; i < N_WINDOWS; i++) identity &= seq1[i] == (uint64_t)i;
    assert_false(identity);
    for (int nranks = 2; nranks <= 3; nranks++) {
        int G = nranks * B * A;
        int steps = (2 * N_WINDOWS + G - 1) / G;   /* covers two epochs */
        run_ranks(nranks, B, A, steps, 42, seqn, CAP);
        /* every position of the two epochs read once, by exactly one rank,
         * and the order does not depend on the rank count */
        for (int q = 0; q < 2 * N_WINDOWS; q++) assert_int_not_equal(seqn[q], UINT64_MAX);
        assert_memory_equal(seqn, seq1, 2 * N_WINDOWS * sizeof(uint64_t));
    }
    /* another seed, another order */
    run_ranks(1, B, A, 8, 43, seqn, CAP);
    assert_true(is_permutation(seqn, N_WINDOWS));
    assert_memory_not_equal(seqn, seq1, N_WINDOWS * sizeof(uint64_t));
}

static void test_save_restore_mid_epoch(void **state) {
    (void)state;
    enum { B = 3, A = 2, STEPS_BEFORE = 2, STEPS_AFTER = 9 };   /* 12 windows/step: crosses epochs */
    for (int nranks = 1; nranks <= 2; nranks++) {
        for (int rank = 0; rank < nranks; rank++) {
            loader a, b;
            assert_int_equal(loader_init(&a, &g_store, STORE_TRAIN, SEQ, B, A, rank, nranks, 7), 0);
            uint64_t w[16], expect[STEPS_AFTER * A][B];
            for (int i = 0; i < STEPS_BEFORE * A; i++) next_windows(&a, B, w);
            loader_state st;
            loader_get_state(&a, &st);
            assert_int_equal(st.seed, 7);
            assert_int_equal(st.position, (uint64_t)STEPS_BEFORE * nranks * B * A);
            for (int i = 0; i < STEPS_AFTER * A; i++) next_windows(&a, B, expect[i]);

            /* a fresh loader restored to the saved state continues identically */
            assert_int_equal(loader_init(&b, &g_store, STORE_TRAIN, SEQ, B, A, rank, nranks, 7), 0);
            assert_int_equal(loader_set_state(&b, &st), 0);
            for (int i = 0; i < STEPS_AFTER * A; i++) {
                next_windows(&b, B, w);
                assert_memory_equal(w, expect[i], B * sizeof(uint64_t));
            }
            /* restoring over a loader that is mid-way (and mid-step) also works */
            next_windows(&a, B, w);
            assert_int_equal(loader_set_state(&a, &st), 0);
            next_windows(&a, B, w);
            assert_memory_equal(w, expect[0], B * sizeof(uint64_t));
            loader_free(&a);
            loader_free(&b);
        }
    }
}

static void test_epoch_boundary(void **state) {
    (void)state;
    /* B*A = 8 windows per step on one rank: step 3 straddles windows 24..31,
     * positions 30 and 31 belong to epoch 1 */
    loader l;
    assert_int_equal(loader_init(&l, &g_store, STORE_TRAIN, SEQ, 4, 2, 0, 1, 99), 0);
    assert_int_equal(l.n_windows, N_WINDOWS);
    uint64_t seq[64], w[16];
    int q = 0;
    for (int step = 0; step < 8; step++) {
        for (int a = 0; a < 2; a++) {
            uint64_t expected_epoch = (uint64_t)q / N_WINDOWS;
            assert_int_equal(loader_epoch(&l), expected_epoch);
            next_windows(&l, 4, w);
            for (int b = 0; b < 4; b++) seq[q++] = w[b];
        }
    }
    assert_int_equal(loader_epoch(&l), 2);   /* position 64 */
    assert_true(is_permutation(seq, N_WINDOWS));
    assert_true(is_permutation(seq + N_WINDOWS, N_WINDOWS));
    assert_memory_not_equal(seq, seq + N_WINDOWS, N_WINDOWS * sizeof(uint64_t));

    /* a restored state in epoch 1 gives the same epoch-1 order */
    loader_state st = {.seed = 99, .position = 40};
    assert_int_equal(loader_set_state(&l, &st), 0);
    assert_int_equal(loader_epoch(&l), 1);
    next_windows(&l, 4, w);
    assert_memory_equal(w, seq + 40, 4 * sizeof(uint64_t));
    /* and a state with another seed switches the permutation */
    st.seed = 100;
    st.position = 0;
    assert_int_equal(loader_set_state(&l, &st), 0);
    uint64_t other[28];
    for (int i = 0; i < 7; i++) next_windows(&l, 4, other + i * 4);
    assert_memory_not_equal(other, seq, 28 * sizeof(uint64_t));
    loader_free(&l);
}

static void test_val_split_and_refusals(void **state) {
    (void)state;
    loader l;
    /* val holds 9 tokens: two windows of 4+1 */
    assert_int_equal(loader_init(&l, &g_store, STORE_VAL, SEQ, 1, 1, 0, 1, 5), 0);
    assert_int_equal(l.n_windows, 2);
    int in[SEQ], tg[SEQ];
    assert_int_equal(loader_next(&l, in, tg), 0);
    assert_true(in[0] == 1000 || in[0] == 1004);
    loader_free(&l);
    TU_EXPECT_FAIL_ONE_LINE(loader_init(&l, &g_store, STORE_VAL, 9, 1, 1, 0, 1, 5), "9 tokens, fewer than one window of 9+1");
    TU_EXPECT_FAIL_ONE_LINE(loader_init(&l, &g_store, STORE_TRAIN, SEQ, 1, 1, 2, 2, 5), "rank=2/2");
    TU_EXPECT_FAIL_ONE_LINE(loader_init(&l, &g_store, STORE_TRAIN, 0, 1, 1, 0, 1, 5), "seq_len=0");
}

/* Evaluation windows: in order, strided over ranks, each once, the last
 * batch short; targets are the inputs shifted by one. */
static void test_eval_windows(void **state) {
    (void)state;
    enum { B = 4, N = 23 };   /* 23 of the 30 windows: batches do not divide evenly */
    for (int nranks = 1; nranks <= 3; nranks++) {
        int seen[N_WINDOWS] = {0};
        for (int r = 0; r < nranks; r++) {
            loader_eval e;
            assert_int_equal(loader_eval_init(&e, &g_store, STORE_TRAIN, SEQ, B, N, r, nranks), 0);
            int in[B * SEQ], tg[B * SEQ], rows = 0;
            long expect = r;   /* this rank's next window */
            int batches = 0;
            for (;;) {
                assert_int_equal(loader_eval_next(&e, in, tg, &rows), 0);
                if (rows == 0) break;
                batches++;
                assert_true(rows <= B);
                for (int b = 0; b < rows; b++, expect += nranks) {
                    assert_int_equal(in[b * SEQ], expect * SEQ);
                    for (int t = 0; t < SEQ; t++) {
                        assert_int_equal(in[b * SEQ + t], expect * SEQ + t);
                        assert_int_equal(tg[b * SEQ + t], expect * SEQ + t + 1);
                    }
                    seen[expect]++;
                }
                if (rows < B) { assert_true(expect >= N); }
            }
            int mine = (N - r + nranks - 1) / nranks;
            assert_int_equal(batches, (mine + B - 1) / B);
            assert_int_equal(loader_eval_next(&e, in, tg, &rows), 0);   /* stays at the end */
            assert_int_equal(rows, 0);
            loader_eval_free(&e);
        }
        for (int k = 0; k < N_WINDOWS; k++) assert_int_equal(seen[k], k < N ? 1 : 0);
    }
    loader_eval e;
    TU_EXPECT_FAIL_ONE_LINE(loader_eval_init(&e, &g_store, STORE_VAL, SEQ, 2, 3, 0, 1),
                            "val split holds 2 windows of 4 tokens, 3 requested");
    TU_EXPECT_FAIL_ONE_LINE(loader_eval_init(&e, &g_store, STORE_TRAIN, SEQ, 2, 0, 0, 1), "0 requested");
    TU_EXPECT_FAIL_ONE_LINE(loader_eval_init(&e, &g_store, STORE_TRAIN, SEQ, 2, 4, 3, 3), "rank=3/3");
}

/* Prefetch on and off give the same batches: across epochs, after a
 * restore, and when switched off half-way; the raw reads the worker uses
 * agree with store_read everywhere. */
static void test_prefetch_is_invisible(void **state) {
    (void)state;
    enum { B = 3, A = 2, CALLS = 40 };
    assert_true(store_has_raw(&g_store, STORE_TRAIN));
    assert_true(store_has_raw(&g_store, STORE_VAL));
    int32_t raw[N_TOKENS], ref[N_TOKENS];
    for (uint64_t start = 0; start < N_TOKENS; start += 7) {
        size_t n = N_TOKENS - start < 11 ? N_TOKENS - start : 11;
        assert_int_equal(store_read_raw(&g_store, STORE_TRAIN, start, n, raw), 0);
        assert_int_equal(store_read(&g_store, STORE_TRAIN, start, n, ref), 0);
        assert_memory_equal(raw, ref, n * sizeof *raw);
    }
    assert_int_equal(store_read_raw(&g_store, STORE_VAL, 0, 9, raw), 0);
    assert_int_equal(raw[8], 1008);
    assert_int_equal(store_read_raw(&g_store, STORE_TRAIN, N_TOKENS - 2, 3, raw), -1);   /* past the end */

    for (int rank = 0; rank < 2; rank++) {
        loader on, off;
        assert_int_equal(loader_init(&on, &g_store, STORE_TRAIN, SEQ, B, A, rank, 2, 11), 0);
        assert_int_equal(loader_init(&off, &g_store, STORE_TRAIN, SEQ, B, A, rank, 2, 11), 0);
        loader_set_prefetch(&off, 0);
        int in1[B * SEQ], tg1[B * SEQ], in2[B * SEQ], tg2[B * SEQ];
        loader_state mid = {0};
        for (int c = 0; c < CALLS; c++) {
            assert_int_equal(loader_next(&on, in1, tg1), 0);
            assert_int_equal(loader_next(&off, in2, tg2), 0);
            assert_memory_equal(in1, in2, sizeof in1);
            assert_memory_equal(tg1, tg2, sizeof tg1);
            if (c == 9) loader_get_state(&on, &mid);   /* after 5 steps: a step boundary */
        }
        assert_true(loader_prefetching(&on));
        assert_false(loader_prefetching(&off));
        /* restore both to mid: the pending prefetch is for another position */
        assert_int_equal(loader_set_state(&on, &mid), 0);
        assert_int_equal(loader_set_state(&off, &mid), 0);
        for (int c = 0; c < CALLS; c++) {
            if (c == CALLS / 2) { loader_set_prefetch(&on, 0); assert_false(loader_prefetching(&on)); }
            assert_int_equal(loader_next(&on, in1, tg1), 0);
            assert_int_equal(loader_next(&off, in2, tg2), 0);
            assert_memory_equal(in1, in2, sizeof in1);
        }
        loader_free(&on);
        loader_free(&off);
    }
}

static int setup(void **state) {
    (void)state;
    h5u_quiet();
    tu_make_dir("loader");
    /* train: token i at position i (two documents); val: 1000..1008 */
    store_writer *w = store_writer_create(tu_path("seq.h5"), 2000, 1999, "positions");
    if (!w) return -1;
    int32_t toks[N_TOKENS];
    for (int i = 0; i < N_TOKENS; i++) toks[i] = i;
    if (store_writer_append(w, STORE_TRAIN, toks, 50) != 0 ||
        store_writer_append(w, STORE_TRAIN, toks + 50, N_TOKENS - 50) != 0)
        return -1;
    int32_t val[9];
    for (int i = 0; i < 9; i++) val[i] = 1000 + i;
    if (store_writer_append(w, STORE_VAL, val, 9) != 0 || store_writer_finish(w) != 0) return -1;
    return store_open(&g_store, tu_path("seq.h5"));
}

static int teardown(void **state) {
    (void)state;
    store_close(&g_store);
    return tu_teardown_hdf5();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_union_over_ranks_is_the_permutation),
        cmocka_unit_test(test_save_restore_mid_epoch),
        cmocka_unit_test(test_epoch_boundary),
        cmocka_unit_test(test_val_split_and_refusals),
        cmocka_unit_test(test_prefetch_is_invisible),
        cmocka_unit_test(test_eval_windows),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

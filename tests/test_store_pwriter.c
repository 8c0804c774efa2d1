/* test_store_pwriter.c: the parallel store writer as one MPI rank, raw reads
 * of its contiguous datasets, and the tokenizer check.
 *   - ranges written out of order land where they belong; the store opens,
 *     validates, and raw reads equal HDF5 reads;
 *   - finish(ok = 0), a token >= vocab_size, a write outside the dataset:
 *     one line, nothing at the path, an earlier file kept byte for byte;
 *   - store_check_tokenizer refuses another identity or vocabulary, naming
 *     the store. */
#include <hdf5.h>
#include <mpi.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>

#include "llmpi/h5.h"
#include "llmpi/store.h"
#include "llmpi/util.h"
#include "testutil.h"

#define N_TRAIN 5000
#define N_VAL 300

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Writes train = i % 997 (docs at 0, 1000, 4000), val = 7 (one doc), the
 * train tokens in three pieces in reverse order. */
static int write_store(const char *path, int ok_at_finish) {
    store_pwriter *w = store_pwriter_create(path, 1000, 999, "test-tok");
    if (!w) return -1;
    assert_int_equal(store_pwriter_token_bytes(w), 2);
    uint64_t n_tokens[2] = {N_TRAIN, N_VAL}, n_docs[2] = {3, 1};
    if (store_pwriter_define(w, n_tokens, n_docs) != 0) return store_pwriter_finish(w, 0), -1;
    static uint16_t train[N_TRAIN], val[N_VAL];
    for (int i = 0; i < N_TRAIN; i++) train[i] = (uint16_t)(i % 997);
    for (int i = 0; i < N_VAL; i++) val[i] = 7;
    uint64_t offs[3] = {0, 1000, 4000}, zero = 0;
    int rc = 0;
    rc |= store_pwriter_write_tokens(w, STORE_TRAIN, 4000, train + 4000, 1000);
    rc |= store_pwriter_write_tokens(w, STORE_TRAIN, 1000, train + 1000, 3000);
    rc |= store_pwriter_write_tokens(w, STORE_TRAIN, 0, train, 1000);
    rc |= store_pwriter_write_tokens(w, STORE_VAL, 0, val, N_VAL);
    rc |= store_pwriter_write_offsets(w, STORE_TRAIN, 0, offs, 3);
    rc |= store_pwriter_write_offsets(w, STORE_VAL, 0, &zero, 1);
    return store_pwriter_finish(w, ok_at_finish && rc == 0);
}

static void test_write_and_read_back(void **state) {
    (void)state;
    const char *path = tu_path("p.h5");
    assert_int_equal(write_store(path, 1), 0);
    store_reader s;
    assert_int_equal(store_open(&s, path), 0);
    assert_int_equal(s.split[STORE_TRAIN].n_tokens, N_TRAIN);
    assert_int_equal(s.split[STORE_TRAIN].n_docs, 3);
    assert_int_equal(s.split[STORE_VAL].n_tokens, N_VAL);
    assert_string_equal(s.tokenizer, "test-tok");
    assert_int_equal(s.eot_id, 999);
    assert_true(store_has_raw(&s, STORE_TRAIN));
    static int32_t a[N_TRAIN], b[N_TRAIN];
    assert_int_equal(store_read(&s, STORE_TRAIN, 0, N_TRAIN, a), 0);
    for (int i = 0; i < N_TRAIN; i++) assert_int_equal(a[i], i % 997);
    assert_int_equal(store_read_raw(&s, STORE_TRAIN, 0, N_TRAIN, b), 0);
    assert_memory_equal(a, b, sizeof a);
    assert_int_equal(store_read_raw(&s, STORE_VAL, 10, 5, b), 0);
    assert_int_equal(b[4], 7);
    uint64_t offs[3];
    assert_int_equal(store_read_offsets(&s, STORE_TRAIN, 0, 3, offs), 0);
    assert_int_equal(offs[2], 4000);
    /* the tokenizer check */
    assert_int_equal(store_check_tokenizer(&s, "test-tok", 1000), 0);
    TU_EXPECT_FAIL_ONE_LINE(store_check_tokenizer(&s, "bpe1000-0123456789abcdef", 1000), "p.h5: made with tokenizer test-tok");
    TU_EXPECT_FAIL_ONE_LINE(store_check_tokenizer(&s, "test-tok", 1001), "vocab 1001");
    store_close(&s);
    /* same writes, same bytes */
    assert_int_equal(write_store(tu_path("p2.h5"), 1), 0);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", path, tu_path("p2.h5"));
    assert_int_equal(system(cmd), 0);
}

static void test_failures_leave_nothing(void **state) {
    (void)state;
    const char *path = tu_path("p.h5");   /* from the previous test: must survive */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", path, tu_path("keep.h5"));
    assert_int_equal(system(cmd), 0);
    assert_int_equal(write_store(path, 0), -1);             /* a rank said "failed" */
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s' && ! ls '%s' | grep -q '\\.tmp\\.'", path, tu_path("keep.h5"), tu_dir);
    assert_int_equal(system(cmd), 0);

    store_pwriter *w = store_pwriter_create(tu_path("q.h5"), 300, 299, "t");
    assert_non_null(w);
    uint64_t n_tokens[2] = {10, 10}, n_docs[2] = {1, 1};
    assert_int_equal(store_pwriter_define(w, n_tokens, n_docs), 0);
    uint16_t bad[2] = {5, 300}, good[2] = {5, 6};
    TU_EXPECT_FAIL_ONE_LINE(store_pwriter_write_tokens(w, STORE_TRAIN, 0, bad, 2), "token 300 at 1 not below vocab_size 300");
    TU_EXPECT_FAIL_ONE_LINE(store_pwriter_write_tokens(w, STORE_VAL, 9, good, 2), "outside 10 elements");
    assert_int_equal(store_pwriter_finish(w, 1), -1);       /* the failed writes veto the commit */
    assert_false(exists(tu_path("q.h5")));
    snprintf(cmd, sizeof cmd, "! ls '%s' | grep -q '\\.tmp\\.'", tu_dir);
    assert_int_equal(system(cmd), 0);

    TU_EXPECT_FAIL_ONE_LINE(store_pwriter_create(tu_path("no/such/dir.h5"), 300, 299, "t") ? 0 : -1,
                            "no/such/dir.h5: cannot create");
}

static int setup(void **state) {
    (void)state;
    h5u_quiet();
    tu_make_dir("pwriter");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    return tu_teardown_hdf5();
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_and_read_back),
        cmocka_unit_test(test_failures_leave_nothing),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    MPI_Finalize();
    return rc;
}

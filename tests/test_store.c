/* test_store.c: the HDF5 token store: round trips (uint16 and uint32 ids,
 * several documents, both splits, multi-chunk), and the reader refusing
 * damaged or foreign files with exactly one line naming the file. Damaged
 * files are made from valid ones with the raw HDF5 API. */
#include <hdf5.h>
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

typedef struct {
    int32_t *tok[2];
    uint64_t n[2];
    uint64_t *off[2];
    uint64_t docs[2];
} expected_store;

static void expected_free(expected_store *e) {
    for (int s = 0; s < 2; s++) { free(e->tok[s]); free(e->off[s]); }
}

/* Writes a store of random documents (last token of each = eot) and keeps
 * what was written in e. lens[s] lists the document lengths of split s. */
static void build_store(const char *path, uint32_t vocab, uint32_t eot, const size_t *lens_train, int n_train,
                        const size_t *lens_val, int n_val, uint64_t seed, expected_store *e) {
    const size_t *lens[2] = {lens_train, lens_val};
    const int ndocs[2] = {n_train, n_val};
    memset(e, 0, sizeof *e);
    ll_rng rng;
    ll_rng_seed(&rng, seed, 7);
    store_writer *w = store_writer_create(path, vocab, eot, "test-tokenizer-v1");
    assert_non_null(w);
    for (int s = 0; s < 2; s++) {
        uint64_t total = 0;
        for (int d = 0; d < ndocs[s]; d++) total += lens[s][d];
        e->tok[s] = malloc((total ? total : 1) * sizeof(int32_t));
        e->off[s] = malloc((size_t)(ndocs[s] > 0 ? ndocs[s] : 1) * sizeof(uint64_t));
        e->n[s] = total;
        e->docs[s] = (uint64_t)ndocs[s];
        uint64_t at = 0;
        for (int d = 0; d < ndocs[s]; d++) {
            int32_t *doc = e->tok[s] + at;
            for (size_t i = 0; i + 1 < lens[s][d]; i++) doc[i] = (int32_t)ll_rng_below(&rng, vocab);
            doc[lens[s][d] - 1] = (int32_t)eot;
            e->off[s][d] = at;
            assert_int_equal(store_writer_append(w, (store_split)s, doc, lens[s][d]), 0);
            at += lens[s][d];
        }
    }
    assert_int_equal(store_writer_finish(w), 0);
}

/* Opens path and checks every attribute, token and offset against e. */
static void check_store(const char *path, uint32_t vocab, uint32_t eot, const expected_store *e) {
    store_reader r;
    assert_int_equal(store_open(&r, path), 0);
    assert_int_equal(r.version, STORE_VERSION);
    assert_int_equal(r.vocab_size, vocab);
    assert_int_equal(r.eot_id, eot);
    assert_string_equal(r.tokenizer, "test-tokenizer-v1");
    for (int s = 0; s < 2; s++) {
        assert_int_equal(r.split[s].n_tokens, e->n[s]);
        assert_int_equal(r.split[s].n_docs, e->docs[s]);
        int32_t *got = malloc((e->n[s] + 1) * sizeof *got);
        assert_int_equal(store_read(&r, (store_split)s, 0, (size_t)e->n[s], got), 0);
        assert_memory_equal(got, e->tok[s], e->n[s] * sizeof *got);
        /* a hyperslab in the middle */
        if (e->n[s] > 20) {
            uint64_t mid = e->n[s] / 2 - 5;
            assert_int_equal(store_read(&r, (store_split)s, mid, 11, got), 0);
            assert_memory_equal(got, e->tok[s] + mid, 11 * sizeof *got);
        }
        free(got);
        uint64_t *off = malloc((e->docs[s] + 1) * sizeof *off);
        assert_int_equal(store_read_offsets(&r, (store_split)s, 0, (size_t)e->docs[s], off), 0);
        assert_memory_equal(off, e->off[s], e->docs[s] * sizeof *off);
        free(off);
    }
    store_close(&r);
}

/* Size in bytes of the stored element type of a dataset. */
static size_t dataset_elem_size(const char *path, const char *dset) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
    hid_t t = H5Dget_type(d);
    size_t size = H5Tget_size(t);
    H5Tclose(t); H5Dclose(d); H5Fclose(f);
    return size;
}

static void test_roundtrip_uint16_multichunk(void **state) {
    (void)state;
    /* 1M + 3001 train tokens: two flushes, a document crossing the chunk edge */
    const size_t train[] = {1, 10, 1000, ((size_t)1 << 20) - 500, 3, 1000, 1487};
    const size_t val[] = {4, 300, 17};
    expected_store e;
    const char *path = tu_path("u16.h5");
    build_store(path, 257, 256, train, 7, val, 3, 1, &e);
    assert_int_equal(e.n[STORE_TRAIN], ((uint64_t)1 << 20) + 3001);
    check_store(path, 257, 256, &e);
    assert_int_equal(dataset_elem_size(path, "/train/tokens"), 2);
    assert_int_equal(dataset_elem_size(path, "/val/doc_offsets"), 8);
    assert_int_equal(tu_count_tmp_files(), 0);
    expected_free(&e);
}

static void test_roundtrip_uint32(void **state) {
    (void)state;
    const size_t train[] = {50, 2, 777};
    const size_t val[] = {9, 31};
    expected_store e;
    const char *path = tu_path("u32.h5");
    build_store(path, 70000, 69999, train, 3, val, 2, 2, &e);
    check_store(path, 70000, 69999, &e);
    assert_int_equal(dataset_elem_size(path, "/train/tokens"), 4);
    expected_free(&e);
    /* the boundary: vocab 65536 still fits uint16 */
    build_store(tu_path("u16max.h5"), 65536, 65535, train, 3, val, 2, 3, &e);
    assert_int_equal(dataset_elem_size(tu_path("u16max.h5"), "/val/tokens"), 2);
    expected_free(&e);
}

static void test_empty_val_split(void **state) {
    (void)state;
    const size_t train[] = {5, 6};
    expected_store e;
    build_store(tu_path("noval.h5"), 257, 256, train, 2, NULL, 0, 4, &e);
    check_store(tu_path("noval.h5"), 257, 256, &e);
    expected_free(&e);
}

static void test_read_out_of_range(void **state) {
    (void)state;
    const size_t train[] = {5, 6};
    const size_t val[] = {3};
    expected_store e;
    const char *path = tu_path("range.h5");
    build_store(path, 257, 256, train, 2, val, 1, 5, &e);
    store_reader r;
    assert_int_equal(store_open(&r, path), 0);
    int32_t buf[16];
    uint64_t offs[4];
    TU_EXPECT_FAIL_ONE_LINE(store_read(&r, STORE_TRAIN, 5, 7, buf), "beyond 11");
    TU_EXPECT_FAIL_ONE_LINE(store_read(&r, STORE_VAL, UINT64_MAX, 2, buf), "range.h5");
    TU_EXPECT_FAIL_ONE_LINE(store_read_offsets(&r, STORE_VAL, 0, 2, offs), "/val/doc_offsets");
    assert_int_equal(store_read(&r, STORE_TRAIN, 4, 7, buf), 0);   /* exactly to the end */
    assert_memory_equal(buf, e.tok[STORE_TRAIN] + 4, 7 * sizeof(int32_t));
    store_close(&r);
    expected_free(&e);
}

static void test_writer_refusals_keep_old_file(void **state) {
    (void)state;
    const size_t train[] = {5, 6};
    const size_t val[] = {3};
    expected_store e;
    const char *path = tu_path("keep.h5");
    build_store(path, 257, 256, train, 2, val, 1, 6, &e);

    store_writer *w = store_writer_create(path, 257, 256, "other");
    assert_non_null(w);
    int32_t good[3] = {1, 2, 256}, bad[3] = {1, 257, 256}, neg[2] = {-1, 256};
    assert_int_equal(store_writer_append(w, STORE_TRAIN, good, 3), 0);
    TU_EXPECT_FAIL_ONE_LINE(store_writer_append(w, STORE_TRAIN, bad, 3), "token 257");
    TU_EXPECT_FAIL_ONE_LINE(store_writer_append(w, STORE_VAL, neg, 2), "token -1");
    TU_EXPECT_FAIL_ONE_LINE(store_writer_append(w, STORE_VAL, good, 0), "empty document");
    assert_int_equal(tu_count_tmp_files(), 1);
    store_writer_abort(w);
    assert_int_equal(tu_count_tmp_files(), 0);
    check_store(path, 257, 256, &e);   /* the earlier file is untouched */

    /* bad arguments and an impossible location: NULL and one line */
    tu_capture_begin();
    store_writer *w2 = store_writer_create(tu_path("nodir/x.h5"), 257, 256, "t");
    const char *err = tu_capture_end();
    assert_null(w2);
    assert_int_equal(tu_count_lines(err), 1);
    tu_capture_begin();
    w2 = store_writer_create(tu_path("x.h5"), 257, 257, "t");
    err = tu_capture_end();
    assert_null(w2);
    assert_int_equal(tu_count_lines(err), 1);
    assert_false(tu_file_exists(tu_path("x.h5")));
    expected_free(&e);
}

/* ---- damaging valid files with the raw HDF5 API ---- */

/* A small valid store: train 3 docs (5+7+9 = 21 tokens), val 2 docs (4+6). */
static const char *fresh_store(const char *name) {
    const size_t train[] = {5, 7, 9};
    const size_t val[] = {4, 6};
    expected_store e;
    const char *path = tu_path(name);
    build_store(path, 257, 256, train, 3, val, 2, 11, &e);
    expected_free(&e);
    return path;
}

static void set_attr_u64(const char *path, const char *name, hid_t file_type, int64_t value) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    if (H5Aexists(f, name) > 0) H5Adelete(f, name);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, name, file_type, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Awrite(a, H5T_NATIVE_INT64, &value) >= 0);
    H5Aclose(a); H5Sclose(sp); H5Fclose(f);
}

static void set_attr_str(const char *path, const char *name, const char *value) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    if (H5Aexists(f, name) > 0) H5Adelete(f, name);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);   /* the reader must take variable-length strings too */
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Awrite(a, t, &value) >= 0);
    H5Aclose(a); H5Sclose(sp); H5Tclose(t); H5Fclose(f);
}

/* Replaces a dataset by a 1-D one of file_type holding values (as uint64). */
static void replace_dataset(const char *path, const char *dset, hid_t file_type, const uint64_t *values, hsize_t n) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    /* without its checksums, as stores were before them: what refuses the
     * file is then the structural check under test, not a missing crc32c */
    if (H5Aexists(f, "checksums") > 0) H5Adelete(f, "checksums");
    assert_true(H5Ldelete(f, dset, H5P_DEFAULT) >= 0);
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(f, dset, file_type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(d >= 0);
    assert_true(H5Dwrite(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) >= 0);
    H5Dclose(d); H5Sclose(sp); H5Fclose(f);
}

static int open_fails(const char *path) {
    store_reader r;
    int rc = store_open(&r, path);
    if (rc == 0) store_close(&r);
    return rc;
}

static void test_refuses_truncated_and_foreign(void **state) {
    (void)state;
    const char *path = fresh_store("trunc.h5");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size / 2), 0);
    TU_EXPECT_FAIL_ONE_LINE(open_fails(path), "trunc.h5");

    const char *text = tu_path("text.h5");
    FILE *f = fopen(text, "w");
    fputs("not hdf5 at all\n", f);
    fclose(f);
    TU_EXPECT_FAIL_ONE_LINE(open_fails(text), "not an HDF5 file");
    TU_EXPECT_FAIL_ONE_LINE(open_fails(tu_path("missing.h5")), "missing.h5");

    /* a valid HDF5 file without our attributes */
    hid_t h = H5Fcreate(tu_path("foreign.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(h);
    TU_EXPECT_FAIL_ONE_LINE(open_fails(tu_path("foreign.h5")), "attribute format: missing");
}

static void test_refuses_bad_attributes(void **state) {
    (void)state;
    const char *p = fresh_store("fmt.h5");
    set_attr_str(p, "format", "llmpi-checkpoint");
    TU_EXPECT_FAIL_ONE_LINE(open_fails(p), "format 'llmpi-checkpoint'");

    p = fresh_store("fmtint.h5");
    set_attr_u64(p, "format", H5T_STD_U64LE, 1);
    TU_EXPECT_FAIL_ONE_LINE(open_fails(p), "attribute format: expected a string");

    p = fresh_store("ver.h5");
    set_attr_u64(p, "version", H5T_STD_U32LE, 2);
    TU_EXPECT_FAIL_ONE_LINE(open_fails(p), "version 2");

    p = fresh_store("verneg.h5");
    set_attr_u64(p, "version", H5T_STD_I32LE, -1);
    TU_EXPECT_FAIL_ONE_LINE(open_fails(p), "negative");

    p = fresh_store("eot.h5");
    set_attr_u64(p, "eot_id", H5T_STD_U64LE, 257);
    TU_EXPECT_FAIL_ONE_LINE(open_fails(p), "eot_id 257");

    p = fresh_store("ntok.h5");
    set_attr_u64(p, "n_tokens_train", H5T_STD_U64LE, 22);
    TU_EXPECT_FAIL_ONE_LINE(open_fails(p), "/train/tokens: 21 elements but the root attributes say 22");

    p = fresh_store("ndocs.h5");
    set_attr_u64(p, "n_docs_val", H5T_STD_U64LE, 3);
    TU_EXPECT_FAIL_ONE_LINE(open_fails(p), "/val/doc_offsets");

    p = fresh_store("vocab.h5");   /* vocab > 65536 needs uint32 tokens */
    set_attr_u64(p, "vocab_size", H5T_STD_U64LE, 70000);
    TU_EXPECT_FAIL_ONE_LINE(open_fails(p), "expected 4-byte unsigned");

    p = fresh_store("noattr.h5");
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Adelete(f, "tokenizer");
    H5Fclose(f);
    TU_EXPECT_FAIL_ONE_LINE(open_fails(p), "attribute tokenizer: missing");
}

static void test_refuses_bad_datasets(void **state) {
    (void)state;
    uint64_t tokens32[21] = {0};
    const char *p = fresh_store("type.h5");   /* vocab 257 must be stored as uint16 */
    replace_dataset(p, "/train/tokens", H5T_STD_U32LE, tokens32, 21);
    TU_EXPECT_FAIL_ONE_LINE(open_fails(p), "/train/tokens: expected 2-byte unsigned");

    p = fresh_store("signed.h5");
    replace_dataset(p, "/train/tokens", H5T_STD_I16LE, tokens32, 21);
    TU_EXPECT_FAIL_ONE_LINE(open_fails(p), "/train/tokens");

    uint64_t beyond[2] = {0, 10};   /* val holds 10 tokens: offset 10 is out of range */
    p = fresh_store("offrange.h5");
    replace_dataset(p, "/val/doc_offsets", H5T_STD_U64LE, beyond, 2);
    TU_EXPECT_FAIL_ONE_LINE(open_fails(p), "/val/doc_offsets[1] = 10: offset beyond the tokens");

    uint64_t flat[3] = {0, 5, 5};
    p = fresh_store("offinc.h5");
    replace_dataset(p, "/train/doc_offsets", H5T_STD_U64LE, flat, 3);
    TU_EXPECT_FAIL_ONE_LINE(open_fails(p), "not strictly increasing");

    uint64_t late[3] = {1, 5, 12};
    p = fresh_store("offzero.h5");
    replace_dataset(p, "/train/doc_offsets", H5T_STD_U64LE, late, 3);
    TU_EXPECT_FAIL_ONE_LINE(open_fails(p), "does not start at 0");

    p = fresh_store("gone.h5");
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(f, "/val/doc_offsets", H5P_DEFAULT);
    H5Fclose(f);
    TU_EXPECT_FAIL_ONE_LINE(open_fails(p), "/val/doc_offsets: missing dataset");

    /* 2-D tokens */
    p = fresh_store("rank.h5");
    f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(f, "/val/tokens", H5P_DEFAULT);
    hsize_t dims[2] = {2, 5};
    hid_t sp = H5Screate_simple(2, dims, NULL);
    hid_t d = H5Dcreate2(f, "/val/tokens", H5T_STD_U16LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(d); H5Sclose(sp); H5Fclose(f);
    TU_EXPECT_FAIL_ONE_LINE(open_fails(p), "expected rank 1");

    /* a token id >= vocab_size is caught when read, before it reaches a model */
    uint64_t ids[21];
    for (int i = 0; i < 21; i++) ids[i] = (uint64_t)i;
    ids[13] = 300;
    p = fresh_store("badid.h5");
    replace_dataset(p, "/train/tokens", H5T_STD_U16LE, ids, 21);
    store_reader r;
    assert_int_equal(store_open(&r, p), 0);
    int32_t buf[21];
    assert_int_equal(store_read(&r, STORE_TRAIN, 0, 13, buf), 0);
    assert_int_equal(buf[12], 12);
    TU_EXPECT_FAIL_ONE_LINE(store_read(&r, STORE_TRAIN, 10, 5, buf), "/train/tokens[13] = 300");
    store_close(&r);
}

/* Overwrites element at of a dataset in place (the stored crc32c stays). */
static void poke_u64(const char *path, const char *dset, hsize_t at, uint64_t value) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
    hid_t fs = H5Dget_space(d);
    hsize_t one = 1;
    hid_t ms = H5Screate_simple(1, &one, NULL);
    assert_true(H5Sselect_hyperslab(fs, H5S_SELECT_SET, &at, NULL, &one, NULL) >= 0);
    assert_true(H5Dwrite(d, H5T_NATIVE_UINT64, ms, fs, H5P_DEFAULT, &value) >= 0);
    H5Sclose(ms); H5Sclose(fs); H5Dclose(d); H5Fclose(f);
}

/* Content checksums: every dataset's CRC-32C is stored and verified on open
 * (unless STORE_OPEN_NO_VERIFY); stores without them still open. */
static void test_checksums(void **state) {
    (void)state;
    const char *p = fresh_store("crc.h5");
    store_reader r;
    assert_int_equal(store_open(&r, p), 0);
    assert_int_equal(r.has_checksums, 1);
    assert_int_equal(store_verify(&r), 0);
    store_close(&r);

    /* one token changed to another valid id: only the checksum can tell */
    static const char *const dsets[4] = {"/train/tokens", "/val/tokens", "/train/doc_offsets", "/val/doc_offsets"};
    for (int k = 0; k < 4; k++) {
        char name[32];
        snprintf(name, sizeof name, "crc%d.h5", k);
        p = fresh_store(name);
        /* tokens: a valid id; offsets: a valid (still increasing) value is impossible
         * for the first, so change the last offset by one (still < n_tokens) */
        if (k < 2) {
            store_reader q;
            assert_int_equal(store_open(&q, p), 0);
            int32_t first;
            assert_int_equal(store_read(&q, (store_split)k, 0, 1, &first), 0);
            store_close(&q);
            poke_u64(p, dsets[k], 0, (uint64_t)(first == 7 ? 8 : 7));
        } else {
            poke_u64(p, dsets[k], k == 2 ? 2 : 1, k == 2 ? 11 : 3);
        }
        char want[80];
        snprintf(want, sizeof want, "%s: content checksum mismatch", dsets[k]);
        TU_EXPECT_FAIL_ONE_LINE(open_fails(p), want);
        assert_int_equal(store_open_flags(&r, p, STORE_OPEN_NO_VERIFY), 0);
        TU_EXPECT_FAIL_ONE_LINE(store_verify(&r), want);
        store_close(&r);
    }

    /* a store from before the checksums: opens, nothing to verify */
    p = fresh_store("nocrc.h5");
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(H5Adelete(f, "checksums") >= 0);
    for (int k = 0; k < 4; k++) assert_true(H5Adelete_by_name(f, dsets[k], "crc32c", H5P_DEFAULT) >= 0);
    H5Fclose(f);
    assert_int_equal(store_open(&r, p), 0);
    assert_int_equal(r.has_checksums, 0);
    assert_int_equal(store_verify(&r), 0);
    store_close(&r);

    /* checksums announced but one missing, or of an unknown kind */
    p = fresh_store("crcgone.h5");
    f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(H5Adelete_by_name(f, "/val/tokens", "crc32c", H5P_DEFAULT) >= 0);
    H5Fclose(f);
    TU_EXPECT_FAIL_ONE_LINE(open_fails(p), "/val/tokens: attribute crc32c: missing");
    p = fresh_store("crckind.h5");
    set_attr_str(p, "checksums", "md5");
    TU_EXPECT_FAIL_ONE_LINE(open_fails(p), "checksums 'md5'");
}

/* The byte tokenizer has 257 ids: a store naming it with another vocab is damaged. */
static void test_bytes_vocab(void **state) {
    (void)state;
    const size_t train[] = {5, 7};
    const size_t val[] = {4};
    expected_store e;
    const char *p = tu_path("bytes512.h5");
    build_store(p, 512, 256, train, 2, val, 1, 3, &e);
    expected_free(&e);
    set_attr_str(p, "tokenizer", TOK_BYTES_IDENTITY);
    TU_EXPECT_FAIL_ONE_LINE(open_fails(p), "tokenizer bytes-v1 has vocab_size 257, but the store says 512");
    p = tu_path("bytes257.h5");
    build_store(p, 257, 256, train, 2, val, 1, 3, &e);
    expected_free(&e);
    set_attr_str(p, "tokenizer", TOK_BYTES_IDENTITY);
    assert_int_equal(open_fails(p), 0);
}

static int setup(void **state) {
    (void)state;
    h5u_quiet();
    tu_make_dir("store");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    return tu_teardown_hdf5();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_uint16_multichunk),
        cmocka_unit_test(test_roundtrip_uint32),
        cmocka_unit_test(test_empty_val_split),
        cmocka_unit_test(test_read_out_of_range),
        cmocka_unit_test(test_writer_refusals_keep_old_file),
        cmocka_unit_test(test_refuses_truncated_and_foreign),
        cmocka_unit_test(test_refuses_bad_attributes),
        cmocka_unit_test(test_refuses_bad_datasets),
        cmocka_unit_test(test_checksums),
        cmocka_unit_test(test_bytes_vocab),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* test_ckpt.c: checkpoints: bit-exact round trip of parameters, moments and
 * state on a real gpt_create model; refusal (one line naming file and
 * tensor) of a wrong model shape, a wrong tensor shape or type, a missing
 * tensor, a foreign format, a newer version, a truncated file; find_latest
 * skipping damaged and temporary files; prune; `llmpi info` on a checkpoint. */
#include <hdf5.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llmpi/ckpt.h"
#include "llmpi/gpt.h"
#include "llmpi/h5.h"
#include "llmpi/store.h"
#include "llmpi/util.h"
#include "testutil.h"

static const gpt_config k_cfg = {.n_layer = 2, .n_head = 2, .n_embd = 8, .block_size = 16, .vocab_size = 13};

typedef struct {
    gpt_model m;
    float *adam_m, *adam_v;
    ckpt_meta meta;
} fixture;

/* A model with random parameters (plus awkward values: -0, a denormal, a
 * huge one), random moments and a full meta. */
static void make_fixture(fixture *f, uint64_t seed) {
    memset(f, 0, sizeof *f);
    assert_int_equal(gpt_create(&f->m, &k_cfg), 0);
    size_t n = f->m.num_params;
    f->adam_m = malloc(n * sizeof(float));
    f->adam_v = malloc(n * sizeof(float));
    ll_rng rng;
    ll_rng_seed(&rng, seed, 1);
    for (size_t i = 0; i < n; i++) {
        f->m.params[i] = (float)ll_rng_normal(&rng);
        f->adam_m[i] = (float)ll_rng_normal(&rng) * 1e-3f;
        f->adam_v[i] = ll_rng_uniform(&rng) * 1e-6f;
    }
    f->m.params[0] = -0.0f;
    f->m.params[1] = 1e-42f;
    f->m.params[n - 1] = 3.0e38f;
    f->meta.step = 1234;
    f->meta.tokens_seen = 5000000000ULL;
    snprintf(f->meta.tokenizer, sizeof f->meta.tokenizer, "bytes-v1");
    snprintf(f->meta.config, sizeof f->meta.config, "model.n_layer=2\nmodel.n_embd=8\ntrain.lr=0.001\n");
    f->meta.loader.seed = 7;
    f->meta.loader.position = 999;
    ll_rng_seed(&f->meta.rng, seed, 2);
    (void)ll_rng_u64(&f->meta.rng);
}

static void free_fixture(fixture *f) {
    gpt_free(&f->m);
    free(f->adam_m);
    free(f->adam_v);
}

static void assert_meta_equal(const ckpt_meta *a, const ckpt_meta *b) {
    assert_int_equal(a->step, b->step);
    assert_int_equal(a->tokens_seen, b->tokens_seen);
    assert_string_equal(a->tokenizer, b->tokenizer);
    assert_string_equal(a->config, b->config);
    assert_int_equal(a->loader.seed, b->loader.seed);
    assert_int_equal(a->loader.position, b->loader.position);
    assert_memory_equal(a->rng.s, b->rng.s, sizeof a->rng.s);
}

static const char *saved_checkpoint(fixture *f, const char *name, int with_moments) {
    const char *path = tu_path(name);
    assert_int_equal(ckpt_save(path, &f->m, with_moments ? f->adam_m : NULL, with_moments ? f->adam_v : NULL,
                               &f->meta), 0);
    return path;
}

static void test_roundtrip_bit_exact(void **state) {
    (void)state;
    fixture a, b;
    make_fixture(&a, 1);
    const char *path = saved_checkpoint(&a, "rt.h5", 1);
    assert_int_equal(tu_count_tmp_files(), 0);

    gpt_config cfg;
    ckpt_meta meta;
    assert_int_equal(ckpt_peek(path, &cfg, &meta), 0);
    assert_memory_equal(&cfg, &k_cfg, sizeof cfg);
    assert_meta_equal(&meta, &a.meta);
    assert_int_equal(meta.has_optim, 1);

    make_fixture(&b, 2);   /* different values everywhere */
    memset(&meta, 0, sizeof meta);
    assert_int_equal(ckpt_load(path, &b.m, b.adam_m, b.adam_v, &meta), 0);
    size_t bytes = a.m.num_params * sizeof(float);
    assert_memory_equal(b.m.params, a.m.params, bytes);
    assert_memory_equal(b.adam_m, a.adam_m, bytes);
    assert_memory_equal(b.adam_v, a.adam_v, bytes);
    assert_meta_equal(&meta, &a.meta);

    uint64_t n_params = 0;
    int n_tensors = 0;
    assert_int_equal(ckpt_count_stored(path, &n_params, &n_tensors), 0);
    assert_int_equal(n_params, gpt_count_params(&k_cfg));
    assert_int_equal(n_tensors, a.m.num_tensors);

    /* a tensor is stored under its PyTorch name and [out, in] shape */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "/model/h.1.mlp.c_fc.weight", H5P_DEFAULT);
    assert_true(d >= 0);
    hid_t sp = H5Dget_space(d);
    hsize_t dims[2];
    assert_int_equal(H5Sget_simple_extent_ndims(sp), 2);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    assert_int_equal(dims[0], 32);
    assert_int_equal(dims[1], 8);
    H5Sclose(sp); H5Dclose(d); H5Fclose(f);

    /* no moments saved: has_optim 0 and the caller's moments untouched */
    const char *plain = saved_checkpoint(&a, "plain.h5", 0);
    for (size_t i = 0; i < b.m.num_params; i++) b.adam_m[i] = 42.0f;
    assert_int_equal(ckpt_load(plain, &b.m, b.adam_m, b.adam_v, &meta), 0);
    assert_int_equal(meta.has_optim, 0);
    assert_true(b.adam_m[0] == 42.0f && b.adam_m[b.m.num_params - 1] == 42.0f);
    assert_memory_equal(b.m.params, a.m.params, bytes);
    /* moments not asked for: fine with or without them in the file */
    assert_int_equal(ckpt_load(path, &b.m, NULL, NULL, NULL), 0);

    /* a config string that fills its buffer exactly survives */
    memset(a.meta.config, 'k', sizeof a.meta.config - 1);
    a.meta.config[sizeof a.meta.config - 1] = '\0';
    const char *full = saved_checkpoint(&a, "fullcfg.h5", 0);
    assert_int_equal(ckpt_peek(full, &cfg, &meta), 0);
    assert_int_equal(strlen(meta.config), sizeof meta.config - 1);
    assert_string_equal(meta.config, a.meta.config);
    free_fixture(&a);
    free_fixture(&b);
}

/* ---- damaged files ---- */

static void set_root_attr_str(const char *path, const char *name, const char *value) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    H5Adelete(f, name);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(value) + 1);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, value);
    H5Aclose(a); H5Sclose(sp); H5Tclose(t); H5Fclose(f);
}

static void set_root_attr_u64(const char *path, const char *name, uint64_t value) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    H5Adelete(f, name);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, name, H5T_STD_U64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_UINT64, &value);
    H5Aclose(a); H5Sclose(sp); H5Fclose(f);
}

/* Replaces /model/<name> by a dataset of type with dims (zeros). */
static void replace_tensor(const char *path, const char *name, hid_t type, int ndim, hsize_t d0, hsize_t d1) {
    char full[128];
    snprintf(full, sizeof full, "/model/%s", name);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(H5Ldelete(f, full, H5P_DEFAULT) >= 0);
    hsize_t dims[2] = {d0, d1};
    hid_t sp = H5Screate_simple(ndim, dims, NULL);
    hid_t d = H5Dcreate2(f, full, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(d >= 0);
    H5Dclose(d); H5Sclose(sp); H5Fclose(f);
}

static void test_refusals(void **state) {
    (void)state;
    fixture a;
    make_fixture(&a, 3);
    float *keep = malloc(a.m.num_params * sizeof(float));

    /* a model of another shape */
    const char *p = saved_checkpoint(&a, "shape.h5", 1);
    gpt_config wide = k_cfg;
    wide.n_embd = 16;
    gpt_model other;
    assert_int_equal(gpt_create(&other, &wide), 0);
    TU_EXPECT_FAIL_ONE_LINE(ckpt_load(p, &other, NULL, NULL, NULL), "C=8");
    gpt_free(&other);

    /* one tensor with a wrong shape, named in the line */
    replace_tensor(p, "h.1.mlp.c_fc.weight", H5T_IEEE_F32LE, 2, 31, 8);
    TU_EXPECT_FAIL_ONE_LINE(ckpt_load(p, &a.m, NULL, NULL, NULL),
                            "/model/h.1.mlp.c_fc.weight: shape [31, 8], the model expects [32, 8]");
    replace_tensor(p, "h.1.mlp.c_fc.weight", H5T_IEEE_F32LE, 1, 256, 0);
    TU_EXPECT_FAIL_ONE_LINE(ckpt_load(p, &a.m, NULL, NULL, NULL), "shape [256]");
    replace_tensor(p, "h.1.mlp.c_fc.weight", H5T_IEEE_F64LE, 2, 32, 8);
    TU_EXPECT_FAIL_ONE_LINE(ckpt_load(p, &a.m, NULL, NULL, NULL), "h.1.mlp.c_fc.weight: not float32");

    /* a missing tensor, and an extra one */
    p = saved_checkpoint(&a, "missing.h5", 1);
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(f, "/optim/v/wpe", H5P_DEFAULT);
    H5Fclose(f);
    assert_int_equal(ckpt_load(p, &a.m, NULL, NULL, NULL), 0);   /* moments not asked for */
    TU_EXPECT_FAIL_ONE_LINE(ckpt_load(p, &a.m, a.adam_m, a.adam_v, NULL), "missing tensor /optim/v/wpe");
    p = saved_checkpoint(&a, "extra.h5", 0);
    f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Lcreate_hard(f, "/model/wpe", f, "/model/h.2.ln_1.weight", H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(f);
    assert_int_equal(a.m.num_tensors, 2 * 12 + 4);
    TU_EXPECT_FAIL_ONE_LINE(ckpt_load(p, &a.m, NULL, NULL, NULL), "/model holds 29 tensors, the model has 28");

    /* foreign format, newer version, inconsistent state */
    gpt_config cfg;
    ckpt_meta meta;
    p = saved_checkpoint(&a, "format.h5", 0);
    set_root_attr_str(p, "format", "llmpi-tokens");
    TU_EXPECT_FAIL_ONE_LINE(ckpt_peek(p, &cfg, &meta), "not an llmpi checkpoint (format 'llmpi-tokens'");
    TU_EXPECT_FAIL_ONE_LINE(ckpt_load(p, &a.m, NULL, NULL, NULL), "format.h5");
    char long_format[200];
    memset(long_format, 'f', sizeof long_format - 1);
    long_format[sizeof long_format - 1] = '\0';
    set_root_attr_str(p, "format", long_format);
    TU_EXPECT_FAIL_ONE_LINE(ckpt_peek(p, &cfg, &meta), "attribute format: 199 bytes, longer than the 63 allowed");
    p = saved_checkpoint(&a, "version.h5", 0);
    set_root_attr_u64(p, "version", 99);
    TU_EXPECT_FAIL_ONE_LINE(ckpt_peek(p, &cfg, &meta), "checkpoint version 99");
    p = saved_checkpoint(&a, "heads.h5", 0);
    set_root_attr_u64(p, "n_head", 3);
    TU_EXPECT_FAIL_ONE_LINE(ckpt_peek(p, &cfg, &meta), "not divisible by n_head 3");
    p = saved_checkpoint(&a, "step.h5", 0);
    set_root_attr_u64(p, "step", 5);
    TU_EXPECT_FAIL_ONE_LINE(ckpt_peek(p, &cfg, &meta), "differs from the step attribute");

    /* truncated: refused, and the model is left as it was */
    p = saved_checkpoint(&a, "trunc.h5", 1);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(truncate(p, st.st_size * 2 / 3), 0);
    memcpy(keep, a.m.params, a.m.num_params * sizeof(float));
    TU_EXPECT_FAIL_ONE_LINE(ckpt_peek(p, &cfg, &meta), "trunc.h5");
    TU_EXPECT_FAIL_ONE_LINE(ckpt_load(p, &a.m, a.adam_m, a.adam_v, NULL), "trunc.h5");
    assert_memory_equal(keep, a.m.params, a.m.num_params * sizeof(float));

    /* not HDF5, absent, unwritable location */
    FILE *t = fopen(tu_path("text.h5"), "w");
    fputs("hello\n", t);
    fclose(t);
    TU_EXPECT_FAIL_ONE_LINE(ckpt_peek(tu_path("text.h5"), &cfg, &meta), "not an HDF5 file");
    TU_EXPECT_FAIL_ONE_LINE(ckpt_peek(tu_path("absent.h5"), &cfg, &meta), "absent.h5");
    TU_EXPECT_FAIL_ONE_LINE(ckpt_save(tu_path("no/such/dir.h5"), &a.m, NULL, NULL, &a.meta), "cannot create");
    TU_EXPECT_FAIL_ONE_LINE(ckpt_save(tu_path("half.h5"), &a.m, a.adam_m, NULL, &a.meta), "both AdamW moments");
    assert_false(tu_file_exists(tu_path("half.h5")));
    assert_int_equal(tu_count_tmp_files(), 0);
    free(keep);
    free_fixture(&a);
}

static void test_find_latest_and_prune(void **state) {
    (void)state;
    fixture a;
    make_fixture(&a, 4);
    char run[512], path[1024], latest[1024];
    snprintf(run, sizeof run, "%s/run", tu_dir);
    assert_int_equal(ckpt_find_latest(run, 1, latest, sizeof latest), 0);   /* no run folder yet */
    assert_string_equal(latest, "");
    snprintf(path, sizeof path, "%s/checkpoints", run);
    assert_int_equal(ll_mkdir_p(path), 0);
    const uint64_t steps[3] = {100, 200, 300};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ckpt_step_path(run, steps[i], path, sizeof path), 0);
        a.meta.step = steps[i];
        assert_int_equal(ckpt_save(path, &a.m, a.adam_m, a.adam_v, &a.meta), 0);
    }
    assert_string_equal(path + strlen(run), "/checkpoints/step-00000300.h5");
    assert_int_equal(ckpt_find_latest(run, 1, latest, sizeof latest), 0);
    assert_string_equal(latest, path);

    /* a damaged newest file and a newer temporary are skipped */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size / 2), 0);
    char tmp[1100], other[1100];
    snprintf(tmp, sizeof tmp, "%s/checkpoints/step-00000400.h5.tmp.123", run);
    snprintf(other, sizeof other, "%s/checkpoints/notes.txt", run);
    FILE *f = fopen(tmp, "w"); fputs("partial", f); fclose(f);
    f = fopen(other, "w"); fputs("mine", f); fclose(f);
    tu_capture_begin();
    int rc = ckpt_find_latest(run, 1, latest, sizeof latest);
    const char *err = tu_capture_end();
    assert_int_equal(rc, 0);
    assert_non_null(strstr(latest, "step-00000200.h5"));
    assert_int_equal(tu_count_lines(err), 1);   /* one warning line, nothing error-looking before it */
    assert_true(strncmp(err, "llmpi: warning: ", 16) == 0);
    assert_non_null(strstr(err, "step-00000300.h5: "));
    assert_non_null(strstr(err, "skipped, trying an older checkpoint"));
    gpt_config cfg;
    ckpt_meta meta;
    assert_int_equal(ckpt_peek(latest, &cfg, &meta), 0);
    assert_int_equal(meta.step, 200);

    /* prune keeps the newest two good ones by step (the damaged 300 is
     * neither counted nor deleted); other files are not touched */
    assert_int_equal(ckpt_prune(run, 2), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ckpt_step_path(run, steps[i], path, sizeof path), 0);
        assert_true(tu_file_exists(path));
    }
    assert_true(tu_file_exists(tmp));
    assert_true(tu_file_exists(other));
    assert_int_equal(ckpt_prune(run, 1), 0);
    assert_int_equal(ckpt_step_path(run, 100, path, sizeof path), 0);
    assert_false(tu_file_exists(path));
    assert_int_equal(ckpt_step_path(run, 200, path, sizeof path), 0);
    assert_true(tu_file_exists(path));
    assert_int_equal(ckpt_step_path(run, 300, path, sizeof path), 0);
    assert_true(tu_file_exists(path));
    TU_EXPECT_FAIL_ONE_LINE(ckpt_prune(run, 0), "keep must be > 0");
    free_fixture(&a);
}

/* ---- checksums, values, whole-file validation, pruning (issue 9) ---- */

/* File offset of the contiguous data of dataset name. */
static haddr_t data_offset(const char *path, const char *name) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    assert_true(d >= 0);
    haddr_t off = H5Dget_offset(d);
    H5Dclose(d);
    H5Fclose(f);
    assert_true(off != HADDR_UNDEF);
    return off;
}

/* Flips bit `bit` of the byte at offset off of the file. */
static void flip_bit(const char *path, haddr_t off, int bit) {
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char b;
    assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
    b ^= (unsigned char)(1u << bit);
    assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
    close(fd);
}

static void delete_link(const char *path, const char *name) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    assert_true(H5Ldelete(f, name, H5P_DEFAULT) >= 0);
    H5Fclose(f);
}

static void test_checksums_and_values(void **state) {
    (void)state;
    fixture a;
    make_fixture(&a, 6);
    const char *p = saved_checkpoint(&a, "crc.h5", 1);

    /* the file says so, every dataset has its CRC, and HDF5 metadata is
     * checksummed too (superblock version 2 and later) */
    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(H5Aexists(f, "checksums") > 0);
    hid_t d = H5Dopen2(f, "/optim/v/h.0.attn.c_attn.weight", H5P_DEFAULT);
    assert_true(H5Aexists(d, "crc32c") > 0);
    H5Dclose(d);
    d = H5Dopen2(f, "/state/loader_position", H5P_DEFAULT);
    assert_true(H5Aexists(d, "crc32c") > 0);
    H5Dclose(d);
    H5F_info2_t info;
    assert_true(H5Fget_info2(f, &info) >= 0);
    assert_true(info.super.version >= 2);
    H5Fclose(f);
    gpt_config cfg;
    ckpt_meta meta;
    assert_int_equal(ckpt_peek(p, &cfg, &meta), 0);
    assert_int_equal(meta.has_checksums, 1);

    /* one flipped bit in a tensor's data: refused, the tensor named; the
     * low mantissa bit keeps the value finite, so only the CRC can tell */
    haddr_t off = data_offset(p, "/model/h.1.attn.c_proj.weight");
    flip_bit(p, off + 4 * 3, 0);
    TU_EXPECT_FAIL_ONE_LINE(ckpt_load(p, &a.m, a.adam_m, a.adam_v, NULL),
                            "/model/h.1.attn.c_proj.weight: checksum mismatch");
    TU_EXPECT_FAIL_ONE_LINE(ckpt_verify(p, 1, NULL, NULL), "/model/h.1.attn.c_proj.weight: checksum mismatch");
    assert_int_equal(ckpt_verify(p, 0, NULL, NULL), 0);            /* structure is fine */
    assert_int_equal(ckpt_load_ex(p, &a.m, a.adam_m, a.adam_v, NULL, 0), 0);   /* verification skipped */
    /* in a moment, and in the state */
    p = saved_checkpoint(&a, "crc2.h5", 1);
    flip_bit(p, data_offset(p, "/optim/m/wpe") + 1, 7);
    TU_EXPECT_FAIL_ONE_LINE(ckpt_load(p, &a.m, a.adam_m, a.adam_v, NULL), "/optim/m/wpe: checksum mismatch");
    p = saved_checkpoint(&a, "crc3.h5", 1);
    flip_bit(p, data_offset(p, "/state/tokens_seen"), 2);
    TU_EXPECT_FAIL_ONE_LINE(ckpt_peek(p, &cfg, &meta), "/state/tokens_seen: checksum mismatch");
    /* a CRC attribute removed from a checksummed file */
    p = saved_checkpoint(&a, "crc4.h5", 0);
    f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    d = H5Dopen2(f, "/model/wte", H5P_DEFAULT);
    H5Adelete(d, "crc32c");
    H5Dclose(d);
    H5Fclose(f);
    TU_EXPECT_FAIL_ONE_LINE(ckpt_load(p, &a.m, NULL, NULL, NULL), "/model/wte: checksum attribute crc32c missing");
    /* a file from before checksums (no root attribute, no CRCs) still loads */
    p = saved_checkpoint(&a, "old.h5", 0);
    f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Adelete(f, "checksums");
    d = H5Dopen2(f, "/model/wte", H5P_DEFAULT);
    H5Adelete(d, "crc32c");
    H5Dclose(d);
    H5Fclose(f);
    assert_int_equal(ckpt_load(p, &a.m, NULL, NULL, &meta), 0);
    assert_int_equal(meta.has_checksums, 0);

    /* NaN / Inf parameters or moments, negative second moments: refused
     * with the tensor named, whether or not checksums are verified */
    float keep0 = a.m.p.wte[5];
    a.m.p.wte[5] = NAN;
    p = saved_checkpoint(&a, "nan.h5", 1);
    a.m.p.wte[5] = keep0;
    TU_EXPECT_FAIL_ONE_LINE(ckpt_load(p, &a.m, NULL, NULL, NULL), "/model/wte: 1 non-finite values (first at index 5");
    TU_EXPECT_FAIL_ONE_LINE(ckpt_load_ex(p, &a.m, NULL, NULL, NULL, 0), "/model/wte: 1 non-finite");
    TU_EXPECT_FAIL_ONE_LINE(ckpt_verify(p, 1, NULL, NULL), "/model/wte: 1 non-finite");
    a.m.p.wte[5] = keep0;   /* the refused loads overwrote it */
    size_t wpe = (size_t)(a.m.p.wpe - a.m.params);   /* the same offset in the moments */
    a.adam_m[wpe + 2] = -INFINITY;
    p = saved_checkpoint(&a, "inf.h5", 1);
    TU_EXPECT_FAIL_ONE_LINE(ckpt_load(p, &a.m, a.adam_m, a.adam_v, NULL), "/optim/m/wpe: 1 non-finite");
    a.adam_m[wpe + 2] = 0.0f;
    a.adam_v[wpe + 3] = -1e-9f;
    p = saved_checkpoint(&a, "negv.h5", 1);
    a.adam_v[wpe + 3] = 0.0f;
    TU_EXPECT_FAIL_ONE_LINE(ckpt_load(p, &a.m, a.adam_m, a.adam_v, NULL),
                            "/optim/v/wpe: 1 non-finite or negative values");
    free_fixture(&a);
}

/* The kernels' NaN path is defined (UBSan aborts this test otherwise): a
 * model with NaN weights gives a NaN loss, no crash. */
static void test_nan_weights_forward(void **state) {
    (void)state;
    gpt_model m;
    assert_int_equal(gpt_create(&m, &k_cfg), 0);
    gpt_init_weights(&m, 1);
    assert_int_equal(gpt_alloc_acts(&m, 2, 8, 1), 0);
    assert_int_equal(gpt_alloc_grads(&m), 0);
    for (size_t i = 0; i < 13 * 8; i++) m.params[i] = (i % 3) ? NAN : INFINITY;   /* wte */
    int in[16], tgt[16];
    for (int i = 0; i < 16; i++) { in[i] = i % 13; tgt[i] = (i + 1) % 13; }
    double loss = 0.0;
    long nt = 0;
    assert_int_equal(gpt_forward(&m, in, tgt, 2, 8, &loss, &nt, NULL, NULL), 0);
    assert_true(isnan(loss));
    assert_int_equal(gpt_forward_backward(&m, in, tgt, 2, 8, 1.0f, &loss, &nt), 0);
    assert_true(isnan(loss));
    gpt_free(&m);
}

/* Saves fixture a as run/checkpoints/step-<step>.h5; returns its path. */
static const char *save_step(fixture *a, const char *run, uint64_t step, int with_moments) {
    static char path[1024];
    assert_int_equal(ckpt_step_path(run, step, path, sizeof path), 0);
    a->meta.step = step;
    assert_int_equal(ckpt_save(path, &a->m, with_moments ? a->adam_m : NULL, with_moments ? a->adam_v : NULL,
                               &a->meta), 0);
    return path;
}

/* find_latest validates the whole newest candidate and falls back past
 * each kind of damage with one warning line each. */
static void test_find_latest_validates_whole_file(void **state) {
    (void)state;
    fixture a;
    make_fixture(&a, 7);
    char run[512], latest[1024], path[1024];
    snprintf(run, sizeof run, "%s/run2", tu_dir);
    snprintf(path, sizeof path, "%s/checkpoints", run);
    assert_int_equal(ll_mkdir_p(path), 0);
    save_step(&a, run, 10, 1);
    char good[1024];
    snprintf(good, sizeof good, "%s", save_step(&a, run, 10, 1));
    const char *p;
    /* each damaged file in turn as the newest: 20 */
    static const char *const expect[] = {"missing tensor /model/h.0.mlp.c_fc.bias",
                                         "holds no optimizer state",
                                         "shape [3], the model expects [8]",
                                         "not a regular file",
                                         "checksum mismatch",
                                         "truncated",
                                         "holds step 21, not the step its name says",
                                         "1 non-finite values"};
    for (int k = 0; k < 8; k++) {
        p = save_step(&a, run, 20, 1);
        char p20[1024];
        snprintf(p20, sizeof p20, "%s", p);
        if (k == 0) delete_link(p20, "/model/h.0.mlp.c_fc.bias");
        if (k == 1) { unlink(p20); save_step(&a, run, 20, 0); }
        if (k == 2) replace_tensor(p20, "ln_f.weight", H5T_IEEE_F32LE, 1, 3, 0);
        if (k == 3) { unlink(p20); assert_int_equal(mkdir(p20, 0755), 0); }
        if (k == 4) flip_bit(p20, data_offset(p20, "/optim/v/wte") + 2, 1);
        if (k == 5) { struct stat st; stat(p20, &st); assert_int_equal(truncate(p20, st.st_size / 3), 0); }
        if (k == 6) {   /* a later step's file copied under this name */
            char p21[1024];
            snprintf(p21, sizeof p21, "%s", save_step(&a, run, 21, 1));
            assert_int_equal(rename(p21, p20), 0);
        }
        if (k == 7) { a.adam_m[3] = NAN; save_step(&a, run, 20, 1); a.adam_m[3] = 0.0f; }
        tu_capture_begin();
        int rc = ckpt_find_latest(run, 1, latest, sizeof latest);
        const char *err = tu_capture_end();
        assert_int_equal(rc, 0);
        if (strcmp(latest, good) != 0) fail_msg("case %d: chose %s", k, latest);
        if (tu_count_lines(err) != 1 || strncmp(err, "llmpi: warning: ", 16) != 0 || !strstr(err, expect[k]) ||
            !strstr(err, "step-00000020.h5"))
            fail_msg("case %d: expected one warning with '%s', got: %s", k, expect[k], err);
        if (k == 3) rmdir(p20); else unlink(p20);
    }
    free_fixture(&a);
}

/* Pruning never deletes the newest good checkpoint, nor anything it cannot
 * prove to be an older complete checkpoint of the same run. */
static void test_prune_only_proven_older(void **state) {
    (void)state;
    fixture a;
    make_fixture(&a, 8);
    char run[512], path[1024], junk[1024];
    snprintf(run, sizeof run, "%s/run3", tu_dir);
    snprintf(path, sizeof path, "%s/checkpoints", run);
    assert_int_equal(ll_mkdir_p(path), 0);
    /* a half-copied checkpoint with a higher step number */
    snprintf(junk, sizeof junk, "%s/checkpoints/step-99999999.h5", run);
    save_step(&a, run, 99999999, 1);
    struct stat st;
    assert_int_equal(stat(junk, &st), 0);
    assert_int_equal(truncate(junk, st.st_size / 2), 0);
    /* an older checkpoint of another model (another run's file) */
    fixture other;
    memset(&other, 0, sizeof other);
    gpt_config wide = k_cfg;
    wide.n_embd = 16;
    assert_int_equal(gpt_create(&other.m, &wide), 0);
    for (size_t i = 0; i < other.m.num_params; i++) other.m.params[i] = 0.5f;
    other.meta = a.meta;
    char foreign[1024];
    snprintf(foreign, sizeof foreign, "%s", save_step(&other, run, 5, 0));
    gpt_free(&other.m);

    for (uint64_t s = 10; s <= 30; s += 10) {
        save_step(&a, run, s, 1);
        assert_int_equal(ckpt_prune(run, 1), 0);
        assert_int_equal(ckpt_step_path(run, s, path, sizeof path), 0);
        assert_true(tu_file_exists(path));   /* the newest good one survives */
        if (s > 10) {
            assert_int_equal(ckpt_step_path(run, s - 10, path, sizeof path), 0);
            assert_false(tu_file_exists(path));
        }
    }
    assert_true(tu_file_exists(junk));
    assert_true(tu_file_exists(foreign));
    /* a newest-by-name file holding another step is not the reference */
    char p40[1024];
    snprintf(p40, sizeof p40, "%s", save_step(&a, run, 41, 1));
    assert_int_equal(ckpt_step_path(run, 40, path, sizeof path), 0);
    assert_int_equal(rename(p40, path), 0);
    assert_int_equal(ckpt_prune(run, 1), 0);
    assert_int_equal(ckpt_step_path(run, 30, path, sizeof path), 0);
    assert_true(tu_file_exists(path));
    free_fixture(&a);
}

/* `llmpi info` on a checkpoint prints the numbers that were saved. */
static void test_info_command(void **state) {
    (void)state;
    const char *bin = getenv("LLMPI_BIN");
    if (!bin) skip();
    fixture a;
    make_fixture(&a, 5);
    const char *p = saved_checkpoint(&a, "info.h5", 1);
    char cmd[1024], out[8192];
    snprintf(cmd, sizeof cmd, "'%s' info '%s'", bin, p);
    FILE *pipe = popen(cmd, "r");
    assert_non_null(pipe);
    size_t n = fread(out, 1, sizeof out - 1, pipe);
    out[n] = '\0';
    assert_int_equal(pclose(pipe), 0);
    char expect[128];
    snprintf(expect, sizeof expect, "parameters  %zu in %d tensors", gpt_count_params(&k_cfg), a.m.num_tensors);
    assert_non_null(strstr(out, expect));
    assert_non_null(strstr(out, "format      llmpi-checkpoint version 1"));
    assert_non_null(strstr(out, "step        1234"));
    assert_non_null(strstr(out, "tokens seen 5000000000"));
    assert_non_null(strstr(out, "model       n_layer=2 n_head=2 n_embd=8 block_size=16 vocab_size=13"));
    assert_non_null(strstr(out, "AdamW moments stored"));
    assert_non_null(strstr(out, "loader      seed=7 position=999"));
    assert_non_null(strstr(out, "  train.lr=0.001\n"));
    free_fixture(&a);
}

static int setup(void **state) {
    (void)state;
    h5u_quiet();
    tu_make_dir("ckpt");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    return tu_teardown_hdf5();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_bit_exact),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_find_latest_and_prune),
        cmocka_unit_test(test_checksums_and_values),
        cmocka_unit_test(test_nan_weights_forward),
        cmocka_unit_test(test_find_latest_validates_whole_file),
        cmocka_unit_test(test_prune_only_proven_older),
        cmocka_unit_test(test_info_command),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

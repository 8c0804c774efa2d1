/* test_safetensors.c: the safetensors writer and reader (src/export/safetensors.c).
 *
 *   - round trip: st_write (one tensor transposed on the way out, one
 *     larger than the transpose scratch) then st_open/st_read_f32 gives the
 *     values back, a transposed read undoing the transposed write; the
 *     header is sorted, space-padded to an 8-byte boundary, offsets tile
 *     the buffer in key order, metadata present;
 *   - F16 and BF16 decode (normal, subnormal, zero, -0, inf, NaN);
 *   - failure injection: every truncation of a valid file, and every header
 *     byte replaced by each of a few hostile values, either opens (and then
 *     every tensor reads) or fails with exactly one "llmpi: " line; the
 *     process never crashes (the ASan build runs this too);
 *   - an output path whose directory is missing fails with one line and
 *     leaves no temporary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <sys/stat.h>

#include "llmpi/safetensors.h"
#include "llmpi/util.h"
#include "testutil.h"

static int setup(void **state) { (void)state; tu_make_dir("st"); return 0; }
static int teardown(void **state) { (void)state; tu_remove_dir(); return 0; }

/* Reads the whole file at path (malloc'ed) into *n bytes. */
static unsigned char *slurp(const char *path, size_t *n) {
    char *buf = NULL;
    assert_int_equal(ll_read_file(path, &buf, n), 0);
    return (unsigned char *)buf;
}

static void spit(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

/* a [3, 5] matrix, stored transposed as [5, 3]; a vector; a big [600, 2000]
 * transposed (larger than the 4 MiB scratch, so written in blocks) */
#define BR 600
#define BC 2000
static float mat[15], vec[7], *big;

static const char *write_sample(void) {
    for (int i = 0; i < 15; i++) mat[i] = (float)i + 0.25f;
    for (int i = 0; i < 7; i++) vec[i] = -(float)i;
    big = malloc((size_t)BR * BC * sizeof *big);
    for (size_t i = 0; i < (size_t)BR * BC; i++) big[i] = (float)(i % 9973) * 0.5f;
    st_tensor_out t[3] = {
        {.name = "z.vec", .ndim = 1, .shape = {7}, .data = vec},
        {.name = "a.mat", .ndim = 2, .shape = {5, 3}, .data = mat, .transpose = 1},
        {.name = "m.big", .ndim = 2, .shape = {BC, BR}, .data = big, .transpose = 1},
    };
    const char *meta[] = {"format", "pt"};
    static char path[512];
    snprintf(path, sizeof path, "%s", tu_path("s.safetensors"));
    assert_int_equal(st_write(path, t, 3, meta, 1), 0);
    return path;
}

static void test_round_trip(void **state) {
    (void)state;
    const char *path = write_sample();
    size_t n;
    unsigned char *b = slurp(path, &n);
    uint64_t hl;
    memcpy(&hl, b, 8);
    assert_int_equal((8 + hl) % 8, 0);
    char *h = strndup((char *)b + 8, hl);
    /* sorted keys, metadata first ('_' < lowercase), spaces only after '}' */
    char *pa = strstr(h, "\"a.mat\""), *pm = strstr(h, "\"m.big\""), *pz = strstr(h, "\"z.vec\""),
         *pmeta = strstr(h, "\"__metadata__\":{\"format\":\"pt\"}");
    assert_true(pmeta && pa && pm && pz && pmeta < pa && pa < pm && pm < pz);
    assert_non_null(strstr(h, "\"a.mat\":{\"data_offsets\":[0,60],\"dtype\":\"F32\",\"shape\":[5,3]}"));
    char *end = strrchr(h, '}');
    for (char *p = end + 1; *p; p++) assert_int_equal(*p, ' ');
    free(h);
    /* a.mat's bytes are the transpose */
    float first[15];
    memcpy(first, b + 8 + hl, sizeof first);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 3; j++) assert_true(first[i * 3 + j] == mat[j * 5 + i]);
    free(b);

    st_file f;
    assert_int_equal(st_open(&f, path), 0);
    assert_int_equal(f.n, 3);
    const st_entry *e = st_find(&f, "a.mat");
    assert_non_null(e);
    float got[15];
    assert_int_equal(st_read_f32(&f, e, got, 1), 0);
    assert_memory_equal(got, mat, sizeof mat);
    e = st_find(&f, "m.big");
    float *gb = malloc((size_t)BR * BC * sizeof *gb);
    assert_int_equal(st_read_f32(&f, e, gb, 1), 0);
    assert_memory_equal(gb, big, (size_t)BR * BC * sizeof *gb);
    free(gb);
    e = st_find(&f, "z.vec");
    assert_int_equal(st_read_f32(&f, e, got, 0), 0);
    assert_memory_equal(got, vec, sizeof vec);
    assert_null(st_find(&f, "nope"));
    st_close(&f);
    free(big);
}

static void put_header(const char *path, const char *json, const void *data, size_t n) {
    size_t hl = strlen(json), pad = (8 - (8 + hl) % 8) % 8;
    unsigned char *b = calloc(1, 8 + hl + pad + n);
    uint64_t h64 = hl + pad;
    memcpy(b, &h64, 8);
    memcpy(b + 8, json, hl);
    memset(b + 8 + hl, ' ', pad);
    memcpy(b + 8 + hl + pad, data, n);
    spit(path, b, 8 + hl + pad + n);
    free(b);
}

static void test_half_types(void **state) {
    (void)state;
    /* F16: 1.0, -2.0, smallest subnormal, 0, -0, inf, NaN, 65504 */
    uint16_t h[8] = {0x3c00, 0xc000, 0x0001, 0x0000, 0x8000, 0x7c00, 0x7e00, 0x7bff};
    /* BF16: 1.0, -2.0, 3.140625, inf */
    uint16_t bf[4] = {0x3f80, 0xc000, 0x4049, 0x7f80};
    unsigned char data[24];
    memcpy(data, h, 16);
    memcpy(data + 16, bf, 8);
    char path[512];
    snprintf(path, sizeof path, "%s", tu_path("h.safetensors"));
    put_header(path, "{\"h\":{\"dtype\":\"F16\",\"shape\":[8],\"data_offsets\":[0,16]},"
                     "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[16,24]}}", data, 24);
    st_file f;
    assert_int_equal(st_open(&f, path), 0);
    float o[8];
    assert_int_equal(st_read_f32(&f, st_find(&f, "h"), o, 0), 0);
    assert_true(o[0] == 1.0f && o[1] == -2.0f && o[2] == ldexpf(1.0f, -24) && o[3] == 0.0f);
    assert_true(o[4] == 0.0f && signbit(o[4]) && isinf(o[5]) && o[5] > 0 && isnan(o[6]) && o[7] == 65504.0f);
    assert_int_equal(st_read_f32(&f, st_find(&f, "b"), o, 1), 0);   /* transposed 2x2 */
    assert_true(o[0] == 1.0f && o[1] == 3.140625f && o[2] == -2.0f && isinf(o[3]));
    st_close(&f);
}

/* Opens path (and reads every tensor if it opens): must not crash; a
 * failure prints exactly one "llmpi: " line. */
static void open_expecting_contract(const char *path) {
    st_file f;
    tu_capture_begin();
    int rc = st_open(&f, path);
    if (rc == 0) {
        for (int i = 0; i < f.n && rc == 0; i++) {
            const st_entry *e = &f.entries[i];
            if (st_numel(e) > (1u << 22)) continue;
            float *buf = malloc(st_numel(e) * sizeof(float) + 1);
            rc = st_read_f32(&f, e, buf, e->ndim == 2);
            free(buf);
        }
        st_close(&f);
    }
    const char *err = tu_capture_end();
    if (rc != 0) {
        if (tu_count_lines(err) != 1 || strncmp(err, "llmpi: ", 7) != 0)
            fail_msg("not one llmpi line for %s: [%s]", path, err);
    } else {
        assert_int_equal(tu_count_lines(err), 0);
    }
}

static void test_failure_injection(void **state) {
    (void)state;
    float a[6] = {1, 2, 3, 4, 5, 6}, c[2] = {7, 8};
    st_tensor_out t[2] = {{.name = "a", .ndim = 2, .shape = {2, 3}, .data = a},
                          {.name = "c", .ndim = 1, .shape = {2}, .data = c}};
    const char *meta[] = {"format", "pt"};
    char good[512], bad[512];   /* tu_path's buffers rotate: keep copies */
    snprintf(good, sizeof good, "%s", tu_path("g.safetensors"));
    snprintf(bad, sizeof bad, "%s", tu_path("bad.safetensors"));
    assert_int_equal(st_write(good, t, 2, meta, 1), 0);
    size_t n;
    unsigned char *b = slurp(good, &n);
    uint64_t hl;
    memcpy(&hl, b, 8);
    int failures = 0, opened = 0;
    for (size_t len = 0; len < n; len++) {   /* every truncation */
        spit(bad, b, len);
        open_expecting_contract(bad);
    }
    static const unsigned char hostile[] = {0, ' ', '"', '0', '9', '-', '}', '{', '[', ']', ',', 0xff};
    unsigned char *m = malloc(n);
    for (size_t pos = 0; pos < 8 + hl; pos++)
        for (size_t k = 0; k < sizeof hostile; k++) {
            memcpy(m, b, n);
            if (m[pos] == hostile[k]) continue;
            m[pos] = hostile[k];
            spit(bad, m, n);
            st_file f;
            tu_capture_begin();
            int rc = st_open(&f, bad);
            if (rc == 0) st_close(&f);
            tu_capture_end();
            failures += rc != 0;
            opened += rc == 0;
            open_expecting_contract(bad);
        }
    free(m);
    free(b);
    /* most mutations must be refused; some (a digit inside a key, a space
     * in the padding) leave a valid file */
    assert_true(failures > 10 * opened);
    /* specific lies, each named */
    static const struct { const char *json; size_t data; const char *needle; } lies[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, "cover 8 of the 12"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "past the end"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "need 12"},
        {"{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8, "overflows"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{}}", 8, "not a JSON object"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "ordered"},
        {"{\"__metadata__\":{\"k\":1}}", 0, "not a string"},
        {"[]", 0, "does not start with '{'"},
    };
    float zero[4] = {0};
    for (size_t i = 0; i < sizeof lies / sizeof lies[0]; i++) {
        put_header(bad, lies[i].json, zero, lies[i].data);
        st_file f;
        tu_capture_begin();
        int rc = st_open(&f, bad);
        const char *err = tu_capture_end();
        assert_int_equal(rc, -1);
        assert_int_equal(tu_count_lines(err), 1);
        if (!strstr(err, lies[i].needle)) fail_msg("lie %zu: expected '%s' in [%s]", i, lies[i].needle, err);
    }
    /* a dtype read refuses anything but F32/F16/BF16 */
    put_header(bad, "{\"a\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}", zero, 8);
    st_file f;
    assert_int_equal(st_open(&f, bad), 0);
    float o[2];
    tu_capture_begin();
    int rc = st_read_f32(&f, &f.entries[0], o, 0);
    const char *err = tu_capture_end();
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "dtype I32, expected F32"));
    st_close(&f);
}

static void test_write_failure_leaves_nothing(void **state) {
    (void)state;
    float a[2] = {1, 2};
    st_tensor_out t = {.name = "a", .ndim = 1, .shape = {2}, .data = a};
    tu_capture_begin();
    int rc = st_write(tu_path("missing/x.safetensors"), &t, 1, NULL, 0);
    const char *err = tu_capture_end();
    assert_int_equal(rc, -1);
    assert_int_equal(tu_count_lines(err), 1);
    st_tensor_out dup[2] = {t, t};
    tu_capture_begin();
    rc = st_write(tu_path("dup.safetensors"), dup, 2, NULL, 0);
    err = tu_capture_end();
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "bad name or shape"));
    assert_false(tu_file_exists(tu_path("dup.safetensors")));
    assert_int_equal(tu_count_tmp_files(), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_half_types),
        cmocka_unit_test(test_failure_injection),
        cmocka_unit_test(test_write_failure_leaves_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

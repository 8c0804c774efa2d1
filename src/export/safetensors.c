/* safetensors.c: writing and reading the safetensors format (see
 * safetensors.h for the layout and the reader's checks).
 *
 * Invariants:
 * - Written files: header keys sorted (jansson JSON_SORT_KEYS), data in the
 *   same order, contiguous from offset 0, buffer start 8-byte aligned by
 *   trailing spaces in the header (the spec's padding), temp name + fsync +
 *   rename. Transposed tensors are written through a bounded scratch (a
 *   block of output rows at a time), never a full copy.
 * - Reading never trusts the header: every size is computed with overflow
 *   checks before anything is allocated or read, and the entries must tile
 *   the buffer exactly (what the reference reader requires too).
 * - Little-endian hosts only (the format's byte order is the host's here).
 */
#include "llmpi/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llmpi/util.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

static const struct { const char *name; st_dtype dtype; unsigned size; } st_dtypes[] = {
    {"F32", ST_F32, 4},   {"F16", ST_F16, 2},   {"BF16", ST_BF16, 2}, {"F64", ST_F64, 8},
    {"I64", ST_I64, 8},   {"I32", ST_I32, 4},   {"I16", ST_I16, 2},   {"I8", ST_I8, 1},
    {"U8", ST_U8, 1},     {"BOOL", ST_BOOL, 1}, {"U16", ST_OTHER, 2}, {"U32", ST_OTHER, 4},
    {"U64", ST_OTHER, 8}, {"F8_E4M3", ST_OTHER, 1}, {"F8_E5M2", ST_OTHER, 1},
};
#define N_DTYPES (sizeof st_dtypes / sizeof st_dtypes[0])

/* ---- writing ---- */

/* Builds the header JSON (sorted, compact) with the offsets of t[] laid out
 * in key order; *order receives the tensor indices in that order. NULL with
 * one line on a bad tensor (name, shape) or out of memory. */
static char *build_header(const char *path, const st_tensor_out *t, int n, const char *const *meta, int n_meta,
                          int *order) {
    json_t *root = json_object();
    if (!root) return NULL;
    for (int i = 0; i < n; i++) order[i] = i;
    /* insertion sort by name: n is a few hundred */
    for (int i = 1; i < n; i++) {
        int k = order[i], j = i;
        while (j > 0 && strcmp(t[order[j - 1]].name, t[k].name) > 0) { order[j] = order[j - 1]; j--; }
        order[j] = k;
    }
    uint64_t offset = 0;
    for (int r = 0; r < n; r++) {
        const st_tensor_out *x = &t[order[r]];
        if (!x->name[0] || strlen(x->name) >= ST_NAME_MAX || !strcmp(x->name, "__metadata__") ||
            (r > 0 && !strcmp(t[order[r - 1]].name, x->name)) || x->ndim < 0 || x->ndim > ST_MAX_DIMS ||
            (x->transpose && x->ndim != 2)) {
            ll_error("%s: tensor '%s': bad name or shape for safetensors", path, x->name);
            json_decref(root);
            return NULL;
        }
        uint64_t numel = 1;
        json_t *shape = json_array();
        for (int d = 0; d < x->ndim; d++) {
            numel *= x->shape[d];
            json_array_append_new(shape, json_integer((json_int_t)x->shape[d]));
        }
        json_t *e = json_pack("{s:s, s:o, s:[I,I]}", "dtype", "F32", "shape", shape, "data_offsets",
                              (json_int_t)offset, (json_int_t)(offset + 4 * numel));
        if (!e || json_object_set_new(root, x->name, e) != 0) { json_decref(root); return NULL; }
        offset += 4 * numel;
    }
    if (n_meta > 0) {
        json_t *m = json_object();
        for (int i = 0; i < n_meta; i++) json_object_set_new(m, meta[2 * i], json_string(meta[2 * i + 1]));
        json_object_set_new(root, "__metadata__", m);
    }
    char *s = json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(root);
    if (!s) ll_error("%s: cannot format the safetensors header", path);
    return s;
}

/* Writes tensor x's bytes to fd (transposing through scratch of cap floats). */
static int write_tensor(int fd, const st_tensor_out *x, float *scratch, size_t cap) {
    size_t numel = 1;
    for (int d = 0; d < x->ndim; d++) numel *= x->shape[d];
    if (!x->transpose) return ll_write_all_streaming(fd, x->data, numel * sizeof(float));
    size_t rows = x->shape[0], cols = x->shape[1];   /* output [rows, cols]; source [cols, rows] */
    size_t block = cols ? cap / cols : rows;
    if (block == 0) block = 1;
    for (size_t i0 = 0; i0 < rows; i0 += block) {
        size_t bi = rows - i0 < block ? rows - i0 : block;
        /* tiles of 64 source rows keep the strided reads in cache */
        for (size_t j0 = 0; j0 < cols; j0 += 64) {
            size_t j1 = j0 + 64 < cols ? j0 + 64 : cols;
            for (size_t i = 0; i < bi; i++)
                for (size_t j = j0; j < j1; j++) scratch[i * cols + j] = x->data[j * rows + i0 + i];
        }
        if (ll_write_all_streaming(fd, scratch, bi * cols * sizeof(float)) != 0) return -1;
    }
    return 0;
}

/* See safetensors.h. */
int st_write(const char *path, const st_tensor_out *t, int n, const char *const *meta, int n_meta) {
    int *order = ll_malloc((size_t)(n > 0 ? n : 1) * sizeof *order);
    if (!order) return -1;
    char *header = build_header(path, t, n, meta, n_meta, order);
    if (!header) { free(order); return -1; }
    size_t hlen = strlen(header), padded = (8 + hlen + 7) / 8 * 8 - 8;
    char tmp[4096];
    int fd = -1, rc = -1;
    size_t cap = (size_t)1 << 20;   /* 4 MiB of scratch for transposes */
    float *scratch = ll_malloc(cap * sizeof(float));
    char *head = ll_malloc(8 + padded);
    if (!scratch || !head || ll_tmp_path(tmp, sizeof tmp, path) != 0) goto done;
    uint64_t n64 = padded;
    memcpy(head, &n64, 8);
    memcpy(head + 8, header, hlen);
    memset(head + 8 + hlen, ' ', padded - hlen);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) { ll_error("%s: cannot create: %s", tmp, strerror(errno)); goto done; }
    int ok = ll_write_all(fd, head, 8 + padded) == 0;
    for (int r = 0; ok && r < n; r++) ok = write_tensor(fd, &t[order[r]], scratch, cap) == 0;
    int err = errno;
    if (close(fd) != 0 && ok) { ok = 0; err = errno; }
    fd = -1;
    if (!ok) { ll_error("%s: write failed: %s", tmp, strerror(err)); unlink(tmp); goto done; }
    if (ll_commit_file(tmp, path) != 0) { unlink(tmp); goto done; }
    rc = 0;
done:
    free(scratch);
    free(head);
    free(header);
    free(order);
    return rc;
}

/* ---- reading ---- */

/* See safetensors.h. */
uint64_t st_numel(const st_entry *e) {
    uint64_t n = 1;
    for (int d = 0; d < e->ndim; d++) n *= e->shape[d];
    return n;
}

/* Reads a non-negative JSON integer into *out; -1 if v is not one. */
static int get_u64(const json_t *v, uint64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* Parses and checks one header entry (key name, value v) into e. 0 / -1 (one line). */
static int parse_entry(const char *path, const char *name, json_t *v, uint64_t buffer_size, st_entry *e) {
    memset(e, 0, sizeof *e);
    if (strlen(name) >= ST_NAME_MAX) { ll_error("%s: tensor name of %zu bytes is too long", path, strlen(name)); return -1; }
    snprintf(e->name, sizeof e->name, "%s", name);
    json_t *dt = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
           *offs = json_object_get(v, "data_offsets");
    if (!json_is_object(v) || !json_is_string(dt) || !json_is_array(shape) || !json_is_array(offs) ||
        json_array_size(offs) != 2 || json_object_size(v) != 3) {
        ll_error("%s: tensor %s: header entry is not {dtype, shape, data_offsets}", path, name);
        return -1;
    }
    const char *dn = json_string_value(dt);
    unsigned size = 0;
    e->dtype = ST_OTHER;
    for (size_t i = 0; i < N_DTYPES; i++)
        if (!strcmp(st_dtypes[i].name, dn)) { e->dtype = st_dtypes[i].dtype; size = st_dtypes[i].size; }
    if (!size) { ll_error("%s: tensor %s: unknown dtype '%.15s'", path, name, dn); return -1; }
    snprintf(e->dtype_name, sizeof e->dtype_name, "%s", dn);
    if (json_array_size(shape) > ST_MAX_DIMS) {
        ll_error("%s: tensor %s: %zu dimensions (at most %d)", path, name, json_array_size(shape), ST_MAX_DIMS);
        return -1;
    }
    e->ndim = (int)json_array_size(shape);
    uint64_t bytes = size;
    for (int d = 0; d < e->ndim; d++) {
        if (get_u64(json_array_get(shape, (size_t)d), &e->shape[d]) != 0) {
            ll_error("%s: tensor %s: shape[%d] is not a non-negative integer", path, name, d);
            return -1;
        }
        if (e->shape[d] && bytes > UINT64_MAX / e->shape[d]) {
            ll_error("%s: tensor %s: shape overflows", path, name);
            return -1;
        }
        bytes *= e->shape[d];
    }
    if (get_u64(json_array_get(offs, 0), &e->begin) != 0 || get_u64(json_array_get(offs, 1), &e->end) != 0 ||
        e->begin > e->end) {
        ll_error("%s: tensor %s: data_offsets are not two ordered non-negative integers", path, name);
        return -1;
    }
    if (e->end > buffer_size) {
        ll_error("%s: tensor %s: data_offsets [%llu, %llu) run past the end of the data (%llu bytes)", path, name,
                 (unsigned long long)e->begin, (unsigned long long)e->end, (unsigned long long)buffer_size);
        return -1;
    }
    if (e->end - e->begin != bytes) {
        ll_error("%s: tensor %s: data_offsets span %llu bytes, its dtype %s and shape need %llu", path, name,
                 (unsigned long long)(e->end - e->begin), dn, (unsigned long long)bytes);
        return -1;
    }
    return 0;
}

static int cmp_begin(const void *a, const void *b) {
    const st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const st_entry *)a)->name, ((const st_entry *)b)->name);
}

/* Reads n bytes at offset off of fd into buf. 0 / -1 (errno, or EIO at EOF). */
static int pread_all(int fd, void *buf, size_t n, uint64_t off) {
    char *p = buf;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) { if (r == 0) errno = EIO; return -1; }
        p += r; n -= (size_t)r; off += (uint64_t)r;
    }
    return 0;
}

/* See safetensors.h. */
int st_open(st_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    f->fd = -1;
    snprintf(f->path, sizeof f->path, "%s", path);
    char *header = NULL;
    json_t *root = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { ll_error("%s: cannot open: %s", path, strerror(errno)); return -1; }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) { ll_error("%s: not a regular file", path); goto fail; }
    f->file_size = (uint64_t)st.st_size;
    uint64_t n = 0;
    if (f->file_size < 8 || pread_all(fd, &n, 8, 0) != 0) {
        ll_error("%s: %llu bytes: too short for a safetensors file", path, (unsigned long long)f->file_size);
        goto fail;
    }
    if (n < 2 || n > ST_MAX_HEADER || n > f->file_size - 8) {
        ll_error("%s: header size %llu is impossible (file of %llu bytes, at most %llu allowed)", path,
                 (unsigned long long)n, (unsigned long long)f->file_size, (unsigned long long)ST_MAX_HEADER);
        goto fail;
    }
    header = ll_malloc((size_t)n);
    if (!header) goto fail;
    if (pread_all(fd, header, (size_t)n, 8) != 0) { ll_error("%s: cannot read the header", path); goto fail; }
    if (header[0] != '{') { ll_error("%s: header does not start with '{'", path); goto fail; }
    json_error_t jerr;
    root = json_loadb(header, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root)) {
        ll_error("%s: header is not a JSON object: %s (byte %d)", path, root ? "not an object" : jerr.text,
                 root ? 0 : jerr.position);
        goto fail;
    }
    f->data_start = 8 + n;
    uint64_t buffer_size = f->file_size - f->data_start;
    size_t count = json_object_size(root);
    f->entries = ll_calloc(count ? count : 1, sizeof *f->entries);
    if (!f->entries) goto fail;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "__metadata__")) {
            const char *mk;
            json_t *mv;
            if (!json_is_object(v)) { ll_error("%s: __metadata__ is not an object", path); goto fail; }
            json_object_foreach(v, mk, mv) if (!json_is_string(mv)) {
                ll_error("%s: __metadata__ value of '%.64s' is not a string", path, mk);
                goto fail;
            }
            continue;
        }
        if (parse_entry(path, key, v, buffer_size, &f->entries[f->n]) != 0) goto fail;
        f->n++;
    }
    /* the entries must tile the buffer: sorted by offset, each begins where
     * the one before ended (a zero-size tensor may sit anywhere in between) */
    qsort(f->entries, (size_t)f->n, sizeof *f->entries, cmp_begin);
    uint64_t at = 0;
    for (int i = 0; i < f->n; i++) {
        const st_entry *e = &f->entries[i];
        if (e->begin < at) {
            ll_error("%s: tensor %s: data_offsets [%llu, %llu) overlap the tensor before", path, e->name,
                     (unsigned long long)e->begin, (unsigned long long)e->end);
            goto fail;
        }
        if (e->begin > at) {
            ll_error("%s: tensor %s: a hole of %llu bytes before it in the data", path, e->name,
                     (unsigned long long)(e->begin - at));
            goto fail;
        }
        at = e->end;
    }
    if (at != buffer_size) {
        ll_error("%s: the tensors cover %llu of the %llu data bytes (truncated or trailing bytes)", path,
                 (unsigned long long)at, (unsigned long long)buffer_size);
        goto fail;
    }
    qsort(f->entries, (size_t)f->n, sizeof *f->entries, cmp_name);
    json_decref(root);
    free(header);
    f->fd = fd;
    return 0;
fail:
    json_decref(root);
    free(header);
    free(f->entries);
    f->entries = NULL;
    f->n = 0;
    close(fd);
    return -1;
}

/* See safetensors.h. */
void st_close(st_file *f) {
    if (f->fd >= 0) close(f->fd);
    free(f->entries);
    f->entries = NULL;
    f->fd = -1;
    f->n = 0;
}

/* See safetensors.h. */
const st_entry *st_find(const st_file *f, const char *name) {
    st_entry key;
    snprintf(key.name, sizeof key.name, "%s", name);
    return bsearch(&key, f->entries, (size_t)f->n, sizeof *f->entries, cmp_name);
}

/* IEEE half to float (subnormals, inf and NaN included). */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0x1f) bits = sign | 0x7f800000u | (mant << 13);
    else if (exp != 0) bits = sign | ((exp + 112) << 23) | (mant << 13);
    else if (mant == 0) bits = sign;
    else {
        exp = 113;
        while (!(mant & 0x400)) { mant <<= 1; exp--; }
        bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
    }
    float out;
    memcpy(&out, &bits, 4);
    return out;
}

/* See safetensors.h. */
int st_read_f32(const st_file *f, const st_entry *e, float *out, int transpose) {
    if (e->dtype != ST_F32 && e->dtype != ST_F16 && e->dtype != ST_BF16) {
        ll_error("%s: tensor %s: dtype %s, expected F32 (or F16/BF16)", f->path, e->name, e->dtype_name);
        return -1;
    }
    if (transpose && e->ndim != 2) {
        ll_error("%s: tensor %s: expected 2 dimensions, found %d", f->path, e->name, e->ndim);
        return -1;
    }
    uint64_t numel = st_numel(e), bytes = e->end - e->begin;
    int direct = e->dtype == ST_F32 && !transpose;
    void *raw = direct ? (void *)out : ll_malloc(bytes ? (size_t)bytes : 1);
    if (!raw) return -1;
    int rc = 0;
    if (pread_all(f->fd, raw, (size_t)bytes, f->data_start + e->begin) != 0) {
        ll_error("%s: tensor %s: cannot read: %s", f->path, e->name, strerror(errno));
        rc = -1;
    } else if (!direct) {
        size_t rows = transpose ? (size_t)e->shape[0] : 1, cols = transpose ? (size_t)e->shape[1] : (size_t)numel;
        for (size_t i = 0; i < rows; i++)
            for (size_t j = 0; j < cols; j++) {
                size_t s = i * cols + j, d = transpose ? j * rows + i : s;
                float v;
                if (e->dtype == ST_F32) memcpy(&v, (const char *)raw + 4 * s, 4);
                else {
                    uint16_t h;
                    memcpy(&h, (const char *)raw + 2 * s, 2);
                    if (e->dtype == ST_F16) v = half_to_float(h);
                    else { uint32_t b = (uint32_t)h << 16; memcpy(&v, &b, 4); }
                }
                out[d] = v;
            }
    }
    if (!direct) free(raw);
    return rc;
}

/* ckpt.c: checkpoints in HDF5 (layout in include/llmpi/ckpt.h).
 *
 * Invariants:
 *   - the file at a final path is always complete: built in memory, written
 *     as "<path>.tmp.<pid>", fsynced, renamed, directory fsynced; HDF5
 *     never writes to disk itself, so a full disk is an ordinary write
 *     error of ours (HDF5 1.10 crashes at exit after a failed close), and a
 *     failed save leaves no HDF5 object open and no temporary;
 *   - tensors are float32 datasets named and shaped by the model's tensor
 *     table (PyTorch names, [out, in]), so tools can read them without us;
 *   - every dataset carries a "crc32c" attribute (CRC-32C of its
 *     little-endian bytes) and the root says checksums = "crc32c"; a load
 *     verifies each one (unless told not to) and always refuses non-finite
 *     parameters or moments and negative second moments: a damaged
 *     checkpoint never reaches the kernels;
 *   - a load refuses any difference in format, version, model shape, tensor
 *     set or tensor shape with one line naming the file (and the tensor):
 *     nothing is ever silently reshaped, skipped or zero-filled;
 *   - files are written with HDF5 1.8 object headers (libver bounds V18), so
 *     HDF5 metadata carries its own checksums too; objects carry no
 *     modification times: the same state saves to the same bytes;
 *   - checkpoint names are "step-" + at least 8 digits + ".h5"; anything else
 *     in the directory (temporaries, user files) is never read or deleted;
 *     pruning deletes only files it has opened and found to be complete
 *     checkpoints of the same model and tokenizer, older than the newest
 *     such file, which it never deletes;
 *   - errors go through ck_error: one line on stderr, or, while
 *     ckpt_find_latest probes a candidate, into a buffer that becomes the
 *     reason in its single warning line.
 */
#include "llmpi/ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "llmpi/crc32c.h"
#include "llmpi/h5.h"

/* Limits that reject garbage before it reaches gpt_create (its own limits). */
#define CKPT_MAX_LAYERS 1024
#define CKPT_MAX_EMBD 65536
#define CKPT_MAX_BLOCK (1 << 20)
#define CKPT_MAX_VOCAB (1 << 24)
#define CKPT_CHECKSUMS "crc32c"   /* root attribute "checksums": the kind of the per-dataset attribute */
#define CKPT_TOKENIZER_JSON "tokenizer_json"   /* root: the tokenizer.json text (uint8) */
#define CKPT_TOKENIZER_JSON_MAX ((size_t)256 << 20)
#define CKPT_CRC_ATTR "crc32c"    /* per-dataset attribute: CRC-32C of the little-endian data */

static const char *const state_names[4] = {"step", "tokens_seen", "loader_seed", "loader_position"};

/* ---- errors: to stderr, or into the probe's buffer ---- */

static _Thread_local char *ck_sink;     /* non-NULL while probing quietly */
static _Thread_local size_t ck_sink_cap;

/* Reports one failure: ll_error() normally; while a quiet probe runs, the
 * first failure is kept (as the reason) and nothing is printed. */
static LL_PRINTF(1, 2) void ck_error(const char *fmt, ...) {
    char line[4600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (ck_sink) {
        if (ck_sink[0] == '\0') snprintf(ck_sink, ck_sink_cap, "%s", line);
    } else {
        ll_error("%s", line);
    }
}

/* ---- checksums ---- */

/* CRC-32C of n elements of elem_size bytes, taken over their little-endian
 * representation (the bytes the file holds), whatever the host's order. */
static uint32_t crc_le(const void *data, size_t n, size_t elem_size) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    const unsigned char *p = data;
    unsigned char buf[4096];
    uint32_t crc = 0;
    size_t per = sizeof buf / elem_size;
    for (size_t i = 0; i < n; i += per) {
        size_t k = n - i < per ? n - i : per;
        for (size_t e = 0; e < k; e++)
            for (size_t b = 0; b < elem_size; b++) buf[e * elem_size + b] = p[(i + e) * elem_size + elem_size - 1 - b];
        crc = ll_crc32c(crc, buf, k * elem_size);
    }
    return crc;
#else
    return ll_crc32c(0, data, n * elem_size);
#endif
}

/* Checks the CRC attribute of dataset d against data. 0 / -1 (one line). */
static int verify_crc(hid_t d, const char *where, const void *data, size_t n, size_t elem_size, const char *path) {
    htri_t has = H5Aexists(d, CKPT_CRC_ATTR);
    if (has <= 0) { ck_error("%s: %s: checksum attribute %s missing", path, where, CKPT_CRC_ATTR); return -1; }
    hid_t a = H5Aopen(d, CKPT_CRC_ATTR, H5P_DEFAULT);
    hid_t t = a < 0 ? -1 : H5Aget_type(a);
    hid_t sp = a < 0 ? -1 : H5Aget_space(a);
    uint64_t stored = 0;
    int ok = t >= 0 && H5Tget_class(t) == H5T_INTEGER && sp >= 0 && H5Sget_simple_extent_npoints(sp) == 1 &&
             H5Aread(a, H5T_NATIVE_UINT64, &stored) >= 0;
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    if (!ok) { ck_error("%s: %s: checksum attribute unreadable", path, where); return -1; }
    uint32_t actual = crc_le(data, n, elem_size);
    if (stored != actual) {
        ck_error("%s: %s: checksum mismatch (stored %08llx, data %08x): the file is damaged", path, where,
                 (unsigned long long)stored, actual);
        return -1;
    }
    return 0;
}

/* ---- small HDF5 helpers ---- */

/* Dataset creation properties without modification times, so the same
 * state saved twice gives byte-identical files. -1 on failure. */
static hid_t untimed_dcpl(void) {
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (dcpl >= 0 && H5Pset_obj_track_times(dcpl, 0) < 0) { H5Pclose(dcpl); return -1; }
    return dcpl;
}

/* Creates dataset name under loc (type, dataspace rank/dims), writes data
 * (mem_type) and its CRC attribute. 0 / -1 (one line naming where). */
static int write_dataset(hid_t loc, const char *name, hid_t file_type, hid_t mem_type, int rank,
                         const hsize_t *dims, const void *data, size_t n, size_t elem_size, const char *where,
                         const char *path) {
    hid_t space = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = untimed_dcpl();
    hid_t d = space < 0 || dcpl < 0 ? -1 : H5Dcreate2(loc, name, file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (dcpl >= 0) H5Pclose(dcpl);
    int rc = (d >= 0 && H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0) ? 0 : -1;
    if (rc != 0) ll_error("%s: %s: cannot write (disk full?)", path, where);
    else rc = h5u_attr_write_u64(d, CKPT_CRC_ATTR, crc_le(data, n, elem_size), path);
    if (d >= 0) H5Dclose(d);
    if (space >= 0) H5Sclose(space);
    return rc;
}

/* Writes a uint64 dataset of n values (scalar when n == 1) under /state. */
static int write_u64_dataset(hid_t loc, const char *name, const uint64_t *v, hsize_t n, const char *path) {
    char where[96];
    snprintf(where, sizeof where, "/state/%s", name);
    return write_dataset(loc, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, n == 1 ? 0 : 1, &n, v, (size_t)n,
                         sizeof *v, where, path);
}

/* Reads n unsigned integers from /state/<name> (scalar or 1-D of n),
 * verifying the CRC when the file has checksums. 0 / -1. */
static int read_u64_dataset(hid_t loc, const char *name, uint64_t *v, hsize_t n, int checksums, const char *path) {
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) { ck_error("%s: /state/%s: missing", path, name); return -1; }
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) { ck_error("%s: /state/%s: cannot open", path, name); return -1; }
    hid_t type = H5Dget_type(d), space = H5Dget_space(d);
    int rc = -1;
    hssize_t npoints = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
    char where[96];
    snprintf(where, sizeof where, "/state/%s", name);
    if (type < 0 || H5Tget_class(type) != H5T_INTEGER || H5Tget_sign(type) != H5T_SGN_NONE)
        ck_error("%s: /state/%s: expected unsigned integers", path, name);
    else if (npoints != (hssize_t)n || H5Sget_simple_extent_ndims(space) > 1)
        ck_error("%s: /state/%s: expected %llu values, found %lld", path, name, (unsigned long long)n,
                 (long long)npoints);
    else if (H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
        ck_error("%s: /state/%s: cannot read", path, name);
    else if (checksums && H5Tget_size(type) != 8)
        ck_error("%s: /state/%s: not 64-bit, as a checksummed file holds", path, name);
    else if (checksums && verify_crc(d, where, v, (size_t)n, sizeof *v, path) != 0)
        ; /* reported */
    else
        rc = 0;
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    H5Dclose(d);
    return rc;
}

/* Opens attribute name of loc holding exactly one value: the id, 0 when
 * absent and absent_ok, -1 (one line) otherwise. */
static hid_t open_single_attr(hid_t loc, const char *name, const char *path, int absent_ok) {
    htri_t exists = H5Aexists(loc, name);
    if (exists < 0) { ck_error("%s: attribute %s: cannot query", path, name); return -1; }
    if (!exists) {
        if (absent_ok) return 0;
        ck_error("%s: attribute %s: missing", path, name);
        return -1;
    }
    hid_t attr = H5Aopen(loc, name, H5P_DEFAULT);
    if (attr < 0) { ck_error("%s: attribute %s: cannot open", path, name); return -1; }
    hid_t space = H5Aget_space(attr);
    hssize_t npoints = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
    if (space >= 0) H5Sclose(space);
    if (npoints != 1) {
        ck_error("%s: attribute %s: expected a single value, found %lld", path, name, (long long)npoints);
        H5Aclose(attr);
        return -1;
    }
    return attr;
}

/* Reads an integer attribute (any width and sign, negative refused). The
 * checkpoint's own reader (not h5u's) so a quiet probe prints nothing. */
static int read_attr_u64(hid_t loc, const char *name, uint64_t *out, const char *path) {
    hid_t attr = open_single_attr(loc, name, path, 0);
    if (attr < 0) return -1;
    int rc = -1;
    hid_t ftype = H5Aget_type(attr);
    if (ftype < 0 || H5Tget_class(ftype) != H5T_INTEGER) {
        ck_error("%s: attribute %s: expected an integer", path, name);
    } else if (H5Tget_sign(ftype) == H5T_SGN_2) {
        int64_t v = 0;
        if (H5Aread(attr, H5T_NATIVE_INT64, &v) < 0) ck_error("%s: attribute %s: cannot read", path, name);
        else if (v < 0) ck_error("%s: attribute %s: negative value %lld", path, name, (long long)v);
        else { *out = (uint64_t)v; rc = 0; }
    } else if (H5Aread(attr, H5T_NATIVE_UINT64, out) < 0) {
        ck_error("%s: attribute %s: cannot read", path, name);
    } else {
        rc = 0;
    }
    if (ftype >= 0) H5Tclose(ftype);
    H5Aclose(attr);
    return rc;
}

/* Reads a string attribute (fixed or variable length) into out (cap bytes,
 * NUL-terminated). exists non-NULL: absent is not an error (*exists = 0). */
static int read_attr_str(hid_t loc, const char *name, char *out, size_t cap, const char *path, int *exists) {
    if (exists) *exists = 0;
    if (cap) out[0] = '\0';
    hid_t attr = open_single_attr(loc, name, path, exists != NULL);
    if (attr <= 0) return attr < 0 ? -1 : 0;
    int rc = -1;
    hid_t ftype = H5Aget_type(attr), mtype = H5Tcopy(H5T_C_S1);
    char *buf = NULL;
    size_t len = 0;
    if (ftype < 0 || H5Tget_class(ftype) != H5T_STRING) {
        ck_error("%s: attribute %s: expected a string", path, name);
        goto done;
    }
    if (H5Tis_variable_str(ftype) > 0) {
        char *s = NULL;
        if (mtype < 0 || H5Tset_size(mtype, H5T_VARIABLE) < 0 || H5Aread(attr, mtype, &s) < 0) {
            ck_error("%s: attribute %s: cannot read", path, name);
            goto done;
        }
        len = s ? strlen(s) : 0;
        if (len < cap) memcpy(out, s ? s : "", len + 1);
        H5free_memory(s);
    } else {
        size_t size = H5Tget_size(ftype);
        if (size == 0 || size > (size_t)1 << 20) {
            ck_error("%s: attribute %s: implausible string size %zu", path, name, size);
            goto done;
        }
        /* one byte more than stored, so HDF5 always NUL-terminates */
        buf = ll_malloc(size + 1);
        if (!buf) goto done;
        if (mtype < 0 || H5Tset_size(mtype, size + 1) < 0 || H5Tset_strpad(mtype, H5T_STR_NULLTERM) < 0 ||
            H5Aread(attr, mtype, buf) < 0) {
            ck_error("%s: attribute %s: cannot read", path, name);
            goto done;
        }
        buf[size] = '\0';
        len = strlen(buf);
        if (len < cap) memcpy(out, buf, len + 1);
    }
    if (len >= cap) {
        ck_error("%s: attribute %s: %zu bytes, longer than the %zu allowed", path, name, len, cap - 1);
        if (cap) out[0] = '\0';
        goto done;
    }
    if (exists) *exists = 1;
    rc = 0;
done:
    free(buf);
    if (mtype >= 0) H5Tclose(mtype);
    if (ftype >= 0) H5Tclose(ftype);
    H5Aclose(attr);
    return rc;
}

/* Opens a regular file read-only after checking it is HDF5 at all. -1 (one line). */
static hid_t open_readonly(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0 || access(path, R_OK) != 0) {
        ck_error("%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) { ck_error("%s: not a regular file", path); return -1; }
    /* superblock and root header checked by plain reads before libhdf5 sees
     * them: it has use-after-free bugs on such damage (tests/fuzz) */
    char why[1400];
    if (h5u_check_file_why(path, why, sizeof why) != 0) { if (why[0]) ck_error("%s", why); return -1; }
    if (H5Fis_hdf5(path) <= 0) { ck_error("%s: not an HDF5 file (or truncated)", path); return -1; }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0) H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl >= 0 ? fapl : H5P_DEFAULT);
    if (fapl >= 0) H5Pclose(fapl);
    if (f < 0) ck_error("%s: cannot open as HDF5 (truncated or damaged?)", path);
    return f;
}

/* Reads one tensor into out (t->numel floats) after checking type float32
 * and the exact shape of the table entry; then its checksum (when verify and
 * the file has them) and its values: all finite, and not negative when
 * nonneg. 0 / -1 (one line naming the tensor). out NULL: shape check only. */
static int read_tensor(hid_t group, const char *prefix, const gpt_tensor_info *t, float *out, int checksums,
                       int nonneg, const char *path) {
    if (H5Lexists(group, t->name, H5P_DEFAULT) <= 0) {
        ck_error("%s: missing tensor %s/%s", path, prefix, t->name);
        return -1;
    }
    H5O_info_t oinfo;
    if (H5Oget_info_by_name(group, t->name, &oinfo, H5P_DEFAULT) < 0 || oinfo.type != H5O_TYPE_DATASET) {
        ck_error("%s: %s/%s: not a dataset", path, prefix, t->name);
        return -1;
    }
    hid_t d = H5Dopen2(group, t->name, H5P_DEFAULT);
    if (d < 0) { ck_error("%s: %s/%s: cannot open", path, prefix, t->name); return -1; }
    hid_t type = H5Dget_type(d), space = H5Dget_space(d);
    int rc = -1;
    hsize_t dims[H5S_MAX_RANK] = {0};
    int ndim = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
    char where[160];
    snprintf(where, sizeof where, "%s/%s", prefix, t->name);
    if (ndim >= 0 && ndim <= H5S_MAX_RANK) H5Sget_simple_extent_dims(space, dims, NULL);
    if (type < 0 || H5Tget_class(type) != H5T_FLOAT || H5Tget_size(type) != 4) {
        ck_error("%s: %s: not float32", path, where);
    } else if (ndim != t->ndim || dims[0] != t->shape[0] || (ndim == 2 && dims[1] != t->shape[1])) {
        char got[64] = "?", want[64];
        if (ndim == 1) snprintf(got, sizeof got, "[%llu]", (unsigned long long)dims[0]);
        else if (ndim == 2) snprintf(got, sizeof got, "[%llu, %llu]", (unsigned long long)dims[0], (unsigned long long)dims[1]);
        else snprintf(got, sizeof got, "rank %d", ndim);
        if (t->ndim == 1) snprintf(want, sizeof want, "[%zu]", t->shape[0]);
        else snprintf(want, sizeof want, "[%zu, %zu]", t->shape[0], t->shape[1]);
        ck_error("%s: %s: shape %s, the model expects %s", path, where, got, want);
    } else if (!out) {
        rc = 0;
    } else if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
        ck_error("%s: %s: cannot read (truncated?)", path, where);
    } else if (checksums && verify_crc(d, where, out, t->numel, sizeof(float), path) != 0) {
        /* reported */
    } else {
        size_t bad = 0, first = 0;
        for (size_t i = 0; i < t->numel; i++) {
            int ok = isfinite(out[i]) && !(nonneg && out[i] < 0.0f);
            if (!ok && bad++ == 0) first = i;
        }
        if (bad)
            ck_error("%s: %s: %zu %s values (first at index %zu: %g): refusing a damaged or diverged checkpoint",
                     path, where, bad, nonneg ? "non-finite or negative" : "non-finite", first, (double)out[first]);
        else
            rc = 0;
    }
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    H5Dclose(d);
    return rc;
}

/* Checks the model's tensor table is usable as a checkpoint layout: names
 * valid as dataset names, shapes matching numel, ranges inside params. */
static int check_table(const gpt_model *m, const char *path) {
    if (m->num_tensors <= 0 || !m->tensors || !m->params) {
        ck_error("%s: model has no tensor table", path);
        return -1;
    }
    for (int i = 0; i < m->num_tensors; i++) {
        const gpt_tensor_info *t = &m->tensors[i];
        size_t numel = t->ndim == 2 ? t->shape[0] * t->shape[1] : t->shape[0];
        if (t->name[0] == '\0' || strchr(t->name, '/') || memchr(t->name, '\0', sizeof t->name) == NULL ||
            (t->ndim != 1 && t->ndim != 2) || numel != t->numel || t->offset > m->num_params ||
            t->numel > m->num_params - t->offset) {
            ck_error("%s: model tensor table entry %d (%.*s) is inconsistent", path, i, (int)sizeof t->name, t->name);
            return -1;
        }
    }
    return 0;
}

/* ---- save ---- */

/* Fault injection for tests (SQLite style): with LLMPI_FAULT_KILL_IN_CKPT=N
 * in the environment the process kills itself (SIGKILL, no cleanup) halfway
 * through writing the checkpoint of step N, as a power cut or `kill -9`
 * would. Never set outside tests. */
static void fault_kill_midway(uint64_t step, const char *tmp) {
    /* LLMPI_FAULT_SLOW_CKPT_MS=M: every write pauses M ms halfway (before
     * the kill), so a test sees training go on during a background write */
    const char *slow = getenv("LLMPI_FAULT_SLOW_CKPT_MS");
    if (slow) {
        long ms = strtol(slow, NULL, 10);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    }
    const char *v = getenv("LLMPI_FAULT_KILL_IN_CKPT");
    if (v && strtoull(v, NULL, 10) == step) {
        fprintf(stderr, "llmpi: fault injection: killed while writing %s\n", tmp);
        raise(SIGKILL);
    }
}

/* Writes the finished file image to tmp, then commits it as path (fsync,
 * rename, directory fsync). 0 / -1 (one line); on -1 tmp is removed. */
static int write_image(const char *path, const char *tmp, const unsigned char *image, size_t n, uint64_t step) {
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        ll_error("%s: cannot create %s (does the folder exist and is it writable?): %s", path, tmp, strerror(errno));
        return -1;
    }
    int rc = ll_write_all_streaming(fd, image, n / 2);
    if (rc == 0) {
        fault_kill_midway(step, tmp);
        rc = ll_write_all_streaming(fd, image + n / 2, n - n / 2);
    }
    if (rc != 0) ll_error("%s: write failed: %s", tmp, strerror(errno));
    if (close(fd) != 0 && rc == 0) { ll_error("%s: write failed: %s", tmp, strerror(errno)); rc = -1; }
    if (rc == 0 && ll_commit_file(tmp, path) != 0) rc = -1;
    if (rc != 0) unlink(tmp);
    return rc;
}

/* Writes the tensors of the table from src into group, with checksums. */
static int write_group(hid_t group, const char *prefix, const gpt_model *m, const float *src, const char *path) {
    for (int i = 0; i < m->num_tensors; i++) {
        const gpt_tensor_info *t = &m->tensors[i];
        hsize_t dims[2] = {t->shape[0], t->ndim == 2 ? t->shape[1] : 0};
        char where[160];
        snprintf(where, sizeof where, "%s/%s", prefix, t->name);
        if (write_dataset(group, t->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, t->ndim, dims, src + t->offset, t->numel,
                          sizeof(float), where, path) != 0)
            return -1;
    }
    return 0;
}

/* The in-memory file's buffer, handed over by HDF5's core driver when the
 * file is closed (file image callbacks), so the image written is the one
 * HDF5 finalised at close (superblock, end address, checksums) and no copy
 * of it is made. With a kept buffer (ckpt_image), the core driver's first
 * allocation is that buffer when it is big enough, and the buffer at close
 * becomes the kept one. */
typedef struct {
    void *mem;        /* the buffer at close, owned by us from then on */
    size_t cap;       /* its allocated size (>= the file's end address) */
    ckpt_image *keep; /* NULL: no buffer is kept */
} image_capture;

/* The buffer for a file of size bytes grown from ptr (NULL: the first). */
static void *image_realloc(void *ptr, size_t size, H5FD_file_image_op_t op, void *udata) {
    (void)op;
    image_capture *c = udata;
    ckpt_image *k = c->keep;
    if (size == 0) size = 1;
    if (k && k->mem && (ptr == NULL || ptr == k->mem)) {
        if (size <= k->cap) {
            c->cap = k->cap;
            return k->mem;
        }
        /* outgrown: the kept buffer moves to the core driver, grown */
        void *p = ll_realloc_quiet(k->mem, size);
        if (!p) return NULL;
        k->mem = NULL;
        k->cap = 0;
        c->cap = size;
        return p;
    }
    /* a kept buffer is allocated 2 MiB-paged (faulted in once per run) */
    void *p = ptr == NULL && k ? ll_calloc_big_unstaggered_quiet(size) : ll_realloc_quiet(ptr, size);
    if (p) c->cap = size;
    return p;
}
static void *image_malloc(size_t size, H5FD_file_image_op_t op, void *udata) {
    return image_realloc(NULL, size, op, udata);
}
static void *image_memcpy(void *dest, const void *src, size_t size, H5FD_file_image_op_t op, void *udata) {
    (void)op; (void)udata;
    return memcpy(dest, src, size);
}
static herr_t image_free(void *ptr, H5FD_file_image_op_t op, void *udata) {
    image_capture *c = udata;
    if (op == H5FD_FILE_IMAGE_OP_FILE_CLOSE && ptr) c->mem = ptr;
    else if (!(c->keep && ptr == c->keep->mem)) free(ptr);
    return 0;
}
static void *image_udata_copy(void *udata) { return udata; }
static herr_t image_udata_free(void *udata) { (void)udata; return 0; }

/* The end-of-file address in a version 2 or 3 superblock at offset 0
 * (8-byte addresses, as this build writes): where the file ends. 0 when
 * the image does not hold such a superblock. */
static size_t image_end(const unsigned char *img, size_t cap) {
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    if (cap < 48 || memcmp(img, sig, 8) != 0 || (img[8] != 2 && img[8] != 3) || img[9] != 8) return 0;
    uint64_t end = 0;
    for (int i = 7; i >= 0; i--) end = end << 8 | img[28 + i];
    return end <= cap ? (size_t)end : 0;
}

void ckpt_image_release(ckpt_image *image) {
    free(image->mem);
    image->mem = NULL;
    image->cap = 0;
}

/* Takes back the image buffer after a save: it becomes the kept buffer, or
 * is freed when none is kept. */
static void image_done(image_capture *c) {
    ckpt_image *k = c->keep;
    if (!k) { free(c->mem); return; }
    if (c->mem && c->mem != k->mem) {
        free(k->mem);
        k->mem = c->mem;
        k->cap = c->cap;
    }
}

/* Writes model, optional moments and state to path atomically. 0 / -1; on
 * -1 no temporary file is left, no HDF5 object is left open, and an
 * earlier file at path is untouched. */
int ckpt_save(const char *path, const gpt_model *m, const float *adam_m, const float *adam_v,
              const ckpt_meta *meta) {
    return ckpt_save_timed(path, m, adam_m, adam_v, meta, NULL, NULL);
}

int ckpt_save_timed(const char *path, const gpt_model *m, const float *adam_m, const float *adam_v,
                    const ckpt_meta *meta, ckpt_image *reuse, ckpt_save_times *times) {
    double t_start = ll_now();
    if ((adam_m == NULL) != (adam_v == NULL)) {
        ll_error("%s: ckpt_save: both AdamW moments or neither", path);
        return -1;
    }
    if (check_table(m, path) != 0) return -1;
    char tmp[4200];
    if (ll_tmp_path(tmp, sizeof tmp, path) != 0) return -1;
    /* The file is built in memory (HDF5's core driver, no backing store)
     * and written by write_image: HDF5 1.10 cannot recover from a failed
     * write or close on disk (the file id stays half-closed and H5close
     * crashes at exit), so it must never see one. One allocation of about
     * the file's size: the tensors' bytes plus room for metadata.
     * 1.8 object headers and superblock v2: HDF5 checksums its own metadata. */
    size_t data_bytes = m->num_params * sizeof(float) * (adam_m ? 3 : 1);
    size_t increment = data_bytes + ((size_t)1 << 16) + (size_t)m->num_tensors * 3 * 1024;
    image_capture image = {NULL, 0, reuse};
    H5FD_file_image_callbacks_t callbacks = {image_malloc,     image_memcpy,     image_realloc, image_free,
                                             image_udata_copy, image_udata_free, &image};
    h5u_lock();   /* the image is built under the HDF5 lock (h5.h), written without it */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (fapl < 0 || fcpl < 0 || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0 || h5u_set_format(fapl, fcpl) < 0 ||
        H5Pset_fapl_core(fapl, increment, 0) < 0 || H5Pset_file_image_callbacks(fapl, &callbacks) < 0) {
        if (fapl >= 0) H5Pclose(fapl);
        if (fcpl >= 0) H5Pclose(fcpl);
        h5u_unlock();
        ll_error("%s: cannot set up HDF5 file access properties", path);
        return -1;
    }
    /* no times in the root header (byte-identical reruns), attributes compact */
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, fapl);
    H5Pclose(fapl);
    H5Pclose(fcpl);
    if (f < 0) {
        h5u_unlock();
        image_done(&image);
        ll_error("%s: cannot create an HDF5 file in memory (%zu bytes)", path, increment);
        return -1;
    }

    int rc = -1;
    hid_t model = -1, optim = -1, om = -1, ov = -1, state = -1;
    const gpt_config *c = &m->cfg;
    if (h5u_attr_write_str(f, "format", CKPT_FORMAT, tmp) != 0 ||
        h5u_attr_write_u64(f, "version", CKPT_VERSION, tmp) != 0 ||
        h5u_attr_write_u64(f, "n_layer", (uint64_t)c->n_layer, tmp) != 0 ||
        h5u_attr_write_u64(f, "n_head", (uint64_t)c->n_head, tmp) != 0 ||
        h5u_attr_write_u64(f, "n_embd", (uint64_t)c->n_embd, tmp) != 0 ||
        h5u_attr_write_u64(f, "block_size", (uint64_t)c->block_size, tmp) != 0 ||
        h5u_attr_write_u64(f, "vocab_size", (uint64_t)c->vocab_size, tmp) != 0 ||
        h5u_attr_write_u64(f, "step", meta->step, tmp) != 0 ||
        h5u_attr_write_str(f, "tokenizer", meta->tokenizer, tmp) != 0 ||
        h5u_attr_write_str(f, "config", meta->config, tmp) != 0 ||
        h5u_attr_write_str(f, "checksums", CKPT_CHECKSUMS, tmp) != 0)
        goto done;

    model = h5u_create_group(f, "model");
    if (model < 0) { ll_error("%s: cannot create /model", tmp); goto done; }
    if (write_group(model, "/model", m, m->params, tmp) != 0) goto done;

    if (adam_m) {
        optim = h5u_create_group(f, "optim");
        om = optim < 0 ? -1 : h5u_create_group(optim, "m");
        ov = optim < 0 ? -1 : h5u_create_group(optim, "v");
        if (om < 0 || ov < 0) { ll_error("%s: cannot create /optim", tmp); goto done; }
        if (write_group(om, "/optim/m", m, adam_m, tmp) != 0 || write_group(ov, "/optim/v", m, adam_v, tmp) != 0)
            goto done;
    }

    if (meta->tokenizer_json &&
        h5u_blob_write(f, CKPT_TOKENIZER_JSON, meta->tokenizer_json, meta->tokenizer_json_len, tmp) != 0)
        goto done;

    state = h5u_create_group(f, "state");
    if (state < 0) { ll_error("%s: cannot create /state", tmp); goto done; }
    const uint64_t values[4] = {meta->step, meta->tokens_seen, meta->loader.seed, meta->loader.position};
    for (int i = 0; i < 4; i++)
        if (write_u64_dataset(state, state_names[i], &values[i], 1, tmp) != 0) goto done;
    if (write_u64_dataset(state, "rng", meta->rng.s, 4, tmp) != 0) goto done;
    if (write_u64_dataset(state, "world_size", &meta->world_size, 1, tmp) != 0) goto done;
    rc = 0;
done:
    if (state >= 0) H5Gclose(state);
    if (ov >= 0) H5Gclose(ov);
    if (om >= 0) H5Gclose(om);
    if (optim >= 0) H5Gclose(optim);
    if (model >= 0) H5Gclose(model);
    /* in memory, closing cannot fail on a full disk; the buffer is ours after it */
    if (H5Fclose(f) < 0 && rc == 0) { ll_error("%s: closing the in-memory HDF5 file failed", path); rc = -1; }
    h5u_unlock();
    size_t size = image.mem ? image_end(image.mem, image.cap) : 0;
    if (rc == 0 && size == 0) { ll_error("%s: the in-memory HDF5 file has no valid superblock", path); rc = -1; }
    double t_built = ll_now();
    if (rc == 0) rc = write_image(path, tmp, image.mem, size, meta->step);
    image_done(&image);
    if (times) *times = (ckpt_save_times){t_built - t_start, ll_now() - t_built, size};
    return rc;
}

/* ---- peek / load ---- */

/* Reads and validates the root attributes and /state of an open file into
 * cfg and meta. 0 / -1. */
static int read_header(hid_t f, const char *path, gpt_config *cfg, ckpt_meta *meta) {
    char format[64];
    int has_format = 0;
    if (read_attr_str(f, "format", format, sizeof format, path, &has_format) != 0) return -1;
    if (!has_format || strcmp(format, CKPT_FORMAT) != 0) {
        ck_error("%s: not an llmpi checkpoint (format '%s', expected '%s')", path, has_format ? format : "",
                 CKPT_FORMAT);
        return -1;
    }
    uint64_t version = 0;
    if (read_attr_u64(f, "version", &version, path) != 0) return -1;
    if (version != CKPT_VERSION) {
        ck_error("%s: checkpoint version %llu, this build reads version %d", path, (unsigned long long)version,
                 CKPT_VERSION);
        return -1;
    }
    static const char *const shape_names[5] = {"n_layer", "n_head", "n_embd", "block_size", "vocab_size"};
    static const uint64_t shape_max[5] = {CKPT_MAX_LAYERS, CKPT_MAX_EMBD, CKPT_MAX_EMBD, CKPT_MAX_BLOCK,
                                          CKPT_MAX_VOCAB};
    uint64_t shape[5];
    for (int i = 0; i < 5; i++) {
        if (read_attr_u64(f, shape_names[i], &shape[i], path) != 0) return -1;
        if (shape[i] == 0 || shape[i] > shape_max[i] || (i == 4 && shape[i] < 2)) {
            ck_error("%s: %s = %llu out of range [%d, %llu]", path, shape_names[i], (unsigned long long)shape[i],
                     i == 4 ? 2 : 1, (unsigned long long)shape_max[i]);
            return -1;
        }
    }
    if (shape[2] % shape[1] != 0) {
        ck_error("%s: n_embd %llu not divisible by n_head %llu", path, (unsigned long long)shape[2],
                 (unsigned long long)shape[1]);
        return -1;
    }
    cfg->n_layer = (int)shape[0];
    cfg->n_head = (int)shape[1];
    cfg->n_embd = (int)shape[2];
    cfg->block_size = (int)shape[3];
    cfg->vocab_size = (int)shape[4];
    if (gpt_count_params(cfg) > GPT_MAX_PARAMS) {
        ck_error("%s: the model shape gives %.3g parameters, more than the %.3g this build accepts", path,
                 (double)gpt_count_params(cfg), (double)GPT_MAX_PARAMS);
        return -1;
    }

    memset(meta, 0, sizeof *meta);
    char checksums[32];
    int has_checksums = 0;
    if (read_attr_str(f, "checksums", checksums, sizeof checksums, path, &has_checksums) != 0) return -1;
    if (has_checksums && strcmp(checksums, CKPT_CHECKSUMS) != 0) {
        ck_error("%s: checksums of kind '%s', this build verifies '%s'", path, checksums, CKPT_CHECKSUMS);
        return -1;
    }
    meta->has_checksums = has_checksums;
    uint64_t root_step = 0;
    if (read_attr_u64(f, "step", &root_step, path) != 0 ||
        read_attr_str(f, "tokenizer", meta->tokenizer, sizeof meta->tokenizer, path, NULL) != 0 ||
        read_attr_str(f, "config", meta->config, sizeof meta->config, path, NULL) != 0)
        return -1;
    if (H5Lexists(f, "state", H5P_DEFAULT) <= 0) { ck_error("%s: missing group /state", path); return -1; }
    hid_t state = H5Gopen2(f, "state", H5P_DEFAULT);
    if (state < 0) { ck_error("%s: cannot open /state", path); return -1; }
    uint64_t values[4];
    int rc = 0;
    for (int i = 0; i < 4 && rc == 0; i++)
        rc = read_u64_dataset(state, state_names[i], &values[i], 1, has_checksums, path);
    if (rc == 0) rc = read_u64_dataset(state, "rng", meta->rng.s, 4, has_checksums, path);
    /* world_size: the rank count that wrote it (resuming elsewhere warns) */
    if (rc == 0 && H5Lexists(state, "world_size", H5P_DEFAULT) > 0)
        rc = read_u64_dataset(state, "world_size", &meta->world_size, 1, has_checksums, path);
    H5Gclose(state);
    if (rc != 0) return -1;
    if (values[0] != root_step) {
        ck_error("%s: /state/step %llu differs from the step attribute %llu", path, (unsigned long long)values[0],
                 (unsigned long long)root_step);
        return -1;
    }
    meta->step = values[0];
    meta->tokens_seen = values[1];
    meta->loader.seed = values[2];
    meta->loader.position = values[3];
    htri_t has_optim = H5Lexists(f, "optim", H5P_DEFAULT);
    meta->has_optim = has_optim > 0 && H5Lexists(f, "optim/m", H5P_DEFAULT) > 0 &&
                      H5Lexists(f, "optim/v", H5P_DEFAULT) > 0;
    if (has_optim > 0 && !meta->has_optim) { ck_error("%s: /optim lacks m or v", path); return -1; }
    return 0;
}

/* Reads the model shape and metadata only. 0 / -1. */
int ckpt_read_tokenizer_json(const char *path, char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    hid_t f = open_readonly(path);
    if (f < 0) return -1;
    int rc = h5u_blob_read(f, CKPT_TOKENIZER_JSON, CKPT_TOKENIZER_JSON_MAX, out, len, path);
    H5Fclose(f);
    return rc;
}

int ckpt_peek(const char *path, gpt_config *cfg, ckpt_meta *meta) {
    hid_t f = open_readonly(path);
    if (f < 0) return -1;
    int rc = read_header(f, path, cfg, meta);
    H5Fclose(f);
    return rc;
}

/* Checks group holds exactly n links (no tensor the model does not have). */
static int check_tensor_count(hid_t group, const char *prefix, int n, const char *path) {
    H5G_info_t info;
    if (H5Gget_info(group, &info) < 0) { ck_error("%s: %s: cannot list", path, prefix); return -1; }
    if (info.nlinks != (hsize_t)n) {
        ck_error("%s: %s holds %llu tensors, the model has %d", path, prefix, (unsigned long long)info.nlinks, n);
        return -1;
    }
    return 0;
}

/* Reads every tensor of the table from the group at gpath: into dst at the
 * table's offsets, or (dst NULL, scratch non-NULL) each into scratch to
 * verify it, or (both NULL) only checking names, types and shapes. */
static int read_group(hid_t f, const char *gpath, const gpt_model *m, float *dst, float *scratch, int checksums,
                      const char *path) {
    if (H5Lexists(f, gpath + 1, H5P_DEFAULT) <= 0) { ck_error("%s: missing group %s", path, gpath); return -1; }
    H5O_info_t oinfo;
    if (H5Oget_info_by_name(f, gpath, &oinfo, H5P_DEFAULT) < 0 || oinfo.type != H5O_TYPE_GROUP) {
        ck_error("%s: %s is not a group", path, gpath);
        return -1;
    }
    hid_t g = H5Gopen2(f, gpath, H5P_DEFAULT);
    if (g < 0) { ck_error("%s: cannot open %s", path, gpath); return -1; }
    int nonneg = strcmp(gpath, "/optim/v") == 0;  /* second moments are means of squares */
    /* Tensors by name first, so a missing one is named; then the count
     * catches tensors this model does not have. */
    int rc = 0;
    for (int i = 0; i < m->num_tensors && rc == 0; i++) {
        float *out = dst ? dst + m->tensors[i].offset : scratch;
        rc = read_tensor(g, gpath, &m->tensors[i], out, checksums, nonneg, path);
    }
    if (rc == 0) rc = check_tensor_count(g, gpath, m->num_tensors, path);
    H5Gclose(g);
    return rc;
}

/* See ckpt.h. */
int ckpt_load_ex(const char *path, gpt_model *m, float *adam_m, float *adam_v, ckpt_meta *meta,
                 int verify_checksums) {
    if (check_table(m, path) != 0) return -1;
    hid_t f = open_readonly(path);
    if (f < 0) return -1;
    gpt_config cfg;
    ckpt_meta local;
    ckpt_meta *mt = meta ? meta : &local;
    int rc = read_header(f, path, &cfg, mt);
    if (rc == 0 && memcmp(&cfg, &m->cfg, sizeof cfg) != 0) {
        ck_error("%s: checkpoint model L=%d H=%d C=%d T=%d V=%d, this model L=%d H=%d C=%d T=%d V=%d", path,
                 cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.block_size, cfg.vocab_size, m->cfg.n_layer,
                 m->cfg.n_head, m->cfg.n_embd, m->cfg.block_size, m->cfg.vocab_size);
        rc = -1;
    }
    int checksums = mt->has_checksums && verify_checksums;
    if (rc == 0) rc = read_group(f, "/model", m, m->params, NULL, checksums, path);
    if (rc == 0 && adam_m && adam_v && mt->has_optim) {
        rc = read_group(f, "/optim/m", m, adam_m, NULL, checksums, path);
        if (rc == 0) rc = read_group(f, "/optim/v", m, adam_v, NULL, checksums, path);
    }
    H5Fclose(f);
    return rc;
}

int ckpt_load(const char *path, gpt_model *m, float *adam_m, float *adam_v, ckpt_meta *meta) {
    return ckpt_load_ex(path, m, adam_m, adam_v, meta, 1);
}

/* See ckpt.h: the header, then every tensor of /model and /optim (names,
 * types, shapes; with read_data also checksums and values), through a
 * scratch model of the file's own shape whose parameters are never touched. */
int ckpt_verify(const char *path, int read_data, gpt_config *cfg_out, ckpt_meta *meta_out) {
    gpt_config cfg;
    ckpt_meta meta;
    hid_t f = open_readonly(path);
    if (f < 0) return -1;
    int rc = read_header(f, path, &cfg, &meta);
    gpt_model scratch;
    int have_model = 0;
    float *buf = NULL;
    if (rc == 0 && (rc = gpt_create(&scratch, &cfg)) == 0) have_model = 1;
    if (rc == 0 && read_data) {
        size_t largest = 0;
        for (int i = 0; i < scratch.num_tensors; i++)
            if (scratch.tensors[i].numel > largest) largest = scratch.tensors[i].numel;
        buf = ll_malloc(largest * sizeof(float));
        if (!buf) rc = -1;
    }
    if (rc == 0) rc = read_group(f, "/model", &scratch, NULL, buf, meta.has_checksums, path);
    if (rc == 0 && meta.has_optim) {
        rc = read_group(f, "/optim/m", &scratch, NULL, buf, meta.has_checksums, path);
        if (rc == 0) rc = read_group(f, "/optim/v", &scratch, NULL, buf, meta.has_checksums, path);
    }
    free(buf);
    if (have_model) gpt_free(&scratch);
    H5Fclose(f);
    if (rc == 0 && cfg_out) *cfg_out = cfg;
    if (rc == 0 && meta_out) *meta_out = meta;
    return rc;
}

/* Sums numel over the datasets under /model. 0 / -1. */
int ckpt_count_stored(const char *path, uint64_t *n_params, int *n_tensors) {
    hid_t f = open_readonly(path);
    if (f < 0) return -1;
    *n_params = 0;
    *n_tensors = 0;
    int rc = -1;
    hid_t g = H5Lexists(f, "model", H5P_DEFAULT) > 0 ? H5Gopen2(f, "model", H5P_DEFAULT) : -1;
    H5G_info_t info;
    if (g < 0 || H5Gget_info(g, &info) < 0) {
        ck_error("%s: cannot list /model", path);
        goto done;
    }
    for (hsize_t i = 0; i < info.nlinks; i++) {
        hid_t obj = H5Oopen_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, H5P_DEFAULT);
        int is_dataset = obj >= 0 && H5Iget_type(obj) == H5I_DATASET;
        hid_t space = is_dataset ? H5Dget_space(obj) : -1;
        hssize_t np = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
        if (space >= 0) H5Sclose(space);
        if (obj >= 0) H5Oclose(obj);
        if (np < 0) { ck_error("%s: /model entry %llu is not a dataset", path, (unsigned long long)i); goto done; }
        *n_params += (uint64_t)np;
        (*n_tensors)++;
    }
    rc = 0;
done:
    if (g >= 0) H5Gclose(g);
    H5Fclose(f);
    return rc;
}

/* ---- directory of checkpoints ---- */

int ckpt_step_path(const char *run_dir, uint64_t step, char *out, size_t cap) {
    int n = snprintf(out, cap, "%s/checkpoints/step-%08" PRIu64 ".h5", run_dir, step);
    if (n < 0 || (size_t)n >= cap) { ll_error("%s: checkpoint path too long", run_dir); return -1; }
    return 0;
}

/* Parses "step-<8+ digits>.h5" into *step; 0 when the name matches. */
static int parse_ckpt_name(const char *name, uint64_t *step) {
    if (strncmp(name, "step-", 5) != 0) return -1;
    const char *p = name + 5;
    size_t digits = 0;
    uint64_t v = 0;
    while (p[digits] >= '0' && p[digits] <= '9') {
        if (v > (UINT64_MAX - 9) / 10) return -1;
        v = v * 10 + (uint64_t)(p[digits] - '0');
        digits++;
    }
    if (digits < 8 || strcmp(p + digits, ".h5") != 0) return -1;
    *step = v;
    return 0;
}

typedef struct {
    uint64_t step;
    char name[256];
} ckpt_entry;

static int cmp_step_desc(const void *a, const void *b) {
    uint64_t x = ((const ckpt_entry *)a)->step, y = ((const ckpt_entry *)b)->step;
    return x < y ? 1 : x > y ? -1 : strcmp(((const ckpt_entry *)a)->name, ((const ckpt_entry *)b)->name);
}

/* Lists the checkpoint files in run_dir/checkpoints, newest first, into a
 * malloc'ed array (*list NULL and *n 0 if the directory does not exist).
 * Names are kept as found: step-0000000123.h5 and step-00000123.h5 are two
 * files, and the path built from a step alone could name neither. */
static int list_checkpoints(const char *run_dir, ckpt_entry **list, size_t *n) {
    *list = NULL;
    *n = 0;
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s/checkpoints", run_dir) >= (int)sizeof dir) {
        ll_error("%s: path too long", run_dir);
        return -1;
    }
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return 0;
        ll_error("%s: cannot list: %s", dir, strerror(errno));
        return -1;
    }
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint64_t step;
        if (parse_ckpt_name(e->d_name, &step) != 0 || strlen(e->d_name) >= sizeof((*list)->name)) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            ckpt_entry *grown = ll_realloc(*list, cap * sizeof *grown);
            if (!grown) { free(*list); *list = NULL; closedir(d); return -1; }
            *list = grown;
        }
        (*list)[*n].step = step;
        snprintf((*list)[*n].name, sizeof(*list)->name, "%s", e->d_name);
        (*n)++;
    }
    closedir(d);
    if (*n > 1) qsort(*list, *n, sizeof **list, cmp_step_desc);
    return 0;
}

/* Verifies path quietly: 0, or -1 with the reason in why (nothing printed). */
static int verify_quietly(const char *path, int read_data, gpt_config *cfg, ckpt_meta *meta, char *why,
                          size_t cap) {
    why[0] = '\0';
    ck_sink = why;
    ck_sink_cap = cap;
    int rc = ckpt_verify(path, read_data, cfg, meta);
    ck_sink = NULL;
    if (rc != 0 && why[0] == '\0' && snprintf(why, cap, "%s: unreadable", path) < 0) why[0] = '\0';
    return rc;
}

/* Newest checkpoint that verifies as a whole and holds /optim (what a run
 * resumes from); out = "" if none. Each newer
 * file that does not is skipped with one warning line giving the reason.
 * 0 / -1 (unlistable directory). */
int ckpt_find_latest(const char *run_dir, int read_data, char *out, size_t cap) {
    if (cap) out[0] = '\0';
    ckpt_entry *list;
    size_t n;
    if (list_checkpoints(run_dir, &list, &n) != 0) return -1;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4400], why[4600];
        if (snprintf(path, sizeof path, "%s/checkpoints/%s", run_dir, list[i].name) >= (int)sizeof path) {
            ll_error("%s: checkpoint path too long", run_dir);
            rc = -1;
            break;
        }
        gpt_config cfg;
        ckpt_meta meta;
        unsigned long oom = ll_alloc_failures();
        int verified = verify_quietly(path, read_data, &cfg, &meta, why, sizeof why);
        /* out of memory says nothing about the file: never skip a good one for it */
        if (verified != 0 && ll_alloc_failures() != oom) { rc = -1; break; }   /* already printed */
        if (verified == 0) {
            if (meta.step != list[i].step) {
                if (snprintf(why, sizeof why, "%s: holds step %llu, not the step its name says", path,
                             (unsigned long long)meta.step) < 0)
                    why[0] = '\0';
            } else if (!meta.has_optim) {
                if (snprintf(why, sizeof why, "%s: holds no optimizer state (/optim), a run cannot resume from it",
                             path) < 0)
                    why[0] = '\0';
            } else {
                if (strlen(path) >= cap) { ll_error("%s: path too long for the caller's buffer", path); rc = -1; }
                else memcpy(out, path, strlen(path) + 1);
                break;
            }
        }
        /* the reason starts with the path: "<path>: <problem>" */
        ll_warn("%s; skipped, trying an older checkpoint", why);
    }
    free(list);
    return rc;
}

/* Deletes older checkpoints beyond the newest keep (keep > 0): only files
 * that verify (header and every tensor's name, type and shape; no data
 * read), hold the step their name says, and have the model shape and
 * tokenizer of the newest such file, which is the reference and always
 * kept. Files that do not verify are left alone and not counted. 0 / -1. */
static int prune_locked(const char *run_dir, int keep);

int ckpt_prune(const char *run_dir, int keep) {
    if (keep <= 0) { ll_error("ckpt.c: ckpt_prune: keep must be > 0, got %d", keep); return -1; }
    h5u_lock();   /* opens files with HDF5: the trainer's reads may run meanwhile */
    int rc = prune_locked(run_dir, keep);
    h5u_unlock();
    return rc;
}

static int prune_locked(const char *run_dir, int keep) {
    ckpt_entry *list;
    size_t n;
    if (list_checkpoints(run_dir, &list, &n) != 0) return -1;
    int rc = 0, kept = 0;
    gpt_config ref_cfg;
    ckpt_meta ref_meta;
    for (size_t i = 0; i < n; i++) {
        char path[4400], why[4600];
        if (snprintf(path, sizeof path, "%s/checkpoints/%s", run_dir, list[i].name) >= (int)sizeof path) continue;
        gpt_config cfg;
        ckpt_meta meta;
        unsigned long oom = ll_alloc_failures();
        int verified = verify_quietly(path, 0, &cfg, &meta, why, sizeof why);
        if (verified != 0 && ll_alloc_failures() != oom) { rc = -1; break; }   /* already printed */
        if (verified != 0 || meta.step != list[i].step) continue;
        if (kept == 0) {
            ref_cfg = cfg;
            ref_meta = meta;
        } else if (memcmp(&cfg, &ref_cfg, sizeof cfg) != 0 || strcmp(meta.tokenizer, ref_meta.tokenizer) != 0 ||
                   meta.step >= ref_meta.step) {
            continue;   /* not provably an older checkpoint of this run */
        }
        if (kept++ < keep) continue;
        if (unlink(path) != 0 && errno != ENOENT) {
            ll_error("%s: cannot delete old checkpoint: %s", path, strerror(errno));
            rc = -1;
            break;
        }
    }
    free(list);
    return rc;
}

/* h5.c: small HDF5 helpers shared by the file formats (token store,
 * checkpoints, later the SFT store); contracts in include/llmpi/h5.h.
 *
 * Invariants:
 *   - every helper closes every HDF5 id it opened, on success and on failure;
 *   - on failure a helper has printed one line naming the file and the
 *     attribute (the callers add nothing), except h5u_create_group, whose
 *     callers name the group themselves;
 *   - nothing written here carries a modification time, so the same content
 *     gives the same bytes.
 */
#include "llmpi/h5.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llmpi/crc32c.h"
#include "llmpi/util.h"

static pthread_mutex_t g_h5_lock = PTHREAD_MUTEX_INITIALIZER;
void h5u_lock(void) { pthread_mutex_lock(&g_h5_lock); }
void h5u_unlock(void) { pthread_mutex_unlock(&g_h5_lock); }

/* Turns off HDF5's own error-stack printing for the whole process. */
void h5u_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* ---- structural check before HDF5 reads a file ----
 * libhdf5 1.10 trusts the sizes inside an object header: an attribute
 * message whose dataspace or name claims more bytes than the message holds
 * makes H5Aexists / H5Aopen / H5Aiterate copy past the header's buffer
 * (heap overflow, SIGSEGV). The check below reads the superblock and the
 * root group's object header with plain reads and refuses any size that
 * does not fit, so such a file never reaches those calls. It covers
 * superblock versions 0-3 with 8-byte addresses and object headers v1 and
 * v2 (v2 headers also carry checksums HDF5 verifies). */

#define H5U_CHECK_MAX_CHUNKS 64           /* object header chunks followed */
#define H5U_CHECK_MAX_CHUNK ((uint64_t)1 << 20)

typedef struct {
    int fd;
    uint64_t size;     /* bytes in the file */
    uint64_t base;     /* base address: every address is relative to it */
    const char *path;
} h5u_file;

/* Little-endian unsigned integer of n <= 8 bytes. */
static uint64_t le(const unsigned char *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = v << 8 | p[i];
    return v;
}

/* Reads n bytes at absolute offset at; 0, or -1 if the file is shorter. */
static int read_at(const h5u_file *f, uint64_t at, void *buf, size_t n) {
    if (at > f->size || n > f->size - at) return -1;
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(f->fd, (char *)buf + got, n - got, (off_t)(at + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

/* Checks one attribute message body (len bytes): the header's name,
 * datatype and dataspace sizes and the data they imply all fit. 0 / -1. */
static int check_attribute(const unsigned char *m, size_t len) {
    if (len < 8) return -1;
    unsigned version = m[0], flags = m[1];
    uint64_t ns = le(m + 2, 2), ts = le(m + 4, 2), ss = le(m + 6, 2);
    uint64_t head = version == 3 ? 9 : 8;
    if (version < 1 || version > 3 || ns == 0 || ts == 0 || ss == 0 || len < head) return -1;
    /* version 1 pads each part to 8 bytes */
    uint64_t pns = version == 1 ? (ns + 7) / 8 * 8 : ns, pts = version == 1 ? (ts + 7) / 8 * 8 : ts,
             pss = version == 1 ? (ss + 7) / 8 * 8 : ss;
    if (head + pns + pts + pss > len) return -1;
    const unsigned char *name = m + head, *type = name + pns, *space = type + pts;
    if (memchr(name, '\0', ns) == NULL) return -1;
    if (version >= 2 && (flags & 3)) return 0;   /* shared type or space: a reference, sized above */
    if (ts < 8) return -1;
    uint64_t elem = le(type + 4, 4);
    /* dataspace: version 1 (rank, flags, 5 reserved) or 2 (rank, flags, kind) */
    if (ss < 4) return -1;
    unsigned sversion = space[0], rank = space[1], sflags = space[2];
    uint64_t dims_at = sversion == 1 ? 8 : 4, npoints = 1;
    if ((sversion != 1 && sversion != 2) || rank > 32) return -1;
    if (sversion == 2 && space[3] == 2) npoints = 0;   /* null dataspace */
    uint64_t need = dims_at + (uint64_t)rank * 8 * ((sflags & 1) ? 2 : 1);
    if (need > ss) return -1;
    for (unsigned r = 0; r < rank && npoints; r++) {
        uint64_t d = le(space + dims_at + 8 * r, 8);
        if (d != 0 && npoints > UINT64_MAX / d) return -1;
        npoints *= d;
    }
    uint64_t data = len - (head + pns + pts + pss);
    if (elem != 0 && npoints > data / elem) return -1;
    return 0;
}

/* Walks the messages of one object header chunk, queueing continuation
 * chunks. v2: 1-byte types, optional creation order; v1: 8-byte aligned.
 * 0 / -1 (what is wrong in *why). */
static int check_messages(const unsigned char *c, size_t n, int v2, int creation_order, uint64_t *cont,
                          uint64_t *cont_len, int *n_cont, const char **why) {
    size_t p = 0, hdr = v2 ? 4 + (creation_order ? 2 : 0) : 8;
    while (p + hdr <= n) {
        unsigned type = v2 ? c[p] : (unsigned)le(c + p, 2);
        uint64_t len = le(c + p + (v2 ? 1 : 2), 2);
        p += hdr;
        if (len > n - p) { *why = "object header message larger than its chunk"; return -1; }
        const unsigned char *m = c + p;
        if (type == 0x10) {   /* continuation: address, length */
            if (len < 16) { *why = "short continuation message"; return -1; }
            if (*n_cont >= H5U_CHECK_MAX_CHUNKS) { *why = "too many object header chunks"; return -1; }
            cont[*n_cont] = le(m, 8);
            cont_len[*n_cont] = le(m + 8, 8);
            (*n_cont)++;
        } else if (type == 0x0C && check_attribute(m, (size_t)len) != 0) {
            *why = "attribute message with sizes that do not fit";
            return -1;
        }
        p += (size_t)len;
        if (!v2) p = (p + 7) / 8 * 8;
    }
    return 0;
}

/* Checks the object header at relative address addr (v1 or v2, with its
 * continuation chunks). 0 / -1 (*why set). */
static int check_object_header(const h5u_file *f, uint64_t addr, const char **why) {
    uint64_t cont[H5U_CHECK_MAX_CHUNKS], cont_len[H5U_CHECK_MAX_CHUNKS];
    int n_cont = 0, done = 0;
    unsigned char head[32];
    uint64_t at = f->base + addr, chunk_at, chunk_len;
    int v2, creation_order = 0;
    if (addr > f->size || read_at(f, at, head, 16) != 0) { *why = "root object header outside the file"; return -1; }
    if (!memcmp(head, "OHDR", 4)) {
        unsigned flags = head[5];
        if (head[4] != 2) { *why = "unknown object header version"; return -1; }
        size_t p = 6 + ((flags & 0x20) ? 16 : 0) + ((flags & 0x10) ? 4 : 0), w = (size_t)1 << (flags & 3);
        if (read_at(f, at, head, p + w) != 0) { *why = "object header outside the file"; return -1; }
        chunk_at = at + p + w;
        chunk_len = le(head + p, w);
        if (chunk_len < 4) { *why = "object header chunk too small"; return -1; }
        v2 = 1;
        creation_order = (flags & 0x04) != 0;
    } else if (head[0] == 1) {
        chunk_at = at + 16;
        chunk_len = le(head + 8, 4);
        v2 = 0;
    } else {
        *why = "unknown object header version";
        return -1;
    }
    for (;;) {
        if (chunk_len > H5U_CHECK_MAX_CHUNK || chunk_at > f->size || chunk_len > f->size - chunk_at) {
            *why = "object header chunk outside the file";
            return -1;
        }
        unsigned char *buf = ll_malloc(chunk_len ? (size_t)chunk_len : 1);
        if (!buf) { *why = "out of memory"; return -1; }   /* printed; not the file's fault */
        int rc = read_at(f, chunk_at, buf, (size_t)chunk_len);
        if (rc != 0) *why = "object header chunk outside the file";
        else rc = check_messages(buf, (size_t)chunk_len, v2, creation_order, cont, cont_len, &n_cont, why);
        free(buf);
        if (rc != 0) return -1;
        if (done == n_cont) return 0;
        /* the next continuation chunk: v2 ones start with "OCHK" and end with a checksum */
        uint64_t a = cont[done], l = cont_len[done];
        done++;
        if (a > f->size || f->base + a > f->size) { *why = "object header continuation outside the file"; return -1; }
        if (v2) {
            if (l < 8) { *why = "object header continuation too small"; return -1; }
            unsigned char sig[4];
            if (read_at(f, f->base + a, sig, 4) != 0 || memcmp(sig, "OCHK", 4) != 0) {
                *why = "object header continuation without its signature";
                return -1;
            }
            chunk_at = f->base + a + 4;
            chunk_len = l - 8;
        } else {
            if (l == 0) { *why = "empty object header continuation"; return -1; }
            chunk_at = f->base + a;
            chunk_len = l;
        }
    }
}

/* Validates the superblock and the root object header (see above). 0, or
 * -1 with the problem (naming path) in msg[0..cap), nothing printed. */
int h5u_check_file_why(const char *path, char *msg, size_t cap) {
    h5u_file f = {.fd = -1, .path = path};
    const char *why = NULL;
    f.fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (f.fd < 0) { snprintf(msg, cap, "%s: cannot read: %s", path, strerror(errno)); return -1; }
    struct stat st;
    if (fstat(f.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(msg, cap, "%s: not a regular file", path);
        close(f.fd);
        return -1;
    }
    f.size = (uint64_t)st.st_size;
    /* the superblock is at 0 or, after a user block, at 512, 1024, 2048, ... */
    static const unsigned char signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    unsigned char sb[96];
    uint64_t at = 0;
    int found = 0;
    for (; at + 8 <= f.size; at = at ? 2 * at : 512) {
        if (read_at(&f, at, sb, 8) != 0) break;
        if (!memcmp(sb, signature, 8)) { found = 1; break; }
    }
    uint64_t eof = 0, root = 0;
    if (!found) {
        why = "not an HDF5 file (no signature)";
    } else if (read_at(&f, at, sb, 9) != 0) {
        why = "truncated superblock";
    } else if (sb[8] <= 1) {
        size_t off = sb[8] == 1 ? 28 : 24;
        if (read_at(&f, at, sb, off + 48) != 0) why = "truncated superblock";
        else if (sb[13] != 8 || sb[14] != 8) why = "addresses or lengths not 8 bytes wide (not an llmpi file)";
        else {
            f.base = le(sb + off, 8);
            eof = le(sb + off + 16, 8);
            root = le(sb + off + 32 + 8, 8);   /* root symbol table entry: name offset, header address */
        }
    } else if (sb[8] <= 3) {
        if (read_at(&f, at, sb, 48) != 0) why = "truncated superblock";
        else if (sb[9] != 8 || sb[10] != 8) why = "addresses or lengths not 8 bytes wide (not an llmpi file)";
        else {
            f.base = le(sb + 12, 8);
            eof = le(sb + 28, 8);
            root = le(sb + 36, 8);
        }
    } else {
        why = "unknown superblock version";
    }
    if (!why && (f.base > f.size || eof > f.size - f.base)) {
        snprintf(msg, cap, "%s: truncated: %llu bytes, the HDF5 superblock says %llu", path, (unsigned long long)f.size,
                 (unsigned long long)(f.base <= UINT64_MAX - eof ? f.base + eof : UINT64_MAX));
        close(f.fd);
        return -1;
    }
    if (!why) check_object_header(&f, root, &why);
    close(f.fd);
    if (why && !strcmp(why, "out of memory")) { msg[0] = '\0'; return -1; }   /* ll_malloc said so */
    if (why) { snprintf(msg, cap, "%s: damaged HDF5 file: %s", path, why); return -1; }
    return 0;
}

/* h5u_check_file_why, printing the problem as one line. */
int h5u_check_file(const char *path) {
    char msg[1400];
    if (h5u_check_file_why(path, msg, sizeof msg) == 0) return 0;
    if (msg[0]) ll_error("%s", msg);
    return -1;
}

/* Checks path (h5u_check_file) and opens it read-only with every object
 * closed on H5Fclose. The id, or -1 with one line. */
int64_t h5u_open_readonly(const char *path) {
    if (access(path, R_OK) != 0) { ll_error("%s: cannot read: %s", path, strerror(errno)); return -1; }
    if (h5u_check_file(path) != 0) return -1;
    if (H5Fis_hdf5(path) <= 0) { ll_error("%s: not an HDF5 file (or truncated)", path); return -1; }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0) H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl >= 0 ? fapl : H5P_DEFAULT);
    if (fapl >= 0) H5Pclose(fapl);
    if (f < 0) ll_error("%s: cannot open as HDF5 (truncated or damaged?)", path);
    return f;
}

/* Closes an HDF5 file; 0, or -1 when HDF5 could not flush it (a write
 * failure the caller reports). */
int h5u_close_file(int64_t file) {
    herr_t rc = H5Fclose(file);
    return rc < 0 || ll_fault_hit(LL_FAULT_WRITE) ? -1 : 0;
}

/* Reads the root "format" attribute of the HDF5 file at path into out
 * ("" when the file has none). 0, or -1 with one line: unreadable, not
 * HDF5, damaged, or a format attribute that is not a short string. */
int h5u_file_format(const char *path, char *out, size_t cap) {
    hid_t f = h5u_open_readonly(path);
    if (f < 0) return -1;
    int exists = 0;
    int rc = h5u_attr_read_str(f, "format", out, cap, path, &exists);
    H5Fclose(f);
    return rc;
}

/* Writes a scalar fixed-length NUL-terminated string attribute; 0 / -1. */
int h5u_attr_write_str(int64_t loc, const char *name, const char *value, const char *path) {
    hid_t type = H5Tcopy(H5T_C_S1);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = -1;
    int rc = -1;
    if (type < 0 || space < 0) goto done;
    if (H5Tset_size(type, strlen(value) + 1) < 0 || H5Tset_strpad(type, H5T_STR_NULLTERM) < 0)
        goto done;
    attr = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attr < 0 || H5Awrite(attr, type, value) < 0) goto done;
    rc = 0;
done:
    if (rc != 0) ll_error("%s: attribute %s: cannot write", path, name);
    if (attr >= 0) H5Aclose(attr);
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    return rc;
}

/* Writes a scalar little-endian uint64 attribute; 0 / -1. */
int h5u_attr_write_u64(int64_t loc, const char *name, uint64_t value, const char *path) {
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = space < 0 ? -1 : H5Acreate2(loc, name, H5T_STD_U64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = (attr >= 0 && H5Awrite(attr, H5T_NATIVE_UINT64, &value) >= 0) ? 0 : -1;
    if (rc != 0) ll_error("%s: attribute %s: cannot write", path, name);
    if (attr >= 0) H5Aclose(attr);
    if (space >= 0) H5Sclose(space);
    return rc;
}

/* Opens attribute name on loc, requiring one element. Returns the attribute
 * id, 0 if absent and absent_ok, or -1 (one line printed). One lookup, no
 * H5Aexists: a name HDF5 cannot open counts as absent. */
static hid_t open_single_attr(hid_t loc, const char *name, const char *path, int absent_ok) {
    hid_t attr = H5Aopen(loc, name, H5P_DEFAULT);
    if (attr < 0) {
        if (absent_ok) return 0;
        ll_error("%s: attribute %s: missing or unreadable", path, name);
        return -1;
    }
    hid_t space = H5Aget_space(attr);
    hssize_t npoints = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
    if (space >= 0) H5Sclose(space);
    if (npoints != 1) {
        ll_error("%s: attribute %s: expected a single value, found %lld", path, name, (long long)npoints);
        H5Aclose(attr);
        return -1;
    }
    return attr;
}

/* Reads a string attribute into out (cap bytes, NUL-terminated). With exists
 * non-NULL an absent attribute is not an error (*exists = 0). 0 / -1. */
int h5u_attr_read_str(int64_t loc, const char *name, char *out, size_t cap, const char *path,
                        int *exists) {
    if (exists) *exists = 0;
    hid_t attr = open_single_attr(loc, name, path, exists != NULL);
    if (attr < 0) return -1;
    if (attr == 0) { if (cap) out[0] = '\0'; return 0; }
    int rc = -1;
    hid_t ftype = H5Aget_type(attr), mtype = -1;
    if (ftype < 0 || H5Tget_class(ftype) != H5T_STRING) {
        ll_error("%s: attribute %s: expected a string", path, name);
        goto done;
    }
    mtype = H5Tcopy(H5T_C_S1);
    if (mtype < 0) goto io_error;
    if (H5Tis_variable_str(ftype) > 0) {
        char *s = NULL;
        if (H5Tset_size(mtype, H5T_VARIABLE) < 0 || H5Aread(attr, mtype, &s) < 0) goto io_error;
        size_t len = s ? strlen(s) : 0;
        if (len >= cap) {
            ll_error("%s: attribute %s: %zu bytes, longer than the %zu allowed", path, name, len, cap - 1);
            H5free_memory(s);
            goto done;
        }
        memcpy(out, s ? s : "", len + 1);
        H5free_memory(s);
    } else {
        size_t size = H5Tget_size(ftype);
        if (size == 0 || size > (size_t)1 << 20) {
            ll_error("%s: attribute %s: implausible string size %zu", path, name, size);
            goto done;
        }
        /* One byte more than stored so HDF5 always NUL-terminates, whatever
         * the stored padding. */
        char *buf = ll_malloc(size + 1);
        if (!buf) goto done;
        if (H5Tset_size(mtype, size + 1) < 0 || H5Tset_strpad(mtype, H5T_STR_NULLTERM) < 0 ||
            H5Aread(attr, mtype, buf) < 0) {
            free(buf);
            goto io_error;
        }
        buf[size] = '\0';
        size_t len = strlen(buf);
        if (len >= cap) {
            ll_error("%s: attribute %s: %zu bytes, longer than the %zu allowed", path, name, len, cap - 1);
            free(buf);
            goto done;
        }
        memcpy(out, buf, len + 1);
        free(buf);
    }
    if (exists) *exists = 1;
    rc = 0;
    goto done;
io_error:
    ll_error("%s: attribute %s: cannot read", path, name);
done:
    if (mtype >= 0) H5Tclose(mtype);
    if (ftype >= 0) H5Tclose(ftype);
    H5Aclose(attr);
    return rc;
}

/* Reads an integer attribute (any width/sign; negative refused). 0 / -1. */
int h5u_attr_read_u64(int64_t loc, const char *name, uint64_t *out, const char *path) {
    hid_t attr = open_single_attr(loc, name, path, 0);
    if (attr < 0) return -1;
    int rc = -1;
    hid_t ftype = H5Aget_type(attr);
    if (ftype < 0 || H5Tget_class(ftype) != H5T_INTEGER) {
        ll_error("%s: attribute %s: expected an integer", path, name);
    } else if (H5Tget_sign(ftype) == H5T_SGN_2) {
        int64_t v = 0;
        if (H5Aread(attr, H5T_NATIVE_INT64, &v) < 0) ll_error("%s: attribute %s: cannot read", path, name);
        else if (v < 0) ll_error("%s: attribute %s: negative value %lld", path, name, (long long)v);
        else { *out = (uint64_t)v; rc = 0; }
    } else {
        if (H5Aread(attr, H5T_NATIVE_UINT64, out) < 0) ll_error("%s: attribute %s: cannot read", path, name);
        else rc = 0;
    }
    if (ftype >= 0) H5Tclose(ftype);
    H5Aclose(attr);
    return rc;
}

/* HDF5 1.8 format bounds on fapl (superblock v2 and object headers v2,
 * both checksummed by HDF5) and, on fcpl, room for H5U_COMPACT_ATTRS
 * attributes in the root object header before HDF5 moves them to dense
 * storage (which h5u_check_file cannot see into), and no modification times
 * in the root group's header. 0 / -1 (nothing printed). */
int h5u_set_format(int64_t fapl, int64_t fcpl) {
    if (fapl >= 0 && H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18) < 0) return -1;
    /* the root group's header would carry modification times: off, for byte-identical reruns */
    if (fcpl >= 0 && (H5Pset_attr_phase_change(fcpl, H5U_COMPACT_ATTRS, H5U_COMPACT_ATTRS - 8) < 0 ||
                      H5Pset_obj_track_times(fcpl, 0) < 0))
        return -1;
    return 0;
}

/* Creates a group without modification times (they would make two runs
 * on the same input differ byte-wise). Returns the id or -1 (no line printed). */
int64_t h5u_create_group(int64_t loc, const char *name) {
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    if (gcpl < 0) return -1;
    hid_t g = H5Pset_obj_track_times(gcpl, 0) < 0 ? -1 : H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    return g;
}

int h5u_blob_write(int64_t loc, const char *name, const void *data, size_t n, const char *path) {
    hsize_t dim = n;
    hid_t space = H5Screate_simple(1, &dim, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t d = -1;
    if (space >= 0 && dcpl >= 0 && H5Pset_obj_track_times(dcpl, 0) >= 0)
        d = H5Dcreate2(loc, name, H5T_STD_U8LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (dcpl >= 0) H5Pclose(dcpl);
    int rc = d >= 0 && (n == 0 || H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0) ? 0 : -1;
    if (rc != 0) ll_error("%s: %s: cannot write (disk full?)", path, name);
    else rc = h5u_attr_write_u64(d, "crc32c", ll_crc32c(0, data, n), path);
    if (d >= 0) H5Dclose(d);
    if (space >= 0) H5Sclose(space);
    return rc;
}

int h5u_blob_read(int64_t loc, const char *name, size_t max, char **out, size_t *n, const char *path) {
    *out = NULL;
    *n = 0;
    htri_t has = H5Lexists(loc, name, H5P_DEFAULT);
    if (has < 0) { ll_error("%s: %s: cannot look it up (damaged file?)", path, name); return -1; }
    if (has == 0) return 0;
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    hid_t space = d < 0 ? -1 : H5Dget_space(d);
    hid_t type = d < 0 ? -1 : H5Dget_type(d);
    char *buf = NULL;
    int rc = -1;
    hssize_t count = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
    char where[300];
    snprintf(where, sizeof where, "%s: %s", path, name);
    if (d < 0 || space < 0 || type < 0 || H5Sget_simple_extent_ndims(space) != 1 || H5Tget_class(type) != H5T_INTEGER ||
        H5Tget_size(type) != 1 || count < 0) {
        ll_error("%s: expected a 1-D dataset of bytes", where);
    } else if ((uint64_t)count > max) {
        ll_error("%s: %lld bytes, more than the %zu allowed", where, (long long)count, max);
    } else if ((buf = ll_malloc((size_t)count + 1)) != NULL) {
        uint64_t stored = 0;
        if (count > 0 && H5Dread(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
            ll_error("%s: cannot read (damaged file?)", where);
        } else if (h5u_attr_read_u64(d, "crc32c", &stored, where) == 0) {
            uint32_t actual = ll_crc32c(0, buf, (size_t)count);
            if (stored != actual) {
                ll_error("%s: checksum mismatch (stored %08llx, data %08x): the file is damaged", where,
                         (unsigned long long)stored, actual);
            } else {
                buf[count] = '\0';
                *out = buf;
                *n = (size_t)count;
                buf = NULL;
                rc = 0;
            }
        }
    }
    free(buf);
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    if (d >= 0) H5Dclose(d);
    return rc;
}

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
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llmpi/util.h"

/* Turns off HDF5's own error-stack printing for the whole process. */
void h5u_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

int h5u_close_file(int64_t file) {
    herr_t rc = H5Fclose(file);
    return rc < 0 || ll_fault_hit(LL_FAULT_WRITE) ? -1 : 0;
}

/* Reads the root "format" attribute of the HDF5 file at path into out
 * ("" when the file has none). 0, or -1 with one line: unreadable, not
 * HDF5, damaged, or a format attribute that is not a short string. */
int h5u_file_format(const char *path, char *out, size_t cap) {
    if (access(path, R_OK) != 0) { ll_error("%s: cannot read: %s", path, strerror(errno)); return -1; }
    if (H5Fis_hdf5(path) <= 0) { ll_error("%s: not an HDF5 file", path); return -1; }
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) { ll_error("%s: cannot open as HDF5 (truncated or damaged?)", path); return -1; }
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
 * id, 0 if absent and absent_ok, or -1 (one line printed). */
static hid_t open_single_attr(hid_t loc, const char *name, const char *path, int absent_ok) {
    htri_t exists = H5Aexists(loc, name);
    if (exists < 0) { ll_error("%s: attribute %s: cannot query", path, name); return -1; }
    if (!exists) {
        if (absent_ok) return 0;
        ll_error("%s: attribute %s: missing", path, name);
        return -1;
    }
    hid_t attr = H5Aopen(loc, name, H5P_DEFAULT);
    if (attr < 0) { ll_error("%s: attribute %s: cannot open", path, name); return -1; }
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

/* Creates a group without modification times (they would make two runs
 * on the same input differ byte-wise). Returns the id or -1 (no line printed). */
int64_t h5u_create_group(int64_t loc, const char *name) {
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    if (gcpl < 0) return -1;
    hid_t g = H5Pset_obj_track_times(gcpl, 0) < 0 ? -1 : H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    return g;
}

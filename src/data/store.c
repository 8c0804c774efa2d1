/* store.c: the HDF5 token store (layout and rules in include/llmpi/store.h).
 *
 * Invariants the reader enforces before anyone touches the data:
 *   - root attribute format == STORE_FORMAT, version == STORE_VERSION;
 *   - 0 < vocab_size <= INT32_MAX (ids are int32 in memory), eot_id < vocab_size;
 *   - /<split>/tokens is 1-D unsigned, 2 bytes when vocab_size <= 65536 else 4,
 *     with exactly n_tokens_<split> elements;
 *   - /<split>/doc_offsets is 1-D unsigned 8-byte with n_docs_<split> elements,
 *     starts at 0, strictly increasing, every offset < n_tokens (no empty
 *     document; a split has no documents iff it has no tokens).
 * Token values are checked against vocab_size on every store_read, so a
 * corrupt id can never reach an embedding lookup.
 *
 * The writer buffers one chunk per split and writes whole chunks, so every
 * chunk is written once. Datasets are created at the first flush: a store that
 * never fills a chunk gets chunks sized to its data instead of 1M elements.
 * Output goes to "<out>.tmp.<pid>" and is renamed into place only when
 * complete. Objects are created without modification times, so the same
 * input gives a byte-identical file.
 *
 * The parallel writer knows every size before the first token: its datasets
 * are contiguous and fixed-size, allocated at creation, never filled, so each
 * rank writes its ranges once and where they belong, whatever the rank count.
 *
 * The raw map (for store_read_raw) is built only from what HDF5 reports
 * about the file (layout, filters, byte order, chunk addresses) and checked
 * against the file's size, so a damaged file can only make raw reads fail,
 * never read outside the file.
 */
#include "llmpi/store.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "llmpi/comm.h"
#include "llmpi/crc32c.h"
#include "llmpi/h5.h"
#include "llmpi/util.h"

#define STORE_TOKEN_CHUNK ((size_t)1 << 20)   /* elements per tokens chunk */
#define STORE_OFFSET_CHUNK ((size_t)1 << 16)  /* elements per doc_offsets chunk */
/* Training reads random windows of a few KB: caching a whole 2-4 MB chunk for
 * each would read ~1000x more than needed. A cache smaller than one full
 * chunk makes HDF5 read only the selected bytes of uncompressed chunks. */
#define STORE_CHUNK_CACHE_BYTES ((size_t)1 << 20)
#define STORE_CHUNK_CACHE_SLOTS 521
#define STORE_BYTES_VOCAB 257                 /* the byte tokenizer: 256 bytes + eot */
#define STORE_VALIDATE_BLOCK ((size_t)1 << 16) /* offsets checked per read at open */

static const char *const split_name[2] = {"train", "val"};
static const char *const dataset_name[2] = {"tokens", "doc_offsets"};

/* ---- content checksums ----
 * A store with the root attribute checksums = STORE_CHECKSUM_KIND carries,
 * on each of its four datasets, the attribute "crc32c": the CRC-32C of the
 * dataset's elements as little-endian bytes of the stored width, in index
 * order (independent of chunking and layout). Stores written before that
 * have neither attribute and still open (nothing to verify). */

/* Extends crc over count elements of width bytes in host order, hashed as
 * little-endian. */
static uint32_t crc_le(uint32_t crc, const void *buf, size_t count, size_t width) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return ll_crc32c(crc, buf, count * width);
#else
    const unsigned char *p = buf;
    for (size_t i = 0; i < count; i++, p += width) {
        unsigned char le[8];
        for (size_t b = 0; b < width; b++) le[b] = p[width - 1 - b];
        crc = ll_crc32c(crc, le, width);
    }
    return crc;
#endif
}

/* The native memory type of an unsigned element of width bytes. */
static hid_t native_type(size_t width) {
    return width == 2 ? H5T_NATIVE_UINT16 : width == 4 ? H5T_NATIVE_UINT32 : H5T_NATIVE_UINT64;
}

/* CRC-32C of the n elements (width bytes each) of 1-D dataset d, read in
 * blocks. 0 / -1 (one line naming path and what). */
static int dataset_crc(hid_t d, uint64_t n, size_t width, const char *path, const char *what, uint32_t *out) {
    size_t block = STORE_TOKEN_CHUNK;
    void *buf = ll_malloc(block * width);
    if (!buf) return -1;
    uint32_t crc = 0;
    int rc = 0;
    hid_t fspace = H5Dget_space(d);
    if (fspace < 0) rc = -1;
    for (uint64_t at = 0; rc == 0 && at < n; at += block) {
        hsize_t off = at, count = n - at < block ? n - at : block;
        hid_t mspace = H5Screate_simple(1, &count, NULL);
        if (mspace < 0 || H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &off, NULL, &count, NULL) < 0 ||
            H5Dread(d, native_type(width), mspace, fspace, H5P_DEFAULT, buf) < 0)
            rc = -1;
        else
            crc = crc_le(crc, buf, (size_t)count, width);
        if (mspace >= 0) H5Sclose(mspace);
    }
    if (fspace >= 0) H5Sclose(fspace);
    free(buf);
    if (rc != 0) ll_error("%s: %s: read failed while checksumming", path, what);
    else *out = crc;
    return rc;
}

/* ---- reader ---- */

/* Opens /<split>/<what>, checks it is 1-D unsigned integer of elem_size
 * bytes with `expected` elements. Returns the dataset id or -1. */
static hid_t open_checked_dataset(const store_reader *s, const char *split, const char *what,
                                  size_t elem_size, uint64_t expected, hid_t dapl) {
    char name[64];
    snprintf(name, sizeof name, "/%s/%s", split, what);
    htri_t group_ok = H5Lexists(s->file, split, H5P_DEFAULT);
    htri_t ok = group_ok > 0 ? H5Lexists(s->file, name, H5P_DEFAULT) : group_ok;
    if (ok <= 0) { ll_error("%s: %s: missing dataset", s->path, name); return -1; }
    hid_t d = H5Dopen2(s->file, name, dapl);
    if (d < 0) { ll_error("%s: %s: cannot open dataset", s->path, name); return -1; }
    hid_t type = H5Dget_type(d);
    hid_t space = H5Dget_space(d);
    const char *problem = NULL;
    char detail[160] = "";
    if (type < 0 || space < 0) problem = "cannot read type or shape";
    else if (H5Tget_class(type) != H5T_INTEGER || H5Tget_sign(type) != H5T_SGN_NONE ||
             H5Tget_size(type) != elem_size || H5Tget_precision(type) != 8 * elem_size ||
             H5Tget_offset(type) != 0) {
        /* precision and offset too: a 16-bit type with 0 significant bits
         * reads as all zeros through HDF5, while raw reads see the bytes */
        snprintf(detail, sizeof detail,
                 "expected %zu-byte unsigned integers, found class %d size %zu (%zu bits at offset %d)", elem_size,
                 (int)H5Tget_class(type), H5Tget_size(type), H5Tget_precision(type), H5Tget_offset(type));
        problem = detail;
    } else if (H5Sget_simple_extent_ndims(space) != 1) {
        snprintf(detail, sizeof detail, "expected rank 1, found rank %d", H5Sget_simple_extent_ndims(space));
        problem = detail;
    } else {
        hsize_t dim = 0;
        H5Sget_simple_extent_dims(space, &dim, NULL);
        if (dim != expected) {
            snprintf(detail, sizeof detail, "%llu elements but the root attributes say %llu",
                     (unsigned long long)dim, (unsigned long long)expected);
            problem = detail;
        }
    }
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    if (problem) {
        ll_error("%s: %s: %s", s->path, name, problem);
        H5Dclose(d);
        return -1;
    }
    return d;
}

/* Checks doc_offsets of one split: first 0, strictly increasing, < n_tokens.
 * Reads in blocks so memory stays bounded for any corpus. 0 / -1. */
static int validate_offsets(store_reader *s, store_split split) {
    const store_split_info *si = &s->split[split];
    if ((si->n_docs == 0) != (si->n_tokens == 0)) {
        ll_error("%s: /%s: %llu documents but %llu tokens", s->path, split_name[split],
                 (unsigned long long)si->n_docs, (unsigned long long)si->n_tokens);
        return -1;
    }
    uint64_t *block = ll_malloc(STORE_VALIDATE_BLOCK * sizeof *block);
    if (!block) return -1;
    uint64_t prev = 0;
    int rc = 0;
    for (uint64_t start = 0; start < si->n_docs && rc == 0; start += STORE_VALIDATE_BLOCK) {
        size_t n = (size_t)(si->n_docs - start < STORE_VALIDATE_BLOCK ? si->n_docs - start : STORE_VALIDATE_BLOCK);
        if (store_read_offsets(s, split, start, n, block) != 0) { rc = -1; break; }
        for (size_t i = 0; i < n; i++) {
            uint64_t k = start + i, off = block[i];
            const char *problem = NULL;
            if (k == 0 && off != 0) problem = "first document does not start at 0";
            else if (k > 0 && off <= prev) problem = "offsets not strictly increasing";
            else if (off >= si->n_tokens) problem = "offset beyond the tokens";
            if (problem) {
                ll_error("%s: /%s/doc_offsets[%llu] = %llu: %s (n_tokens %llu)", s->path, split_name[split],
                         (unsigned long long)k, (unsigned long long)off, problem,
                         (unsigned long long)si->n_tokens);
                rc = -1;
                break;
            }
            prev = off;
        }
    }
    free(block);
    return rc;
}

/* Builds the raw map of one split's tokens if the layout allows it (see
 * store.h); leaves raw_ok = 0 otherwise. Never fails the open: raw reads are
 * an optimisation. */
static void build_raw_map(store_reader *s, store_split_info *si, off_t file_size) {
    si->raw_ok = 0;
    if (s->raw_fd < 0 || si->n_tokens == 0) return;
    hid_t type = H5Dget_type(si->tokens_dset);
    hid_t dcpl = H5Dget_create_plist(si->tokens_dset);
    int little = type >= 0 && H5Tget_order(type) == H5T_ORDER_LE;
    H5D_layout_t layout = dcpl >= 0 ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
    int unfiltered = dcpl >= 0 && H5Pget_nfilters(dcpl) == 0;
    uint64_t bytes_per_chunk = 0;
    if (little && unfiltered && layout == H5D_CONTIGUOUS) {
        haddr_t addr = H5Dget_offset(si->tokens_dset);
        si->raw_chunk = si->n_tokens;
        si->raw_n_chunks = 1;
        si->raw_addr = ll_malloc_quiet(sizeof *si->raw_addr);   /* fallback: H5Dread */
        if (addr != HADDR_UNDEF && si->raw_addr) { si->raw_addr[0] = addr; si->raw_ok = 1; }
        bytes_per_chunk = si->n_tokens * s->token_bytes;
    } else if (little && unfiltered && layout == H5D_CHUNKED) {
        hsize_t chunk = 0, n_alloc = 0;
        /* HDF5 1.10 wants the dataset's own dataspace here, not H5S_ALL */
        hid_t space = H5Dget_space(si->tokens_dset);
        if (space >= 0 && H5Pget_chunk(dcpl, 1, &chunk) == 1 && chunk > 0 &&
            H5Dget_num_chunks(si->tokens_dset, space, &n_alloc) >= 0) {
            uint64_t needed = (si->n_tokens + chunk - 1) / chunk;
            si->raw_chunk = chunk;
            si->raw_n_chunks = needed;
            si->raw_addr = n_alloc == needed ? ll_calloc_quiet(needed, sizeof *si->raw_addr) : NULL;
            int ok = si->raw_addr != NULL;
            for (hsize_t i = 0; ok && i < n_alloc; i++) {
                hsize_t coord = 0, size = 0;
                unsigned mask = 0;
                haddr_t addr = HADDR_UNDEF;
                ok = H5Dget_chunk_info(si->tokens_dset, space, i, &coord, &mask, &addr, &size) >= 0 &&
                     addr != HADDR_UNDEF && coord % chunk == 0 && coord / chunk < needed &&
                     size == chunk * s->token_bytes && si->raw_addr[coord / chunk] == 0;
                if (ok) si->raw_addr[coord / chunk] = addr;
            }
            for (uint64_t i = 0; ok && i < needed; i++) ok = si->raw_addr[i] != 0;
            si->raw_ok = ok;
            bytes_per_chunk = chunk * s->token_bytes;
        }
        if (space >= 0) H5Sclose(space);
    }
    for (uint64_t i = 0; si->raw_ok && i < si->raw_n_chunks; i++)
        if (si->raw_addr[i] > (uint64_t)file_size || bytes_per_chunk > (uint64_t)file_size - si->raw_addr[i])
            si->raw_ok = 0;
    if (!si->raw_ok) { free(si->raw_addr); si->raw_addr = NULL; }
    if (dcpl >= 0) H5Pclose(dcpl);
    if (type >= 0) H5Tclose(type);
}

/* Opens and validates the store at path (see the invariants above). On -1
 * nothing stays open. */
int store_open(store_reader *s, const char *path) { return store_open_flags(s, path, 0); }

int store_open_flags(store_reader *s, const char *path, unsigned flags) {
    memset(s, 0, sizeof *s);
    s->file = -1;
    s->raw_fd = -1;
    for (int i = 0; i < 2; i++) s->split[i].tokens_dset = s->split[i].offsets_dset = -1;
    if (snprintf(s->path, sizeof s->path, "%s", path) >= (int)sizeof s->path) {
        ll_error("%s: path too long", path);
        return -1;
    }
    s->file = h5u_open_readonly(path);
    if (s->file < 0) return -1;

    char format[64];
    uint64_t version = 0, vocab = 0, eot = 0, counts[4] = {0};
    static const char *const count_names[4] = {"n_docs_train", "n_docs_val", "n_tokens_train", "n_tokens_val"};
    if (h5u_attr_read_str(s->file, "format", format, sizeof format, path, NULL) != 0) goto fail;
    if (strcmp(format, STORE_FORMAT) != 0) {
        ll_error("%s: format '%s' is not a token store (expected '%s')", path, format, STORE_FORMAT);
        goto fail;
    }
    if (h5u_attr_read_u64(s->file, "version", &version, path) != 0) goto fail;
    if (version != STORE_VERSION) {
        ll_error("%s: token store version %llu, this build reads version %d", path,
                 (unsigned long long)version, STORE_VERSION);
        goto fail;
    }
    s->version = (int)version;
    if (h5u_attr_read_u64(s->file, "vocab_size", &vocab, path) != 0 ||
        h5u_attr_read_u64(s->file, "eot_id", &eot, path) != 0)
        goto fail;
    if (vocab == 0 || vocab > INT32_MAX) {
        ll_error("%s: vocab_size %llu out of range [1, %d]", path, (unsigned long long)vocab, INT32_MAX);
        goto fail;
    }
    if (eot >= vocab) {
        ll_error("%s: eot_id %llu not below vocab_size %llu", path, (unsigned long long)eot,
                 (unsigned long long)vocab);
        goto fail;
    }
    s->vocab_size = (uint32_t)vocab;
    s->eot_id = (uint32_t)eot;
    if (h5u_attr_read_str(s->file, "tokenizer", s->tokenizer, sizeof s->tokenizer, path, NULL) != 0) goto fail;
    if (strcmp(s->tokenizer, TOK_BYTES_IDENTITY) == 0 && vocab != STORE_BYTES_VOCAB) {
        ll_error("%s: tokenizer %s has vocab_size %d, but the store says %llu", path, TOK_BYTES_IDENTITY,
                 STORE_BYTES_VOCAB, (unsigned long long)vocab);
        goto fail;
    }
    char kind[32];
    if (h5u_attr_read_str(s->file, "checksums", kind, sizeof kind, path, &s->has_checksums) != 0) goto fail;
    if (s->has_checksums && strcmp(kind, STORE_CHECKSUM_KIND) != 0) {
        ll_error("%s: checksums '%s': this build knows '%s'", path, kind, STORE_CHECKSUM_KIND);
        goto fail;
    }
    for (int i = 0; i < 4; i++)
        if (h5u_attr_read_u64(s->file, count_names[i], &counts[i], path) != 0) goto fail;

    size_t token_bytes = vocab <= 65536 ? 2 : 4;
    s->token_bytes = token_bytes;
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (dapl < 0 || H5Pset_chunk_cache(dapl, STORE_CHUNK_CACHE_SLOTS, STORE_CHUNK_CACHE_BYTES, 0.75) < 0) {
        ll_error("%s: cannot set up the chunk cache", path);
        if (dapl >= 0) H5Pclose(dapl);
        goto fail;
    }
    int ok = 1;
    for (int sp = 0; sp < 2 && ok; sp++) {
        store_split_info *si = &s->split[sp];
        si->n_docs = counts[sp];
        si->n_tokens = counts[2 + sp];
        si->tokens_dset = open_checked_dataset(s, split_name[sp], "tokens", token_bytes, si->n_tokens, dapl);
        if (si->tokens_dset < 0) { ok = 0; break; }
        si->offsets_dset = open_checked_dataset(s, split_name[sp], "doc_offsets", 8, si->n_docs, H5P_DEFAULT);
        if (si->offsets_dset < 0) { ok = 0; break; }
    }
    H5Pclose(dapl);
    if (!ok) goto fail;
    for (int sp = 0; sp < 2 && s->has_checksums; sp++) {
        hid_t d[2] = {s->split[sp].tokens_dset, s->split[sp].offsets_dset};
        for (int k = 0; k < 2; k++) {
            char where[300];
            uint64_t v = 0;
            snprintf(where, sizeof where, "%s: /%s/%s", path, split_name[sp], dataset_name[k]);
            if (h5u_attr_read_u64(d[k], "crc32c", &v, where) != 0) goto fail;
            if (v > UINT32_MAX) { ll_error("%s: attribute crc32c: %llu is not a CRC-32C", where, (unsigned long long)v); goto fail; }
            s->crc[sp][k] = (uint32_t)v;
        }
    }
    if (validate_offsets(s, STORE_TRAIN) != 0 || validate_offsets(s, STORE_VAL) != 0) goto fail;
    if (!(flags & STORE_OPEN_NO_VERIFY) && store_verify(s) != 0) goto fail;
    /* A userblock would shift every address HDF5 reports: no raw map then. */
    hsize_t userblock = 1;
    hid_t fcpl = H5Fget_create_plist(s->file);
    if (fcpl >= 0) { H5Pget_userblock(fcpl, &userblock); H5Pclose(fcpl); }
    struct stat st = {0};
    if (userblock == 0) s->raw_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (s->raw_fd >= 0 && fstat(s->raw_fd, &st) != 0) { close(s->raw_fd); s->raw_fd = -1; }
    for (int sp = 0; sp < 2 && s->raw_fd >= 0; sp++) build_raw_map(s, &s->split[sp], st.st_size);
    return 0;
fail:
    store_close(s);
    return -1;
}

/* Closes whatever store_open left open; safe on a failed or closed reader. */
void store_close(store_reader *s) {
    for (int i = 0; i < 2; i++) {
        if (s->split[i].tokens_dset > 0) H5Dclose(s->split[i].tokens_dset);
        if (s->split[i].offsets_dset > 0) H5Dclose(s->split[i].offsets_dset);
        s->split[i].tokens_dset = s->split[i].offsets_dset = -1;
        free(s->split[i].raw_addr);
        s->split[i].raw_addr = NULL;
        s->split[i].raw_ok = 0;
    }
    if (s->file > 0) H5Fclose(s->file);
    s->file = -1;
    if (s->raw_fd >= 0) close(s->raw_fd);
    s->raw_fd = -1;
}

/* Recomputes the four CRC-32C values and compares them with the stored
 * ones (see the checksum rules above). 0 / -1 (one line). */
int store_verify(store_reader *s) {
    if (!s->has_checksums) return 0;
    for (int sp = 0; sp < 2; sp++) {
        const store_split_info *si = &s->split[sp];
        hid_t d[2] = {si->tokens_dset, si->offsets_dset};
        uint64_t n[2] = {si->n_tokens, si->n_docs};
        size_t width[2] = {s->token_bytes, 8};
        for (int k = 0; k < 2; k++) {
            char what[64];
            uint32_t crc = 0;
            snprintf(what, sizeof what, "/%s/%s", split_name[sp], dataset_name[k]);
            if (dataset_crc(d[k], n[k], width[k], s->path, what, &crc) != 0) return -1;
            if (crc != s->crc[sp][k]) {
                ll_error("%s: %s: content checksum mismatch (CRC-32C %08x, stored %08x): the file is damaged",
                         s->path, what, crc, s->crc[sp][k]);
                return -1;
            }
        }
    }
    return 0;
}

/* Reads elements [start, start+n) of a 1-D dataset with n_elems elements
 * into out, converted to mem_type. 0 / -1. */
static int read_range(const store_reader *s, hid_t dset, const char *what, uint64_t n_elems,
                      uint64_t start, size_t n, hid_t mem_type, void *out) {
    if (dset <= 0) { ll_error("%s: %s: store not open", s->path, what); return -1; }
    if (start > n_elems || n > n_elems - start) {
        ll_error("%s: %s: read [%llu, +%zu) beyond %llu elements", s->path, what,
                 (unsigned long long)start, n, (unsigned long long)n_elems);
        return -1;
    }
    if (n == 0) return 0;
    h5u_lock();   /* the trainer's checkpoint writer may be in HDF5 (h5.h) */
    hid_t fspace = H5Dget_space(dset);
    hsize_t off = start, count = n;
    hid_t mspace = H5Screate_simple(1, &count, NULL);
    int rc = -1;
    if (fspace >= 0 && mspace >= 0 &&
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &off, NULL, &count, NULL) >= 0 &&
        H5Dread(dset, mem_type, mspace, fspace, H5P_DEFAULT, out) >= 0)
        rc = 0;
    else
        ll_error("%s: %s: read of [%llu, +%zu) failed", s->path, what, (unsigned long long)start, n);
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    h5u_unlock();
    return rc;
}

/* Reads tokens [start, start+n) of a split as int32 and checks every id is
 * below vocab_size. 0 / -1. */
int store_read(store_reader *s, store_split split, uint64_t start, size_t n, int32_t *out) {
    if (split != STORE_TRAIN && split != STORE_VAL) { ll_error("%s: store_read: bad split %d", s->path, (int)split); return -1; }
    const store_split_info *si = &s->split[split];
    char what[32];
    snprintf(what, sizeof what, "/%s/tokens", split_name[split]);
    if (read_range(s, si->tokens_dset, what, si->n_tokens, start, n, H5T_NATIVE_INT32, out) != 0) return -1;
    for (size_t i = 0; i < n; i++) {
        /* HDF5 clips uint32 values above INT32_MAX to INT32_MAX, which is
         * never below vocab_size <= INT32_MAX: the check below catches it. */
        if (out[i] < 0 || (uint32_t)out[i] >= s->vocab_size) {
            ll_error("%s: %s[%llu] = %d: not below vocab_size %u", s->path, what,
                     (unsigned long long)(start + i), out[i], s->vocab_size);
            return -1;
        }
    }
    return 0;
}

/* Reads document offsets [start, start+n) of a split. 0 / -1. */
int store_read_offsets(store_reader *s, store_split split, uint64_t start, size_t n, uint64_t *out) {
    if (split != STORE_TRAIN && split != STORE_VAL) { ll_error("%s: store_read_offsets: bad split %d", s->path, (int)split); return -1; }
    const store_split_info *si = &s->split[split];
    char what[32];
    snprintf(what, sizeof what, "/%s/doc_offsets", split_name[split]);
    return read_range(s, si->offsets_dset, what, si->n_docs, start, n, H5T_NATIVE_UINT64, out);
}

int store_has_raw(const store_reader *s, store_split split) {
    return (split == STORE_TRAIN || split == STORE_VAL) && s->split[split].raw_ok;
}

/* Reads tokens [start, start+n) through the raw map: chunk by chunk with
 * pread, little-endian to int32, each id checked. Prints nothing. */
int store_read_raw(const store_reader *s, store_split split, uint64_t start, size_t n, int32_t *out) {
    if (!store_has_raw(s, split)) return -1;
    const store_split_info *si = &s->split[split];
    if (start > si->n_tokens || n > si->n_tokens - start) return -1;
    unsigned char buf[8192];
    size_t per_buf = sizeof buf / s->token_bytes, done = 0;
    while (done < n) {
        uint64_t pos = start + done, chunk = pos / si->raw_chunk, in_chunk = pos % si->raw_chunk;
        size_t take = n - done;
        if (take > si->raw_chunk - in_chunk) take = (size_t)(si->raw_chunk - in_chunk);
        if (take > per_buf) take = per_buf;
        size_t bytes = take * s->token_bytes;
        off_t at = (off_t)(si->raw_addr[chunk] + in_chunk * s->token_bytes);
        size_t got = 0;
        while (got < bytes) {
            ssize_t r = pread(s->raw_fd, buf + got, bytes - got, at + (off_t)got);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) return -1;
            got += (size_t)r;
        }
        for (size_t i = 0; i < take; i++) {
            uint32_t v;
            if (s->token_bytes == 2) { uint16_t le; memcpy(&le, buf + 2 * i, 2); v = le16toh(le); }
            else { uint32_t le; memcpy(&le, buf + 4 * i, 4); v = le32toh(le); }
            if (v >= s->vocab_size) return -1;
            out[done + i] = (int32_t)v;
        }
        done += take;
    }
    return 0;
}

/* Compares the store's tokenizer with the expected one. 0 / -1 (one line). */
int store_check_tokenizer(const store_reader *s, const char *identity, uint32_t vocab_size) {
    return tok_check_identity(s->path, s->tokenizer, s->vocab_size, identity, vocab_size,
                              "use a store prepared with that tokenizer");
}

/* ---- writer ---- */

typedef struct {
    hid_t group, tokens, offsets;   /* tokens/offsets created at first flush (-1 before) */
    void *tok_buf;                  /* STORE_TOKEN_CHUNK elements of the file's token width */
    size_t tok_count;               /* buffered tokens */
    uint64_t tok_flushed;           /* tokens already in the dataset */
    uint64_t *off_buf;              /* STORE_OFFSET_CHUNK offsets */
    size_t off_count;
    uint64_t off_flushed;
    uint32_t tok_crc, off_crc;      /* CRC-32C of what was flushed */
} writer_split;

struct store_writer {
    char path[1024], tmp[1100];
    hid_t file;
    uint32_t vocab_size, eot_id;
    char tokenizer[TOK_IDENTITY_MAX];
    size_t token_bytes;
    hid_t token_file_type, token_mem_type;
    writer_split split[2];
};

/* Closes a file whose content is being thrown away. On a full disk HDF5's
 * close fails while flushing its metadata and leaves the file half-closed in
 * its id table, which then crashes at exit (MPI_Finalize runs HDF5's
 * cleanup): empty the file first so the flush has room, and close again if
 * the first close still failed. */
static void close_discarding(hid_t file, const char *tmp) {
    if (tmp[0] && truncate(tmp, 0) != 0) { /* nothing to free: close as it is */ }
    if (H5Fclose(file) < 0) H5Fclose(file);
}

/* Frees the writer's memory and HDF5 handles (the file is left on disk). */
static void writer_release(store_writer *w) {
    for (int i = 0; i < 2; i++) {
        writer_split *ws = &w->split[i];
        if (ws->tokens >= 0) H5Dclose(ws->tokens);
        if (ws->offsets >= 0) H5Dclose(ws->offsets);
        if (ws->group >= 0) H5Gclose(ws->group);
        free(ws->tok_buf);
        free(ws->off_buf);
    }
    if (w->file >= 0) close_discarding(w->file, w->tmp);
    free(w);
}

/* Creates the temporary file, the split groups and the buffers. NULL (one
 * line printed) on a bad argument or an unwritable location. */
store_writer *store_writer_create(const char *path, uint32_t vocab_size, uint32_t eot_id,
                                  const char *tokenizer_identity) {
    if (vocab_size == 0 || vocab_size > INT32_MAX || eot_id >= vocab_size) {
        ll_error("%s: store_writer_create: vocab_size %u / eot_id %u invalid", path, vocab_size, eot_id);
        return NULL;
    }
    if (!tokenizer_identity || strlen(tokenizer_identity) >= TOK_IDENTITY_MAX) {
        ll_error("%s: store_writer_create: tokenizer identity missing or longer than %d bytes", path,
                 TOK_IDENTITY_MAX - 1);
        return NULL;
    }
    store_writer *w = ll_calloc(1, sizeof *w);
    if (!w) return NULL;
    w->file = -1;
    for (int i = 0; i < 2; i++) w->split[i].group = w->split[i].tokens = w->split[i].offsets = -1;
    if (snprintf(w->path, sizeof w->path, "%s", path) >= (int)sizeof w->path ||
        ll_tmp_path(w->tmp, sizeof w->tmp, path) != 0) {
        if (strlen(path) >= sizeof w->path) ll_error("%s: path too long", path);
        free(w);
        return NULL;
    }
    w->vocab_size = vocab_size;
    w->eot_id = eot_id;
    snprintf(w->tokenizer, sizeof w->tokenizer, "%s", tokenizer_identity);
    w->token_bytes = vocab_size <= 65536 ? 2 : 4;
    w->token_file_type = w->token_bytes == 2 ? H5T_STD_U16LE : H5T_STD_U32LE;
    w->token_mem_type = w->token_bytes == 2 ? H5T_NATIVE_UINT16 : H5T_NATIVE_UINT32;

    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (fapl >= 0 && fcpl >= 0 && H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) >= 0 && h5u_set_format(fapl, fcpl) == 0)
        w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, fcpl, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (fcpl >= 0) H5Pclose(fcpl);
    if (w->file < 0) {
        ll_error("%s: cannot create %s (does the folder exist and is it writable?)", path, w->tmp);
        free(w);
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        writer_split *ws = &w->split[i];
        ws->group = h5u_create_group(w->file, split_name[i]);
        ws->tok_buf = ll_malloc(STORE_TOKEN_CHUNK * w->token_bytes);
        ws->off_buf = ll_malloc(STORE_OFFSET_CHUNK * sizeof *ws->off_buf);
        if (ws->group < 0 || !ws->tok_buf || !ws->off_buf) {
            if (ws->group < 0) ll_error("%s: cannot create group /%s", w->tmp, split_name[i]);
            store_writer_abort(w);
            return NULL;
        }
    }
    return w;
}

/* Appends count buffered elements to an extendible 1-D dataset (created on
 * first use with chunks of `chunk` elements, or of `count` when this is the
 * final and only flush). 0 / -1. */
static int flush_buffer(store_writer *w, hid_t group, hid_t *dset, const char *name, hid_t file_type,
                        hid_t mem_type, const void *buf, size_t count, uint64_t *flushed,
                        size_t chunk, int final, uint32_t *crc) {
    if (*dset < 0) {
        hsize_t dim = 0, maxdim = H5S_UNLIMITED;
        hsize_t chunk_dim = (final && *flushed == 0) ? (count > 0 ? count : 1) : chunk;
        hid_t space = H5Screate_simple(1, &dim, &maxdim);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        if (space >= 0 && dcpl >= 0 && H5Pset_chunk(dcpl, 1, &chunk_dim) >= 0 &&
            H5Pset_obj_track_times(dcpl, 0) >= 0)
            *dset = H5Dcreate2(group, name, file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        if (dcpl >= 0) H5Pclose(dcpl);
        if (space >= 0) H5Sclose(space);
        if (*dset < 0) { ll_error("%s: cannot create dataset %s", w->tmp, name); return -1; }
    }
    if (count == 0) return 0;
    hsize_t start = *flushed, n = count, total = *flushed + count;
    if (H5Dset_extent(*dset, &total) < 0) { ll_error("%s: cannot extend %s", w->tmp, name); return -1; }
    hid_t fspace = H5Dget_space(*dset);
    hid_t mspace = H5Screate_simple(1, &n, NULL);
    int rc = -1;
    if (fspace >= 0 && mspace >= 0 &&
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &start, NULL, &n, NULL) >= 0 &&
        H5Dwrite(*dset, mem_type, mspace, fspace, H5P_DEFAULT, buf) >= 0)
        rc = 0;
    else
        ll_error("%s: write to %s failed (disk full?)", w->tmp, name);
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    if (rc == 0) {
        *flushed = total;
        *crc = crc_le(*crc, buf, count, H5Tget_size(mem_type));
    }
    return rc;
}

static int flush_tokens(store_writer *w, writer_split *ws, int final) {
    int rc = flush_buffer(w, ws->group, &ws->tokens, "tokens", w->token_file_type, w->token_mem_type,
                          ws->tok_buf, ws->tok_count, &ws->tok_flushed, STORE_TOKEN_CHUNK, final,
                          &ws->tok_crc);
    if (rc == 0) ws->tok_count = 0;
    return rc;
}

static int flush_offsets(store_writer *w, writer_split *ws, int final) {
    int rc = flush_buffer(w, ws->group, &ws->offsets, "doc_offsets", H5T_STD_U64LE, H5T_NATIVE_UINT64,
                          ws->off_buf, ws->off_count, &ws->off_flushed, STORE_OFFSET_CHUNK, final,
                          &ws->off_crc);
    if (rc == 0) ws->off_count = 0;
    return rc;
}

/* Appends one document (n >= 1 tokens, each in [0, vocab_size)) to a split.
 * On -1 the writer must be aborted. */
int store_writer_append(store_writer *w, store_split split, const int32_t *tokens, size_t n) {
    if (split != STORE_TRAIN && split != STORE_VAL) { ll_error("%s: append: bad split %d", w->path, (int)split); return -1; }
    if (n == 0) { ll_error("%s: append: empty document (it must at least hold its eot)", w->path); return -1; }
    for (size_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= w->vocab_size) {
            ll_error("%s: append: token %d at %zu not in [0, %u)", w->path, tokens[i], i, w->vocab_size);
            return -1;
        }
    }
    writer_split *ws = &w->split[split];
    ws->off_buf[ws->off_count++] = ws->tok_flushed + ws->tok_count;
    if (ws->off_count == STORE_OFFSET_CHUNK && flush_offsets(w, ws, 0) != 0) return -1;
    size_t done = 0;
    while (done < n) {
        size_t room = STORE_TOKEN_CHUNK - ws->tok_count;
        size_t take = n - done < room ? n - done : room;
        if (w->token_bytes == 2) {
            uint16_t *dst = (uint16_t *)ws->tok_buf + ws->tok_count;
            for (size_t i = 0; i < take; i++) dst[i] = (uint16_t)tokens[done + i];
        } else {
            uint32_t *dst = (uint32_t *)ws->tok_buf + ws->tok_count;
            for (size_t i = 0; i < take; i++) dst[i] = (uint32_t)tokens[done + i];
        }
        ws->tok_count += take;
        done += take;
        if (ws->tok_count == STORE_TOKEN_CHUNK && flush_tokens(w, ws, 0) != 0) return -1;
    }
    return 0;
}

/* Flushes both splits, writes the root attributes, closes, commits the
 * temporary file to the output path. Frees w either way; on -1 the temporary
 * file is removed and any earlier file at the path is untouched. */
int store_writer_finish(store_writer *w) {
    for (int i = 0; i < 2; i++) {
        if (flush_tokens(w, &w->split[i], 1) != 0 || flush_offsets(w, &w->split[i], 1) != 0) {
            store_writer_abort(w);
            return -1;
        }
    }
    hid_t f = w->file;
    const char *p = w->tmp;
    if (h5u_attr_write_str(f, "format", STORE_FORMAT, p) != 0 ||
        h5u_attr_write_u64(f, "version", STORE_VERSION, p) != 0 ||
        h5u_attr_write_u64(f, "vocab_size", w->vocab_size, p) != 0 ||
        h5u_attr_write_u64(f, "eot_id", w->eot_id, p) != 0 ||
        h5u_attr_write_str(f, "tokenizer", w->tokenizer, p) != 0 ||
        h5u_attr_write_u64(f, "n_docs_train", w->split[STORE_TRAIN].off_flushed, p) != 0 ||
        h5u_attr_write_u64(f, "n_docs_val", w->split[STORE_VAL].off_flushed, p) != 0 ||
        h5u_attr_write_u64(f, "n_tokens_train", w->split[STORE_TRAIN].tok_flushed, p) != 0 ||
        h5u_attr_write_u64(f, "n_tokens_val", w->split[STORE_VAL].tok_flushed, p) != 0 ||
        h5u_attr_write_str(f, "checksums", STORE_CHECKSUM_KIND, p) != 0) {
        store_writer_abort(w);
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        writer_split *ws = &w->split[i];
        if (h5u_attr_write_u64(ws->tokens, "crc32c", ws->tok_crc, p) != 0 ||
            h5u_attr_write_u64(ws->offsets, "crc32c", ws->off_crc, p) != 0) {
            store_writer_abort(w);
            return -1;
        }
    }
    for (int i = 0; i < 2; i++) {
        writer_split *ws = &w->split[i];
        H5Dclose(ws->tokens);
        H5Dclose(ws->offsets);
        H5Gclose(ws->group);
        ws->tokens = ws->offsets = ws->group = -1;
    }
    int closed = h5u_close_file(w->file);
    if (closed < 0) close_discarding(w->file, w->tmp);   /* the id may still be HDF5's: let go of it */
    w->file = -1;
    if (closed < 0) {
        ll_error("%s: closing failed (disk full?)", w->tmp);
        store_writer_abort(w);
        return -1;
    }
    if (ll_commit_file(w->tmp, w->path) != 0) {
        store_writer_abort(w);
        return -1;
    }
    writer_release(w);
    return 0;
}

/* Discards the temporary file and frees w (NULL is fine). */
void store_writer_abort(store_writer *w) {
    if (!w) return;
    char tmp[sizeof w->tmp];
    memcpy(tmp, w->tmp, sizeof tmp);
    writer_release(w);
    unlink(tmp);
}

/* ---- parallel writer ---- */

struct store_pwriter {
    char path[1024], tmp[1100];
    hid_t file;
    hid_t tokens[2], offsets[2];
    uint64_t n_tokens[2], n_docs[2];
    uint32_t vocab_size, eot_id;
    char tokenizer[TOK_IDENTITY_MAX];
    size_t token_bytes;
    int rank;
    int failed;          /* this rank saw an error: finish() will not commit */
    char *tok_json;      /* rank 0: the tokenizer.json to embed, or NULL */
    size_t tok_json_len;
};

/* 1 on every rank if ok is 1 on every rank. */
static int all_ok(int ok) { return comm_all(ok); }

/* Creates the temporary file with the MPI-IO driver. The temporary name is
 * rank 0's (<out>.tmp.<pid of rank 0>), so every rank opens the same file. */
store_pwriter *store_pwriter_create(const char *path, uint32_t vocab_size, uint32_t eot_id,
                                    const char *tokenizer_identity) {
    int rank = comm_rank();
    int ok = 1;
    if (vocab_size == 0 || vocab_size > INT32_MAX || eot_id >= vocab_size || !tokenizer_identity ||
        strlen(tokenizer_identity) >= TOK_IDENTITY_MAX || strlen(path) >= 1024) {
        if (rank == 0)
            ll_error("%s: store_pwriter_create: vocab_size %u / eot_id %u / tokenizer identity / path invalid",
                     path, vocab_size, eot_id);
        return NULL;   /* the same arguments on every rank: every rank returns here */
    }
    store_pwriter *w = ll_calloc(1, sizeof *w);
    if (!w) ok = 0;
    if (!all_ok(ok)) {
        if (rank == 0 && w) ll_error("%s: store_pwriter_create: out of memory", path);
        free(w);
        return NULL;
    }
    w->rank = rank;
    w->file = -1;
    for (int i = 0; i < 2; i++) w->tokens[i] = w->offsets[i] = -1;
    snprintf(w->path, sizeof w->path, "%s", path);
    if (rank == 0 && ll_tmp_path(w->tmp, sizeof w->tmp, path) != 0) w->tmp[0] = '\0';
    if (comm_bcast(w->tmp, sizeof w->tmp, 0) != 0) w->tmp[0] = '\0';
    w->vocab_size = vocab_size;
    w->eot_id = eot_id;
    snprintf(w->tokenizer, sizeof w->tokenizer, "%s", tokenizer_identity);
    w->token_bytes = vocab_size <= 65536 ? 2 : 4;
    if (!w->tmp[0]) {
        if (rank == 0) ll_error("%s: path too long", path);
        free(w);
        return NULL;
    }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), fcpl = H5Pcreate(H5P_FILE_CREATE);
    /* HDF5's MPI-IO driver: the one MPI use outside src/comm (it needs the communicator) */
    if (fapl >= 0 && fcpl >= 0 && H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL) >= 0 &&
        H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) >= 0 && h5u_set_format(fapl, fcpl) == 0)
        w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, fcpl, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (fcpl >= 0) H5Pclose(fcpl);
    if (!all_ok(w->file >= 0)) {
        if (rank == 0) ll_error("%s: cannot create %s (does the folder exist and is it writable?)", path, w->tmp);
        if (w->file >= 0) H5Fclose(w->file);
        if (rank == 0) unlink(w->tmp);
        free(w);
        return NULL;
    }
    return w;
}

size_t store_pwriter_token_bytes(const store_pwriter *w) { return w->token_bytes; }

int store_pwriter_set_tokenizer_json(store_pwriter *w, const char *json, size_t len) {
    if (w->rank != 0) return 0;
    free(w->tok_json);
    w->tok_json = ll_malloc(len ? len : 1);
    if (!w->tok_json) { w->failed = 1; return -1; }
    memcpy(w->tok_json, json, len);
    w->tok_json_len = len;
    return 0;
}

int store_read_tokenizer_json(const store_reader *s, char **out, size_t *len) {
    return h5u_blob_read(s->file, STORE_TOKENIZER_JSON, STORE_TOKENIZER_JSON_MAX, out, len, s->path);
}

/* Creates one fixed-size contiguous dataset, allocated now and never filled
 * (every element is written by some rank). -1 when HDF5 refuses. */
static hid_t create_fixed(hid_t group, const char *name, hid_t type, uint64_t n) {
    hsize_t dim = n;
    hid_t space = H5Screate_simple(1, &dim, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t d = -1;
    if (space >= 0 && dcpl >= 0 && H5Pset_layout(dcpl, H5D_CONTIGUOUS) >= 0 &&
        H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) >= 0 && H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) >= 0 &&
        H5Pset_obj_track_times(dcpl, 0) >= 0)
        d = H5Dcreate2(group, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (space >= 0) H5Sclose(space);
    return d;
}

/* Creates /train and /val with their datasets and writes the root
 * attributes (same values on every rank, as parallel HDF5 requires). */
int store_pwriter_define(store_pwriter *w, const uint64_t n_tokens[2], const uint64_t n_docs[2]) {
    int ok = 1;
    const char *p = w->tmp;
    hid_t tok_type = w->token_bytes == 2 ? H5T_STD_U16LE : H5T_STD_U32LE;
    for (int i = 0; i < 2 && ok; i++) {
        w->n_tokens[i] = n_tokens[i];
        w->n_docs[i] = n_docs[i];
        hid_t g = h5u_create_group(w->file, split_name[i]);
        if (g < 0) { ok = 0; break; }
        w->tokens[i] = create_fixed(g, "tokens", tok_type, n_tokens[i]);
        w->offsets[i] = create_fixed(g, "doc_offsets", H5T_STD_U64LE, n_docs[i]);
        H5Gclose(g);
        ok = w->tokens[i] >= 0 && w->offsets[i] >= 0;
    }
    if (!ok) { if (w->rank == 0) ll_error("%s: cannot create the datasets", p); w->failed = 1; return -1; }
    /* the attribute helpers print on failure; on other ranks the same failure is certain */
    if (h5u_attr_write_str(w->file, "format", STORE_FORMAT, p) != 0 ||
        h5u_attr_write_u64(w->file, "version", STORE_VERSION, p) != 0 ||
        h5u_attr_write_u64(w->file, "vocab_size", w->vocab_size, p) != 0 ||
        h5u_attr_write_u64(w->file, "eot_id", w->eot_id, p) != 0 ||
        h5u_attr_write_str(w->file, "tokenizer", w->tokenizer, p) != 0 ||
        h5u_attr_write_u64(w->file, "n_docs_train", n_docs[STORE_TRAIN], p) != 0 ||
        h5u_attr_write_u64(w->file, "n_docs_val", n_docs[STORE_VAL], p) != 0 ||
        h5u_attr_write_u64(w->file, "n_tokens_train", n_tokens[STORE_TRAIN], p) != 0 ||
        h5u_attr_write_u64(w->file, "n_tokens_val", n_tokens[STORE_VAL], p) != 0) {
        w->failed = 1;
        return -1;
    }
    return 0;
}

/* Independent hyperslab write of n elements at start. 0 / -1 (one line). */
static int pwrite_range(store_pwriter *w, hid_t dset, const char *what, uint64_t total, uint64_t start,
                        hid_t mem_type, const void *buf, size_t n) {
    if (dset < 0 || start > total || n > total - start) {
        ll_error("%s: %s: write of [%llu, +%zu) outside %llu elements", w->tmp, what,
                 (unsigned long long)start, n, (unsigned long long)total);
        w->failed = 1;
        return -1;
    }
    if (n == 0) return 0;
    hsize_t off = start, count = n;
    hid_t fspace = H5Dget_space(dset);
    hid_t mspace = H5Screate_simple(1, &count, NULL);
    int rc = -1;
    if (fspace >= 0 && mspace >= 0 && H5Sselect_hyperslab(fspace, H5S_SELECT_SET, &off, NULL, &count, NULL) >= 0 &&
        H5Dwrite(dset, mem_type, mspace, fspace, H5P_DEFAULT, buf) >= 0)
        rc = 0;
    else {
        ll_error("%s: %s: write of [%llu, +%zu) failed (disk full?)", w->tmp, what, (unsigned long long)start, n);
        w->failed = 1;
    }
    if (mspace >= 0) H5Sclose(mspace);
    if (fspace >= 0) H5Sclose(fspace);
    return rc;
}

int store_pwriter_write_tokens(store_pwriter *w, store_split split, uint64_t start, const void *tokens,
                               size_t n) {
    if (split != STORE_TRAIN && split != STORE_VAL) { ll_error("%s: write: bad split %d", w->tmp, (int)split); w->failed = 1; return -1; }
    for (size_t i = 0; i < n; i++) {
        uint32_t v = w->token_bytes == 2 ? ((const uint16_t *)tokens)[i] : ((const uint32_t *)tokens)[i];
        if (v >= w->vocab_size) {
            ll_error("%s: write: token %u at %llu not below vocab_size %u", w->tmp, v,
                     (unsigned long long)(start + i), w->vocab_size);
            w->failed = 1;
            return -1;
        }
    }
    char what[32];
    snprintf(what, sizeof what, "/%s/tokens", split_name[split]);
    return pwrite_range(w, w->tokens[split], what, w->n_tokens[split], start,
                        w->token_bytes == 2 ? H5T_NATIVE_UINT16 : H5T_NATIVE_UINT32, tokens, n);
}

int store_pwriter_write_offsets(store_pwriter *w, store_split split, uint64_t start,
                                const uint64_t *offsets, size_t n) {
    if (split != STORE_TRAIN && split != STORE_VAL) { ll_error("%s: write: bad split %d", w->tmp, (int)split); w->failed = 1; return -1; }
    char what[32];
    snprintf(what, sizeof what, "/%s/doc_offsets", split_name[split]);
    return pwrite_range(w, w->offsets[split], what, w->n_docs[split], start, H5T_NATIVE_UINT64, offsets, n);
}

/* Rank 0, after the collective close: reopens the temporary file alone,
 * reads each dataset back to compute its CRC-32C (ranks wrote their ranges
 * in any order, so no rank saw a whole dataset), writes the checksum
 * attributes and closes. 0 / -1 (one line); nothing left open either way. */
static int add_checksums(store_pwriter *w) {
    const char *p = w->tmp;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), f = -1;
    if (fapl >= 0 && H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) >= 0 && h5u_set_format(fapl, -1) == 0)
        f = H5Fopen(p, H5F_ACC_RDWR, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (f < 0) { ll_error("%s: cannot reopen to write the checksums", p); return -1; }
    int rc = 0;
    for (int sp = 0; sp < 2 && rc == 0; sp++) {
        uint64_t n[2] = {w->n_tokens[sp], w->n_docs[sp]};
        size_t width[2] = {w->token_bytes, 8};
        for (int k = 0; k < 2 && rc == 0; k++) {
            char name[64];
            snprintf(name, sizeof name, "/%s/%s", split_name[sp], dataset_name[k]);
            uint32_t crc = 0;
            hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
            if (d < 0) { ll_error("%s: %s: cannot reopen", p, name); rc = -1; break; }
            rc = dataset_crc(d, n[k], width[k], p, name, &crc);
            if (rc == 0) rc = h5u_attr_write_u64(d, "crc32c", crc, p);
            H5Dclose(d);
        }
    }
    if (rc == 0 && w->tok_json) rc = h5u_blob_write(f, STORE_TOKENIZER_JSON, w->tok_json, w->tok_json_len, p);
    if (rc == 0) rc = h5u_attr_write_str(f, "checksums", STORE_CHECKSUM_KIND, p);
    if (H5Fclose(f) < 0 && rc == 0) {
        ll_error("%s: closing failed (disk full?)", p);
        rc = -1;
    }
    return rc;
}

/* Closes everything (collectively), then rank 0 commits or removes the
 * temporary file and tells the others which. */
int store_pwriter_finish(store_pwriter *w, int ok) {
    if (!w) return -1;
    for (int i = 0; i < 2; i++) {
        if (w->tokens[i] >= 0) H5Dclose(w->tokens[i]);
        if (w->offsets[i] >= 0) H5Dclose(w->offsets[i]);
    }
    int good = all_ok(ok && !w->failed);
    /* a failed store is thrown away: empty it before the collective close,
     * so that a full disk cannot fail the close (see close_discarding) */
    if (!good && w->rank == 0 && truncate(w->tmp, 0) != 0) { /* closing as it is */ }
    if (!good) comm_all(1);   /* every rank waits for the truncation */
    int closed = h5u_close_file(w->file);
    if (good && closed < 0) ll_error("%s: closing failed (disk full?)", w->tmp);
    good = all_ok(good && closed >= 0);
    int committed = 0;
    if (w->rank == 0) {
        if (good && add_checksums(w) == 0 && ll_commit_file(w->tmp, w->path) == 0) committed = 1;
        else unlink(w->tmp);
    }
    if (comm_bcast(&committed, sizeof committed, 0) != 0) committed = 0;
    free(w->tok_json);
    free(w);
    return committed ? 0 : -1;
}

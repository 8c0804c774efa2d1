/* sft_store.c: the SFT store (format "llmpi-sft", version 1; layout in
 * include/llmpi/sft.h): writer, whole-file reader, and the rank-0 build
 * (mix file + tokenizer -> store).
 *
 * Invariants:
 * - Written like the token store: "<out>.tmp.<pid>" with HDF5 1.8 bounds
 *   (h5u_set_format), groups and datasets without modification times, the
 *   attributes, then h5u_close_file and ll_commit_file (fsync + rename). Any
 *   failure removes the temporary file; an earlier file at the path stays.
 * - Everything written is a function of the mix (its text and data) and the
 *   tokenizer: the same inputs give byte-identical files on any rank count.
 * - Each dataset's attribute crc32c is the CRC-32C of its elements as
 *   little-endian bytes of the stored width; the reader recomputes it (it
 *   reads everything anyway) and validates every value: tokens < vocab_size,
 *   mask 0/1, offsets from 0, non-decreasing, ending at n_tokens, sources <
 *   the number of sources. A store that passes the reader is safe to pack.
 */
#include <hdf5.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llmpi/crc32c.h"
#include "llmpi/h5.h"
#include "llmpi/sft.h"
#include "llmpi/util.h"

static const char *const split_name[2] = {"train", "val"};

/* CRC-32C of count elements of width bytes in host order, hashed as little-endian. */
static uint32_t crc_le(const void *buf, size_t count, size_t width) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return ll_crc32c(0, buf, count * width);
#else
    uint32_t crc = 0;
    const unsigned char *p = buf;
    for (size_t i = 0; i < count; i++, p += width) {
        unsigned char le[8];
        for (size_t b = 0; b < width; b++) le[b] = p[width - 1 - b];
        crc = ll_crc32c(crc, le, width);
    }
    return crc;
#endif
}

/* ---- writer ---- */

/* Creates a contiguous 1-D dataset of n elements (file type ftype, no
 * times), writes buf (memory type mtype) and its crc32c attribute. 0 / -1
 * (one line). */
static int write_dataset(hid_t group, const char *name, hid_t ftype, hid_t mtype, const void *buf, uint64_t n,
                         size_t width, const char *path) {
    hsize_t dim = n;
    hid_t space = H5Screate_simple(1, &dim, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE), d = -1;
    int rc = -1;
    if (space >= 0 && dcpl >= 0 && H5Pset_obj_track_times(dcpl, 0) >= 0)
        d = H5Dcreate2(group, name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d >= 0 && (n == 0 || H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0)) rc = 0;
    if (rc != 0) ll_error("%s: dataset %s: cannot write (disk full?)", path, name);
    else rc = h5u_attr_write_u64(d, "crc32c", crc_le(buf, (size_t)n, width), path);
    if (d >= 0) H5Dclose(d);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (space >= 0) H5Sclose(space);
    return rc;
}

/* Gathers the examples idx[0..n) of x into the four arrays of one split and
 * writes them into group g. 0 / -1 (one line). */
static int write_split(hid_t g, const sft_mixed *x, const int64_t *idx, int64_t n, size_t token_bytes,
                       const char *path, uint64_t *n_tokens_out) {
    uint64_t total = 0;
    for (int64_t k = 0; k < n; k++) total += x->offsets[idx[k] + 1] - x->offsets[idx[k]];
    void *tokens = ll_malloc((size_t)(total ? total : 1) * token_bytes);
    uint8_t *mask = ll_malloc((size_t)(total ? total : 1));
    uint64_t *offsets = ll_malloc((size_t)(n + 1) * sizeof *offsets);
    uint16_t *source = ll_malloc((size_t)(n ? n : 1) * sizeof *source);
    int rc = -1;
    if (tokens && mask && offsets && source) {
        uint64_t at = 0;
        offsets[0] = 0;
        for (int64_t k = 0; k < n; k++) {
            const int32_t *ids;
            const uint8_t *m;
            size_t len = sft_mixed_example(x, idx[k], &ids, &m);
            for (size_t t = 0; t < len; t++) {
                if (token_bytes == 2) ((uint16_t *)tokens)[at + t] = (uint16_t)ids[t];
                else ((uint32_t *)tokens)[at + t] = (uint32_t)ids[t];
            }
            memcpy(mask + at, m, len);
            at += len;
            offsets[k + 1] = at;
            source[k] = x->source[idx[k]];
        }
        rc = write_dataset(g, "tokens", token_bytes == 2 ? H5T_STD_U16LE : H5T_STD_U32LE,
                           token_bytes == 2 ? H5T_NATIVE_UINT16 : H5T_NATIVE_UINT32, tokens, total, token_bytes,
                           path);
        if (rc == 0) rc = write_dataset(g, "loss_mask", H5T_STD_U8LE, H5T_NATIVE_UINT8, mask, total, 1, path);
        if (rc == 0)
            rc = write_dataset(g, "example_offsets", H5T_STD_U64LE, H5T_NATIVE_UINT64, offsets, (uint64_t)n + 1, 8,
                               path);
        if (rc == 0)
            rc = write_dataset(g, "example_source", H5T_STD_U16LE, H5T_NATIVE_UINT16, source, (uint64_t)n, 2, path);
    }
    free(tokens);
    free(mask);
    free(offsets);
    free(source);
    *n_tokens_out = total;
    return rc;
}

/* Writes x as an SFT store at path (temporary name, fsync, rename). */
int sft_store_write(const char *path, const sft_mixed *x, const sft_mix *m, const tokenizer *tok) {
    char tmp[1200];
    if (ll_tmp_path(tmp, sizeof tmp, path) != 0) { ll_error("%s: path too long", path); return -1; }
    uint32_t vocab = (uint32_t)tok_vocab_size(tok);
    size_t token_bytes = vocab <= 65536 ? 2 : 4;
    /* source names, one per line (a name comes from "[source NAME]": no newline) */
    size_t names_len = 1;
    for (int i = 0; i < m->n_sources; i++) names_len += strlen(m->sources[i].name) + 1;
    char *names = ll_malloc(names_len);
    char *report = names ? sft_mixed_report_json(x, m) : NULL;
    if (!names || !report) { free(names); free(report); return -1; }
    names[0] = '\0';
    for (int i = 0; i < m->n_sources; i++) {
        strcat(names, m->sources[i].name);
        if (i + 1 < m->n_sources) strcat(names, "\n");
    }

    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), fcpl = H5Pcreate(H5P_FILE_CREATE), f = -1;
    if (fapl >= 0 && fcpl >= 0 && H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) >= 0 && h5u_set_format(fapl, fcpl) == 0)
        f = H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (fcpl >= 0) H5Pclose(fcpl);
    if (f < 0) {
        ll_error("%s: cannot create %s (does the folder exist and is it writable?)", path, tmp);
        free(names);
        free(report);
        return -1;
    }
    int rc = 0;
    uint64_t n_tokens[2] = {0, 0}, n_examples[2] = {(uint64_t)x->n_train, (uint64_t)x->n_val};
    const int64_t *idx[2] = {x->train, x->val};
    for (int i = 0; i < 2 && rc == 0; i++) {
        hid_t g = h5u_create_group(f, split_name[i]);
        if (g < 0) { ll_error("%s: cannot create group /%s", tmp, split_name[i]); rc = -1; break; }
        rc = write_split(g, x, idx[i], (int64_t)n_examples[i], token_bytes, tmp, &n_tokens[i]);
        H5Gclose(g);
    }
    if (rc == 0 &&
        (h5u_attr_write_str(f, "format", SFT_STORE_FORMAT, tmp) != 0 ||
         h5u_attr_write_u64(f, "version", SFT_STORE_VERSION, tmp) != 0 ||
         h5u_attr_write_u64(f, "vocab_size", vocab, tmp) != 0 ||
         h5u_attr_write_u64(f, "eot_id", (uint64_t)tok_eot_id(tok), tmp) != 0 ||
         h5u_attr_write_str(f, "tokenizer", tok_identity(tok), tmp) != 0 ||
         h5u_attr_write_str(f, "template", SFT_TEMPLATE, tmp) != 0 ||
         h5u_attr_write_str(f, "mix", m->text ? m->text : "", tmp) != 0 ||
         h5u_attr_write_str(f, "sources", names, tmp) != 0 ||
         h5u_attr_write_str(f, "report", report, tmp) != 0 ||
         h5u_attr_write_u64(f, "n_examples_train", n_examples[0], tmp) != 0 ||
         h5u_attr_write_u64(f, "n_examples_val", n_examples[1], tmp) != 0 ||
         h5u_attr_write_u64(f, "n_tokens_train", n_tokens[0], tmp) != 0 ||
         h5u_attr_write_u64(f, "n_tokens_val", n_tokens[1], tmp) != 0 ||
         h5u_attr_write_str(f, "checksums", "crc32c", tmp) != 0))
        rc = -1;
    free(names);
    free(report);
    if (rc != 0) {
        /* empty the file first so HDF5's closing flush cannot fail on a full disk */
        if (truncate(tmp, 0) != 0) { /* close as it is */ }
        if (H5Fclose(f) < 0) H5Fclose(f);
        unlink(tmp);
        return -1;
    }
    if (h5u_close_file(f) != 0) {
        ll_error("%s: closing failed (disk full?)", tmp);
        unlink(tmp);
        return -1;
    }
    if (ll_commit_file(tmp, path) != 0) { unlink(tmp); return -1; }
    return 0;
}

/* Loads the mix, builds with tok, writes. */
int sft_build_store_with(const char *mix_path, const tokenizer *tok, const char *out_path) {
    sft_mix m;
    if (sft_mix_load(mix_path, &m) != 0) return -1;
    sft_template tpl;
    int rc = sft_template_init(&tpl, tok);
    sft_mixed x;
    if (rc == 0) rc = sft_mix_build(&m, tok, &x);
    if (rc == 0) {
        rc = sft_store_write(out_path, &x, &m, tok);
        sft_mixed_free(&x);
    }
    sft_mix_free(&m);
    return rc;
}

/* Loads the tokenizer, then sft_build_store_with. */
int sft_build_store(const char *mix_path, const char *tokenizer_path, const char *out_path) {
    tokenizer *tok = tok_load(tokenizer_path);
    if (!tok) return -1;
    int rc = sft_build_store_with(mix_path, tok, out_path);
    tok_free(tok);
    return rc;
}

/* ---- reader ---- */

/* Reads a string attribute of any length into a malloc'ed string ("" when
 * absent and absent_ok). 0 / -1 (one line). */
static int read_str_alloc(hid_t loc, const char *name, const char *path, char **out) {
    *out = NULL;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) { ll_error("%s: attribute %s missing", path, name); return -1; }
    hid_t ft = H5Aget_type(a), mt = -1;
    int rc = -1;
    if (ft >= 0 && H5Tget_class(ft) == H5T_STRING && !H5Tis_variable_str(ft)) {
        size_t size = H5Tget_size(ft);
        char *buf = size > 0 && size < ((size_t)1 << 30) ? ll_malloc(size + 1) : NULL;
        mt = H5Tcopy(H5T_C_S1);
        if (buf && mt >= 0 && H5Tset_size(mt, size) >= 0 && H5Aread(a, mt, buf) >= 0) {
            buf[size] = '\0';
            *out = buf;
            rc = 0;
        } else {
            free(buf);
        }
    }
    if (rc != 0) ll_error("%s: attribute %s is not a readable fixed-length string", path, name);
    if (mt >= 0) H5Tclose(mt);
    if (ft >= 0) H5Tclose(ft);
    H5Aclose(a);
    return rc;
}

/* Reads the 1-D dataset split/name, which must hold n elements of an
 * unsigned integer type of width bytes (any byte order), into buf (memory
 * type mtype), and checks its crc32c attribute. 0 / -1 (one line). */
static int read_dataset(hid_t g, const char *split, const char *name, hid_t mtype, size_t width, uint64_t n,
                        void *buf, const char *path) {
    char where[1300];
    snprintf(where, sizeof where, "%s: /%s/%s", path, split, name);
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0) { ll_error("%s: missing", where); return -1; }
    int rc = -1;
    hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
    hsize_t dim = 0;
    if (t < 0 || sp < 0 || H5Tget_class(t) != H5T_INTEGER || H5Tget_sign(t) != H5T_SGN_NONE ||
        H5Tget_size(t) != width || H5Sget_simple_extent_ndims(sp) != 1 || H5Sget_simple_extent_dims(sp, &dim, NULL) != 1)
        ll_error("%s: not a 1-D dataset of %zu-byte unsigned integers", where, width);
    else if (dim != n)
        ll_error("%s: %llu elements, the root attributes say %llu", where, (unsigned long long)dim,
                 (unsigned long long)n);
    else if (n > 0 && H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        ll_error("%s: read failed", where);
    else {
        uint64_t crc = 0;
        if (h5u_attr_read_u64(d, "crc32c", &crc, where) == 0) {
            uint32_t have = crc_le(buf, (size_t)n, width);
            if (crc != have)
                ll_error("%s: checksum mismatch (stored %08llx, computed %08x): the file is damaged", where,
                         (unsigned long long)crc, have);
            else
                rc = 0;
        }
    }
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    return rc;
}

/* Reads and validates one split. */
static int load_split(hid_t f, sft_store *s, int i, uint64_t n_examples, uint64_t n_tokens) {
    sft_split *sp = &s->split[i];
    const char *path = s->path;
    if (n_tokens > ((uint64_t)1 << 40) || n_examples > n_tokens) {
        ll_error("%s: /%s: %llu examples, %llu tokens: implausible counts", path, split_name[i],
                 (unsigned long long)n_examples, (unsigned long long)n_tokens);
        return -1;
    }
    sp->n_examples = n_examples;
    sp->n_tokens = n_tokens;
    size_t width = s->vocab_size <= 65536 ? 2 : 4;
    sp->tokens = ll_malloc((size_t)(n_tokens ? n_tokens : 1) * sizeof *sp->tokens);
    void *raw = ll_malloc((size_t)(n_tokens ? n_tokens : 1) * width);
    sp->mask = ll_malloc((size_t)(n_tokens ? n_tokens : 1));
    sp->offsets = ll_malloc((size_t)(n_examples + 1) * sizeof *sp->offsets);
    sp->source = ll_malloc((size_t)(n_examples ? n_examples : 1) * sizeof *sp->source);
    hid_t g = -1;
    int rc = -1;
    if (!sp->tokens || !raw || !sp->mask || !sp->offsets || !sp->source) goto done;
    g = H5Gopen2(f, split_name[i], H5P_DEFAULT);
    if (g < 0) { ll_error("%s: group /%s missing", path, split_name[i]); goto done; }
    if (read_dataset(g, split_name[i], "tokens", width == 2 ? H5T_NATIVE_UINT16 : H5T_NATIVE_UINT32, width, n_tokens,
                     raw, path) != 0 ||
        read_dataset(g, split_name[i], "loss_mask", H5T_NATIVE_UINT8, 1, n_tokens, sp->mask, path) != 0 ||
        read_dataset(g, split_name[i], "example_offsets", H5T_NATIVE_UINT64, 8, n_examples + 1, sp->offsets, path) != 0 ||
        read_dataset(g, split_name[i], "example_source", H5T_NATIVE_UINT16, 2, n_examples, sp->source, path) != 0)
        goto done;
    for (uint64_t t = 0; t < n_tokens; t++) {
        uint32_t v = width == 2 ? ((uint16_t *)raw)[t] : ((uint32_t *)raw)[t];
        if (v >= s->vocab_size) {
            ll_error("%s: /%s/tokens[%llu] = %u is outside the vocabulary of %u", path, split_name[i],
                     (unsigned long long)t, v, s->vocab_size);
            goto done;
        }
        if (sp->mask[t] > 1) {
            ll_error("%s: /%s/loss_mask[%llu] = %u is not 0 or 1", path, split_name[i], (unsigned long long)t,
                     sp->mask[t]);
            goto done;
        }
        sp->tokens[t] = (int32_t)v;
    }
    if (sp->offsets[0] != 0 || sp->offsets[n_examples] != n_tokens) {
        ll_error("%s: /%s/example_offsets must run from 0 to %llu", path, split_name[i], (unsigned long long)n_tokens);
        goto done;
    }
    for (uint64_t k = 0; k < n_examples; k++) {
        if (sp->offsets[k + 1] <= sp->offsets[k]) {
            ll_error("%s: /%s/example_offsets[%llu]: an empty or backwards example", path, split_name[i],
                     (unsigned long long)k + 1);
            goto done;
        }
        if (sp->source[k] >= s->n_sources) {
            ll_error("%s: /%s/example_source[%llu] = %u, but the store names %d sources", path, split_name[i],
                     (unsigned long long)k, sp->source[k], s->n_sources);
            goto done;
        }
    }
    rc = 0;
done:
    if (g >= 0) H5Gclose(g);
    free(raw);
    return rc;
}

int sft_store_load(const char *path, sft_store *s) {
    memset(s, 0, sizeof *s);
    if (snprintf(s->path, sizeof s->path, "%s", path) >= (int)sizeof s->path) {
        ll_error("%s: path too long", path);
        return -1;
    }
    hid_t f = h5u_open_readonly(path);
    if (f < 0) return -1;
    int rc = -1;
    char format[64], *names = NULL;
    uint64_t version = 0, vocab = 0, eot = 0, counts[4];
    static const char *const count_names[4] = {"n_examples_train", "n_tokens_train", "n_examples_val", "n_tokens_val"};
    if (h5u_attr_read_str(f, "format", format, sizeof format, path, NULL) != 0) goto done;
    if (strcmp(format, SFT_STORE_FORMAT) != 0) {
        ll_error("%s: format '%s', expected an SFT store (%s; build one with llmpi mix)", path, format,
                 SFT_STORE_FORMAT);
        goto done;
    }
    if (h5u_attr_read_u64(f, "version", &version, path) != 0) goto done;
    if (version != SFT_STORE_VERSION) {
        ll_error("%s: SFT store version %llu, this llmpi reads version %d", path, (unsigned long long)version,
                 SFT_STORE_VERSION);
        goto done;
    }
    s->version = (int)version;
    if (h5u_attr_read_u64(f, "vocab_size", &vocab, path) != 0 || h5u_attr_read_u64(f, "eot_id", &eot, path) != 0)
        goto done;
    if (vocab == 0 || vocab > INT32_MAX || eot >= vocab) {
        ll_error("%s: vocab_size %llu / eot_id %llu invalid", path, (unsigned long long)vocab, (unsigned long long)eot);
        goto done;
    }
    s->vocab_size = (uint32_t)vocab;
    s->eot_id = (uint32_t)eot;
    if (h5u_attr_read_str(f, "tokenizer", s->tokenizer, sizeof s->tokenizer, path, NULL) != 0 ||
        h5u_attr_read_str(f, "template", s->template_name, sizeof s->template_name, path, NULL) != 0)
        goto done;
    if (strcmp(s->template_name, SFT_TEMPLATE) != 0) {
        ll_error("%s: chat template '%s', this llmpi knows %s", path, s->template_name, SFT_TEMPLATE);
        goto done;
    }
    if (read_str_alloc(f, "mix", path, &s->mix_text) != 0 || read_str_alloc(f, "report", path, &s->report) != 0 ||
        read_str_alloc(f, "sources", path, &names) != 0)
        goto done;
    /* the names, one per line */
    int n = 1;
    for (const char *p = names; *p; p++) n += *p == '\n';
    if (n > 65535) { ll_error("%s: more than 65535 sources", path); goto done; }
    s->source_names = ll_calloc((size_t)n, sizeof *s->source_names);
    if (!s->source_names) goto done;
    char *save = names;
    for (int i = 0; i < n; i++) {
        char *nl = strchr(save, '\n');
        size_t len = nl ? (size_t)(nl - save) : strlen(save);
        s->source_names[i] = ll_malloc(len + 1);
        if (!s->source_names[i]) goto done;
        memcpy(s->source_names[i], save, len);
        s->source_names[i][len] = '\0';
        s->n_sources = i + 1;
        save += len + (nl ? 1 : 0);
    }
    for (int i = 0; i < 4; i++)
        if (h5u_attr_read_u64(f, count_names[i], &counts[i], path) != 0) goto done;
    if (load_split(f, s, 0, counts[0], counts[1]) != 0 || load_split(f, s, 1, counts[2], counts[3]) != 0) goto done;
    rc = 0;
done:
    free(names);
    H5Fclose(f);
    if (rc != 0) sft_store_free(s);
    return rc;
}

void sft_store_free(sft_store *s) {
    for (int i = 0; i < 2; i++) {
        free(s->split[i].tokens);
        free(s->split[i].mask);
        free(s->split[i].offsets);
        free(s->split[i].source);
    }
    for (int i = 0; i < s->n_sources; i++) free(s->source_names[i]);
    free(s->source_names);
    free(s->mix_text);
    free(s->report);
    char path[sizeof s->path];
    memcpy(path, s->path, sizeof path);
    memset(s, 0, sizeof *s);
    memcpy(s->path, path, sizeof path);
}

/* Header-only comparison: no dataset is read. Errors count as "differs". */
int sft_store_matches(const char *path, const char *mix_text, const char *tokenizer_identity) {
    if (access(path, R_OK) != 0) return 0;
    char msg[256];
    if (h5u_check_file_why(path, msg, sizeof msg) != 0) return 0;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return 0;
    char format[64] = "", tok[TOK_IDENTITY_MAX] = "", tpl[64] = "";
    int ex_f = 0, ex_t = 0, ex_p = 0, same = 0;
    /* read quietly: a store that is not ours is simply rebuilt */
    if (h5u_attr_read_str(f, "format", format, sizeof format, path, &ex_f) == 0 && ex_f &&
        !strcmp(format, SFT_STORE_FORMAT) &&
        h5u_attr_read_str(f, "tokenizer", tok, sizeof tok, path, &ex_t) == 0 && ex_t &&
        !strcmp(tok, tokenizer_identity) &&
        h5u_attr_read_str(f, "template", tpl, sizeof tpl, path, &ex_p) == 0 && ex_p && !strcmp(tpl, SFT_TEMPLATE)) {
        hid_t a = H5Aopen(f, "mix", H5P_DEFAULT);
        if (a >= 0) {
            hid_t ft = H5Aget_type(a);
            size_t size = ft >= 0 ? H5Tget_size(ft) : 0;
            size_t want = strlen(mix_text) + 1;
            if (size == want) {
                char *buf = ll_malloc_quiet(size);
                hid_t mt = H5Tcopy(H5T_C_S1);
                if (buf && mt >= 0 && H5Tset_size(mt, size) >= 0 && H5Aread(a, mt, buf) >= 0)
                    same = memcmp(buf, mix_text, size) == 0;
                if (mt >= 0) H5Tclose(mt);
                free(buf);
            }
            if (ft >= 0) H5Tclose(ft);
            H5Aclose(a);
        }
    }
    H5Fclose(f);
    return same;
}

/* ---- description ---- */

char *sft_store_summary(const sft_store *s) {
    json_error_t err;
    json_t *root = json_loads(s->report, 0, &err);
    json_t *sources = root ? json_object_get(root, "sources") : NULL;
    if (!json_is_array(sources)) {
        ll_error("%s: attribute report: not the build report JSON", s->path);
        json_decref(root);
        return NULL;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) { json_decref(root); ll_error("sft: out of memory describing %s", s->path); return NULL; }
    fprintf(f, "format      %s version %d, template %s\n", SFT_STORE_FORMAT, s->version, s->template_name);
    fprintf(f, "tokenizer   %s (vocab_size %u, token type %s)\n", s->tokenizer, s->vocab_size,
            s->vocab_size <= 65536 ? "uint16" : "uint32");
    for (int i = 0; i < 2; i++) {
        uint64_t targets = 0;
        for (uint64_t t = 0; t < s->split[i].n_tokens; t++) targets += s->split[i].mask[t];
        fprintf(f, "%-11s %llu examples, %llu tokens, %llu target tokens (%.1f%%)\n", split_name[i],
                (unsigned long long)s->split[i].n_examples, (unsigned long long)s->split[i].n_tokens,
                (unsigned long long)targets,
                s->split[i].n_tokens ? 100.0 * (double)targets / (double)s->split[i].n_tokens : 0.0);
    }
    fprintf(f, "%-16s %-13s %8s %8s %6s %10s %7s %7s %5s  %s\n", "source", "format", "records", "train", "val",
            "tokens", "target", "actual", "dups", "skipped");
    size_t k;
    json_t *src;
    json_array_foreach(sources, k, src) {
        char skipped[512] = "-";
        size_t at = 0;
        const char *reason;
        json_t *v;
        json_object_foreach(json_object_get(src, "skipped"), reason, v) {
            int w = snprintf(skipped + at, sizeof skipped - at, "%s%s %lld", at ? ", " : "", reason,
                             (long long)json_integer_value(v));
            if (w < 0 || (size_t)w >= sizeof skipped - at) break;
            at += (size_t)w;
        }
        fprintf(f, "%-16s %-13s %8lld %8lld %6lld %10lld %6.2f%% %6.2f%% %5lld  %s\n",
                json_string_value(json_object_get(src, "name")) ? json_string_value(json_object_get(src, "name")) : "?",
                json_string_value(json_object_get(src, "format")) ? json_string_value(json_object_get(src, "format")) : "?",
                (long long)json_integer_value(json_object_get(src, "records")),
                (long long)json_integer_value(json_object_get(src, "train_examples")),
                (long long)json_integer_value(json_object_get(src, "val_examples")),
                (long long)json_integer_value(json_object_get(src, "train_tokens")),
                100.0 * json_real_value(json_object_get(src, "target_share")),
                100.0 * json_real_value(json_object_get(src, "actual_share")),
                (long long)json_integer_value(json_object_get(src, "duplicates")), skipped);
    }
    json_decref(root);
    if (fclose(f) != 0 || !text) { free(text); ll_error("sft: out of memory describing %s", s->path); return NULL; }
    return text;
}

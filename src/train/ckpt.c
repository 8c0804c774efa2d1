/* ckpt.c: checkpoints in HDF5 (layout in include/llmpi/ckpt.h).
 *
 * Invariants:
 *   - the file at a final path is always complete: written as
 *     "<path>.tmp.<pid>", fsynced, renamed, directory fsynced;
 *   - tensors are float32 datasets named and shaped by the model's tensor
 *     table (PyTorch names, [out, in]), so tools can read them without us;
 *   - a load refuses any difference in format, version, model shape, tensor
 *     set or tensor shape with one line naming the file (and the tensor):
 *     nothing is ever silently reshaped, skipped or zero-filled;
 *   - objects carry no modification times: the same state saves to the same bytes;
 *   - checkpoint names are "step-" + at least 8 digits + ".h5"; anything else
 *     in the directory (temporaries, user files) is never read or deleted.
 */
#include "llmpi/ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <hdf5.h>
#include <signal.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llmpi/h5.h"

/* Limits that reject garbage before it reaches gpt_create. */
#define CKPT_MAX_LAYERS 4096
#define CKPT_MAX_DIM (1 << 20)

static const char *const state_names[4] = {"step", "tokens_seen", "loader_seed", "loader_position"};

/* ---- small HDF5 helpers ---- */

/* Dataset creation properties without modification times, so the same
 * state saved twice gives byte-identical files. -1 on failure. */
static hid_t untimed_dcpl(void) {
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (dcpl >= 0 && H5Pset_obj_track_times(dcpl, 0) < 0) { H5Pclose(dcpl); return -1; }
    return dcpl;
}

/* Writes a 1-D uint64 dataset of n values (scalar when n == 1). 0 / -1. */
static int write_u64_dataset(hid_t loc, const char *name, const uint64_t *v, hsize_t n, const char *path) {
    hid_t space = n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, NULL);
    hid_t dcpl = untimed_dcpl();
    hid_t d = space < 0 || dcpl < 0 ? -1 : H5Dcreate2(loc, name, H5T_STD_U64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (dcpl >= 0) H5Pclose(dcpl);
    int rc = (d >= 0 && H5Dwrite(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0) ? 0 : -1;
    if (rc != 0) ll_error("%s: /state/%s: cannot write", path, name);
    if (d >= 0) H5Dclose(d);
    if (space >= 0) H5Sclose(space);
    return rc;
}

/* Reads n unsigned integers from /state/<name> (scalar or 1-D of n). 0 / -1. */
static int read_u64_dataset(hid_t loc, const char *name, uint64_t *v, hsize_t n, const char *path) {
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) { ll_error("%s: /state/%s: missing", path, name); return -1; }
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) { ll_error("%s: /state/%s: cannot open", path, name); return -1; }
    hid_t type = H5Dget_type(d), space = H5Dget_space(d);
    int rc = -1;
    hssize_t npoints = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
    if (type < 0 || H5Tget_class(type) != H5T_INTEGER || H5Tget_sign(type) != H5T_SGN_NONE)
        ll_error("%s: /state/%s: expected unsigned integers", path, name);
    else if (npoints != (hssize_t)n || H5Sget_simple_extent_ndims(space) > 1)
        ll_error("%s: /state/%s: expected %llu values, found %lld", path, name, (unsigned long long)n,
                 (long long)npoints);
    else if (H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
        ll_error("%s: /state/%s: cannot read", path, name);
    else
        rc = 0;
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    H5Dclose(d);
    return rc;
}

/* Opens a file read-only after checking it is HDF5 at all. -1 (one line). */
static hid_t open_readonly(const char *path) {
    if (access(path, R_OK) != 0) { ll_error("%s: cannot read: %s", path, strerror(errno)); return -1; }
    if (H5Fis_hdf5(path) <= 0) { ll_error("%s: not an HDF5 file (or truncated)", path); return -1; }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0) H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl >= 0 ? fapl : H5P_DEFAULT);
    if (fapl >= 0) H5Pclose(fapl);
    if (f < 0) ll_error("%s: cannot open as HDF5 (truncated or damaged?)", path);
    return f;
}

/* Writes one tensor (float32, its table shape) from src into group. 0 / -1. */
static int write_tensor(hid_t group, const char *prefix, const gpt_tensor_info *t, const float *src,
                        const char *path) {
    hsize_t dims[2] = {t->shape[0], t->ndim == 2 ? t->shape[1] : 0};
    hid_t space = H5Screate_simple(t->ndim, dims, NULL);
    hid_t dcpl = untimed_dcpl();
    hid_t d = space < 0 || dcpl < 0 ? -1 : H5Dcreate2(group, t->name, H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (dcpl >= 0) H5Pclose(dcpl);
    int rc = (d >= 0 && H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, src + t->offset) >= 0) ? 0 : -1;
    if (rc != 0) ll_error("%s: %s/%s: cannot write (disk full?)", path, prefix, t->name);
    if (d >= 0) H5Dclose(d);
    if (space >= 0) H5Sclose(space);
    return rc;
}

/* Reads one tensor into dst + offset after checking type float32 and the
 * exact shape of the table entry. 0 / -1 (one line naming the tensor). */
static int read_tensor(hid_t group, const char *prefix, const gpt_tensor_info *t, float *dst, const char *path) {
    if (H5Lexists(group, t->name, H5P_DEFAULT) <= 0) {
        ll_error("%s: missing tensor %s/%s", path, prefix, t->name);
        return -1;
    }
    hid_t d = H5Dopen2(group, t->name, H5P_DEFAULT);
    if (d < 0) { ll_error("%s: %s/%s: cannot open", path, prefix, t->name); return -1; }
    hid_t type = H5Dget_type(d), space = H5Dget_space(d);
    int rc = -1;
    hsize_t dims[H5S_MAX_RANK] = {0};
    int ndim = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
    if (ndim >= 0 && ndim <= H5S_MAX_RANK) H5Sget_simple_extent_dims(space, dims, NULL);
    if (type < 0 || H5Tget_class(type) != H5T_FLOAT || H5Tget_size(type) != 4) {
        ll_error("%s: %s/%s: not float32", path, prefix, t->name);
    } else if (ndim != t->ndim || dims[0] != t->shape[0] || (ndim == 2 && dims[1] != t->shape[1])) {
        char got[64] = "?", want[64];
        if (ndim == 1) snprintf(got, sizeof got, "[%llu]", (unsigned long long)dims[0]);
        else if (ndim == 2) snprintf(got, sizeof got, "[%llu, %llu]", (unsigned long long)dims[0], (unsigned long long)dims[1]);
        else snprintf(got, sizeof got, "rank %d", ndim);
        if (t->ndim == 1) snprintf(want, sizeof want, "[%zu]", t->shape[0]);
        else snprintf(want, sizeof want, "[%zu, %zu]", t->shape[0], t->shape[1]);
        ll_error("%s: %s/%s: shape %s, the model expects %s", path, prefix, t->name, got, want);
    } else if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst + t->offset) < 0) {
        ll_error("%s: %s/%s: cannot read (truncated?)", path, prefix, t->name);
    } else {
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
        ll_error("%s: model has no tensor table", path);
        return -1;
    }
    for (int i = 0; i < m->num_tensors; i++) {
        const gpt_tensor_info *t = &m->tensors[i];
        size_t numel = t->ndim == 2 ? t->shape[0] * t->shape[1] : t->shape[0];
        if (t->name[0] == '\0' || strchr(t->name, '/') || memchr(t->name, '\0', sizeof t->name) == NULL ||
            (t->ndim != 1 && t->ndim != 2) || numel != t->numel || t->offset > m->num_params ||
            t->numel > m->num_params - t->offset) {
            ll_error("%s: model tensor table entry %d (%.*s) is inconsistent", path, i, (int)sizeof t->name, t->name);
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
    const char *v = getenv("LLMPI_FAULT_KILL_IN_CKPT");
    if (v && strtoull(v, NULL, 10) == step) {
        fprintf(stderr, "llmpi: fault injection: killed while writing %s\n", tmp);
        raise(SIGKILL);
    }
}

/* Writes model, optional moments and state to path atomically. 0 / -1; on
 * -1 no temporary file is left and an earlier file at path is untouched. */
int ckpt_save(const char *path, const gpt_model *m, const float *adam_m, const float *adam_v,
              const ckpt_meta *meta) {
    if ((adam_m == NULL) != (adam_v == NULL)) {
        ll_error("%s: ckpt_save: both AdamW moments or neither", path);
        return -1;
    }
    if (check_table(m, path) != 0) return -1;
    char tmp[4200];
    if (ll_tmp_path(tmp, sizeof tmp, path) != 0) return -1;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0) H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl >= 0 ? fapl : H5P_DEFAULT);
    if (fapl >= 0) H5Pclose(fapl);
    if (f < 0) { ll_error("%s: cannot create %s (does the folder exist and is it writable?)", path, tmp); return -1; }

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
        h5u_attr_write_str(f, "config", meta->config, tmp) != 0)
        goto done;

    model = h5u_create_group(f, "model");
    if (model < 0) { ll_error("%s: cannot create /model", tmp); goto done; }
    for (int i = 0; i < m->num_tensors; i++)
        if (write_tensor(model, "/model", &m->tensors[i], m->params, tmp) != 0) goto done;
    fault_kill_midway(meta->step, tmp);

    if (adam_m) {
        optim = h5u_create_group(f, "optim");
        om = optim < 0 ? -1 : h5u_create_group(optim, "m");
        ov = optim < 0 ? -1 : h5u_create_group(optim, "v");
        if (om < 0 || ov < 0) { ll_error("%s: cannot create /optim", tmp); goto done; }
        for (int i = 0; i < m->num_tensors; i++)
            if (write_tensor(om, "/optim/m", &m->tensors[i], adam_m, tmp) != 0 ||
                write_tensor(ov, "/optim/v", &m->tensors[i], adam_v, tmp) != 0)
                goto done;
    }

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
    if (h5u_close_file(f) != 0 && rc == 0) { ll_error("%s: closing failed (disk full?)", tmp); rc = -1; }
    if (rc == 0 && ll_commit_file(tmp, path) != 0) rc = -1;
    if (rc != 0) unlink(tmp);
    return rc;
}

/* ---- peek / load ---- */

/* Reads and validates the root attributes and /state of an open file into
 * cfg and meta. 0 / -1. */
static int read_header(hid_t f, const char *path, gpt_config *cfg, ckpt_meta *meta) {
    char format[64];
    int has_format = 0;
    if (h5u_attr_read_str(f, "format", format, sizeof format, path, &has_format) != 0) return -1;
    if (!has_format || strcmp(format, CKPT_FORMAT) != 0) {
        ll_error("%s: not an llmpi checkpoint (format '%s', expected '%s')", path, has_format ? format : "",
                 CKPT_FORMAT);
        return -1;
    }
    uint64_t version = 0;
    if (h5u_attr_read_u64(f, "version", &version, path) != 0) return -1;
    if (version != CKPT_VERSION) {
        ll_error("%s: checkpoint version %llu, this build reads version %d", path, (unsigned long long)version,
                 CKPT_VERSION);
        return -1;
    }
    static const char *const shape_names[5] = {"n_layer", "n_head", "n_embd", "block_size", "vocab_size"};
    static const uint64_t shape_max[5] = {CKPT_MAX_LAYERS, CKPT_MAX_DIM, CKPT_MAX_DIM, CKPT_MAX_DIM, INT32_MAX};
    uint64_t shape[5];
    for (int i = 0; i < 5; i++) {
        if (h5u_attr_read_u64(f, shape_names[i], &shape[i], path) != 0) return -1;
        if (shape[i] == 0 || shape[i] > shape_max[i]) {
            ll_error("%s: %s = %llu out of range [1, %llu]", path, shape_names[i], (unsigned long long)shape[i],
                     (unsigned long long)shape_max[i]);
            return -1;
        }
    }
    if (shape[2] % shape[1] != 0) {
        ll_error("%s: n_embd %llu not divisible by n_head %llu", path, (unsigned long long)shape[2],
                 (unsigned long long)shape[1]);
        return -1;
    }
    cfg->n_layer = (int)shape[0];
    cfg->n_head = (int)shape[1];
    cfg->n_embd = (int)shape[2];
    cfg->block_size = (int)shape[3];
    cfg->vocab_size = (int)shape[4];

    memset(meta, 0, sizeof *meta);
    uint64_t root_step = 0;
    if (h5u_attr_read_u64(f, "step", &root_step, path) != 0 ||
        h5u_attr_read_str(f, "tokenizer", meta->tokenizer, sizeof meta->tokenizer, path, NULL) != 0 ||
        h5u_attr_read_str(f, "config", meta->config, sizeof meta->config, path, NULL) != 0)
        return -1;
    if (H5Lexists(f, "state", H5P_DEFAULT) <= 0) { ll_error("%s: missing group /state", path); return -1; }
    hid_t state = H5Gopen2(f, "state", H5P_DEFAULT);
    if (state < 0) { ll_error("%s: cannot open /state", path); return -1; }
    uint64_t values[4];
    int rc = 0;
    for (int i = 0; i < 4 && rc == 0; i++) rc = read_u64_dataset(state, state_names[i], &values[i], 1, path);
    if (rc == 0) rc = read_u64_dataset(state, "rng", meta->rng.s, 4, path);
    /* world_size: the rank count that wrote it (resuming elsewhere warns) */
    if (rc == 0 && H5Lexists(state, "world_size", H5P_DEFAULT) > 0)
        rc = read_u64_dataset(state, "world_size", &meta->world_size, 1, path);
    H5Gclose(state);
    if (rc != 0) return -1;
    if (values[0] != root_step) {
        ll_error("%s: /state/step %llu differs from the step attribute %llu", path, (unsigned long long)values[0],
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
    if (has_optim > 0 && !meta->has_optim) { ll_error("%s: /optim lacks m or v", path); return -1; }
    return 0;
}

/* Reads the model shape and metadata only. 0 / -1. */
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
    if (H5Gget_info(group, &info) < 0) { ll_error("%s: %s: cannot list", path, prefix); return -1; }
    if (info.nlinks != (hsize_t)n) {
        ll_error("%s: %s holds %llu tensors, the model has %d", path, prefix, (unsigned long long)info.nlinks, n);
        return -1;
    }
    return 0;
}

/* Reads every tensor of the table from the group at gpath into dst. */
static int read_group(hid_t f, const char *gpath, const gpt_model *m, float *dst, const char *path) {
    if (H5Lexists(f, gpath + 1, H5P_DEFAULT) <= 0) { ll_error("%s: missing group %s", path, gpath); return -1; }
    hid_t g = H5Gopen2(f, gpath, H5P_DEFAULT);
    if (g < 0) { ll_error("%s: cannot open %s", path, gpath); return -1; }
    /* Tensors by name first, so a missing one is named; then the count
     * catches tensors this model does not have. */
    int rc = 0;
    for (int i = 0; i < m->num_tensors && rc == 0; i++) rc = read_tensor(g, gpath, &m->tensors[i], dst, path);
    if (rc == 0) rc = check_tensor_count(g, gpath, m->num_tensors, path);
    H5Gclose(g);
    return rc;
}

/* Loads parameters (and moments when asked and present) into m, which must
 * have the checkpoint's exact shape. meta may be NULL. 0 / -1; on -1 the
 * buffers may be partly overwritten. */
int ckpt_load(const char *path, gpt_model *m, float *adam_m, float *adam_v, ckpt_meta *meta) {
    if (check_table(m, path) != 0) return -1;
    hid_t f = open_readonly(path);
    if (f < 0) return -1;
    gpt_config cfg;
    ckpt_meta local;
    ckpt_meta *mt = meta ? meta : &local;
    int rc = read_header(f, path, &cfg, mt);
    if (rc == 0 && memcmp(&cfg, &m->cfg, sizeof cfg) != 0) {
        ll_error("%s: checkpoint model L=%d H=%d C=%d T=%d V=%d, this model L=%d H=%d C=%d T=%d V=%d", path,
                 cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.block_size, cfg.vocab_size, m->cfg.n_layer,
                 m->cfg.n_head, m->cfg.n_embd, m->cfg.block_size, m->cfg.vocab_size);
        rc = -1;
    }
    if (rc == 0) rc = read_group(f, "/model", m, m->params, path);
    if (rc == 0 && adam_m && adam_v && mt->has_optim) {
        rc = read_group(f, "/optim/m", m, adam_m, path);
        if (rc == 0) rc = read_group(f, "/optim/v", m, adam_v, path);
    }
    H5Fclose(f);
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
        ll_error("%s: cannot list /model", path);
        goto done;
    }
    for (hsize_t i = 0; i < info.nlinks; i++) {
        hid_t obj = H5Oopen_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, H5P_DEFAULT);
        int is_dataset = obj >= 0 && H5Iget_type(obj) == H5I_DATASET;
        hid_t space = is_dataset ? H5Dget_space(obj) : -1;
        hssize_t np = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
        if (space >= 0) H5Sclose(space);
        if (obj >= 0) H5Oclose(obj);
        if (np < 0) { ll_error("%s: /model entry %llu is not a dataset", path, (unsigned long long)i); goto done; }
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

static int cmp_step_desc(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Lists the checkpoint steps in run_dir/checkpoints, newest first, into a
 * malloc'ed array (*steps NULL and *n 0 if the directory does not exist). */
static int list_steps(const char *run_dir, uint64_t **steps, size_t *n) {
    *steps = NULL;
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
        if (parse_ckpt_name(e->d_name, &step) != 0) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *grown = ll_realloc(*steps, cap * sizeof *grown);
            if (!grown) { free(*steps); *steps = NULL; closedir(d); return -1; }
            *steps = grown;
        }
        (*steps)[(*n)++] = step;
    }
    closedir(d);
    if (*n > 1) qsort(*steps, *n, sizeof **steps, cmp_step_desc);
    return 0;
}

/* Newest checkpoint whose header validates; out = "" if none. Invalid newer
 * files are skipped with a warning. 0 / -1 (unlistable directory). */
int ckpt_find_latest(const char *run_dir, char *out, size_t cap) {
    if (cap) out[0] = '\0';
    uint64_t *steps;
    size_t n;
    if (list_steps(run_dir, &steps, &n) != 0) return -1;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4200];
        if (ckpt_step_path(run_dir, steps[i], path, sizeof path) != 0) { rc = -1; break; }
        gpt_config cfg;
        ckpt_meta meta;
        unsigned long oom = ll_alloc_failures();
        if (access(path, R_OK) == 0 && ckpt_peek(path, &cfg, &meta) == 0) {
            if (strlen(path) >= cap) { ll_error("%s: path too long for the caller's buffer", path); rc = -1; }
            else memcpy(out, path, strlen(path) + 1);
            break;
        }
        /* out of memory (printed) says nothing about the file: never skip a good one for it */
        if (ll_alloc_failures() != oom) { rc = -1; break; }
        ll_warn("%s: skipped (unreadable or incomplete), trying an older checkpoint", path);
    }
    free(steps);
    return rc;
}

/* Deletes all but the newest keep checkpoints. 0 / -1. */
int ckpt_prune(const char *run_dir, int keep) {
    if (keep <= 0) { ll_error("ckpt.c: ckpt_prune: keep must be > 0, got %d", keep); return -1; }
    uint64_t *steps;
    size_t n;
    if (list_steps(run_dir, &steps, &n) != 0) return -1;
    int rc = 0;
    for (size_t i = (size_t)keep; i < n; i++) {
        char path[4200];
        if (ckpt_step_path(run_dir, steps[i], path, sizeof path) != 0 || (unlink(path) != 0 && errno != ENOENT)) {
            ll_error("%s: cannot delete old checkpoint: %s", path, strerror(errno));
            rc = -1;
            break;
        }
    }
    free(steps);
    return rc;
}

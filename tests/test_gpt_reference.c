/* test_gpt_reference.c: the hand-written GPT and AdamW against PyTorch.
 *
 * tests/fixtures/gpt_reference.h5 holds float64 PyTorch results for a tiny
 * GPT (written by tests/reference/gpt_reference.py; see its README). This
 * test loads the fixture's float32-exact parameters into gpt_model by
 * PyTorch name and checks, in float32:
 *   - the tensor table: every fixture tensor exists with the same shape and
 *     decay flag, and the table covers the whole parameter buffer;
 *   - forward: logits, last-position logits, loss;
 *   - backward: the gradient of the mean loss, tensor by tensor;
 *   - K AdamW steps taken as the trainer takes them (sum-loss gradients,
 *     global-norm clipping, schedule): per-step loss, lr, grad norm, clip
 *     decision, and the final parameters;
 *   - sched_lr against its closed form (optim.h) on several configs.
 *
 * Tolerances (float32 code vs float64 reference; a float32 PyTorch run of the
 * same model stays 20x or more inside every one of them):
 *   logits       |diff| <= 1e-5 * max(1, max|ref|)
 *   loss, grad norm, per-step loss   relative 1e-5
 *   lr           relative 1e-6 (sched_lr returns float)
 *   gradients    per tensor max|diff| <= 1e-4 * max|ref| + 1e-6
 *   params after K steps  |diff| <= 1e-5, except the key slice of
 *                c_attn.bias (see KEY_BIAS_TOL).
 * On failure every offending tensor is printed with its worst error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <hdf5.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpi/gpt.h"
#include "llmpi/optim.h"
#include "llmpi/util.h"

#define FIXTURE_FORMAT "llmpi-gpt-reference"
#define FIXTURE_VERSION 1

#define LOGITS_TOL 1e-5
#define LOSS_RTOL 1e-5
#define NORM_RTOL 1e-5
#define LR_RTOL 1e-6
#define GRAD_RTOL 1e-4
#define GRAD_ATOL 1e-6
#define PARAM_ATOL 1e-5
/* The key bias (rows C..2C of c_attn.bias) has an exactly zero gradient:
 * adding a constant to every key of a query shifts all its scores equally
 * and softmax ignores it. float32 leaves ~1e-9 of rounding there, which is
 * comparable to AdamW's eps=1e-8, so AdamW turns noise into steps of up to
 * ~lr while float64 PyTorch barely moves. We only require the slice to stay
 * within 2 * sum(lr) of the reference (any real bug in it shows in the
 * gradient check, where the reference is ~0). */
#define KEY_BIAS_LR_MULT 2.0

typedef struct {
    gpt_config cfg;
    int B, T, K, n_targets;
    double lr, min_lr_frac, beta1, beta2, eps, weight_decay, max_norm;
    int warmup_steps, max_steps;
    int *inputs, *targets;           /* (B*T) */
    double *logits;                  /* (B*T*V) */
    double loss;
    int *step_inputs, *step_targets; /* (K*B*T) */
    double *step_lr, *step_norm, *step_factor, *step_loss; /* (K) */
    int n_sched;
    int *sched_step;
    double *sched_lr;
    hid_t file;
    gpt_model model;
} fixture;

/* ---- fixture reading -------------------------------------------------------- */

/* The fixture path: $LLMPI_SOURCE_DIR/tests/fixtures/..., else next to this
 * source file (CMake compiles it by absolute path). Returns 0, -1 if too long. */
static int fixture_path(char *out, size_t cap) {
    const char *src = getenv("LLMPI_SOURCE_DIR");
    int n;
    if (src && *src) {
        n = snprintf(out, cap, "%s/tests/fixtures/gpt_reference.h5", src);
    } else {
        char here[4096];
        snprintf(here, sizeof here, "%s", __FILE__);
        n = snprintf(out, cap, "%s/fixtures/gpt_reference.h5", dirname(here));
    }
    if (n < 0 || (size_t)n >= cap) {
        ll_error("test_gpt_reference: fixture_path: path too long");
        return -1;
    }
    return 0;
}

/* Reads scalar attribute `name` of the file root as int or double (memtype).
 * Returns 0, or -1 if missing or not convertible. */
static int read_attr(hid_t file, const char *name, hid_t memtype, void *out) {
    if (H5Aexists(file, name) <= 0) {
        ll_error("test_gpt_reference: read_attr: attribute '%s' missing", name);
        return -1;
    }
    hid_t attr = H5Aopen(file, name, H5P_DEFAULT);
    hid_t space = attr < 0 ? -1 : H5Aget_space(attr);
    int ok = attr >= 0 && space >= 0 && H5Sget_simple_extent_npoints(space) == 1 &&
             H5Aread(attr, memtype, out) >= 0;
    if (space >= 0) H5Sclose(space);
    if (attr >= 0) H5Aclose(attr);
    if (!ok) {
        ll_error("test_gpt_reference: read_attr: attribute '%s' unreadable or not a scalar", name);
        return -1;
    }
    return 0;
}

/* Reads fixed-length string attribute `name` into out (NUL-terminated).
 * Returns 0, or -1 if missing, not a fixed string, or longer than cap-1. */
static int read_attr_string(hid_t file, const char *name, char *out, size_t cap) {
    if (H5Aexists(file, name) <= 0) {
        ll_error("test_gpt_reference: read_attr_string: attribute '%s' missing", name);
        return -1;
    }
    hid_t attr = H5Aopen(file, name, H5P_DEFAULT);
    hid_t type = attr < 0 ? -1 : H5Aget_type(attr);
    size_t size = type < 0 ? 0 : H5Tget_size(type);
    int ok = type >= 0 && H5Tget_class(type) == H5T_STRING && H5Tis_variable_str(type) == 0 &&
             size > 0 && size < cap && H5Aread(attr, type, out) >= 0;
    if (type >= 0) H5Tclose(type);
    if (attr >= 0) H5Aclose(attr);
    if (!ok) {
        ll_error("test_gpt_reference: read_attr_string: attribute '%s' is not a fixed string "
                 "shorter than %zu", name, cap);
        return -1;
    }
    out[size] = '\0';
    return 0;
}

/* Reads dataset `path` into buf as memtype after checking that its shape is
 * exactly dims[0..rank-1] (rank 0: scalar). Returns 0, or -1 if missing or
 * of another shape. */
static int read_dataset(hid_t file, const char *path, hid_t memtype, void *buf, int rank,
                        const hsize_t *dims) {
    hid_t dset = H5Dopen2(file, path, H5P_DEFAULT);
    if (dset < 0) {
        ll_error("test_gpt_reference: read_dataset: '%s' missing from the fixture", path);
        return -1;
    }
    hid_t space = H5Dget_space(dset);
    hsize_t have[H5S_MAX_RANK];
    int have_rank = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
    int ok = have_rank == rank && H5Sget_simple_extent_dims(space, have, NULL) == rank;
    for (int i = 0; ok && i < rank; i++) ok = have[i] == dims[i];
    if (ok) ok = H5Dread(dset, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0;
    if (space >= 0) H5Sclose(space);
    H5Dclose(dset);
    if (!ok) {
        ll_error("test_gpt_reference: read_dataset: '%s' has another shape than expected "
                 "(rank %d) or is unreadable", path, rank);
        return -1;
    }
    return 0;
}

/* Number of links in group `path`, or -1 if it is not a group. */
static long group_size(hid_t file, const char *path) {
    hid_t g = H5Gopen2(file, path, H5P_DEFAULT);
    if (g < 0) {
        ll_error("test_gpt_reference: group_size: group '%s' missing", path);
        return -1;
    }
    H5G_info_t info;
    herr_t st = H5Gget_info(g, &info);
    H5Gclose(g);
    if (st < 0) {
        ll_error("test_gpt_reference: group_size: cannot list '%s'", path);
        return -1;
    }
    return (long)info.nlinks;
}

/* Reads tensor group/<name> (shape of t) as float64 into out. */
static int read_tensor(hid_t file, const char *group, const gpt_tensor_info *t, double *out) {
    char path[160];
    snprintf(path, sizeof path, "%s/%s", group, t->name);
    hsize_t dims[2] = {t->shape[0], t->ndim == 2 ? t->shape[1] : 0};
    return read_dataset(file, path, H5T_NATIVE_DOUBLE, out, t->ndim, dims);
}

/* Every token id in [0, V) or (targets only) -1. */
static int ids_in_range(const int *ids, size_t n, int vocab, int allow_ignore) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= vocab || ids[i] < (allow_ignore ? -1 : 0)) return 0;
    return 1;
}

/* Loads the fixture's parameters into fx->model.params by name. */
static int load_params(fixture *fx) {
    gpt_model *m = &fx->model;
    for (int i = 0; i < m->num_tensors; i++) {
        const gpt_tensor_info *t = &m->tensors[i];
        double *ref = ll_malloc(t->numel * sizeof *ref);
        if (!ref) return -1;
        if (read_tensor(fx->file, "params", t, ref) != 0) { free(ref); return -1; }
        for (size_t j = 0; j < t->numel; j++) m->params[t->offset + j] = (float)ref[j];
        free(ref);
    }
    return 0;
}

static void fixture_free(fixture *fx) {
    if (!fx) return;
    free(fx->inputs); free(fx->targets); free(fx->logits);
    free(fx->step_inputs); free(fx->step_targets);
    free(fx->step_lr); free(fx->step_norm); free(fx->step_factor); free(fx->step_loss);
    free(fx->sched_step); free(fx->sched_lr);
    if (fx->model.params) gpt_free(&fx->model);
    if (fx->file >= 0) H5Fclose(fx->file);
    free(fx);
}

/* Opens the fixture, checks format/version, reads config and every array,
 * builds the model with grads and activations. Returns 0 or -1. */
static int fixture_load(fixture *fx) {
    char path[4096], format[64];
    int version = 0;
    if (fixture_path(path, sizeof path) != 0) return -1;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);  /* our own one-line errors instead */
    fx->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (fx->file < 0) {
        ll_error("test_gpt_reference: fixture_load: cannot open %s", path);
        return -1;
    }
    if (read_attr_string(fx->file, "format", format, sizeof format) != 0 ||
        read_attr(fx->file, "version", H5T_NATIVE_INT, &version) != 0) return -1;
    if (strcmp(format, FIXTURE_FORMAT) != 0 || version != FIXTURE_VERSION) {
        ll_error("test_gpt_reference: fixture_load: %s is '%s' v%d, expected '%s' v%d",
                 path, format, version, FIXTURE_FORMAT, FIXTURE_VERSION);
        return -1;
    }
    const struct { const char *name; int *out; } ints[] = {
        {"n_layer", &fx->cfg.n_layer}, {"n_head", &fx->cfg.n_head}, {"n_embd", &fx->cfg.n_embd},
        {"block_size", &fx->cfg.block_size}, {"vocab_size", &fx->cfg.vocab_size},
        {"B", &fx->B}, {"T", &fx->T}, {"K", &fx->K}, {"n_targets", &fx->n_targets},
        {"warmup_steps", &fx->warmup_steps}, {"max_steps", &fx->max_steps}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (read_attr(fx->file, ints[i].name, H5T_NATIVE_INT, ints[i].out) != 0) return -1;
    const struct { const char *name; double *out; } reals[] = {
        {"lr", &fx->lr}, {"min_lr_frac", &fx->min_lr_frac}, {"beta1", &fx->beta1},
        {"beta2", &fx->beta2}, {"eps", &fx->eps}, {"weight_decay", &fx->weight_decay},
        {"max_norm", &fx->max_norm}};
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++)
        if (read_attr(fx->file, reals[i].name, H5T_NATIVE_DOUBLE, reals[i].out) != 0) return -1;
    /* bounds before any allocation sized by them */
    if (fx->B < 1 || fx->B > 64 || fx->T < 1 || fx->T > fx->cfg.block_size || fx->K < 1 ||
        fx->K > 64 || fx->cfg.vocab_size < 2 || fx->cfg.vocab_size > 1 << 20 ||
        fx->n_targets < 1 || fx->n_targets > fx->B * fx->T) {
        ll_error("test_gpt_reference: fixture_load: implausible sizes B=%d T=%d K=%d V=%d",
                 fx->B, fx->T, fx->K, fx->cfg.vocab_size);
        return -1;
    }
    if (gpt_create(&fx->model, &fx->cfg) != 0) return -1;
    if (gpt_alloc_grads(&fx->model) != 0 || gpt_alloc_acts(&fx->model, fx->B, fx->T, 1) != 0)
        return -1;

    size_t BT = (size_t)fx->B * fx->T, V = (size_t)fx->cfg.vocab_size, K = (size_t)fx->K;
    fx->inputs = ll_malloc(BT * sizeof(int));
    fx->targets = ll_malloc(BT * sizeof(int));
    fx->logits = ll_malloc(BT * V * sizeof(double));
    fx->step_inputs = ll_malloc(K * BT * sizeof(int));
    fx->step_targets = ll_malloc(K * BT * sizeof(int));
    fx->step_lr = ll_malloc(K * sizeof(double));
    fx->step_norm = ll_malloc(K * sizeof(double));
    fx->step_factor = ll_malloc(K * sizeof(double));
    fx->step_loss = ll_malloc(K * sizeof(double));
    if (!fx->inputs || !fx->targets || !fx->logits || !fx->step_inputs || !fx->step_targets ||
        !fx->step_lr || !fx->step_norm || !fx->step_factor || !fx->step_loss) return -1;
    hsize_t bt[2] = {fx->B, fx->T}, btv[3] = {fx->B, fx->T, V}, kbt[3] = {K, fx->B, fx->T};
    hsize_t k1[1] = {K};
    if (read_dataset(fx->file, "inputs", H5T_NATIVE_INT, fx->inputs, 2, bt) != 0 ||
        read_dataset(fx->file, "targets", H5T_NATIVE_INT, fx->targets, 2, bt) != 0 ||
        read_dataset(fx->file, "logits", H5T_NATIVE_DOUBLE, fx->logits, 3, btv) != 0 ||
        read_dataset(fx->file, "loss", H5T_NATIVE_DOUBLE, &fx->loss, 0, NULL) != 0 ||
        read_dataset(fx->file, "steps/inputs", H5T_NATIVE_INT, fx->step_inputs, 3, kbt) != 0 ||
        read_dataset(fx->file, "steps/targets", H5T_NATIVE_INT, fx->step_targets, 3, kbt) != 0 ||
        read_dataset(fx->file, "steps/lr", H5T_NATIVE_DOUBLE, fx->step_lr, 1, k1) != 0 ||
        read_dataset(fx->file, "steps/grad_norm", H5T_NATIVE_DOUBLE, fx->step_norm, 1, k1) != 0 ||
        read_dataset(fx->file, "steps/clip_factor", H5T_NATIVE_DOUBLE, fx->step_factor, 1, k1) != 0 ||
        read_dataset(fx->file, "steps/loss", H5T_NATIVE_DOUBLE, fx->step_loss, 1, k1) != 0)
        return -1;
    if (!ids_in_range(fx->inputs, BT, (int)V, 0) || !ids_in_range(fx->targets, BT, (int)V, 1) ||
        !ids_in_range(fx->step_inputs, K * BT, (int)V, 0) ||
        !ids_in_range(fx->step_targets, K * BT, (int)V, 1)) {
        ll_error("test_gpt_reference: fixture_load: token id outside [0, %zu)", V);
        return -1;
    }
    /* the schedule table has its own length */
    hid_t d = H5Dopen2(fx->file, "steps/sched_step", H5P_DEFAULT);
    hid_t s = d < 0 ? -1 : H5Dget_space(d);
    hssize_t n_sched = s < 0 ? -1 : H5Sget_simple_extent_npoints(s);
    if (s >= 0) H5Sclose(s);
    if (d >= 0) H5Dclose(d);
    if (n_sched < 1 || n_sched > 1000) {
        ll_error("test_gpt_reference: fixture_load: steps/sched_step missing or of odd length");
        return -1;
    }
    fx->n_sched = (int)n_sched;
    hsize_t ns[1] = {(hsize_t)n_sched};
    fx->sched_step = ll_malloc((size_t)n_sched * sizeof(int));
    fx->sched_lr = ll_malloc((size_t)n_sched * sizeof(double));
    if (!fx->sched_step || !fx->sched_lr ||
        read_dataset(fx->file, "steps/sched_step", H5T_NATIVE_INT, fx->sched_step, 1, ns) != 0 ||
        read_dataset(fx->file, "steps/sched_lr", H5T_NATIVE_DOUBLE, fx->sched_lr, 1, ns) != 0)
        return -1;
    return load_params(fx);
}

static int group_setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    fx->file = -1;
    if (fixture_load(fx) != 0) { fixture_free(fx); return -1; }
    *state = fx;
    return 0;
}

static int group_teardown(void **state) {
    fixture_free(*state);
    return 0;
}

/* ---- comparison helpers ------------------------------------------------------- */

static double rel_diff(double got, double ref) {
    return fabs(got - ref) / fmax(fabs(ref), 1e-30);
}

/* Compares got (float32) with ref element-wise: the worst |diff| must be
 * <= rtol * max|ref| + atol. Prints the tensor's worst error when it is not;
 * returns 1 if within tolerance. */
static int within(const char *what, const char *name, const float *got, const double *ref,
                  size_t n, double rtol, double atol, double *worst_ratio) {
    double max_ref = 0.0, worst = 0.0;
    size_t worst_at = 0;
    for (size_t i = 0; i < n; i++) {
        max_ref = fmax(max_ref, fabs(ref[i]));
        double d = fabs((double)got[i] - ref[i]);
        if (!(d <= worst)) { worst = d; worst_at = i; }  /* NaN counts as worst */
    }
    double tol = rtol * max_ref + atol;
    if (worst_ratio) *worst_ratio = fmax(*worst_ratio, worst / tol);
    if (!(worst <= tol)) {
        fprintf(stderr, "FAIL %s %-28s worst |diff| %.3e at [%zu] (got %.9g, ref %.9g), "
                "tolerance %.3e (max|ref| %.3e)\n", what, name, worst, worst_at,
                (double)got[worst_at], ref[worst_at], tol, max_ref);
        return 0;
    }
    return 1;
}

/* ---- tests ---------------------------------------------------------------------- */

/* The fixture's tensors and the model's table agree: same names, shapes,
 * decay flags, and the table tiles the parameter buffer exactly. */
static void test_tensor_table(void **state) {
    fixture *fx = *state;
    gpt_model *m = &fx->model;
    assert_int_equal(group_size(fx->file, "params"), m->num_tensors);
    assert_int_equal(group_size(fx->file, "grads"), m->num_tensors);
    assert_int_equal(group_size(fx->file, "params_after"), m->num_tensors);
    assert_int_equal(m->num_tensors, 2 + 12 * fx->cfg.n_layer + 2);
    unsigned char *covered = calloc(m->num_params, 1);
    assert_non_null(covered);
    for (int i = 0; i < m->num_tensors; i++) {
        const gpt_tensor_info *t = &m->tensors[i];
        char path[160];
        snprintf(path, sizeof path, "params/%s", t->name);
        hid_t d = H5Dopen2(fx->file, path, H5P_DEFAULT);
        if (d < 0) fprintf(stderr, "FAIL model tensor %s not in the fixture\n", t->name);
        assert_true(d >= 0);
        hid_t s = H5Dget_space(d);
        hsize_t dims[H5S_MAX_RANK];
        int rank = H5Sget_simple_extent_dims(s, dims, NULL);
        H5Sclose(s);
        H5Dclose(d);
        if (rank != t->ndim || dims[0] != t->shape[0] || (rank == 2 && dims[1] != t->shape[1]))
            fprintf(stderr, "FAIL %s: model shape (%zu, %zu) ndim %d, fixture rank %d\n",
                    t->name, t->shape[0], t->ndim == 2 ? t->shape[1] : 0, t->ndim, rank);
        assert_int_equal(rank, t->ndim);
        assert_int_equal(t->numel, t->shape[0] * (t->ndim == 2 ? t->shape[1] : 1));
        assert_int_equal(t->decay, t->ndim == 2);
        assert_true(t->offset + t->numel <= m->num_params);
        for (size_t j = 0; j < t->numel; j++) {
            assert_int_equal(covered[t->offset + j], 0);  /* no overlap */
            covered[t->offset + j] = 1;
        }
    }
    for (size_t j = 0; j < m->num_params; j++) assert_int_equal(covered[j], 1);
    free(covered);
    assert_int_equal(m->num_params, gpt_count_params(&fx->cfg));
}

/* gpt_forward: logits, last-position logits, loss sum and target count. */
static void test_forward(void **state) {
    fixture *fx = *state;
    gpt_model *m = &fx->model;
    assert_int_equal(load_params(fx), 0);
    size_t BT = (size_t)fx->B * fx->T, V = (size_t)fx->cfg.vocab_size;
    float *logits = malloc(BT * V * sizeof *logits), *last = malloc(fx->B * V * sizeof *last);
    double *ref_last = malloc(fx->B * V * sizeof *ref_last);
    assert_true(logits && last && ref_last);
    double loss_sum = 0.0;
    long n = 0;
    assert_int_equal(gpt_forward(m, fx->inputs, fx->targets, fx->B, fx->T, &loss_sum, &n,
                                 logits, last), 0);
    assert_int_equal(n, fx->n_targets);
    double loss = loss_sum / (double)n;
    printf("forward: loss %.9f ref %.9f (rel %.2e)\n", loss, fx->loss, rel_diff(loss, fx->loss));
    assert_true(rel_diff(loss, fx->loss) <= LOSS_RTOL);

    double max_ref = 0.0;
    for (size_t i = 0; i < BT * V; i++) max_ref = fmax(max_ref, fabs(fx->logits[i]));
    double atol = LOGITS_TOL * fmax(1.0, max_ref), worst = 0.0;
    assert_true(within("logits", "logits", logits, fx->logits, BT * V, 0.0, atol, &worst));
    for (int b = 0; b < fx->B; b++)
        memcpy(ref_last + b * V, fx->logits + ((size_t)b * fx->T + fx->T - 1) * V,
               V * sizeof(double));
    assert_true(within("logits", "last_logits", last, ref_last, fx->B * V, 0.0, atol, &worst));
    printf("forward: logits worst |diff| / tolerance = %.3f\n", worst);

    /* no targets: the same logits, no loss counted */
    float *logits2 = malloc(BT * V * sizeof *logits2);
    assert_non_null(logits2);
    n = -1;
    assert_int_equal(gpt_forward(m, fx->inputs, NULL, fx->B, fx->T, &loss_sum, &n, logits2,
                                 NULL), 0);
    assert_int_equal(n, 0);
    assert_memory_equal(logits, logits2, BT * V * sizeof *logits);
    free(logits); free(logits2); free(last); free(ref_last);
}

/* gpt_forward_backward with grad_scale 1/n: the gradient of the mean loss. */
static void test_backward(void **state) {
    fixture *fx = *state;
    gpt_model *m = &fx->model;
    assert_int_equal(load_params(fx), 0);
    gpt_zero_grads(m);
    double loss_sum = 0.0;
    long n = 0;
    assert_int_equal(gpt_forward_backward(m, fx->inputs, fx->targets, fx->B, fx->T,
                                          1.0f / (float)fx->n_targets, &loss_sum, &n), 0);
    assert_int_equal(n, fx->n_targets);
    assert_true(rel_diff(loss_sum / (double)n, fx->loss) <= LOSS_RTOL);
    int bad = 0;
    double worst = 0.0;
    for (int i = 0; i < m->num_tensors; i++) {
        const gpt_tensor_info *t = &m->tensors[i];
        double *ref = malloc(t->numel * sizeof *ref);
        assert_non_null(ref);
        assert_int_equal(read_tensor(fx->file, "grads", t, ref), 0);
        bad += !within("grad", t->name, m->grads + t->offset, ref, t->numel, GRAD_RTOL,
                       GRAD_ATOL, &worst);
        free(ref);
    }
    printf("backward: %d tensors, worst |diff| / tolerance = %.3f\n", m->num_tensors, worst);
    assert_int_equal(bad, 0);
}

/* K AdamW steps exactly as the trainer takes them. */
static void test_adamw_steps(void **state) {
    fixture *fx = *state;
    gpt_model *m = &fx->model;
    assert_int_equal(load_params(fx), 0);
    sched_config s = {.lr = (float)fx->lr, .min_lr_frac = (float)fx->min_lr_frac,
                      .warmup_steps = fx->warmup_steps, .max_steps = fx->max_steps};
    optim_adamw o;
    assert_int_equal(optim_adamw_init(&o, m->num_params, (float)fx->beta1, (float)fx->beta2,
                                      (float)fx->eps, (float)fx->weight_decay), 0);
    const float max_norm = (float)fx->max_norm;
    size_t BT = (size_t)fx->B * fx->T;
    double lr_sum = 0.0;
    int clipped = 0;
    for (int step = 0; step < fx->K; step++) {
        gpt_zero_grads(m);
        double loss_sum = 0.0;
        long n = 0;
        assert_int_equal(gpt_forward_backward(m, fx->step_inputs + step * BT,
                                              fx->step_targets + step * BT, fx->B, fx->T, 1.0f,
                                              &loss_sum, &n), 0);
        assert_true(n > 0);
        float inv_n = 1.0f / (float)n;
        double norm = optim_grad_norm(m->grads, m->num_params, inv_n);
        float factor = fminf(1.0f, max_norm / (float)(norm + 1e-6));
        float lr = sched_lr(&s, step);
        optim_adamw_step(&o, m, lr, step + 1, inv_n * factor);
        printf("step %d: loss %.7f (ref %.7f)  lr %.7g (ref %.7g)  norm %.7f (ref %.7f)  "
               "clip %.6f (ref %.6f)\n", step, loss_sum / (double)n, fx->step_loss[step], lr,
               fx->step_lr[step], norm, fx->step_norm[step], factor, fx->step_factor[step]);
        assert_true(rel_diff(loss_sum / (double)n, fx->step_loss[step]) <= LOSS_RTOL);
        assert_true(rel_diff(lr, fx->step_lr[step]) <= LR_RTOL);
        assert_true(rel_diff(norm, fx->step_norm[step]) <= NORM_RTOL);
        assert_int_equal(factor < 1.0f, fx->step_factor[step] < 1.0);
        assert_true(rel_diff(factor, fx->step_factor[step]) <= NORM_RTOL);
        clipped += factor < 1.0f;
        lr_sum += fx->step_lr[step];
    }
    /* the fixture is only a clipping test if it clips some steps, not all */
    assert_true(clipped > 0 && clipped < fx->K);

    int bad = 0;
    double worst = 0.0, worst_key = 0.0;
    const size_t C = (size_t)fx->cfg.n_embd;
    for (int i = 0; i < m->num_tensors; i++) {
        const gpt_tensor_info *t = &m->tensors[i];
        double *ref = malloc(t->numel * sizeof *ref);
        assert_non_null(ref);
        assert_int_equal(read_tensor(fx->file, "params_after", t, ref), 0);
        const float *got = m->params + t->offset;
        size_t len = strlen(t->name), suffix = strlen("attn.c_attn.bias");
        if (len >= suffix && strcmp(t->name + len - suffix, "attn.c_attn.bias") == 0) {
            char key_name[80];
            snprintf(key_name, sizeof key_name, "%s[key]", t->name);
            bad += !within("after", t->name, got, ref, C, 0.0, PARAM_ATOL, &worst);
            bad += !within("after", key_name, got + C, ref + C, C, 0.0,
                           KEY_BIAS_LR_MULT * lr_sum, &worst_key);
            bad += !within("after", t->name, got + 2 * C, ref + 2 * C, C, 0.0, PARAM_ATOL,
                           &worst);
        } else {
            bad += !within("after", t->name, got, ref, t->numel, 0.0, PARAM_ATOL, &worst);
        }
        free(ref);
    }
    printf("adamw: %d steps (%d clipped), params worst |diff| / tolerance = %.3f "
           "(key bias slice %.3f)\n", fx->K, clipped, worst, worst_key);
    optim_adamw_free(&o);
    assert_int_equal(bad, 0);
}

/* optim.h's schedule in double: warmup, then cosine to the floor at
 * max_steps-1, held there after. */
static double sched_closed_form(double lr, double min_frac, int warmup, int max_steps, int step) {
    if (step < warmup) return lr * (step + 1) / warmup;
    double min_lr = min_frac * lr;
    double p = (double)(step - warmup) / (double)(max_steps - 1 - warmup);
    p = fmin(1.0, fmax(0.0, p));
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + cos(M_PI * p));
}

/* sched_lr against the closed form and against the fixture's table. */
static void test_schedule(void **state) {
    fixture *fx = *state;
    const struct { float lr, min_frac; int warmup, max_steps; } cfgs[] = {
        {(float)fx->lr, (float)fx->min_lr_frac, fx->warmup_steps, fx->max_steps},
        {6e-4f, 0.1f, 10, 100},
        {1e-3f, 0.0f, 0, 50},
        {3e-4f, 0.25f, 100, 1000},
    };
    const int steps[] = {0, 1, 2, 3, 4, 5, 9, 10, 11, 25, 49, 50, 51, 99, 100, 500, 998, 999,
                         1000, 5000};
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
        sched_config s = {.lr = cfgs[c].lr, .min_lr_frac = cfgs[c].min_frac,
                          .warmup_steps = cfgs[c].warmup, .max_steps = cfgs[c].max_steps};
        for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
            double want = sched_closed_form(cfgs[c].lr, cfgs[c].min_frac, cfgs[c].warmup,
                                            cfgs[c].max_steps, steps[i]);
            double got = sched_lr(&s, steps[i]);
            if (!(fabs(got - want) <= LR_RTOL * want + 1e-12))
                fprintf(stderr, "FAIL sched cfg %zu step %d: %.9g want %.9g\n", c, steps[i],
                        got, want);
            assert_true(fabs(got - want) <= LR_RTOL * want + 1e-12);
        }
        /* landmarks: peak right after warmup, floor at max_steps-1 and beyond */
        assert_true(rel_diff(sched_lr(&s, cfgs[c].warmup), cfgs[c].lr) <= LR_RTOL);
        double floor_lr = (double)cfgs[c].min_frac * cfgs[c].lr;
        assert_true(fabs(sched_lr(&s, cfgs[c].max_steps - 1) - floor_lr) <= LR_RTOL * cfgs[c].lr);
        assert_true(fabs(sched_lr(&s, cfgs[c].max_steps + 7) - floor_lr) <= LR_RTOL * cfgs[c].lr);
    }
    /* and the PyTorch script's table (which the AdamW steps used) */
    sched_config s = {.lr = (float)fx->lr, .min_lr_frac = (float)fx->min_lr_frac,
                      .warmup_steps = fx->warmup_steps, .max_steps = fx->max_steps};
    for (int i = 0; i < fx->n_sched; i++)
        assert_true(rel_diff(sched_lr(&s, fx->sched_step[i]), fx->sched_lr[i]) <= LR_RTOL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tensor_table),
        cmocka_unit_test(test_forward),
        cmocka_unit_test(test_backward),
        cmocka_unit_test(test_adamw_steps),
        cmocka_unit_test(test_schedule),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* test_config.c: the INI config, --set overrides, validation and round trip.
 *
 * Error tests capture stderr and check the one-line "llmpi: FILE:LINE: ..."
 * contract (exactly one line, the right line number, the key named), and
 * that a failed load leaves the config untouched. The shipped configs (*.ini)
 * are loaded and their parameter counts checked against their comments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "llmpi/config.h"
#include "llmpi/gpt.h"
#include "llmpi/util.h"

/* ---- helpers ---- */

static char g_dir[256];

/* Writes text to a fresh file under the test's temp dir; returns its path
 * (static buffer, one per call site is enough). */
static const char *write_ini(const char *name, const char *text) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Like write_ini, for bytes that may hold NULs. */
static const char *write_bytes(const char *name, const char *data, size_t n) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
    return path;
}

typedef struct { int saved_fd, fd; char path[512]; } capture;

/* Redirects fd (1 or 2) into a temp file until capture_end. */
static void capture_begin(capture *c, int fd) {
    snprintf(c->path, sizeof c->path, "%s/capture.XXXXXX", g_dir);
    int tmp = mkstemp(c->path);
    assert_true(tmp >= 0);
    fflush(fd == 1 ? stdout : stderr);
    c->saved_fd = dup(fd);
    c->fd = fd;
    dup2(tmp, fd);
    close(tmp);
}

/* Restores the fd; returns what was written (malloc'ed). */
static char *capture_end(capture *c) {
    fflush(c->fd == 1 ? stdout : stderr);
    dup2(c->saved_fd, c->fd);
    close(c->saved_fd);
    FILE *f = fopen(c->path, "rb");
    assert_non_null(f);
    char *text = calloc(1, 65536);
    assert_non_null(text);
    size_t n = fread(text, 1, 65535, f);
    fclose(f);
    text[n] = '\0';
    unlink(c->path);
    return text;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* Loads text as an INI file and expects failure with exactly one stderr line
 * containing "<path>:<line>:" and every fragment given. The config must be
 * unchanged afterwards. */
static void expect_ini_error(const char *text, int line, const char *frag1, const char *frag2) {
    const char *path = write_ini("bad.ini", text);
    cfg_config c, before;
    cfg_defaults(&c);
    before = c;
    capture cap;
    capture_begin(&cap, 2);
    int rc = cfg_load_ini(&c, path);
    char *err = capture_end(&cap);
    assert_int_equal(rc, -1);
    assert_int_equal(count_lines(err), 1);
    char where[600];
    snprintf(where, sizeof where, "llmpi: %s:%d: ", path, line);
    if (strncmp(err, where, strlen(where)) != 0) fail_msg("expected prefix '%s', got '%s'", where, err);
    if (frag1 && !strstr(err, frag1)) fail_msg("expected '%s' in '%s'", frag1, err);
    if (frag2 && !strstr(err, frag2)) fail_msg("expected '%s' in '%s'", frag2, err);
    assert_memory_equal(&c, &before, sizeof c);
    free(err);
}

/* Applies an override expected to fail with one line containing frag. */
static void expect_set_error(const char *assignment, const char *frag) {
    cfg_config c, before;
    cfg_defaults(&c);
    before = c;
    capture cap;
    capture_begin(&cap, 2);
    int rc = cfg_set(&c, assignment);
    char *err = capture_end(&cap);
    assert_int_equal(rc, -1);
    assert_int_equal(count_lines(err), 1);
    if (strncmp(err, "llmpi: --set '", 14) != 0) fail_msg("bad prefix: '%s'", err);
    if (frag && !strstr(err, frag)) fail_msg("expected '%s' in '%s'", frag, err);
    assert_memory_equal(&c, &before, sizeof c);
    free(err);
}

/* Expects cfg_validate to refuse c with one line containing frag. */
static void expect_invalid(const cfg_config *c, const char *frag) {
    capture cap;
    capture_begin(&cap, 2);
    int rc = cfg_validate(c);
    char *err = capture_end(&cap);
    assert_int_equal(rc, -1);
    assert_int_equal(count_lines(err), 1);
    if (!strstr(err, frag)) fail_msg("expected '%s' in '%s'", frag, err);
    free(err);
}

/* Parameter count of a GPT-2 shaped model with a tied LM head (the formula
 * the config comments quote): per layer 12C^2 + 13C, plus wte, wpe, ln_f. */
static long long gpt2_params(const cfg_config *c, long long vocab) {
    long long C = c->n_embd;
    return c->n_layer * (12 * C * C + 13 * C) + vocab * C + (long long)c->block_size * C + 2 * C;
}

/* Loads configs/<name> from the source tree; skips when it is not known. */
static void load_shipped(const char *name, cfg_config *c) {
    const char *src = getenv("LLMPI_SOURCE_DIR");
    if (!src) skip();
    char path[1024];
    snprintf(path, sizeof path, "%s/configs/%s", src, name);
    cfg_defaults(c);
    assert_int_equal(cfg_load_ini(c, path), 0);
    assert_int_equal(cfg_validate(c), 0);
}

/* ---- tests ---- */

static void test_defaults_valid(void **state) {
    (void)state;
    cfg_config c;
    cfg_defaults(&c);
    assert_int_equal(cfg_validate(&c), 0);
    assert_int_equal(c.n_embd % c.n_head, 0);
    assert_true(c.seq_len <= c.block_size);
    assert_int_equal(c.vocab_size, 0);
}

static void test_load_values_and_comments(void **state) {
    (void)state;
    const char *path = write_ini("ok.ini",
        "; a comment\r\n"
        "# another comment\r\n"
        "[model]\r\n"
        "n_layer = 6   ; inline comment\r\n"
        "n_head=6\r\n"
        "n_embd = 384\r\n"
        "\r\n"
        "[train]\r\n"
        "lr = 6e-4\r\n"
        "beta2 = 0.99\r\n"
        "seed = 18446744073709551615\r\n"
        "seq_len = 16\r\n");
    cfg_config c;
    cfg_defaults(&c);
    assert_int_equal(cfg_load_ini(&c, path), 0);
    assert_int_equal(c.n_layer, 6);
    assert_int_equal(c.n_head, 6);
    assert_int_equal(c.n_embd, 384);
    assert_true(c.lr == 6e-4f);
    assert_true(c.beta2 == 0.99f);
    assert_true(c.seed == 18446744073709551615ULL);
    assert_int_equal(c.seq_len, 16);
    /* keys not in the file keep their earlier values */
    cfg_config d;
    cfg_defaults(&d);
    assert_int_equal(c.block_size, d.block_size);
    assert_int_equal(c.max_steps, d.max_steps);
    assert_int_equal(cfg_validate(&c), 0);
}

static void test_ini_errors(void **state) {
    (void)state;
    expect_ini_error("[model]\nn_layer = 2\nn_layers = 3\n", 3, "unknown key 'n_layers' in [model]",
                     "did you mean model.n_layer?");
    expect_ini_error("[model]\nlr = 0.1\n", 2, "unknown key 'lr' in [model]", "did you mean train.lr?");
    expect_ini_error("[optim]\nlr = 0.1\n", 2, "unknown section [optim]", NULL);
    expect_ini_error("lr = 0.1\n", 1, "before any [section]", NULL);
    expect_ini_error("[train]\n\nlr = abc\n", 3, "train.lr: 'abc' is not a number", NULL);
    expect_ini_error("[train]\nlr = \n", 2, "is not a number", NULL);
    expect_ini_error("[train]\nmax_steps = 10.5\n", 2, "'10.5' is not an integer", NULL);
    expect_ini_error("[train]\nmax_steps = 100 # steps\n", 2, "is not an integer",
                     "inline comments start with ';'");
    expect_ini_error("[train]\nbeta2 = 1.0\n", 2, "train.beta2 = 1.0 is out of range [0, 1)", NULL);
    expect_ini_error("[train]\nlr = 0\n", 2, "train.lr = 0 is out of range (0, 10]", NULL);
    expect_ini_error("[train]\nlr = 1e-50\n", 2, "out of range", NULL);
    expect_ini_error("[train]\nmin_lr_frac = 1.5\n", 2, "out of range [0, 1]", NULL);
    expect_ini_error("[train]\nbatch_size = 0\n", 2, "train.batch_size = 0 is out of range", NULL);
    expect_ini_error("[train]\nbatch_size = 99999999999999999999\n", 2, "out of range", NULL);
    expect_ini_error("[model]\nn_head = -4\n", 2, "out of range", NULL);
    expect_ini_error("[train]\nseed = -1\n", 2, "is not an unsigned integer", NULL);
    expect_ini_error("[train]\nseed = 18446744073709551616\n", 2, "out of range", NULL);
    expect_ini_error("[train]\nseed = 12x\n", 2, "is not an unsigned integer", NULL);
    expect_ini_error("[train]\nsample_prompt = a # b\n", 2, "train.sample_prompt: byte 3 (0x23)", NULL);
    expect_ini_error("[train]\nsample_prompt = a\tb\n", 2, "train.sample_prompt: byte 2 (0x09)", NULL);
    expect_ini_error("[train]\nsample_tokens = 0\n", 2, "train.sample_tokens = 0 is out of range", NULL);
    expect_ini_error("[train]\nlr = 0.1\n\n[train]\nlr = 0.2\n", 5, "train.lr is set twice (first on line 2)", NULL);
    expect_ini_error("[model]\nn_layer = 2\n   n_head = 2\n", 3, "continuation of model.n_layer", NULL);
    expect_ini_error("[model\nn_layer = 2\n", 1, "syntax error", NULL);
    expect_ini_error("[model]\nn_layer 2\n", 2, "syntax error", NULL);
    /* the first error wins, whatever its kind */
    expect_ini_error("[model]\nn_layer = 2\nthis is junk\nn_heads = 3\n", 3, "syntax error", NULL);
    expect_ini_error("[model]\nn_heads = 3\nthis is junk\n", 2, "unknown key 'n_heads'", NULL);
    /* a value past inih's line buffer is refused, not read in pieces */
    char longtext[2048] = "[train]\nlr = 0.1";
    size_t n = strlen(longtext);
    memset(longtext + n, ' ', 600);
    strcpy(longtext + n + 600, "0\nbeta1 = 0.5\n");
    expect_ini_error(longtext, 2, "line longer than", NULL);
}

static void test_error_leaves_config_untouched(void **state) {
    (void)state;
    /* values before the bad line must not leak into the caller's config */
    expect_ini_error("[model]\nn_layer = 7\nn_embd = 77\n[train]\nbeta1 = 2\n", 5, "train.beta1", NULL);
}

static void test_unreadable_files(void **state) {
    (void)state;
    cfg_config c;
    cfg_defaults(&c);
    capture cap;
    char missing[600];
    snprintf(missing, sizeof missing, "%s/does-not-exist.ini", g_dir);
    capture_begin(&cap, 2);
    int rc = cfg_load_ini(&c, missing);
    char *err = capture_end(&cap);
    assert_int_equal(rc, -1);
    assert_int_equal(count_lines(err), 1);
    assert_non_null(strstr(err, "does-not-exist.ini: cannot open config"));
    free(err);

    capture_begin(&cap, 2);
    rc = cfg_load_ini(&c, g_dir);   /* a directory opens but cannot be read */
    err = capture_end(&cap);
    assert_int_equal(rc, -1);
    assert_int_equal(count_lines(err), 1);
    assert_non_null(strstr(err, "cannot read config"));
    free(err);

    /* an empty file is a valid config that changes nothing */
    cfg_config d = c;
    assert_int_equal(cfg_load_ini(&c, write_ini("empty.ini", "")), 0);
    assert_memory_equal(&c, &d, sizeof c);
}

/* Loads path expecting failure with one line holding frag; returns nothing
 * (the config must stay unchanged). */
static void expect_load_refused(const char *path, const char *frag) {
    cfg_config c, before;
    cfg_defaults(&c);
    before = c;
    capture cap;
    capture_begin(&cap, 2);
    int rc = cfg_load_ini(&c, path);
    char *err = capture_end(&cap);
    assert_int_equal(rc, -1);
    assert_int_equal(count_lines(err), 1);
    if (strncmp(err, "llmpi: ", 7) != 0 || !strstr(err, path) || !strstr(err, frag))
        fail_msg("expected 'llmpi: %s...%s', got '%s'", path, frag, err);
    assert_memory_equal(&c, &before, sizeof c);
    free(err);
}

/* Files that are not configs: devices and FIFOs are refused before any read
 * (/dev/zero used to be read forever), big files by size, NUL bytes get
 * their own message, and comments may be long. */
static void test_hostile_files(void **state) {
    (void)state;
    expect_load_refused("/dev/zero", "not a regular file");
    char fifo[600];
    snprintf(fifo, sizeof fifo, "%s/fifo.ini", g_dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    expect_load_refused(fifo, "not a regular file");   /* would block in open() */
    unlink(fifo);

    size_t big = ((size_t)1 << 20) + 10;
    char *text = malloc(big);
    assert_non_null(text);
    for (size_t i = 0; i < big; i++) text[i] = i % 64 == 63 ? '\n' : ';';
    expect_load_refused(write_bytes("big.ini", text, big), "larger than 1048576 bytes");

    /* NUL bytes: named as such, with the line and column */
    static const char nul_line[] = "[model]\nn_layer = 2\0junk\n";
    const char *path = write_bytes("bad.ini", nul_line, sizeof nul_line - 1);
    expect_load_refused(path, ":2: NUL byte at column 12");
    /* an earlier error still wins over a later NUL */
    static const char nul_later[] = "[model]\nn_layer 2\n\n\0\n";
    path = write_bytes("bad.ini", nul_later, sizeof nul_later - 1);
    expect_load_refused(path, ":2: syntax error");

    /* comments up to 4096 bytes per line, full-line or inline */
    memset(text, 0, big);
    strcpy(text, "; ");
    memset(text + 2, 'x', 3000);
    strcat(text, "\n[model]\nn_layer = 3   ; ");
    memset(text + strlen(text), 'y', 3000);
    strcat(text, "\n  # indented ");
    memset(text + strlen(text), 'z', 1000);
    strcat(text, "\nn_head = 1\n");
    cfg_config c;
    cfg_defaults(&c);
    assert_int_equal(cfg_load_ini(&c, write_ini("ok.ini", text)), 0);
    assert_int_equal(c.n_layer, 3);
    assert_int_equal(c.n_head, 1);
    /* past 4096 bytes a line is refused, comment or not */
    memset(text, 0, big);
    strcpy(text, "[model]\n; ");
    memset(text + strlen(text), 'x', 5000);
    strcat(text, "\nn_layer = 3\n");
    expect_load_refused(write_ini("bad.ini", text), ":2: line longer than 4096 bytes");
    free(text);
}

static void test_set(void **state) {
    (void)state;
    cfg_config c;
    cfg_defaults(&c);
    assert_int_equal(cfg_set(&c, "train.lr=0.5"), 0);
    assert_true(c.lr == 0.5f);
    assert_int_equal(cfg_set(&c, " model.n_layer = 5 "), 0);
    assert_int_equal(c.n_layer, 5);
    assert_int_equal(cfg_set(&c, "train.seed=42"), 0);
    assert_true(c.seed == 42);
    assert_int_equal(cfg_set(&c, "train.threads=0"), 0);
    assert_int_equal(c.threads, 0);
    expect_set_error("train.lr", "expected section.key=value");
    expect_set_error("train.lrr=0.1", "unknown key 'train.lrr' (did you mean train.lr?)");
    expect_set_error("model.seq_len=16", "did you mean train.seq_len?");
    expect_set_error("nonsense=1", "unknown key 'nonsense'");
    expect_set_error("train.beta1=1", "out of range [0, 1)");
    expect_set_error("train.max_steps=ten", "is not an integer");
    expect_set_error("train.max_steps=", "is not an integer");
    expect_set_error("train.grad_clip=nan", "is not a number");
    expect_set_error("train.grad_clip=inf", "out of range");
    expect_set_error("train.seed=-5", "is not an unsigned integer");
    expect_set_error("model.n_embd=3000000000", "out of range");
}

static void test_validate(void **state) {
    (void)state;
    cfg_config c;
    cfg_defaults(&c);
    c.n_embd = 30; c.n_head = 4;
    expect_invalid(&c, "model.n_embd = 30 is not divisible by model.n_head = 4");
    cfg_defaults(&c);
    c.seq_len = c.block_size + 1;
    expect_invalid(&c, "train.seq_len = 33 exceeds model.block_size = 32");
    cfg_defaults(&c);
    c.min_lr_frac = 1.5f;
    expect_invalid(&c, "train.min_lr_frac = 1.5 is out of range [0, 1]");
    cfg_defaults(&c);
    c.beta2 = 1.0f;
    expect_invalid(&c, "train.beta2");
    cfg_defaults(&c);
    c.lr = 0.0f;
    expect_invalid(&c, "train.lr = 0 is out of range");
    cfg_defaults(&c);
    c.batch_size = -3;
    expect_invalid(&c, "train.batch_size = -3");
    cfg_defaults(&c);
    c.weight_decay = -0.1f;
    expect_invalid(&c, "train.weight_decay");
    cfg_defaults(&c);
    c.grad_clip = 0.0f;          /* 0 means "no clipping": allowed */
    c.eval_every = 0;
    c.ckpt_every = 0;
    c.keep_checkpoints = 0;
    c.seq_len = c.block_size;    /* equal is fine */
    assert_int_equal(cfg_validate(&c), 0);
}

/* Sizes: a model or batch whose size arithmetic used to overflow int (and
 * crash in gpt_create) or that no machine holds is refused by cfg_validate,
 * naming the keys, before anything is allocated. */
static void test_validate_sizes(void **state) {
    (void)state;
    cfg_config c;
    cfg_defaults(&c);
    c.n_embd = 32768;   /* 3*C*C overflowed int in layer_numel */
    expect_invalid(&c, "model.n_embd = 32768 with model.n_layer = 2 gives 2.58e+10 parameters");
    cfg_defaults(&c);
    c.n_embd = 23171;   /* used to ask for 1.8e19 bytes */
    c.n_head = 1;
    expect_invalid(&c, "model.n_embd = 23171");
    cfg_defaults(&c);
    c.block_size = 1 << 20;
    c.seq_len = 1 << 20;
    c.batch_size = 1 << 20;
    expect_invalid(&c, "train.batch_size = 1048576 x train.seq_len = 1048576");
    cfg_defaults(&c);
    c.block_size = c.seq_len = 1024;
    c.batch_size = 65536;
    expect_invalid(&c, "activations for train.batch_size = 65536 x train.seq_len = 1024");

    /* within the bounds but not within this machine: 7.2e9 parameters */
    cfg_defaults(&c);
    c.n_layer = 1024;
    c.n_embd = 768;
    c.n_head = 12;
    gpt_config mc = {c.n_layer, c.n_head, c.n_embd, c.block_size, 0};
    assert_true(gpt_count_params(&mc) <= GPT_MAX_PARAMS);
    struct sysinfo si;
    assert_int_equal(sysinfo(&si), 0);
    double have = ((double)si.totalram + (double)si.totalswap) * si.mem_unit;
    if (2.0 * 4 * (double)gpt_count_params(&mc) > have) expect_invalid(&c, "more than this machine's");

    /* the saturating size functions never wrap */
    gpt_config huge = {1024, 1024, 65536, 1 << 20, 1 << 24};
    assert_true(gpt_count_params(&huge) > GPT_MAX_PARAMS);
    assert_true(gpt_acts_bytes(&huge, 1 << 20, 1 << 20, 1) == SIZE_MAX);
    gpt_config negative = {-1, 1, 8, 8, 8};
    assert_true(gpt_count_params(&negative) == SIZE_MAX);
}

static void test_to_string_round_trip(void **state) {
    (void)state;
    cfg_config c, d;
    cfg_defaults(&c);
    /* awkward floats: only a 9-digit rendering gives the same bits back */
    c.lr = 6e-4f * 1.0000001f;
    c.min_lr_frac = 1.0f / 3.0f;
    c.beta2 = 0.999f;
    c.weight_decay = 0.1f;
    c.grad_clip = 123456.789f;
    c.seed = 18446744073709551557ULL;
    c.n_layer = 12; c.n_head = 12; c.n_embd = 768; c.block_size = 1024;
    c.threads = 3;
    char *s = cfg_to_string(&c);
    assert_non_null(s);
    assert_non_null(strstr(s, "model.n_layer=12\n"));
    assert_non_null(strstr(s, "train.seed=18446744073709551557\n"));
    assert_int_equal(count_lines(s), 25);       /* one per key, vocab excluded */
    assert_null(strstr(s, "vocab"));
    assert_true(strlen(s) < 4096);              /* fits ckpt_meta.config */
    cfg_defaults(&d);
    assert_int_equal(cfg_load_string(&d, s, "test"), 0);
    assert_memory_equal(&c, &d, sizeof c);
    /* every line is also a valid --set */
    cfg_defaults(&d);
    char *line = s;
    while (*line) {
        char *nl = strchr(line, '\n');
        *nl = '\0';
        assert_int_equal(cfg_set(&d, line), 0);
        line = nl + 1;
    }
    assert_memory_equal(&c, &d, sizeof c);
    free(s);

    /* cfg_to_string's output is also an INI file (a run's config.ini) */
    s = cfg_to_string(&c);
    cfg_defaults(&d);
    assert_int_equal(cfg_load_ini(&d, write_ini("flat.ini", s)), 0);
    assert_memory_equal(&c, &d, sizeof c);
    free(s);

    /* the quiet keys (train.sample_*) appear once set, and read back */
    c.sample_every = 50;
    strcpy(c.sample_prompt, "ROMEO: O, \xc3\xa9t\xc3\xa9 = 'summer'");
    s = cfg_to_string(&c);
    assert_non_null(s);
    assert_int_equal(count_lines(s), 27);       /* sample_tokens is still at its default */
    assert_non_null(strstr(s, "train.sample_every=50\n"));
    assert_non_null(strstr(s, "train.sample_prompt=ROMEO: O, \xc3\xa9t\xc3\xa9 = 'summer'\n"));
    cfg_defaults(&d);
    assert_int_equal(cfg_load_string(&d, s, "test"), 0);
    assert_memory_equal(&c, &d, sizeof c);
    cfg_defaults(&d);
    assert_int_equal(cfg_load_ini(&d, write_ini("flat2.ini", s)), 0);
    assert_memory_equal(&c, &d, sizeof c);
    assert_int_equal(cfg_validate(&d), 0);
    free(s);
    expect_ini_error("model.n_layer=3\nmodel.n_layerz=5\n", 2, "unknown key 'model.n_layerz'",
                     "did you mean model.n_layer?");
    expect_ini_error("model.n_layer=3\n[model]\nn_layer=4\n", 3, "model.n_layer is set twice", NULL);

    /* cfg_load_string refuses junk with origin:line and leaves d alone */
    cfg_defaults(&d);
    cfg_config before = d;
    capture cap;
    capture_begin(&cap, 2);
    int rc = cfg_load_string(&d, "# header\ntrain.lr=0.5\n\ntrain.bogus=1\n", "ckpt.h5");
    char *err = capture_end(&cap);
    assert_int_equal(rc, -1);
    assert_int_equal(count_lines(err), 1);
    assert_non_null(strstr(err, "llmpi: ckpt.h5:4: unknown key 'train.bogus'"));
    assert_memory_equal(&d, &before, sizeof d);
    free(err);
}

static void test_print_aligned(void **state) {
    (void)state;
    cfg_config c;
    cfg_defaults(&c);
    c.vocab_size = 257;
    capture cap;
    capture_begin(&cap, 1);
    cfg_print(&c);
    char *out = capture_end(&cap);
    /* header + 28 keys + vocab line, values all starting in one column */
    assert_int_equal(count_lines(out), 30);
    int column = -1, rows = 0;
    for (char *line = strchr(out, '\n') + 1; *line; line = strchr(line, '\n') + 1) {
        char *p = line + 2;
        while (*p != ' ') p++;
        while (*p == ' ') p++;
        int col = (int)(p - line);
        if (column < 0) column = col;
        assert_int_equal(col, column);
        rows++;
    }
    assert_int_equal(rows, 29);
    assert_non_null(strstr(out, "  model.n_layer "));
    assert_non_null(strstr(out, "257 (from the data)"));
    free(out);
}

static void test_shipped_configs(void **state) {
    (void)state;
    cfg_config c, d;

    /* tiny.ini is the defaults, spelled out */
    load_shipped("tiny.ini", &c);
    cfg_defaults(&d);
    char *a = cfg_to_string(&c), *b = cfg_to_string(&d);
    assert_string_equal(a, b);
    free(a); free(b);

    load_shipped("demo.ini", &c);
    assert_int_equal(c.n_layer, 4);
    assert_int_equal(c.n_embd, 128);
    assert_int_equal(c.block_size, 128);
    long long demo = gpt2_params(&c, 257);
    assert_true(demo > 800000 && demo < 900000);      /* "~0.84M" in its comment */

    load_shipped("small.ini", &c);
    long long small = gpt2_params(&c, 8192);
    assert_true(small >= 10000000 && small <= 15000000);
    assert_int_equal(small, 13891584);                 /* quoted in small.ini */

    load_shipped("gpt2-124m.ini", &c);
    assert_int_equal(c.n_layer, 12);
    assert_int_equal(c.n_head, 12);
    assert_int_equal(c.n_embd, 768);
    assert_int_equal(c.block_size, 1024);
    assert_int_equal(gpt2_params(&c, 50257), 124439808);  /* GPT-2 small, as published */

    load_shipped("llmpi-130m.ini", &c);
    assert_int_equal(c.n_layer, 12);
    assert_int_equal(c.n_embd, 768);
    assert_int_equal(c.block_size, 1024);
    assert_int_equal(gpt2_params(&c, 57344), 129882624);  /* quoted in llmpi-130m.ini */
}

static int setup_dir(void **state) {
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/llmpi-test-config.XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_dir(void **state) {
    (void)state;
    const char *names[] = {"ok.ini", "bad.ini", "empty.ini", "flat.ini", "big.ini", "fifo.ini"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", g_dir, names[i]);
        unlink(path);
    }
    return rmdir(g_dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_valid),
        cmocka_unit_test(test_load_values_and_comments),
        cmocka_unit_test(test_ini_errors),
        cmocka_unit_test(test_error_leaves_config_untouched),
        cmocka_unit_test(test_unreadable_files),
        cmocka_unit_test(test_hostile_files),
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_validate_sizes),
        cmocka_unit_test(test_to_string_round_trip),
        cmocka_unit_test(test_print_aligned),
        cmocka_unit_test(test_shipped_configs),
    };
    return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}

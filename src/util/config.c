/* config.c: the run configuration from an INI file and "section.key=value"
 * overrides, parsed with inih.
 *
 * Invariants:
 * - Every key lives in one table (keys[]) with its type, field and bounds;
 *   parsing, range checks, printing and serialising all walk that table, so a
 *   new key is one line and cannot be forgotten by one of them.
 * - A failed load or override leaves the caller's config untouched: values go
 *   into a copy that is committed only when the whole input is good.
 * - Errors name the file and line (or the --set text) in one line; unknown
 *   keys, a key set twice in one file, bad numbers and out-of-range values are
 *   all errors, because a typo must never silently train the wrong model.
 * - A config file is read whole, only when it is a regular file of at most
 *   1 MiB (a device or FIFO named by mistake is refused, never read without
 *   end); lines hold up to 4096 bytes, comments included.
 * - cfg_validate also refuses a model or batch whose sizes overflow, exceed
 *   what gpt.c accepts or exceed this machine's memory, before any allocation.
 * - Text keys (train.sample_prompt) hold at most CFG_TEXT_MAX - 1 bytes and
 *   no ';', '#' or control byte, so an INI line carries them unchanged.
 * - Quiet keys (train.sample_*: what rank 0 prints on the side, never the
 *   run's numbers) are serialised only when set, so the config text and the
 *   checkpoints of runs that leave them alone did not change when they came.
 * - cfg_to_string prints each float in the fewest digits (at most 9) that
 *   read back as the same float, so parsing its output gives bit-identical
 *   values.
 */
#include "llmpi/config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "llmpi/gpt.h"
#include "llmpi/util.h"

typedef enum { KEY_INT, KEY_FLOAT, KEY_U64, KEY_TEXT } key_type;

typedef struct {
    const char *name;       /* "section.key" */
    key_type type;
    size_t offset;          /* of the field in cfg_config */
    double lo, hi;          /* bounds (ints fit exactly in a double); unused for text */
    int lo_open, hi_open;   /* 1: bound excluded */
    const char *meaning;    /* printed as a hint after a range error */
} key_info;

#define F(field) offsetof(cfg_config, field)
static const key_info keys[] = {
    {"model.n_layer", KEY_INT, F(n_layer), 1, 1024, 0, 0, "transformer blocks"},
    {"model.n_head", KEY_INT, F(n_head), 1, 1024, 0, 0, "attention heads"},
    {"model.n_embd", KEY_INT, F(n_embd), 1, 65536, 0, 0, "embedding width"},
    {"model.block_size", KEY_INT, F(block_size), 1, 1 << 20, 0, 0, "maximum context (positions)"},
    {"train.batch_size", KEY_INT, F(batch_size), 1, 1 << 20, 0, 0, "sequences per rank per micro-step"},
    {"train.seq_len", KEY_INT, F(seq_len), 1, 1 << 20, 0, 0, "tokens per sequence"},
    {"train.grad_accum", KEY_INT, F(grad_accum), 1, 1 << 20, 0, 0, "micro-steps per optimizer step"},
    {"train.max_steps", KEY_INT, F(max_steps), 1, INT_MAX, 0, 0, "optimizer steps"},
    {"train.lr", KEY_FLOAT, F(lr), 0, 10, 1, 0, "peak learning rate"},
    {"train.min_lr_frac", KEY_FLOAT, F(min_lr_frac), 0, 1, 0, 0, "final lr as a fraction of lr"},
    {"train.warmup_steps", KEY_INT, F(warmup_steps), 0, INT_MAX, 0, 0, "linear warmup steps"},
    {"train.weight_decay", KEY_FLOAT, F(weight_decay), 0, 10, 0, 0, "AdamW decoupled decay"},
    {"train.beta1", KEY_FLOAT, F(beta1), 0, 1, 0, 1, "AdamW first-moment decay"},
    {"train.beta2", KEY_FLOAT, F(beta2), 0, 1, 0, 1, "AdamW second-moment decay"},
    {"train.grad_clip", KEY_FLOAT, F(grad_clip), 0, 1e6, 0, 0, "max global grad norm, 0: off"},
    {"train.seed", KEY_U64, F(seed), 0, 0, 0, 0, "run seed"},
    {"train.ckpt_every", KEY_INT, F(ckpt_every), 0, INT_MAX, 0, 0, "steps between checkpoints, 0: end only"},
    {"train.eval_every", KEY_INT, F(eval_every), 0, INT_MAX, 0, 0, "steps between evals, 0: never"},
    {"train.eval_windows", KEY_INT, F(eval_windows), 1, INT_MAX, 0, 0, "val windows per eval"},
    {"train.keep_checkpoints", KEY_INT, F(keep_checkpoints), 0, INT_MAX, 0, 0, "newest kept, 0: all"},
    {"train.log_every", KEY_INT, F(log_every), 1, INT_MAX, 0, 0, "steps between log lines"},
    {"train.threads", KEY_INT, F(threads), 0, 4096, 0, 0, "threads per rank, 0: auto"},
    {"train.zero", KEY_INT, F(zero), 0, 1, 0, 0, "1: ZeRO-1 (optimizer state sharded over ranks)"},
    {"train.bucket_mb", KEY_FLOAT, F(bucket_mb), 0, 1 << 16, 1, 0, "gradient all-reduce bucket, MiB"},
    {"train.max_bad_steps", KEY_INT, F(max_bad_steps), 1, INT_MAX, 0, 0, "non-finite steps in a row before stopping"},
    {"train.sample_every", KEY_INT, F(sample_every), 0, INT_MAX, 0, 0, "steps between samples from rank 0, 0: never"},
    {"train.sample_tokens", KEY_INT, F(sample_tokens), 1, 4096, 0, 0, "new tokens per sample"},
    {"train.sample_prompt", KEY_TEXT, F(sample_prompt), 0, 0, 0, 0, "prompt of the samples"},
};
#undef F
#define N_KEYS ((int)(sizeof keys / sizeof keys[0]))

/* Sets c to the tiny test model (configs/tiny.ini holds the same values; a
 * test checks they agree). */
void cfg_defaults(cfg_config *c) {
    memset(c, 0, sizeof *c);
    c->n_layer = 2;
    c->n_head = 2;
    c->n_embd = 32;
    c->block_size = 32;
    c->vocab_size = 0;
    c->batch_size = 4;
    c->seq_len = 32;
    c->grad_accum = 1;
    c->max_steps = 20;
    c->lr = 3e-3f;
    c->min_lr_frac = 0.1f;
    c->warmup_steps = 2;
    c->weight_decay = 0.1f;
    c->beta1 = 0.9f;
    c->beta2 = 0.95f;
    c->grad_clip = 1.0f;
    c->seed = 1337;
    c->ckpt_every = 10;
    c->eval_every = 10;
    c->eval_windows = 8;
    c->keep_checkpoints = 2;
    c->log_every = 1;
    c->threads = 0;
    c->zero = 0;
    c->bucket_mb = 25.0f;
    c->max_bad_steps = 5;
    c->sample_every = 0;
    c->sample_tokens = 64;
    c->sample_prompt[0] = '\0';
}

/* 1 for a key that does not shape the run (what rank 0 prints on the side):
 * cfg_to_string writes it only when it differs from its default. */
static int key_is_quiet(int i) { return !strncmp(keys[i].name, "train.sample_", 13); }

/* Room for any key's value as text (a text key's, the longest, included). */
#define VALUE_MAX (CFG_TEXT_MAX + 32)

/* ---- the key table ---- */

/* Index of the key named name in keys[], or -1. */
static int key_find(const char *name) {
    for (int i = 0; i < N_KEYS; i++)
        if (!strcmp(keys[i].name, name)) return i;
    return -1;
}

/* Levenshtein distance between a and b, capped at 9 (enough to rank
 * suggestions; names are short). */
static int edit_distance(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    if (na > 63 || nb > 63) return 9;
    int row[64];
    for (size_t j = 0; j <= nb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= nb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb] > 9 ? 9 : row[nb];
}

/* Fills hint with " (did you mean X?)" for the closest real key, or "". */
static void suggest_key(const char *name, char *hint, size_t cap) {
    hint[0] = '\0';
    /* The right key in the wrong section is the likeliest mistake. */
    const char *dot = strchr(name, '.');
    const char *bare = dot ? dot + 1 : name;
    for (int i = 0; i < N_KEYS; i++)
        if (!strcmp(strchr(keys[i].name, '.') + 1, bare)) {
            snprintf(hint, cap, " (did you mean %s?)", keys[i].name);
            return;
        }
    int best = 3, best_i = -1;
    for (int i = 0; i < N_KEYS; i++) {
        int d = edit_distance(name, keys[i].name);
        if (d < best) { best = d; best_i = i; }
    }
    if (best_i >= 0) snprintf(hint, cap, " (did you mean %s?)", keys[best_i].name);
}

/* 1 if some key belongs to section (the part before the dot). */
static int section_known(const char *section) {
    size_t n = strlen(section);
    for (int i = 0; i < N_KEYS; i++)
        if (!strncmp(keys[i].name, section, n) && keys[i].name[n] == '.') return 1;
    return 0;
}

static void format_range(const key_info *k, char *out, size_t cap) {
    if (k->type == KEY_U64) { snprintf(out, cap, "[0, 18446744073709551615]"); return; }
    if (k->type == KEY_TEXT) { snprintf(out, cap, "at most %d bytes", CFG_TEXT_MAX - 1); return; }
    snprintf(out, cap, "%c%.9g, %.9g%c", k->lo_open ? '(' : '[', k->lo, k->hi, k->hi_open ? ')' : ']');
}

static int in_range(const key_info *k, double v) {
    if (k->lo_open ? !(v > k->lo) : !(v >= k->lo)) return 0;
    if (k->hi_open ? !(v < k->hi) : !(v <= k->hi)) return 0;
    return 1;
}

/* Parses text as the value of key k into c. On failure writes the problem
 * (no location) into err and returns -1; c is untouched then. */
static int key_parse_value(cfg_config *c, const key_info *k, const char *text, char *err, size_t cap) {
    char range[64];
    format_range(k, range, sizeof range);
    /* inih strips only ';' inline comments; a '#' one stays in the value. */
    const char *hint = strchr(text, '#') ? " (inline comments start with ';')" : "";
    char *end = NULL;
    errno = 0;
    if (k->type == KEY_INT) {
        long long v = strtoll(text, &end, 10);
        if (end == text || *end != '\0') {
            snprintf(err, cap, "%s: '%s' is not an integer%s", k->name, text, hint);
            return -1;
        }
        if (errno == ERANGE || !in_range(k, (double)v)) {
            snprintf(err, cap, "%s = %s is out of range %s (%s)", k->name, text, range, k->meaning);
            return -1;
        }
        *(int *)((char *)c + k->offset) = (int)v;
    } else if (k->type == KEY_FLOAT) {
        double v = strtod(text, &end);
        if (end == text || *end != '\0' || isnan(v)) {
            snprintf(err, cap, "%s: '%s' is not a number%s", k->name, text, hint);
            return -1;
        }
        if (errno == ERANGE || !isfinite(v) || !in_range(k, v)) {
            snprintf(err, cap, "%s = %s is out of range %s (%s)", k->name, text, range, k->meaning);
            return -1;
        }
        /* Judge the value actually stored: 1e-50 would become lr = 0. */
        float stored = (float)v;
        if (!isfinite(stored) || !in_range(k, stored)) {
            snprintf(err, cap, "%s = %s is out of range %s (%s)", k->name, text, range, k->meaning);
            return -1;
        }
        *(float *)((char *)c + k->offset) = stored;
    } else if (k->type == KEY_TEXT) {
        /* Only text that an INI line and cfg_to_string's form both carry
         * unchanged: no comment characters, no control bytes. */
        size_t n = strlen(text);
        if (n >= CFG_TEXT_MAX) {
            snprintf(err, cap, "%s is %zu bytes long, more than %s", k->name, n, range);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)text[i];
            if (ch == ';' || ch == '#' || ch < 0x20 || ch == 0x7f) {
                snprintf(err, cap, "%s: byte %zu (0x%02x) is a comment character (';' '#') or a control byte, "
                         "which a config line cannot carry", k->name, i + 1, ch);
                return -1;
            }
        }
        memcpy((char *)c + k->offset, text, n + 1);
    } else {
        /* strtoull accepts "-1" and wraps it: a seed must be written as digits. */
        if (text[0] < '0' || text[0] > '9') {
            snprintf(err, cap, "%s: '%s' is not an unsigned integer", k->name, text);
            return -1;
        }
        unsigned long long v = strtoull(text, &end, 10);
        if (*end != '\0') {
            snprintf(err, cap, "%s: '%s' is not an unsigned integer%s", k->name, text, hint);
            return -1;
        }
        if (errno == ERANGE) {
            snprintf(err, cap, "%s = %s is out of range %s", k->name, text, range);
            return -1;
        }
        *(unsigned long long *)((char *)c + k->offset) = v;
    }
    return 0;
}

/* Value of key k in c as a double (for range checks in cfg_validate). */
static double key_value(const cfg_config *c, const key_info *k) {
    const char *p = (const char *)c + k->offset;
    switch (k->type) {
    case KEY_INT: return *(const int *)p;
    case KEY_FLOAT: return *(const float *)p;
    default: return 0;
    }
}

/* Writes the value of key k in c; key_parse_value reads it back exactly. */
static int key_format_value(const cfg_config *c, const key_info *k, char *out, size_t cap) {
    const char *p = (const char *)c + k->offset;
    switch (k->type) {
    case KEY_INT: return snprintf(out, cap, "%d", *(const int *)p);
    case KEY_FLOAT: {
        /* The shortest rendering that reads back as the same float: "0.002",
         * not "0.00200000009"; 9 digits always round-trip a float. */
        float v = *(const float *)p;
        int n = 0;
        for (int digits = 6; digits <= 9; digits++) {
            n = snprintf(out, cap, "%.*g", digits, (double)v);
            if (strtof(out, NULL) == v) break;
        }
        return n;
    }
    case KEY_TEXT: return snprintf(out, cap, "%s", p);
    default: return snprintf(out, cap, "%llu", *(const unsigned long long *)p);
    }
}

/* ---- INI files ---- */

/* Bounds of a config file: a real one is a few hundred bytes; the bounds
 * only keep a wrong path (/dev/zero, a data file) from being read forever. */
#define CFG_MAX_FILE_BYTES ((size_t)1 << 20)
#define CFG_MAX_LINE_BYTES 4096     /* one line, newline excluded */

typedef struct {
    const char *text;       /* the whole file */
    size_t len, pos;        /* its size; start of the next line */
    int line;               /* number of the line inih is handling */
    char first;             /* first byte of that line ('\0' if empty) */
    int bad_line;           /* line the reader refused, 0 if none */
    char bad[160];          /* why */
} line_reader;

typedef struct {
    cfg_config cfg;         /* the copy being filled */
    line_reader *reader;
    int seen[N_KEYS];       /* line that set each key, 0 if not yet */
    int prev_idx;           /* key set by the previous pair, -1 if none */
    int err_line;           /* first error found by the handler, 0 if none */
    char err[512];
} ini_state;

/* Length of line[0..n) without its comment, by inih's own rules: a line whose
 * first non-blank byte is ';' or '#' is all comment, and a ';' after a blank
 * starts an inline one. Dropping comments here changes nothing inih would
 * parse, and lets comments be longer than inih's fixed line buffer. */
static size_t without_comment(const char *line, size_t n) {
    size_t i = 0;
    while (i < n && isspace((unsigned char)line[i])) i++;
    if (i < n && (line[i] == ';' || line[i] == '#')) return 0;
    int was_space = 0;
    for (i = 0; i < n; i++) {
        if (was_space && line[i] == ';') return i;
        was_space = isspace((unsigned char)line[i]) != 0;
    }
    return n;
}

/* inih reader over the file in memory: hands out one line at a time (the
 * library's handler gets no line number, so lines are counted here), without
 * comments. A line holding a NUL byte, longer than CFG_MAX_LINE_BYTES, or
 * whose setting does not fit inih's buffer ends the parse as if the file
 * ended there, with the reason in bad / bad_line: such a line is reported,
 * never parsed in pieces. */
static char *read_line(char *str, int num, void *stream) {
    line_reader *r = stream;
    if (r->bad_line || r->pos >= r->len) return NULL;
    const char *p = r->text + r->pos;
    const char *nl = memchr(p, '\n', r->len - r->pos);
    size_t n = nl ? (size_t)(nl - p) : r->len - r->pos;
    r->pos += n + (nl != NULL);
    r->line++;
    r->first = n > 0 ? p[0] : '\0';
    const char *nul = memchr(p, '\0', n);
    size_t keep = without_comment(p, n);
    if (nul)
        snprintf(r->bad, sizeof r->bad, "NUL byte at column %zu (a binary file, not an INI config?)",
                 (size_t)(nul - p) + 1);
    else if (n > CFG_MAX_LINE_BYTES)
        snprintf(r->bad, sizeof r->bad, "line longer than %d bytes", CFG_MAX_LINE_BYTES);
    else if (num < 2 || keep > (size_t)num - 2)   /* room for "\n" and the NUL */
        snprintf(r->bad, sizeof r->bad, "line longer than %d bytes (not counting a ';' comment)", num - 2);
    else {
        memcpy(str, p, keep);
        str[keep] = '\n';
        str[keep + 1] = '\0';
        return str;
    }
    r->bad_line = r->line;
    return NULL;
}

/* Reads the regular file at path (at most CFG_MAX_FILE_BYTES) into a
 * malloc'ed buffer. 0, or -1 with one line: a folder, device or FIFO is
 * refused before any read (opening does not block on a FIFO). */
static int read_config_file(const char *path, char **text, size_t *len) {
    *text = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) { ll_error("%s: cannot open config: %s", path, strerror(errno)); return -1; }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        ll_error("%s: cannot read config: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        ll_error("%s: cannot read config: %s", path,
                 S_ISDIR(st.st_mode) ? "it is a directory" : "not a regular file (a device, FIFO or socket)");
        close(fd);
        return -1;
    }
    if ((uint64_t)st.st_size > CFG_MAX_FILE_BYTES) {
        ll_error("%s: config is larger than %zu bytes (not a config file?)", path, CFG_MAX_FILE_BYTES);
        close(fd);
        return -1;
    }
    char *buf = ll_malloc(CFG_MAX_FILE_BYTES + 1);
    if (!buf) { close(fd); return -1; }
    size_t n = 0;
    /* read to end of file, not to st_size: the file may change meanwhile */
    while (n <= CFG_MAX_FILE_BYTES) {
        ssize_t got = read(fd, buf + n, CFG_MAX_FILE_BYTES + 1 - n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            ll_error("%s: cannot read config: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    close(fd);
    if (n > CFG_MAX_FILE_BYTES) {
        ll_error("%s: config is larger than %zu bytes (not a config file?)", path, CFG_MAX_FILE_BYTES);
        free(buf);
        return -1;
    }
    *text = buf;
    *len = n;
    return 0;
}

/* inih handler: one name=value pair of the current line. Returns 1 to go on,
 * 0 after recording the first error. */
static int ini_handler_fn(void *user, const char *section, const char *name, const char *value) {
    ini_state *st = user;
    int line = st->reader->line;
    char full[300], problem[400];
    problem[0] = '\0';
    /* Outside any section a full "section.key" name is accepted, so the
     * flat cfg_to_string() form (a run's config.ini) is itself a config. */
    if (section[0] == '\0' && strchr(name, '.'))
        snprintf(full, sizeof full, "%s", name);
    else
        snprintf(full, sizeof full, "%s.%s", section, name);
    int idx = key_find(full);
    if (section[0] == '\0' && idx < 0 && strchr(name, '.')) {
        char hint[128];
        suggest_key(full, hint, sizeof hint);
        snprintf(problem, sizeof problem, "unknown key '%s'%s", name, hint);
    } else if (section[0] == '\0' && idx < 0) {
        snprintf(problem, sizeof problem, "'%s' appears before any [section] (expected [model] or [train])", name);
    } else if (idx < 0 && !section_known(section)) {
        snprintf(problem, sizeof problem, "unknown section [%s] (expected [model] or [train])", section);
    } else if (idx < 0) {
        char hint[128];
        suggest_key(full, hint, sizeof hint);
        snprintf(problem, sizeof problem, "unknown key '%s' in [%s]%s", name, section, hint);
    } else if (st->seen[idx] && st->prev_idx == idx &&
               (st->reader->first == ' ' || st->reader->first == '\t')) {
        snprintf(problem, sizeof problem,
                 "indented line is read as a continuation of %s; remove the indentation", full);
    } else if (st->seen[idx]) {
        snprintf(problem, sizeof problem, "%s is set twice (first on line %d)", full, st->seen[idx]);
    } else if (key_parse_value(&st->cfg, &keys[idx], value, problem, sizeof problem) == 0) {
        st->seen[idx] = line;
        st->prev_idx = idx;
        return 1;
    }
    if (!st->err_line) {
        st->err_line = line;
        snprintf(st->err, sizeof st->err, "%s", problem);
    }
    return 0;
}

/* Reads the INI file at path over c: [model]/[train] sections of keys, or
 * full "section.key = value" names before any section (cfg_to_string's
 * form). Returns 0, or -1 with one line
 * "FILE:LINE: problem" (c unchanged) on an unreadable file, a syntax error,
 * an unknown section or key, a key set twice, a bad number or a value out of
 * range. Cross-key rules are cfg_validate's job. */
int cfg_load_ini(cfg_config *c, const char *path) {
    char *text;
    line_reader reader = {0};
    if (read_config_file(path, &text, &reader.len) != 0) return -1;
    reader.text = text;
    ini_state *st = ll_calloc(1, sizeof *st);
    if (!st) { free(text); return -1; }
    st->cfg = *c;
    st->reader = &reader;
    st->prev_idx = -1;
    /* the reader stops at a line it refuses, so any error inih or the
     * handler found lies before it: the first problem in the file wins */
    int rc = ini_parse_stream(read_line, &reader, ini_handler_fn, st);
    int ok = 0;
    if (rc < 0) {
        ll_error("%s: out of memory parsing config", path);
    } else if (st->err_line && (rc == 0 || st->err_line <= rc)) {
        ll_error("%s:%d: %s", path, st->err_line, st->err);
    } else if (rc > 0) {
        ll_error("%s:%d: syntax error (expected '[section]', 'key = value' or a ';' comment)", path, rc);
    } else if (reader.bad_line) {
        ll_error("%s:%d: %s", path, reader.bad_line, reader.bad);
    } else {
        *c = st->cfg;
        ok = 1;
    }
    free(st);
    free(text);
    return ok ? 0 : -1;
}

/* ---- overrides ---- */

/* Copies s[0..n) into out without surrounding blanks; -1 if it won't fit. */
static int copy_trimmed(char *out, size_t cap, const char *s, size_t n) {
    while (n > 0 && (*s == ' ' || *s == '\t')) { s++; n--; }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    if (n >= cap) return -1;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

/* Applies one "section.key=value" to c (blanks around key and value are
 * ignored). Returns 0, or -1 with one line naming the assignment (c
 * unchanged) on a missing '=', unknown key, bad number or value out of range. */
int cfg_set(cfg_config *c, const char *assignment) {
    const char *eq = strchr(assignment, '=');
    if (!eq) {
        ll_error("--set '%s': expected section.key=value", assignment);
        return -1;
    }
    char name[128], value[256], problem[400];
    if (copy_trimmed(name, sizeof name, assignment, (size_t)(eq - assignment)) != 0 ||
        copy_trimmed(value, sizeof value, eq + 1, strlen(eq + 1)) != 0) {
        ll_error("--set '%.200s...': too long", assignment);
        return -1;
    }
    int idx = key_find(name);
    if (idx < 0) {
        char hint[128];
        suggest_key(name, hint, sizeof hint);
        ll_error("--set '%s': unknown key '%s'%s", assignment, name, hint);
        return -1;
    }
    cfg_config tmp = *c;
    if (key_parse_value(&tmp, &keys[idx], value, problem, sizeof problem) != 0) {
        ll_error("--set '%s': %s", assignment, problem);
        return -1;
    }
    *c = tmp;
    return 0;
}

/* Applies text made of "section.key=value" lines (cfg_to_string's output, as
 * stored in checkpoints); blank lines and lines starting with '#' or ';' are
 * skipped. origin names the text in errors ("ORIGIN:LINE: problem"). c is
 * unchanged on failure. */
int cfg_load_string(cfg_config *c, const char *text, const char *origin) {
    cfg_config tmp = *c;
    int line = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        line++;
        char buf[512];
        if (copy_trimmed(buf, sizeof buf, p, n) != 0) {
            ll_error("%s:%d: line too long", origin, line);
            return -1;
        }
        size_t len = strlen(buf);
        if (len > 0 && buf[len - 1] == '\r') buf[len - 1] = '\0';
        if (buf[0] && buf[0] != '#' && buf[0] != ';') {
            char *eq = strchr(buf, '=');
            char name[128], value[256], problem[400];
            int idx = -1;
            if (eq && copy_trimmed(name, sizeof name, buf, (size_t)(eq - buf)) == 0 &&
                copy_trimmed(value, sizeof value, eq + 1, strlen(eq + 1)) == 0)
                idx = key_find(name);
            if (!eq) {
                ll_error("%s:%d: expected section.key=value", origin, line);
                return -1;
            }
            if (idx < 0) {
                ll_error("%s:%d: unknown key '%.*s'", origin, line, (int)(eq - buf), buf);
                return -1;
            }
            if (key_parse_value(&tmp, &keys[idx], value, problem, sizeof problem) != 0) {
                ll_error("%s:%d: %s", origin, line, problem);
                return -1;
            }
        }
        p += n + (nl ? 1 : 0);
    }
    *c = tmp;
    return 0;
}

/* ---- whole-config checks and output ---- */

/* Checks what the model and the batch take against the sizes the model code
 * accepts (GPT_MAX_PARAMS, GPT_MAX_ACTS_BYTES, B*T rows in an int) and
 * against this machine's memory (RAM + swap must hold at least parameters,
 * gradients and activations, the part of a rank's memory no ZeRO shards), so
 * an impossible config is refused with the keys named before anything is
 * allocated. Called after the per-key ranges hold. 0 / -1 with one line. */
static int check_sizes(const cfg_config *c) {
    gpt_config mc = {c->n_layer, c->n_head, c->n_embd, c->block_size, c->vocab_size};
    size_t params = gpt_count_params(&mc);
    if (params > GPT_MAX_PARAMS) {
        ll_error("config: model.n_embd = %d with model.n_layer = %d gives %.3g parameters, more than the %.3g "
                 "llmpi accepts (lower model.n_embd or model.n_layer)",
                 c->n_embd, c->n_layer, (double)params, (double)GPT_MAX_PARAMS);
        return -1;
    }
    size_t rows = (size_t)c->batch_size * (size_t)c->seq_len;
    if (rows > INT_MAX) {
        ll_error("config: train.batch_size = %d x train.seq_len = %d = %zu tokens per micro-step, more than %d",
                 c->batch_size, c->seq_len, rows, INT_MAX);
        return -1;
    }
    size_t acts = gpt_acts_bytes(&mc, c->batch_size, c->seq_len, 1);
    const double gib = 1.0 / (1 << 30);
    if (acts > GPT_MAX_ACTS_BYTES) {
        ll_error("config: activations for train.batch_size = %d x train.seq_len = %d need %.3g GiB, more than "
                 "the %.0f GiB llmpi accepts (lower train.batch_size or train.seq_len)",
                 c->batch_size, c->seq_len, acts * gib, GPT_MAX_ACTS_BYTES * gib);
        return -1;
    }
    struct sysinfo si;
    double need = 2.0 * (double)params * sizeof(float) + (double)acts;
    if (sysinfo(&si) == 0) {
        double have = ((double)si.totalram + (double)si.totalswap) * (si.mem_unit ? si.mem_unit : 1);
        if (need > have) {
            ll_error("config: model and batch need at least %.1f GiB (parameters, gradients, activations), "
                     "more than this machine's %.1f GiB of memory (lower model.n_embd, model.n_layer, "
                     "train.batch_size or train.seq_len)", need * gib, have * gib);
            return -1;
        }
    }
    return 0;
}

/* Checks every key's range (a config may be built in code, not parsed), the
 * cross-key rules and the sizes they imply (check_sizes). Returns 0, or -1
 * with one line naming the keys. */
int cfg_validate(const cfg_config *c) {
    for (int i = 0; i < N_KEYS; i++) {
        const key_info *k = &keys[i];
        if (k->type == KEY_TEXT) {
            const char *p = (const char *)c + k->offset;
            char problem[400];
            cfg_config tmp;
            if (!memchr(p, '\0', CFG_TEXT_MAX) || key_parse_value(&tmp, k, p, problem, sizeof problem) != 0) {
                ll_error("config: %s", memchr(p, '\0', CFG_TEXT_MAX) ? problem : "a text key is not terminated");
                return -1;
            }
            continue;
        }
        if (k->type == KEY_U64) continue;
        double v = key_value(c, k);
        if (!isfinite(v) || !in_range(k, v)) {
            char range[64], val[VALUE_MAX];
            format_range(k, range, sizeof range);
            key_format_value(c, k, val, sizeof val);
            ll_error("config: %s = %s is out of range %s (%s)", k->name, val, range, k->meaning);
            return -1;
        }
    }
    if (c->n_embd % c->n_head != 0) {
        ll_error("config: model.n_embd = %d is not divisible by model.n_head = %d", c->n_embd, c->n_head);
        return -1;
    }
    if (c->seq_len > c->block_size) {
        ll_error("config: train.seq_len = %d exceeds model.block_size = %d", c->seq_len, c->block_size);
        return -1;
    }
    if (c->vocab_size < 0) {
        ll_error("config: vocab_size = %d is negative", c->vocab_size);
        return -1;
    }
    return check_sizes(c);
}

/* Prints "  section.key   value" lines aligned on one column, rank 0 only. */
void cfg_print(const cfg_config *c) {
    int width = 0;
    for (int i = 0; i < N_KEYS; i++) {
        int n = (int)strlen(keys[i].name);
        if (n > width) width = n;
    }
    ll_log("config:\n");
    for (int i = 0; i < N_KEYS; i++) {
        char val[VALUE_MAX];
        key_format_value(c, &keys[i], val, sizeof val);
        ll_log("  %-*s  %s\n", width, keys[i].name, keys[i].type == KEY_TEXT && !val[0] ? "(empty)" : val);
    }
    if (c->vocab_size > 0) ll_log("  %-*s  %d (from the data)\n", width, "model.vocab_size", c->vocab_size);
}

/* Returns a malloc'ed "section.key=value\n" line per key, in table order
 * (vocab_size excluded: it is not a key; a quiet key only when it differs
 * from its default), or NULL on out of memory. */
char *cfg_to_string(const cfg_config *c) {
    size_t cap = (size_t)N_KEYS * (64 + VALUE_MAX) + 1, len = 0;
    char *out = ll_malloc(cap);
    if (!out) return NULL;
    out[0] = '\0';
    cfg_config def;
    cfg_defaults(&def);
    for (int i = 0; i < N_KEYS; i++) {
        char val[VALUE_MAX], def_val[VALUE_MAX];
        key_format_value(c, &keys[i], val, sizeof val);
        key_format_value(&def, &keys[i], def_val, sizeof def_val);
        if (key_is_quiet(i) && !strcmp(val, def_val)) continue;
        len += (size_t)snprintf(out + len, cap - len, "%s=%s\n", keys[i].name, val);
    }
    return out;
}

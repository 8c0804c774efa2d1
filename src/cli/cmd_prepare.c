/* cmd_prepare.c: `llmpi prepare`: text files -> HDF5 token store.
 *
 * Invariants:
 *   - the document order is the order of the --input arguments, and inside a
 *     folder the byte-wise sorted paths of its *.txt files (recursively), so
 *     the same inputs and seed give a bit-identical store;
 *   - each non-empty file is one document followed by the tokenizer's eot;
 *     empty files are skipped (counted in the summary);
 *   - both splits are non-empty: with D >= 2 documents, round(D*F) of them,
 *     clamped to [1, D-1], chosen by a seeded shuffle, go to val; with a single
 *     document its last round(n*F) tokens (at least 1) become a separate val
 *     document and the head stays in train, each part ending with eot;
 *   - on any error nothing is left at --out (an earlier file there is kept).
 * A tokenizer is a small object with an encode function ("bytes" is one
 * implementation); a BPE tokenizer.json plugs in as another.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "llmpi/store.h"
#include "llmpi/util.h"

#define PREP_DEFAULT_VAL_FRACTION 0.1
#define PREP_DEFAULT_SEED 1337
#define PREP_MAX_DEPTH 64                       /* folder nesting (guards symlink loops) */
#define PREP_SPLIT_STREAM 0x5052455053504c54ULL /* "PREPSPLT": RNG stream of the split */

/* ---- tokenizer interface ---- */

typedef struct prep_tokenizer prep_tokenizer;
struct prep_tokenizer {
    char identity[STORE_TOKENIZER_MAX];
    uint32_t vocab_size, eot_id;
    /* Encodes n bytes of text into out (room for n ids: a byte-level
     * tokenizer never makes more ids than bytes); sets *n_ids; no eot. 0 / -1. */
    int (*encode)(const prep_tokenizer *t, const char *text, size_t n, int32_t *out, size_t *n_ids);
    void (*destroy)(prep_tokenizer *t);
    void *impl;
};

/* The byte tokenizer: id = byte value, eot = 256. */
static int bytes_encode(const prep_tokenizer *t, const char *text, size_t n, int32_t *out, size_t *n_ids) {
    (void)t;
    const unsigned char *p = (const unsigned char *)text;
    for (size_t i = 0; i < n; i++) out[i] = p[i];
    *n_ids = n;
    return 0;
}

static void bytes_destroy(prep_tokenizer *t) { (void)t; }

/* Builds the tokenizer named by --tokenizer. 0 / -1 (one line). */
static int tokenizer_open(prep_tokenizer *t, const char *spec) {
    memset(t, 0, sizeof *t);
    if (strcmp(spec, "bytes") == 0) {
        snprintf(t->identity, sizeof t->identity, "bytes-v1");
        t->vocab_size = 257;
        t->eot_id = 256;
        t->encode = bytes_encode;
        t->destroy = bytes_destroy;
        return 0;
    }
    ll_error("prepare: --tokenizer %s: only 'bytes' is supported by this build", spec);
    return -1;
}

/* ---- input files ---- */

typedef struct {
    char **paths;
    size_t n, cap;
    size_t n_empty;     /* empty files skipped */
} path_list;

static int path_list_add(path_list *l, const char *path) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **grown = realloc(l->paths, cap * sizeof *grown);
        if (!grown) { ll_error("prepare: out of memory listing inputs"); return -1; }
        l->paths = grown;
        l->cap = cap;
    }
    size_t len = strlen(path);
    l->paths[l->n] = ll_malloc(len + 1);
    if (!l->paths[l->n]) return -1;
    memcpy(l->paths[l->n], path, len + 1);
    l->n++;
    return 0;
}

static void path_list_free(path_list *l) {
    for (size_t i = 0; i < l->n; i++) free(l->paths[i]);
    free(l->paths);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int ends_with_txt(const char *name) {
    size_t n = strlen(name);
    return n > 4 && strcmp(name + n - 4, ".txt") == 0;
}

/* Adds the non-empty *.txt regular files under dir (recursively). 0 / -1. */
static int walk_dir(const char *dir, int depth, path_list *out) {
    if (depth > PREP_MAX_DEPTH) { ll_error("prepare: %s: folders nested deeper than %d (a link loop?)", dir, PREP_MAX_DEPTH); return -1; }
    DIR *d = opendir(dir);
    if (!d) { ll_error("prepare: %s: cannot read folder: %s", dir, strerror(errno)); return -1; }
    int rc = 0;
    struct dirent *e;
    errno = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || (e->d_name[1] == '.' && e->d_name[2] == '\0')))
            continue;
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) {
            ll_error("prepare: %s/%s: path too long", dir, e->d_name);
            rc = -1;
            break;
        }
        struct stat st;
        if (stat(path, &st) != 0) { ll_error("prepare: %s: %s", path, strerror(errno)); rc = -1; break; }
        if (S_ISDIR(st.st_mode)) rc = walk_dir(path, depth + 1, out);
        else if (S_ISREG(st.st_mode) && ends_with_txt(e->d_name)) {
            if (st.st_size == 0) out->n_empty++;
            else rc = path_list_add(out, path);
        }
        errno = 0;
    }
    if (rc == 0 && errno != 0) { ll_error("prepare: %s: cannot read folder: %s", dir, strerror(errno)); rc = -1; }
    closedir(d);
    return rc;
}

/* Adds one --input argument: a file (any name) or a folder. 0 / -1. */
static int collect_input(const char *arg, path_list *out) {
    struct stat st;
    if (stat(arg, &st) != 0) { ll_error("prepare: %s: %s", arg, strerror(errno)); return -1; }
    if (S_ISREG(st.st_mode)) {
        if (st.st_size == 0) { out->n_empty++; return 0; }
        return path_list_add(out, arg);
    }
    if (!S_ISDIR(st.st_mode)) { ll_error("prepare: %s: neither a file nor a folder", arg); return -1; }
    size_t first = out->n;
    if (walk_dir(arg, 0, out) != 0) return -1;
    if (out->n - first > 1) qsort(out->paths + first, out->n - first, sizeof *out->paths, cmp_str);
    return 0;
}

/* ---- the command ---- */

static void usage(FILE *f) {
    fprintf(f,
            "usage: llmpi prepare --tokenizer bytes --input PATH... --out STORE.h5\n"
            "                     [--val-fraction F] [--seed S]\n\n"
            "Tokenizes text into an HDF5 token store (train and val splits).\n"
            "  --tokenizer bytes   byte-level ids 0..255, eot 256 (vocab 257)\n"
            "  --input PATH...     files, or folders searched recursively for *.txt\n"
            "                      (sorted paths); each file is one document + eot\n"
            "  --out STORE.h5      output (written to a temporary name, then renamed)\n"
            "  --val-fraction F    share of documents for val, 0 < F < 1 (default %.1f);\n"
            "                      a single document gives its last F of tokens to val\n"
            "  --seed S            seed of the document split (default %d)\n",
            PREP_DEFAULT_VAL_FRACTION, PREP_DEFAULT_SEED);
}

typedef struct {
    const char *tokenizer, *out;
    const char **inputs;
    int n_inputs;
    double val_fraction;
    uint64_t seed;
} prep_options;

/* Parses argv into o. 0, 1 for --help, -1 (one line) on a bad option. */
static int parse_options(int argc, char **argv, prep_options *o) {
    o->tokenizer = NULL;
    o->out = NULL;
    o->n_inputs = 0;
    o->val_fraction = PREP_DEFAULT_VAL_FRACTION;
    o->seed = PREP_DEFAULT_SEED;
    o->inputs = ll_malloc((size_t)argc * sizeof *o->inputs);
    if (!o->inputs) return -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return 1;
        int has_value = i + 1 < argc;
        if (!strcmp(a, "--input")) {
            int before = o->n_inputs;
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) o->inputs[o->n_inputs++] = argv[++i];
            if (o->n_inputs == before) { ll_error("prepare: --input needs at least one path"); return -1; }
        } else if (!strcmp(a, "--tokenizer") && has_value) {
            o->tokenizer = argv[++i];
        } else if (!strcmp(a, "--out") && has_value) {
            o->out = argv[++i];
        } else if (!strcmp(a, "--val-fraction") && has_value) {
            if (cli_parse_float("--val-fraction", argv[++i], &o->val_fraction) != 0) return -1;
            if (!(o->val_fraction > 0.0 && o->val_fraction < 1.0)) {
                ll_error("prepare: --val-fraction must be in (0, 1), got %s", argv[i]);
                return -1;
            }
        } else if (!strcmp(a, "--seed") && has_value) {
            long v;
            if (cli_parse_int("--seed", argv[++i], 0, LONG_MAX, &v) != 0) return -1;
            o->seed = (uint64_t)v;
        } else {
            ll_error("prepare: unknown option or missing value '%s' (see llmpi prepare --help)", a);
            return -1;
        }
    }
    if (!o->tokenizer) { ll_error("prepare: --tokenizer is required (see llmpi prepare --help)"); return -1; }
    if (o->n_inputs == 0) { ll_error("prepare: --input is required (see llmpi prepare --help)"); return -1; }
    if (!o->out) { ll_error("prepare: --out is required (see llmpi prepare --help)"); return -1; }
    return 0;
}

/* Marks round(D*F) documents (clamped to [1, D-1]) as val by a seeded
 * Fisher-Yates shuffle of the document indices. */
static void choose_val_docs(size_t n_docs, double fraction, uint64_t seed, unsigned char *is_val) {
    memset(is_val, 0, n_docs);
    size_t n_val = (size_t)llround((double)n_docs * fraction);
    if (n_val < 1) n_val = 1;
    if (n_val > n_docs - 1) n_val = n_docs - 1;
    size_t *order = malloc(n_docs * sizeof *order);
    ll_rng rng;
    ll_rng_seed(&rng, seed, PREP_SPLIT_STREAM);
    if (!order) {   /* fall back to the last documents: still deterministic */
        for (size_t i = n_docs - n_val; i < n_docs; i++) is_val[i] = 1;
        return;
    }
    for (size_t i = 0; i < n_docs; i++) order[i] = i;
    for (size_t i = n_docs - 1; i > 0; i--) {
        size_t j = (size_t)ll_rng_below(&rng, i + 1);
        size_t t = order[i]; order[i] = order[j]; order[j] = t;
    }
    for (size_t i = 0; i < n_val; i++) is_val[order[i]] = 1;
    free(order);
}

typedef struct {
    uint64_t docs[2], tokens[2];
} prep_counts;

/* Appends ids[0..n) + eot as one document of split. 0 / -1. */
static int append_doc(store_writer *w, const prep_tokenizer *tok, store_split split, int32_t *ids, size_t n,
                      prep_counts *c) {
    ids[n] = (int32_t)tok->eot_id;
    if (store_writer_append(w, split, ids, n + 1) != 0) return -1;
    c->docs[split]++;
    c->tokens[split] += n + 1;
    return 0;
}

/* Reads, encodes and appends every document. 0 / -1. */
static int write_documents(store_writer *w, const prep_tokenizer *tok, const path_list *files,
                           const prep_options *o, prep_counts *c) {
    unsigned char *is_val = NULL;
    if (files->n >= 2) {
        is_val = ll_malloc(files->n);
        if (!is_val) return -1;
        choose_val_docs(files->n, o->val_fraction, o->seed, is_val);
    }
    int rc = 0;
    for (size_t i = 0; i < files->n && rc == 0; i++) {
        char *text = NULL;
        size_t n = 0;
        if (ll_read_file(files->paths[i], &text, &n) != 0) { rc = -1; break; }
        int32_t *ids = ll_malloc((n + 1) * sizeof *ids);
        size_t n_ids = 0;
        if (!ids || tok->encode(tok, text, n, ids, &n_ids) != 0) rc = -1;
        free(text);
        if (rc == 0 && n_ids > n) {
            ll_error("prepare: %s: tokenizer made more ids than bytes", files->paths[i]);
            rc = -1;
        }
        if (rc == 0 && files->n == 1) {
            if (n_ids < 2) {
                ll_error("prepare: %s: a single document of %zu tokens cannot be split into train and val",
                         files->paths[i], n_ids);
                rc = -1;
            } else {
                size_t n_val = (size_t)llround((double)n_ids * o->val_fraction);
                if (n_val < 1) n_val = 1;
                if (n_val > n_ids - 1) n_val = n_ids - 1;
                size_t cut = n_ids - n_val;
                /* The val part moves to its own buffer so both parts can end
                 * with eot: train needs ids[cut] for its eot. */
                int32_t *tail = ll_malloc((n_val + 1) * sizeof *tail);
                if (!tail) rc = -1;
                else {
                    memcpy(tail, ids + cut, n_val * sizeof *tail);
                    rc = append_doc(w, tok, STORE_TRAIN, ids, cut, c);
                    if (rc == 0) rc = append_doc(w, tok, STORE_VAL, tail, n_val, c);
                    free(tail);
                }
            }
        } else if (rc == 0) {
            rc = append_doc(w, tok, is_val[i] ? STORE_VAL : STORE_TRAIN, ids, n_ids, c);
        }
        free(ids);
    }
    free(is_val);
    return rc;
}

int cmd_prepare(int argc, char **argv) {
    prep_options o;
    int parsed = parse_options(argc, argv, &o);
    if (parsed != 0) {
        free(o.inputs);
        if (parsed == 1) { usage(stdout); return 0; }
        return 2;
    }
    int size = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size > 1) {
        ll_error("prepare: runs as one process, started with %d ranks", size);
        free(o.inputs);
        return 2;
    }
    prep_tokenizer tok;
    if (tokenizer_open(&tok, o.tokenizer) != 0) { free(o.inputs); return 1; }

    int rc = 1;
    path_list files = {0};
    store_writer *w = NULL;
    prep_counts counts = {{0, 0}, {0, 0}};
    for (int i = 0; i < o.n_inputs; i++)
        if (collect_input(o.inputs[i], &files) != 0) goto done;
    if (files.n == 0) {
        ll_error("prepare: no text found in the inputs (%zu empty files, folders are searched for *.txt)",
                 files.n_empty);
        goto done;
    }
    w = store_writer_create(o.out, tok.vocab_size, tok.eot_id, tok.identity);
    if (!w) goto done;
    if (write_documents(w, &tok, &files, &o, &counts) != 0) {
        store_writer_abort(w);
        goto done;
    }
    if (store_writer_finish(w) != 0) goto done;
    ll_log("prepare: tokenizer %s, vocab_size %u, eot_id %u\n", tok.identity, tok.vocab_size, tok.eot_id);
    ll_log("prepare: %zu files (%zu empty skipped)%s\n", files.n, files.n_empty,
           files.n == 1 ? ", one document: its tail is the val split" : "");
    ll_log("prepare: train %llu documents %llu tokens\n", (unsigned long long)counts.docs[STORE_TRAIN],
           (unsigned long long)counts.tokens[STORE_TRAIN]);
    ll_log("prepare: val %llu documents %llu tokens\n", (unsigned long long)counts.docs[STORE_VAL],
           (unsigned long long)counts.tokens[STORE_VAL]);
    ll_log("prepare: wrote %s\n", o.out);
    rc = 0;
done:
    path_list_free(&files);
    tok.destroy(&tok);
    free(o.inputs);
    return rc;
}

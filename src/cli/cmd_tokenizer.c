/* cmd_tokenizer.c: `llmpi tokenizer train|encode|decode|info`.
 *
 * Invariants: options are parsed strictly (a bad value is one error line and
 * exit status 2); every failure below prints one line and exits 1; train
 * writes DIR/tokenizer.json atomically, so a failed run leaves any earlier
 * file in place. Options that take several values (--input, --special) take
 * every following argument up to the next one starting with "--".
 */
#include <errno.h>
#include <limits.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "llmpi/tokenizer.h"
#include "llmpi/util.h"
#include "llmpi/walk.h"

/* The subcommands and their options. */
static void usage(FILE *f) {
    fprintf(f,
            "usage:\n"
            "  llmpi tokenizer train --input PATH... --vocab-size N --out DIR [--pattern REGEX]\n"
            "        [--min-frequency F] [--max-token-bytes M] [--special TOKEN...] [--threads T] [--quiet]\n"
            "      learns byte-level BPE from files or folders (every *.txt, recursively; names\n"
            "      starting with '.' are skipped) and"
            " writes DIR/tokenizer.json (Hugging Face tokenizers format)\n"
            "  llmpi tokenizer encode --tokenizer FILE|DIR [--allow-special] < text\n"
            "      prints the ids, space separated, one line\n"
            "  llmpi tokenizer decode --tokenizer FILE|DIR < ids\n"
            "      writes the bytes of whitespace-separated ids\n"
            "  llmpi tokenizer info --tokenizer FILE|DIR [--input PATH...] [--threads T]\n"
            "      vocabulary, specials, pattern, identity; with --input also bytes per token\n"
            "      and encode speed on those files\n");
}

/* Collects the values after argv[*i] up to the next "--" option. */
static int take_values(int argc, char **argv, int *i, const char ***list, int *n) {
    int start = *i + 1;
    while (*i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0) (*i)++;
    int count = *i + 1 - start;
    if (count == 0) { ll_error("tokenizer: %s needs at least one value", argv[start - 1]); return -1; }
    const char **grown = ll_realloc(*list, (size_t)(*n + count) * sizeof *grown);
    if (!grown) return -1;
    for (int k = 0; k < count; k++) grown[*n + k] = argv[start + k];
    *list = grown;
    *n += count;
    return 0;
}

/* Reads all of stdin; *out is malloc'ed. */
static int read_stdin(char **out, size_t *n) {
    size_t cap = 1 << 16, len = 0;
    char *buf = ll_malloc(cap);
    if (!buf) return -1;
    for (;;) {
        if (len == cap) {
            char *nb = ll_realloc(buf, cap * 2);
            if (!nb) { free(buf); return -1; }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, stdin);
        len += got;
        if (got == 0) break;
    }
    if (ferror(stdin)) { ll_error("tokenizer: error reading stdin"); free(buf); return -1; }
    *out = buf;
    *n = len;
    return 0;
}

/* `train`: options, training, DIR/tokenizer.json. Exit 0 / 1 / 2 (usage). */
static int cmd_train(int argc, char **argv) {
    tok_train_options o;
    tok_train_options_default(&o);
    o.progress = 1;
    const char **inputs = NULL, **specials = NULL;
    int n_inputs = 0, n_specials = 0, rc = 2;
    const char *out_dir = NULL;
    long v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--input")) { if (take_values(argc, argv, &i, &inputs, &n_inputs)) goto done; }
        else if (!strcmp(a, "--special")) { if (take_values(argc, argv, &i, &specials, &n_specials)) goto done; }
        else if (!strcmp(a, "--vocab-size") && has) { if (cli_parse_int(a, argv[++i], 1, TOK_MAX_VOCAB, &v)) goto done; o.vocab_size = (int)v; }
        else if (!strcmp(a, "--out") && has) out_dir = argv[++i];
        else if (!strcmp(a, "--pattern") && has) o.pattern = argv[++i];
        else if (!strcmp(a, "--min-frequency") && has) { if (cli_parse_int(a, argv[++i], 1, INT32_MAX, &v)) goto done; o.min_frequency = v; }
        else if (!strcmp(a, "--max-token-bytes") && has) { if (cli_parse_int(a, argv[++i], 0, 1 << 20, &v)) goto done; o.max_token_bytes = (int)v; }
        else if (!strcmp(a, "--threads") && has) { if (cli_parse_int(a, argv[++i], 1, 4096, &v)) goto done; o.threads = (int)v; }
        else if (!strcmp(a, "--quiet")) o.progress = 0;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); rc = 0; goto done; }
        else {
            static const char *const takes_value[] = {"--vocab-size", "--out", "--pattern", "--min-frequency",
                                                      "--max-token-bytes", "--threads", NULL};
            cli_bad_option("tokenizer train", a, takes_value);
            goto done;
        }
    }
    if (!n_inputs || !out_dir || !o.vocab_size) {
        ll_error("tokenizer train: --input, --vocab-size and --out are required");
        goto done;
    }
    rc = 1;
    o.extra_specials = specials;
    o.n_extra_specials = n_specials;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/tokenizer.json", out_dir) >= (int)sizeof path) {
        ll_error("%s: path too long", out_dir);
        goto done;
    }
    struct stat st;
    if (stat(out_dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
        ll_error("%s: --out must be a folder, this is a file", out_dir);
        goto done;
    }
    double t0 = ll_now();
    tokenizer *t = tok_train_paths(inputs, n_inputs, &o);
    if (!t) goto done;
    double seconds = ll_now() - t0;
    if (ll_mkdir_p(out_dir) == 0 && tok_save(t, path) == 0) {
        ll_log("tokenizer: wrote %s: vocab %d (%d merges), identity %s, %.2f s\n", path, tok_vocab_size(t),
               tok_n_merges(t), tok_identity(t), seconds);
        rc = 0;
    }
    tok_free(t);
done:
    free(inputs);
    free(specials);
    return rc;
}

/* Parses --tokenizer (required) and --allow-special for encode/decode.
 * NULL on failure (*status: 2 for a usage error, 0 after --help, else 1). */
static tokenizer *open_for_stream(int argc, char **argv, int *allow_special, int allow_flag_ok, int *status) {
    const char *path = NULL;
    static const char *const takes_value[] = {"--tokenizer", NULL};
    char command[32];
    snprintf(command, sizeof command, "tokenizer %s", argv[0]);
    *status = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) path = argv[++i];
        else if (allow_flag_ok && !strcmp(argv[i], "--allow-special")) *allow_special = 1;
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); *status = 0; return NULL; }
        else { cli_bad_option(command, argv[i], takes_value); return NULL; }
    }
    *status = 1;
    if (!path) { ll_error("tokenizer %s: --tokenizer is required", argv[0]); return NULL; }
    return tok_load(path);
}

/* `encode`: stdin bytes to ids on stdout. */
static int cmd_encode(int argc, char **argv) {
    int allow_special = 0, status;
    tokenizer *t = open_for_stream(argc, argv, &allow_special, 1, &status);
    if (!t) return status;
    char *text = NULL;
    size_t n = 0;
    tok_ids ids = {0};
    int rc = 1;
    tok_set_error_place("stdin");
    if (read_stdin(&text, &n) == 0 && tok_encode(t, text, n, allow_special, &ids) == 0) {
        for (size_t i = 0; i < ids.n; i++) printf(i ? " %d" : "%d", (int)ids.ids[i]);
        printf("\n");
        rc = fflush(stdout) == 0 ? 0 : 1;
        if (rc) ll_error("tokenizer encode: cannot write stdout");
    }
    free(text);
    tok_ids_free(&ids);
    tok_free(t);
    return rc;
}

/* The separators decode accepts between ids. */
static int is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

/* `decode`: whitespace-separated ids on stdin to bytes on stdout; any id
 * outside the vocabulary is refused before anything is written. */
static int cmd_decode(int argc, char **argv) {
    int unused = 0, status;
    tokenizer *t = open_for_stream(argc, argv, &unused, 0, &status);
    if (!t) return status;
    char *text = NULL;
    size_t n = 0;
    tok_ids ids = {0};
    tok_bytes out = {0};
    int rc = 1;
    if (read_stdin(&text, &n) != 0) goto done;
    for (size_t i = 0; i < n;) {
        while (i < n && is_space(text[i])) i++;
        if (i == n) break;
        long id = 0;
        size_t start = i;
        while (i < n && text[i] >= '0' && text[i] <= '9' && id <= TOK_MAX_VOCAB) id = id * 10 + (text[i++] - '0');
        if (i == start || (i < n && !is_space(text[i])) || id >= tok_vocab_size(t)) {
            ll_error("tokenizer decode: stdin byte %zu: expected an id in [0, %d)", start, tok_vocab_size(t));
            goto done;
        }
        if (ids.n == ids.cap) {
            size_t cap = ids.cap ? ids.cap * 2 : 4096;
            int32_t *g = ll_realloc(ids.ids, cap * sizeof *g);
            if (!g) goto done;
            ids.ids = g;
            ids.cap = cap;
        }
        ids.ids[ids.n++] = (int32_t)id;
    }
    if (tok_decode(t, ids.ids, ids.n, &out) != 0) goto done;
    if (fwrite(out.data, 1, out.n, stdout) != out.n || fflush(stdout) != 0) {
        ll_error("tokenizer decode: cannot write stdout");
        goto done;
    }
    rc = 0;
done:
    free(text);
    tok_ids_free(&ids);
    tok_bytes_free(&out);
    tok_free(t);
    return rc;
}

/* Encodes each input file (in parallel over files) and reports bytes per
 * token and the encode rate. */
static int report_compression(const tokenizer *t, const char **inputs, int n_inputs, int threads) {
    uint64_t bytes = 0, tokens = 0;
    int failed = 0;
    double cpu = 0, t0 = ll_now();
    #pragma omp parallel for schedule(dynamic, 1) num_threads(threads) reduction(+ : bytes, tokens, cpu) reduction(|| : failed)
    for (int i = 0; i < n_inputs; i++) {
        char *text = NULL;
        size_t n = 0;
        if (failed || ll_read_file(inputs[i], &text, &n) != 0) { failed = 1; continue; }
        tok_ids ids = {0};
        double s = ll_now();
        tok_set_error_place(inputs[i]);
        if (tok_encode(t, text, n, 0, &ids) != 0) failed = 1;
        tok_set_error_place(NULL);
        cpu += ll_now() - s;
        bytes += n;
        tokens += ids.n;
        tok_ids_free(&ids);
        free(text);
    }
    if (failed) return -1;
    double wall = ll_now() - t0;
    printf("input: %d files, %.1f MB, %llu tokens, %.3f bytes/token\n", n_inputs, bytes / 1e6,
           (unsigned long long)tokens, tokens ? (double)bytes / tokens : 0.0);
    printf("encode: %.1f MB/s per core, %.1f MB/s wall with %d threads\n", bytes / 1e6 / (cpu + 1e-12),
           bytes / 1e6 / (wall + 1e-12), threads);
    return 0;
}

/* `info`: what the tokenizer is; with --input, how it compresses. */
static int cmd_info_tok(int argc, char **argv) {
    const char *path = NULL;
    const char **inputs = NULL;
    int n_inputs = 0, threads = ll_cores_available(), rc = 2;
    long v;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) path = argv[++i];
        else if (!strcmp(argv[i], "--input")) { if (take_values(argc, argv, &i, &inputs, &n_inputs)) goto done; }
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) { if (cli_parse_int("--threads", argv[++i], 1, 4096, &v)) goto done; threads = (int)v; }
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); rc = 0; goto done; }
        else {
            static const char *const takes_value[] = {"--tokenizer", "--threads", NULL};
            cli_bad_option("tokenizer info", argv[i], takes_value);
            goto done;
        }
    }
    if (!path) { ll_error("tokenizer info: --tokenizer is required"); goto done; }
    rc = 1;
    tokenizer *t = tok_load(path);
    if (!t) goto done;
    printf("identity: %s\n", tok_identity(t));
    printf("vocab_size: %d (256 bytes + %d merges + %d specials)\n", tok_vocab_size(t), tok_n_merges(t),
           tok_n_specials(t));
    printf("eot_id: %d\n", (int)tok_eot_id(t));
    printf("specials:");
    for (int k = 0; k < tok_n_specials(t); k++) {
        int32_t id;
        const char *s = tok_special(t, k, &id);
        printf(" %s=%d", s, (int)id);
    }
    printf("\npattern: %s\n", tok_pattern(t));
    rc = 0;
    if (n_inputs) {
        /* walk.h: argument order, sorted within a folder, any unreadable entry fails */
        walk_options wo;
        walk_options_default(&wo);
        wo.strict = 1;
        walk_list wl = {0};
        const char **files = NULL;
        if (walk_inputs(inputs, (size_t)n_inputs, &wo, &wl) != 0) rc = 1;
        if (rc == 0 && wl.n == 0) { ll_error("tokenizer info: no *.txt file in --input"); rc = 1; }
        if (rc == 0 && wl.n > (size_t)INT_MAX) { ll_error("tokenizer info: too many files in --input"); rc = 1; }
        if (rc == 0 && !(files = ll_malloc(wl.n * sizeof *files))) rc = 1;
        for (size_t i = 0; rc == 0 && i < wl.n; i++) files[i] = wl.v[i].path;
        if (rc == 0 && report_compression(t, files, (int)wl.n, threads) != 0) rc = 1;
        free(files);
        walk_list_free(&wl);
    }
    tok_free(t);
done:
    free(inputs);
    return rc;
}

/* Dispatches argv[1] (argv[0] is "tokenizer"). */
int cmd_tokenizer(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(sub, "encode")) return cmd_encode(argc - 1, argv + 1);
    if (!strcmp(sub, "decode")) return cmd_decode(argc - 1, argv + 1);
    if (!strcmp(sub, "info")) return cmd_info_tok(argc - 1, argv + 1);
    ll_error("tokenizer: unknown subcommand '%s' (train, encode, decode, info)", sub);
    return 2;
}

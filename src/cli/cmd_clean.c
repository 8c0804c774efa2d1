/* cmd_clean.c: `llmpi clean --input PATH... --out DIR`: the options of
 * clean_run (src/data/clean_run.c: cleaned books + DIR/report.json) and its
 * summary. Exit status 1 when an entry could not be read (it is listed in
 * the report), 2 on a bad option.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "llmpi/clean.h"
#include "llmpi/util.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: llmpi clean --input PATH [PATH...] --out DIR [options]\n"
            "\n"
            "Strips the Project Gutenberg header, footer, license, producer lines and\n"
            "leading transcriber's notes; normalises to UTF-8 NFC with LF line ends;\n"
            "joins hard-wrapped prose; keeps English books and drops duplicate bodies.\n"
            "A folder is walked recursively; outputs keep the paths relative to it\n"
            "(a file given directly keeps its name). DIR/report.json lists every book.\n"
            "\n"
            "options:\n"
            "  --input PATH...        books or folders of books (one or more)\n"
            "  --out DIR              output folder (created if needed)\n"
            "  --keep-all-languages   do not drop books whose Language: is not English\n"
            "  --no-unwrap            keep every line break as in the source\n"
            "  --quiet                no per-book warnings for dropped books\n");
}

int cmd_clean(int argc, char **argv) {
    const char *out_dir = NULL;
    const char **inputs = ll_calloc((size_t)argc + 1, sizeof *inputs);
    size_t n_inputs = 0;
    int quiet = 0;
    clean_options opts;
    clean_options_default(&opts);
    if (!inputs) return 1;   /* ll_calloc printed the line */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); free(inputs); return 0; }
        else if (!strcmp(argv[i], "--input")) {
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
                char *in = argv[++i];
                size_t len = strlen(in);
                while (len > 1 && in[len - 1] == '/') in[--len] = '\0';  /* "dir/" names files "dir/x", not "dir//x" */
                inputs[n_inputs++] = in;
            }
        } else if (!strcmp(argv[i], "--out") && i + 1 < argc) out_dir = argv[++i];
        else if (!strcmp(argv[i], "--keep-all-languages")) opts.keep_all_languages = 1;
        else if (!strcmp(argv[i], "--no-unwrap")) opts.unwrap_prose = 0;
        else if (!strcmp(argv[i], "--quiet")) quiet = 1;
        else {
            static const char *const takes_value[] = {"--out", NULL};
            free(inputs);
            return cli_bad_option("clean", argv[i], takes_value);
        }
    }
    if (!n_inputs || !out_dir) {
        ll_error("clean: --input and --out are required (see llmpi clean --help)");
        free(inputs);
        return 2;
    }

    clean_run_options ro = {.inputs = inputs, .n_inputs = n_inputs, .out_dir = out_dir, .clean = opts, .quiet = quiet};
    clean_run_report r;
    int rc = clean_run(&ro, &r) == 0 ? 0 : 1;
    free(inputs);
    if (rc != 0) return rc;
    size_t dropped = r.n_books - r.counts[CLEAN_KEPT] - r.n_unreadable;
    ll_log("clean: %zu books: %zu kept, %zu dropped (%zu no_body, %zu license_in_body, %zu binary, "
           "%zu empty, %zu language, %zu duplicate), %zu unreadable\n",
           r.n_books, r.counts[CLEAN_KEPT], dropped, r.counts[CLEAN_DROP_NO_BODY], r.counts[CLEAN_DROP_LICENSE],
           r.counts[CLEAN_DROP_BINARY], r.counts[CLEAN_DROP_EMPTY], r.counts[CLEAN_DROP_LANGUAGE],
           r.counts[CLEAN_DROP_DUPLICATE], r.n_unreadable);
    ll_log("clean: %.1f MB in, %.1f MB out; cleanup %.1f MB/s (1 core), end to end %.1f MB/s "
           "(read + clean + fsync'ed writes)\n",
           r.bytes_in / 1e6, r.bytes_out / 1e6, r.clean_seconds > 0 ? r.bytes_in / 1e6 / r.clean_seconds : 0.0,
           r.wall > 0 ? r.bytes_in / 1e6 / r.wall : 0.0);
    ll_log("clean: report in %s/report.json\n", out_dir);
    if (r.n_unreadable) {
        ll_error("clean: %zu input(s) could not be read (listed in %s/report.json)", r.n_unreadable, out_dir);
        return 1;
    }
    return 0;
}

/* cmd_mix.c: `llmpi mix --mix FILE --tokenizer TOK --out OUT.h5`: builds the
 * SFT store from a mix file (sft_build_store) and prints its description.
 * One process: under mpirun only rank 0 builds (the others wait for it), so
 * the result never depends on the rank count.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "llmpi/comm.h"
#include "llmpi/sft.h"
#include "llmpi/util.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: llmpi mix --mix MIX.ini --tokenizer TOK.json --out OUT.h5\n\n"
            "Reads every source of the mix file, renders it in the llmpi-chat-1 template,\n"
            "drops duplicates, splits val, blends by weight and writes the SFT store\n"
            "(format llmpi-sft); then prints per source: records, examples, tokens,\n"
            "target and actual shares, skipped records by reason (docs/sft.md).\n"
            "The tokenizer must have the chat specials <|system|> <|user|> <|assistant|> <|end|>.\n");
}

int cmd_mix(int argc, char **argv) {
    static const struct option opts[] = {{"mix", required_argument, 0, 'm'},
                                         {"tokenizer", required_argument, 0, 't'},
                                         {"out", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *mix = NULL, *tok = NULL, *out = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': mix = optarg; break;
        case 't': tok = optarg; break;
        case 'o': out = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return cli_getopt_error("mix", c, argv);
        }
    }
    if (optind < argc) { ll_error("mix: unexpected argument '%s'", argv[optind]); return 2; }
    if (!mix || !tok || !out) {
        ll_error("mix: --mix, --tokenizer and --out are required (see llmpi mix --help)");
        return 2;
    }
    comm_world w;
    if (comm_init(&w) != 0) return 1;
    int rc = w.rank == 0 ? sft_build_store(mix, tok, out) : 0;
    char *text = NULL;
    sft_store s;
    if (rc == 0 && w.rank == 0) {
        rc = sft_store_load(out, &s);
        if (rc == 0) {
            text = sft_store_summary(&s);
            if (!text) rc = -1;
            sft_store_free(&s);
        }
    }
    if (w.size > 1 && comm_any(rc != 0)) rc = -1;
    if (text) printf("wrote %s\n%s", out, text);
    free(text);
    return rc == 0 ? 0 : 1;
}

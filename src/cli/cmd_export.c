/* cmd_export.c: `llmpi export --checkpoint C --format FMT --out PATH [--force]`:
 * a checkpoint in another ecosystem's format. The format string picks one
 * library call (hf: src/export/hf.c); the CLI only parses and dispatches.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "llmpi/hf.h"
#include "llmpi/util.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: llmpi export --checkpoint CKPT.h5 --format hf --out DIR [--force]\n\n"
            "Writes a checkpoint for use outside llmpi.\n"
            "  --format hf   a Hugging Face transformers directory (GPT2LMHeadModel):\n"
            "                model.safetensors, config.json, generation_config.json,\n"
            "                tokenizer.json and tokenizer_config.json (with the chat template)\n"
            "  --out PATH    output (refused if it exists, unless --force)\n"
            "  --force       replace an earlier export at PATH\n");
}

int cmd_export(int argc, char **argv) {
    static const struct option opts[] = {
        {"checkpoint", required_argument, 0, 'c'}, {"format", required_argument, 0, 'f'},
        {"out", required_argument, 0, 'o'},        {"force", no_argument, 0, 'F'},
        {"help", no_argument, 0, 'h'},             {0, 0, 0, 0}};
    const char *ckpt = NULL, *format = NULL, *out = NULL;
    int force = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': ckpt = optarg; break;
        case 'f': format = optarg; break;
        case 'o': out = optarg; break;
        case 'F': force = 1; break;
        case 'h': usage(stdout); return 0;
        default: return cli_getopt_error("export", c, argv);
        }
    }
    if (optind < argc) { ll_error("export: unexpected argument '%s'", argv[optind]); return 2; }
    if (!ckpt || !*ckpt || !format || !out || !*out) {
        ll_error("export: --checkpoint, --format and --out are required (see llmpi export --help)");
        return 2;
    }
    int rc;
    if (!strcmp(format, "hf")) rc = hf_export(ckpt, out, force);
    else { ll_error("export: unknown --format '%s' (hf)", format); return 2; }
    if (rc != 0) return 1;
    ll_log("export: %s -> %s (%s)\n", ckpt, out, format);
    return 0;
}

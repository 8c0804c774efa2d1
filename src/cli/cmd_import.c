/* cmd_import.c: `llmpi import --format hf --input DIR --out C.h5 [--force]
 * [--no-tokenizer]`: GPT-2-shaped weights from elsewhere as an llmpi
 * checkpoint (src/export/hf.c does the work).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "llmpi/hf.h"
#include "llmpi/util.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: llmpi import --format hf --input DIR --out CKPT.h5 [--force] [--no-tokenizer]\n\n"
            "Reads a Hugging Face GPT-2 directory (model.safetensors + config.json, as\n"
            "`llmpi export --format hf` or transformers' save_pretrained write it) into a\n"
            "checkpoint (step 0, no optimizer state) for sft, sample, chat, serve and eval.\n"
            "  --input DIR      the directory; its tokenizer.json (an llmpi BPE one) is embedded\n"
            "  --out CKPT.h5    output (refused if it exists, unless --force)\n"
            "  --no-tokenizer   ignore DIR/tokenizer.json (one that is not llmpi's, e.g. GPT-2's own,\n"
            "                   is refused otherwise); sample, chat and serve then need --tokenizer\n");
}

int cmd_import(int argc, char **argv) {
    static const struct option opts[] = {
        {"format", required_argument, 0, 'f'}, {"input", required_argument, 0, 'i'},
        {"out", required_argument, 0, 'o'},    {"force", no_argument, 0, 'F'},
        {"no-tokenizer", no_argument, 0, 'n'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *format = NULL, *input = NULL, *out = NULL;
    int force = 0, no_tok = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'f': format = optarg; break;
        case 'i': input = optarg; break;
        case 'o': out = optarg; break;
        case 'F': force = 1; break;
        case 'n': no_tok = 1; break;
        case 'h': usage(stdout); return 0;
        default: return cli_getopt_error("import", c, argv);
        }
    }
    if (optind < argc) { ll_error("import: unexpected argument '%s'", argv[optind]); return 2; }
    if (!format || !input || !*input || !out || !*out) {
        ll_error("import: --format, --input and --out are required (see llmpi import --help)");
        return 2;
    }
    if (strcmp(format, "hf") != 0) { ll_error("import: unknown --format '%s' (hf)", format); return 2; }
    if (hf_import(input, out, force, no_tok) != 0) return 1;
    ll_log("import: %s -> %s\n", input, out);
    return 0;
}

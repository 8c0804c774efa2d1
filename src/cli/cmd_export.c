/* cmd_export.c: `llmpi export`: a checkpoint in another tool's format.
 *
 * Options in, one library call per --format (gguf: gguf_export in
 * src/export/gguf.c; hf: hf_export in src/export/hf.c), one summary line
 * out. --type, --name and --tokenizer belong to gguf and are refused for hf.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "llmpi/gguf.h"
#include "llmpi/hf.h"
#include "llmpi/util.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: llmpi export --checkpoint CKPT.h5 --format gguf --out FILE [--type f32|f16|q8_0]\n"
            "                    [--name NAME] [--tokenizer tokenizer.json] [--force]\n"
            "       llmpi export --checkpoint CKPT.h5 --format hf --out DIR [--force]\n\n"
            "Writes a checkpoint for use outside llmpi.\n"
            "  --format gguf       GGUF v3 for llama.cpp (and Ollama, LM Studio, node-llama-cpp):\n"
            "                      architecture gpt2, tokenizer and chat template inside\n"
            "  --format hf         a Hugging Face transformers directory (GPT2LMHeadModel):\n"
            "                      model.safetensors, config.json, generation_config.json,\n"
            "                      tokenizer.json and tokenizer_config.json (with the chat template)\n"
            "  --type T            gguf: 2-D weights as f32 (default), f16 or q8_0; norms and biases f32\n"
            "  --name NAME         gguf: general.name (default llmpi)\n"
            "  --tokenizer FILE    gguf: tokenizer.json for a checkpoint that carries no copy\n"
            "  --out PATH          output (refused if it exists, unless --force)\n"
            "  --force             replace an existing output\n");
}

int cmd_export(int argc, char **argv) {
    static const struct option opts[] = {
        {"checkpoint", required_argument, 0, 'c'}, {"format", required_argument, 0, 'F'},
        {"out", required_argument, 0, 'o'},        {"type", required_argument, 0, 't'},
        {"name", required_argument, 0, 'n'},       {"tokenizer", required_argument, 0, 'T'},
        {"force", no_argument, 0, 'f'},            {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *ckpt = NULL, *format = NULL, *out = NULL, *type = NULL;
    gguf_export_options go = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': ckpt = optarg; break;
        case 'F': format = optarg; break;
        case 'o': out = optarg; break;
        case 't': type = optarg; break;
        case 'n': go.name = optarg; break;
        case 'T': go.tokenizer = optarg; break;
        case 'f': go.force = 1; break;
        case 'h': usage(stdout); return 0;
        default: return cli_getopt_error("export", c, argv);
        }
    }
    if (optind < argc) {
        ll_error("export: unexpected argument '%s' (see llmpi export --help)", argv[optind]);
        return 2;
    }
    if (!ckpt || !*ckpt || !format || !out || !*out) {
        ll_error("export: --checkpoint, --format and --out are required (see llmpi export --help)");
        return 2;
    }
    if (!strcmp(format, "gguf")) {
        if (type && gguf_parse_type(type, &go.type) != 0) return 2;
        gguf_export_report rep;
        if (gguf_export(ckpt, out, &go, &rep) != 0) return 1;
        printf("llmpi export: %s: GGUF %s, %d tensors, %d keys, %llu bytes in %.2f s (%.0f MB/s)", out,
               gguf_type_name(go.type), rep.n_tensors, rep.n_kv, (unsigned long long)rep.bytes, rep.seconds,
               rep.seconds > 0 ? rep.bytes / rep.seconds / 1e6 : 0.0);
        if (rep.n_fallback) printf(", %d weights f16 (rows not a multiple of 32)", rep.n_fallback);
        printf("\n");
        return 0;
    }
    if (!strcmp(format, "hf")) {
        if (type || go.name || go.tokenizer) {
            ll_error("export: --type, --name and --tokenizer apply to --format gguf only");
            return 2;
        }
        hf_export_report rep;
        if (hf_export(ckpt, out, go.force, &rep) != 0) return 1;
        printf("llmpi export: %s: Hugging Face directory, %d tensors, model.safetensors %llu bytes written in "
               "%.2f s (%.0f MB/s), %.2f s in all\n",
               out, rep.n_tensors, rep.bytes, rep.write_seconds,
               rep.write_seconds > 0 ? rep.bytes / rep.write_seconds / 1e6 : 0.0, rep.seconds);
        return 0;
    }
    ll_error("export: --format '%s': expected gguf or hf", format);
    return 2;
}

/* hf_logits.c: test-only driver for tests/export/hf_check.sh.
 *
 *   hf_logits CKPT.h5 IDS.txt OUT.f32
 *       reads B lines of T token ids each (every line the same T), runs
 *       gpt_forward on that batch and writes the (B, T, V) logits as raw
 *       little-endian float32: llmpi's own numbers for the PyTorch peer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpi/ckpt.h"
#include "llmpi/gpt.h"
#include "llmpi/util.h"

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: hf_logits CKPT IDS.txt OUT.f32\n"); return 2; }
    FILE *f = fopen(argv[2], "r");
    if (!f) { perror(argv[2]); return 1; }
    int *ids = NULL, n = 0, cap = 0, B = 0, T = -1, line_n = 0, ch;
    long v;
    for (;;) {
        ch = fgetc(f);
        if (ch == EOF || ch == '\n') {
            if (line_n > 0) {
                if (T >= 0 && line_n != T) { fprintf(stderr, "ragged batch\n"); return 1; }
                T = line_n; B++; line_n = 0;
            }
            if (ch == EOF) break;
            continue;
        }
        if (ch == ' ') continue;
        ungetc(ch, f);
        if (fscanf(f, "%ld", &v) != 1) { fprintf(stderr, "bad id\n"); return 1; }
        if (n == cap) { cap = cap ? 2 * cap : 256; ids = realloc(ids, (size_t)cap * sizeof *ids); }
        ids[n++] = (int)v;
        line_n++;
    }
    fclose(f);
    if (B == 0) { fprintf(stderr, "empty batch\n"); return 1; }
    gpt_config cfg;
    ckpt_meta meta;
    gpt_model m;
    if (ckpt_peek(argv[1], &cfg, &meta) != 0 || gpt_create(&m, &cfg) != 0 ||
        ckpt_load(argv[1], &m, NULL, NULL, &meta) != 0 || gpt_alloc_acts(&m, B, T, 0) != 0)
        return 1;
    size_t nl = (size_t)B * T * cfg.vocab_size;
    float *logits = malloc(nl * sizeof *logits);
    double loss;
    long nt;
    if (!logits || gpt_forward(&m, ids, NULL, B, T, &loss, &nt, logits, NULL) != 0) return 1;
    FILE *o = fopen(argv[3], "wb");
    if (!o || fwrite(logits, sizeof *logits, nl, o) != nl || fclose(o) != 0) { perror(argv[3]); return 1; }
    gpt_free(&m);
    free(logits);
    free(ids);
    return 0;
}

/* fuzz_ckpt.c: opening a checkpoint (ckpt_peek: header, attributes, /state)
 * on arbitrary bytes; when the header is good and the model small, a full
 * ckpt_load of weights and AdamW moments into a model of that shape.
 */
#include "fuzz_util.h"
#include "llmpi/ckpt.h"
#include "llmpi/h5.h"
#include "llmpi/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int quiet;
    if (!quiet) { h5u_quiet(); quiet = 1; }
    const char *path = fz_write_temp(data, size, ".h5");
    gpt_config cfg;
    ckpt_meta meta;
    fz_capture cap;
    fz_capture_begin(&cap);
    int rc = ckpt_peek(path, &cfg, &meta);
    fz_capture_end(&cap, rc != 0, "ckpt_peek");
    /* a load allocates the model the header describes: only small ones */
    if (rc == 0 && gpt_count_params(&cfg) <= ((size_t)1 << 20)) {
        gpt_model m;
        fz_capture_begin(&cap);
        int rl = gpt_create(&m, &cfg);
        float *adam_m = rl == 0 ? calloc(m.num_params, sizeof(float)) : NULL;
        float *adam_v = rl == 0 ? calloc(m.num_params, sizeof(float)) : NULL;
        if (rl == 0 && (!adam_m || !adam_v)) abort();
        if (rl == 0) {
            rl = ckpt_load(path, &m, adam_m, adam_v, &meta);
            gpt_free(&m);
        }
        fz_capture_end(&cap, rl != 0, "gpt_create + ckpt_load");
        free(adam_m);
        free(adam_v);
    }
    unlink(path);
    return 0;
}

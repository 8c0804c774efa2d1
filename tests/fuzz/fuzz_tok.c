/* fuzz_tok.c: tokenizer.json loading (tok_load) on arbitrary bytes.
 *
 * A file that loads must also work: the input itself is encoded (with and
 * without specials) and decoded, and the round trip must give the input
 * back byte for byte (byte-level BPE is lossless on any bytes).
 */
#include "fuzz_util.h"
#include "llmpi/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_write_temp(data, size, ".json");
    fz_capture cap;
    fz_capture_begin(&cap);
    tokenizer *t = tok_load(path);
    fz_capture_end(&cap, t == NULL, "tok_load");
    unlink(path);
    if (!t) return 0;
    for (int special = 0; special <= 1; special++) {
        tok_ids ids = {0};
        tok_bytes back = {0};
        if (tok_encode(t, data, size, special, &ids) != 0 || tok_decode(t, ids.ids, ids.n, &back) != 0 ||
            back.n != size || (size && memcmp(back.data, data, size) != 0)) {
            fprintf(stderr, "fuzz: a loaded tokenizer does not round-trip its own file\n");
            abort();
        }
        tok_ids_free(&ids);
        tok_bytes_free(&back);
    }
    tok_free(t);
    return 0;
}

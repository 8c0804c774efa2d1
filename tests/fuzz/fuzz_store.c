/* fuzz_store.c: opening a token store (store_open: header, attributes,
 * dataset types and shapes) on arbitrary bytes, then reading the first
 * tokens and document offsets of each split the way the loader does.
 */
#include "fuzz_util.h"
#include "llmpi/h5.h"
#include "llmpi/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int quiet;
    if (!quiet) { h5u_quiet(); quiet = 1; }
    const char *path = fz_write_temp(data, size, ".h5");
    store_reader s;
    fz_capture cap;
    fz_capture_begin(&cap);
    int rc = store_open(&s, path);
    fz_capture_end(&cap, rc != 0, "store_open");
    if (rc == 0) {
        for (int sp = 0; sp < 2; sp++) {
            const store_split_info *info = &s.split[sp];
            size_t n = info->n_tokens < 64 ? (size_t)info->n_tokens : 64;
            int32_t tokens[64], raw[64];
            uint64_t offsets[64];
            fz_capture_begin(&cap);
            int rr = store_read(&s, (store_split)sp, 0, n, tokens);
            fz_capture_end(&cap, rr != 0, "store_read");
            if (rr == 0 && store_has_raw(&s, (store_split)sp) &&
                store_read_raw(&s, (store_split)sp, 0, n, raw) == 0 && memcmp(raw, tokens, n * sizeof *raw) != 0) {
                fprintf(stderr, "fuzz: store_read_raw disagrees with store_read\n");
                abort();
            }
            size_t nd = info->n_docs < 64 ? (size_t)info->n_docs : 64;
            fz_capture_begin(&cap);
            int ro = store_read_offsets(&s, (store_split)sp, 0, nd, offsets);
            fz_capture_end(&cap, ro != 0, "store_read_offsets");
        }
        store_close(&s);
    }
    unlink(path);
    return 0;
}

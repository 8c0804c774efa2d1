/* fuzz_st.c: the safetensors reader (st_open: header size, JSON, entries,
 * offsets tiling the buffer) on arbitrary bytes; when it opens, every
 * tensor of at most 2^20 elements is read with st_read_f32 (transposed when
 * 2-D), which refuses dtypes other than F32/F16/BF16 with one line.
 */
#include <stdlib.h>

#include "fuzz_util.h"
#include "llmpi/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_write_temp(data, size, ".safetensors");
    st_file f;
    fz_capture cap;
    fz_capture_begin(&cap);
    int rc = st_open(&f, path);
    fz_capture_end(&cap, rc != 0, "st_open");
    if (rc == 0) {
        for (int i = 0; i < f.n; i++) {
            const st_entry *e = &f.entries[i];
            if (st_numel(e) > ((uint64_t)1 << 20)) continue;
            float *out = malloc((size_t)st_numel(e) * sizeof(float) + 1);
            if (!out) abort();
            fz_capture_begin(&cap);
            int rr = st_read_f32(&f, e, out, e->ndim == 2);
            fz_capture_end(&cap, rr != 0, "st_read_f32");
            free(out);
        }
        st_close(&f);
    }
    unlink(path);
    return 0;
}

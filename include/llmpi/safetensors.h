/* safetensors.h: the safetensors file format (Hugging Face), written and read.
 *
 * Layout (the spec): 8 bytes N (u64 little-endian), N bytes of a UTF-8 JSON
 * object (the header), then the byte buffer. The header maps each tensor
 * name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative
 * to the buffer, end exclusive) and may hold "__metadata__", a string-to-
 * string map. Tensors are little-endian, row-major.
 *
 * Writer invariants: keys sorted, tensors laid out in key order with no
 * gap, header padded with spaces so the buffer starts at a multiple of 8;
 * the file goes to a temporary name, fsynced, renamed.
 * Reader invariants: nothing is trusted. The header size is bounded (100
 * MiB, as the reference implementation), the JSON must be one object with
 * no duplicate key, every entry has a known dtype, a shape whose byte size
 * equals end - begin (overflow-checked), offsets inside the buffer, and the
 * tensors cover the buffer exactly (no overlap, no hole, nothing after).
 */
#ifndef LLMPI_SAFETENSORS_H
#define LLMPI_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER ((uint64_t)100 << 20)
#define ST_NAME_MAX 256

typedef enum { ST_F32, ST_F16, ST_BF16, ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL, ST_OTHER } st_dtype;

/* One tensor to write: float32 data. transpose (2-D only): data holds the
 * [shape[1], shape[0]] row-major matrix, written as its [shape[0], shape[1]]
 * transpose. */
typedef struct {
    const char *name;
    int ndim;
    size_t shape[ST_MAX_DIMS];
    const float *data;
    int transpose;
} st_tensor_out;

/* Writes the tensors (F32; names unique, < ST_NAME_MAX bytes) and metadata
 * (n_meta key/value pairs, meta[2i] = key, meta[2i+1] = value) to path
 * atomically. 0 / -1 (one line; no file left behind). */
int st_write(const char *path, const st_tensor_out *t, int n, const char *const *meta, int n_meta);

typedef struct {
    char name[ST_NAME_MAX];
    st_dtype dtype;
    char dtype_name[16];
    int ndim;
    uint64_t shape[ST_MAX_DIMS];
    uint64_t begin, end;       /* in the buffer */
} st_entry;

typedef struct {
    char path[4096];
    int fd;
    uint64_t file_size, data_start;   /* data_start = 8 + N */
    int n;
    st_entry *entries;                /* in header (sorted-by-name) order */
} st_file;

/* Opens path and validates its header (see above). 0 / -1 (one line naming
 * the file and the problem); on -1 nothing is left open. */
int st_open(st_file *f, const char *path);
void st_close(st_file *f);
/* The entry named name, NULL if absent. */
const st_entry *st_find(const st_file *f, const char *name);
/* Reads entry e (F32, F16 or BF16) as floats into out (numel floats); with
 * transpose (2-D only) out receives the [shape[1], shape[0]] transpose.
 * 0 / -1 (one line). */
int st_read_f32(const st_file *f, const st_entry *e, float *out, int transpose);
/* Elements of e (its shape's product; fits: checked at open). */
uint64_t st_numel(const st_entry *e);

#endif

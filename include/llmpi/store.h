/* store.h: the HDF5 token store.
 *
 * One file: groups /train and /val, each with `tokens` (1-D, uint16 when
 * vocab_size <= 65536 else uint32, chunked, optionally compressed) and
 * `doc_offsets` (uint64, start of each document in `tokens`). Root attributes:
 * format = "llmpi-tokens", version, vocab_size, eot_id, tokenizer (identity
 * string), n_docs_train, n_docs_val, n_tokens_train, n_tokens_val.
 * Readers validate every attribute and every dataset's type and shape, and
 * refuse a mismatch with one line naming the file and the problem.
 * Writers write "<out>.tmp.<pid>", fsync, rename: a failed write leaves any
 * earlier file at the output path untouched.
 */
#ifndef LLMPI_STORE_H
#define LLMPI_STORE_H

#include <stddef.h>
#include <stdint.h>

#define STORE_FORMAT "llmpi-tokens"
#define STORE_VERSION 1
#define STORE_TOKENIZER_MAX 128

typedef enum { STORE_TRAIN = 0, STORE_VAL = 1 } store_split;

typedef struct {
    uint64_t n_tokens, n_docs;
    int64_t tokens_dset, offsets_dset;   /* hid_t, kept open */
} store_split_info;

typedef struct {
    char path[1024];
    int64_t file;                        /* hid_t */
    int version;
    uint32_t vocab_size;
    uint32_t eot_id;
    char tokenizer[STORE_TOKENIZER_MAX]; /* tokenizer identity */
    store_split_info split[2];
} store_reader;

/* Opens and validates a store. -1 with one line on any problem. */
int store_open(store_reader *s, const char *path);
void store_close(store_reader *s);
/* Reads tokens [start, start+n) of a split as int32 (hyperslab read). */
int store_read(store_reader *s, store_split split, uint64_t start, size_t n, int32_t *out);
/* Reads document offsets [start, start+n) of a split. */
int store_read_offsets(store_reader *s, store_split split, uint64_t start, size_t n, uint64_t *out);

typedef struct store_writer store_writer;
/* Starts a new store at path (written to a temporary name). */
store_writer *store_writer_create(const char *path, uint32_t vocab_size, uint32_t eot_id,
                                  const char *tokenizer_identity);
/* Appends one document's tokens (its eot included by the caller) to a split. */
int store_writer_append(store_writer *w, store_split split, const int32_t *tokens, size_t n);
/* Writes the attributes, closes, fsyncs and renames into place; frees w. */
int store_writer_finish(store_writer *w);
/* Removes the temporary file; frees w. */
void store_writer_abort(store_writer *w);

/* Silences HDF5's own error stack printing (we print one line ourselves). */
void store_quiet_hdf5(void);

/* ---- attribute helpers shared by the HDF5 writers/readers (checkpoints, SFT store) ----
 * loc is an open hid_t (file, group or dataset); path names the file in the
 * one error line. Strings are written fixed-length and NUL-terminated; the
 * readers accept fixed or variable-length strings and any integer type
 * (negative values refused), scalar or one-element dataspace. */
int store_attr_write_str(int64_t loc, const char *name, const char *value, const char *path);
int store_attr_write_u64(int64_t loc, const char *name, uint64_t value, const char *path);
/* 0 and *exists = 0 if the attribute is absent (exists may be NULL: then absent is an error). */
int store_attr_read_str(int64_t loc, const char *name, char *out, size_t cap, const char *path,
                        int *exists);
int store_attr_read_u64(int64_t loc, const char *name, uint64_t *out, const char *path);
/* Creates a group without modification times (byte-identical reruns); the
 * hid_t, or -1 with nothing printed. */
int64_t store_create_group(int64_t loc, const char *name);

#endif

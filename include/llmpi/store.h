/* store.h: the HDF5 token store.
 *
 * One file: groups /train and /val, each with `tokens` (1-D, uint16 when
 * vocab_size <= 65536 else uint32, chunked, optionally compressed) and
 * `doc_offsets` (uint64, start of each document in `tokens`). Root attributes:
 * format = "llmpi-tokens", version, vocab_size, eot_id, tokenizer (identity
 * string), n_docs_train, n_docs_val, n_tokens_train, n_tokens_val,
 * checksums = "crc32c" (stores written since the checksums came; older ones
 * lack it and still open). With it, each dataset has the attribute crc32c:
 * the CRC-32C of its elements as little-endian bytes of the stored width, in
 * order; store_open verifies them unless asked not to. A store prepared with
 * a BPE tokenizer also holds /tokenizer_json: the tokenizer.json text (uint8,
 * with its own crc32c), which training copies into every checkpoint.
 * Files are written with HDF5 format bounds 1.8 (superblock v2, object
 * headers v2: HDF5 checksums its own metadata too), readable by HDF5 >= 1.8.
 * Readers validate every attribute and every dataset's type and shape, and
 * refuse a mismatch with one line naming the file and the problem.
 * Writers write "<out>.tmp.<pid>", fsync, rename: a failed write leaves any
 * earlier file at the output path untouched. Two writers: store_writer
 * (serial, appends documents, chunked extendible datasets) and store_pwriter
 * (parallel HDF5 over MPI_COMM_WORLD, sizes known up front, contiguous
 * datasets, every rank writes its own ranges).
 *
 * Raw reads: when a split's tokens are stored unfiltered and little-endian
 * (contiguous, or chunked with every chunk allocated), store_open maps token
 * positions to file offsets and store_read_raw reads them with pread(2). It
 * makes no HDF5 call, so it is safe from a thread while the main thread uses
 * HDF5 (the HDF5 build here is not thread-safe): the loader's prefetch
 * thread uses it.
 */
#ifndef LLMPI_STORE_H
#define LLMPI_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "llmpi/tokenizer.h"

#define STORE_FORMAT "llmpi-tokens"
#define STORE_VERSION 1
#define STORE_CHECKSUM_KIND "crc32c"
/* store_open_flags: skip the content checksum pass (reads every token). */
#define STORE_OPEN_NO_VERIFY 1u
/* Not a second limit: TOK_IDENTITY_MAX under the name src/cli/cmd_prepare.c
 * still uses; drop it when prepare moves into the library. */

typedef enum { STORE_TRAIN = 0, STORE_VAL = 1 } store_split;

typedef struct {
    uint64_t n_tokens, n_docs;
    int64_t tokens_dset, offsets_dset;   /* hid_t, kept open */
    /* raw map of the tokens (raw_ok = 0: none; use store_read) */
    int raw_ok;
    uint64_t raw_chunk;                  /* elements per chunk (n_tokens when contiguous) */
    uint64_t *raw_addr;                  /* file offset of each chunk (malloc'ed) */
    uint64_t raw_n_chunks;
} store_split_info;

typedef struct {
    char path[1024];
    int64_t file;                        /* hid_t */
    int version;
    uint32_t vocab_size;
    uint32_t eot_id;
    char tokenizer[TOK_IDENTITY_MAX];    /* tokenizer identity */
    store_split_info split[2];
    int raw_fd;                          /* plain read-only descriptor for store_read_raw, -1 if none */
    size_t token_bytes;                  /* 2 or 4 */
    int has_checksums;                   /* 1: crc[][] holds the stored CRC-32C values */
    uint32_t crc[2][2];                  /* [split][0 tokens, 1 doc_offsets] */
} store_reader;

/* Opens and validates a store, verifying its content checksums (when it has
 * them): -1 with one line on any problem. */
int store_open(store_reader *s, const char *path);
/* store_open with flags (STORE_OPEN_NO_VERIFY: everything but the checksum pass). */
int store_open_flags(store_reader *s, const char *path, unsigned flags);
/* Recomputes every dataset's CRC-32C and compares it with the stored one.
 * 0 when all match or the store has no checksums (has_checksums says which);
 * -1 with one line naming the first dataset that differs. */
int store_verify(store_reader *s);
void store_close(store_reader *s);
/* Reads tokens [start, start+n) of a split as int32 (hyperslab read). */
int store_read(store_reader *s, store_split split, uint64_t start, size_t n, int32_t *out);
/* Reads document offsets [start, start+n) of a split. */
int store_read_offsets(store_reader *s, store_split split, uint64_t start, size_t n, uint64_t *out);
/* 1 if store_read_raw can read this split. */
int store_has_raw(const store_reader *s, store_split split);
/* Like store_read, without HDF5 and without printing anything: -1 on any
 * problem (no raw map, range, short read, id >= vocab_size); the caller
 * then falls back to store_read, which names the problem. Thread-safe. */
int store_read_raw(const store_reader *s, store_split split, uint64_t start, size_t n, int32_t *out);
/* Refuses (-1, one line naming the store and both tokenizers) a store made
 * with another tokenizer: identity or vocab_size differ from what the model
 * (a checkpoint's) or the tokenizer given expects. The one tokenizer check
 * of every command that puts a store and a model or tokenizer together. */
/* The tokenizer.json the store carries (prepare with a BPE tokenizer
 * embeds it): a new NUL-terminated buffer in *out (*len bytes; free it),
 * checksum verified; *out = NULL for a store without one (byte tokenizer,
 * older stores). 0 / -1 (one line). */
#define STORE_TOKENIZER_JSON "tokenizer_json"
#define STORE_TOKENIZER_JSON_MAX ((size_t)256 << 20)
int store_read_tokenizer_json(const store_reader *s, char **out, size_t *len);
int store_check_tokenizer(const store_reader *s, const char *identity, uint32_t vocab_size);

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

/* ---- parallel writer: collective over MPI_COMM_WORLD unless marked "this rank" ----
 * create (collective) -> define (collective: datasets and root attributes)
 * -> write_* (this rank, independent I/O, any ranges, each element written
 * by exactly one rank) -> finish (collective: agrees on success; rank 0
 * commits the file, or removes it when any rank failed). */
typedef struct store_pwriter store_pwriter;
/* Creates the temporary file. NULL on every rank (one line on rank 0) on failure. */
store_pwriter *store_pwriter_create(const char *path, uint32_t vocab_size, uint32_t eot_id,
                                    const char *tokenizer_identity);
/* Bytes per token in the file (2 or 4): write_tokens takes values of this width. */
size_t store_pwriter_token_bytes(const store_pwriter *w);
/* This rank: the tokenizer.json text to embed as /tokenizer_json (rank 0
 * keeps a copy; others ignore it), so that training can put it into its
 * checkpoints. Before finish. 0 / -1 (one line). */
int store_pwriter_set_tokenizer_json(store_pwriter *w, const char *json, size_t len);
int store_pwriter_define(store_pwriter *w, const uint64_t n_tokens[2], const uint64_t n_docs[2]);
/* This rank: tokens [start, start+n) of a split, native uint16/uint32 as
 * store_pwriter_token_bytes says; each value is checked against vocab_size. */
int store_pwriter_write_tokens(store_pwriter *w, store_split split, uint64_t start, const void *tokens,
                               size_t n);
/* This rank: doc_offsets [start, start+n) of a split. */
int store_pwriter_write_offsets(store_pwriter *w, store_split split, uint64_t start,
                                const uint64_t *offsets, size_t n);
/* Collective. ok = 0 on a rank that failed. Returns 0 on every rank when the
 * store was committed, -1 on every rank otherwise (nothing left at path, an
 * earlier file there untouched). Frees w. */
int store_pwriter_finish(store_pwriter *w, int ok);

#endif

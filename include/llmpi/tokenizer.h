/* tokenizer.h: byte-level BPE, trained from raw text, saved as a Hugging Face
 * `tokenizer.json`.
 *
 * Ids: 0..255 are the raw bytes; 256 + i is merge i (merges are applied in id
 * order); the special tokens follow the last merge, in the order
 * <|endoftext|>, <|system|>, <|user|>, <|assistant|>, <|end|>, then any extra
 * ones. vocab_size = 256 + merges + specials.
 *
 * Pre-tokenization: a PCRE2 regex (UTF + UCP, JIT) splits text into chunks
 * (matches and the gaps between them, as HF's Split "Isolated"); each byte
 * that is not part of well-formed UTF-8 is a chunk of its own. Merges never
 * cross a chunk.
 *
 * Identity: "bpe<vocab>-<16 hex>", an FNV-1a hash of the canonical content
 * (pattern, merges, specials). It names the tokenizer in stores and
 * checkpoints. The file does not store it (Hugging Face refuses extra keys):
 * loading recomputes it; a file from before that stores it in an "llmpi"
 * object is refused when the two differ (a damaged or hand-edited file).
 *
 * The byte tokenizer (tok_bytes_new, or tok_load of the name "bytes") is
 * the same model without merges: ids 0..255 are the bytes, 256 is
 * <|endoftext|> (vocab 257), identity "bytes-v1". It has no file.
 *
 * Threads: a loaded tokenizer is immutable except for an internal pool of
 * encoder scratch states (mutex-protected), so tok_encode/tok_decode may be
 * called concurrently on one tokenizer from any number of threads.
 */
#ifndef LLMPI_TOKENIZER_H
#define LLMPI_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#define TOK_FORMAT "llmpi-bpe"
#define TOK_VERSION 1
/* Bytes that hold a tokenizer identity with its NUL: the one limit for the
 * identity in the tokenizer, token stores, checkpoints and the trainer. */
#define TOK_IDENTITY_MAX 64
#define TOK_MAX_SPECIALS 64
#define TOK_MAX_VOCAB (1 << 24)
#define TOK_BYTES_NAME "bytes"          /* what tok_load reads as the byte tokenizer */
#define TOK_BYTES_IDENTITY "bytes-v1"

/* The GPT-4 (cl100k) split pattern. */
#define TOK_DEFAULT_PATTERN                                                              \
    "'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]++" \
    "[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"

/* The specials every tokenizer has, in id order. */
#define TOK_EOT "<|endoftext|>"
#define TOK_SYSTEM "<|system|>"
#define TOK_USER "<|user|>"
#define TOK_ASSISTANT "<|assistant|>"
#define TOK_END "<|end|>"

typedef struct tokenizer tokenizer;

/* A growable array of ids; encode appends to it. Zero-initialise to start. */
typedef struct {
    int32_t *ids;
    size_t n, cap;
} tok_ids;

/* A growable byte buffer; decode appends to it (always NUL-terminated). */
typedef struct {
    char *data;
    size_t n, cap;
} tok_bytes;

void tok_ids_free(tok_ids *v);
void tok_bytes_free(tok_bytes *b);
/* Appends n bytes and keeps a NUL after them; -1 (one line) on out of memory. */
int tok_bytes_append(tok_bytes *b, const void *p, size_t n);

typedef struct {
    int vocab_size;             /* target: 256 + merges + specials */
    const char *pattern;        /* NULL: TOK_DEFAULT_PATTERN */
    int64_t min_frequency;      /* stop when the best pair count is below (default 2) */
    int max_token_bytes;        /* 0: unlimited; else skip pairs whose token would be longer */
    const char *const *extra_specials; /* appended after the built-in five */
    int n_extra_specials;
    int threads;                /* chunk counting threads; <= 0: all cores available */
    int progress;               /* print progress lines on long inputs */
    size_t block_bytes;         /* parallel split granularity; 0: 1 MiB (tests use small) */
} tok_train_options;

/* Fills the defaults (vocab_size 0 must still be set by the caller). */
void tok_train_options_default(tok_train_options *o);

/* Trains on files and folders (recursively, every *.txt, in sorted order).
 * NULL with one error line on any problem (unreadable path, no text, a vocab
 * too small for 256 + specials, a bad pattern). */
tokenizer *tok_train_paths(const char *const *paths, int n_paths, const tok_train_options *o);

/* Trains on in-memory texts (each one a separate document: chunks never span
 * two texts). */
tokenizer *tok_train_texts(const char *const *texts, const size_t *lens, int n_texts,
                           const tok_train_options *o);

/* Writes `tokenizer.json` atomically (temporary name, fsync, rename).
 * Refuses the byte tokenizer (it has no file). */
/* The tokenizer.json text tok_save writes (NUL-terminated, *len bytes
 * without the NUL; free it). NULL with one line naming what on failure or
 * for the byte tokenizer, which has no file. */
char *tok_to_json(const tokenizer *t, const char *what, size_t *len);
int tok_save(const tokenizer *t, const char *path);

/* Loads and validates a file written by tok_save; `path` may also be the
 * directory holding tokenizer.json, or TOK_BYTES_NAME for the byte
 * tokenizer. NULL with one error line otherwise. */
tokenizer *tok_load(const char *path);
/* tok_load of a tokenizer.json held in memory (data[0..len), e.g. the copy
 * a token store or checkpoint carries); name stands for the file in error
 * lines ("run/ckpt.h5:/tokenizer_json"). */
tokenizer *tok_load_buffer(const char *name, const char *data, size_t len);

/* The byte tokenizer (see above); NULL with one line on out of memory. */
tokenizer *tok_bytes_new(void);
/* 1 for the byte tokenizer, 0 for a BPE one. */
int tok_is_bytes(const tokenizer *t);

void tok_free(tokenizer *t);

/* Appends the ids of bytes[0..n) to out. With allow_special, the exact
 * strings of the special tokens become their ids; without, they are plain
 * text. Any byte string is accepted. Thread-safe. */
int tok_encode(const tokenizer *t, const void *bytes, size_t n, int allow_special, tok_ids *out);

/* Appends the bytes of ids[0..n) to out; -1 on an id outside the vocabulary. */
int tok_decode(const tokenizer *t, const int32_t *ids, size_t n, tok_bytes *out);

/* The bytes of one token (not NUL-terminated), NULL for an invalid id. */
const char *tok_token_bytes(const tokenizer *t, int32_t id, size_t *len);

int tok_vocab_size(const tokenizer *t);
int tok_n_merges(const tokenizer *t);
/* The two ids merged into id (>= 256 and < 256 + merges); -1 otherwise. */
int tok_merge_pair(const tokenizer *t, int32_t id, int32_t *left, int32_t *right);
int32_t tok_eot_id(const tokenizer *t);
int tok_n_specials(const tokenizer *t);
/* Special i (0-based) as a NUL-terminated string, its id in *id. */
const char *tok_special(const tokenizer *t, int i, int32_t *id);
/* The id of a special token by its string, -1 if it is not one. */
int32_t tok_special_id(const tokenizer *t, const char *name);
const char *tok_pattern(const tokenizer *t);
const char *tok_identity(const tokenizer *t);
/* The identity of a model that came without a tokenizer (`llmpi import` of
 * bare GPT-2 weights): it matches any tokenizer of its vocabulary size. */
#define TOK_NO_IDENTITY "none"
/* 1 when identity a (vocabulary va) and b (vb) name the same tokenizer:
 * equal identities and sizes, or one of them TOK_NO_IDENTITY and equal sizes. */
int tok_identity_matches(const char *a, uint32_t va, const char *b, uint32_t vb);
/* The one tokenizer-identity check: what (a store or checkpoint at path)
 * was made with identity `made` and vocabulary made_vocab; `needed` /
 * needed_vocab is what the caller has. 0 when they match, else -1 with one
 * line naming path, both identities and remedy (what the user should do). */
int tok_check_identity(const char *path, const char *made, uint32_t made_vocab, const char *needed,
                       uint32_t needed_vocab, const char *remedy);

/* Names the input (a file) that this thread encodes or counts next, for
 * the tokenizer's error lines about the text itself (a regex match limit
 * hit on pathological text); NULL clears it. The string must outlive the
 * calls it covers. Thread-local. */
void tok_set_error_place(const char *place);

#endif

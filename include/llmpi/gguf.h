/* gguf.h: export a checkpoint as a GGUF file that llama.cpp runs.
 *
 * GGUF version 3, architecture "gpt2", llama.cpp's tensor names and
 * metadata keys, the tokenizer inside (tokenizer.ggml.model "gpt2": GPT-2
 * byte-to-unicode token strings, merges, our specials as control tokens,
 * pre-tokenizer "llama-bpe", whose regex is our GPT-4 split pattern) and the
 * llmpi-chat-1 template as a Jinja tokenizer.chat_template. Weights as
 * f32, f16 or q8_0 (2-D weights only; norms and biases stay f32). See
 * src/export/gguf.c for the layout.
 */
#ifndef LLMPI_GGUF_H
#define LLMPI_GGUF_H

#include <stddef.h>
#include <stdint.h>

typedef enum { GGUF_OUT_F32 = 0, GGUF_OUT_F16 = 1, GGUF_OUT_Q8_0 = 2 } gguf_out_type;

typedef struct {
    gguf_out_type type;     /* of the 2-D weights */
    int force;              /* replace an existing output file */
    const char *name;       /* general.name; NULL: "llmpi" */
    const char *tokenizer;  /* tokenizer.json for a checkpoint without a copy; NULL: the checkpoint's */
} gguf_export_options;

typedef struct {
    uint64_t bytes;         /* size of the file written */
    int n_tensors, n_kv;
    int n_fallback;         /* q8_0 weights whose rows are not a multiple of 32, written f16 */
    double seconds;         /* writing (after the checkpoint is loaded) */
} gguf_export_report;

/* "f32" / "f16" / "q8_0" into *out; -1 with one line otherwise. */
int gguf_parse_type(const char *s, gguf_out_type *out);
/* The GGUF name of a type ("f32", ...). */
const char *gguf_type_name(gguf_out_type t);

/* Loads checkpoint ckpt_path (checksums verified) and writes out_path:
 * temporary name, fsync, rename. Refuses an existing out_path unless
 * o->force. 0, or -1 with one line and nothing left at out_path (an earlier
 * file untouched). rep (may be NULL) is filled on success. */
int gguf_export(const char *ckpt_path, const char *out_path, const gguf_export_options *o, gguf_export_report *rep);

/* IEEE half of f, rounded to nearest even (as ggml's GGML_FP32_TO_FP16). */
uint16_t gguf_fp32_to_fp16(float f);
/* ggml's q8_0 of n values (n a multiple of 32): per block of 32 an fp16
 * scale d = max|x| / 127 then 32 int8 round(x / d); 34 bytes a block. */
void gguf_quantize_q8_0(const float *x, size_t n, uint8_t *out);

#endif

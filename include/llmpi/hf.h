/* hf.h: Hugging Face transformers layout (GPT2LMHeadModel), out and in.
 *
 * A model directory holds model.safetensors (GPT-2's tensor names, Conv1D
 * weights as [in, out], the tied LM head omitted as save_pretrained omits
 * it), config.json (GPT2Config), generation_config.json, and when the model
 * has a BPE tokenizer: tokenizer.json (ours, byte for byte the checkpoint's
 * copy) and tokenizer_config.json (specials and the llmpi-chat-1 template
 * in Jinja).
 */
#ifndef LLMPI_HF_H
#define LLMPI_HF_H

#include "llmpi/tokenizer.h"

/* The tokenizer identity of a checkpoint imported without a tokenizer:
 * sample/eval/sft need --tokenizer for it (any tokenizer of its vocabulary). */
#define HF_NO_TOKENIZER TOK_NO_IDENTITY

/* Writes the checkpoint at ckpt_path as a model directory out_dir. An
 * existing out_dir is refused unless force (and then only replaced when it
 * holds nothing but the files an export writes). The directory is built
 * under a temporary name and renamed: a failure leaves no partial export.
 * 0 / -1 (one line); rep (may be NULL) gets the sizes and times. */
typedef struct {
    int n_tensors;
    unsigned long long bytes;   /* model.safetensors, header included */
    double write_seconds;       /* model.safetensors: transposes, writes, fsync, rename */
    double seconds;             /* the whole export: checkpoint read and checks included */
} hf_export_report;
int hf_export(const char *ckpt_path, const char *out_dir, int force, hf_export_report *rep);

/* Reads model directory in_dir (this layout, or GPT-2's published one:
 * names with or without "transformer.", lm_head.weight absent or equal to
 * wte, attention-mask buffers ignored) and writes an llmpi checkpoint to
 * out_path (no optimizer state, step 0). Every tensor's name, dtype (F32,
 * F16, BF16) and shape is checked against config.json. tokenizer.json in
 * in_dir is embedded (it must load and match the vocabulary) unless
 * no_tokenizer; without one the checkpoint's tokenizer is HF_NO_TOKENIZER.
 * out_path existing is refused unless force. 0 / -1 (one line). */
int hf_import(const char *in_dir, const char *out_path, int force, int no_tokenizer);

#endif

/* sft_internal.h: helpers shared by the sft_*.c files (not public API). */
#ifndef LLMPI_SFT_INTERNAL_H
#define LLMPI_SFT_INTERNAL_H

#include <stddef.h>

#include "llmpi/sft.h"

/* A growable byte buffer (always NUL-terminated once used). */
typedef struct {
    char *data;
    size_t n, cap;
} sft_buf;

int sft_buf_reserve(sft_buf *b, size_t extra);
int sft_buf_add(sft_buf *b, const char *s, size_t n);
void sft_buf_free(sft_buf *b);

#endif

#!/usr/bin/env bash
# alloc_check.sh: every allocation in src/ goes through ll_malloc & co.
# (src/util/util.c), so LLMPI_FAULT_ALLOC reaches it and its failure prints
# one line. Fails naming each direct malloc/calloc/realloc/strdup/strndup/
# aligned_alloc/posix_memalign call outside util.c.
set -u
SRC=${1:?usage: alloc_check.sh SOURCE_ROOT}
hits=$(grep -rnE '(^|[^_A-Za-z0-9.>])(malloc|calloc|realloc|strdup|strndup|aligned_alloc|posix_memalign)[[:space:]]*\(' \
    --include='*.c' --include='*.h' "$SRC/src" | grep -v "^$SRC/src/util/util\.c:")
if [ -n "$hits" ]; then
    echo "FAIL: direct allocation calls (use ll_malloc, ll_calloc, ll_realloc, ll_strdup):"
    echo "$hits"
    exit 1
fi
echo "ok: no direct allocation outside src/util/util.c"

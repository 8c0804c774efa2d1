#!/usr/bin/env bash
# long.sh: train on the whole Gutenberg folder (recursion into author folders,
# file names with spaces and commas, about 150 MB: the progress lines must
# show), then check the round trip and compression of that tokenizer on
# tinyshakespeare. Labelled "long".
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../err_trap.sh
source "$(dirname "$0")/../err_trap.sh"
bin=${LLMPI_BIN:?LLMPI_BIN not set}
data=${LLMPI_SHARED_DATA:-/nonexistent}
[ -d "$data/gutenberg" ] || { echo "no shared data: skipped"; exit 77; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
"$bin" tokenizer train --input "$data/gutenberg" --vocab-size 8192 --out "$work/tok" > "$work/log" 2>&1
cat "$work/log"
grep -q '^tokenizer: read [0-9.]* MB' "$work/log" || { echo "no progress line while reading"; exit 1; }
grep -q '^tokenizer: 7931 merges in ' "$work/log" || { echo "not 7931 merges (8192 - 256 - 5)"; exit 1; }
"$bin" tokenizer info --tokenizer "$work/tok" --input "$data/tinyshakespeare/input.txt" | tee "$work/info"
bpt=$(sed -n 's/^input: .* tokens, \([0-9.]*\) bytes\/token$/\1/p' "$work/info")
# an 8k English BPE on Shakespeare: GPT-2 (50k) gets about 3.3 bytes per token
awk -v b="$bpt" 'BEGIN { exit !(b > 2.7 && b < 3.6) }' || { echo "bytes/token $bpt out of range"; exit 1; }
"$bin" tokenizer encode --tokenizer "$work/tok" < "$data/tinyshakespeare/input.txt" \
  | "$bin" tokenizer decode --tokenizer "$work/tok" | cmp - "$data/tinyshakespeare/input.txt"
echo "ok: long tokenizer run"

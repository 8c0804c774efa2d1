#!/usr/bin/env bash
# masked_loss_torch.sh: `llmpi eval` on an SFT store (masked loss in total
# and per source) equals tests/sft/masked_loss_torch.py's PyTorch float64
# recomputation from the same checkpoint's weights and the store's val
# examples, packed there from the spec (best fit, 32 open rows). A checkpoint
# trained a few SFT steps on the demo mix (seq 64). Skips (77) without
# python3-torch / h5py.
set -u
BIN=${LLMPI_BIN:?LLMPI_BIN must point at the llmpi binary}
SRC=${LLMPI_SOURCE_DIR:?}
PY=/usr/bin/python3
$PY -c "import torch, h5py" 2>/dev/null || { echo "python3-torch or python3-h5py missing: skipped"; exit 77; }
export OMPI_MCA_ess_singleton_isolated=${OMPI_MCA_ess_singleton_isolated:-1}
T=$(mktemp -d /tmp/llmpi-sft-torch-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$T/stderr" ] && sed 's/^/  stderr: /' "$T/stderr" >&2; exit 1; }
"$BIN" tokenizer train --input "$SRC/data/tinyshakespeare.txt" --vocab-size 512 --out "$T/tok" --quiet \
    >/dev/null 2>"$T/stderr" || fail "tokenizer train"
"$BIN" prepare --tokenizer "$T/tok/tokenizer.json" --input "$SRC/data/tinyshakespeare.txt" --out "$T/s.h5" \
    >/dev/null 2>"$T/stderr" || fail "prepare"
"$BIN" pretrain --config "$SRC/configs/tiny.ini" --set train.threads=1 --set model.block_size=64 \
    --set train.max_steps=30 --set train.ckpt_every=0 --data "$T/s.h5" --out "$T/pre" >/dev/null 2>"$T/stderr" \
    || fail "pretrain"
"$BIN" mix --mix "$SRC/configs/sft-demo-mix.ini" --tokenizer "$T/tok" --out "$T/sft.h5" >/dev/null 2>"$T/stderr" \
    || fail "mix"
"$BIN" sft --init "$T/pre/checkpoints/step-00000030.h5" --config "$SRC/configs/sft.ini" --data "$T/sft.h5" \
    --set train.threads=1 --set train.seq_len=64 --set train.max_steps=10 --set train.eval_every=0 \
    --out "$T/sft" >/dev/null 2>"$T/stderr" || fail "sft"
ck="$T/sft/checkpoints/step-00000010.h5"
"$BIN" eval --checkpoint "$ck" --data "$T/sft.h5" --split val --seq 64 --batch 5 --json >"$T/eval.json" \
    2>"$T/stderr" || fail "eval"
heads=$(grep -E '^\s*n_head' "$SRC/configs/tiny.ini" | sed 's/[^0-9]*\([0-9]*\).*/\1/')
$PY "$SRC/tests/sft/masked_loss_torch.py" "$ck" "$T/sft.h5" 64 "$heads" "$T/eval.json" 2>"$T/stderr" \
    || fail "llmpi's masked loss differs from the PyTorch reference"
echo "masked_loss_torch: llmpi's masked SFT loss (total and per source) equals the PyTorch reference"

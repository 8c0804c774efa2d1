#!/usr/bin/env bash
# hardening_cli.sh: hostile inputs from issue 9 through the real binary, each
# refused with exactly one "llmpi: " line on stderr and a non-zero exit, in
# bounded time (under ASan a report would add lines and fail the check):
#   - a tokenizer.json whose vocab entry for a byte id is 6, 4000 or 20000
#     characters long (overflowed a 4-byte stack buffer in tok_load);
#   - --set model.n_embd=32768 / 23171 (int overflow in the parameter count:
#     segfault, or a 1.8e19-byte allocation);
#   - --config /dev/zero, a FIFO, a NUL byte in the INI (read forever / hung /
#     misreported).
set -uo pipefail
bin=${LLMPI_BIN:?LLMPI_BIN not set}
src=${LLMPI_SOURCE_DIR:?LLMPI_SOURCE_DIR not set}
export OMPI_MCA_ess_singleton_isolated=${OMPI_MCA_ess_singleton_isolated:-1}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# refuse WHAT FRAGMENT CMD...: non-zero exit within 60 s, stderr exactly one
# "llmpi:" line containing FRAGMENT
refuse() {
  local what=$1 frag=$2; shift 2
  timeout 60 "$@" > "$work/out" 2> "$work/err" < /dev/null
  local rc=$?
  [ $rc -eq 124 ] && fail "$what: still running after 60 s"
  [ $rc -eq 0 ] && fail "$what: exit status 0"
  if [ "$(wc -l < "$work/err")" -ne 1 ] || ! grep -q '^llmpi: ' "$work/err"; then
    fail "$what: stderr was not one 'llmpi:' line:"; head -c 2000 "$work/err"; echo
  elif ! grep -qF -- "$frag" "$work/err"; then
    fail "$what: expected '$frag' in: $(cat "$work/err")"
  fi
}

# ---- tokenizer.json: an over-long string for a byte id ----
"$bin" tokenizer train --input "$src/tests/tok/corpora/ties.txt" --vocab-size 300 --out "$work/tok" --quiet \
  > /dev/null 2>&1 || { echo "FAIL: tokenizer train"; exit 1; }
for len in 6 4000 20000; do
  python3 - "$work/tok/tokenizer.json" "$work/long$len.json" "$len" <<'PY' || fail "making long$len.json"
import json, sys
doc = json.load(open(sys.argv[1]))
vocab = doc["model"]["vocab"]
key = next(k for k, v in vocab.items() if v == ord("A"))
vocab["A" * int(sys.argv[3])] = vocab.pop(key)
json.dump(doc, open(sys.argv[2], "w"))
PY
  f=$work/long$len.json
  refuse "info, byte-id entry of $len chars" "$f: model.vocab[\"AAAA" "$bin" tokenizer info --tokenizer "$f"
  grep -qF "id 65 is not the byte-level string of byte 65" "$work/err" || fail "long$len: entry not named: $(cat "$work/err")"
  refuse "encode, byte-id entry of $len chars" "$f: model.vocab" "$bin" tokenizer encode --tokenizer "$f"
done

# ---- model sizes that overflowed int ----
"$bin" prepare --tokenizer bytes --input "$src/tests/tok/corpora/ties.txt" --out "$work/s.h5" > /dev/null 2>&1 \
  || { echo "FAIL: prepare"; exit 1; }
train=("$bin" pretrain --config "$src/configs/tiny.ini" --set train.threads=1 --data "$work/s.h5" --out "$work/run")
refuse "n_embd=32768" "model.n_embd = 32768 with model.n_layer = 2" "${train[@]}" --set model.n_embd=32768
refuse "n_embd=23171" "model.n_embd = 23171" "${train[@]}" --set model.n_embd=23171 --set model.n_head=1
refuse "n_embd=65536, 1024 layers" "model.n_embd = 65536 with model.n_layer = 1024" \
  "${train[@]}" --set model.n_embd=65536 --set model.n_layer=1024
refuse "activations" "train.batch_size" "${train[@]}" --set train.batch_size=1048576

# ---- configs that are not files ----
refuse "--config /dev/zero" "/dev/zero: cannot read config: not a regular file" \
  "$bin" pretrain --config /dev/zero --data "$work/s.h5" --out "$work/run"
mkfifo "$work/fifo"
refuse "--config FIFO" "fifo: cannot read config: not a regular file" \
  "$bin" pretrain --config "$work/fifo" --data "$work/s.h5" --out "$work/run"
printf '[model]\nn_layer = 2\0\n' > "$work/nul.ini"
refuse "NUL in the INI" "nul.ini:2: NUL byte at column 12" \
  "$bin" pretrain --config "$work/nul.ini" --data "$work/s.h5" --out "$work/run"
[ -e "$work/run" ] && fail "a refused pretrain created its run directory"

[ $fails -eq 0 ] && echo "hardening_cli: all passed"
exit $((fails > 0))

#!/usr/bin/env bash
# hardening_cli.sh: hostile inputs from issue 9 through the real binary, each
# refused with exactly one "llmpi: " line on stderr and a non-zero exit, in
# bounded time (under ASan a report would add lines and fail the check):
#   - a tokenizer.json whose vocab entry for a byte id is 6, 4000 or 20000
#     characters long (overflowed a 4-byte stack buffer in tok_load);
#   - --set model.n_embd=32768 / 23171 (int overflow in the parameter count:
#     segfault, or a 1.8e19-byte allocation);
#   - --config /dev/zero, a FIFO, a NUL byte in the INI (read forever / hung /
#     misreported); clean, tokenizer train/info and prepare on /dev/zero or a FIFO;
#   - an output that is, is inside, or holds an input (prepare, clean);
#   - unknown options (one style for every command), the regex match limit on
#     10M spaces (must name the file), stdout on /dev/full (exit 1).
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

# ---- inputs that are not regular files: refused at once (read forever before) ----
refuse "clean --input /dev/zero" "/dev/zero: cannot read input: not a regular file or folder" \
  "$bin" clean --input /dev/zero --out "$work/c0"
refuse "clean --input FIFO" "fifo: cannot read input: not a regular file or folder" \
  "$bin" clean --input "$work/fifo" --out "$work/c0"
refuse "tokenizer train --input /dev/zero" "/dev/zero: cannot read input: not a regular file" \
  "$bin" tokenizer train --input /dev/zero --vocab-size 300 --out "$work/t0"
refuse "tokenizer info --input FIFO" "fifo: cannot read input: not a regular file" \
  "$bin" tokenizer info --tokenizer bytes --input "$work/fifo"
refuse "prepare --input FIFO" "fifo: cannot read input: not a regular file" \
  "$bin" prepare --tokenizer bytes --input "$work/fifo" --out "$work/f.h5"
[ -e "$work/c0" ] && fail "a refused clean created its output folder"

# ---- an output that is, is inside, or holds an input: refused, nothing touched ----
mkdir -p "$work/books/sub"
printf 'a book\n' > "$work/books/a.txt"
printf 'another\n' > "$work/books/sub/b.txt"
cp "$work/books/a.txt" "$work/f.txt"
sums() { find "$work/books" "$work/f.txt" -type f | sort | xargs md5sum; }
before=$(sums)
refuse "prepare --out = --input" "output $work/f.txt is the input" \
  "$bin" prepare --tokenizer bytes --input "$work/f.txt" --out "$work/f.txt"
refuse "prepare --out inside --input" "is inside the input folder" \
  "$bin" prepare --tokenizer bytes --input "$work/books" --out "$work/books/s.h5"
refuse "prepare --out = --input via .." "is the input" \
  "$bin" prepare --tokenizer bytes --input "$work/books/a.txt" --out "$work/books/sub/../a.txt"
refuse "clean --out = --input" "is the input" "$bin" clean --input "$work/books" --out "$work/books"
refuse "clean --out inside --input" "is inside the input folder" \
  "$bin" clean --input "$work/books" --out "$work/books/clean"
refuse "clean --input inside --out" "holds the input" "$bin" clean --input "$work/books/sub" --out "$work/books"
ln -s "$work/books" "$work/link"
refuse "clean --out = --input through a link" "is the input" "$bin" clean --input "$work/link" --out "$work/books"
[ "$(sums)" = "$before" ] || fail "a refused run changed its inputs"
[ -e "$work/books/clean" ] || [ -e "$work/books/s.h5" ] && fail "a refused run wrote into the input folder"

# ---- one style for unknown options ----
for cmd in sample eval plot info clean prepare pretrain; do
  refuse "$cmd --bogus" "llmpi: $cmd: unknown option '--bogus' (see llmpi $cmd --help)" "$bin" $cmd --bogus
done
refuse "tokenizer train --bogus" "llmpi: tokenizer train: unknown option '--bogus'" "$bin" tokenizer train --bogus
refuse "tokenizer info --bogus" "llmpi: tokenizer info: unknown option '--bogus'" "$bin" tokenizer info --bogus
refuse "eval --checkpoint (no value)" "llmpi: eval: option '--checkpoint' needs a value" "$bin" eval --checkpoint
refuse "prepare --out (no value)" "llmpi: prepare: option '--out' needs a value" "$bin" prepare --out

# ---- the regex match limit names the file ----
python3 -c "import sys; sys.stdout.write('a' + ' ' * 10000000 + 'b\n')" > "$work/spaces.txt"
refuse "tokenizer train on 10M spaces" "$work/spaces.txt: pre-tokenizer: regex match failed" \
  "$bin" tokenizer train --input "$work/spaces.txt" --vocab-size 300 --out "$work/t1" --quiet
refuse "tokenizer info on 10M spaces" "$work/spaces.txt: pre-tokenizer: regex match failed" \
  "$bin" tokenizer info --tokenizer "$work/tok" --input "$work/spaces.txt"
refuse "prepare on 10M spaces" "$work/spaces.txt: pre-tokenizer: regex match failed" \
  "$bin" prepare --tokenizer "$work/tok" --input "$work/spaces.txt" --out "$work/sp.h5" --quiet

# ---- stdout that cannot be written: exit status 1 ----
if [ -w /dev/full ]; then
  full() {
    local what=$1; shift
    timeout 60 "$@" > /dev/full 2> "$work/err" < /dev/null
    local rc=$?
    [ $rc -eq 1 ] || fail "$what > /dev/full: exit status $rc"
    grep -q "cannot write to stdout" "$work/err" || fail "$what > /dev/full: $(cat "$work/err")"
  }
  full "info" "$bin" info "$work/s.h5"
  full "tokenizer info" "$bin" tokenizer info --tokenizer bytes
  "$bin" pretrain --config "$src/configs/tiny.ini" --set train.threads=1 --set train.max_steps=1 \
    --data "$work/s.h5" --out "$work/run1" > /dev/null 2>&1 || fail "pretrain for sample/eval"
  ck=$(ls "$work"/run1/checkpoints/*.h5 2>/dev/null | tail -1)
  if [ -n "$ck" ]; then
    full "sample" "$bin" sample --checkpoint "$ck" --prompt hi --max-tokens 3
    full "eval --json" "$bin" eval --checkpoint "$ck" --data "$work/s.h5" --split train --seq 8 --windows 1 --json
  else
    fail "no checkpoint for the /dev/full checks"
  fi
fi

[ $fails -eq 0 ] && echo "hardening_cli: all passed"
exit $((fails > 0))

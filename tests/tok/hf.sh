#!/usr/bin/env bash
# hf.sh NPM_DIR: every tokenizer.json llmpi writes loads in Hugging Face
# `tokenizers` (the Rust core that Python's Tokenizer.from_file runs, here
# through its npm binding) and gives the ids of `llmpi tokenizer encode`.
# Installs npm `tokenizers` into NPM_DIR (the build tree) once; skips (77)
# only when node/npm is missing or the npm registry cannot be reached.
# Tokenizers: vocab 300..2048 trained on data/, with and without extra
# specials, plus the fixture corpora with the training options of the
# reference tests. Texts: Gutenberg prose from data/, Shakespeare, the
# fixtures (CRLF, digits, emoji, CJK and other scripts, ties, repeats), all
# valid UTF-8; compared without specials, and with --allow-special on text
# holding the special strings (HF always splits those out; see
# docs/tokenizer.md for the known, inherent differences).
set -euo pipefail
npm_dir=${1:?usage: hf.sh NPM_DIR}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${LLMPI_BIN:?LLMPI_BIN not set}
hf_version=0.23.2

command -v node > /dev/null && command -v npm > /dev/null || { echo "node/npm missing: skipped"; exit 77; }
if [ "$(node -p "require('$npm_dir/node_modules/tokenizers/package.json').version" 2>/dev/null)" != "$hf_version" ]; then
  if ! npm install --prefix "$npm_dir" --no-audit --no-fund "tokenizers@$hf_version" > "$npm_dir.log" 2>&1; then
    if ! npm ping > /dev/null 2>&1; then echo "npm registry unreachable: skipped"; exit 77; fi
    echo "npm install tokenizers@$hf_version failed although the registry answers:"; tail -5 "$npm_dir.log"; exit 1
  fi
fi
export NODE_PATH=$npm_dir/node_modules

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# texts: valid UTF-8 only (HF takes strings); none holds a special's string
texts=()
for f in "$root"/data/gutenberg/*.txt; do texts+=("$f"); done
head -c 200000 "$root/data/tinyshakespeare.txt" > "$work/shakespeare.txt"; texts+=("$work/shakespeare.txt")
for f in crlf digits emoji nonlatin repeats ties; do texts+=("$here/corpora/$f.txt"); done
printf 'mixed\r\nlines\n\r\n  spaces\t\ttabs  \n\n\nend' > "$work/whitespace.txt"; texts+=("$work/whitespace.txt")
printf '' > "$work/empty.txt"; texts+=("$work/empty.txt")
# with specials: the special strings inside words, at the ends, back to back
printf '<|endoftext|>Once<|user|>hi <|assistant|> there<|end|><|end|>\n<|system|>x<|tool|> <|x|>y<|endoftext|>' \
  > "$work/specials.txt"

# compare TOKENIZER_DIR: HF's ids against ours on every text
compare() {
  local tok=$1 name=$2 out=$work/hf.$name
  mkdir -p "$out"
  node "$here/hf_encode.js" "$tok/tokenizer.json" "$out" "${texts[@]}" "$work/specials.txt" \
    || { fail "$name: see the line above"; return; }
  # one llmpi process per text, all at once (each spends its time starting MPI, not encoding)
  local i pids=()
  for i in "${!texts[@]}"; do
    "$bin" tokenizer encode --tokenizer "$tok" < "${texts[$i]}" > "$out/$i.ours" 2>&1 & pids+=($!)
  done
  "$bin" tokenizer encode --tokenizer "$tok" --allow-special < "$work/specials.txt" > "$out/${#texts[@]}.ours" 2>&1 &
  pids+=($!)
  for i in "${!pids[@]}"; do wait "${pids[$i]}" || fail "$name: llmpi encode of text $i: $(head -c 200 "$out/$i.ours")"; done
  for i in "${!texts[@]}"; do
    cmp -s "$out/$i.ours" "$out/$i.ids" || fail "$name: ids differ on $(basename "${texts[$i]}")"
  done
  cmp -s "$out/${#texts[@]}.ours" "$out/${#texts[@]}.ids" || fail "$name: ids differ on the text with specials (--allow-special)"
}

n=0
train() {  # NAME INPUT VOCAB [OPTIONS...]
  local name=$1 input=$2 vocab=$3; shift 3
  "$bin" tokenizer train --input "$input" --vocab-size "$vocab" --out "$work/tok.$name" --quiet "$@" > /dev/null 2> "$work/err" \
    || { cat "$work/err"; fail "$name: train"; return; }
  compare "$work/tok.$name" "$name"
  n=$((n + 1))
}

for v in 300 600 1024 2048; do
  train "data_$v" "$root/data" "$v"
  train "data_${v}_specials" "$root/data" "$v" --special '<|tool|>' '<|x|>'
done
train crlf_min1 "$here/corpora/crlf.txt" 500 --min-frequency 1
train data_maxbytes3 "$root/data" 600 --max-token-bytes 3
train emoji_300 "$here/corpora/emoji.txt" 300
train nonlatin_500 "$here/corpora/nonlatin.txt" 500
train digits_400 "$here/corpora/digits.txt" 400
train gpt2_pattern "$root/data" 800 --pattern "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

[ $fails -eq 0 ] && echo "ok: $n tokenizers x $(( ${#texts[@]} + 1 )) texts, HF tokenizers $hf_version gives llmpi's ids" \
  || { echo "$fails failures"; exit 1; }

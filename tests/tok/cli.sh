#!/usr/bin/env bash
# cli.sh: `llmpi tokenizer` as a user runs it: refusals (one line on stderr,
# non-zero exit), atomic output, determinism across thread counts, folders as
# input, info.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${LLMPI_BIN:?LLMPI_BIN not set}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# refuse CMD...: must exit non-zero with exactly one stderr line "llmpi: ..."
refuse() {
  local what=$1; shift
  "$@" > "$work/out" 2> "$work/err" < "${STDIN:-/dev/null}"
  local rc=$?
  local lines; lines=$(wc -l < "$work/err")
  if [ $rc -eq 0 ]; then fail "$what: exit status 0"; fi
  if [ "$lines" -ne 1 ] || ! grep -q '^llmpi: ' "$work/err"; then fail "$what: stderr was not one 'llmpi:' line:"; cat "$work/err"; fi
}

corpora=$here/corpora
: > "$work/empty.txt"
refuse "empty input" "$bin" tokenizer train --input "$work/empty.txt" --vocab-size 300 --out "$work/t"
refuse "unreadable path" "$bin" tokenizer train --input "$work/nonexistent" --vocab-size 300 --out "$work/t"
mkdir -p "$work/no_txt"; echo hi > "$work/no_txt/a.md"
refuse "folder without *.txt" "$bin" tokenizer train --input "$work/no_txt" --vocab-size 300 --out "$work/t"
refuse "vocab below 256 + specials" "$bin" tokenizer train --input "$corpora/ties.txt" --vocab-size 260 --out "$work/t"
refuse "vocab below 256 + extra specials" "$bin" tokenizer train --input "$corpora/ties.txt" --vocab-size 261 --special "<|a|>" --out "$work/t"
refuse "bad number" "$bin" tokenizer train --input "$corpora/ties.txt" --vocab-size 3x0 --out "$work/t"
refuse "missing --out" "$bin" tokenizer train --input "$corpora/ties.txt" --vocab-size 300
refuse "bad pattern" "$bin" tokenizer train --input "$corpora/ties.txt" --vocab-size 300 --pattern '(' --out "$work/t"
refuse "unknown subcommand" "$bin" tokenizer frobnicate
[ -e "$work/t" ] && fail "a failed train created its output folder content: $(ls "$work/t")"

# a good tokenizer, then failures must leave it intact
"$bin" tokenizer train --input "$corpora" --vocab-size 500 --out "$work/good" --quiet > /dev/null 2>&1 || fail "train on a folder"
cp "$work/good/tokenizer.json" "$work/saved.json"
refuse "failed retrain" "$bin" tokenizer train --input "$work/empty.txt" --vocab-size 500 --out "$work/good"
refuse "failed retrain (pattern)" "$bin" tokenizer train --input "$corpora" --vocab-size 500 --pattern '[' --out "$work/good"
cmp -s "$work/good/tokenizer.json" "$work/saved.json" || fail "a failed run changed the earlier tokenizer.json"
[ "$(ls "$work/good")" = "tokenizer.json" ] || fail "leftover files in the output folder: $(ls "$work/good")"
echo file > "$work/is_a_file"
refuse "output folder is a file" "$bin" tokenizer train --input "$corpora/ties.txt" --vocab-size 300 --out "$work/is_a_file"

# a folder equals the list of its *.txt files (order does not matter)
"$bin" tokenizer train --input $(ls -r "$corpora"/*.txt) --vocab-size 500 --out "$work/listed" --quiet > /dev/null 2>&1
cmp -s "$work/good/tokenizer.json" "$work/listed/tokenizer.json" || fail "folder input differs from the same files listed"

# corrupt and foreign files
head -c 2000 "$work/saved.json" > "$work/trunc.json"
echo '{"model": {"type": "BPE"}}' > "$work/foreign.json"
sed 's/"special": true/"special": false/' "$work/saved.json" > "$work/tampered.json"
for f in trunc foreign tampered; do
  STDIN=$corpora/ties.txt refuse "encode with $f.json" "$bin" tokenizer encode --tokenizer "$work/$f.json"
  refuse "info with $f.json" "$bin" tokenizer info --tokenizer "$work/$f.json"
done
refuse "missing tokenizer" "$bin" tokenizer info --tokenizer "$work/nothing.json"
echo "1 2 99999" > "$work/ids"; STDIN=$work/ids refuse "decode: id out of range" "$bin" tokenizer decode --tokenizer "$work/good"
echo "1 2 x3" > "$work/ids"; STDIN=$work/ids refuse "decode: not a number" "$bin" tokenizer decode --tokenizer "$work/good"

# info: identity (recomputed from the content), vocabulary, bytes per token
"$bin" tokenizer info --tokenizer "$work/good" --input "$corpora" > "$work/info" 2>&1 || fail "info"
grep -Eq '^identity: bpe500-[0-9a-f]{16}$' "$work/info" || fail "info does not print an identity bpe500-<16 hex>"
grep -q '^vocab_size: 500 (256 bytes + 239 merges + 5 specials)$' "$work/info" || fail "info vocab line"
grep -q '^input: 6 files, .* bytes/token$' "$work/info" || fail "info compression line"

# determinism: thread counts (blocks of 1 MiB: tinyshakespeare is two)
data=${LLMPI_SHARED_DATA:-/nonexistent}/tinyshakespeare/input.txt
if [ -f "$data" ]; then
  for th in 1 2 4; do
    "$bin" tokenizer train --input "$data" --vocab-size 1000 --out "$work/th$th" --threads $th --quiet > /dev/null 2>&1 || fail "train --threads $th"
  done
  cmp -s "$work/th1/tokenizer.json" "$work/th2/tokenizer.json" || fail "--threads 1 and 2 differ"
  cmp -s "$work/th1/tokenizer.json" "$work/th4/tokenizer.json" || fail "--threads 1 and 4 differ"
fi

[ $fails -eq 0 ] && echo "ok: tokenizer CLI" || { echo "$fails failures"; exit 1; }

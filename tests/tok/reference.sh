#!/usr/bin/env bash
# reference.sh CORPUS VOCAB [TRAIN OPTIONS...]
# Trains with llmpi and with the naive Python reference (tokref.py) and
# requires the same merges, one by one; then requires `llmpi tokenizer
# encode` to give the ids that HF tokenizers would compute from the written
# tokenizer.json (tokref.py encode), with specials off and on.
# CORPUS: a file name in tests/tok/corpora, or "invalid" (generated invalid
# UTF-8), "shakespeare" / "gutenberg" (slices of ../shared/data; skip 77
# when absent).
set -euo pipefail
corpus=$1; vocab=$2; shift 2
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../err_trap.sh
source "$here/../err_trap.sh"
bin=${LLMPI_BIN:?LLMPI_BIN not set}
python3 -c 'import regex' 2>/dev/null || { echo "python3-regex missing: skipped"; exit 77; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
data=${LLMPI_SHARED_DATA:-/nonexistent}
case $corpus in
  invalid) python3 "$here/tokref.py" invalid "$work/corpus.txt" ;;
  shakespeare)
    [ -f "$data/tinyshakespeare/input.txt" ] || { echo "no shared data: skipped"; exit 77; }
    head -c 30000 "$data/tinyshakespeare/input.txt" > "$work/corpus.txt" ;;
  gutenberg)
    [ -d "$data/gutenberg/books" ] || { echo "no shared data: skipped"; exit 77; }
    # no `| head` under pipefail: sort would die of SIGPIPE now and then (141)
    mapfile -t books < <(find "$data/gutenberg/books" -name '*.txt' | LC_ALL=C sort)
    [ ${#books[@]} -gt 0 ] || { echo "no books in $data/gutenberg/books"; exit 1; }
    book=${books[0]}
    head -c 40000 "$book" > "$work/corpus.txt" ;;
  *) cp "$here/corpora/$corpus" "$work/corpus.txt" ;;
esac

"$bin" tokenizer train --input "$work/corpus.txt" --vocab-size "$vocab" --out "$work/tok" --quiet "$@" 2> "$work/err" \
  || { cat "$work/err"; exit 1; }
# tokref's options mirror llmpi's; --special only changes the count of specials
n_specials=5; ref_opts=()
while [ $# -gt 0 ]; do
  case $1 in
    --special) shift; while [ $# -gt 0 ] && [[ $1 != --* ]]; do n_specials=$((n_specials + 1)); shift; done ;;
    *) ref_opts+=("$1"); shift ;;
  esac
done
python3 "$here/tokref.py" merges "$work/tok/tokenizer.json" > "$work/merges.llmpi"
python3 "$here/tokref.py" train "$work/corpus.txt" --vocab-size "$vocab" --n-specials "$n_specials" \
  ${ref_opts[@]+"${ref_opts[@]}"} > "$work/merges.ref"
n=$(wc -l < "$work/merges.ref")
if ! cmp -s "$work/merges.llmpi" "$work/merges.ref"; then
  echo "merges differ from the naive reference (first difference: line $(cmp "$work/merges.llmpi" "$work/merges.ref" | awk '{print $NF}'))"
  diff "$work/merges.llmpi" "$work/merges.ref" > "$work/merges.diff" || true
  head -5 "$work/merges.diff"
  exit 1
fi
[ "$n" -gt 0 ] || { echo "no merges learned: the check would be empty"; exit 1; }

# encode: the corpus, and a text with every special, partial ones and unseen bytes
{ cat "$work/corpus.txt"; printf '<|endoftext|><|user|>Hi!<|end|>\n<|assistant|x <|system|>\xff\xfe tail'; } > "$work/text"
for flag in "" --allow-special; do
  "$bin" tokenizer encode --tokenizer "$work/tok" $flag < "$work/text" > "$work/ids.llmpi"
  python3 "$here/tokref.py" encode "$work/tok/tokenizer.json" "$work/text" $flag > "$work/ids.ref"
  cmp -s "$work/ids.llmpi" "$work/ids.ref" || { echo "encode ${flag:-without specials} differs from the HF-style reference"; exit 1; }
  "$bin" tokenizer decode --tokenizer "$work/tok/tokenizer.json" < "$work/ids.llmpi" > "$work/back"
  cmp -s "$work/back" "$work/text" || { echo "decode(encode(text)) != text ${flag}"; exit 1; }
done
echo "ok: $corpus: $n merges equal the reference; encode equals the HF-style reference"

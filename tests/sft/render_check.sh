#!/usr/bin/env bash
# render_check.sh MODE SFT_DUMP: dumps rendered examples of every source of a
# mix (tests/sft_dump.c) and checks them with the independent Python renderer
# (tests/sft/render_ref.py). MODE fixtures: tests/sft/fixtures-mix.ini; demo:
# configs/sft-demo-mix.ini over data/sft;
# MODE shared: configs/sft-mix.ini over ../shared/data/sft (77 without it).
set -euo pipefail
mode="$1"
dump_bin="$2"
src="${LLMPI_SOURCE_DIR:?}"
bin="${LLMPI_BIN:?}"
case "$mode" in
  fixtures) mix="$src/tests/sft/fixtures-mix.ini"; per=1000 ;;
  demo) mix="$src/configs/sft-demo-mix.ini"; per=1000 ;;
  shared)
    if [[ ! -d "${LLMPI_SHARED_DATA:-/nonexistent}/sft" ]]; then echo "no shared data: skipped"; exit 77; fi
    mix="$src/configs/sft-mix.ini"; per=150 ;;
  *) echo "render_check: unknown mode $mode" >&2; exit 2 ;;
esac
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# a small tokenizer: Shakespeare plus the fixtures' text
mkdir -p "$work/corpus"
cp "$src/data/tinyshakespeare.txt" "$work/corpus/"
for f in "$src"/tests/sft/fixtures/*.json*; do cp "$f" "$work/corpus/$(basename "$f").txt"; done
"$bin" tokenizer train --input "$work/corpus" --vocab-size 1200 --out "$work/tok" --quiet
"$dump_bin" dump "$mix" "$work/tok" "$work/dump.jsonl" "$per"
python3 "$src/tests/sft/render_ref.py" --dump "$work/dump.jsonl" --tokenizer "$work/tok/tokenizer.json" --mix "$mix"

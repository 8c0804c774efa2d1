#!/usr/bin/env bash
# quickstart_smoke.sh: runs the real scripts/quickstart against the built
# binary with the tiny config and 4 steps, and checks each stage's output:
# the quickstart's command lines must match the CLI they drive.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../err_trap.sh
source "$(dirname "$0")/../err_trap.sh"
: "${LLMPI_BIN:?}" "${LLMPI_SOURCE_DIR:?}"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
run="$tmp/run"
fail() { echo "FAIL: $*" >&2; exit 1; }

bash "$LLMPI_SOURCE_DIR/scripts/quickstart" --bin "$LLMPI_BIN" --config "$LLMPI_SOURCE_DIR/configs/tiny.ini" \
  --run "$run" --set train.max_steps=4 --set train.threads=1 --sft-set train.seq_len=32 --sft-set train.max_steps=4 \
  >"$tmp/out" 2>"$tmp/err" ||
  { cat "$tmp/out" "$tmp/err"; fail "quickstart exited non-zero"; }

for banner in "3/10 tokenizer" "4/10 prepare" "5/10 pretrain" "6/10 eval" "7/10 sample" "8/10 plot" "9/10 sft" \
  "10/10 chat" "done in"; do
  grep -q "^==> $banner" "$tmp/out" || fail "no '$banner' step announced"
done
[[ -s "$run/store.h5" ]] || fail "no token store"
[[ -s "$run/tokenizer/tokenizer.json" ]] || fail "no tokenizer"
[[ -f "$run/checkpoints/step-00000004.h5" ]] || fail "no checkpoint at step 4: $(ls "$run/checkpoints" 2>&1)"
[[ -s "$run/sft/sft.h5" ]] || fail "no SFT store"
[[ -f "$run/sft/checkpoints/step-00000004.h5" ]] || fail "no SFT checkpoint at step 4"
grep -q "^format *llmpi-sft" "$tmp/out" || fail "llmpi info did not describe the SFT store"
# eval prints a finite loss near ln(2048) = 7.62 after 4 steps
loss="$(grep -oE 'loss [0-9]+\.[0-9]+' "$tmp/out" | tail -1 | cut -d' ' -f2)"
[[ -n "$loss" ]] || fail "no loss printed"
awk -v l="$loss" 'BEGIN { exit !(l > 5 && l < 8) }' || fail "eval loss $loss out of (5, 8)"
# the sample continues the prompt
grep -q '^ROMEO:' "$tmp/out" || fail "sample does not start with the prompt"

command -v gnuplot >/dev/null && { [[ -s "$run/loss.png" ]] || fail "no loss.png"; }

# a second run replaces the first (same figures: the pipeline is deterministic)
first="$(grep -E 'val split: loss' "$tmp/out")"
bash "$LLMPI_SOURCE_DIR/scripts/quickstart" --bin "$LLMPI_BIN" --config "$LLMPI_SOURCE_DIR/configs/tiny.ini" \
  --run "$run" --set train.max_steps=4 --set train.threads=1 --sft-set train.seq_len=32 --sft-set train.max_steps=4 \
  >"$tmp/out2" 2>&1 || fail "second run failed"
second="$(grep -E 'val split: loss' "$tmp/out2")"
[[ "${first%%,*}" == "${second%%,*}" ]] || fail "rerun differs: '$first' vs '$second'"
echo "quickstart smoke: ok (val loss $loss)"

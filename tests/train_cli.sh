#!/usr/bin/env bash
# train_cli.sh: `llmpi pretrain`, `eval`, `sample` end to end on a byte store:
# the loss falls, checkpoints and metrics appear, `eval` reproduces the
# trainer's own validation loss exactly, a stopped-and-resumed run equals an
# uninterrupted one bit for bit (parameters and AdamW moments), sampling is
# deterministic, and bad input fails with one line and a non-zero exit.
set -u
BIN=${LLMPI_BIN:?LLMPI_BIN must point at the llmpi binary}
SRC=${LLMPI_SOURCE_DIR:?}
export OMPI_MCA_ess_singleton_isolated=${OMPI_MCA_ess_singleton_isolated:-1}
T=$(mktemp -d /tmp/llmpi-train-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$T/stderr" ] && sed 's/^/  stderr: /' "$T/stderr" >&2; exit 1; }
num_lt() { python3 -c "import sys; sys.exit(0 if float('$1') < float('$2') else 1)"; }

# one thread: the suite runs tests side by side on 2 cores
train() { "$BIN" pretrain --config "$SRC/configs/tiny.ini" --set train.threads=1 --data "$T/s.h5" "$@"; }

"$BIN" prepare --tokenizer bytes --input "$SRC/data/tinyshakespeare.txt" --out "$T/s.h5" >/dev/null 2>"$T/stderr" \
    || fail "prepare"

# ---- a run of 30 steps ----
train --set train.max_steps=30 --out "$T/a" >"$T/a.log" 2>"$T/stderr" || fail "pretrain"
[ -f "$T/a/checkpoints/step-00000030.h5" ] || fail "no final checkpoint"
[ -f "$T/a/checkpoints/step-00000020.h5" ] || fail "no step-20 checkpoint"
[ ! -e "$T/a/checkpoints/step-00000010.h5" ] || fail "keep_checkpoints=2 did not prune step 10"
[ -f "$T/a/config.ini" ] || fail "no config.ini"
ntrain=$(grep -c '"kind":"train"' "$T/a/metrics.jsonl")
[ "$ntrain" -eq 30 ] || fail "metrics.jsonl has $ntrain train lines, expected 30"
first=$(grep '"kind":"train"' "$T/a/metrics.jsonl" | head -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["loss"])')
last=$(grep '"kind":"train"' "$T/a/metrics.jsonl" | tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["loss"])')
num_lt "$last" "$first" || fail "loss did not fall: $first -> $last"
num_lt "$first" 5.7 || fail "initial loss $first is not ~ln(257)"

# ---- eval reproduces the trainer's last validation loss (8 windows of 32) ----
val=$(grep '"kind":"val"' "$T/a/metrics.jsonl" | tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["val_loss"])')
"$BIN" eval --checkpoint "$T/a/checkpoints/step-00000030.h5" --data "$T/s.h5" --split val --windows 8 --seq 32 \
    --json >"$T/eval.json" 2>"$T/stderr" || fail "eval"
python3 - "$T/eval.json" "$val" <<'PY' || fail "eval disagrees with the trainer's val loss"
import json, sys
e = json.load(open(sys.argv[1]))
assert e["tokens"] == 8 * 32, e
assert abs(e["loss"] - float(sys.argv[2])) <= 1e-6 * abs(e["loss"]), (e["loss"], sys.argv[2])
PY
# batch size must not change the figure
"$BIN" eval --checkpoint "$T/a/checkpoints/step-00000030.h5" --data "$T/s.h5" --split val --windows 8 --seq 32 \
    --batch 3 --json >"$T/eval3.json" 2>"$T/stderr" || fail "eval --batch 3"
python3 -c "
import json; a=json.load(open('$T/eval.json')); b=json.load(open('$T/eval3.json'))
assert abs(a['loss']-b['loss']) <= 1e-6*a['loss'], (a,b)" || fail "eval depends on --batch"

# ---- stop at 15, resume: identical to the straight run ----
train --set train.max_steps=30 --stop-after 15 --out "$T/b" >/dev/null 2>"$T/stderr" || fail "pretrain --stop-after"
[ -f "$T/b/checkpoints/step-00000015.h5" ] || fail "--stop-after left no step-15 checkpoint"
[ ! -e "$T/b/checkpoints/step-00000030.h5" ] || fail "--stop-after ran past 15"
train --set train.max_steps=30 --resume auto --out "$T/b" >"$T/b.log" 2>"$T/stderr" || fail "pretrain --resume auto"
grep -q "resumed from .*step-00000015.h5" "$T/b.log" || fail "resume did not start from step 15"
for g in /model /optim; do
    h5diff -d 0 "$T/a/checkpoints/step-00000030.h5" "$T/b/checkpoints/step-00000030.h5" $g >"$T/diff" 2>&1 \
        || { cat "$T/diff" >&2; fail "resumed run differs from the straight run in $g"; }
done

# ---- sampling: deterministic for a seed, greedy with temperature 0 ----
ck="$T/a/checkpoints/step-00000030.h5"
"$BIN" sample --checkpoint "$ck" --prompt "ROMEO:" --max-tokens 40 --seed 7 >"$T/s1" 2>"$T/stderr" || fail "sample"
"$BIN" sample --checkpoint "$ck" --prompt "ROMEO:" --max-tokens 40 --seed 7 >"$T/s2" 2>"$T/stderr" || fail "sample"
cmp -s "$T/s1" "$T/s2" || fail "same seed, different samples"
head -c 6 "$T/s1" | grep -q "ROMEO:" || fail "sample does not start with the prompt"
[ "$(wc -c <"$T/s1")" -gt 20 ] || fail "sample too short"
"$BIN" sample --checkpoint "$ck" --prompt "ROMEO:" --max-tokens 40 --temperature 0 --seed 1 >"$T/g1" 2>"$T/stderr" || fail "greedy"
"$BIN" sample --checkpoint "$ck" --prompt "ROMEO:" --max-tokens 40 --temperature 0 --seed 2 >"$T/g2" 2>"$T/stderr" || fail "greedy"
cmp -s "$T/g1" "$T/g2" || fail "greedy sampling depends on the seed"

# ---- errors: one line, non-zero exit ----
expect_error() {
    "$@" >"$T/stdout" 2>"$T/stderr"
    local rc=$?
    [ "$rc" -ne 0 ] || fail "expected failure: $*"
    [ "$(wc -l <"$T/stderr")" -eq 1 ] || fail "expected one stderr line: $*"
    grep -q '^llmpi: ' "$T/stderr" || fail "no llmpi: prefix: $*"
}
expect_error "$BIN" pretrain --config "$SRC/configs/tiny.ini" --data "$T/missing.h5" --out "$T/c"
expect_error "$BIN" pretrain --config "$SRC/configs/tiny.ini" --set model.n_heads=3 --data "$T/s.h5" --out "$T/c"
expect_error "$BIN" pretrain --config "$SRC/configs/tiny.ini" --set model.n_head=3 --data "$T/s.h5" --out "$T/c"
expect_error "$BIN" pretrain --config "$T/missing.ini" --data "$T/s.h5" --out "$T/c"
expect_error "$BIN" eval --checkpoint "$T/s.h5" --data "$T/s.h5" --split val --windows 2
expect_error "$BIN" eval --checkpoint "$ck" --data "$T/s.h5" --split test --windows 2
expect_error "$BIN" eval --checkpoint "$ck" --data "$T/s.h5" --split val --windows 100000000
expect_error "$BIN" eval --checkpoint "$ck" --data "$T/s.h5" --split val --windows 2 --seq 33
head -c 3000 "$ck" >"$T/trunc.h5"
expect_error "$BIN" sample --checkpoint "$T/trunc.h5" --prompt hi
expect_error "$BIN" pretrain --config "$SRC/configs/tiny.ini" --set train.threads=1 --data "$T/s.h5" --out "$T/a" \
    --resume "$T/trunc.h5"
# a store made with another tokenizer (same vocabulary size): eval and resume refuse it, naming both
"$(dirname "$BIN")/synth_store" --vocab 257 --tokens 300000 --out "$T/other.h5" >/dev/null 2>"$T/stderr" \
    || fail "synth_store"
expect_error "$BIN" eval --checkpoint "$ck" --data "$T/other.h5" --split val --windows 2
grep -q "other.h5: made with tokenizer synthetic-257 (vocab 257), but bytes-v1 (vocab 257)" "$T/stderr" \
    || fail "eval on another tokenizer's store: $(cat "$T/stderr")"
expect_error "$BIN" pretrain --config "$SRC/configs/tiny.ini" --set train.threads=1 --data "$T/other.h5" --out "$T/d" \
    --resume "$ck"
grep -q "other.h5: made with tokenizer synthetic-257" "$T/stderr" \
    || fail "resume on another tokenizer's store: $(cat "$T/stderr")"
echo "train_cli: all checks passed"

#!/usr/bin/env bash
# train_sample_cli.sh: train.sample_every end to end. Rank 0 prints a sample
# every K steps and appends it to RUN/samples.jsonl; the samples are the same
# for the same run, and a run with samples trains to the same bits as one
# without (parameters, AdamW moments, loader and RNG state, every checkpoint
# attribute but the config text that names the keys), alone and on 2 ranks
# with ZeRO-1. A prompt longer than the context is refused in one line.
set -u
BIN=${LLMPI_BIN:?LLMPI_BIN must point at the llmpi binary}
SRC=${LLMPI_SOURCE_DIR:?}
export OMPI_MCA_ess_singleton_isolated=${OMPI_MCA_ess_singleton_isolated:-1}
T=$(mktemp -d /tmp/llmpi-train-sample-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$T/stderr" ] && sed 's/^/  stderr: /' "$T/stderr" >&2; exit 1; }

train() { "$BIN" pretrain --config "$SRC/configs/tiny.ini" --set train.threads=1 --set train.max_steps=20 \
              --data "$T/s.h5" "$@"; }

# Every checkpoint of run $1 equals run $2's: the data bit for bit, and every
# attribute but "config" (h5dump text, the config block left out).
same_checkpoints() {
    local a=$1 b=$2 f n=0
    for f in "$a"/checkpoints/step-*.h5; do
        n=$((n + 1))
        local g="$b/checkpoints/$(basename "$f")"
        [ -f "$g" ] || fail "$g missing"
        for grp in /model /optim /state; do
            h5diff -d 0 "$f" "$g" $grp >"$T/diff" 2>&1 || { cat "$T/diff" >&2; fail "$f and $g differ in $grp"; }
        done
        for x in "$f" "$g"; do
            h5dump -w 0 "$x" | python3 -c '
import sys
skip = None
for line in sys.stdin:
    if skip is not None:
        if line.startswith(skip + "}"): skip = None
        continue
    if line.lstrip().startswith("ATTRIBUTE \"config\""):
        skip = line[:len(line) - len(line.lstrip())]
        continue
    if not line.startswith("HDF5 "): sys.stdout.write(line)' >"$x.dump"
        done
        cmp -s "$f.dump" "$g.dump" || { diff "$f.dump" "$g.dump" | head >&2; fail "$f and $g differ outside the config"; }
    done
    [ "$n" -ge 2 ] || fail "only $n checkpoints in $a"
}

"$BIN" prepare --tokenizer bytes --input "$SRC/data/tinyshakespeare.txt" --out "$T/s.h5" >/dev/null 2>"$T/stderr" \
    || fail "prepare"

# ---- one process: with and without samples ----
train --out "$T/plain" >/dev/null 2>"$T/stderr" || fail "pretrain without samples"
[ ! -e "$T/plain/samples.jsonl" ] || fail "samples.jsonl without train.sample_every"
grep -q sample "$T/plain/config.ini" && fail "config.ini names the sample keys though they are unset"
train --set train.sample_every=5 --set train.sample_tokens=24 --set "train.sample_prompt=ROMEO: O, speak" \
    --out "$T/samp" >"$T/samp.log" 2>"$T/stderr" || fail "pretrain with samples"
same_checkpoints "$T/plain" "$T/samp"
grep -q "train.sample_prompt=ROMEO: O, speak" "$T/samp/config.ini" || fail "config.ini lacks the prompt"
[ "$(grep -c '| sample (' "$T/samp.log")" -eq 4 ] || fail "expected 4 sample lines in the log"
python3 - "$T/samp/samples.jsonl" <<'PY' || fail "samples.jsonl"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["step"] for r in rows] == [5, 10, 15, 20], rows
for r in rows:
    assert r["prompt"] == "ROMEO: O, speak", r
    assert 1 <= r["tokens"] <= 24 and r["finish_reason"] in ("stop", "length"), r
    assert isinstance(r["text"], str) and r["seconds"] >= 0, r
# the model changes between samples, so the texts do (seed and prompt do not)
assert len({r["text"] for r in rows}) > 1, rows
PY
# the same run draws the same samples
train --set train.sample_every=5 --set train.sample_tokens=24 --set "train.sample_prompt=ROMEO: O, speak" \
    --out "$T/samp2" >/dev/null 2>"$T/stderr" || fail "pretrain with samples, again"
strip() { python3 -c 'import json,sys; [print(json.dumps({k: v for k, v in json.loads(l).items() if k != "seconds"})) for l in open(sys.argv[1])]' "$1"; }
[ "$(strip "$T/samp/samples.jsonl")" = "$(strip "$T/samp2/samples.jsonl")" ] || fail "samples differ between two equal runs"
# --force starts samples.jsonl over; resume appends to it
train --set train.sample_every=5 --set train.sample_tokens=24 --out "$T/samp2" --force >/dev/null 2>"$T/stderr" \
    || fail "pretrain --force"
[ "$(wc -l <"$T/samp2/samples.jsonl")" -eq 4 ] || fail "--force did not start samples.jsonl over"

# ---- 2 ranks, ZeRO-1: with and without samples ----
mtrain() { mpirun -np 2 "$BIN" pretrain --config "$SRC/configs/tiny.ini" --set train.threads=1 --set train.zero=1 \
               --set train.max_steps=20 --data "$T/s.h5" "$@"; }
mtrain --out "$T/mplain" >/dev/null 2>"$T/stderr" || fail "mpirun pretrain without samples"
mtrain --set train.sample_every=3 --out "$T/msamp" >/dev/null 2>"$T/stderr" || fail "mpirun pretrain with samples"
same_checkpoints "$T/mplain" "$T/msamp"
[ "$(wc -l <"$T/msamp/samples.jsonl")" -eq 6 ] || fail "2 ranks: expected 6 samples (rank 0 alone writes)"

# ---- SFT: the prompt is a user message in the chat template ----
"$BIN" tokenizer train --input "$SRC/data/tinyshakespeare.txt" --vocab-size 512 --out "$T/tok" --quiet \
    >/dev/null 2>"$T/stderr" || fail "tokenizer train"
"$BIN" prepare --tokenizer "$T/tok/tokenizer.json" --input "$SRC/data/tinyshakespeare.txt" --out "$T/b.h5" \
    >/dev/null 2>"$T/stderr" || fail "prepare (BPE)"
"$BIN" pretrain --config "$SRC/configs/tiny.ini" --set train.threads=1 --set model.block_size=64 \
    --set train.max_steps=5 --data "$T/b.h5" --out "$T/pre" >/dev/null 2>"$T/stderr" || fail "pretrain (BPE)"
"$BIN" mix --mix "$SRC/configs/sft-demo-mix.ini" --tokenizer "$T/tok" --out "$T/sft.h5" >/dev/null 2>"$T/stderr" \
    || fail "mix"
sft() { "$BIN" sft --init "$T/pre/checkpoints/step-00000005.h5" --config "$SRC/configs/sft.ini" --set train.threads=1 \
            --set train.seq_len=64 --set train.max_steps=6 --set train.ckpt_every=3 --set train.eval_every=0 \
            --data "$T/sft.h5" "$@"; }
sft --out "$T/splain" >/dev/null 2>"$T/stderr" || fail "sft without samples"
sft --set train.sample_every=3 --set train.sample_tokens=12 --set "train.sample_prompt=Who are you?" \
    --out "$T/ssamp" >"$T/ssamp.log" 2>"$T/stderr" || fail "sft with samples"
same_checkpoints "$T/splain" "$T/ssamp"
python3 - "$T/ssamp/samples.jsonl" <<'PY' || fail "sft samples.jsonl"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["step"] for r in rows] == [3, 6], rows
assert all(r["prompt"] == "Who are you?" and 1 <= r["tokens"] <= 12 for r in rows), rows
# an answer, not a continuation of the template: no special shows in the text
assert not any("<|" in r["text"] for r in rows), rows
PY

# ---- a prompt longer than the context (32 bytes) ----
train --set train.sample_every=5 --set "train.sample_prompt=$(printf 'x%.0s' $(seq 40))" --out "$T/long" \
    >/dev/null 2>"$T/stderr" && fail "a prompt longer than the context was accepted"
[ "$(grep -c '^llmpi: ' "$T/stderr")" -eq 1 ] && grep -q "train.sample_prompt: 40 tokens" "$T/stderr" \
    || fail "a too long prompt: expected one line naming it"
echo "train_sample_cli: ok"

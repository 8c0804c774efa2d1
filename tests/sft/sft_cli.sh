#!/usr/bin/env bash
# sft_cli.sh: `llmpi mix`, `info`, `sft`, `eval` on an SFT store, end to end
# on the shipped sample (configs/sft-demo-mix.ini over data/sft):
# - the store is byte-identical when built by 1 rank or under mpirun -np 2 or 3,
#   and `info` reports per-source counts and skips by reason;
# - sft 1 rank x B == 2 ranks x B/2 (parameters within 1e-5 absolute, the
#   pretraining test's tolerance), and the masked loss falls;
# - bit-exact resume (straight 12 steps == 6 + --resume auto 6), and the
#   run's OUT/sft.h5 is reused when the mix and tokenizer match; SIGTERM
#   stops at a step boundary with a checkpoint that resumes;
# - `eval` on the SFT store reproduces the trainer's masked val loss;
# - bad input (missing path, weight < 0, a tokenizer without the chat
#   specials, a checkpoint of another tokenizer): one line, non-zero exit,
#   no output file.
set -u
BIN=${LLMPI_BIN:?}
SRC=${LLMPI_SOURCE_DIR:?}
command -v mpirun >/dev/null || { echo "mpirun not found: skipping"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_ess_singleton_isolated=${OMPI_MCA_ess_singleton_isolated:-1}
T=$(mktemp -d /tmp/llmpi-sft-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$T/stderr" ] && sed 's/^/  stderr: /' "$T/stderr" >&2; exit 1; }
MPIRUN=(mpirun --oversubscribe --bind-to none)
MIX="$SRC/configs/sft-demo-mix.ini"
ck() { echo "$T/$1/checkpoints/step-$(printf %08d "$2").h5"; }

# a tokenizer (it has the chat specials by default) and a small model to start from
"$BIN" tokenizer train --input "$SRC/data/tinyshakespeare.txt" --vocab-size 512 --out "$T/tok" --quiet \
    >/dev/null 2>"$T/stderr" || fail "tokenizer train"
"$BIN" prepare --tokenizer "$T/tok/tokenizer.json" --input "$SRC/data/tinyshakespeare.txt" --out "$T/s.h5" \
    >/dev/null 2>"$T/stderr" || fail "prepare"
"$BIN" pretrain --config "$SRC/configs/tiny.ini" --set train.threads=1 --set model.block_size=64 \
    --set train.max_steps=5 --data "$T/s.h5" --out "$T/pre" >/dev/null 2>"$T/stderr" || fail "pretrain"
INIT=$(ck pre 5)

# ---- the store: 1 rank == 2 ranks == 3 ranks, byte for byte; info ----
"$BIN" mix --mix "$MIX" --tokenizer "$T/tok" --out "$T/a.h5" >"$T/mix.out" 2>"$T/stderr" || fail "mix"
"${MPIRUN[@]}" -np 2 "$BIN" mix --mix "$MIX" --tokenizer "$T/tok" --out "$T/b.h5" >/dev/null 2>"$T/stderr" \
    || fail "mix on 2 ranks"
cmp -s "$T/a.h5" "$T/b.h5" || fail "the store built under mpirun -np 2 differs from the 1-rank one"
"${MPIRUN[@]}" -np 3 "$BIN" mix --mix "$MIX" --tokenizer "$T/tok" --out "$T/b3.h5" >/dev/null 2>"$T/stderr" \
    || fail "mix on 3 ranks"
cmp -s "$T/a.h5" "$T/b3.h5" || fail "the store built under mpirun -np 3 differs from the 1-rank one"
"$BIN" info "$T/a.h5" >"$T/info.out" 2>"$T/stderr" || fail "info"
grep -q "^format *llmpi-sft version 1, template llmpi-chat-1" "$T/info.out" || fail "info: no llmpi-sft format line"
grep -q "^alpaca-libre .*invalid_json 1, status 17" "$T/info.out" || fail "info: alpaca-libre skips by reason"
grep -q "^identity .*44.91% *44.91%" "$T/info.out" || fail "info: identity shares (weight 2)"
grep -q "^packing *train at seq_len 512: [0-9]* rows, padding [0-9.]*%, [0-9]* truncated" "$T/info.out" \
    || fail "info: no packing line at the default seq_len 512"
"$BIN" info --seq 64 "$T/a.h5" >"$T/info64.out" 2>"$T/stderr" || fail "info --seq 64"
grep -q "^packing *train at seq_len 64: .* truncated (.*gsm8k [0-9]" "$T/info64.out" \
    || fail "info --seq 64: no per-source truncated counts"
[ "$(grep -c '^train .* examples' "$T/mix.out")" -eq 1 ] || fail "mix printed no summary"
# a changed weight changes the store
sed 's/^weight = 2.0/weight = 1.0/' "$MIX" >"$T/w1.ini"
sed -i "s|\.\./data/sft|$SRC/data/sft|" "$T/w1.ini"
"$BIN" mix --mix "$T/w1.ini" --tokenizer "$T/tok" --out "$T/w1.h5" >/dev/null 2>"$T/stderr" || fail "mix w1"
cmp -s "$T/a.h5" "$T/w1.h5" && fail "a changed weight left the store unchanged"

# ---- sft: 1 rank x 4 == 2 ranks x 2 ----
sft() { "$BIN" sft --init "$INIT" --config "$SRC/configs/sft.ini" --set train.threads=1 --set train.seq_len=64 \
    --set train.eval_every=6 --set train.eval_windows=4 --set train.log_every=1 "$@"; }
sft2() { "${MPIRUN[@]}" -np 2 "$BIN" sft --init "$INIT" --config "$SRC/configs/sft.ini" --set train.threads=1 \
    --set train.seq_len=64 --set train.eval_every=6 --set train.eval_windows=4 --set train.log_every=1 "$@"; }
sft --data "$T/a.h5" --set train.batch_size=4 --set train.max_steps=12 --out "$T/one" >"$T/one.log" 2>"$T/stderr" \
    || fail "sft 1 rank"
sft2 --data "$T/a.h5" --set train.batch_size=2 --set train.max_steps=12 --out "$T/two" --check-sync 4 \
    >"$T/two.log" 2>"$T/stderr" || fail "sft 2 ranks"
grep -q "check-sync: parameters identical on 2 ranks" "$T/two.log" || fail "check-sync did not run"
grep -q "(SFT): .* rows of 64+1 (padding" "$T/one.log" || fail "no SFT data line (rows, padding)"
# the log's padding figure is the one info reports for the same seq_len
pad=$(sed -n 's/.*rows of 64+1 (padding \([0-9.]*%\).*/\1/p' "$T/one.log")
grep -q "^packing *train at seq_len 64: .* padding $pad," "$T/info64.out" || fail "info and sft disagree on padding ($pad)"
"$SRC/tests/ckpt/h5diff_values.sh" 1e-5 "$(ck one 12)" "$(ck two 12)" /model >"$T/diff" 2>&1 \
    || { cat "$T/diff" >&2; fail "sft 1x4 and 2x2 differ"; }
python3 - "$T/one/metrics.jsonl" "$T/two/metrics.jsonl" <<'PY' || fail "losses: 1x4 vs 2x2, or no fall"
import json, sys
def train(p): return [json.loads(l) for l in open(p) if '"kind":"train"' in l]
a, b = train(sys.argv[1]), train(sys.argv[2])
assert len(a) == len(b) == 12, (len(a), len(b))
for x, y in zip(a, b):
    assert abs(x["loss"] - y["loss"]) <= 1e-4 * abs(x["loss"]), (x, y)
    assert x["tokens"] == y["tokens"], (x, y)   # masked targets counted, same on both
assert a[-1]["loss"] < a[0]["loss"], (a[0]["loss"], a[-1]["loss"])
PY
# ZeRO-1 (optimizer state sharded over the 2 ranks) == the plain 2 x 2 run
sft2 --data "$T/a.h5" --set train.batch_size=2 --set train.max_steps=12 --set train.zero=1 \
    --set train.bucket_mb=0.01 --out "$T/zero" --check-sync 4 >"$T/zero.log" 2>"$T/stderr" || fail "sft ZeRO-1"
grep -q "ZeRO-1" "$T/zero.log" || fail "sft: ZeRO-1 not reported"
"$SRC/tests/ckpt/h5diff_values.sh" 1e-5 "$(ck one 12)" "$(ck zero 12)" /model >"$T/diff" 2>&1 \
    || { cat "$T/diff" >&2; fail "sft 1x4 and ZeRO-1 2x2 differ"; }
"$SRC/tests/ckpt/h5diff_values.sh" 1e-6 "$(ck two 12)" "$(ck zero 12)" /optim >"$T/diff" 2>&1 \
    || { cat "$T/diff" >&2; fail "sft ZeRO-1 gathered moments differ from the plain 2-rank run's"; }

# ---- bit-exact resume, and the run's own store built from --mix, then reused ----
sft --mix "$MIX" --tokenizer "$T/tok" --set train.batch_size=4 --set train.max_steps=12 --stop-after 6 \
    --out "$T/r" >"$T/r1.log" 2>"$T/stderr" || fail "sft --mix --stop-after 6"
grep -q "sft: building .*/r/sft.h5" "$T/r1.log" || fail "sft --mix did not build OUT/sft.h5"
cmp -s "$T/a.h5" "$T/r/sft.h5" || fail "OUT/sft.h5 differs from llmpi mix's store"
sft --mix "$MIX" --tokenizer "$T/tok" --set train.batch_size=4 --set train.max_steps=12 --resume auto \
    --out "$T/r" >"$T/r2.log" 2>"$T/stderr" || fail "sft --resume auto"
grep -q "matches the mix and tokenizer: reused" "$T/r2.log" || fail "OUT/sft.h5 not reused"
grep -q "resumed from .*step-00000006.h5" "$T/r2.log" || fail "resume did not start at step 6"
for g in /model /optim; do
    h5diff -d 0 "$(ck one 12)" "$(ck r 12)" $g >"$T/diff" 2>&1 || { head "$T/diff" >&2; fail "resumed sft differs in $g"; }
done

# ---- eval on the SFT store == the trainer's masked val loss ----
val=$(grep '"kind":"val"' "$T/one/metrics.jsonl" | tail -1)
"$BIN" eval --checkpoint "$(ck one 12)" --data "$T/a.h5" --split val --seq 64 --windows 4 --batch 3 --json \
    >"$T/eval.json" 2>"$T/stderr" || fail "eval on the SFT store"
python3 - "$T/eval.json" "$val" <<'PY' || fail "eval disagrees with the trainer's val loss"
import json, sys
e, v = json.load(open(sys.argv[1])), json.loads(sys.argv[2])
assert e["tokens"] == v["val_tokens"], (e, v)
assert abs(e["loss"] - v["val_loss"]) <= 1e-6 * abs(e["loss"]), (e, v)
PY

# ---- SIGTERM: a checkpoint at the step boundary, exit 0, and it resumes ----
"$BIN" sft --init "$INIT" --config "$SRC/configs/sft.ini" --set train.threads=1 --set train.seq_len=64 \
    --data "$T/a.h5" --set train.batch_size=4 --set train.max_steps=1000000 --set train.eval_every=0 \
    --set train.ckpt_every=0 --set train.log_every=1000 --out "$T/sig" >"$T/sig.log" 2>&1 &
job=$!
for _ in $(seq 100); do grep -q "step .*/1000000" "$T/sig.log" 2>/dev/null && break; sleep 0.1; done
kill -TERM $job
wait $job || fail "SIGTERM: sft exited with $?"
grep -q "stopping at step" "$T/sig.log" || fail "SIGTERM: no stop at a step boundary"
last=$(ls "$T/sig/checkpoints"/step-*.h5 2>/dev/null | tail -1)
[ -n "$last" ] || fail "SIGTERM: no checkpoint"
n=$(basename "$last" .h5 | sed 's/step-0*//')
sft --data "$T/a.h5" --set train.batch_size=4 --set train.max_steps=1000000 --set train.eval_every=0 \
    --set train.ckpt_every=0 --resume auto --stop-after $((n + 2)) --out "$T/sig" >"$T/sig2.log" 2>&1 \
    || fail "resume after SIGTERM"
[ -f "$(ck sig $((n + 2)))" ] || fail "resume after SIGTERM did not reach step $((n + 2))"

# ---- bad input: one line, non-zero exit, nothing written ----
expect_error() {
    local out=$1; shift
    "$@" >"$T/stdout" 2>"$T/stderr"
    local rc=$?
    [ "$rc" -ne 0 ] || fail "expected failure: $*"
    [ "$(wc -l <"$T/stderr")" -eq 1 ] || fail "expected one stderr line: $*"
    grep -q '^llmpi: ' "$T/stderr" || fail "no llmpi: prefix: $*"
    [ ! -e "$out" ] || fail "an output file was written: $*"
    ls "$(dirname "$out")" | grep -q '\.tmp\.' && fail "a temporary file was left: $*"
    return 0
}
printf '[mix]\n[source x]\npath = no/such/file.jsonl\n' >"$T/missing.ini"
expect_error "$T/bad1.h5" "$BIN" mix --mix "$T/missing.ini" --tokenizer "$T/tok" --out "$T/bad1.h5"
grep -q "no/such/file.jsonl" "$T/stderr" || fail "missing path not named"
printf '[mix]\n[source x]\npath = %s\nweight = -1\n' "$SRC/data/sft/gsm8k.jsonl" >"$T/neg.ini"
expect_error "$T/bad2.h5" "$BIN" mix --mix "$T/neg.ini" --tokenizer "$T/tok" --out "$T/bad2.h5"
grep -q "neg.ini:4:" "$T/stderr" || fail "weight < 0 not reported at its line"
expect_error "$T/bad3.h5" "$BIN" mix --mix "$MIX" --tokenizer bytes --out "$T/bad3.h5"
grep -q "<|user|>" "$T/stderr" || fail "the missing chat specials are not named"
expect_error "$T/bad4/sft.h5" "$BIN" sft --init "$INIT" --mix "$MIX" --tokenizer bytes --config "$SRC/configs/sft.ini" \
    --out "$T/bad4"
# a checkpoint of another tokenizer (bytes) is refused before anything is trained
"$BIN" prepare --tokenizer bytes --input "$SRC/data/tinyshakespeare.txt" --out "$T/bytes.h5" >/dev/null 2>&1 \
    || fail "prepare bytes"
"$BIN" pretrain --config "$SRC/configs/tiny.ini" --set train.threads=1 --set train.max_steps=1 --data "$T/bytes.h5" \
    --out "$T/prebytes" >/dev/null 2>&1 || fail "pretrain bytes"
expect_error "$T/bad5/checkpoints" "$BIN" sft --init "$(ck prebytes 1)" --data "$T/a.h5" \
    --config "$SRC/configs/sft.ini" --set train.seq_len=32 --out "$T/bad5"
grep -q "tokenizer bytes-v1" "$T/stderr" || fail "the tokenizer mismatch is not named"
# an existing store is never overwritten by a failed build
cp "$T/a.h5" "$T/keep.h5"
"$BIN" mix --mix "$T/neg.ini" --tokenizer "$T/tok" --out "$T/keep.h5" >/dev/null 2>&1 && fail "bad mix accepted"
cmp -s "$T/a.h5" "$T/keep.h5" || fail "a failed build changed an existing store"
echo "sft_cli: all checks passed"

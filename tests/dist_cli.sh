#!/usr/bin/env bash
# dist_cli.sh: data-parallel pretraining over MPI (2 ranks, oversubscribed):
# - 1 rank x batch B == 2 ranks x batch B/2, also with gradient accumulation
#   and with ZeRO-1 (parameters within 1e-5 absolute after 20 steps);
# - a plain process == `mpirun -np 1`, bit for bit;
# - 2-rank bit-exact resume (straight 30 steps == 15 + --resume auto 15);
# - SIGTERM to one rank mid-run: all ranks stop at a step boundary, exit 0,
#   leave a complete checkpoint that resumes;
# - kill -9 while a checkpoint is being written: the previous one stays
#   intact and `--resume auto` continues from it;
# - resuming on another rank count warns and works.
set -u
BIN=${LLMPI_BIN:?}
SRC=${LLMPI_SOURCE_DIR:?}
command -v mpirun >/dev/null || { echo "mpirun not found: skipping"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_ess_singleton_isolated=${OMPI_MCA_ess_singleton_isolated:-1}
T=$(mktemp -d /tmp/llmpi-dist-cli-XXXXXX)
trap 'pkill -9 -f "$T" 2>/dev/null; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; for f in "$T"/*.log; do [ -f "$f" ] && { echo "== $f" >&2; tail -5 "$f" >&2; }; done; exit 1; }
MPIRUN=(mpirun --oversubscribe --bind-to none)
train() { "$BIN" pretrain --config "$SRC/configs/tiny.ini" --set train.threads=1 --data "$T/s.h5" "$@"; }
train2() { "${MPIRUN[@]}" -np 2 "$BIN" pretrain --config "$SRC/configs/tiny.ini" --set train.threads=1 \
    --data "$T/s.h5" "$@"; }
# within a tolerance: the crc32c attributes differ with the values (tests/ckpt/h5diff_values.sh)
close() { "$SRC/tests/ckpt/h5diff_values.sh" 1e-5 "$1" "$2" /model >"$T/diff" 2>&1 || { head -20 "$T/diff" >&2; fail "$3"; }; }
same() { h5diff -d 0 "$1" "$2" "$3" >"$T/diff" 2>&1 || { head -20 "$T/diff" >&2; fail "$4"; }; }
ck() { echo "$T/$1/checkpoints/step-$(printf %08d "$2").h5"; }

"$BIN" prepare --tokenizer bytes --input "$SRC/data/tinyshakespeare.txt" --out "$T/s.h5" >/dev/null || fail prepare

# ---- the batch split does not change the result ----
train --set train.batch_size=4 --out "$T/one" >"$T/one.log" 2>&1 || fail "1 rank"
train2 --set train.batch_size=2 --out "$T/two" --check-sync 5 >"$T/two.log" 2>&1 || fail "2 ranks"
grep -q "check-sync: parameters identical on 2 ranks" "$T/two.log" || fail "check-sync did not run"
close "$(ck one 20)" "$(ck two 20)" "1x4 and 2x2 differ"
train --set train.batch_size=2 --set train.grad_accum=2 --out "$T/acc1" >"$T/acc1.log" 2>&1 || fail "1 rank accum"
train2 --set train.batch_size=1 --set train.grad_accum=2 --out "$T/acc2" >"$T/acc2.log" 2>&1 || fail "2 ranks accum"
close "$(ck one 20)" "$(ck acc1 20)" "1x4 and 1x2x2 (accumulation) differ"
close "$(ck one 20)" "$(ck acc2 20)" "1x4 and 2x1x2 (2 ranks, accumulation) differ"
train2 --set train.batch_size=2 --set train.zero=1 --set train.bucket_mb=0.01 --out "$T/zero" --check-sync 5 \
    >"$T/zero.log" 2>&1 || fail "ZeRO-1"
grep -q "ZeRO-1" "$T/zero.log" || fail "ZeRO-1 not reported"
close "$(ck one 20)" "$(ck zero 20)" "1x4 and ZeRO-1 2x2 differ"
"$SRC/tests/ckpt/h5diff_values.sh" 1e-6 "$(ck one 20)" "$(ck zero 20)" /optim >"$T/diff" 2>&1 \
    || fail "ZeRO-1 gathered moments differ"

# ---- a plain process is a world of one ----
"${MPIRUN[@]}" -np 1 "$BIN" pretrain --config "$SRC/configs/tiny.ini" --set train.threads=1 --data "$T/s.h5" \
    --set train.batch_size=4 --out "$T/np1" >"$T/np1.log" 2>&1 || fail "mpirun -np 1"
same "$(ck one 20)" "$(ck np1 20)" /model "plain process and mpirun -np 1 differ"

# ---- bit-exact resume on 2 ranks ----
train2 --set train.batch_size=2 --set train.max_steps=30 --out "$T/r1" >"$T/r1.log" 2>&1 || fail "straight 30"
train2 --set train.batch_size=2 --set train.max_steps=30 --stop-after 15 --out "$T/r2" >"$T/r2.log" 2>&1 || fail "stop 15"
train2 --set train.batch_size=2 --set train.max_steps=30 --resume auto --out "$T/r2" >"$T/r2b.log" 2>&1 || fail "resume"
grep -q "resumed from .*step-00000015.h5" "$T/r2b.log" || fail "2-rank resume did not start at 15"
same "$(ck r1 30)" "$(ck r2 30)" /model "2-rank resume differs (model)"
same "$(ck r1 30)" "$(ck r2 30)" /optim "2-rank resume differs (optimizer)"

# ---- SIGTERM to one rank: agreed stop, checkpoint, exit 0, resumable ----
train2 --set train.batch_size=2 --set train.max_steps=1000000 --set train.ckpt_every=0 --set train.eval_every=0 \
    --set train.log_every=1000 --out "$T/sig" >"$T/sig.log" 2>&1 &
job=$!
for _ in $(seq 100); do grep -q "step .*/1000000" "$T/sig.log" 2>/dev/null && break; sleep 0.1; done
victim=$(pgrep -f "pretrain.*$T/sig" | while read -r p; do [ "$(ps -o comm= -p "$p")" = llmpi ] && echo "$p"; done | tail -1)
[ -n "$victim" ] || fail "no rank to signal"
kill -TERM "$victim"
wait $job || fail "SIGTERM: job exited with $?"
grep -q "stopping at step" "$T/sig.log" || fail "SIGTERM: no agreed stop"
last=$(ls "$T/sig/checkpoints"/step-*.h5 2>/dev/null | tail -1)
[ -n "$last" ] || fail "SIGTERM: no checkpoint"
n=$(basename "$last" .h5 | sed 's/step-0*//')
"$BIN" info "$last" >/dev/null 2>&1 || fail "SIGTERM checkpoint unreadable"
train2 --set train.batch_size=2 --set train.max_steps=1000000 --set train.ckpt_every=0 --set train.eval_every=0 \
    --resume auto --stop-after $((n + 3)) --out "$T/sig" >"$T/sig2.log" 2>&1 || fail "resume after SIGTERM"
[ -f "$(ck sig $((n + 3)))" ] || fail "resume after SIGTERM did not reach step $((n + 3))"

# ---- a rank that dies ends the job (no hang); the last checkpoint resumes ----
train2 --set train.batch_size=2 --set train.max_steps=1000000 --set train.ckpt_every=50 --set train.eval_every=0 \
    --set train.log_every=1000 --out "$T/dead" >"$T/dead.log" 2>&1 &
job=$!
for _ in $(seq 200); do [ -f "$T/dead/checkpoints/step-00000050.h5" ] && break; sleep 0.1; done
victim=$(pgrep -f "pretrain.*$T/dead" | while read -r p; do [ "$(ps -o comm= -p "$p")" = llmpi ] && echo "$p"; done | tail -1)
[ -n "$victim" ] || fail "no rank to kill"
kill -KILL "$victim"
t0=$SECONDS
for _ in $(seq 300); do kill -0 $job 2>/dev/null || break; sleep 0.1; done
kill -0 $job 2>/dev/null && fail "job still running 30 s after a rank died"
wait $job && fail "job whose rank died exited 0"
echo "dead rank: job ended after $((SECONDS - t0)) s"
train2 --set train.batch_size=2 --set train.max_steps=1000000 --set train.ckpt_every=50 --set train.eval_every=0 \
    --resume auto --stop-after 55 --out "$T/dead" >"$T/dead2.log" 2>&1 || fail "resume after a dead rank"
grep -q "resumed from" "$T/dead2.log" || fail "no resume after a dead rank"

# ---- kill -9 while writing a checkpoint ----
LLMPI_FAULT_KILL_IN_CKPT=20 train --set train.batch_size=4 --set train.max_steps=30 --out "$T/k9" >"$T/k9.log" 2>&1
[ $? -ne 0 ] || fail "fault injection did not kill the run"
grep -q "fault injection: killed while writing" "$T/k9.log" || fail "the kill did not happen inside the checkpoint write"
[ ! -e "$(ck k9 20)" ] || fail "a half-written step-20 checkpoint is visible"
"$BIN" info "$(ck k9 10)" >/dev/null 2>&1 || fail "step-10 checkpoint damaged by the kill"
train --set train.batch_size=4 --set train.max_steps=30 --resume auto --out "$T/k9" >"$T/k9b.log" 2>&1 || fail "resume after kill -9"
grep -q "resumed from .*step-00000010.h5" "$T/k9b.log" || fail "did not resume from the intact step 10"
train --set train.batch_size=4 --set train.max_steps=30 --out "$T/k9ref" >/dev/null 2>&1 || fail "reference run"
same "$(ck k9ref 30)" "$(ck k9 30)" /model "run resumed after kill -9 differs from an uninterrupted one"

# ---- another rank count: a warning, and it trains on ----
train --set train.batch_size=2 --set train.max_steps=30 --resume "$(ck r2 20)" --stop-after 25 --out "$T/x" \
    >"$T/x.log" 2>&1 || fail "resume on 1 rank from a 2-rank checkpoint"
grep -q "written by 2 ranks, resuming on 1" "$T/x.log" || fail "no warning on a rank-count change"
# ---- a damaged store: rank 0 checks its checksums once, every rank stops with one line ----
cp "$T/s.h5" "$T/bad.h5"
python3 - "$T/bad.h5" <<'PY'
import os, sys
p = sys.argv[1]
with open(p, "r+b") as f:          # the middle of the file lies in the train tokens
    f.seek(os.path.getsize(p) // 2)
    b = f.read(1)
    f.seek(-1, 1)
    f.write(bytes([b[0] ^ 0x01]))
PY
"${MPIRUN[@]}" -np 2 "$BIN" pretrain --config "$SRC/configs/tiny.ini" --set train.threads=1 --data "$T/bad.h5" \
    --out "$T/bad" >"$T/bad.log" 2>"$T/bad.err" && fail "trained on a damaged store"
[ "$(grep -c '^llmpi: ' "$T/bad.err")" -eq 1 ] && grep -q "bad.h5: .*content checksum mismatch" "$T/bad.err" \
    || fail "damaged store, 2 ranks: $(cat "$T/bad.err")"
[ ! -e "$T/bad/checkpoints" ] || fail "a run started on a damaged store"
echo "dist_cli: all checks passed"

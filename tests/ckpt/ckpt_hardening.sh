#!/usr/bin/env bash
# ckpt_hardening.sh: issue 9, checkpoints and training runs, end to end:
#   - pretrain into a directory that holds a run is refused (one line naming
#     --resume auto and --force) and the run is untouched; --force starts over;
#   - empty paths are refused (nothing written into /);
#   - keep_checkpoints=1 with a junk step-99999999.h5: the run's own newest
#     checkpoint survives, the junk is not deleted, resume skips it with one warning;
#   - --resume auto falls back past a damaged newest checkpoint (bit flip,
#     missing /optim, a directory in its place) with ONE warning line;
#   - NaN weights (checksum consistent) and a flipped bit: one clear error
#     naming the tensor, from sample and from resume; loader position 2^64-1 refused;
#   - asynchronous checkpoints: steps go on during a (slowed) background
#     write; kill -9 inside it leaves the previous checkpoint, which resumes
#     bit-exactly; keep-last-K holds;
#   - a full disk (2 MB tmpfs; skipped without mount rights) ends the run
#     with one line and exit 1, no crash, no temporary left, also under mpirun.
set -u
BIN=${LLMPI_BIN:?LLMPI_BIN must point at the llmpi binary}
SRC=${LLMPI_SOURCE_DIR:?}
EDIT="$SRC/tests/ckpt/ckpt_edit.py"
export OMPI_MCA_ess_singleton_isolated=${OMPI_MCA_ess_singleton_isolated:-1}
T=$(mktemp -d /tmp/llmpi-ckpt-hard-XXXXXX)
cleanup() { mountpoint -q "$T/full" 2>/dev/null && umount "$T/full"; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$T/stderr" ] && sed 's/^/  stderr: /' "$T/stderr" >&2; exit 1; }
train() { "$BIN" pretrain --config "$SRC/configs/tiny.ini" --set train.threads=1 --set train.eval_every=0 \
    --data "$T/s.h5" "$@"; }
ck() { echo "$T/$1/checkpoints/step-$(printf %08d "$2").h5"; }
# one stderr line, non-zero exit, containing $1
expect_error() {
    local needle=$1; shift
    "$@" >"$T/stdout" 2>"$T/stderr"
    local rc=$?
    [ "$rc" -ne 0 ] || fail "expected failure: $*"
    [ "$rc" -lt 128 ] || fail "killed by a signal ($rc): $*"
    [ "$(wc -l <"$T/stderr")" -eq 1 ] || fail "expected one stderr line: $*"
    grep -q '^llmpi: ' "$T/stderr" || fail "no llmpi: prefix: $*"
    grep -qF -- "$needle" "$T/stderr" || fail "stderr lacks '$needle': $*"
}
# exactly one warning line on stderr, containing $1
expect_one_warning() {
    [ "$(wc -l <"$T/stderr")" -eq 1 ] || fail "expected exactly one stderr line"
    grep -q '^llmpi: warning: ' "$T/stderr" || fail "the line is not a warning"
    grep -qF -- "$1" "$T/stderr" || fail "warning lacks '$1'"
}

"$BIN" prepare --tokenizer bytes --input "$SRC/data/tinyshakespeare.txt" --out "$T/s.h5" >/dev/null 2>"$T/stderr" \
    || fail "prepare"

# ---- an existing run is never overwritten without --resume or --force ----
train --set train.max_steps=4 --out "$T/a" >/dev/null 2>"$T/stderr" || fail "first run"
sum_before=$(cat "$T/a/metrics.jsonl" "$(ck a 4)" | sha256sum)
expect_error "--resume auto" train --set train.max_steps=4 --out "$T/a"
grep -qF -- "--force" "$T/stderr" || fail "the refusal does not mention --force"
[ "$(cat "$T/a/metrics.jsonl" "$(ck a 4)" | sha256sum)" = "$sum_before" ] || fail "the refused run changed files"
expect_error "give one of them" train --set train.max_steps=4 --out "$T/a" --force --resume auto
# metrics alone also mark a run
mkdir -p "$T/m" && echo '{}' >"$T/m/metrics.jsonl"
expect_error "--resume auto" train --set train.max_steps=2 --out "$T/m"
# --force: starts over; the old run's checkpoints and metrics go, other files stay
train --set train.max_steps=6 --set train.ckpt_every=2 --out "$T/f" >/dev/null 2>"$T/stderr" || fail "run f"
echo mine >"$T/f/notes.txt"
train --set train.max_steps=2 --out "$T/f" --force >/dev/null 2>"$T/stderr" || fail "--force"
[ -f "$(ck f 2)" ] || fail "--force run wrote no checkpoint"
[ ! -e "$(ck f 6)" ] && [ ! -e "$(ck f 4)" ] || fail "--force left the old run's checkpoints"
[ "$(grep -c '"kind":"train"' "$T/f/metrics.jsonl")" -eq 2 ] || fail "--force kept the old metrics"
[ -f "$T/f/notes.txt" ] || fail "--force deleted a file that is not the run's"
# an empty directory, or one with a config.ini only, is fine
mkdir -p "$T/e"
train --set train.max_steps=1 --out "$T/e" >/dev/null 2>"$T/stderr" || fail "empty run directory refused"

# ---- empty paths ----
[ -e /metrics.jsonl ] && root_had_metrics=1 || root_had_metrics=0
expect_error "--out: empty path" train --set train.max_steps=1 --out ''
expect_error "--data: empty path" "$BIN" pretrain --config "$SRC/configs/tiny.ini" --data '' --out "$T/x"
expect_error "--resume: empty path" train --set train.max_steps=1 --out "$T/x" --resume ''
[ "$root_had_metrics" = 1 ] || [ ! -e /metrics.jsonl ] || fail "--out '' wrote into /"
[ ! -e "$T/x" ] || fail "a refused pretrain created its run directory"

# ---- pruning with a junk newest file (keep_checkpoints=1) ----
mkdir -p "$T/p/checkpoints"
head -c 3000 "$(ck a 4)" >"$T/p/checkpoints/step-99999999.h5"
train --set train.max_steps=6 --set train.ckpt_every=2 --set train.keep_checkpoints=1 --out "$T/p" --resume auto \
    >/dev/null 2>"$T/stderr" || fail "run next to a junk checkpoint"
expect_one_warning "step-99999999.h5"
[ -f "$(ck p 6)" ] || fail "pruning deleted the run's newest checkpoint"
[ ! -e "$(ck p 4)" ] && [ ! -e "$(ck p 2)" ] || fail "pruning kept older checkpoints"
[ -f "$T/p/checkpoints/step-99999999.h5" ] || fail "pruning deleted a file it could not read"
train --set train.max_steps=8 --out "$T/p" --resume auto >"$T/p.log" 2>"$T/stderr" || fail "resume next to junk"
expect_one_warning "step-99999999.h5"
grep -q "resumed from .*step-00000006.h5" "$T/p.log" || fail "did not resume from step 6"

# ---- --resume auto falls back past damaged newest checkpoints, one warning each ----
train --set train.max_steps=8 --set train.ckpt_every=4 --set train.keep_checkpoints=0 --out "$T/r" \
    >/dev/null 2>"$T/stderr" || fail "run r"
cp "$(ck r 8)" "$T/r8.h5"
offset=$(h5dump -p -d /model/wpe "$(ck r 8)" | sed -n 's/.*OFFSET \([0-9]*\).*/\1/p' | head -1)
[ -n "$offset" ] || fail "no data offset for /model/wpe"
byte=$(od -An -tu1 -j "$offset" -N1 "$(ck r 8)" | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 1)))" | dd of="$(ck r 8)" bs=1 seek="$offset" conv=notrunc status=none
expect_error "/model/wpe: checksum mismatch" "$BIN" sample --checkpoint "$(ck r 8)" --prompt hi --max-tokens 2
# llmpi info: header only without --verify; --verify reads every tensor
"$BIN" info "$(ck r 8)" >"$T/info" 2>"$T/stderr" || fail "info on a checkpoint with a flipped data bit"
grep -q "^checksums   crc32c (not verified" "$T/info" || fail "info: checksum line: $(cat "$T/info")"
expect_error "/model/wpe: checksum mismatch" "$BIN" info --verify "$(ck r 8)"
"$BIN" info --verify "$T/r8.h5" >"$T/info" 2>"$T/stderr" || fail "info --verify on a good checkpoint"
grep -q "^checksums   crc32c: every tensor verified" "$T/info" || fail "info --verify: $(cat "$T/info")"
train --set train.max_steps=8 --out "$T/r" --resume auto >"$T/r.log" 2>"$T/stderr" || fail "resume past a bit flip"
expect_one_warning "step-00000008.h5: /model/wpe: checksum mismatch"
grep -q "resumed from .*step-00000004.h5" "$T/r.log" || fail "bit flip: did not fall back to step 4"
rm -f "$(ck r 8)" && mkdir "$(ck r 8)"
train --set train.max_steps=8 --stop-after 6 --out "$T/r" --resume auto >"$T/r.log" 2>"$T/stderr" \
    || fail "resume past a directory"
expect_one_warning "not a regular file"
grep -q "resumed from .*step-00000004.h5" "$T/r.log" || fail "directory: did not fall back to step 4"
rmdir "$(ck r 8)"
rm -f "$(ck r 6)"
cp "$T/r8.h5" "$(ck r 8)"
"$BIN" pretrain --config "$SRC/configs/tiny.ini" --set train.threads=1 --set train.max_steps=8 --data "$T/s.h5" \
    --out "$T/r" --resume auto --no-verify >"$T/r.log" 2>"$T/stderr" || fail "resume --no-verify"
grep -q "resumed from .*step-00000008.h5" "$T/r.log" || fail "--no-verify did not take the step-8 checkpoint"

# ---- NaN weights, huge loader position: refused, naming what ----
cp "$T/r8.h5" "$T/nan.h5"
python3 "$EDIT" "$T/nan.h5" /model/wte 7 nan || fail "ckpt_edit.py"
expect_error "/model/wte: 1 non-finite values" "$BIN" sample --checkpoint "$T/nan.h5" --prompt hi --max-tokens 2
expect_error "/model/wte: 1 non-finite values" "$BIN" eval --checkpoint "$T/nan.h5" --data "$T/s.h5" --split val \
    --windows 2
expect_error "/model/wte: 1 non-finite values" train --set train.max_steps=9 --out "$T/n" --resume "$T/nan.h5"
cp "$T/r8.h5" "$T/nanm.h5"
python3 "$EDIT" "$T/nanm.h5" /optim/m/h.0.ln_1.bias 0 inf || fail "ckpt_edit.py"
expect_error "/optim/m/h.0.ln_1.bias: 1 non-finite" train --set train.max_steps=9 --out "$T/n" --resume "$T/nanm.h5"
for pos in 18446744073709551615 100000000000; do
    cp "$T/r8.h5" "$T/pos.h5"
    python3 "$EDIT" "$T/pos.h5" /state/loader_position 0 $pos || fail "ckpt_edit.py"
    expect_error "loader position $pos" train --set train.max_steps=9 --out "$T/n" --resume "$T/pos.h5"
done

# ---- asynchronous checkpoints: training goes on while one is written; kill -9
# during that write leaves the previous checkpoint, which resumes bit-exactly ----
LLMPI_FAULT_SLOW_CKPT_MS=1500 LLMPI_FAULT_KILL_IN_CKPT=6 train --set train.max_steps=12 --set train.ckpt_every=3 \
    --set train.log_every=1 --out "$T/as" >"$T/as.log" 2>&1 && fail "fault injection did not kill the run"
grep -q "fault injection: killed while writing" "$T/as.log" || fail "the kill did not happen inside the write"
grep -q "checkpoint begun" "$T/as.log" || fail "no background checkpoint"
# the step-6 write was paused 1.5 s before the kill: steps 7 and 8 ran meanwhile
grep -q "^step      8/" "$T/as.log" || fail "training did not go on during the background write: $(tail -5 "$T/as.log")"
[ ! -e "$(ck as 6)" ] || fail "a half-written step-6 checkpoint is visible"
"$BIN" info "$(ck as 3)" >/dev/null 2>&1 || fail "step-3 checkpoint damaged by the kill"
train --set train.max_steps=12 --set train.ckpt_every=3 --resume auto --out "$T/as" >"$T/as2.log" 2>&1 \
    || fail "resume after kill -9 during a background write"
grep -q "resumed from .*step-00000003.h5" "$T/as2.log" || fail "did not resume from the intact step 3"
train --set train.max_steps=12 --set train.ckpt_every=3 --out "$T/asref" >/dev/null 2>&1 || fail "reference run"
for g in /model /optim /state; do
    h5diff -d 0 "$(ck asref 12)" "$(ck as 12)" $g >/dev/null 2>&1 || fail "resumed run differs in $g"
done
# keep-last-K (tiny.ini: 2) after background writes: steps 9 and 12 of 3, 6, 9, 12
[ "$(ls "$T/as/checkpoints" | grep -c '^step-.*\.h5$')" -eq 2 ] && [ -e "$(ck as 9)" ] \
    || fail "pruning to 3: $(ls "$T/as/checkpoints")"

# ---- a full disk: one line, exit 1, no crash, nothing left behind ----
mkdir -p "$T/full"
if mount -t tmpfs -o size=256k tmpfs "$T/full" 2>/dev/null; then
    expect_error "No space left on device" train --set train.max_steps=2 --out "$T/full/r"
    ls "$T/full/r/checkpoints" | grep -q . && fail "a failed save left files: $(ls "$T/full/r/checkpoints")"
    if command -v mpirun >/dev/null; then
        mpirun --oversubscribe --bind-to none -np 2 "$BIN" pretrain --config "$SRC/configs/tiny.ini" \
            --set train.threads=1 --set train.max_steps=2 --data "$T/s.h5" --out "$T/full/r2" >"$T/stdout" 2>"$T/stderr"
        rc=$?
        [ $rc -ne 0 ] || fail "mpirun: a failed save exited 0"
        grep -q "Signal\|signal\|Segmentation" "$T/stderr" && fail "mpirun: a rank crashed after a failed save"
        grep -q "No space left on device" "$T/stderr" || fail "mpirun: no disk-full line"
    fi
    umount "$T/full"
else
    echo "ckpt_hardening: cannot mount a tmpfs here: disk-full case skipped"
fi
echo "ckpt_hardening: all checks passed"

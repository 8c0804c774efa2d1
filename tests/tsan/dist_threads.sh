#!/usr/bin/env bash
# dist_threads.sh: 2-rank pretraining with many small gradient buckets, so the
# reducer's communication thread runs collectives while the main thread is
# still in backward (DDP, then ZeRO-1). Written for the ThreadSanitizer build,
# where any race fails the ranks; in every build it also checks that both
# runs finish, leave their final checkpoint, and that the ranks' replicas
# agree (ZeRO-1 == DDP within 1e-5 after the same steps).
set -u
BIN=${LLMPI_BIN:?}
SRC=${LLMPI_SOURCE_DIR:?}
command -v mpirun >/dev/null || { echo "mpirun not found: skipping"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
T=$(mktemp -d /tmp/llmpi-dist-threads-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; for f in "$T"/*.log; do [ -f "$f" ] && { echo "== $f" >&2; tail -20 "$f" >&2; }; done; exit 1; }

"$BIN" prepare --tokenizer bytes --input "$SRC/data/tinyshakespeare.txt" --out "$T/s.h5" >"$T/prepare.log" 2>&1 ||
  fail prepare
for zero in 0 1; do
  # 0.01 MiB buckets: 2,621 floats, about 14 buckets for the 34,720 parameters
  mpirun --oversubscribe --bind-to none -np 2 "$BIN" pretrain --config "$SRC/configs/tiny.ini" \
    --set train.threads=1 --set train.max_steps=4 --set train.bucket_mb=0.01 --set train.zero=$zero \
    --set train.eval_every=0 --data "$T/s.h5" --out "$T/z$zero" >"$T/z$zero.log" 2>&1 || fail "2 ranks, zero=$zero"
  grep -q "buckets" "$T/z$zero.log" || fail "zero=$zero: no bucketed reducer in the log"
  [ -f "$T/z$zero/checkpoints/step-00000004.h5" ] || fail "zero=$zero: no final checkpoint"
done
"$SRC/tests/ckpt/h5diff_values.sh" 1e-5 "$T/z0/checkpoints/step-00000004.h5" "$T/z1/checkpoints/step-00000004.h5" /model >"$T/diff.log" 2>&1 ||
  fail "ZeRO-1 and DDP differ after 4 steps"
echo "ok: DDP and ZeRO-1 with an overlapped communication thread"

#!/usr/bin/env bash
# infer_bench.sh: generation speed on the GPT-2 124M shape (random weights),
# one JSON line per result:
#   stream          memory bandwidth (stream_bw: copy and read GB/s)
#   infer decode    batch-1 decode tok/s on the KV cache (16-token prompt, N steps)
#   infer prefill   one batched step of a 512-token prompt
#   infer train_forward  the training forward (gpt_forward with targets) on 512 tokens
#   summary         per thread count: decode vs the bandwidth bound (bytes per token /
#                   measured read bandwidth), prefill vs the training forward
#
#   benchmarks/infer_bench.sh [--threads "1 2"] [--tokens 128] [--build-dir build] [--torch]
# --torch adds a PyTorch KV-cache decode loop of the same shape (benchmarks/torch_decode_peer.py).
# Run it on a quiet machine: it measures, it does not check.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${LLMPI_BUILD_DIR:-$ROOT/build}
THREADS="1 2"
TOKENS=128
TORCH=0
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) THREADS=$2; shift 2 ;;
    --tokens) TOKENS=$2; shift 2 ;;
    --build-dir) BUILD=$2; shift 2 ;;
    --torch) TORCH=1; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "infer_bench: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$BUILD/infer_bench" ] && [ -x "$BUILD/stream_bw" ] || { echo "infer_bench: build first (scripts/build)" >&2; exit 2; }
SHAPE=(--layers 12 --heads 12 --embd 768 --vocab 50257 --block-size 1024)
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
for t in $THREADS; do
  "$BUILD/stream_bw" --threads "$t" | tee -a "$OUT"
  "$BUILD/infer_bench" --mode decode "${SHAPE[@]}" --threads "$t" --prompt 16 --tokens "$TOKENS" | tee -a "$OUT"
  "$BUILD/infer_bench" --mode prefill "${SHAPE[@]}" --threads "$t" --prompt 512 --reps 3 | tee -a "$OUT"
  "$BUILD/infer_bench" --mode train_forward "${SHAPE[@]}" --threads "$t" --prompt 512 --reps 3 | tee -a "$OUT"
  if [ "$TORCH" = 1 ]; then
    /usr/bin/python3 "$ROOT/benchmarks/torch_decode_peer.py" --threads "$t" --tokens "$TOKENS" | tee -a "$OUT"
  fi
done
python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
for t in sorted({r["threads"] for r in rows}):
    get = lambda **k: next((r for r in rows if r["threads"] == t and all(r.get(a) == b for a, b in k.items())), None)
    s, d, p, f = get(bench="stream"), get(mode="decode"), get(mode="prefill"), get(mode="train_forward")
    out = {"bench": "summary", "threads": t}
    if s and d:
        bound = s["read_gbs"] * 1e9 / d["bytes_per_token"]
        out.update(decode_tok_s=d["tok_s"], bound_tok_s=round(bound, 2), of_bound=round(d["tok_s"] / bound, 3),
                   bound_copy_tok_s=round(s["copy_gbs"] * 1e9 / d["bytes_per_token"], 2))
    if p and f:
        out.update(prefill_tok_s=p["tok_s"], train_forward_tok_s=f["tok_s"], prefill_vs_train=round(p["tok_s"] / f["tok_s"], 3))
    tp = get(bench="torch_decode")
    if tp and d:
        out.update(torch_decode_tok_s=tp["tok_s"], vs_torch=round(d["tok_s"] / tp["tok_s"], 2))
    print(json.dumps(out))
PY

#!/usr/bin/env bash
# infer_bench.sh: generation speed, llmpi and its peers side by side in one
# invocation, one JSON line per result. Random GPT-2-initialised weights,
# written once per shape as a checkpoint that every program then runs.
#
# Per thread count and shape (tiny 2x32, small 6x384, 124m 12x768; vocab 257
# for tiny, 50257 otherwise):
#   stream          memory bandwidth (stream_bw: copy and read GB/s), once per thread count
#   infer decode    batch-1 greedy decode tok/s on the KV cache (16-token prompt, N steps)
#   torch_decode    the same decode in PyTorch (torch_decode_peer.py) on the same weights
#   infer prefill   one batched step of a 512-token prompt (the context, if shorter)
#   infer train_forward  the training forward (gpt_forward with targets) on as many tokens
#   summary         decode vs PyTorch, decode vs the bandwidth bound (bytes per token /
#                   measured read bandwidth), prefill vs the training forward
# Overhead (vocab 257 so the byte tokenizer serves them, all cores; tiny only draws 15
# tokens, a smoke run rather than a figure): tok/s of N greedy tokens as (N - 1) / (time of N - time of 1), best of R:
# (benchmarks/infer_overhead.py, rounds interleaving the three):
#   generate        the library's loop (infer_bench --mode generate: infer_generate, text discarded)
#   sample          `llmpi sample --temperature 0 --max-tokens N` (wall clock of the command)
#   serve           `llmpi serve`, a streaming /v1/completions request (wall clock at the client)
#   overhead        sample / generate and serve / generate (goal >= 0.95)
#
#   benchmarks/infer_bench.sh [--threads "1 2"] [--tokens 128] [--shapes "tiny small 124m"]
#                             [--build-dir build] [--no-torch] [--no-overhead]
# Run it on a quiet machine: it measures, it does not check (beyond the runs succeeding
# and the peers drawing the same greedy ids).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${LLMPI_BUILD_DIR:-$ROOT/build}
THREADS="1 2"
TOKENS=128
SHAPES="tiny small 124m"
TORCH=1
OVERHEAD=1
PY=/usr/bin/python3
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) THREADS=$2; shift 2 ;;
    --tokens) TOKENS=$2; shift 2 ;;
    --shapes) SHAPES=$2; shift 2 ;;
    --build-dir) BUILD=$2; shift 2 ;;
    --no-torch) TORCH=0; shift ;;
    --no-overhead) OVERHEAD=0; shift ;;
    -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "infer_bench: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -x "$BUILD/infer_bench" ] && [ -x "$BUILD/stream_bw" ] && [ -x "$BUILD/llmpi" ] \
  || { echo "infer_bench: build first (scripts/build)" >&2; exit 2; }
. "$(dirname "${BASH_SOURCE[0]}")/blas_core.sh"; same_blas_kernels "$BUILD/llmpi"
if [ "$TORCH" = 1 ] && ! $PY -c "import torch, h5py" 2>/dev/null; then
  echo "infer_bench: python3-torch / python3-h5py missing: no PyTorch peer" >&2
  TORCH=0
fi
W=$(mktemp -d /tmp/llmpi-infer-bench-XXXXXX)
SERVER_PID=
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
OUT=$W/results.jsonl

# shape NAME VOCAB -> the infer_bench/peer arguments
shape_args() {
  case "$1" in
    tiny) echo "--layers 2 --heads 2 --embd 32 --block-size 32 --vocab $2" ;;
    small) echo "--layers 6 --heads 6 --embd 384 --block-size 256 --vocab $2" ;;
    124m) echo "--layers 12 --heads 12 --embd 768 --block-size 1024 --vocab $2" ;;
    *) echo "infer_bench: unknown shape $1 (tiny, small, 124m)" >&2; exit 2 ;;
  esac
}
arg() { local key=$1; shift; while [ $# -gt 1 ]; do [ "$1" = "$key" ] && { echo "$2"; return; }; shift; done; }
min() { [ "$1" -lt "$2" ] && echo "$1" || echo "$2"; }
emit() { echo "$1" | tee -a "$OUT"; }
tag() { $PY -c 'import json,sys; d=json.loads(sys.argv[1]); d.update(json.loads(sys.argv[2])); print(json.dumps(d))' "$1" "$2"; }

PROMPT=16
for t in $THREADS; do
  emit "$("$BUILD/stream_bw" --threads "$t")"
  for s in $SHAPES; do
    vocab=50257; [ "$s" = tiny ] && vocab=257
    read -r -a SA <<<"$(shape_args "$s" "$vocab")"
    block=$(arg --block-size "${SA[@]}")
    heads=$(arg --heads "${SA[@]}")
    ck=$W/$s-$vocab.h5
    n=$(min "$TOKENS" $((block - PROMPT)))
    p=$(min 512 "$block")
    emit "$(tag "$("$BUILD/infer_bench" --mode decode "${SA[@]}" --threads "$t" --prompt $PROMPT --tokens "$n" \
                 --save "$ck")" "{\"shape\":\"$s\"}")"
    if [ "$TORCH" = 1 ]; then
      emit "$(tag "$($PY "$ROOT/benchmarks/torch_decode_peer.py" --ckpt "$ck" --heads "$heads" --threads "$t" \
                   --prompt $PROMPT --tokens "$n")" "{\"shape\":\"$s\"}")"
    fi
    emit "$(tag "$("$BUILD/infer_bench" --mode prefill "${SA[@]}" --threads "$t" --prompt "$p" --tokens 1 --reps 3)" \
               "{\"shape\":\"$s\"}")"
    emit "$(tag "$("$BUILD/infer_bench" --mode train_forward "${SA[@]}" --threads "$t" --prompt "$p" --tokens 1 \
                 --reps 3)" \
               "{\"shape\":\"$s\"}")"
  done
done

# ---- overhead of `sample` and `serve` over the bare loop ----
# Rounds interleave the three (a shared machine's load then weighs on each alike);
# each figure takes the best time of N tokens and of 1 token over the rounds.
if [ "$OVERHEAD" = 1 ]; then
  cores=$(nproc)
  for s in $SHAPES; do
    read -r -a SA <<<"$(shape_args "$s" 257)"
    n=200; reps=4
    [ "$s" = 124m ] && { n=100; reps=2; }
    [ "$s" = tiny ] && { n=15; reps=1; }   # the context's 32 less the prompt and one: too short to time, a smoke run
    ck=$W/$s-257.h5
    "$BUILD/infer_bench" --mode prefill "${SA[@]}" --prompt 16 --tokens 1 --reps 1 --save "$ck" >/dev/null
    "$BUILD/llmpi" serve --checkpoint "$ck" --port 0 --threads "$cores" >"$W/serve.out" 2>"$W/serve.err" &
    SERVER_PID=$!
    for _ in $(seq 300); do grep -q "listening on" "$W/serve.out" 2>/dev/null && break; sleep 0.1; done
    url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$W/serve.out")
    [ -n "$url" ] || { cat "$W/serve.err" >&2; echo "infer_bench: serve did not start" >&2; exit 1; }
    $PY "$ROOT/benchmarks/infer_overhead.py" --build-dir "$BUILD" --ckpt "$ck" --url "$url" --tokens $n --rounds $reps \
        --threads "$cores" --shape "$s" --bench-args "${SA[*]}" | tee -a "$OUT"
    kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
  done
fi

$PY - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def get(**k):
    return next((r for r in rows if all(r.get(a) == b for a, b in k.items())), None)
for t in sorted({r["threads"] for r in rows if r.get("bench") in ("infer", "stream") and r.get("mode") != "generate"}):
    s = get(bench="stream", threads=t)
    for shape in dict.fromkeys(r["shape"] for r in rows if r.get("shape")):
        d, p, f = (get(bench="infer", mode=m, threads=t, shape=shape) for m in ("decode", "prefill", "train_forward"))
        if not d:
            continue
        out = {"bench": "summary", "shape": shape, "threads": t, "decode_tok_s": d["tok_s"]}
        if s:
            bound = s["read_gbs"] * 1e9 / d["bytes_per_token"]
            out.update(bound_tok_s=round(bound, 2), of_bound=round(d["tok_s"] / bound, 3))
        tp = get(bench="torch_decode", threads=t, shape=shape)
        if tp:
            out.update(torch_decode_tok_s=tp["tok_s"], vs_torch=round(d["tok_s"] / tp["tok_s"], 2),
                       same_ids=tp["ids"] == d["ids"])
        if p and f:
            out.update(prefill_tok_s=p["tok_s"], train_forward_tok_s=f["tok_s"],
                       prefill_vs_train=round(p["tok_s"] / f["tok_s"], 3))
        print(json.dumps(out))
for shape in dict.fromkeys(r["shape"] for r in rows if r.get("bench") == "generate"):
    g, sa, sv = get(bench="generate", shape=shape), get(bench="sample", shape=shape), get(bench="serve", shape=shape)
    ratio = lambda x, y: round(x / y, 3) if x and y else None
    out = {"bench": "overhead", "shape": shape, "threads": g["threads"], "generate_tok_s": g["tok_s"]}
    if sa:
        out.update(sample_tok_s=sa["tok_s"], sample_vs_generate=ratio(sa["tok_s"], g["tok_s"]))
    if sv:
        out.update(serve_tok_s=sv["tok_s"], serve_vs_generate=ratio(sv["tok_s"], g["tok_s"]))
    if sa and sv:
        out.update(serve_vs_sample=ratio(sv["tok_s"], sa["tok_s"]))
    print(json.dumps(out))
PY

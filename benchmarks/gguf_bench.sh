#!/usr/bin/env bash
# gguf_bench.sh: `llmpi export --format gguf` speed and llama.cpp vs llmpi
# decode on the same weights, one JSON line per result:
#   export      f32 export of the checkpoint: the write phase's MB/s (as
#               llmpi reports it: convert + write + fsync + rename) and the
#               whole command's wall time (checkpoint load included)
#   dd          dd of the same number of bytes (bs=4M, conv=fsync) to the same
#               folder: the disk's write speed
#   llmpi_decode      `llmpi sample --temperature 0 --json` decode tok/s (f32)
#   llama_cpp_decode  node-llama-cpp's llama.cpp on the exported f32 and q8_0 GGUF
#   summary     per thread count: llmpi f32 vs llama.cpp f32 and q8_0
#
#   benchmarks/gguf_bench.sh [--checkpoint C.h5] [--threads "1 2"] [--tokens 64]
#                            [--build-dir build] [--npm-dir build/npm-gguf] [--dir DIR]
# Without --checkpoint it makes the GPT-2 124M shape (12 layers, 12 heads,
# 768 wide, context 1024, vocab 50257: a BPE trained on ../shared/data
# gutenberg, one training step) in DIR (default a temporary folder). Threads
# are pinned with taskset (cores 0..t-1) for both programs. Needs node-llama-cpp
# in NPM_DIR (tests/export/gguf.sh installs it). Measures, does not check.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build
THREADS="1 2"
TOKENS=64
CKPT=
NPM=
DIR=
while [ $# -gt 0 ]; do
  case "$1" in
    --checkpoint) CKPT=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --tokens) TOKENS=$2; shift 2 ;;
    --build-dir) BUILD=$2; shift 2 ;;
    --npm-dir) NPM=$2; shift 2 ;;
    --dir) DIR=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gguf_bench: unknown option $1" >&2; exit 2 ;;
  esac
done
NPM=${NPM:-$BUILD/npm-gguf}
BIN=$BUILD/llmpi
[ -x "$BIN" ] || { echo "gguf_bench: build first (scripts/build)" >&2; exit 2; }
[ -d "$NPM/node_modules/node-llama-cpp" ] || { echo "gguf_bench: no node-llama-cpp in $NPM (run ctest -R export_gguf once)" >&2; exit 2; }
export OMPI_MCA_ess_singleton_isolated=1
if [ -z "$DIR" ]; then DIR=$(mktemp -d); trap 'rm -rf "$DIR"' EXIT; fi
mkdir -p "$DIR"
if [ -z "$CKPT" ]; then
  data=$ROOT/../shared/data/gutenberg
  [ -d "$data" ] || { echo "gguf_bench: $data missing: give --checkpoint" >&2; exit 2; }
  "$BIN" tokenizer train --input "$data" --vocab-size 50257 --out "$DIR/tok" --quiet > /dev/null
  "$BIN" prepare --tokenizer "$DIR/tok/tokenizer.json" --input "$ROOT/data" --out "$DIR/s.h5" > /dev/null
  "$BIN" pretrain --config "$ROOT/configs/tiny.ini" --set model.n_layer=12 --set model.n_head=12 \
    --set model.n_embd=768 --set model.block_size=1024 --set train.seq_len=64 --set train.batch_size=1 \
    --set train.max_steps=1 --set train.eval_every=0 --data "$DIR/s.h5" --out "$DIR/r" > /dev/null
  CKPT=$DIR/r/checkpoints/step-00000001.h5
fi
OUT=$DIR/bench.jsonl
: > "$OUT"

# export f32 (and q8_0 for the decode comparison), then dd of the same size
t0=$(date +%s.%N)
line=$("$BIN" export --checkpoint "$CKPT" --format gguf --out "$DIR/m-f32.gguf" --force)
t1=$(date +%s.%N)
bytes=$(stat -c %s "$DIR/m-f32.gguf")
python3 -c 'import json,re,sys; l,b,w=sys.argv[1],int(sys.argv[2]),float(sys.argv[3]); s=float(re.search(r"in ([0-9.]+) s",l).group(1));
print(json.dumps({"bench":"export","type":"f32","bytes":b,"write_s":s,"write_mb_s":round(b/s/1e6,1),"wall_s":round(w,2)}))' \
  "$line" "$bytes" "$(python3 -c "print($t1 - $t0)")" | tee -a "$OUT"
sync
t0=$(date +%s.%N)
dd if=/dev/zero of="$DIR/dd.bin" bs=4M count=$(( (bytes + 4194303) / 4194304 )) conv=fsync status=none
t1=$(date +%s.%N)
rm -f "$DIR/dd.bin"
python3 -c 'import json,sys; b,s=int(sys.argv[1]),float(sys.argv[2]); print(json.dumps({"bench":"dd","bytes":b,"s":round(s,3),"mb_s":round(b/s/1e6,1)}))' \
  "$(( (bytes + 4194303) / 4194304 * 4194304 ))" "$(python3 -c "print($t1 - $t0)")" | tee -a "$OUT"
"$BIN" export --checkpoint "$CKPT" --format gguf --out "$DIR/m-q8_0.gguf" --type q8_0 --force > /dev/null

PROMPT="It was the best of times, it was the worst of times, it was the age of"
for t in $THREADS; do
  cores=0-$((t - 1))
  taskset -c "$cores" "$BIN" sample --checkpoint "$CKPT" --prompt "$PROMPT" --temperature 0 --max-tokens "$TOKENS" --json \
    | python3 -c 'import json,sys; t=int(sys.argv[1]); j=json.loads(sys.stdin.readline());
print(json.dumps({"bench":"llmpi_decode","type":"f32","threads":t,"tokens":j["tokens"],"decode_tok_s":round(j["decode_tok_s"],2)}))' "$t" \
    | tee -a "$OUT"
  for ty in f32 q8_0; do
    taskset -c "$cores" node "$ROOT/benchmarks/gguf_decode_peer.mjs" "$NPM" "$DIR/m-$ty.gguf" "$t" "$TOKENS" "$PROMPT" | tee -a "$OUT"
  done
done
python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
ex = next(r for r in rows if r["bench"] == "export"); dd = next(r for r in rows if r["bench"] == "dd")
print(json.dumps({"bench": "summary", "export_write_mb_s": ex["write_mb_s"], "dd_mb_s": dd["mb_s"],
                  "export_vs_dd": round(ex["write_mb_s"] / dd["mb_s"], 3)}))
for t in sorted({r["threads"] for r in rows if "threads" in r}):
    ours = next(r for r in rows if r["bench"] == "llmpi_decode" and r["threads"] == t)
    f32 = next(r for r in rows if r["bench"] == "llama_cpp_decode" and r["threads"] == t and "f32" in r["model"])
    q8 = next(r for r in rows if r["bench"] == "llama_cpp_decode" and r["threads"] == t and "q8_0" in r["model"])
    print(json.dumps({"bench": "summary", "threads": t, "llmpi_f32_tok_s": ours["decode_tok_s"],
                      "llama_cpp_f32_tok_s": f32["decode_tok_s"], "llama_cpp_q8_0_tok_s": q8["decode_tok_s"],
                      "llmpi_vs_llama_cpp_f32": round(ours["decode_tok_s"] / f32["decode_tok_s"], 3),
                      "llmpi_vs_llama_cpp_q8_0": round(ours["decode_tok_s"] / q8["decode_tok_s"], 3)}))
PY

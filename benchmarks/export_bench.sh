#!/usr/bin/env bash
# export_bench.sh: `llmpi export --format hf` and `llmpi import --format hf`
# on the GPT-2 124M shape (12 layers, 768 dims, context 1024, vocab 50257;
# random weights), against `dd` writing the same number of bytes (fsync'd,
# as the export fsyncs). One JSON line per result:
#   dd        MB/s of dd copying the source model.safetensors (page-cached after
#             the first read) with bs=4M conv=fsync: the disk's write speed for
#             these bytes (zeros would flatter a disk that detects them)
#   fresh_write  MB/s of a fresh Python process writing as many bytes from a
#             buffer it just filled (4 MiB writes + fsync): what a plain writer
#             gets on this machine, where first-touched pages cost more than
#             dd's one hot buffer
#   import    seconds and MB/s (reads model.safetensors, checks, writes the .h5)
#   export    seconds and MB/s of the whole command (checkpoint read with its
#             CRC-32C checks, Conv1D transposes, model.safetensors written and
#             fsynced), and of the model.safetensors write alone as the command
#             reports it (write_mb_per_s); both as ratios to dd
#
#   benchmarks/export_bench.sh [--dir DIR] [--reps N] [--build-dir build]
# DIR (default a new folder under /tmp) needs ~2 GB. Measures, does not check
# (except that the export reproduces the imported file byte for byte); the
# summary takes each kind's best repetition (shared disks are noisy).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${LLMPI_BUILD_DIR:-$ROOT/build}
DIR=""
REPS=5
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) DIR=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --build-dir) BUILD=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "export_bench: unknown option $1" >&2; exit 2 ;;
  esac
done
BIN=$BUILD/llmpi
[ -x "$BIN" ] || { echo "export_bench: build first (scripts/build)" >&2; exit 2; }
/usr/bin/python3 -c "import numpy" 2>/dev/null || { echo "export_bench: needs python3-numpy" >&2; exit 2; }
if [ -z "$DIR" ]; then DIR=$(mktemp -d /tmp/llmpi-export-bench-XXXXXX); trap 'rm -rf "$DIR"' EXIT; fi
mkdir -p "$DIR/src"
export OMPI_MCA_ess_singleton_isolated=${OMPI_MCA_ess_singleton_isolated:-1}

# the 124M model as an HF directory, written by numpy (float32, N(0, 0.02))
/usr/bin/python3 - "$DIR/src" <<'PY'
import json, struct, sys
import numpy as np
d = sys.argv[1]
L, C, V, T = 12, 768, 50257, 1024
shapes = {"wte.weight": (V, C), "wpe.weight": (T, C), "ln_f.weight": (C,), "ln_f.bias": (C,)}
for l in range(L):
    p = "h.%d." % l
    shapes.update({p + "ln_1.weight": (C,), p + "ln_1.bias": (C,), p + "attn.c_attn.weight": (C, 3 * C),
                   p + "attn.c_attn.bias": (3 * C,), p + "attn.c_proj.weight": (C, C), p + "attn.c_proj.bias": (C,),
                   p + "ln_2.weight": (C,), p + "ln_2.bias": (C,), p + "mlp.c_fc.weight": (C, 4 * C),
                   p + "mlp.c_fc.bias": (4 * C,), p + "mlp.c_proj.weight": (4 * C, C), p + "mlp.c_proj.bias": (C,)})
rng = np.random.default_rng(0)
header, at = {"__metadata__": {"format": "pt", "llmpi_tokenizer": "none"}}, 0
names = sorted("transformer." + k for k in shapes)
for k in names:
    n = int(np.prod(shapes[k[12:]])) * 4
    header[k] = {"dtype": "F32", "shape": list(shapes[k[12:]]), "data_offsets": [at, at + n]}
    at += n
h = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
h += b" " * ((8 - (8 + len(h)) % 8) % 8)
with open(d + "/model.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    for k in names:
        f.write((rng.standard_normal(shapes[k[12:]], dtype=np.float32) * 0.02).astype("<f4").tobytes())
json.dump({"model_type": "gpt2", "vocab_size": V, "n_layer": L, "n_head": 12, "n_embd": C, "n_positions": T,
           "n_ctx": T, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5}, open(d + "/config.json", "w"))
PY
BYTES=$(stat -c %s "$DIR/src/model.safetensors")
MB=$(awk -v b="$BYTES" 'BEGIN { printf "%.1f", b / 1e6 }')
now() { date +%s.%N; }
rate() { awk -v b="$BYTES" -v s="$1" 'BEGIN { printf "%.1f", b / 1e6 / s }'; }
best_dd=0 best_imp=1e9 best_exp=1e9 best_wr=1e9 best_fw=1e9
for r in $(seq 1 "$REPS"); do
  rm -f "$DIR/dd.bin" "$DIR/c.h5"; rm -rf "$DIR/out"
  t0=$(now); dd if="$DIR/src/model.safetensors" of="$DIR/dd.bin" bs=4M conv=fsync status=none; t1=$(now)
  s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
  echo "{\"kind\":\"dd\",\"rep\":$r,\"mb\":$MB,\"seconds\":$s,\"mb_per_s\":$(rate "$s")}"
  best_dd=$(awk -v a="$best_dd" -v s="$s" -v b="$BYTES" 'BEGIN { r = b / 1e6 / s; print (r > a ? r : a) }')
  # a fresh process writing the same number of bytes from a buffer it just filled (4 MiB
  # writes, fsync, as the export does): on this VM the first write of fresh pages costs far
  # more than dd's loop over one hot 4 MiB buffer
  s=$(/usr/bin/python3 - "$DIR/py.bin" "$BYTES" <<'PY'
import os, sys, time
import numpy as np
path, n = sys.argv[1], int(sys.argv[2])
buf = memoryview(np.random.default_rng(1).integers(0, 255, n, dtype=np.uint8)).cast("B")
t = time.perf_counter()
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for i in range(0, n, 4 << 20):
    os.write(fd, buf[i:i + (4 << 20)])
os.fsync(fd)
os.close(fd)
print(time.perf_counter() - t)
PY
)
  rm -f "$DIR/py.bin"
  echo "{\"kind\":\"fresh_write\",\"rep\":$r,\"mb\":$MB,\"seconds\":$s,\"mb_per_s\":$(rate "$s")}"
  best_fw=$(awk -v a="$best_fw" -v s="$s" 'BEGIN { print (s < a ? s : a) }')
  t0=$(now); "$BIN" import --format hf --input "$DIR/src" --out "$DIR/c.h5" >/dev/null; t1=$(now)
  s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
  echo "{\"kind\":\"import\",\"rep\":$r,\"mb\":$MB,\"seconds\":$s,\"mb_per_s\":$(rate "$s")}"
  best_imp=$(awk -v a="$best_imp" -v s="$s" 'BEGIN { print (s < a ? s : a) }')
  t0=$(now); line=$("$BIN" export --checkpoint "$DIR/c.h5" --format hf --out "$DIR/out" 2>/dev/null); t1=$(now)
  s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
  # the command's own figure for the model.safetensors write (transposes, writes, fsync, rename)
  ws=$(sed -n 's/.* written in \([0-9.]*\) s .*/\1/p' <<<"$line")
  [ -n "$ws" ] || { echo "export_bench: no write time in: $line" >&2; exit 1; }
  echo "{\"kind\":\"export\",\"rep\":$r,\"mb\":$MB,\"seconds\":$s,\"mb_per_s\":$(rate "$s"),\"write_seconds\":$ws,\"write_mb_per_s\":$(rate "$ws")}"
  best_exp=$(awk -v a="$best_exp" -v s="$s" 'BEGIN { print (s < a ? s : a) }')
  best_wr=$(awk -v a="$best_wr" -v s="$ws" 'BEGIN { print (s < a ? s : a) }')
  cmp -s "$DIR/src/model.safetensors" "$DIR/out/model.safetensors" || { echo "export_bench: round trip differs" >&2; exit 1; }
done
awk -v dd="$best_dd" -v i="$best_imp" -v e="$best_exp" -v w="$best_wr" -v f="$best_fw" -v b="$BYTES" 'BEGIN {
  printf "{\"kind\":\"summary\",\"mb\":%.1f,\"dd_mb_per_s\":%.1f,\"fresh_write_mb_per_s\":%.1f,\"import_mb_per_s\":%.1f,\"export_mb_per_s\":%.1f,\"export_vs_dd\":%.3f,\"export_write_mb_per_s\":%.1f,\"export_write_vs_dd\":%.3f,\"export_write_vs_fresh_write\":%.3f}\n",
    b / 1e6, dd, b / 1e6 / f, b / 1e6 / i, b / 1e6 / e, (b / 1e6 / e) / dd, b / 1e6 / w, (b / 1e6 / w) / dd, (b / 1e6 / w) / (b / 1e6 / f) }'

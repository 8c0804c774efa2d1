#!/usr/bin/env bash
# sft_bench.sh: the SFT speed figures of issue 10, as JSON lines, in one
# invocation (the machine is shared: ratios are taken within one run).
#
#   1. store build: `llmpi mix` (parse + render + tokenize + dedupe + blend +
#      write) of a mix (default configs/sft-mix.ini over ../shared/data/sft)
#      pinned to one core: input MB (the .json/.jsonl under the mix's source
#      paths) / seconds, wall and CPU (user + sys, which other load on a shared
#      machine inflates less); target >= 10 MB/s per CPU second;
#   2. padding waste of that store at seq_len 512 (`llmpi info --seq 512`,
#      the packing `llmpi sft` uses); target <= 15%;
#   3. training: `llmpi pretrain` and `llmpi sft` at the same model and row
#      shape (configs/demo.ini: 4 layers x 128, batch 8 x 128, one thread, one
#      core), alternated pretrain, sft, pretrain, sft; tokens/s = row slots per
#      second as the trainer logs it (median of each run's steps after the
#      first 5, then the mean of the two runs); target sft >= 97% of pretrain.
# Options: --mix FILE, --steps N (per training run, default 40), --build-dir
# DIR (default $LLMPI_BUILD_DIR or build/), --out FILE (also write the lines).
# A missed target is marked in the line ("met": false); exit status 0 unless
# something failed to run.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
mix=$repo/configs/sft-mix.ini
steps=40
build=${LLMPI_BUILD_DIR:-$repo/build}
out=
while [ $# -gt 0 ]; do
  case "$1" in
    --mix) mix=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --build-dir) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "sft_bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
bin=$build/llmpi
[ -x "$bin" ] || { echo "sft_bench.sh: $bin missing (scripts/build Release)" >&2; exit 2; }
T=$(mktemp -d /tmp/llmpi-sft-bench-XXXXXX)
trap 'rm -rf "$T"' EXIT
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMPI_MCA_ess_singleton_isolated=1
cpu=$(taskset -pc $$ | sed 's/.*: //; s/[,-].*//')
pin=(taskset -c "$cpu")
lines=()
emit() { echo "$1"; lines+=("$1"); }

# a 2048-token BPE (with the chat specials) on the shipped text
"$bin" tokenizer train --input "$repo/data/tinyshakespeare.txt" --vocab-size 2048 --out "$T/tok" --quiet >/dev/null

# ---- 1. store build, one core
mixdir=$(cd "$(dirname "$mix")" && pwd)
bytes=0
while read -r p; do
  case "$p" in /*) ;; *) p=$mixdir/$p ;; esac
  [ -e "$p" ] || { echo "sft_bench.sh: $p (a source of $mix) missing" >&2; exit 2; }
  b=$(find "$p" -type f \( -name '*.json' -o -name '*.jsonl' \) -printf '%s\n' | awk '{s += $1} END {print s + 0}')
  bytes=$((bytes + b))
done < <(sed -n 's/^path *= *\([^;]*[^; ]\).*/\1/p' "$mix")
/usr/bin/time -f '%e %U %S' -o "$T/mix.time" "${pin[@]}" "$bin" mix --mix "$mix" --tokenizer "$T/tok" \
    --out "$T/sft.h5" >/dev/null 2>"$T/mix.err"
read -r wall user sys <"$T/mix.time"
emit "$(python3 -c "
import json; b,w,c=$bytes,$wall,$user+$sys
print(json.dumps({'bench':'sft_store_build','mix':'$mix','input_mb':round(b/1e6,3),'wall_s':w,'cpu_s':round(c,2),
 'mb_per_s':round(b/1e6/w,2),'mb_per_cpu_s':round(b/1e6/c,2),'target_mb_per_s':10,'met':b/1e6/c>=10}))")"

# ---- 2. padding at 512
"$bin" info --seq 512 "$T/sft.h5" >"$T/info"
emit "$(python3 - "$T/info" <<'PY'
import json, re, sys
m = re.search(r"packing +train at seq_len 512: (\d+) rows, padding ([0-9.]+)%, (\d+) truncated", open(sys.argv[1]).read())
rows, pad, trunc = int(m[1]), float(m[2]) / 100, int(m[3])
print(json.dumps({"bench": "sft_padding", "seq_len": 512, "rows": rows, "padding": pad, "truncated": trunc,
                  "target_max": 0.15, "met": pad <= 0.15}))
PY
)"

# ---- 3. pretrain vs sft tokens/s, same model and rows
"$bin" prepare --tokenizer "$T/tok/tokenizer.json" --input "$repo/data/tinyshakespeare.txt" --out "$T/s.h5" \
    --quiet >/dev/null
common=(--set train.threads=1 --set train.batch_size=8 --set train.seq_len=128 --set train.grad_accum=1
        --set train.eval_every=0 --set train.ckpt_every=0 --set train.log_every=1 --set train.max_steps="$steps")
"${pin[@]}" "$bin" pretrain --config "$repo/configs/demo.ini" "${common[@]}" --data "$T/s.h5" --out "$T/init" \
    >/dev/null 2>&1
init=$(ls "$T/init/checkpoints"/step-*.h5 | tail -1)
for i in 1 2; do
  "${pin[@]}" "$bin" pretrain --config "$repo/configs/demo.ini" "${common[@]}" --data "$T/s.h5" --out "$T/pre$i" \
      >/dev/null 2>&1
  "${pin[@]}" "$bin" sft --init "$init" --config "$repo/configs/sft.ini" "${common[@]}" --data "$T/sft.h5" \
      --out "$T/sft$i" >/dev/null 2>&1
done
emit "$(python3 - "$T" <<'PY'
import json, statistics, sys
def tps(path):
    xs = [json.loads(l)["tokens_per_s"] for l in open(path) if '"kind":"train"' in l]
    return statistics.median(xs[5:])
t = sys.argv[1]
pre = [tps(f"{t}/pre{i}/metrics.jsonl") for i in (1, 2)]
sft = [tps(f"{t}/sft{i}/metrics.jsonl") for i in (1, 2)]
p, s = sum(pre) / 2, sum(sft) / 2
print(json.dumps({"bench": "sft_train_vs_pretrain", "model": "demo.ini 4x128, vocab 2048", "batch": 8, "seq": 128,
                  "threads": 1, "pretrain_tokens_per_s": [round(x) for x in pre],
                  "sft_tokens_per_s": [round(x) for x in sft], "ratio": round(s / p, 4),
                  "target_ratio": 0.97, "met": s / p >= 0.97}))
PY
)"
if [ -n "$out" ]; then
  printf '%s\n' "${lines[@]}" >"$out.tmp.$$" && sync "$out.tmp.$$" && mv "$out.tmp.$$" "$out"
fi

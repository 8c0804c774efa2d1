#!/usr/bin/env bash
# scaling_bench.sh: weak scaling of data-parallel pretraining, llmpi over MPI
# side by side with PyTorch DDP (gloo), in one invocation.
#
#   benchmarks/scaling_bench.sh [--configs "small gpt2"] [--steps N] [--warmup N] [--ranks "1 2"]
#
# For each configuration and rank count R (1 thread per rank, same per-rank
# batch), runs `llmpi pretrain` on a synthetic store of the configuration's
# vocabulary under `mpirun -np R --bind-to core`, then torch_ddp_peer.py with
# R processes, and prints one JSON line per result: tokens/s, ms/step, the
# scaling efficiency against R=1 (tokens/s / (R x tokens/s at 1)), and for
# llmpi the exposed communication per step (time the main thread waits for
# the gradient reduction after backward, from metrics.jsonl) and its share of
# the step. Steps after the warm-up are averaged.
set -euo pipefail
set +u  # associative arrays indexed before they are set
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${LLMPI_BUILD:-$root/build}
configs="small gpt2"
steps=4
warmup=2
ranks="1 2"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --configs) configs=$2; shift ;;
    --steps) steps=$2; shift ;;
    --warmup) warmup=$2; shift ;;
    --ranks) ranks=$2; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "scaling_bench: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/llmpi-scaling-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
[[ -x $build/llmpi && -x $build/synth_store ]] || { echo "scaling_bench: build first (scripts/build Release)" >&2; exit 2; }
. "$(dirname "${BASH_SOURCE[0]}")/blas_core.sh"; same_blas_kernels "$build/llmpi"

# name -> "layers heads embd vocab seq batch"
shape() {
  case "$1" in
    small) echo "6 6 384 8192 256 8" ;;
    gpt2) echo "12 12 768 50257 256 4" ;;
    gpt2-seq64) echo "12 12 768 50257 64 4" ;;
    *) echo "scaling_bench: unknown config $1" >&2; exit 2 ;;
  esac
}

# mean over steps > warmup of a metrics.jsonl field
metric() {
  $py - "$1" "$2" "$warmup" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"kind":"train"' in l]
rows = [r for r in rows if r["step"] > int(sys.argv[3])]
print(sum(r[sys.argv[2]] for r in rows) / len(rows))
PY
}

for cfg in $configs; do
  read -r L H C V T B <<<"$(shape "$cfg")"
  store=$tmp/synth-$V.h5
  [[ -f $store ]] || "$build/synth_store" --vocab "$V" --tokens 4000000 --out "$store"
  declare -A llmpi_tps=() torch_tps=()
  for R in $ranks; do
    out=$tmp/run-$cfg-$R
    mpirun --oversubscribe --bind-to core --map-by core -np "$R" "$build/llmpi" pretrain \
      --config "$root/configs/small.ini" --data "$store" --out "$out" \
      --set model.n_layer="$L" --set model.n_head="$H" --set model.n_embd="$C" --set model.block_size="$T" \
      --set train.seq_len="$T" --set train.batch_size="$B" --set train.grad_accum=1 --set train.threads=1 \
      --set train.max_steps=$((steps + warmup)) --set train.warmup_steps=1 --set train.eval_every=0 \
      --set train.ckpt_every=0 --set train.keep_checkpoints=1 --set train.log_every=1 >"$tmp/log-$cfg-$R" 2>&1 \
      || { tail -5 "$tmp/log-$cfg-$R" >&2; exit 1; }
    tps=$(metric "$out/metrics.jsonl" tokens_per_s)
    ms=$(metric "$out/metrics.jsonl" ms)
    comm=$(metric "$out/metrics.jsonl" comm_wait_ms)
    llmpi_tps[$R]=$tps
    eff=$($py -c "print(${tps} / ($R * ${llmpi_tps[1]}))" 2>/dev/null || echo null)
    printf '{"bench":"scaling","impl":"llmpi","config":"%s","ranks":%d,"threads_per_rank":1,"batch_per_rank":%d,"seq":%d,"tokens_per_s":%.1f,"ms_per_step":%.1f,"exposed_comm_ms":%.2f,"exposed_comm_frac":%.4f,"scaling_eff":%s}\n' \
      "$cfg" "$R" "$B" "$T" "$tps" "$ms" "$comm" "$($py -c "print($comm/$ms)")" "$eff"
    rm -rf "$out"
    js=$($py "$root/benchmarks/torch_ddp_peer.py" --layers "$L" --heads "$H" --embd "$C" --vocab "$V" --seq "$T" \
      --batch "$B" --threads 1 --procs "$R" --steps "$steps" --warmup-steps "$warmup" --label "$cfg" 2>"$tmp/torch-err") \
      || { tail -5 "$tmp/torch-err" >&2; exit 1; }
    ttps=$(echo "$js" | $py -c 'import json,sys; print(json.load(sys.stdin)["tokens_per_s"])')
    torch_tps[$R]=$ttps
    teff=$($py -c "print(round(${ttps} / ($R * ${torch_tps[1]}), 3))" 2>/dev/null || echo None)
    echo "$js" | $py -c "
import json,sys; d=json.load(sys.stdin); d['bench']='scaling'; d['scaling_eff']=$teff
d['llmpi_over_torch']=round(${tps}/${ttps},3); print(json.dumps(d,separators=(',',':')))"
  done
  unset llmpi_tps torch_tps
done

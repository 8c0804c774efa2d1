#!/usr/bin/env bash
# quality_bench.sh: time to quality, llmpi against PyTorch DDP, in one invocation.
#
#   benchmarks/quality_bench.sh [--budget S] [--shared DIR] [--store H5 --tokenizer JSON]
#                               [--torch "2x1 1x2"] [--snapshots N] [--windows W] [--work DIR] [--reuse]
#
# The same model (configs/small.ini's shape: 6 layers, 6 heads, 384 dims,
# block 256), the same data (the shared Gutenberg books through an 8,192-token
# llmpi BPE, or --store/--tokenizer), the same global batch (4,096 tokens per
# step: 2 ranks x 8 rows or 1 process x 16 rows of 256), the same optimizer
# and schedule (AdamW 0.9/0.95, lr 1e-3, 20 warm-up steps, cosine to 1e-4,
# clipping at 1), the same wall-clock budget (--budget, default 600 s) on this
# machine: llmpi `mpirun -np 2` (1 thread per rank) against PyTorch DDP as
# 2 processes x 1 thread and 1 process x 2 threads (--torch). Each trainer's
# max_steps is set so its cosine schedule ends at the budget, from a short
# probe of its own step time. Snapshots along the run (--snapshots, default
# 10) are scored afterwards by the same code, `llmpi eval --split val
# --windows W` (default 128 windows of 256 tokens of the held-out books), in
# bits per byte; PyTorch's through `llmpi import --format hf`.
# Prints one JSON line per scored snapshot (impl, step, tokens, train_s, bpb),
# one per run (final bpb, tokens seen, train and wall time) and a summary:
# llmpi's final bpb against the better PyTorch run's, and the share of
# PyTorch's training time llmpi needs to reach PyTorch's final bpb (linear
# between snapshots). The x axis is training time: the sum of whole step
# times (llmpi's metrics.jsonl `ms`, the peer's own timer: data, forward,
# backward with the all-reduce, clipping, AdamW); each run's wall time is
# printed beside it. WORK/quality.png plots bpb against training time.
# --reuse keeps the runs (and probes) already finished in WORK: delete a
# run's folder (WORK/llmpi, WORK/torch-PxT) to redo just that one.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${LLMPI_BUILD:-$root/build}
budget=600
shared=$root/../shared/data
store=
tokenizer=
torch_runs="2x1 1x2"
snapshots=10
windows=128
work=
reuse=0
usage() { sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  [[ $1 == -h || $1 == --help ]] && { usage; exit 0; }
  [[ $1 == --reuse ]] && { reuse=1; shift; continue; }
  [[ $# -ge 2 ]] || { echo "quality_bench: $1 needs a value" >&2; exit 2; }
  case "$1" in
    --budget) budget=$2 ;;
    --shared) shared=$2 ;;
    --store) store=$2 ;;
    --tokenizer) tokenizer=$2 ;;
    --torch) torch_runs=$2 ;;
    --snapshots) snapshots=$2 ;;
    --windows) windows=$2 ;;
    --work) work=$2 ;;
    *) echo "quality_bench: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift 2
done
for v in budget snapshots windows; do
  [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || { echo "quality_bench: --$v needs a positive integer" >&2; exit 2; }
done
[[ -n $store && -z $tokenizer || -z $store && -n $tokenizer ]] && { echo "quality_bench: --store and --tokenizer go together" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
py=/usr/bin/python3
[[ -x $build/llmpi ]] || { echo "quality_bench: build first (scripts/build Release)" >&2; exit 2; }
$py -c 'import torch, h5py' 2>/dev/null || { echo "quality_bench: $py needs torch and h5py (scripts/setup --dev)" >&2; exit 2; }
if [[ -z $work ]]; then
  work=$(mktemp -d /tmp/llmpi-quality-XXXXXX)
else
  mkdir -p "$work"
fi
llmpi=$build/llmpi
. "$root/benchmarks/blas_core.sh"; same_blas_kernels "$llmpi"
seq=256
lr=0.001
warmup=20

if [[ -z $store ]]; then
  for d in "$shared/gutenberg/books" "$shared/gutenberg/legacy"; do
    [[ -d $d ]] || { echo "quality_bench: $d: no such folder (--shared, or --store/--tokenizer)" >&2; exit 2; }
  done
  tokenizer=$work/tok/tokenizer.json
  store=$work/store.h5
  if [[ ! -f $store ]]; then
    "$llmpi" tokenizer train --input "$shared/gutenberg/books" --input "$shared/gutenberg/legacy" \
      --vocab-size 8192 --out "$work/tok" > "$work/tokenizer.log" 2>&1
    mpirun -np 2 --bind-to none "$llmpi" prepare --tokenizer "$tokenizer" --input "$shared/gutenberg/books" \
      --input "$shared/gutenberg/legacy" --out "$store" --quiet > "$work/prepare.log" 2>&1
  fi
fi

# llmpi pretrain on 2 ranks with the bench's settings; extra --set options follow
llmpi_train() {
  local out=$1
  shift
  mpirun -np 2 --bind-to core --map-by core "$llmpi" pretrain --config "$root/configs/small.ini" --data "$store" \
    --out "$out" --set train.seq_len=$seq --set train.batch_size=8 --set train.grad_accum=1 --set train.threads=1 \
    --set train.lr=$lr --set train.warmup_steps=$warmup --set train.min_lr_frac=0.1 --set train.eval_every=0 \
    --set train.log_every=1 "$@"
}
# the steps a trainer of step time $1 s fits in the budget (its stop rule
# keeps two steps' time in hand; 3% for noise)
fit_steps() { $py -c "import sys; b, s = float(sys.argv[1]), float(sys.argv[2]); print(max($warmup + 1, int(0.97 * (b - 2 * s) / s)))" "$budget" "$1"; }

# probes: a few steps of each trainer, median step time
if [[ $reuse -eq 0 || ! -f $work/probe-llmpi/metrics.jsonl ]]; then
  rm -rf "$work/probe-llmpi"
  llmpi_train "$work/probe-llmpi" --set train.max_steps=8 --set train.ckpt_every=0 > "$work/probe-llmpi.log" 2>&1 \
    || { tail -5 "$work/probe-llmpi.log" >&2; exit 1; }
fi
llmpi_step=$($py -c '
import json, sys
ms = sorted(json.loads(l)["ms"] for l in open(sys.argv[1]) if "\"kind\":\"train\"" in l and json.loads(l)["step"] > 3)
print(ms[len(ms) // 2] / 1e3)' "$work/probe-llmpi/metrics.jsonl")
for tr in $torch_runs; do
  [[ $tr =~ ^([0-9]+)x([0-9]+)$ ]] || { echo "quality_bench: --torch: '$tr' is not PROCSxTHREADS" >&2; exit 2; }
  (( BASH_REMATCH[1] * BASH_REMATCH[2] == 2 )) || { echo "quality_bench: --torch: $tr does not use 2 cores" >&2; exit 2; }
done

# the llmpi run
steps=$(fit_steps "$llmpi_step")
every=$(( (steps + snapshots - 1) / snapshots ))
if [[ $reuse -eq 0 || ! -s $work/llmpi.wall ]]; then
  rm -rf "$work/llmpi" "$work/llmpi.wall"
  s=$(date +%s.%N)
  llmpi_train "$work/llmpi" --set train.max_steps="$steps" --set train.ckpt_every="$every" \
    --set train.keep_checkpoints=100000 --max-time "$budget" > "$work/llmpi.log" 2>&1 \
    || { tail -5 "$work/llmpi.log" >&2; exit 1; }
  $py -c "import time; print(round(time.time() - $s, 3))" > "$work/llmpi.wall"
  echo "llmpi: probe $llmpi_step s/step, max_steps $steps, snapshot every $every" >> "$work/plan.txt"
fi
llmpi_wall=$(cat "$work/llmpi.wall")

# the PyTorch runs
for tr in $torch_runs; do
  p=${tr%x*} t=${tr#*x}
  [[ $reuse -eq 1 && -s $work/torch-$tr.wall && -d $work/torch-$tr ]] && continue
  if [[ $reuse -eq 0 || ! -s $work/probe-torch-$tr.json ]]; then
    $py "$root/benchmarks/torch_quality_peer.py" --store "$store" --procs "$p" --threads "$t" \
      --batch $((16 / p)) --probe 8 > "$work/probe-torch-$tr.json" 2> "$work/probe-torch-$tr.err" \
      || { tail -5 "$work/probe-torch-$tr.err" >&2; exit 1; }
  fi
  step_s=$($py -c 'import json, sys; print(json.load(open(sys.argv[1]))["median_step_s"])' "$work/probe-torch-$tr.json")
  tsteps=$(fit_steps "$step_s")
  tevery=$(( (tsteps + snapshots - 1) / snapshots ))
  echo "torch $tr: probe $step_s s/step, max_steps $tsteps, snapshot every $tevery" >> "$work/plan.txt"
  rm -rf "$work/torch-$tr" "$work/torch-$tr.wall"
  s=$(date +%s.%N)
  $py "$root/benchmarks/torch_quality_peer.py" --store "$store" --tokenizer "$tokenizer" --out "$work/torch-$tr" \
    --procs "$p" --threads "$t" --batch $((16 / p)) --lr $lr --warmup $warmup --max-steps "$tsteps" \
    --snap-every "$tevery" --budget "$budget" > "$work/torch-$tr.jsonl" 2> "$work/torch-$tr.err" \
    || { tail -5 "$work/torch-$tr.err" >&2; exit 1; }
  $py -c "import time; print(round(time.time() - $s, 3))" > "$work/torch-$tr.wall"
done

# scoring: every snapshot through llmpi eval (PyTorch's imported first)
score() {  # checkpoint -> bpb
  OMP_NUM_THREADS=2 "$llmpi" eval --checkpoint "$1" --data "$store" --split val --windows "$windows" --json \
    | $py -c 'import json, sys; print(json.load(sys.stdin)["bpb"])'
}
: > "$work/points.tsv"
for c in "$work"/llmpi/checkpoints/step-*.h5; do
  n=$(basename "$c" .h5); n=$((10#${n#step-}))
  printf 'llmpi\t%d\t%s\n' "$n" "$(score "$c")" >> "$work/points.tsv"
done
for tr in $torch_runs; do
  for d in "$work/torch-$tr"/step-*; do
    [[ -d $d ]] || continue
    n=$(basename "$d"); n=$((10#${n#step-}))
    "$llmpi" import --format hf --input "$d" --out "$d.h5" --force > /dev/null
    printf 'torch-%s\t%d\t%s\n' "$tr" "$n" "$(score "$d.h5")" >> "$work/points.tsv"
    rm -f "$d.h5"
  done
done

$py - "$work" "$budget" "$llmpi_wall" "$torch_runs" "$windows" <<'PY'
import json, os, sys
work, budget, llmpi_wall, torch_runs, windows = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4].split(), int(sys.argv[5])
tokens_per_step = 4096
pts = {}
for line in open(os.path.join(work, "points.tsv")):
    impl, step, bpb = line.split("\t")
    pts.setdefault(impl, []).append((int(step), float(bpb)))
# training time at each step: llmpi's per-step ms from metrics.jsonl, the peer's train_s
train_s = {"llmpi": {}}
acc = 0.0
for l in open(os.path.join(work, "llmpi", "metrics.jsonl")):
    r = json.loads(l)
    if r.get("kind") == "train":
        acc += r["ms"] / 1e3
        train_s["llmpi"][r["step"]] = acc
walls = {"llmpi": llmpi_wall}
for tr in torch_runs:
    d = train_s["torch-" + tr] = {}
    for l in open(os.path.join(work, f"torch-{tr}.jsonl")):
        r = json.loads(l)
        if "train_s" in r and "step" in r:
            d[r["step"]] = r["train_s"]
    walls["torch-" + tr] = float(open(os.path.join(work, f"torch-{tr}.wall")).read())
runs = {}
with open(os.path.join(work, "curves.dat"), "w") as dat:
    for impl in ["llmpi"] + ["torch-" + t for t in torch_runs]:
        curve = sorted((train_s[impl][s], s, b) for s, b in pts.get(impl, []))
        dat.write(f"# {impl}\n")
        for t, s, b in curve:
            dat.write(f"{t:.3f} {b:.6f}\n")
            print(json.dumps({"bench": "quality", "impl": impl, "step": s, "tokens": s * tokens_per_step,
                              "train_s": round(t, 3), "bpb": round(b, 6)}, separators=(",", ":")))
        dat.write("\n\n")
        t, s, b = curve[-1]
        runs[impl] = curve
        print(json.dumps({"bench": "quality", "impl": impl, "run": "final", "steps": s, "tokens": s * tokens_per_step,
                          "train_s": round(t, 3), "wall_s": round(walls[impl], 3), "bpb": round(b, 6),
                          "budget_s": budget, "eval_windows": windows}, separators=(",", ":")))
torch_best = min((k for k in runs if k != "llmpi"), key=lambda k: runs[k][-1][2])
target = runs[torch_best][-1][2]
reach = None
prev = (0.0, float("inf"))
for t, _, b in runs["llmpi"]:
    if b <= target:
        t0, b0 = prev
        reach = t if b0 == float("inf") else t0 + (t - t0) * (b0 - target) / (b0 - b)
        break
    prev = (t, b)
print(json.dumps({"bench": "quality", "summary": True, "llmpi_final_bpb": runs["llmpi"][-1][2],
                  "torch_best": torch_best, "torch_final_bpb": target,
                  "llmpi_lower_bpb": runs["llmpi"][-1][2] < target,
                  "llmpi_time_to_torch_final_s": None if reach is None else round(reach, 3),
                  "torch_train_s": round(runs[torch_best][-1][0], 3),
                  "time_frac": None if reach is None else round(reach / runs[torch_best][-1][0], 4),
                  "goal_time_frac": 0.70}, separators=(",", ":")))
PY

if command -v gnuplot > /dev/null; then
  labels=("llmpi (mpirun -np 2)")
  for tr in $torch_runs; do labels+=("PyTorch DDP $tr"); done
  {
    echo "set terminal pngcairo size 900,560 noenhanced; set output '$work/quality.png'"
    echo "set xlabel 'training time (s)'; set ylabel 'val bits per byte'; set grid; set key top right"
    echo "set title 'small.ini shape, 2 cores, ${budget} s budget: llmpi eval on the held-out books'"
    printf "plot "
    for i in "${!labels[@]}"; do
      (( i > 0 )) && printf ", "
      printf "'%s' index %d with linespoints title '%s'" "$work/curves.dat" "$i" "${labels[$i]}"
    done
    echo
  } > "$work/quality.gp"
  gnuplot "$work/quality.gp" 2> "$work/gnuplot.err" || echo "quality_bench: gnuplot failed (see $work/gnuplot.err)" >&2
fi
echo "quality_bench: work folder $work (plan.txt, points.tsv, curves.dat, quality.png)" >&2

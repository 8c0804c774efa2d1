#!/usr/bin/env bash
# portable_bench.sh: training throughput of the portable build (build/: x86-64
# baseline, hot loops chosen at run time) against the native one
# (build-native/: -march=native), side by side.
#
# For each round and each thread count it runs bench_train from both builds
# back to back, in alternating order (portable first in odd rounds, native
# first in even ones), so drift in the machine's load hits both alike. Prints
# one JSON line per run, then one line per (config, threads) with the medians
# over the rounds and ratio = portable / native tokens/s (median of the runs'
# ms/step medians, and best of their minimum ms/step), then one summary line.
#
# Invariants:
# - Both builds get the same shape, steps, thread variables and CPU set
#   (taskset to the first T allowed CPUs), as in train_bench.sh.
# - A failed run makes the exit status non-zero; with --strict a ratio under
#   --min-ratio (default 0.97: within 3%) does so too (exit 3).
#
#   benchmarks/portable_bench.sh [--configs a] [--threads 1,2] [--rounds 3]
#       [--steps 6] [--warmup 2] [--no-build] [--min-ratio 0.97] [--strict]
#       [--out FILE]
# Configs: a (6/6/384, vocab 8192, seq 256, batch 8), tiny (harness check).
# Builds with scripts/build Release and Native unless --no-build.
#
# --baseline BIN compares build/ against another bench_train instead of the
# native build (e.g. one built from an older commit in a git worktree, to
# show that a change did not slow training): lines then say "baseline" where
# they say "native", and ratio = current / baseline. --current BIN replaces
# build/bench_train (e.g. build-native/bench_train against an old native build).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

configs="a"
thread_list="1,2"
rounds=3
steps=6
warmup=2
do_build=1
min_ratio=0.97
strict=0
out_file=""
baseline=""
current=""

die() { echo "portable_bench: $*" >&2; exit 2; }
need_value() { [[ $# -ge 2 && -n "$2" ]] || die "$1: missing value (see --help)"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --configs) need_value "$@"; configs=$2; shift 2 ;;
    --threads) need_value "$@"; thread_list=$2; shift 2 ;;
    --rounds) need_value "$@"; rounds=$2; shift 2 ;;
    --steps) need_value "$@"; steps=$2; shift 2 ;;
    --warmup) need_value "$@"; warmup=$2; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --min-ratio) need_value "$@"; min_ratio=$2; shift 2 ;;
    --strict) strict=1; shift ;;
    --out) need_value "$@"; out_file=$2; shift 2 ;;
    --baseline) need_value "$@"; baseline=$2; shift 2 ;;
    --current) need_value "$@"; current=$2; shift 2 ;;
    -h|--help) sed -n '2,/^[^#]/p' "${BASH_SOURCE[0]}" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
is_count() { [[ "$1" =~ ^[0-9]+$ ]] && (( 10#$1 >= $2 )); }
is_count "$rounds" 1 || die "--rounds: expected an integer >= 1"
is_count "$steps" 1 || die "--steps: expected an integer >= 1"
is_count "$warmup" 0 || die "--warmup: expected an integer >= 0"
[[ "$min_ratio" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--min-ratio: expected a number"
IFS=, read -r -a threads_arr <<< "$thread_list"
for t in "${threads_arr[@]}"; do is_count "$t" 1 || die "--threads: '$t' is not a thread count"; done
IFS=, read -r -a configs_arr <<< "$configs"

# name -> layers heads embd vocab seq batch
config_shape() {
  case "$1" in
    a)    echo "6 6 384 8192 256 8" ;;
    tiny) echo "2 2 64 256 32 2" ;;
    *) return 1 ;;
  esac
}
for c in "${configs_arr[@]}"; do config_shape "$c" > /dev/null || die "--configs: unknown configuration '$c'"; done

ref=native
[[ -z "$baseline" ]] || ref=baseline
if (( do_build )); then
  "$repo/scripts/build" Release >&2 || die "portable build failed"
  [[ $ref == baseline ]] || "$repo/scripts/build" Native >&2 || die "native build failed"
fi
declare -A bin=([portable]="${current:-$repo/build/bench_train}" [native]="$repo/build-native/bench_train" [baseline]="$baseline")
for b in portable "$ref"; do [[ -x "${bin[$b]}" ]] || die "${bin[$b]} not built (drop --no-build?)"; done
portable_flag=$(sed -n 's/^LLMPI_NATIVE:[A-Z]*=//p' "$repo/build/CMakeCache.txt")
if [[ $ref == native && -z "$current" ]]; then
  native_flag=$(sed -n 's/^LLMPI_NATIVE:[A-Z]*=//p' "$repo/build-native/CMakeCache.txt")
  [[ "$native_flag" == ON && "$portable_flag" == OFF ]] ||
    die "expected build/ with LLMPI_NATIVE=OFF and build-native/ with ON (got '$portable_flag', '$native_flag')"
fi

allowed_cpus=()
while IFS= read -r range; do
  if [[ "$range" == *-* ]]; then
    for ((c = ${range%-*}; c <= ${range#*-}; c++)); do allowed_cpus+=("$c"); done
  elif [[ -n "$range" ]]; then allowed_cpus+=("$range"); fi
done < <(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status | tr ',' '\n')
# Runs "$@" with T threads, pinned to the first T allowed CPUs when there are enough.
run_pinned() {
  local t=$1; shift
  local -a pin=()
  if (( ${#allowed_cpus[@]} >= t )) && command -v taskset > /dev/null; then
    local IFS=,
    pin=(taskset -c "${allowed_cpus[*]:0:t}")
  fi
  env OMP_NUM_THREADS="$t" OPENBLAS_NUM_THREADS="$t" MKL_NUM_THREADS="$t" \
      OMP_PROC_BIND=close OMP_PLACES=cores "${pin[@]}" "$@"
}

work=$(mktemp -d "${TMPDIR:-/tmp}/portable_bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
results="$work/results.jsonl"
: > "$results"
emit() { echo "$1"; echo "$1" >> "$results"; }

cpu_model=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -1)
emit "{\"bench\":\"machine\",\"cpu\":\"$cpu_model\",\"cpus_allowed\":${#allowed_cpus[@]},\"load_avg_1m\":$(cut -d' ' -f1 /proc/loadavg),\"git_rev\":\"$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)\"}"

failed=0
for c in "${configs_arr[@]}"; do
  read -r L H C V T B <<< "$(config_shape "$c")"
  args=(--layers "$L" --heads "$H" --embd "$C" --vocab "$V" --seq "$T" --batch "$B" --block-size "$T"
        --steps "$steps" --warmup-steps "$warmup" --label "$c")
  for ((r = 1; r <= rounds; r++)); do
    order=(portable "$ref")
    (( r % 2 == 0 )) && order=("$ref" portable)
    for t in "${threads_arr[@]}"; do
      for b in "${order[@]}"; do
        echo "portable_bench: $c, $t thread(s), round $r: $b" >&2
        if line=$(run_pinned "$t" "${bin[$b]}" "${args[@]}" --threads "$t" | tail -n 1) && [[ -n "$line" ]]; then
          emit "$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r.update(bench="portable", build=sys.argv[2], round=int(sys.argv[3])); print(json.dumps(r, separators=(",", ":")))' "$line" "$b" "$r")"
        else
          echo "portable_bench: bench_train ($b) failed on $c at $t thread(s)" >&2
          failed=1
        fi
      done
    done
  done
done

summary=$(python3 - "$results" "$min_ratio" "$failed" "$ref" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
min_ratio, failed, ref = float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
runs = [r for r in rows if r.get("bench") == "portable"]
keys = sorted({(r["config"], r["threads"]) for r in runs})
below = []
for cfg, t in keys:
    got = {}
    for b in ("portable", ref):
        rs = [r for r in runs if r["config"] == cfg and r["threads"] == t and r["build"] == b]
        if rs:
            got[b] = {"runs": len(rs),
                      "tokens_per_s_median": statistics.median(r["tokens_per_s"] for r in rs),
                      "ms_per_step_median": statistics.median(r["ms_per_step_median"] for r in rs),
                      "ms_per_step_min": min(r["ms_per_step_min"] for r in rs)}
    line = {"bench": "portable_vs_" + ref, "config": cfg, "threads": t, **{k: v for k, v in got.items()}}
    if len(got) == 2:
        # tokens/s ratio = inverse ratio of step times
        line["ratio_median"] = got[ref]["ms_per_step_median"] / got["portable"]["ms_per_step_median"]
        line["ratio_min"] = got[ref]["ms_per_step_min"] / got["portable"]["ms_per_step_min"]
        line["within"] = line["ratio_median"] >= min_ratio
        # same seed and shape: equal losses mean the builds computed the same bits
        losses = {b: {r["loss_last"] for r in runs if r["config"] == cfg and r["threads"] == t and r["build"] == b}
                  for b in ("portable", ref)}
        line["same_loss_last"] = losses["portable"] == losses[ref] and len(losses[ref]) == 1
        if not line["within"]:
            below.append(f"{cfg}@{t}t")
    print(json.dumps(line, separators=(",", ":")))
print(json.dumps({"bench": "summary", "runs": len(runs), "failed_runs": failed, "min_ratio": min_ratio,
                  "below": below}, separators=(",", ":")))
PY
)
while IFS= read -r line; do emit "$line"; done <<< "$summary"
if [[ -n "$out_file" ]]; then
  cp "$results" "$out_file.tmp.$$" && { sync "$out_file.tmp.$$" 2> /dev/null || sync; } && mv -f "$out_file.tmp.$$" "$out_file"
fi
(( failed == 0 )) || exit 1
if (( strict )) && [[ "$summary" != *'"below":[]'* ]]; then exit 3; fi
exit 0

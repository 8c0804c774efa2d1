#!/usr/bin/env bash
# train_bench.sh: llmpi vs a PyTorch peer, training throughput, side by side.
#
# Measures the one-thread cblas_sgemm peak once (sgemm_peak), then for every
# configuration and thread count runs bench_train (llmpi) and torch_peer.py
# one after the other under the same pinning, and prints one JSON line per
# result (tokens/s, ms/step, MFU, peak RSS; llmpi's line adds the ratio to the
# peer and each target met or missed), then one summary line.
#
# Invariants:
# - Both sides get the same model shape, batch, sequence, optimizer, thread
#   count, CPU set (taskset to the first T allowed CPUs) and thread variables
#   (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS, OMP_PROC_BIND).
# - MFU = flops_per_token x tokens/s / (threads x one-thread sgemm GFLOP/s),
#   flops_per_token = 6N + 12*L*T*C (N: all parameters, tied embedding once).
# - --out/--markdown files are written to a temporary name, synced, renamed.
# - A failed run makes the exit status non-zero; a missed target does so only
#   with --strict (exit 3).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

usage() {
  cat <<EOF
usage: benchmarks/train_bench.sh [options]
  --configs LIST     comma list of: a, 124m-s64, 124m-s256, tiny   (default: a,124m-s64,124m-s256)
  --threads LIST     comma list of thread counts                    (default: 1,2)
  --steps N          timed steps for every config                   (default: per config)
  --warmup N         untimed warm-up steps for every config         (default: per config)
  --quick            --steps 3 --warmup 1 (harness check, numbers are rough)
  --build-dir DIR    Release build with bench_train and sgemm_peak  (default: \$LLMPI_BUILD_DIR or build/)
  --no-build         do not configure/build, use the binaries in --build-dir as they are
  --no-peer          skip the PyTorch peer (no ratios)
  --python PATH      python with torch for the peer                 (default: \$PYTHON or /usr/bin/python3)
  --peak-gflops G    use this one-thread sgemm GFLOP/s instead of measuring it
  --out FILE         also write the JSON lines to FILE
  --markdown FILE    also write a Markdown results table to FILE
  --strict           exit 3 when a target is missed
Default steps (timed+warm-up): a 15+3, 124m-s64 12+2, 124m-s256 6+2; the full
default run takes about 15 minutes on a 2-core AVX2 machine.
EOF
}

configs="a,124m-s64,124m-s256"
thread_list="1,2"
steps_override=""
warmup_override=""
build_dir="${LLMPI_BUILD_DIR:-$repo/build}"
do_build=1
do_peer=1
python="${PYTHON:-/usr/bin/python3}"
peak_gflops=""
out_file=""
md_file=""
strict=0

die() { echo "train_bench: $*" >&2; exit 2; }
need_value() { [[ $# -ge 2 && -n "$2" ]] || die "$1: missing value (see --help)"; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --configs) need_value "$@"; configs=$2; shift 2 ;;
    --threads) need_value "$@"; thread_list=$2; shift 2 ;;
    --steps) need_value "$@"; steps_override=$2; shift 2 ;;
    --warmup) need_value "$@"; warmup_override=$2; shift 2 ;;
    --quick) steps_override=3; warmup_override=1; shift ;;
    --build-dir) need_value "$@"; build_dir=$2; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --no-peer) do_peer=0; shift ;;
    --python) need_value "$@"; python=$2; shift 2 ;;
    --peak-gflops) need_value "$@"; peak_gflops=$2; shift 2 ;;
    --out) need_value "$@"; out_file=$2; shift 2 ;;
    --markdown) need_value "$@"; md_file=$2; shift 2 ;;
    --strict) strict=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

is_count() { [[ "$1" =~ ^[0-9]+$ ]] && (( 10#$1 >= $2 )); }
[[ -z "$steps_override" ]] || is_count "$steps_override" 1 || die "--steps: expected an integer >= 1"
[[ -z "$warmup_override" ]] || is_count "$warmup_override" 0 || die "--warmup: expected an integer >= 0"
[[ -z "$peak_gflops" || "$peak_gflops" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--peak-gflops: expected a number"
IFS=, read -r -a threads_arr <<< "$thread_list"
for t in "${threads_arr[@]}"; do is_count "$t" 1 || die "--threads: '$t' is not a thread count"; done
IFS=, read -r -a configs_arr <<< "$configs"

# Shape of each configuration: name layers heads embd vocab seq batch block steps warmup.
# block_size is GPT-2's 1024 for the 124M shape (so N is the real 124M) and
# the sequence length for (a).
config_shape() {
  case "$1" in
    a)         echo "6 6 384 8192 256 8 256 15 3" ;;
    124m-s64)  echo "12 12 768 50257 64 4 1024 12 2" ;;
    124m-s256) echo "12 12 768 50257 256 4 1024 6 2" ;;
    tiny)      echo "2 2 64 256 32 2 32 5 1" ;;
    *) return 1 ;;
  esac
}
for c in "${configs_arr[@]}"; do config_shape "$c" > /dev/null || die "--configs: unknown configuration '$c'"; done

# ---- build -------------------------------------------------------------------
if (( do_build )); then
  if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
    cmake -S "$repo" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >&2 || die "cmake configure failed"
  fi
  cmake --build "$build_dir" --target llmpi bench_train sgemm_peak -j "$(nproc)" >&2 || die "build failed"
fi
bench_train="$build_dir/bench_train"
sgemm_peak="$build_dir/sgemm_peak"
[[ -x "$bench_train" && -x "$sgemm_peak" ]] || die "$build_dir: bench_train/sgemm_peak not built (drop --no-build?)"
. "$here/blas_core.sh"; same_blas_kernels "$build_dir/llmpi"
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build_dir/CMakeCache.txt" 2>/dev/null || true)
sanitize=$(sed -n 's/^LLMPI_SANITIZE:[A-Z]*=//p' "$build_dir/CMakeCache.txt" 2>/dev/null || true)
if [[ "$build_type" != "Release" || "$sanitize" == "ON" ]]; then
  echo "train_bench: warning: $build_dir is build type '${build_type:-?}', sanitize '${sanitize:-OFF}': numbers are not representative" >&2
fi
if (( do_peer )); then
  "$python" -c 'import torch' 2>/dev/null || die "$python cannot import torch (install python3-torch, or --python, or --no-peer)"
fi

# ---- pinning -----------------------------------------------------------------
# The first n CPUs this process may run on, as a taskset list; empty when
# fewer than n are allowed (the run then goes unpinned and says so).
allowed_cpus=()
while IFS= read -r range; do
  if [[ "$range" == *-* ]]; then
    for ((c = ${range%-*}; c <= ${range#*-}; c++)); do allowed_cpus+=("$c"); done
  elif [[ -n "$range" ]]; then allowed_cpus+=("$range"); fi
done < <(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status | tr ',' '\n')
cpu_list() {
  local n=$1
  (( ${#allowed_cpus[@]} >= n )) && command -v taskset > /dev/null || return 0
  local IFS=,
  echo "${allowed_cpus[*]:0:n}"
}

# Runs "$@" with T threads pinned to the first T allowed CPUs.
run_pinned() {
  local t=$1; shift
  local cpus; cpus=$(cpu_list "$t")
  local -a pin=()
  [[ -n "$cpus" ]] && pin=(taskset -c "$cpus")
  env OMP_NUM_THREADS="$t" OPENBLAS_NUM_THREADS="$t" MKL_NUM_THREADS="$t" \
      OMP_PROC_BIND=close OMP_PLACES=cores "${pin[@]}" "$@"
}

work=$(mktemp -d "${TMPDIR:-/tmp}/train_bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
results="$work/results.jsonl"
: > "$results"
emit() { echo "$1"; echo "$1" >> "$results"; }

# ---- machine and sgemm peak ----------------------------------------------------
cpu_model=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p; T; q' /proc/cpuinfo)  # first match, no pipe
git_rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
emit "$("$python" - "$cpu_model" "$git_rev" "$build_type" "${sanitize:-OFF}" "${#allowed_cpus[@]}" <<'PY'
import json, os, sys, time
cpu, rev, bt, san, ncpu = sys.argv[1:]
print(json.dumps({"bench": "machine", "cpu": cpu, "cpus_allowed": int(ncpu),
                  "load_avg_1m": os.getloadavg()[0], "git_rev": rev, "build_type": bt,
                  "sanitize": san, "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", ""),
                  "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
                 separators=(",", ":")))
PY
)"
if [[ -z "$peak_gflops" ]]; then
  peak_line=$(run_pinned 1 "$sgemm_peak" --threads 1 | tail -n 1) || die "sgemm_peak failed"
  emit "$peak_line"
  peak_gflops=$("$python" -c 'import json,sys; print(json.loads(sys.argv[1])["peak_gflops"])' "$peak_line")
else
  emit "{\"bench\":\"sgemm_peak\",\"threads\":1,\"peak_gflops\":$peak_gflops,\"given\":true}"
fi

# ---- runs --------------------------------------------------------------------
failed=0
for c in "${configs_arr[@]}"; do
  read -r L H C V T B BS steps warmup <<< "$(config_shape "$c")"
  steps=${steps_override:-$steps}
  warmup=${warmup_override:-$warmup}
  args=(--layers "$L" --heads "$H" --embd "$C" --vocab "$V" --seq "$T" --batch "$B"
        --block-size "$BS" --steps "$steps" --warmup-steps "$warmup" --label "$c")
  for t in "${threads_arr[@]}"; do
    llmpi_json="$work/llmpi-$c-$t.json"
    torch_json="$work/torch-$c-$t.json"
    pinned_to=$(cpu_list "$t")
    echo "train_bench: $c, $t thread(s), cpus ${pinned_to:-unpinned}: llmpi" >&2
    if ! run_pinned "$t" "$bench_train" "${args[@]}" --threads "$t" --peak-gflops "$peak_gflops" > "$llmpi_json"; then
      echo "train_bench: bench_train failed on $c at $t thread(s)" >&2
      failed=1
      : > "$llmpi_json"
    fi
    : > "$torch_json"
    if (( do_peer )); then
      echo "train_bench: $c, $t thread(s): torch" >&2
      if ! run_pinned "$t" "$python" "$here/torch_peer.py" "${args[@]}" --threads "$t" > "$torch_json"; then
        echo "train_bench: torch_peer.py failed on $c at $t thread(s)" >&2
        failed=1
        : > "$torch_json"
      fi
    fi
    # Adds MFU, the pinning, the ratios and the targets; prints the lines.
    lines=$("$python" - "$llmpi_json" "$torch_json" "$peak_gflops" "${pinned_to:-}" <<'PY'
import json, sys
llmpi_path, torch_path, peak, cpus = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]

def load(path):
    text = open(path).read().strip()
    return json.loads(text.splitlines()[-1]) if text else None

# Targets of the benchmark spec, per (config, threads): (name, key, threshold).
LLMC_TOKENS_PER_S = {1: 26.0, 2: 47.0}  # karpathy/llm.c CPU trainer, 124M at seq 64
def targets_for(cfg, threads):
    out = []
    if cfg in ("a", "124m-s256"):
        out.append(("mfu>=0.85", "mfu", 0.85))
    if threads == 1:
        out.append(({"124m-s64": "ratio>=1.3"}.get(cfg, "ratio>=1.1"), "ratio_to_torch",
                    1.3 if cfg == "124m-s64" else 1.1))
    else:
        out.append(("ratio>=1.2", "ratio_to_torch", 1.2))
    if cfg == "124m-s64" and threads in LLMC_TOKENS_PER_S:
        out.append(("llmc_ratio>=3", "ratio_to_llmc", 3.0))
    out.append(("rss<=torch", "rss_ratio_to_torch", None))
    return out

ours, peer = load(llmpi_path), load(torch_path)
for r in (ours, peer):
    if r is None:
        continue
    r["mfu"] = r["flops_per_token"] * r["tokens_per_s"] / (r["threads"] * peak * 1e9)
    r["cpus"] = cpus or "unpinned"
if ours is not None:
    cfg, threads = ours["config"], ours["threads"]
    if cfg == "124m-s64" and threads in LLMC_TOKENS_PER_S:
        ours["ratio_to_llmc"] = ours["tokens_per_s"] / LLMC_TOKENS_PER_S[threads]
    if peer is not None:
        ours["ratio_to_torch"] = ours["tokens_per_s"] / peer["tokens_per_s"]
        ours["rss_ratio_to_torch"] = ours["peak_rss_mb"] / peer["peak_rss_mb"]
    met = []
    if cfg != "tiny":
        for name, key, want in targets_for(cfg, threads):
            got = ours.get(key)
            if got is None:
                continue  # no peer: the target cannot be judged
            ok = got <= 1.0 if want is None else got >= want
            met.append({"target": name, "got": round(got, 4), "met": ok})
    ours["targets"] = met
for r in (ours, peer):
    if r is not None:
        print(json.dumps(r, separators=(",", ":")))
PY
) || { echo "train_bench: cannot combine the results of $c at $t thread(s)" >&2; failed=1; lines=""; }
    while IFS= read -r line; do [[ -n "$line" ]] && emit "$line"; done <<< "$lines"
  done
done

# ---- summary, files --------------------------------------------------------------
md_tmp=${md_file:+$md_file.tmp.$$}
summary=$("$python" - "$results" "$md_tmp" "$strict" "$failed" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
md_path, strict, failed = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
runs = [r for r in rows if r.get("impl")]
targets = [t for r in runs for t in r.get("targets", [])]
missed = [f'{r["config"]}@{r["threads"]}t:{t["target"]}' for r in runs for t in r.get("targets", []) if not t["met"]]
print(json.dumps({"bench": "summary", "runs": len(runs), "failed_runs": failed,
                  "targets_met": len(targets) - len(missed), "targets_total": len(targets),
                  "missed": missed}, separators=(",", ":")))
if md_path:
    peak = next((r["peak_gflops"] for r in rows if r.get("bench") == "sgemm_peak"), None)
    out = [f"One-thread sgemm peak: {peak:.1f} GFLOP/s.", "",
           "| config | threads | impl | tokens/s | ms/step | MFU | peak RSS (MB) | vs torch | targets |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        ratio = f'{r["ratio_to_torch"]:.2f}x' if "ratio_to_torch" in r else ""
        tg = ", ".join(f'{t["target"]} {"met" if t["met"] else "MISSED"}' for t in r.get("targets", []))
        out.append(f'| {r["config"]} | {r["threads"]} | {r["impl"]} | {r["tokens_per_s"]:.1f} | '
                   f'{r["ms_per_step"]:.4g} | {100 * r["mfu"]:.1f}% | {r["peak_rss_mb"]:.0f} | {ratio} | {tg} |')
    open(md_path, "w").write("\n".join(out) + "\n")
PY
)
emit "$summary"
commit() { sync "$1" 2> /dev/null || sync; mv -f "$1" "$2"; }
if [[ -n "$md_file" ]]; then commit "$md_tmp" "$md_file"; fi
if [[ -n "$out_file" ]]; then
  cp "$results" "$out_file.tmp.$$" && commit "$out_file.tmp.$$" "$out_file"
fi
(( failed == 0 )) || exit 1
if (( strict )) && [[ "$summary" != *'"missed":[]'* ]]; then exit 3; fi
exit 0

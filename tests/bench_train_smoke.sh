#!/usr/bin/env bash
# bench_train_smoke.sh: the training benchmark harness on a tiny model.
# usage: bench_train_smoke.sh BENCH_TRAIN SGEMM_PEAK
#
# Checks what the benchmark's numbers rest on, not the speed: the parameter
# count and FLOPs per token against the spec's formula, MFU arithmetic, the
# loss at init (ln V for a fresh GPT-2 init), argument errors, and that
# train_bench.sh runs end to end (with the PyTorch peer when torch imports)
# and writes its --out file atomically. Exit 77 (skip) without python3.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=err_trap.sh
source "$(dirname "$0")/err_trap.sh"
bench_train=$1
sgemm_peak=$2
source_dir=${LLMPI_SOURCE_DIR:?LLMPI_SOURCE_DIR not set}
python=${PYTHON:-/usr/bin/python3}
[[ -x "$python" ]] || { echo "skip: no $python"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. sgemm_peak: a positive peak on the summary (last) line.
"$sgemm_peak" --threads 1 --sizes 96,128 --reps 1 > "$work/sgemm.jsonl"
"$python" - "$work/sgemm.jsonl" <<'PY' || fail "sgemm_peak output"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 3, lines
assert [l["m"] for l in lines[:2]] == [96, 128]
last = lines[-1]
assert last["bench"] == "sgemm_peak" and last["threads"] == 1
assert last["peak_gflops"] == max(l["gflops"] for l in lines[:2]) > 0.05, last
PY

# 2. bench_train on the tiny shape: counts, FLOPs, MFU, loss at init.
tiny=(--layers 2 --heads 2 --embd 64 --vocab 256 --seq 32 --batch 2 --steps 3 --warmup-steps 1)
"$bench_train" "${tiny[@]}" --threads 1 --peak-gflops 50 --label tiny > "$work/llmpi.json"
"$python" - "$work/llmpi.json" <<'PY' || fail "bench_train output"
import json, math, sys
r = json.loads(open(sys.argv[1]).read())
L, C, V, BS, T, B = 2, 64, 256, 32, 32, 2
# wte (tied, once) + wpe + per layer (4 linears with bias, 2 LayerNorms) + ln_f
N = V * C + BS * C + L * (12 * C * C + 13 * C) + 2 * C
assert r["impl"] == "llmpi" and r["config"] == "tiny", r
assert r["params"] == N == 118528, (r["params"], N)
assert r["flops_per_token"] == 6 * N + 12 * L * T * C, r["flops_per_token"]
assert r["model_flops_per_token"] == r["flops_per_token"], "gpt_flops_per_token disagrees with the spec"
assert r["steps"] == 3 and r["tokens_per_s"] > 0 and r["ms_per_step"] > 0
assert math.isclose(r["tokens_per_s"], B * T * 1000 / r["ms_per_step"], rel_tol=1e-4)
assert r["ms_per_step_min"] <= r["ms_per_step_median"] <= r["ms_per_step"] * 3
assert math.isclose(r["achieved_gflops"], r["flops_per_token"] * r["tokens_per_s"] * 1e-9, rel_tol=1e-4)
assert math.isclose(r["mfu"], r["achieved_gflops"] / 50, rel_tol=1e-4), r["mfu"]
assert abs(r["loss_first"] - math.log(V)) < 0.15, r["loss_first"]
assert 1 < r["peak_rss_mb"] < 2000, r["peak_rss_mb"]
assert r["phases"]["fwd_bwd_ms"] + r["phases"]["optimizer_ms"] <= r["ms_per_step"] * 1.01
PY
# Same seed, same numbers: the benchmark's loss is reproducible.
"$bench_train" "${tiny[@]}" --threads 1 > "$work/llmpi2.json"
"$python" -c '
import json, sys
a, b = (json.loads(open(p).read()) for p in sys.argv[1:])
assert (a["loss_first"], a["loss_last"], a["grad_norm_last"]) == (b["loss_first"], b["loss_last"], b["grad_norm_last"]), (a, b)
' "$work/llmpi.json" "$work/llmpi2.json" || fail "bench_train is not deterministic"

# 3. Bad arguments: exit 2, one "llmpi: " line, nothing on stdout.
for bad in "--heads 3 --embd 64" "--seq 64 --block-size 32" "--steps 0" "--batch x" "--bogus 1"; do
  # shellcheck disable=SC2086
  if "$bench_train" $bad > "$work/out" 2> "$work/err"; then fail "bench_train $bad succeeded"; else rc=$?; fi
  [[ $rc -eq 2 ]] || fail "bench_train $bad: exit $rc, want 2"
  [[ ! -s "$work/out" && $(wc -l < "$work/err") -eq 1 ]] && grep -q '^llmpi: bench_train: ' "$work/err" \
    || fail "bench_train $bad: want exactly one error line, got: $(cat "$work/err")"
done

# 4. The peer, when torch is there: the same model (parameter count, loss at init).
peer=()
if "$python" -c 'import torch' 2> /dev/null; then
  "$python" "$source_dir/benchmarks/torch_peer.py" "${tiny[@]}" --threads 1 > "$work/torch.json"
  "$python" - "$work/torch.json" "$work/llmpi.json" <<'PY' || fail "torch_peer output"
import json, math, sys
t, l = (json.loads(open(p).read()) for p in sys.argv[1:])
assert t["impl"] == "torch" and t["params"] == l["params"], (t["params"], l["params"])
assert t["flops_per_token"] == l["flops_per_token"]
assert abs(t["loss_first"] - math.log(256)) < 0.15, t["loss_first"]
assert t["torch_threads"] == 1 and t["tokens_per_s"] > 0 and t["peak_rss_mb"] > 1
PY
else
  echo "note: torch not importable, peer not checked"
  peer=(--no-peer)
fi

# 5. The driver end to end, quick, on the tiny shape.
out="$work/res/bench.jsonl"
mkdir -p "$work/res"
bash "$source_dir/benchmarks/train_bench.sh" --no-build --build-dir "$(dirname "$bench_train")" \
  --configs tiny --threads 1 --quick --peak-gflops 50 --out "$out" --markdown "$work/res/bench.md" \
  "${peer[@]}" > "$work/driver.jsonl"
[[ -z "$(ls "$work/res" | grep tmp || true)" ]] || fail "driver left a temporary file: $(ls "$work/res")"
cmp -s "$out" "$work/driver.jsonl" || fail "--out differs from what the driver printed"
"$python" - "$out" "${#peer[@]}" <<'PY' || fail "driver output"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
no_peer = sys.argv[2] != "0"
kinds = [r.get("bench") or r.get("impl") for r in rows]
assert kinds == ["machine", "sgemm_peak", "llmpi"] + ([] if no_peer else ["torch"]) + ["summary"], kinds
ours = rows[2]
assert abs(ours["mfu"] - ours["flops_per_token"] * ours["tokens_per_s"] / 50e9) < 1e-9
assert ours["steps"] == 3 and ours["warmup_steps"] == 1
if not no_peer:
    assert abs(ours["ratio_to_torch"] - ours["tokens_per_s"] / rows[3]["tokens_per_s"]) < 1e-9
assert rows[-1]["runs"] == len(rows) - 3 and rows[-1]["failed_runs"] == 0
PY
grep -q '^| tiny | 1 | llmpi |' "$work/res/bench.md" || fail "markdown table lacks the llmpi row"

# 6. The driver refuses a bad option without running anything.
if bash "$source_dir/benchmarks/train_bench.sh" --configs nosuch --no-build > /dev/null 2>&1; then
  fail "train_bench.sh accepted an unknown config"
fi
echo "bench_train_smoke: all checks passed"

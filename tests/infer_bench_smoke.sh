#!/usr/bin/env bash
# infer_bench_smoke.sh: benchmarks/infer_bench.sh end to end on the tiny shape
# (seconds): every part runs and reports (decode, prefill, training forward,
# stream bandwidth, the overhead of sample and serve over the bare loop), the
# PyTorch peer (when python3-torch is there) draws the same greedy ids from the
# same checkpoint, and the summary arithmetic holds.
set -u
SRC=${LLMPI_SOURCE_DIR:?}
BIN=${LLMPI_BIN:?}
BUILD=$(dirname "$BIN")
T=$(mktemp -d /tmp/llmpi-infer-bench-smoke-XXXXXX)
trap 'rm -rf "$T"' EXIT
"$SRC/benchmarks/infer_bench.sh" --build-dir "$BUILD" --shapes tiny --threads 1 --tokens 8 >"$T/out" 2>"$T/err" \
    || { cat "$T/err" >&2; echo "FAIL: infer_bench.sh"; exit 1; }
/usr/bin/python3 - "$T/out" <<'PY' || { cat "$T/out" "$T/err" >&2; echo "FAIL: infer_bench.sh output"; exit 1; }
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
get = lambda **k: next(r for r in rows if all(r.get(a) == b for a, b in k.items()))
d = get(bench="infer", mode="decode")
assert d["tokens"] == 7 and d["tok_s"] > 0 and len(d["ids"]) == 8, d
assert d["bytes_per_token"] == d["weight_bytes"] + d["kv_bytes"], d
s = get(bench="summary", shape="tiny")
st = get(bench="stream")
assert abs(s["bound_tok_s"] - st["read_gbs"] * 1e9 / d["bytes_per_token"]) < 0.01 * s["bound_tok_s"], (s, st)
assert abs(s["prefill_vs_train"] - s["prefill_tok_s"] / s["train_forward_tok_s"]) < 1e-3, s
try:
    import torch  # noqa: F401
    t = get(bench="torch_decode")
    assert s["same_ids"] is True, (t["ids"], d["ids"])
except ImportError:
    pass
for way in ("generate", "sample", "serve"):
    w = get(bench=way, shape="tiny")
    assert w["tokens"] == 15 and w["finish_reason"] == "length" and w["seconds_n"] > 0, w
# 15 tokens of a tiny model take less than the timing noise: the figures are
# there (a number, or null when noise hides the difference), not judged
o = get(bench="overhead", shape="tiny")
assert all(k in o for k in ("generate_tok_s", "sample_tok_s", "serve_tok_s", "sample_vs_generate")), o
PY
echo "infer_bench_smoke: ok"

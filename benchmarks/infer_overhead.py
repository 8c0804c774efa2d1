#!/usr/bin/env python3
"""infer_overhead.py: what `llmpi sample` and `llmpi serve` cost over the bare
generation loop, the overhead part of infer_bench.sh.

Three ways to draw N greedy tokens from the same byte-tokenizer checkpoint and
the same 16-byte prompt, each timed for N tokens and for 1 token so that the
rate (N - 1) / (t_N - t_1) leaves out start-up (loading, the first prefill,
the connection):
  generate  infer_bench --mode generate (infer_generate in one process, text
            discarded; it times its own N and 1 token runs)
  sample    `llmpi sample --temperature 0 --max-tokens K --json`, wall clock of
            the command
  serve     a streaming POST /v1/completions to a running `llmpi serve` (URL),
            wall clock at the client until `data: [DONE]`
The rounds interleave the three, so a shared machine's load weighs on each
alike; each time is the best over the rounds. One JSON line per way.

usage: infer_overhead.py --build-dir B --ckpt CKPT --url URL --tokens N --rounds R --threads T
                         --shape NAME --bench-args "--layers ..." """
import argparse
import http.client
import json
import subprocess
import time
import urllib.parse

ap = argparse.ArgumentParser()
for name in ("--build-dir", "--ckpt", "--url", "--shape", "--bench-args"):
    ap.add_argument(name, required=True)
ap.add_argument("--tokens", type=int, required=True)
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--threads", type=int, required=True)
a = ap.parse_args()
TEXT = "ROMEO: Is it so?"    # 16 bytes: 16 ids, as infer_bench's prompt
u = urllib.parse.urlparse(a.url)


def generate():
    out = subprocess.run([f"{a.build_dir}/infer_bench", "--mode", "generate", *a.bench_args.split(), "--threads",
                          str(a.threads), "--prompt", "16", "--tokens", str(a.tokens), "--reps", "1", "--ckpt",
                          a.ckpt], check=True, capture_output=True, text=True).stdout
    j = json.loads(out)
    return {a.tokens: (j["seconds_n"], j["tokens"], "length"), 1: (j["seconds_1"], 1, "length")}


def sample(k):
    t0 = time.perf_counter()
    out = subprocess.run([f"{a.build_dir}/llmpi", "sample", "--checkpoint", a.ckpt, "--prompt", TEXT,
                          "--temperature", "0", "--max-tokens", str(k), "--json"], check=True,
                         capture_output=True).stdout
    dt = time.perf_counter() - t0
    j = json.loads(out)
    return dt, j["tokens"], j["finish_reason"]


def serve(k):
    body = json.dumps({"prompt": TEXT, "max_tokens": k, "temperature": 0, "stream": True,
                       "stream_options": {"include_usage": True}})
    t0 = time.perf_counter()
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    c.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        raise SystemExit(f"infer_overhead: serve answered {r.status}")
    usage, finish = None, None
    for line in r:
        line = line.strip()
        if line == b"data: [DONE]":
            break
        if line.startswith(b"data: "):
            d = json.loads(line[6:])
            usage = d.get("usage") or usage
            for ch in d.get("choices", []):
                finish = ch.get("finish_reason") or finish
    dt = time.perf_counter() - t0
    c.close()
    return dt, usage["completion_tokens"], finish


best = {"generate": {}, "sample": {}, "serve": {}}


def keep(way, k, got):
    if k not in best[way] or got[0] < best[way][k][0]:
        best[way][k] = got


for r in range(a.rounds + 1):       # round 0 warms up (page cache, server)
    g = generate()
    runs = {"sample": {k: sample(k) for k in (1, a.tokens)}, "serve": {k: serve(k) for k in (1, a.tokens)}}
    if r == 0:
        continue
    for k in (1, a.tokens):
        keep("generate", k, g[k])
        keep("sample", k, runs["sample"][k])
        keep("serve", k, runs["serve"][k])
for way in ("generate", "sample", "serve"):
    tn, toks, finish = best[way][a.tokens]
    t1 = best[way][1][0]
    print(json.dumps({"bench": way, "shape": a.shape, "threads": a.threads, "tokens": toks, "finish_reason": finish,
                      "seconds_n": round(tn, 4), "seconds_1": round(t1, 4),
                      # null when noise hides the difference (a tiny model's few tokens)
                      "tok_s": round((toks - 1) / (tn - t1), 2) if tn > t1 else None}), flush=True)

#!/usr/bin/env python3
"""torch_decode_peer.py: PyTorch peer of infer_bench's decode, on the very
weights infer_bench --save wrote (a llmpi checkpoint, read with h5py): the
prompt ids (i * 7919 + 13) mod vocab, prefilled in one step, then N greedy
one-token steps on a preallocated per-layer KV cache, batch 1, float32, no
autograd. One JSON line with tok/s and the first 16 ids drawn (they should
equal infer_bench's: the same model).

usage: torch_decode_peer.py --ckpt CKPT --heads H [--threads N] [--prompt P] [--tokens N]"""
import argparse
import json
import math
import time

import h5py
import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--ckpt", required=True)
ap.add_argument("--heads", type=int, required=True)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--prompt", type=int, default=16)
ap.add_argument("--tokens", type=int, default=128)
a = ap.parse_args()
torch.set_num_threads(a.threads)

with h5py.File(a.ckpt, "r") as f:
    g = f["model"]
    P = {k: torch.from_numpy(g[k][()]).float().contiguous() for k in g.keys()}
wte, wpe = P["wte"], P["wpe"]
V, C = wte.shape
BS = wpe.shape[0]
L = len({k.split(".")[1] for k in P if k.startswith("h.")})
H = a.heads
hd = C // H
W = [{n: P[f"h.{l}.{n}"] for n in ("ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
                                    "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
                                    "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias")}
     for l in range(L)]
K = [torch.zeros(H, BS, hd) for _ in range(L)]
Vc = [torch.zeros(H, BS, hd) for _ in range(L)]
scale = 1.0 / math.sqrt(hd)


def step(ids, pos0):
    """Feeds ids at positions pos0.. into the cache; logits after the last."""
    T = ids.shape[0]
    x = wte[ids] + wpe[pos0:pos0 + T]
    end = pos0 + T
    for l, w in enumerate(W):
        h = F.layer_norm(x, (C,), w["ln_1.weight"], w["ln_1.bias"])
        q, k, v = F.linear(h, w["attn.c_attn.weight"], w["attn.c_attn.bias"]).split(C, dim=1)
        K[l][:, pos0:end] = k.view(T, H, hd).transpose(0, 1)
        Vc[l][:, pos0:end] = v.view(T, H, hd).transpose(0, 1)
        q = q.view(T, H, hd).transpose(0, 1)
        att = (q @ K[l][:, :end].transpose(-2, -1)) * scale
        if T > 1:
            mask = torch.ones(T, end, dtype=torch.bool).tril(diagonal=pos0).logical_not()
            att = att.masked_fill(mask, float("-inf"))
        y = (att.softmax(-1) @ Vc[l][:, :end]).transpose(0, 1).reshape(T, C)
        x = x + F.linear(y, w["attn.c_proj.weight"], w["attn.c_proj.bias"])
        h = F.layer_norm(x, (C,), w["ln_2.weight"], w["ln_2.bias"])
        x = x + F.linear(F.gelu(F.linear(h, w["mlp.c_fc.weight"], w["mlp.c_fc.bias"]), approximate="tanh"),
                         w["mlp.c_proj.weight"], w["mlp.c_proj.bias"])
    return F.linear(F.layer_norm(x[-1], (C,), P["ln_f.weight"], P["ln_f.bias"]), wte)


with torch.no_grad():
    ids = torch.tensor([(i * 7919 + 13) % V for i in range(a.prompt)])
    logits = step(ids, 0)
    out = [int(torch.argmax(logits))]
    logits = step(torch.tensor(out[-1:]), a.prompt)   # warm-up step, as infer_bench's
    pos = a.prompt + 1
    t0 = time.perf_counter()
    for _ in range(a.tokens - 1):
        out.append(int(torch.argmax(logits)))
        logits = step(torch.tensor(out[-1:]), pos)
        pos += 1
    dt = time.perf_counter() - t0
print(json.dumps({"bench": "torch_decode", "threads": a.threads, "torch": torch.__version__, "layers": L, "embd": C,
                  "vocab": V, "tokens": a.tokens - 1, "seconds": round(dt, 4), "tok_s": round((a.tokens - 1) / dt, 2),
                  "ids": out[:16]}))

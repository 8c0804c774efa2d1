#!/usr/bin/env python3
"""torch_decode_peer.py: PyTorch peer of infer_bench's decode: the GPT-2 124M
shape (random weights, float32), a 16-token prompt, then N one-token steps
on a per-layer KV cache (torch.cat), batch 1, no autograd. One JSON line."""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--tokens", type=int, default=128)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
L, H, C, V, BS = 12, 12, 768, 50257, 1024
hd = C // H
W = [dict(ln1w=torch.ones(C), ln1b=torch.zeros(C), qkvw=torch.randn(3 * C, C) * 0.02, qkvb=torch.zeros(3 * C),
          projw=torch.randn(C, C) * 0.02, projb=torch.zeros(C), ln2w=torch.ones(C), ln2b=torch.zeros(C),
          fcw=torch.randn(4 * C, C) * 0.02, fcb=torch.zeros(4 * C), fcpw=torch.randn(C, 4 * C) * 0.02,
          fcpb=torch.zeros(C)) for _ in range(L)]
wte, wpe = torch.randn(V, C) * 0.02, torch.randn(BS, C) * 0.01
lnfw, lnfb = torch.ones(C), torch.zeros(C)


def step(ids, pos0, cache):
    T = ids.shape[0]
    x = wte[ids] + wpe[pos0:pos0 + T]
    for l, w in enumerate(W):
        h = F.layer_norm(x, (C,), w["ln1w"], w["ln1b"])
        q, k, v = F.linear(h, w["qkvw"], w["qkvb"]).split(C, dim=1)
        q, k, v = (t.view(T, H, hd).transpose(0, 1) for t in (q, k, v))
        if cache[l] is not None:
            k, v = torch.cat([cache[l][0], k], 1), torch.cat([cache[l][1], v], 1)
        cache[l] = (k, v)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hd)
        if T > 1:
            att = att.masked_fill(torch.ones(T, T, dtype=torch.bool).tril().logical_not(), float("-inf"))
        y = (att.softmax(-1) @ v).transpose(0, 1).reshape(T, C)
        x = x + F.linear(y, w["projw"], w["projb"])
        h = F.layer_norm(x, (C,), w["ln2w"], w["ln2b"])
        x = x + F.linear(F.gelu(F.linear(h, w["fcw"], w["fcb"]), approximate="tanh"), w["fcpw"], w["fcpb"])
    return F.linear(F.layer_norm(x[-1], (C,), lnfw, lnfb), wte)


with torch.no_grad():
    cache = [None] * L
    ids = torch.randint(0, V, (16,))
    logits = step(ids, 0, cache)
    pos = 16
    nxt = torch.argmax(logits).view(1)
    logits = step(nxt, pos, cache)   # warm-up step
    pos += 1
    t0 = time.perf_counter()
    for _ in range(a.tokens - 1):
        nxt = torch.argmax(logits).view(1)
        logits = step(nxt, pos, cache)
        pos += 1
    dt = time.perf_counter() - t0
print(json.dumps({"bench": "torch_decode", "threads": a.threads, "torch": torch.__version__, "tokens": a.tokens - 1,
                  "seconds": round(dt, 4), "tok_s": round((a.tokens - 1) / dt, 2)}))

#!/usr/bin/env python3
"""torch_quality_peer.py: PyTorch DDP trains the llmpi GPT on an llmpi token store
for a wall-clock budget and saves snapshots that `llmpi import` reads.

The peer of `llmpi pretrain` in quality_bench.sh. Invariants:
- Same model as src/model/gpt.c (torch_peer.GPT), same AdamW (betas 0.9/0.95,
  eps 1e-8, decay on 2-D tensors only), clipping at 1.0 and the same schedule
  (torch_peer.lr_at: linear warm-up, cosine to min_lr_frac * lr at max_steps).
- Same data: the store's train tokens cut into windows of seq + 1 tokens at
  stride seq + 1, visited in a seeded random order, each rank its own slice of
  every global batch (as llmpi's loader); DistributedDataParallel over gloo
  averages the gradients.
- Time: rank 0 times each whole step (batch fetch, forward, backward with the
  all-reduce, clipping, optimizer) with perf_counter; `train_s` is the sum of
  those, the x axis quality_bench.sh plots (llmpi's metrics.jsonl `ms` is the
  same span). The run stops, on every rank together, before the wall time
  since the training loop began would pass --budget, or at --max-steps.
- Snapshots: every --snap-every steps and at the last step rank 0 copies the
  weights into memory (outside the timed span); after training it writes each
  as a Hugging Face GPT-2 directory (model.safetensors in the layout the
  safetensors spec gives, config.json, the store's tokenizer.json), so the
  same `llmpi eval` code scores both trainers.
Prints one JSON line per snapshot (step, train_s, loss) and a summary line.
With --probe N it only times N steps after three warm-up steps and prints the
median step time.
"""
import os
import sys

# the BLAS under torch reads these when torch loads: set them to --threads first
_threads = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv[:-1] else "1"
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = _threads

import argparse
import json
import math
import shutil
import struct
import time

import h5py
import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_ddp_peer import join_group, unbuffer_masks  # noqa: E402
from torch_peer import GPT, lr_at  # noqa: E402


def hf_tensors(model, n_layer):
    """(name, float32 numpy array) in transformers' GPT2LMHeadModel naming; the
    four Conv1D weights per block are stored [in, out] (nn.Linear keeps
    [out, in]), as src/export/hf.c reads them."""
    sd = {k: v.detach().float().cpu() for k, v in model.state_dict().items()}
    out = [("transformer.wte.weight", sd["wte.weight"]), ("transformer.wpe.weight", sd["wpe.weight"])]
    for i in range(n_layer):
        p, q = f"h.{i}.", f"transformer.h.{i}."
        out += [(q + "ln_1.weight", sd[p + "ln_1.weight"]), (q + "ln_1.bias", sd[p + "ln_1.bias"]),
                (q + "attn.c_attn.weight", sd[p + "c_attn.weight"].t()), (q + "attn.c_attn.bias", sd[p + "c_attn.bias"]),
                (q + "attn.c_proj.weight", sd[p + "attn_proj.weight"].t()),
                (q + "attn.c_proj.bias", sd[p + "attn_proj.bias"]),
                (q + "ln_2.weight", sd[p + "ln_2.weight"]), (q + "ln_2.bias", sd[p + "ln_2.bias"]),
                (q + "mlp.c_fc.weight", sd[p + "c_fc.weight"].t()), (q + "mlp.c_fc.bias", sd[p + "c_fc.bias"]),
                (q + "mlp.c_proj.weight", sd[p + "mlp_proj.weight"].t()),
                (q + "mlp.c_proj.bias", sd[p + "mlp_proj.bias"])]
    out += [("transformer.ln_f.weight", sd["ln_f.weight"]), ("transformer.ln_f.bias", sd["ln_f.bias"])]
    return [(n, t.contiguous().numpy().astype("<f4", copy=False)) for n, t in out]


def write_fsynced(path, chunks):
    """Writes the byte chunks to path through a temporary name, fsync, rename."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        for c in chunks:
            f.write(c)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_hf_dir(out_dir, tensors, a, vocab, tokenizer_json):
    """One snapshot as model.safetensors + config.json + tokenizer.json."""
    os.makedirs(out_dir, exist_ok=True)
    header, offset = {}, 0
    for name, arr in tensors:
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)  # the spec allows trailing spaces; keeps the data 8-aligned
    write_fsynced(os.path.join(out_dir, "model.safetensors"),
                  [struct.pack("<Q", len(hj)), hj] + [arr.tobytes() for _, arr in tensors])
    cfg = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "activation_function": "gelu_new",
           "layer_norm_epsilon": 1e-5, "n_layer": a.layers, "n_head": a.heads, "n_embd": a.embd,
           "n_positions": a.block, "n_ctx": a.block, "vocab_size": vocab, "tie_word_embeddings": True}
    write_fsynced(os.path.join(out_dir, "config.json"), [json.dumps(cfg, indent=1).encode()])
    shutil.copyfile(tokenizer_json, os.path.join(out_dir, "tokenizer.json"))


def worker(rank, a):
    join_group(rank, a.procs, a.threads, a.port)
    with h5py.File(a.store, "r") as f:
        vocab = int(np.asarray(f.attrs["vocab_size"]).reshape(-1)[0])
        tokens = torch.from_numpy(f["train/tokens"][...].astype(np.int64))
    span = a.seq + 1
    n_windows = tokens.numel() // span
    windows = tokens[: n_windows * span].view(n_windows, span)
    torch.manual_seed(a.seed)
    model = GPT(a.layers, a.heads, a.embd, vocab, a.block, False)
    unbuffer_masks(model)
    ddp = torch.nn.parallel.DistributedDataParallel(model, bucket_cap_mb=25)
    params = list(model.parameters())
    opt = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
                             {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8)
    order = torch.randperm(n_windows, generator=torch.Generator().manual_seed(a.seed))
    per_step = a.procs * a.batch
    snaps, train_s, times = [], 0.0, []
    steps = a.probe + 3 if a.probe else a.max_steps
    loop_start = time.perf_counter()
    last = 0.0
    for step in range(steps):
        t0 = time.perf_counter()
        first = (step * per_step + rank * a.batch) % n_windows
        idx = order[first: first + a.batch]
        if idx.numel() < a.batch:  # wrapped past the end of an epoch
            idx = torch.cat([idx, order[: a.batch - idx.numel()]])
        rows = windows[idx]
        x, y = rows[:, :-1].contiguous(), rows[:, 1:].contiguous()
        opt.zero_grad(set_to_none=False)
        loss = ddp(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, a.lr, a.warmup, a.max_steps, a.min_lr_frac)
        opt.step()
        lv = loss.item()
        last = time.perf_counter() - t0
        train_s += last
        times.append(last)
        if not math.isfinite(lv):
            sys.exit(f"torch_quality_peer: step {step + 1}: loss {lv} is not finite")
        done = step + 1
        # every rank stops at the same step: rank 0's clock decides
        stop = torch.tensor([1 if (time.perf_counter() - loop_start + 2 * last > a.budget) else 0])
        dist.broadcast(stop, 0)
        final = done == steps or bool(stop.item())
        if rank == 0 and not a.probe and (done % a.snap_every == 0 or final):
            snaps.append((done, train_s, lv, hf_tensors(model, a.layers)))
            print(json.dumps({"step": done, "train_s": round(train_s, 3), "loss": lv}), flush=True)
        if final:
            break
    if rank == 0:
        if a.probe:
            ts = sorted(times[3:])  # the first steps warm up allocator and gloo
            print(json.dumps({"impl": "torch-ddp", "procs": a.procs, "threads": a.threads,
                              "probe_steps": len(ts), "median_step_s": ts[len(ts) // 2]}), flush=True)
        else:
            for done, _, _, tensors in snaps:
                write_hf_dir(os.path.join(a.out, f"step-{done:08d}"), tensors, a, vocab, a.tokenizer)
            print(json.dumps({"impl": "torch-ddp", "procs": a.procs, "threads": a.threads, "steps": done,
                              "train_s": round(train_s, 3),
                              "tokens": done * per_step * a.seq,
                              "wall_s": round(time.perf_counter() - loop_start, 3),
                              "torch_version": torch.__version__}), flush=True)
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True)
    ap.add_argument("--tokenizer", help="the store's tokenizer.json, copied into each snapshot")
    ap.add_argument("--out", help="folder for the snapshots (step-NNNNNNNN/)")
    for name, default in (("layers", 6), ("heads", 6), ("embd", 384), ("seq", 256), ("block", 256), ("batch", 8),
                          ("threads", 1), ("procs", 2), ("max-steps", 100), ("warmup", 20), ("snap-every", 10),
                          ("probe", 0), ("seed", 1337), ("port", 29517)):
        ap.add_argument("--" + name, type=int, default=default)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--budget", type=float, default=1e9, help="seconds of wall time for the training loop")
    a = ap.parse_args()
    if not a.probe and (not a.out or not a.tokenizer):
        sys.exit("torch_quality_peer: --out and --tokenizer are needed unless --probe")
    if a.seq > a.block or a.embd % a.heads or min(a.procs, a.threads, a.batch, a.max_steps, a.snap_every) < 1:
        sys.exit("torch_quality_peer: need seq <= block, heads dividing embd, positive counts")
    mp.spawn(worker, args=(a,), nprocs=a.procs, join=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""torch_ddp_peer.py: PyTorch DistributedDataParallel peer for scaling_bench.sh.

The same GPT as torch_peer.py (imported from it), trained by N processes x T
threads with torch.nn.parallel.DistributedDataParallel over the gloo backend
on 127.0.0.1, each process with the same per-rank batch (weak scaling), the
same AdamW and clipping as llmpi. Times whole steps after warm-up on rank 0
and prints one JSON line: tokens_per_s (all ranks), ms_per_step, peak RSS of
rank 0, and the time rank 0 spends in backward (where DDP overlaps its bucketed
all-reduce, so exposed communication is the growth of that phase).
"""
import os
import sys

# the BLAS under torch reads these when torch loads: set them to --threads first
_threads = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv[:-1] else "1"
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = _threads

import argparse
import json
import resource
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_peer import GPT, lr_at  # noqa: E402


def join_group(rank, procs, threads, port):
    """Pins this process to its own cores, as llmpi's `mpirun --bind-to core`
    (torch's BLAS would otherwise start threads of its own beyond
    set_num_threads), and joins the gloo group on 127.0.0.1."""
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[(rank * threads + i) % len(cores)] for i in range(threads)})
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=procs)


def unbuffer_masks(model):
    """gloo cannot broadcast the bool causal-mask buffers: keeps them as plain
    attributes (identical on every rank anyway)."""
    for blk in model.h:
        blk.causal = blk._buffers.pop("causal")


def worker(rank, a):
    join_group(rank, a.procs, a.threads, a.port)
    torch.manual_seed(a.seed)
    model = GPT(a.layers, a.heads, a.embd, a.vocab, a.seq, False)
    unbuffer_masks(model)
    ddp = torch.nn.parallel.DistributedDataParallel(model, bucket_cap_mb=25)
    params = list(model.parameters())
    opt = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
                             {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
                            lr=6e-4, betas=(0.9, 0.95), eps=1e-8)
    gen = torch.Generator().manual_seed(a.seed + rank)
    total = a.warmup_steps + a.steps
    times, bwd = [], 0.0
    for step in range(total):
        rows = torch.randint(0, a.vocab, (a.batch, a.seq + 1), generator=gen)
        x, y = rows[:, :-1].contiguous(), rows[:, 1:].contiguous()
        dist.barrier()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        loss = ddp(x, y)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, 6e-4, 2, total, 0.1)
        opt.step()
        t3 = time.perf_counter()
        if step >= a.warmup_steps:
            times.append(t3 - t0)
            bwd += t2 - t1
    if rank == 0:
        n = len(times)
        step_s = sum(times) / n
        print(json.dumps({
            "impl": "torch-ddp", "config": a.label, "procs": a.procs, "threads": a.threads,
            "layers": a.layers, "heads": a.heads, "embd": a.embd, "vocab": a.vocab, "seq": a.seq,
            "batch_per_rank": a.batch, "steps": n,
            "tokens_per_s": a.procs * a.batch * a.seq / step_s, "ms_per_step": step_s * 1e3,
            "backward_ms": bwd / n * 1e3,
            "peak_rss_mb_rank0": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6,
        }, separators=(",", ":")), flush=True)
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (("layers", 6), ("heads", 6), ("embd", 384), ("vocab", 8192), ("seq", 256),
                          ("batch", 8), ("threads", 1), ("procs", 2), ("steps", 5), ("warmup-steps", 2),
                          ("seed", 1), ("port", 29511)):
        ap.add_argument("--" + name, type=int, default=default)
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    mp.spawn(worker, args=(a,), nprocs=a.procs, join=True)


if __name__ == "__main__":
    main()

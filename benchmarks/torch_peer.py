#!/usr/bin/env python3
"""torch_peer.py: the llmpi GPT written in plain PyTorch, timed the same way.

The peer of benchmarks/bench_train.c for train_bench.sh. Invariants:
- Same model as src/model/gpt.c: pre-LN blocks, fused qkv with bias, causal
  attention, tanh GELU, 4C MLP, final LayerNorm, LM head tied to wte (no
  bias), learned positions over block_size rows, LayerNorm eps 1e-5.
- Same step: zero grads, forward, mean cross-entropy, backward,
  clip_grad_norm_(1.0), scheduled lr, torch.optim.AdamW(betas=(0.9, 0.95),
  eps=1e-8, weight_decay=0.1 on 2-D tensors only, 0 elsewhere).
- Same work: batch x seq random ids (seeded), warm-up steps untimed, then
  whole steps timed with perf_counter; the id draw is outside the timing.
- Threads: torch.set_num_threads(T), set_num_interop_threads(1); the driver
  also pins OMP_NUM_THREADS and the CPU set. Attention is written out as a
  masked softmax because Debian's torch 1.13 has no scaled_dot_product_attention
  (when the running torch has it, --sdpa uses it).
Prints one JSON line on stdout, with the same keys as bench_train's where the
meaning is the same (tokens_per_s, ms_per_step, peak_rss_mb, loss_first...).
"""
import argparse
import json
import math
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, n_embd, n_head, block_size, use_sdpa):
        super().__init__()
        self.n_head = n_head
        self.use_sdpa = use_sdpa
        self.ln_1 = nn.LayerNorm(n_embd, eps=1e-5)
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.attn_proj = nn.Linear(n_embd, n_embd)
        self.ln_2 = nn.LayerNorm(n_embd, eps=1e-5)
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.mlp_proj = nn.Linear(4 * n_embd, n_embd)
        mask = torch.tril(torch.ones(block_size, block_size, dtype=torch.bool))
        self.register_buffer("causal", mask.view(1, 1, block_size, block_size), persistent=False)

    def attention(self, x):
        """Causal multi-head self-attention of (B, T, C) x, output projected."""
        B, T, C = x.shape
        hs = C // self.n_head
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)
        if self.use_sdpa:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
            att = att.masked_fill(~self.causal[:, :, :T, :T], float("-inf"))
            y = F.softmax(att, dim=-1) @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.attn_proj(y)

    def forward(self, x):
        """Pre-LN block: x + attn(ln_1(x)), then + mlp(ln_2(x))."""
        x = x + self.attention(self.ln_1(x))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, n_layer, n_head, n_embd, vocab, block_size, use_sdpa):
        super().__init__()
        self.wte = nn.Embedding(vocab, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.h = nn.ModuleList(Block(n_embd, n_head, block_size, use_sdpa) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd, eps=1e-5)
        self.lm_head = nn.Linear(n_embd, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied: one tensor, counted once
        self._init_gpt2(n_layer)

    def _init_gpt2(self, n_layer):
        """GPT-2 init, as gpt_init_weights: N(0, 0.02), residual projections
        scaled by 1/sqrt(2L), biases 0, LayerNorm (1, 0)."""
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * n_layer) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, mean=0.0, std=std)
            elif "ln_" in name and name.endswith("weight"):
                nn.init.ones_(p)
            else:
                nn.init.zeros_(p)

    def forward(self, idx, targets):
        """Mean cross-entropy of next-token targets (B, T) given ids idx (B, T)."""
        B, T = idx.shape
        pos = torch.arange(T, dtype=torch.long)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def lr_at(step, lr, warmup, max_steps, min_lr_frac):
    """sched_lr of src/train/optim.c: linear warmup, then cosine to the floor."""
    if step < warmup:
        return lr * (step + 1) / warmup
    if max_steps - 1 <= warmup:
        return lr
    ratio = min(1.0, (step - warmup) / (max_steps - 1 - warmup))
    return min_lr_frac * lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr_frac * lr)


def main():
    """Parses the options, trains warm-up + timed steps, prints the JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--embd", type=int, default=384)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--block-size", type=int, default=0, help="default: --seq")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup-steps", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--label", default="")
    ap.add_argument("--sdpa", action="store_true",
                    help="use F.scaled_dot_product_attention (torch >= 2.0)")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    block_size = a.block_size or a.seq
    for name in ("layers", "heads", "embd", "vocab", "seq", "batch", "threads", "steps"):
        if getattr(a, name) < 1:
            sys.exit(f"torch_peer: --{name} must be >= 1")
    if a.warmup_steps < 0 or a.seq > block_size or a.embd % a.heads:
        sys.exit("torch_peer: need warmup >= 0, seq <= block size, heads dividing embd")
    if a.sdpa and not hasattr(F, "scaled_dot_product_attention"):
        sys.exit(f"torch_peer: --sdpa: torch {torch.__version__} has no scaled_dot_product_attention")

    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set once parallel work started; it only matters for inter-op pools
    torch.manual_seed(a.seed)

    t_setup = time.perf_counter()
    model = GPT(a.layers, a.heads, a.embd, a.vocab, block_size, a.sdpa)
    model.train()
    params = list(model.parameters())  # the tied tensor appears once
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=6e-4, betas=(0.9, 0.95), eps=1e-8)
    t_setup = time.perf_counter() - t_setup
    n_params = sum(p.numel() for p in params)

    total_steps = a.warmup_steps + a.steps
    warm = max(a.warmup_steps, 1)
    gen = torch.Generator().manual_seed(a.seed)
    times, fwd_bwd, optim_t = [], 0.0, 0.0
    loss_first = loss_last = norm_last = float("nan")
    for step in range(total_steps):
        rows = torch.randint(0, a.vocab, (a.batch, a.seq + 1), generator=gen)
        x, y = rows[:, :-1].contiguous(), rows[:, 1:].contiguous()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)  # as llmpi: gradients zeroed in place
        loss = model(x, y)
        loss.backward()
        t1 = time.perf_counter()
        norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
        lr = lr_at(step, 6e-4, warm, total_steps, 0.1)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.step()
        t2 = time.perf_counter()
        lv = loss.item()
        if not math.isfinite(lv):
            sys.exit(f"torch_peer: step {step}: loss {lv} is not finite")
        if step == 0:
            loss_first = lv
        loss_last, norm_last = lv, float(norm)
        if a.verbose:
            print(f"step {step}: loss {lv:.4f} norm {norm_last:.4f} fwd+bwd {(t1 - t0) * 1e3:.1f} ms "
                  f"optim {(t2 - t1) * 1e3:.1f} ms", file=sys.stderr)
        if step >= a.warmup_steps:
            times.append(t2 - t0)
            fwd_bwd += t1 - t0
            optim_t += t2 - t1

    total = sum(times)
    n = len(times)
    srt = sorted(times)
    median = srt[n // 2] if n % 2 else 0.5 * (srt[n // 2 - 1] + srt[n // 2])
    tokens_per_s = a.batch * a.seq * n / total
    flops_per_token = 6 * n_params + 12 * a.layers * a.seq * a.embd  # exact integer
    out = {
        "impl": "torch", "config": a.label, "torch_version": torch.__version__,
        "layers": a.layers, "heads": a.heads, "embd": a.embd, "vocab": a.vocab,
        "block_size": block_size, "seq": a.seq, "batch": a.batch, "threads": a.threads,
        "torch_threads": torch.get_num_threads(), "steps": n, "warmup_steps": a.warmup_steps,
        "params": n_params, "seed": a.seed, "flops_per_token": flops_per_token,
        "tokens_per_s": tokens_per_s, "ms_per_step": total / n * 1e3,
        "ms_per_step_median": median * 1e3, "ms_per_step_min": srt[0] * 1e3,
        "achieved_gflops": flops_per_token * tokens_per_s * 1e-9,
        # ru_maxrss is in KiB on Linux
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6,
        "setup_s": t_setup, "loss_first": loss_first, "loss_last": loss_last,
        "grad_norm_last": norm_last,
        "phases": {"fwd_bwd_ms": fwd_bwd / n * 1e3, "optimizer_ms": optim_t / n * 1e3},
    }
    print(json.dumps(out, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""gpt_reference.py: float64 PyTorch reference for llmpi's hand-written GPT.

Writes tests/fixtures/gpt_reference.h5, which tests/test_gpt_reference.c reads
with the HDF5 C API (no Python at test time).

What the fixture pins down, for a tiny config (2 layers, 4 heads, C=32,
block 16, V=67 odd and unpadded, B=3, T=11 < block):
  - logits (B,T,V) and the mean cross-entropy (ignore_index=-1) of one batch,
  - the gradient of that mean loss for every parameter, by PyTorch name,
  - K=4 AdamW steps run the way llmpi's trainer runs them (global-norm
    clipping, warmup+cosine schedule, decay on 2-D weights only), with each
    step's batch, lr, grad norm before clipping, clip factor, and the final
    parameters.

Invariants:
  - The initial parameters are float32-representable (multiples of 2^-14
    below 2^9 in magnitude), so the float64 reference starts from exactly the values the C
    model holds; every difference the test sees is the C code's float32
    arithmetic, not a different starting point.
  - Every number is float64 computed in float64 (torch default dtype set to
    float64 before anything is built).
  - Same seed, same torch/h5py: byte-identical file (no HDF5 timestamps,
    fixed gzip level, attributes written in a fixed order).
  - max_norm is chosen here, then checked: clipping must be active in some
    steps and inactive in others, with every norm at least CLIP_MARGIN away
    from max_norm, so float32 rounding in C cannot flip a decision.

Regenerate (from the repository root):
  /usr/bin/python3 tests/reference/gpt_reference.py tests/fixtures/gpt_reference.h5
"""
import math
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FORMAT = "llmpi-gpt-reference"
VERSION = 1

N_LAYER, N_HEAD, N_EMBD, BLOCK_SIZE, VOCAB_SIZE = 2, 4, 32, 16, 67
B, T = 3, 11
K_STEPS = 4
LR, WARMUP, MAX_STEPS, MIN_LR_FRAC = 3e-3, 2, 6, 0.1
BETA1, BETA2, EPS, WEIGHT_DECAY = 0.9, 0.95, 1e-8, 0.1
LN_EPS = 1e-5
SEED = 1234
# A grad norm closer than this (relative) to max_norm could be clipped in one
# precision and not in the other; the script refuses such a max_norm.
CLIP_MARGIN = 0.05
# Initial parameters are multiples of 1/GRID.
GRID = 2.0 ** 14
# How many target positions per batch are -1 (ignored).
N_IGNORED = 4


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        C = N_EMBD
        self.ln_1 = nn.LayerNorm(C, eps=LN_EPS)
        self.attn = nn.Module()
        self.attn.c_attn = nn.Linear(C, 3 * C)
        self.attn.c_proj = nn.Linear(C, C)
        self.ln_2 = nn.LayerNorm(C, eps=LN_EPS)
        self.mlp = nn.Module()
        self.mlp.c_fc = nn.Linear(C, 4 * C)
        self.mlp.c_proj = nn.Linear(4 * C, C)

    def attention(self, x):
        Bx, Tx, C = x.shape
        hd = C // N_HEAD
        # c_attn rows are q, then k, then v; head h owns columns h*hd..(h+1)*hd.
        q, k, v = self.attn.c_attn(x).split(C, dim=2)
        q = q.view(Bx, Tx, N_HEAD, hd).transpose(1, 2)
        k = k.view(Bx, Tx, N_HEAD, hd).transpose(1, 2)
        v = v.view(Bx, Tx, N_HEAD, hd).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))
        causal = torch.tril(torch.ones(Tx, Tx, dtype=torch.bool))
        att = att.masked_fill(~causal, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(Bx, Tx, C)
        return self.attn.c_proj(y)

    def forward(self, x):
        x = x + self.attention(self.ln_1(x))
        x = x + self.mlp.c_proj(F.gelu(self.mlp.c_fc(self.ln_2(x)), approximate="tanh"))
        return x


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Parameter(torch.empty(VOCAB_SIZE, N_EMBD))
        self.wpe = nn.Parameter(torch.empty(BLOCK_SIZE, N_EMBD))
        self.h = nn.ModuleList([Block() for _ in range(N_LAYER)])
        self.ln_f = nn.LayerNorm(N_EMBD, eps=LN_EPS)

    def forward(self, idx, targets):
        Tx = idx.shape[1]
        x = self.wte[idx] + self.wpe[:Tx]
        for block in self.h:
            x = block(x)
        logits = F.linear(self.ln_f(x), self.wte)  # tied head, no bias
        loss = F.cross_entropy(logits.view(-1, VOCAB_SIZE), targets.view(-1),
                               ignore_index=-1, reduction="mean")
        return logits, loss


def init_params(model, gen):
    """Random, non-trivial values for every tensor, rounded through float32."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                v = torch.randn(p.shape, generator=gen) * 0.1
            elif name.endswith("ln_1.weight") or name.endswith("ln_2.weight") \
                    or name.endswith("ln_f.weight"):
                v = 1.0 + torch.randn(p.shape, generator=gen) * 0.2
            else:  # biases, LayerNorm biases: small but non-zero
                v = torch.randn(p.shape, generator=gen) * 0.05
            # On a 2^-14 grid: exact in float32, and the fixture compresses
            # (most mantissa bits are zero). No bias may round to zero.
            v = torch.round(v * GRID) / GRID
            v[v == 0] = 1.0 / GRID
            p.copy_(v)


def make_batch(gen):
    """Random tokens and targets; N_IGNORED distinct target positions are -1."""
    inputs = torch.randint(0, VOCAB_SIZE, (B, T), generator=gen)
    targets = torch.randint(0, VOCAB_SIZE, (B, T), generator=gen)
    flat = targets.view(-1)
    flat[torch.randperm(B * T, generator=gen)[:N_IGNORED]] = -1
    return inputs, targets


def sched_lr(step):
    """optim.h's schedule, in float64."""
    if step < WARMUP:
        return LR * (step + 1) / WARMUP
    min_lr = MIN_LR_FRAC * LR
    p = (step - WARMUP) / (MAX_STEPS - 1 - WARMUP)
    p = min(1.0, max(0.0, p))
    return min_lr + 0.5 * (LR - min_lr) * (1.0 + math.cos(math.pi * p))


def run_steps(init_state, batches, max_norm):
    """K AdamW steps as llmpi's trainer takes them; returns per-step records and
    the final parameters."""
    model = GPT()
    model.load_state_dict(init_state)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    # model.parameters() yields the tied wte once, so it decays once.
    assert len(decay) + len(no_decay) == len(list(model.parameters()))
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=LR, betas=(BETA1, BETA2), eps=EPS)
    lrs, norms, factors, losses = [], [], [], []
    for step, (inputs, targets) in enumerate(batches):
        lr = sched_lr(step)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        _, loss = model(inputs, targets)
        loss.backward()
        norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm))
        opt.step()
        lrs.append(lr)
        norms.append(norm)
        factors.append(min(1.0, max_norm / (norm + 1e-6)))
        losses.append(float(loss))
    return lrs, norms, factors, losses, model


def choose_max_norm(init_state, batches):
    """A float32-representable max_norm that clips some steps and not others,
    every norm at least CLIP_MARGIN away from it. Clipping changes the
    trajectory and so the later norms, so each candidate (the geometric middle
    of a gap between sorted norms) is re-run and re-centred until it holds."""
    _, norms, _, _, _ = run_steps(init_state, batches, float("inf"))
    for rank in range(1, len(norms)):
        for _ in range(10):
            ordered = sorted(norms)
            max_norm = float(np.float32(math.sqrt(ordered[rank - 1] * ordered[rank])))
            _, norms, _, _, _ = run_steps(init_state, batches, max_norm)
            clipped = sum(n > max_norm for n in norms)
            far = all(abs(n - max_norm) > CLIP_MARGIN * max_norm for n in norms)
            if 0 < clipped < len(norms) and far:
                return max_norm
    sys.exit("gpt_reference.py: no max_norm splits the steps with margin: %r" % norms)


def open_untimed(path):
    """A new HDF5 file (1.10 format: compact chunk indexes) whose root group
    carries no timestamp, so reruns give the same bytes."""
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_V110, h5py.h5f.LIBVER_V110)
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)
    return h5py.File(h5py.h5f.create(path.encode(), h5py.h5f.ACC_TRUNC, fapl=fapl, fcpl=fcpl))


def untimed_group(parent, name):
    gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    gcpl.set_obj_track_times(False)
    h5py.h5g.create(parent.id, name.encode(), gcpl=gcpl)
    return parent[name]


def write_dataset(group, name, data, compress):
    kwargs = {"track_times": False}
    if compress:
        kwargs.update(compression="gzip", compression_opts=9, shuffle=True)
    group.create_dataset(name, data=data, **kwargs)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gpt_reference.py OUT.h5")
    out_path = sys.argv[1]
    torch.set_default_dtype(torch.float64)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)  # fixed reduction order
    gen = torch.Generator().manual_seed(SEED)

    model = GPT()
    init_params(model, gen)
    names = [n for n, _ in model.named_parameters()]
    init_state = {k: v.clone() for k, v in model.state_dict().items()}

    inputs, targets = make_batch(gen)
    logits, loss = model(inputs, targets)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    n_targets = int((targets != -1).sum())

    batches = [make_batch(gen) for _ in range(K_STEPS)]
    max_norm = choose_max_norm(init_state, batches)
    lrs, norms, factors, losses, stepped = run_steps(init_state, batches, max_norm)
    after = dict(stepped.named_parameters())

    tmp_path = "%s.tmp.%d" % (out_path, os.getpid())
    with open_untimed(tmp_path) as f:
        attrs = [("format", FORMAT), ("version", VERSION),
                 ("n_layer", N_LAYER), ("n_head", N_HEAD), ("n_embd", N_EMBD),
                 ("block_size", BLOCK_SIZE), ("vocab_size", VOCAB_SIZE),
                 ("B", B), ("T", T), ("K", K_STEPS), ("seed", SEED),
                 ("ln_eps", LN_EPS), ("lr", LR), ("warmup_steps", WARMUP),
                 ("max_steps", MAX_STEPS), ("min_lr_frac", MIN_LR_FRAC),
                 ("beta1", BETA1), ("beta2", BETA2), ("eps", EPS),
                 ("weight_decay", WEIGHT_DECAY), ("max_norm", max_norm),
                 ("n_targets", n_targets), ("torch_version", torch.__version__)]
        for key, value in attrs:
            if isinstance(value, int):
                f.attrs.create(key, value, dtype=np.int32)
            elif isinstance(value, float):
                f.attrs.create(key, value, dtype=np.float64)
            else:
                f.attrs[key] = np.string_(value)
        f.attrs.create("param_names", np.array([np.string_(n) for n in names]))
        write_dataset(f, "inputs", inputs.numpy().astype(np.int32), False)
        write_dataset(f, "targets", targets.numpy().astype(np.int32), False)
        write_dataset(f, "logits", logits.detach().numpy(), True)
        write_dataset(f, "loss", np.float64(float(loss)), False)
        g_params, g_grads, g_after = [untimed_group(f, n) for n in
                                      ("params", "grads", "params_after")]
        for n in names:
            write_dataset(g_params, n, init_state[n].numpy(), True)
            write_dataset(g_grads, n, grads[n].numpy(), True)
            write_dataset(g_after, n, after[n].detach().numpy(), True)
        s = untimed_group(f, "steps")
        write_dataset(s, "inputs", np.stack([b[0].numpy() for b in batches]).astype(np.int32), True)
        write_dataset(s, "targets", np.stack([b[1].numpy() for b in batches]).astype(np.int32), True)
        write_dataset(s, "lr", np.array(lrs), False)
        write_dataset(s, "grad_norm", np.array(norms), False)
        write_dataset(s, "clip_factor", np.array(factors), False)
        write_dataset(s, "loss", np.array(losses), False)
        sched_steps = np.arange(MAX_STEPS + 3, dtype=np.int32)
        write_dataset(s, "sched_step", sched_steps, False)
        write_dataset(s, "sched_lr", np.array([sched_lr(int(i)) for i in sched_steps]), False)
    with open(tmp_path, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp_path, out_path)
    print("wrote %s: loss %.6f over %d targets, max_norm %.6g, norms %s, clipped %s, %d bytes"
          % (out_path, float(loss), n_targets, max_norm, ["%.4g" % n for n in norms],
             [n > max_norm for n in norms], os.path.getsize(out_path)))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""masked_loss_torch.py CKPT.h5 SFT.h5 SEQ N_HEAD EVAL.json: the masked SFT
loss of `llmpi eval --split val --json` recomputed independently in PyTorch.

From docs/sft.md, not from the C code: the val split's examples are packed
into rows of SEQ+1 tokens by bounded best fit (32 open rows), each row turned
into inputs row[0..T-1] and targets row[t+1] where loss_mask marks position
t+1 (else ignored, padding <|endoftext|>). The model is tests/reference/
gpt_reference.py's GPT in float64 with the checkpoint's weights. Checks the
total and per-source masked cross-entropy and target counts against
EVAL.json; prints the figures. Exit 1 on a mismatch."""
import json
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import gpt_reference as ref  # noqa: E402

OPEN = 32


def pack(lengths, cap):
    """Rows (lists of example indices, stored order) by bounded best fit."""
    open_rows = []   # [row, room], oldest first
    row_of = []
    n_rows = 0
    for L in lengths:
        L = min(L, cap)
        fits = [i for i, (_, room) in enumerate(open_rows) if room >= L]
        if fits:
            best = min(fits, key=lambda i: (open_rows[i][1], i))
        else:
            open_rows.append([n_rows, cap])
            n_rows += 1
            best = len(open_rows) - 1
        row_of.append(open_rows[best][0])
        open_rows[best][1] -= L
        if open_rows[best][1] == 0:
            del open_rows[best]
        elif len(open_rows) > OPEN:
            del open_rows[0]
    rows = [[] for _ in range(n_rows)]
    for k, r in enumerate(row_of):
        rows[r].append(k)
    return rows


def main():
    ckpt, store, T, n_head, eval_json = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    got = json.load(open(eval_json))
    with h5py.File(store, "r") as f:
        g = f["val"]
        tokens = g["tokens"][()].astype(np.int64)
        mask = g["loss_mask"][()]
        offsets = g["example_offsets"][()].astype(np.int64)
        source = g["example_source"][()].astype(np.int64)
        eot = int(f.attrs["eot_id"]) if "eot_id" in f.attrs else None
        names = [json.loads(f.attrs["report"])["sources"][i]["name"] for i in range(int(source.max()) + 1)] \
            if "report" in f.attrs else None
    with h5py.File(ckpt, "r") as f:
        g = f["model"]
        V, C = g["wte"].shape
        ref.VOCAB_SIZE, ref.N_EMBD, ref.BLOCK_SIZE, ref.N_HEAD = V, C, g["wpe"].shape[0], n_head
        ref.N_LAYER = len({k.split(".")[1] for k in g.keys() if k.startswith("h.")})
        model = ref.GPT().double()
        model.load_state_dict({k: torch.from_numpy(g[k][()]).double() for k in g.keys()}, strict=True)
    if eot is None:
        raise SystemExit("the store has no eot_id attribute")
    cap = T + 1
    rows = pack(list(np.diff(offsets)), cap)
    n_src = int(source.max()) + 1
    inputs, targets, srcs = [], [], []
    for r in rows:
        tok, tgt_ok, src = [], [], []
        for k in r:
            a = offsets[k]
            e = min(offsets[k + 1], a + cap)
            tok += list(tokens[a:e])
            tgt_ok += list(mask[a:e])
            src += [source[k]] * (e - a)
        pad = cap - len(tok)
        tok += [eot] * pad
        tgt_ok += [0] * pad
        src += [-1] * pad
        inputs.append(tok[:T])
        targets.append([tok[t + 1] if tgt_ok[t + 1] else -1 for t in range(T)])
        srcs.append(src[1:])
    assert len(rows) == got["windows"], ("rows", len(rows), got["windows"])
    x, y, s = torch.tensor(inputs), torch.tensor(targets), torch.tensor(srcs)
    with torch.no_grad():
        logits, _ = model(x, y)
        ce = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1), ignore_index=-1, reduction="none")
    y, s = y.reshape(-1), s.reshape(-1)
    counted = y >= 0
    total, n = float(ce[counted].sum()), int(counted.sum())
    print(f"torch: {len(rows)} rows of {T}+1, {n} targets, masked loss {total / n:.8f}; llmpi {got['loss']:.8f}")
    ok = n == got["tokens"] and abs(total / n - got["loss"]) <= 1e-5 * abs(total / n)
    for i in range(n_src):
        sel = counted & (s == i)
        ni = int(sel.sum())
        li = float(ce[sel].sum()) / ni if ni else None
        gi = got["sources"][i]
        if names and gi["name"] != names[i]:
            ok = False
        good = gi["tokens"] == ni and (li is None and gi["loss"] is None
                                        or li is not None and gi["loss"] is not None
                                        and abs(li - gi["loss"]) <= 1e-5 * abs(li))
        print(f"  {gi['name']:<16} torch {ni:6d} targets {li if li is None else round(li, 8)}; "
              f"llmpi {gi['tokens']:6d} {gi['loss']}{'' if good else '   MISMATCH'}")
        ok = ok and good
    if not ok:
        raise SystemExit("masked loss differs from the PyTorch reference")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""greedy_check.py CKPT.h5 PROMPT N: greedy continuation of a byte-tokenizer
checkpoint by the PyTorch reference model (gpt_reference.py's GPT, float64),
printed as one line of space-separated token ids (the prompt's bytes first
fed as ids 0..255; stops early at <|endoftext|> = 256).

Used by greedy_check.sh to compare with `llmpi sample --temperature 0`."""
import os
import sys

import h5py
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpt_reference as ref  # noqa: E402


def main():
    path, prompt, n = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
    with h5py.File(path, "r") as f:
        g = f["model"]
        V, C = g["wte"].shape
        ref.VOCAB_SIZE, ref.N_EMBD = V, C
        ref.BLOCK_SIZE = g["wpe"].shape[0]
        ref.N_LAYER = len({k.split(".")[1] for k in g.keys() if k.startswith("h.")})
        ref.N_HEAD = int(f.attrs["n_head"]) if "n_head" in f.attrs else int(sys.argv[4])
        model = ref.GPT().double()
        state = {k: torch.from_numpy(g[k][()]).double() for k in g.keys()}
    model.load_state_dict(state, strict=True)
    ids = list(prompt)
    out = []
    with torch.no_grad():
        for _ in range(n):
            ctx = torch.tensor([ids[-ref.BLOCK_SIZE:]])
            logits, _ = model(ctx, torch.full_like(ctx, -1))
            nxt = int(torch.argmax(logits[0, -1]))
            if nxt == 256:
                break
            out.append(nxt)
            ids.append(nxt)
    print(" ".join(map(str, out)))


if __name__ == "__main__":
    main()

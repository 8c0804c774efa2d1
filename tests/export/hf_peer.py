#!/usr/bin/python3
"""hf_peer.py: the independent side of tests/export/hf_check.sh.

Written from the safetensors spec and GPT-2's published architecture, not
from llmpi's code:
  read_safetensors(path): the format by hand with numpy (8-byte LE header
      size, JSON header, byte buffer), checking what the spec demands.
  GPT2 (torch, float64): built from config.json alone, weights taken from
      the safetensors file by their HF names (Conv1D weights are [in, out]).

Commands:
  structure DIR CKPT.h5       the header is sorted, 8-byte aligned, tiles the
                              buffer in key order; metadata format "pt"; no
                              lm_head (tied); tokenizer.json is the
                              checkpoint's /tokenizer_json byte for byte;
                              tokenizer_config.json names the specials
  logits DIR IDS.txt L.f32    torch logits of the batch vs llmpi's (rel 1e-5)
  same_params A.h5 B.h5       /model of both checkpoints bit-identical
  mutate DIR KIND OUTDIR      writes a damaged copy of DIR (see KINDS)
  gpt2_layout DIR OUTDIR      GPT-2's published layout: no "transformer."
                              prefix, attn.bias mask buffers, lm_head.weight
  half DIR KIND OUTDIR        the weights stored as F16 or BF16
  chat DIR SYSTEM USER        renders tokenizer_config.json's chat_template
                              with jinja2 as transformers does (sandboxed,
                              trim_blocks, lstrip_blocks) and checks it
                              against llmpi-chat-1 as docs/sft.md states it;
                              prints the generation prompt
  expect_half A.h5 B.h5 KIND  B's params are A's rounded through KIND
"""
import json
import math
import os
import shutil
import struct
import sys

import numpy as np

DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
          "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_, "BF16": np.uint16}


def read_raw(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    return data, n, header


def read_safetensors(path):
    """{name: numpy array (F32 as float32)}, metadata, raw header bytes length."""
    data, n, header = read_raw(path)
    buf = data[8 + n:]
    meta = header.pop("__metadata__", {})
    out, spans = {}, []
    for name, e in header.items():
        dt = np.dtype(DTYPES[e["dtype"]]).newbyteorder("<")
        b, end = e["data_offsets"]
        count = int(np.prod(e["shape"], dtype=np.int64))
        assert end - b == count * dt.itemsize, name
        out[name] = np.frombuffer(buf[b:end], dtype=dt).reshape(e["shape"])
        spans.append((b, end, name))
    spans.sort()
    at = 0
    for b, end, name in spans:
        assert b == at, ("hole or overlap at", name)
        at = end
    assert at == len(buf), "buffer not covered"
    return out, meta, n


def write_safetensors(path, header, buf):
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + buf)


def structure(d, ckpt):
    import h5py
    data, n, header = read_raw(os.path.join(d, "model.safetensors"))
    raw = data[8:8 + n]
    assert (8 + n) % 8 == 0, "buffer start not 8-byte aligned"
    assert raw.rstrip(b" ") == raw.strip(), "padding other than trailing spaces"
    keys = list(json.loads(raw.decode()).keys())
    assert keys == sorted(keys), "header keys not sorted"
    meta = header["__metadata__"]
    assert meta.get("format") == "pt", meta
    tensors, _, _ = read_safetensors(os.path.join(d, "model.safetensors"))
    names = sorted(tensors)
    offsets = [header[k]["data_offsets"][0] for k in names]
    assert offsets == sorted(offsets), "data not laid out in key order"
    assert "lm_head.weight" not in tensors, "tied head stored"
    assert all(k.startswith("transformer.") for k in names), names[:3]
    assert all(t.dtype == np.float32 for t in tensors.values())
    cfg = json.load(open(os.path.join(d, "config.json")))
    L, C = cfg["n_layer"], cfg["n_embd"]
    assert len(names) == 4 + 12 * L, len(names)
    assert tensors["transformer.h.0.attn.c_attn.weight"].shape == (C, 3 * C)
    assert tensors["transformer.h.0.mlp.c_proj.weight"].shape == (4 * C, C)
    assert tensors["transformer.wte.weight"].shape == (cfg["vocab_size"], C)
    with h5py.File(ckpt, "r") as f:
        embedded = bytes(f["tokenizer_json"][()])
        # ours [out, in] vs HF [in, out]
        ours = f["model/h.0.attn.c_attn.weight"][()]
        assert np.array_equal(ours.T, tensors["transformer.h.0.attn.c_attn.weight"])
        assert np.array_equal(f["model/wte"][()], tensors["transformer.wte.weight"])
    assert open(os.path.join(d, "tokenizer.json"), "rb").read() == embedded, "tokenizer.json is not the embedded copy"
    tc = json.load(open(os.path.join(d, "tokenizer_config.json")))
    specials = {v["content"] for v in tc["added_tokens_decoder"].values()}
    assert {"<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"} <= specials, specials
    assert "<|assistant|>" in tc["chat_template"] and tc["eos_token"] == "<|endoftext|>"
    tj = json.loads(embedded)
    eot = next(t["id"] for t in tj["added_tokens"] if t["content"] == "<|endoftext|>")
    assert cfg["eos_token_id"] == eot and cfg["bos_token_id"] == eot
    gen = json.load(open(os.path.join(d, "generation_config.json")))
    assert eot in (gen["eos_token_id"] if isinstance(gen["eos_token_id"], list) else [gen["eos_token_id"]])
    print("structure: %d tensors, header %d bytes, sorted, aligned, contiguous" % (len(names), n))


def gpt2_logits(d, ids):
    import torch
    import torch.nn.functional as F
    torch.set_default_dtype(torch.float64)
    cfg = json.load(open(os.path.join(d, "config.json")))
    for k, want in [("activation_function", "gelu_new"), ("tie_word_embeddings", True)]:
        assert cfg.get(k, want) == want, k
    eps = cfg["layer_norm_epsilon"]
    H, C, L = cfg["n_head"], cfg["n_embd"], cfg["n_layer"]
    tensors, _, _ = read_safetensors(os.path.join(d, "model.safetensors"))
    w = {k[len("transformer."):] if k.startswith("transformer.") else k: torch.from_numpy(v.astype(np.float64))
         for k, v in tensors.items()}
    x_ids = torch.tensor(ids)
    B, T = x_ids.shape

    def gelu_new(x):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))

    def conv1d(x, p):  # HF Conv1D: x @ W + b, W is [in, out]
        return x @ w[p + ".weight"] + w[p + ".bias"]

    x = w["wte.weight"][x_ids] + w["wpe.weight"][torch.arange(T)]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(L):
        p = "h.%d." % l
        h = F.layer_norm(x, (C,), w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        q, k, v = conv1d(h, p + "attn.c_attn").split(C, dim=2)
        q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // H)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + conv1d(y, p + "attn.c_proj")
        h = F.layer_norm(x, (C,), w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
        x = x + conv1d(gelu_new(conv1d(h, p + "mlp.c_fc")), p + "mlp.c_proj")
    x = F.layer_norm(x, (C,), w["ln_f.weight"], w["ln_f.bias"], eps)
    head = w.get("lm_head.weight", w["wte.weight"])
    return (x @ head.T).numpy(), cfg["vocab_size"]


def logits(d, ids_path, llmpi_path):
    ids = [[int(t) for t in line.split()] for line in open(ids_path) if line.strip()]
    want, V = gpt2_logits(d, ids)
    got = np.fromfile(llmpi_path, dtype="<f4").astype(np.float64).reshape(want.shape)
    scale = np.abs(want).max()
    err = np.abs(got - want).max() / scale
    print("logits: batch %dx%d, vocab %d, max |llmpi - torch| / max |torch| = %.3g" %
          (len(ids), len(ids[0]), V, err))
    assert err <= 1e-5, err
    assert (got.argmax(-1) == want.argmax(-1)).mean() > 0.99


def same_params(a, b):
    import h5py
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        ka, kb = sorted(fa["model"]), sorted(fb["model"])
        assert ka == kb, (ka, kb)
        for k in ka:
            x, y = fa["model"][k][()], fb["model"][k][()]
            assert x.dtype == y.dtype == np.float32 and x.shape == y.shape, k
            assert x.tobytes() == y.tobytes(), "tensor %s differs" % k
    print("same_params: %d tensors bit-identical" % len(ka))


def copy_dir(src, dst):
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)


def mutate(d, kind, out):
    copy_dir(d, out)
    path = os.path.join(out, "model.safetensors")
    data, n, header = read_raw(path)
    buf = data[8 + n:]
    names = sorted(k for k in header if k != "__metadata__")
    last = max(names, key=lambda k: header[k]["data_offsets"][1])
    first = min(names, key=lambda k: header[k]["data_offsets"][0])
    conv = "transformer.h.0.attn.c_attn.weight"
    if kind == "past_end":
        header[last]["data_offsets"][1] += 4
        header[last]["shape"][-1] += 1
    elif kind == "overlap":
        # the second tensor starts 4 bytes early; the buffer grows so the total still fits
        e = sorted(names, key=lambda k: header[k]["data_offsets"][0])[1]
        header[e]["data_offsets"][0] -= 4
        header[e]["data_offsets"][1] -= 4
    elif kind == "wrong_dtype":
        header[first]["dtype"] = "I32"
    elif kind == "shape_mismatch":
        header[conv]["shape"] = header[conv]["shape"][::-1]
    elif kind == "truncated":
        buf = buf[:len(buf) // 2]
    elif kind == "huge_header":
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", 1 << 40) + data[8:])
        return
    elif kind == "not_json":
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", n) + b"{" + b"x" * (n - 1) + buf)
        return
    elif kind == "missing_tensor":
        e = header.pop(last)
        buf = buf[:e["data_offsets"][0]]
    elif kind == "extra_tensor":
        header["transformer.h.99.attn.c_attn.weight"] = {"dtype": "F32", "shape": [1],
                                                         "data_offsets": [len(buf), len(buf) + 4]}
        buf += b"\0" * 4
    elif kind == "untied_head":
        wte = header["transformer.wte.weight"]
        b, e = wte["data_offsets"]
        head = bytearray(buf[b:e])
        head[0] ^= 1
        header["lm_head.weight"] = {"dtype": "F32", "shape": wte["shape"], "data_offsets": [len(buf), len(buf) + e - b]}
        buf += bytes(head)
    elif kind == "nan":
        b = header[first]["data_offsets"][0]
        buf = buf[:b] + struct.pack("<f", float("nan")) + buf[b + 4:]
    elif kind == "config_missing":
        cfg = json.load(open(os.path.join(out, "config.json")))
        del cfg["n_head"]
        json.dump(cfg, open(os.path.join(out, "config.json"), "w"))
        return
    elif kind == "config_act":
        cfg = json.load(open(os.path.join(out, "config.json")))
        cfg["activation_function"] = "relu"
        json.dump(cfg, open(os.path.join(out, "config.json"), "w"))
        return
    elif kind == "config_vocab":
        cfg = json.load(open(os.path.join(out, "config.json")))
        cfg["vocab_size"] += 1
        json.dump(cfg, open(os.path.join(out, "config.json"), "w"))
        os.remove(os.path.join(out, "tokenizer.json"))
        return
    else:
        raise SystemExit("unknown kind " + kind)
    write_safetensors(path, header, buf)


def gpt2_layout(d, out):
    """The layout of the published gpt2 checkpoint: GPT2Model names without the
    "transformer." prefix, the causal-mask buffer h.N.attn.bias, and (as
    pytorch_model.bin conversions carry it) lm_head.weight equal to wte."""
    copy_dir(d, out)
    path = os.path.join(out, "model.safetensors")
    tensors, meta, _ = read_safetensors(path)
    cfg = json.load(open(os.path.join(out, "config.json")))
    n_ctx = cfg["n_positions"]
    arrays = {k[len("transformer."):]: v for k, v in tensors.items()}
    for l in range(cfg["n_layer"]):
        arrays["h.%d.attn.bias" % l] = np.tril(np.ones((n_ctx, n_ctx), np.float32)).reshape(1, 1, n_ctx, n_ctx)
    arrays["lm_head.weight"] = arrays["wte.weight"]
    header, chunks, at = {"__metadata__": meta}, [], 0
    for k in sorted(arrays, reverse=True):  # any order is valid
        b = np.ascontiguousarray(arrays[k], dtype="<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(arrays[k].shape), "data_offsets": [at, at + len(b)]}
        chunks.append(b)
        at += len(b)
    write_safetensors(path, header, b"".join(chunks))


def half(d, kind, out):
    copy_dir(d, out)
    path = os.path.join(out, "model.safetensors")
    tensors, meta, _ = read_safetensors(path)
    header, chunks, at = {"__metadata__": meta}, [], 0
    for k in sorted(tensors):
        x = np.ascontiguousarray(tensors[k], dtype="<f4")
        if kind == "F16":
            b = x.astype("<f2").tobytes()
        else:  # BF16: the high half of each float32 (round toward zero)
            b = (x.view("<u4") >> 16).astype("<u2").tobytes()
        header[k] = {"dtype": kind, "shape": list(x.shape), "data_offsets": [at, at + len(b)]}
        chunks.append(b)
        at += len(b)
    write_safetensors(path, header, b"".join(chunks))


def expect_half(a, b, kind):
    import h5py
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        for k in fa["model"]:
            x = fa["model"][k][()]
            if kind == "F16":
                want = x.astype(np.float16).astype(np.float32)
            else:
                want = (x.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)
            assert want.tobytes() == fb["model"][k][()].tobytes(), k
    print("expect_half: %s weights imported exactly" % kind)


def chat(d, system, user):
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    tc = json.load(open(os.path.join(d, "tokenizer_config.json")))
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    tpl = env.from_string(tc["chat_template"])
    norm = lambda t: t.replace("\r\n", "\n").strip(" \t\r\n")
    conv = [{"role": "system", "content": " S1\r\nS2 "}, {"role": "user", "content": "\tU1 "},
            {"role": "assistant", "content": "A1\n"}, {"role": "user", "content": "U2"},
            {"role": "assistant", "content": "A2"}]
    want = ("<|system|>" + norm(conv[0]["content"]) + "<|end|><|user|>" + norm(conv[1]["content"]) +
            "<|end|><|assistant|>" + norm(conv[2]["content"]) + "<|end|><|user|>U2<|end|><|assistant|>A2<|end|>"
            "<|endoftext|>")
    got = tpl.render(messages=conv, add_generation_prompt=False)
    assert got == want, (got, want)
    got = tpl.render(messages=conv[1:4], add_generation_prompt=True)
    assert got == "<|user|>U1<|end|><|assistant|>A1<|end|><|user|>U2<|end|><|assistant|>", got
    # an empty system text adds no block (the mix default)
    got = tpl.render(messages=[{"role": "system", "content": "  "}, conv[3]], add_generation_prompt=True)
    assert got == "<|user|>U2<|end|><|assistant|>", got
    msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    sys.stdout.write(tpl.render(messages=msgs, add_generation_prompt=True))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"structure": structure, "logits": logits, "same_params": same_params, "mutate": mutate,
     "gpt2_layout": gpt2_layout, "half": half, "expect_half": expect_half, "chat": chat}[cmd](*args)

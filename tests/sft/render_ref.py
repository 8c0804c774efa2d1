#!/usr/bin/env python3
"""render_ref.py: an independent check of the SFT data path, written from
docs/sft.md (the llmpi-chat-1 spec and the reader rules), not from the C code.

For every example in a dump written by tests/sft_dump.c it checks:
  1. the conversation is one this script's own reader derives from the
     source file (every shape has a reader here; a dumped conversation must
     be in the set of conversations of its file);
  2. the ids decode (with tokenizer.json's vocabulary and the byte-level
     table, not through llmpi) to exactly the spec text
     [<|system|>S<|end|>](<|user|>U<|end|><|assistant|>A<|end|>)+<|endoftext|>
     with every text normalised, and the special ids sit exactly at the
     template's places (a "<|end|>" inside data is never the special id);
  3. the masked ids decode to exactly A1<|end|>A2<|end|>...
Every source of the mix must have at least one example in the dump.
Usage: render_ref.py --dump D.jsonl --tokenizer tokenizer.json --mix MIX.ini
"""
import argparse
import configparser
import json
import os
import re
import sys

SPECIALS = ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "<|endoftext|>"]


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def load_tokenizer(path):
    tj = json.load(open(path, encoding="utf-8"))
    u2b = bytes_to_unicode()
    table = {}
    for tok, i in tj["model"]["vocab"].items():
        table[i] = bytes(u2b[ch] for ch in tok)
    special_ids = {}
    for a in tj.get("added_tokens", []):
        table[a["id"]] = a["content"].encode()
        special_ids[a["content"]] = a["id"]
    return table, special_ids


def norm(s):
    return s.replace("\r\n", "\n").strip(" \t\r\n")


def blank(s):
    return norm(s) == ""


# ---- readers (from the spec) ----

def records(path):
    data = open(path, "rb").read().decode("utf-8")
    if data.lstrip(" \t\r\n").startswith("["):
        for r in json.loads(data):
            yield r
    else:
        for line in data.split("\n"):
            if line.strip(" \t\r") == "":
                continue
            try:
                yield json.loads(line)
            except ValueError:
                continue


def user_text(ins, inp):
    return ins + "\n\n" + inp if inp and not blank(inp) else ins


def conv_ok(system, turns):
    return len(turns) > 0 and all(not blank(u) and not blank(a) for u, a in turns)


def from_roles(msgs):
    """[(role, text)] -> (system, turns) or None; roles alternate user/assistant."""
    system = None
    if msgs and msgs[0][0] == "system":
        system = msgs[0][1]
        msgs = msgs[1:]
    if len(msgs) % 2 or not msgs:
        return None
    turns = []
    for i in range(0, len(msgs), 2):
        if msgs[i][0] != "user" or msgs[i + 1][0] != "assistant":
            return None
        turns.append((msgs[i][1], msgs[i + 1][1]))
    return system, turns


def oasst_path(node_children, root, get):
    """Follows the smallest rank (None last, ties first in file), skipping deleted."""
    path = [root]
    cur = root
    while True:
        kids = [k for k in node_children(cur) if not get(k, "deleted")]
        if not kids:
            break
        best = min(range(len(kids)), key=lambda i: (get(kids[i], "rank") is None,
                                                     get(kids[i], "rank") or 0, i))
        cur = kids[best]
        path.append(cur)
    msgs = [("assistant" if get(m, "role") == "assistant" else "user", get(m, "text")) for m in path]
    if msgs and msgs[-1][0] == "user":
        msgs.pop()
    return from_roles(msgs)


def read_file(path, fmt, name, author, keep_status):
    out = []
    recs = list(records(path))
    if fmt in ("alpaca", "gpteacher", "lima", "identity", "alpaca-libre"):
        for r in recs:
            if not isinstance(r, dict):
                continue
            ins, inp = r.get("instruction"), r.get("input") or ""
            outp = r.get("response" if fmt == "gpteacher" else "output")
            if not isinstance(ins, str) or not isinstance(outp, str) or not isinstance(inp, str):
                continue
            if fmt == "alpaca-libre" and keep_status != "*" and r.get("status") != keep_status:
                continue
            if fmt == "identity":
                fill = lambda s: s.replace("{{name}}", name).replace("{{author}}", author)
                ins, inp, outp = fill(ins), fill(inp), fill(outp)
            hist = (r.get("history") or []) if fmt == "lima" else []
            if not all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in hist):
                continue
            turns = [tuple(p) for p in hist]
            turns.append((user_text(ins, inp), outp))
            out.append((r.get("system") or None, turns))
    elif fmt == "self-instruct":
        for r in recs:
            for inst in r.get("instances") or []:
                if isinstance(inst, dict) and isinstance(inst.get("output"), str):
                    out.append((None, [(user_text(r["instruction"], inst.get("input") or ""), inst["output"])]))
    elif fmt == "gsm8k":
        for r in recs:
            if isinstance(r.get("question"), str) and isinstance(r.get("answer"), str):
                out.append((None, [(r["question"], re.sub(r"<<.*?>>", "", r["answer"], flags=re.S))]))
    elif fmt == "hh-rlhf":
        for r in recs:
            s = r.get("chosen")
            if not isinstance(s, str) or not s.startswith("\n\nHuman: "):
                continue
            parts = re.split(r"(\n\nHuman: |\n\nAssistant: )", s)[1:]
            msgs = [("user" if parts[i] == "\n\nHuman: " else "assistant", parts[i + 1])
                    for i in range(0, len(parts), 2)]
            c = from_roles(msgs)
            if c:
                out.append(c)
    elif fmt in ("sharegpt", "openai"):
        role_of = {"system": "system", "user": "user", "assistant": "assistant"}
        if fmt == "sharegpt":
            role_of.update({"human": "user", "gpt": "assistant", "chatgpt": "assistant"})
        for r in recs:
            lst = r.get("conversations" if fmt == "sharegpt" else "messages")
            if not isinstance(lst, list):
                continue
            msgs = []
            if fmt == "sharegpt" and r.get("system"):
                msgs.append(("system", r["system"]))
            for m in lst:
                who = m.get("from" if fmt == "sharegpt" else "role")
                text = m.get("value" if fmt == "sharegpt" else "content")
                if isinstance(text, list):
                    if not all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
                               for p in text):
                        text = None
                    else:
                        text = "\n".join(p["text"] for p in text)
                msgs.append((role_of.get(who, "?"), text))
            if any(not isinstance(t, str) for _, t in msgs):
                continue
            c = from_roles(msgs)
            if c:
                out.append(c)
    elif fmt == "oasst-flat":
        ids = {r["message_id"]: r for r in recs}
        kids = {}
        for r in recs:
            if r.get("parent_id") in ids:
                kids.setdefault(r["parent_id"], []).append(r)
        for r in recs:
            if r.get("parent_id") is None and not r.get("deleted"):
                c = oasst_path(lambda m: kids.get(m["message_id"], []), r, lambda m, k: m.get(k))
                if c:
                    out.append(c)
    elif fmt == "oasst-tree":
        for r in recs:
            if isinstance(r.get("prompt"), dict) and not r["prompt"].get("deleted"):
                c = oasst_path(lambda m: m.get("replies") or [], r["prompt"], lambda m, k: m.get(k))
                if c:
                    out.append(c)
    else:
        raise SystemExit(f"render_ref: unknown format {fmt}")
    return [(s, tuple(tuple(t) for t in turns)) for s, turns in out if conv_ok(s, turns)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--mix", required=True)
    a = ap.parse_args()
    table, sid = load_tokenizer(a.tokenizer)
    for s in SPECIALS:
        assert s in sid, f"tokenizer lacks {s}"
    special_of = {v: k for k, v in sid.items()}

    cp = configparser.ConfigParser(inline_comment_prefixes=(";",), interpolation=None)
    cp.read(a.mix)
    mix = cp["mix"]
    name, author = mix.get("name", "llmpi"), mix.get("author", "the llmpi authors")
    keep = {}
    for sec in cp.sections():
        if sec.startswith("source "):
            keep[sec[7:].strip()] = cp[sec].get("keep_status", "ok")

    expected = {}
    seen_sources = set()
    n = 0
    for line in open(a.dump, encoding="utf-8"):
        d = json.loads(line)
        n += 1
        where = f"{d['source']} {d['file']}:{d['line']}"
        seen_sources.add(d["source"])
        key = (d["file"], d["format"])
        if key not in expected:
            expected[key] = set(read_file(d["file"], d["format"], name, author, keep[d["source"]]))
        conv = (d["system"], tuple(tuple(t) for t in d["turns"]))
        if conv not in expected[key]:
            raise SystemExit(f"render_ref: {where}: conversation not derived by the reference reader: {conv!r:.300}")
        # the spec text, as pieces: specials by name, texts normalised
        system = d["system"] if d["system"] is not None and not blank(d["system"]) else d["default_system"]
        pieces = []
        if system is not None and not blank(system):
            pieces += [("<|system|>",), norm(system), ("<|end|>",)]
        for u, asst in d["turns"]:
            pieces += [("<|user|>",), norm(u), ("<|end|>",), ("<|assistant|>",), norm(asst), ("<|end|>",)]
        pieces.append(("<|endoftext|>",))
        # split our ids at special ids and compare piece by piece
        ids, mask = d["ids"], d["mask"]
        got, cur = [], []
        for i in ids:
            if i in special_of:
                got.append(b"".join(table[j] for j in cur).decode("utf-8", "replace"))
                got.append((special_of[i],))
                cur = []
            else:
                cur.append(i)
        if cur:
            got.append(b"".join(table[j] for j in cur).decode("utf-8", "replace"))
        got = [g for k, g in enumerate(got) if not (isinstance(g, str) and g == "" and
                                                   (k == 0 or isinstance(got[k - 1], tuple)))]
        want = [p for p in pieces if p != ""]
        if got != want:
            raise SystemExit(f"render_ref: {where}: rendering differs from the spec\n got  {got!r:.400}\n want {want!r:.400}")
        full = b"".join(table[i] for i in ids).decode("utf-8", "replace")
        spec_text = "".join(p[0] if isinstance(p, tuple) else p for p in pieces)
        if full != spec_text:
            raise SystemExit(f"render_ref: {where}: decoded text differs from the spec text")
        masked = b"".join(table[i] for i, m in zip(ids, mask) if m).decode("utf-8", "replace")
        want_masked = "".join(norm(asst) + "<|end|>" for _, asst in d["turns"])
        if masked != want_masked or len(ids) != len(mask):
            raise SystemExit(f"render_ref: {where}: masked tokens decode to {masked!r:.200}, want {want_masked!r:.200}")
    missing = set(keep) - seen_sources
    if missing:
        raise SystemExit(f"render_ref: no examples dumped for sources {sorted(missing)}")
    print(f"render_ref: {n} examples of {len(seen_sources)} sources match the llmpi-chat-1 spec")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""tokref.py: independent checks of llmpi's tokenizer, for the tests.

Deliberately naive and written from the rules, not from the C code:

  train     BPE training that recounts every pair before every merge
            (prints the merges, one "left right" id pair per line)
  merges    loads a tokenizer.json with the json module only, checks it is the
            Hugging Face `tokenizers` BPE/ByteLevel layout, decodes the vocab
            through GPT-2's byte-to-unicode map and prints the merges as ids
  encode    encodes a file the way HF tokenizers would from that JSON alone
            (added tokens first, the Split regex, byte-level, merge ranks)
  invalid   writes a corpus full of invalid UTF-8 (deterministic)

The rules: chunks are the regex matches and the gaps between them inside each
run of valid UTF-8, plus one chunk per invalid byte; each merge takes the
pair with the highest count (overlaps counted), ties to the smallest
(left, right), skipping pairs whose bytes already form a token or exceed
--max-token-bytes; stop below --min-frequency.
"""
import argparse
import collections
import json
import sys

import regex

DEFAULT_PATTERN = (r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++"
                   r"[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+")
SPECIALS = ["<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]


def bytes_to_unicode():
    """GPT-2's map, as published with GPT-2 (encoder.py)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def chunks_of(data, pattern):
    """Pre-tokenization: invalid bytes become surrogate escapes, one each."""
    text = data.decode("utf-8", "surrogateescape")
    out = []
    run_start = 0

    def split_run(s):
        pos = 0
        for m in pattern.finditer(s):
            if m.start() == m.end():
                continue
            if m.start() > pos:
                out.append(s[pos:m.start()].encode("utf-8"))
            out.append(m.group().encode("utf-8"))
            pos = m.end()
        if pos < len(s):
            out.append(s[pos:].encode("utf-8"))

    for i, ch in enumerate(text):
        if 0xDC80 <= ord(ch) <= 0xDCFF:
            if i > run_start:
                split_run(text[run_start:i])
            out.append(bytes([ord(ch) - 0xDC00]))
            run_start = i + 1
    if run_start < len(text):
        split_run(text[run_start:])
    return out


def replace(ids, a, b, new):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == a and ids[i + 1] == b:
            out.append(new)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def train(files, vocab_size, pattern, min_frequency, max_token_bytes, n_specials):
    pat = regex.compile(pattern)
    counts = collections.Counter()
    for f in files:
        with open(f, "rb") as fh:
            counts.update(chunks_of(fh.read(), pat))
    words = {w: list(w) for w in counts}
    vocab = {i: bytes([i]) for i in range(256)}
    tokens = set(vocab.values())
    merges = []
    while 256 + len(merges) + n_specials < vocab_size:
        pairs = collections.Counter()
        for w, c in counts.items():
            ids = words[w]
            for a, b in zip(ids, ids[1:]):
                pairs[(a, b)] += c
        best = None
        for (a, b), c in pairs.items():
            tok = vocab[a] + vocab[b]
            if max_token_bytes and len(tok) > max_token_bytes:
                continue
            if tok in tokens:
                continue
            if best is None or (-c, a, b) < best:
                best = (-c, a, b)
        if best is None or -best[0] < min_frequency:
            break
        _, a, b = best
        new = 256 + len(merges)
        merges.append((a, b))
        vocab[new] = vocab[a] + vocab[b]
        tokens.add(vocab[new])
        for w in words:
            words[w] = replace(words[w], a, b, new)
    return merges


class Fail(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Fail(what)


def load_hf(path):
    """Checks the tokenizer.json layout; returns (vocab bytes by id, merges, specials, pattern)."""
    with open(path, encoding="utf-8") as fh:
        j = json.load(fh)
    expect(j.get("version") == "1.0", "version is not 1.0")
    for k in ("truncation", "padding", "normalizer", "post_processor"):
        expect(k in j and j[k] is None, k + " is not null")
    pre = j["pre_tokenizer"]
    expect(pre["type"] == "Sequence" and len(pre["pretokenizers"]) == 2, "pre_tokenizer is not a 2-step Sequence")
    split, bl = pre["pretokenizers"]
    expect(split["type"] == "Split" and set(split["pattern"]) == {"Regex"}, "first step is not Split(Regex)")
    expect(split["behavior"] == "Isolated" and split["invert"] is False, "Split is not Isolated")
    expect(bl == {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
           "second step is not ByteLevel without prefix space and regex")
    expect(j["decoder"]["type"] == "ByteLevel", "decoder is not ByteLevel")
    m = j["model"]
    expect(m["type"] == "BPE", "model is not BPE")
    for k in ("dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix"):
        expect(k in m and m[k] is None, "model." + k + " is not null")
    for k in ("fuse_unk", "byte_fallback", "ignore_merges"):
        expect(m.get(k) is False, "model." + k + " is not false")
    b2u = bytes_to_unicode()
    u2b = {c: b for b, c in b2u.items()}
    added = j["added_tokens"]
    specials = {}
    for a in added:
        expect(a["special"] is True and a["normalized"] is False and a["lstrip"] is False
               and a["rstrip"] is False and a["single_word"] is False, "added token flags")
        specials[a["id"]] = a["content"]
    vocab = {}
    for s, i in m["vocab"].items():
        expect(isinstance(i, int) and i not in vocab, "vocab ids unique integers")
        if i in specials:
            expect(specials[i] == s, "special %d is in the vocab under its own content" % i)
            vocab[i] = s.encode("utf-8")
        else:
            vocab[i] = bytes(u2b[c] for c in s)
    expect(sorted(vocab) == list(range(len(vocab))), "vocab ids are 0..n-1")
    for b in range(256):
        expect(vocab[b] == bytes([b]), "id %d is byte %d" % (b, b))
    by_bytes = {v: i for i, v in vocab.items() if i not in specials}
    expect(len(by_bytes) == len(vocab) - len(specials), "no two tokens share bytes")
    merges = []
    for k, mg in enumerate(m["merges"]):
        left, right = mg.split(" ") if isinstance(mg, str) else mg
        lb = bytes(u2b[c] for c in left)
        rb = bytes(u2b[c] for c in right)
        expect(by_bytes[lb + rb] == 256 + k, "merge %d makes id %d" % (k, 256 + k))
        merges.append((by_bytes[lb], by_bytes[rb]))
    n_merges = len(merges)
    expect(sorted(specials) == list(range(256 + n_merges, 256 + n_merges + len(specials))),
           "specials follow the merges")
    expect(set(j) == {"version", "truncation", "padding", "added_tokens", "normalizer", "pre_tokenizer",
                      "post_processor", "decoder", "model"}, "only the top-level keys HF tokenizers accepts")
    return vocab, merges, [specials[i] for i in sorted(specials)], split["pattern"]["Regex"]


def hf_encode(path, data, allow_special):
    """What HF tokenizers computes from the JSON: specials split first, then
    the regex, then BPE by merge rank on the byte-level symbols."""
    vocab, merges, specials, pattern = load_hf(path)
    pat = regex.compile(pattern)
    by_bytes = {v: i for i, v in vocab.items() if i < 256 + len(merges)}
    rank = {(vocab[a], vocab[b]): k for k, (a, b) in enumerate(merges)}
    special_id = {s.encode("utf-8"): 256 + len(merges) + k for k, s in enumerate(specials)}
    pieces = [data]
    if allow_special and specials:
        alt = regex.compile(b"|".join(regex.escape(s) for s in sorted(special_id, key=len, reverse=True)))
        pieces = []
        pos = 0
        for mt in alt.finditer(data):
            pieces.append(data[pos:mt.start()])
            pieces.append(special_id[mt.group()])
            pos = mt.end()
        pieces.append(data[pos:])
    ids = []
    for piece in pieces:
        if isinstance(piece, int):
            ids.append(piece)
            continue
        for chunk in chunks_of(piece, pat):
            syms = [bytes([b]) for b in chunk]
            while len(syms) > 1:
                best = min(range(len(syms) - 1), key=lambda i: (rank.get((syms[i], syms[i + 1]), 1 << 60), i))
                if (syms[best], syms[best + 1]) not in rank:
                    break
                syms = syms[:best] + [syms[best] + syms[best + 1]] + syms[best + 2:]
            ids.extend(by_bytes[s] for s in syms)
    return ids


def invalid_corpus():
    parts = [b"valid text, then a lone continuation \x80 byte\n",
             b"truncated \xe2\x82 euro and \xf0\x9f\x98 emoji\n",
             b"overlong \xc0\xaf slash and \xe0\x80\xaf too\n",
             b"surrogate \xed\xa0\x80 half and beyond \xf4\x90\x80\x80 max\n",
             b"bytes \xf5\xfe\xff and latin-1 caf\xe9 na\xefve\n",
             "real ünïcödé € 😀 mixed\n".encode("utf-8"),
             b"\xff\xfe\xff\xfe binary-ish \x00\x01\x02 controls\n"]
    return b"".join(parts * 3)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("files", nargs="+")
    t.add_argument("--vocab-size", type=int, required=True)
    t.add_argument("--pattern", default=DEFAULT_PATTERN)
    t.add_argument("--min-frequency", type=int, default=2)
    t.add_argument("--max-token-bytes", type=int, default=0)
    t.add_argument("--n-specials", type=int, default=len(SPECIALS))
    mg = sub.add_parser("merges")
    mg.add_argument("json")
    en = sub.add_parser("encode")
    en.add_argument("json")
    en.add_argument("file")
    en.add_argument("--allow-special", action="store_true")
    iv = sub.add_parser("invalid")
    iv.add_argument("out")
    a = ap.parse_args()
    try:
        if a.cmd == "train":
            for l, r in train(a.files, a.vocab_size, a.pattern, a.min_frequency, a.max_token_bytes, a.n_specials):
                print(l, r)
        elif a.cmd == "merges":
            for l, r in load_hf(a.json)[1]:
                print(l, r)
        elif a.cmd == "encode":
            with open(a.file, "rb") as fh:
                print(" ".join(map(str, hf_encode(a.json, fh.read(), a.allow_special))))
        elif a.cmd == "invalid":
            with open(a.out, "wb") as fh:
                fh.write(invalid_corpus())
    except (Fail, KeyError, ValueError) as e:
        print("tokref: %s: %s" % (a.cmd, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# bpb_cli.sh: bits per byte, checked against an independent computation.
# A BPE tokenizer is trained on tinyshakespeare, a store prepared with it and
# a tiny model trained a few steps. Then:
# - `llmpi eval --json` reports bpb = loss_sum / ln 2 / bytes, where bytes are
#   recomputed here in Python from tokenizer.json (GPT-2 byte-to-unicode map,
#   added tokens as their UTF-8 text) and the store's val tokens (h5dump):
#   the targets of windows 0..N-1 are tokens[k*T+1 .. k*T+T];
# - the trainer's val line and metrics.jsonl carry the same bpb for its
#   eval (val_bpb), and `llmpi plot` accepts the file;
# - the byte tokenizer gives bpb = loss / ln 2 x tokens / bytes, bytes being
#   the decoded targets' UTF-8 length (<|endoftext|> counts its 13 bytes).
set -u
BIN=${LLMPI_BIN:?}
SRC=${LLMPI_SOURCE_DIR:?}
command -v h5dump >/dev/null || { echo "h5dump not found: skipping"; exit 77; }
export OMPI_MCA_ess_singleton_isolated=${OMPI_MCA_ess_singleton_isolated:-1}
T=$(mktemp -d /tmp/llmpi-bpb-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$BIN" tokenizer train --input "$SRC/data/tinyshakespeare.txt" --vocab-size 512 --out "$T/tok" --quiet \
    >/dev/null 2>&1 || fail "tokenizer train"
"$BIN" prepare --tokenizer "$T/tok" --input "$SRC/data/tinyshakespeare.txt" --out "$T/s.h5" >/dev/null 2>&1 \
    || fail "prepare"
"$BIN" pretrain --config "$SRC/configs/tiny.ini" --set train.threads=1 --set train.max_steps=6 \
    --set train.eval_every=6 --set train.eval_windows=5 --set train.seq_len=32 --data "$T/s.h5" --out "$T/r" \
    >"$T/train.log" 2>&1 || { cat "$T/train.log"; fail "pretrain"; }
ck="$T/r/checkpoints/step-00000006.h5"
"$BIN" eval --checkpoint "$ck" --data "$T/s.h5" --split val --windows 5 --seq 32 --json >"$T/eval.json" \
    || fail "eval"
# token_width STORE: bytes per stored token id (the dataset's type)
token_width() { h5dump -H -d /val/tokens "$1" | grep -q "H5T_STD_U16LE" && echo 2 || echo 4; }
h5dump -d /val/tokens -b LE -o "$T/val.bin" "$T/s.h5" >/dev/null || fail "h5dump"
WIDTH=$(token_width "$T/s.h5") python3 - "$T/tok/tokenizer.json" "$T/val.bin" "$T/eval.json" "$T/r/metrics.jsonl" "$T/train.log" <<'PY' || fail "bpb check"
import json, math, os, struct, sys
tok_path, val_path, eval_path, metrics_path, log_path = sys.argv[1:]
tok = json.load(open(tok_path))
# GPT-2's byte-to-unicode map, inverted
bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
cs = bs[:]
n = 0
for b in range(256):
    if b not in bs:
        bs.append(b); cs.append(256 + n); n += 1
unbyte = {chr(c): b for b, c in zip(bs, cs)}
special = {t["id"]: t["content"].encode("utf-8") for t in tok.get("added_tokens", [])}
length = {}
for s, i in tok["model"]["vocab"].items():
    length[i] = len(special[i]) if i in special else len(bytes(unbyte[ch] for ch in s))
raw = open(val_path, "rb").read()
width = int(os.environ["WIDTH"])
ids = struct.unpack("<%d%s" % (len(raw) // width, "I" if width == 4 else "H"), raw)
T, N = 32, 5
targets = [ids[k * T + 1 + j] for k in range(N) for j in range(T)]
nbytes = sum(length[t] for t in targets)
e = json.load(open(eval_path))
assert e["tokens"] == N * T, e
assert e["bytes"] == nbytes, (e["bytes"], nbytes)
want = e["loss"] * e["tokens"] / math.log(2) / nbytes
assert abs(e["bpb"] - want) <= 1e-9 * want, (e["bpb"], want)
assert nbytes > N * T, "a BPE tokenizer should give more bytes than tokens"
# the trainer evaluated the same 5 windows of 32 at step 6
val = [json.loads(l) for l in open(metrics_path) if '"val"' in l]
last = [v for v in val if v["step"] == 6][-1]
assert abs(last["val_bpb"] - e["bpb"]) <= 1e-6 * e["bpb"], (last, e)
assert any("bpb %.4f" % last["val_bpb"] in l for l in open(log_path)), "no bpb in the val line"
print("bpb: eval %.6f, independent %.6f (%d target tokens, %d bytes)" % (e["bpb"], want, N * T, nbytes))
PY
"$BIN" plot "$T/r" >/dev/null 2>&1 || command -v gnuplot >/dev/null || true
if command -v gnuplot >/dev/null; then "$BIN" plot "$T/r" >/dev/null 2>"$T/plot.err" || fail "plot: $(cat "$T/plot.err")"; fi

# ---- the byte tokenizer ----
"$BIN" prepare --tokenizer bytes --input "$SRC/data/tinyshakespeare.txt" --out "$T/b.h5" >/dev/null 2>&1 \
    || fail "prepare bytes"
"$BIN" pretrain --config "$SRC/configs/tiny.ini" --set train.threads=1 --set train.max_steps=2 \
    --set train.eval_every=0 --data "$T/b.h5" --out "$T/rb" >/dev/null 2>&1 || fail "pretrain bytes"
"$BIN" eval --checkpoint "$T/rb/checkpoints/step-00000002.h5" --data "$T/b.h5" --split val --windows 3 --seq 16 \
    --json >"$T/b.json" || fail "eval bytes"
h5dump -d /val/tokens -b LE -o "$T/bval.bin" "$T/b.h5" >/dev/null || fail "h5dump bytes"
WIDTH=$(token_width "$T/b.h5") python3 - "$T/bval.bin" "$T/b.json" <<'PY' || fail "byte tokenizer bpb"
import json, math, os, struct, sys
raw = open(sys.argv[1], "rb").read()
width = int(os.environ["WIDTH"])
ids = struct.unpack("<%d%s" % (len(raw) // width, "I" if width == 4 else "H"), raw)
targets = [ids[k * 16 + 1 + j] for k in range(3) for j in range(16)]
nbytes = sum(1 if t < 256 else len("<|endoftext|>") for t in targets)
e = json.load(open(sys.argv[2]))
want = e["loss"] * e["tokens"] / math.log(2) / nbytes
assert abs(e["bpb"] - want) <= 1e-9 * want, (e, want)
PY
echo "bpb_cli: all checks passed"

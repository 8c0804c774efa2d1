#!/usr/bin/env bash
# hf_check.sh: `llmpi export --format hf` and `llmpi import --format hf` on a
# tiny BPE model trained here (vocab 600 with the chat specials, context 64).
#  - structure: hf_peer.py reads model.safetensors from the spec (numpy):
#    sorted keys, 8-byte aligned buffer tiled in key order, metadata format
#    pt, no lm_head (tied), Conv1D weights [in, out]; tokenizer.json is the
#    checkpoint's embedded copy byte for byte; tokenizer_config names the specials
#  - logits: a float64 PyTorch GPT-2 built from config.json alone gives the
#    logits llmpi computes (tests/export/hf_logits.c) on a batch, rel 1e-5
#  - round trip: export -> import == original bit for bit (/model via h5py,
#    and a second export is byte-identical); greedy samples agree;
#    sft --init and pretrain --init accept the import; GPT-2's published layout (no prefix,
#    mask buffers, lm_head == wte), F16 and BF16 weights import
#  - no tokenizer: sample refuses with one line unless --tokenizer
#  - bad input: damaged checkpoint, lying safetensors headers, config.json
#    with a missing/unsupported field, existing output: one line, exit != 0,
#    nothing written (no output, no temporary left)
# Usage: hf_check.sh HF_LOGITS_BINARY. Skips (77) without python3 numpy/torch/h5py.
set -u
BIN=${LLMPI_BIN:?LLMPI_BIN must point at the llmpi binary}
SRC=${LLMPI_SOURCE_DIR:?}
LOGITS=${1:?usage: hf_check.sh HF_LOGITS}
PY=/usr/bin/python3
PEER="$SRC/tests/export/hf_peer.py"
$PY -c "import numpy, torch, h5py" 2>/dev/null || { echo "python3-numpy/torch/h5py missing: skipped"; exit 77; }
export OMPI_MCA_ess_singleton_isolated=${OMPI_MCA_ess_singleton_isolated:-1}
T=$(mktemp -d /tmp/llmpi-hf-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$T/stderr" ] && sed 's/^/  stderr: /' "$T/stderr" >&2; exit 1; }

"$BIN" tokenizer train --input "$SRC/data" --vocab-size 600 --out "$T/tok" >/dev/null 2>"$T/stderr" || fail "tokenizer"
"$BIN" prepare --tokenizer "$T/tok/tokenizer.json" --input "$SRC/data" --out "$T/s.h5" >/dev/null 2>"$T/stderr" \
    || fail "prepare"
"$BIN" pretrain --config "$SRC/configs/tiny.ini" --set train.threads=1 --set train.max_steps=12 \
    --set model.block_size=64 --set train.seq_len=64 --data "$T/s.h5" --out "$T/r" >/dev/null 2>"$T/stderr" \
    || fail "pretrain"
CK="$T/r/checkpoints/step-00000012.h5"

# ---- export: structure and logits ----
"$BIN" export --checkpoint "$CK" --format hf --out "$T/hf" >/dev/null 2>"$T/stderr" || fail "export"
for f in model.safetensors config.json generation_config.json tokenizer.json tokenizer_config.json; do
    [ -s "$T/hf/$f" ] || fail "export wrote no $f"
done
$PY "$PEER" structure "$T/hf" "$CK" 2>"$T/stderr" || fail "structure"
$PY - "$T/ids.txt" <<'PY'
import random, sys
r = random.Random(7)
with open(sys.argv[1], "w") as f:
    for b in range(3):
        f.write(" ".join(str(r.randrange(600)) for _ in range(64)) + "\n")
PY
"$LOGITS" "$CK" "$T/ids.txt" "$T/llmpi.f32" 2>"$T/stderr" || fail "hf_logits"
$PY "$PEER" logits "$T/hf" "$T/ids.txt" "$T/llmpi.f32" 2>"$T/stderr" || fail "torch logits differ from llmpi's"

# the chat template: jinja2 renders llmpi-chat-1; the generation prompt it
# renders has as many tokens as the one `llmpi sample --chat` feeds the model
if $PY -c "import jinja2" 2>/dev/null; then
    $PY "$PEER" chat "$T/hf" "You are terse." "Who is the king?" >"$T/chat.txt" 2>"$T/stderr" || fail "chat template"
    n_hf=$("$BIN" tokenizer encode --tokenizer "$T/hf/tokenizer.json" --allow-special <"$T/chat.txt" | wc -w)
    n_ll=$("$BIN" sample --checkpoint "$CK" --chat "Who is the king?" --system "You are terse." --max-tokens 1 \
        --json 2>"$T/stderr" | $PY -c "import json, sys; print(json.load(sys.stdin)['prompt_tokens'])") \
        || fail "sample --chat --json"
    [ "$n_hf" -eq "$n_ll" ] && [ "$n_hf" -gt 8 ] || fail "chat prompt: template gives $n_hf tokens, llmpi sample --chat $n_ll"
    echo "chat template: jinja2 renders llmpi-chat-1; generation prompt of $n_hf tokens both ways"
else
    echo "note: python3-jinja2 missing, chat template not rendered"
fi

# ---- round trip ----
"$BIN" import --format hf --input "$T/hf" --out "$T/imp.h5" >/dev/null 2>"$T/stderr" || fail "import"
$PY "$PEER" same_params "$CK" "$T/imp.h5" 2>"$T/stderr" || fail "export -> import changed the parameters"
"$BIN" export --checkpoint "$T/imp.h5" --format hf --out "$T/hf2" >/dev/null 2>"$T/stderr" || fail "export of import"
for f in model.safetensors config.json tokenizer.json tokenizer_config.json generation_config.json; do
    cmp -s "$T/hf/$f" "$T/hf2/$f" || fail "second export: $f differs"
done
"$BIN" info "$T/imp.h5" >"$T/info" 2>"$T/stderr" || fail "info of import"
grep -q "tokenizer.json inside" "$T/info" || fail "import did not embed tokenizer.json"
grep -q "no optimizer state" "$T/info" || fail "import wrote optimizer state"
gen() { "$BIN" sample --checkpoint "$1" --prompt "The king" --max-tokens 20 --temperature 0 "${@:2}"; }
gen "$CK" >"$T/a.txt" 2>"$T/stderr" || fail "sample original"
gen "$T/imp.h5" >"$T/b.txt" 2>"$T/stderr" || fail "sample import"
cmp -s "$T/a.txt" "$T/b.txt" || fail "greedy samples of original and import differ"
sed "s|\.\./data/sft|$SRC/data/sft|" "$SRC/configs/sft-demo-mix.ini" >"$T/mix.ini"
"$BIN" sft --init "$T/imp.h5" --mix "$T/mix.ini" --config "$SRC/configs/sft.ini" --set train.threads=1 \
    --set train.seq_len=64 --set train.max_steps=2 --set train.eval_every=0 --out "$T/sft" >/dev/null 2>"$T/stderr" \
    || fail "sft --init of the import"
# pretrain --init of the import: the shape is the checkpoint's whatever the config says, and the
# val loss before the first step is the original run's last one (same weights, same windows)
"$BIN" pretrain --config "$SRC/configs/tiny.ini" --init "$T/imp.h5" --set train.threads=1 --set train.max_steps=2 \
    --set model.n_embd=48 --set train.seq_len=64 --data "$T/s.h5" --out "$T/pi" >"$T/stdout" 2>"$T/stderr" \
    || fail "pretrain --init of the import"
grep -q "the model is .*imp.h5's: n_layer 2, n_head 2, n_embd 32, block_size 64" "$T/stdout" \
    || fail "pretrain --init: the shape note is missing"
val_at() { grep "\"kind\":\"val\",\"step\":$2," "$1/metrics.jsonl" | sed 's/.*"val_loss":\([^,]*\),.*/\1/'; }
a=$(val_at "$T/r" 12) b=$(val_at "$T/pi" 0)
[ -n "$a" ] && [ "$a" = "$b" ] || fail "pretrain --init: val loss at step 0 is '$b', the original's last '$a'"
"$BIN" pretrain --config "$SRC/configs/tiny.ini" --init "$T/imp.h5" --set train.threads=1 --set train.seq_len=128 \
    --data "$T/s.h5" --out "$T/pi2" >/dev/null 2>"$T/stderr" && fail "pretrain --init with seq_len > block_size ran"
grep -q "seq_len 128 exceeds .*block_size 64" "$T/stderr" || fail "pretrain --init seq_len: $(cat "$T/stderr")"

# GPT-2's published layout; F16 and BF16 weights
$PY "$PEER" gpt2_layout "$T/hf" "$T/g2" 2>"$T/stderr" || fail "gpt2_layout"
"$BIN" import --format hf --input "$T/g2" --out "$T/g2.h5" >/dev/null 2>"$T/stderr" || fail "import of GPT-2 layout"
$PY "$PEER" same_params "$CK" "$T/g2.h5" 2>"$T/stderr" || fail "GPT-2 layout import differs"
for k in F16 BF16; do
    $PY "$PEER" half "$T/hf" $k "$T/$k" 2>"$T/stderr" || fail "half $k"
    "$BIN" import --format hf --input "$T/$k" --out "$T/$k.h5" >/dev/null 2>"$T/stderr" || fail "import $k"
    $PY "$PEER" expect_half "$CK" "$T/$k.h5" $k 2>"$T/stderr" || fail "$k import"
done

# ---- no tokenizer ----
mkdir "$T/bare" && cp "$T/hf/model.safetensors" "$T/hf/config.json" "$T/bare/"
"$BIN" import --format hf --input "$T/bare" --out "$T/bare.h5" >/dev/null 2>"$T/stderr" || fail "bare import"
gen "$T/bare.h5" >/dev/null 2>"$T/stderr" && fail "sample of a tokenizer-less import ran"
[ "$(wc -l <"$T/stderr")" -eq 1 ] && grep -q "no tokenizer.*--tokenizer" "$T/stderr" || fail "no clear line"
gen "$T/bare.h5" --tokenizer "$T/tok/tokenizer.json" >"$T/c.txt" 2>"$T/stderr" || fail "sample with --tokenizer"
cmp -s "$T/a.txt" "$T/c.txt" || fail "tokenizer-less import with --tokenizer samples differently"
"$BIN" import --format hf --input "$T/hf" --out "$T/nt.h5" --no-tokenizer >/dev/null 2>"$T/stderr" || fail "--no-tokenizer"
grep -q "none" <("$BIN" info "$T/nt.h5") || fail "--no-tokenizer embedded a tokenizer"

# ---- bad input: one line, nonzero exit, nothing written ----
# expect_refused OUT PATTERN CMD...: fails unless CMD exits nonzero with one
# "llmpi: " line matching PATTERN and leaves neither OUT nor a temporary beside it
expect_refused() {
    local out=$1 pat=$2
    shift 2
    "$@" >/dev/null 2>"$T/stderr" && fail "accepted: $*"
    [ "$(wc -l <"$T/stderr")" -eq 1 ] || fail "not one line: $*"
    grep -q "^llmpi: .*$pat" "$T/stderr" || fail "line does not say '$pat': $*"
    [ -e "$out" ] && fail "left $out behind: $*"
    ls "$(dirname "$out")" | grep -q "\.tmp\.\|\.old\." && fail "left a temporary behind: $*"
    return 0
}
mkdir -p "$T/out"
while read -r kind pat; do
    $PY "$PEER" mutate "$T/hf" "$kind" "$T/bad" 2>"$T/stderr" || fail "mutate $kind"
    expect_refused "$T/out/bad.h5" "$pat" "$BIN" import --format hf --input "$T/bad" --out "$T/out/bad.h5"
    echo "refused $kind: $(cat "$T/stderr")"
done <<'EOF_KINDS'
past_end run past the end of the data
overlap overlap the tensor before
wrong_dtype dtype I32, expected F32
shape_mismatch shape \[96, 32\], config.json needs \[32, 96\]
truncated run past the end\|cover
huge_header header size .* is impossible
not_json not a JSON object
missing_tensor missing tensor transformer.wte.weight
extra_tensor unexpected tensor transformer.h.99
untied_head untied LM head
nan non-finite value
config_missing missing field 'n_head'
config_act activation_function must be gelu_new
config_vocab shape \[600, 32\], config.json needs \[601, 32\]
EOF_KINDS
cp "$CK" "$T/trunc.h5" && truncate -s $(($(stat -c %s "$CK") / 2)) "$T/trunc.h5"
expect_refused "$T/out/x" "trunc.h5" "$BIN" export --checkpoint "$T/trunc.h5" --format hf --out "$T/out/x"
cp "$CK" "$T/corrupt.h5"
# flip bytes inside the tensor data (the last quarter of the file is wte's floats)
$PY - "$T/corrupt.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    off = f["model/wte"].id.get_offset()
with open(sys.argv[1], "r+b") as f:
    f.seek(off + 1000)
    b = f.read(4)
    f.seek(off + 1000)
    f.write(bytes(x ^ 0x55 for x in b))
PY
expect_refused "$T/out/x" "checksum\|crc" "$BIN" export --checkpoint "$T/corrupt.h5" --format hf --out "$T/out/x"
# a foreign tokenizer.json (GPT-2's own format is not llmpi's) is one line; --no-tokenizer skips it
$PY "$PEER" mutate "$T/hf" config_missing "$T/ft" 2>"$T/stderr" && cp "$T/hf/config.json" "$T/ft/config.json" \
    && echo '{"version": "1.0", "model": {"type": "BPE", "vocab": {}, "merges": []}}' >"$T/ft/tokenizer.json" \
    || fail "foreign tokenizer setup"
expect_refused "$T/out/ft.h5" "tokenizer.json" "$BIN" import --format hf --input "$T/ft" --out "$T/out/ft.h5"
"$BIN" import --format hf --input "$T/ft" --out "$T/out/ft.h5" --no-tokenizer >/dev/null 2>"$T/stderr" \
    || fail "--no-tokenizer with a foreign tokenizer.json"
rm -f "$T/out/ft.h5"
# "DIR/" is DIR
"$BIN" export --checkpoint "$CK" --format hf --out "$T/slash/" >/dev/null 2>"$T/stderr" || fail "export to DIR/"
[ -s "$T/slash/model.safetensors" ] || fail "export to DIR/ wrote no model"
# an existing output: refused without --force; --force replaces an export, never a foreign directory
"$BIN" export --checkpoint "$CK" --format hf --out "$T/hf" >/dev/null 2>"$T/stderr" && fail "export over an existing dir"
grep -q "exists (give --force" "$T/stderr" || fail "no 'exists' line (export)"
"$BIN" export --checkpoint "$T/bare.h5" --format hf --out "$T/hf" --force >/dev/null 2>"$T/stderr" || fail "export --force"
[ -e "$T/hf/tokenizer.json" ] && fail "--force left the old export's tokenizer.json"
ls "$T" | grep -q "\.tmp\.\|\.old\." && fail "export --force left a temporary"
mkdir "$T/foreign" && echo x >"$T/foreign/notes.txt"
"$BIN" export --checkpoint "$CK" --format hf --out "$T/foreign" --force >/dev/null 2>"$T/stderr" \
    && fail "export --force replaced a foreign directory"
[ -e "$T/foreign/notes.txt" ] || fail "foreign file removed"
cp "$T/imp.h5" "$T/keep.h5"
"$BIN" import --format hf --input "$T/hf" --out "$T/imp.h5" >/dev/null 2>"$T/stderr" && fail "import over an existing file"
cmp -s "$T/imp.h5" "$T/keep.h5" || fail "refused import changed the existing file"
"$BIN" import --format hf --input "$T/hf" --out "$T/imp.h5" --force >/dev/null 2>"$T/stderr" || fail "import --force"
echo "hf_check: structure, logits, round trip, layouts, refusals all as expected"

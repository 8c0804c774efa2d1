#!/usr/bin/env bash
# infer_cli.sh: `llmpi sample` and `llmpi chat` (through a pipe) end to end on
# a tiny BPE model (tokenizer with the chat specials, 12 training steps):
# sample --json / --num-samples / --stop / --prompt-file / --chat, a prompt
# longer than the context (slides, says so), chat answers one line per
# message (deterministic for a seed; JSON lines with --json; commands on
# stderr), and bad input: one line starting "llmpi: ", non-zero exit
# (absurd sampler values, binary garbage on stdin, a BPE checkpoint without
# --tokenizer, chat on the byte tokenizer, a message too long for the context).
set -u
BIN=${LLMPI_BIN:?LLMPI_BIN must point at the llmpi binary}
SRC=${LLMPI_SOURCE_DIR:?}
export OMPI_MCA_ess_singleton_isolated=${OMPI_MCA_ess_singleton_isolated:-1}
T=$(mktemp -d /tmp/llmpi-infer-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$T/stderr" ] && sed 's/^/  stderr: /' "$T/stderr" >&2; exit 1; }
expect_error() {
    "$@" <"${STDIN:-/dev/null}" >"$T/stdout" 2>"$T/stderr"
    local rc=$?
    [ "$rc" -ne 0 ] || fail "expected failure: $*"
    [ "$(wc -l <"$T/stderr")" -eq 1 ] || fail "expected one stderr line: $*"
    grep -q '^llmpi: ' "$T/stderr" || fail "no llmpi: prefix: $*"
}

"$BIN" tokenizer train --input "$SRC/data" --vocab-size 600 --out "$T/tok" >/dev/null 2>"$T/stderr" || fail "tokenizer"
"$BIN" prepare --tokenizer "$T/tok/tokenizer.json" --input "$SRC/data" --out "$T/s.h5" >/dev/null 2>"$T/stderr" \
    || fail "prepare"
"$BIN" pretrain --config "$SRC/configs/tiny.ini" --set train.threads=1 --set train.max_steps=12 --data "$T/s.h5" \
    --out "$T/r" >/dev/null 2>"$T/stderr" || fail "pretrain"
ck="$T/r/checkpoints/step-00000012.h5"
tk=(--tokenizer "$T/tok/tokenizer.json")

# ---- sample ----
"$BIN" sample --checkpoint "$ck" "${tk[@]}" --prompt "ROMEO:" --json --num-samples 3 --max-tokens 20 \
    >"$T/j" 2>"$T/stderr" || fail "sample --json"
python3 - "$T/j" <<'PY' || fail "sample --json output"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 3, rows
for i, r in enumerate(rows):
    assert r["sample"] == i and r["seed"] == 1337 + i, r
    assert r["finish_reason"] in ("stop", "length"), r
    assert 0 < r["tokens"] <= 20 and r["prompt_tokens"] > 0, r
    assert r["decode_tok_s"] > 0 or r["tokens"] <= 1, r
    assert isinstance(r["text"], str)
assert len({r["text"] for r in rows}) > 1, "three seeds, one text"
PY
# sample i is sample 0 of seed + i
"$BIN" sample --checkpoint "$ck" "${tk[@]}" --prompt "ROMEO:" --json --seed 1339 --max-tokens 20 >"$T/j2" \
    2>"$T/stderr" || fail "sample seed"
python3 -c "import json,sys; a=json.loads(open('$T/j').readlines()[2]); b=json.loads(open('$T/j2').read()); sys.exit(a['text']!=b['text'])" \
    || fail "sample 2 of seed 1337 differs from sample 0 of seed 1339"
# text output: prompt, text, newline; samples separated by ---
"$BIN" sample --checkpoint "$ck" "${tk[@]}" --prompt "ROMEO:" --num-samples 2 --max-tokens 10 >"$T/t" 2>"$T/stderr" \
    || fail "sample text"
[ "$(grep -c '^---$' "$T/t")" -eq 1 ] || fail "two samples, not one separator"
[ "$(grep -c 'ROMEO:' "$T/t")" -ge 2 ] || fail "the prompt is not echoed per sample"
# --prompt-file gives what --prompt gives
printf 'ROMEO:' >"$T/p.txt"
"$BIN" sample --checkpoint "$ck" "${tk[@]}" --prompt-file "$T/p.txt" --num-samples 2 --max-tokens 10 >"$T/t2" \
    2>"$T/stderr" || fail "sample --prompt-file"
cmp -s "$T/t" "$T/t2" || fail "--prompt-file differs from --prompt"
# --stop: the text ends before the first occurrence of the stop string
"$BIN" sample --checkpoint "$ck" "${tk[@]}" --prompt "ROMEO:" --json --max-tokens 60 --temperature 0 >"$T/g" \
    2>"$T/stderr" || fail "greedy"
stop=$(python3 -c "import json; t=json.load(open('$T/g'))['text']; print(t[5:8])")
[ -n "$stop" ] || fail "greedy text too short for a stop string"
"$BIN" sample --checkpoint "$ck" "${tk[@]}" --prompt "ROMEO:" --json --max-tokens 60 --temperature 0 --stop "$stop" \
    >"$T/gs" 2>"$T/stderr" || fail "sample --stop"
python3 - "$T/g" "$T/gs" "$stop" <<'PY' || fail "--stop"
import json, sys
full = json.load(open(sys.argv[1]))["text"]; cut = json.load(open(sys.argv[2])); stop = sys.argv[3]
assert cut["finish_reason"] == "stop", cut
assert cut["text"] == full[:full.index(stop)], (cut["text"], full, stop)
PY
# a prompt longer than the context (32): slides, says so on stderr, succeeds
long=$(python3 -c "print('the king and the queen ' * 40)")
"$BIN" sample --checkpoint "$ck" "${tk[@]}" --prompt "$long" --max-tokens 5 --json >"$T/l" 2>"$T/stderr" \
    || fail "long prompt"
grep -q "longer than the context" "$T/stderr" || fail "long prompt: no notice"
python3 -c "import json; r=json.load(open('$T/l')); assert r['prompt_tokens']==32, r" || fail "long prompt not cut to 32"
# --chat renders the template and prints the answer only
"$BIN" sample --checkpoint "$ck" "${tk[@]}" --chat "hello" --system "be brief" --json --max-tokens 10 >"$T/c" \
    2>"$T/stderr" || fail "sample --chat"
python3 -c "import json; r=json.load(open('$T/c')); assert r['prompt_tokens']>4 and r['tokens']>0, r" \
    || fail "sample --chat output"

# ---- chat through a pipe ----
printf 'hello there\n\nhow are you?\n/stats\nwhat now\n' >"$T/in"
"$BIN" chat --checkpoint "$ck" "${tk[@]}" --system "be nice" --seed 3 <"$T/in" >"$T/o1" 2>"$T/e1" || fail "chat pipe"
"$BIN" chat --checkpoint "$ck" "${tk[@]}" --system "be nice" --seed 3 <"$T/in" >"$T/o2" 2>/dev/null || fail "chat pipe"
[ "$(wc -l <"$T/o1")" -eq 3 ] || fail "chat: 3 messages, $(wc -l <"$T/o1") answer lines"
cmp -s "$T/o1" "$T/o2" || fail "chat: same seed, different answers"
grep -q "^turns 2 " "$T/e1" || fail "chat: /stats on stderr: $(cat "$T/e1")"
"$BIN" chat --checkpoint "$ck" "${tk[@]}" --json --max-tokens 8 <"$T/in" >"$T/oj" 2>/dev/null || fail "chat --json"
python3 - "$T/oj" <<'PY' || fail "chat --json output"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 3, rows
for r in rows:
    assert r["finish_reason"] in ("stop", "length") and 0 <= r["tokens"] <= 8, r
    assert 0 < r["context_used"] <= 34, r
PY
printf '/set temperature 0\n/set top-k 5\nhi\n/reset\nhi\n/set temperature -2\n/bogus\n' >"$T/in2"
"$BIN" chat --checkpoint "$ck" "${tk[@]}" <"$T/in2" >"$T/o3" 2>"$T/e3" || fail "chat commands"
[ "$(wc -l <"$T/o3")" -eq 2 ] || fail "chat commands: answers"
[ "$(sed -n 1p "$T/o3")" = "$(sed -n 2p "$T/o3")" ] || fail "greedy after /reset: another answer"
grep -q "(temperature = 0)" "$T/e3" && grep -q "(conversation reset)" "$T/e3" && grep -q "temperature -2" "$T/e3" \
    && grep -q "unknown command '/bogus'" "$T/e3" || fail "chat commands: $(cat "$T/e3")"

# ---- bad input: one line, non-zero exit ----
expect_error "$BIN" sample --checkpoint "$ck" "${tk[@]}" --prompt hi --temperature -1
expect_error "$BIN" sample --checkpoint "$ck" "${tk[@]}" --prompt hi --top-p 1.5
expect_error "$BIN" sample --checkpoint "$ck" "${tk[@]}" --prompt hi --min-p 2
expect_error "$BIN" sample --checkpoint "$ck" "${tk[@]}" --prompt hi --repeat-penalty -3
expect_error "$BIN" sample --checkpoint "$ck" "${tk[@]}" --prompt hi --top-k -1
expect_error "$BIN" sample --checkpoint "$ck" "${tk[@]}" --prompt hi --temperature nan
expect_error "$BIN" sample --checkpoint "$ck" "${tk[@]}" --prompt hi --chat hi
# the checkpoint carries its tokenizer.json (from the store): --tokenizer is optional, same text
"$BIN" sample --checkpoint "$ck" --prompt "ROMEO:" --max-tokens 20 --seed 5 >"$T/own" 2>"$T/stderr" \
    || fail "sample with the checkpoint's own tokenizer: $(cat "$T/stderr")"
"$BIN" sample --checkpoint "$ck" "${tk[@]}" --prompt "ROMEO:" --max-tokens 20 --seed 5 >"$T/given" 2>"$T/stderr" \
    || fail "sample --tokenizer"
cmp -s "$T/own" "$T/given" || fail "the embedded tokenizer gives other text than the file"
"$BIN" info "$ck" | grep -q "^tokenizer   bpe600-.* (tokenizer.json inside, [0-9]* bytes)" || fail "info: no embedded tokenizer"
"$BIN" info "$T/s.h5" | grep -q "(tokenizer.json inside" || fail "info: store without its tokenizer.json"
# a damaged embedded copy: one line naming it
cp "$ck" "$T/dam.h5"
python3 - "$T/dam.h5" <<'PY' || fail "damage the copy"
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
i = b.find(b'"merges"')
assert i > 0
b[i + 1] ^= 0x20   # "merges" -> "Merges": same size, checksum no longer matches
open(p, "wb").write(bytes(b))
PY
expect_error "$BIN" sample --checkpoint "$T/dam.h5" --prompt hi
grep -q "tokenizer_json: checksum mismatch" "$T/stderr" || fail "damaged tokenizer copy: $(cat "$T/stderr")"
# another tokenizer than the model's: one line naming both and what to do (not "use a store")
expect_error "$BIN" sample --checkpoint "$ck" --tokenizer bytes --prompt hi
grep -q "made with tokenizer .* but bytes-v1 (vocab 257) is given: pass the tokenizer.json the model was trained with" \
    "$T/stderr" || fail "other tokenizer: $(cat "$T/stderr")"
expect_error "$BIN" chat --checkpoint "$ck" --tokenizer bytes
grep -q "is given: pass the tokenizer.json the model was trained with" "$T/stderr" || fail "chat, other tokenizer"
expect_error "$BIN" chat --checkpoint "$ck" "${tk[@]}" --top-p 0
head -c 4000 /dev/urandom >"$T/garbage"
STDIN="$T/garbage" expect_error "$BIN" chat --checkpoint "$ck" "${tk[@]}"
grep -q "not UTF-8 text" "$T/stderr" || fail "garbage: $(cat "$T/stderr")"
python3 -c "print('the king and the queen ' * 40)" >"$T/longmsg"
STDIN="$T/longmsg" expect_error "$BIN" chat --checkpoint "$ck" "${tk[@]}"
grep -q "no room" "$T/stderr" || fail "long message: $(cat "$T/stderr")"
"$BIN" prepare --tokenizer bytes --input "$SRC/data/tinyshakespeare.txt" --out "$T/b.h5" >/dev/null 2>"$T/stderr" \
    || fail "prepare bytes"
"$BIN" pretrain --config "$SRC/configs/tiny.ini" --set train.threads=1 --set train.max_steps=2 --data "$T/b.h5" \
    --out "$T/rb" >/dev/null 2>"$T/stderr" || fail "pretrain bytes"
STDIN="$T/in" expect_error "$BIN" chat --checkpoint "$T/rb/checkpoints/step-00000002.h5"
grep -q "<|system|>" "$T/stderr" || fail "chat on the byte tokenizer: $(cat "$T/stderr")"
echo "infer_cli: all checks passed"

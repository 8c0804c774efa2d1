#!/usr/bin/env bash
# gguf.sh NPM_DIR [STEPS N_EMBD]: `llmpi export --format gguf` against
# llama.cpp itself (npm node-llama-cpp, prebuilt) and an independent GGUF
# reader (npm @huggingface/gguf), both installed into NPM_DIR (the build
# tree) on the first run; skips (77) only when node/npm is missing or the
# registry cannot be reached.
# Model: BPE vocab 600 with the chat specials trained on data/, a GPT of
# width N_EMBD (default 64) trained STEPS steps (default 12: about a second;
# the `long` variant trains longer so greedy text is not one repeated token).
# Not width 32: there llama.cpp 0.5.0's CPU q8_0 path (one 32-wide block per
# row) gives run-to-run different logits and now and then NaN on this CPU
# (f32/f16 files of the same model are stable; at width 64 q8_0 is stable
# over 8 loads and within 0.002% of f32).
# Checks: f32/f16/q8_0 files' structure (gguf_llama.mjs); llama.cpp's ids of
# Gutenberg prose, code, digits, emoji, CJK, whitespace and special strings
# (with and without special parsing) == `llmpi tokenizer encode`; greedy
# continuation of 3 prompts (32 tokens) == `llmpi sample --temperature 0`;
# a chat through llama.cpp's Jinja chat template: prompt ids == the
# template's and prompt count == `llmpi sample --chat --json`'s, answer ==;
# bad input: existing output refused without --force, truncated and corrupt
# checkpoints, a disk-full write: one line, nothing left behind.
set -euo pipefail
npm_dir=${1:?usage: gguf.sh NPM_DIR [STEPS N_EMBD]}
steps=${2:-12}
embd=${3:-64}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${LLMPI_BIN:?LLMPI_BIN not set}
export OMPI_MCA_ess_singleton_isolated=${OMPI_MCA_ess_singleton_isolated:-1}
nlc_version=3.22.1
hfg_version=0.4.6

command -v node > /dev/null && command -v npm > /dev/null || { echo "node/npm missing: skipped"; exit 77; }
have() { [ "$(node -p "require('$npm_dir/node_modules/$1/package.json').version" 2>/dev/null)" = "$2" ]; }
if ! have node-llama-cpp $nlc_version || ! have @huggingface/gguf $hfg_version; then
  mkdir -p "$npm_dir"
  if ! npm install --prefix "$npm_dir" --no-audit --no-fund --ignore-scripts "node-llama-cpp@$nlc_version" \
      "@huggingface/gguf@$hfg_version" > "$npm_dir.log" 2>&1; then
    if ! npm ping > /dev/null 2>&1; then echo "npm registry unreachable: skipped"; exit 77; fi
    echo "npm install failed although the registry answers:"; tail -5 "$npm_dir.log"; exit 1
  fi
fi

T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
die() { echo "FAIL: $*"; [ -f "$T/err" ] && cat "$T/err"; exit 1; }

"$bin" tokenizer train --input "$root/data" --vocab-size 600 --out "$T/tok" --quiet > /dev/null 2> "$T/err" || die tokenizer
"$bin" prepare --tokenizer "$T/tok/tokenizer.json" --input "$root/data" --out "$T/s.h5" > /dev/null 2> "$T/err" || die prepare
"$bin" pretrain --config "$root/configs/tiny.ini" --set train.threads=2 --set train.max_steps="$steps" \
  --set model.n_embd="$embd" --set model.block_size=64 --set train.seq_len=64 --set train.ckpt_every=0 \
  --data "$T/s.h5" --out "$T/r" > /dev/null 2> "$T/err" || die pretrain
ck=$(printf '%s/r/checkpoints/step-%08d.h5' "$T" "$steps")
for ty in f32 f16 q8_0; do
  "$bin" export --checkpoint "$ck" --format gguf --out "$T/m-$ty.gguf" --type "$ty" > "$T/out" 2> "$T/err" || die "export $ty"
done

# texts: Gutenberg prose, code, digits, emoji, CJK, whitespace; then special strings (twice: plain, parsed)
texts=()
for f in "$root"/data/gutenberg/*.txt; do head -c 30000 "$f" > "$T/text.${#texts[@]}"; texts+=("$T/text.${#texts[@]}"); done
cp "$root/src/export/gguf.c" "$T/code.c"; texts+=("$T/code.c")
for f in digits emoji nonlatin crlf; do texts+=("$root/tests/tok/corpora/$f.txt"); done
printf 'mixed\r\nlines\n\r\n  spaces\t\ttabs  \n\n\nend 3.14159 1234567 漢字かな 🙂👍🏽' > "$T/ws.txt"; texts+=("$T/ws.txt")
printf '<|endoftext|>Once<|user|>hi <|assistant|> there<|end|><|end|>\n<|system|>x <|x|>y<|endoftext|>' > "$T/sp.txt"

prompts=("The King of" "It was a dark and stormy night, and" "def main():\n    x = ")
chats_sys=("" "You are terse.")
chats_user=("What is the capital of France?" "Name three\ncolours <|end|> now.")

json_str() { node -e 'process.stdout.write(JSON.stringify(process.argv[1]))' "$1"; }
{
  echo "{\"tokenizer_json\": \"$T/tok/tokenizer.json\", \"out\": \"$T\", \"max_tokens\": 32,"
  echo " \"shape\": {\"n_layer\": 2, \"n_embd\": $embd, \"n_head\": 2, \"block_size\": 64, \"vocab_size\": 600},"
  echo " \"loss\": {\"text\": \"$T/text.0\", \"windows\": 16},"
  echo " \"models\": [[\"$T/m-f32.gguf\", \"f32\"], [\"$T/m-f16.gguf\", \"f16\"], [\"$T/m-q8_0.gguf\", \"q8_0\"]],"
  echo -n " \"texts\": ["
  for t in "${texts[@]}"; do echo -n "[\"$t\", false], "; done
  echo "[\"$T/sp.txt\", false], [\"$T/sp.txt\", true]],"
  echo -n " \"prompts\": ["; sep=""
  for p in "${prompts[@]}"; do echo -n "$sep$(json_str "$(printf '%b' "$p")")"; sep=", "; done; echo "],"
  echo -n " \"chats\": ["; sep=""
  for i in "${!chats_user[@]}"; do
    s=${chats_sys[$i]}; [ -n "$s" ] && s=$(json_str "$s") || s=null
    echo -n "${sep}[$s, $(json_str "$(printf '%b' "${chats_user[$i]}")")]"; sep=", "
  done; echo "],"
  # the template alone on raw texts: CRLF -> LF and trimming as llmpi's normalisation; blank system dropped
  echo ' "jinja": [[[{"role": "system", "content": " \r\n"}, {"role": "user", "content": "  Hi\r\nthere \t"},'
  echo '   {"role": "assistant", "content": "\nYes. "}, {"role": "user", "content": "x"}],'
  echo '   "<|user|>Hi\nthere<|end|><|assistant|>Yes.<|end|><|user|>x<|end|><|assistant|>"],'
  echo '  [[{"role": "system", "content": "\tBe brief.\r\n"}, {"role": "user", "content": "a\r\n\r\nb"}],'
  echo '   "<|system|>Be brief.<|end|><|user|>a\n\nb<|end|><|assistant|>"]]}' 
} > "$T/spec.json"
node "$here/gguf_llama.mjs" "$npm_dir" "$T/spec.json" 2> "$T/node.err" || { cat "$T/node.err"; fail "gguf_llama.mjs"; }

# q8_0 within 1% of f32 (llama.cpp's cross-entropy on 16 windows of prose), f16 closer still
node -e '
  const l = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`llama.cpp cross-entropy: f32 ${l.f32.toFixed(5)} f16 ${l.f16.toFixed(5)} q8_0 ${l.q8_0.toFixed(5)}` +
    ` (q8_0 ${(100 * (l.q8_0 / l.f32 - 1)).toFixed(3)}%)`);
  if (!(Math.abs(l.q8_0 / l.f32 - 1) < 0.01 && Math.abs(l.f16 / l.f32 - 1) < 0.001)) process.exit(1);' "$T/loss.json" \
  || fail "quantized cross-entropy too far from f32"

n=${#texts[@]}
for i in "${!texts[@]}"; do
  "$bin" tokenizer encode --tokenizer "$T/tok" < "${texts[$i]}" > "$T/ours.$i" 2>&1 || fail "encode $i"
  cmp -s "$T/ours.$i" "$T/tok.$i.ids" || fail "llama.cpp's ids differ on $(basename "${texts[$i]}")"
done
"$bin" tokenizer encode --tokenizer "$T/tok" < "$T/sp.txt" > "$T/ours.$n" 2>&1
cmp -s "$T/ours.$n" "$T/tok.$n.ids" || fail "llama.cpp's ids differ on the special strings as text"
"$bin" tokenizer encode --tokenizer "$T/tok" --allow-special < "$T/sp.txt" > "$T/ours.$((n + 1))" 2>&1
cmp -s "$T/ours.$((n + 1))" "$T/tok.$((n + 1)).ids" || fail "llama.cpp's ids differ on the special strings parsed"

for i in "${!prompts[@]}"; do
  p=$(printf '%b' "${prompts[$i]}"; echo x); p=${p%x}
  "$bin" sample --checkpoint "$ck" --prompt "$p" --temperature 0 --max-tokens 32 > "$T/gen.ours" 2> "$T/err" \
    || die "sample $i"
  printf '%s' "$p" > "$T/gen.want"; cat "$T/gen.$i.txt" >> "$T/gen.want"; echo >> "$T/gen.want"
  cmp -s "$T/gen.ours" "$T/gen.want" || { fail "greedy continuation $i differs"; diff "$T/gen.ours" "$T/gen.want" | head -5; }
done

for i in "${!chats_user[@]}"; do
  u=$(printf '%b' "${chats_user[$i]}"; echo x); u=${u%x}
  s=${chats_sys[$i]}; sys=(); [ -n "$s" ] && sys=(--system "$s")
  "$bin" sample --checkpoint "$ck" --chat "$u" "${sys[@]}" --temperature 0 --max-tokens 32 --json > "$T/chat.json" \
    2> "$T/err" || die "sample --chat $i"
  # the template's ids, rendered by hand from docs/sft.md: control tokens, and each text normalised and
  # encoded on its own as plain text (a special's string typed in a message stays text)
  norm() { printf '%s' "$1" | sed 's/\r$//' | sed -e ':a' -e 'N' -e '$!ba' -e 's/^[ \t\n\r]*//' -e 's/[ \t\n\r]*$//'; }
  sp() { printf '%s' "$1" | "$bin" tokenizer encode --tokenizer "$T/tok" --allow-special | tr '\n' ' '; }
  tx() { norm "$1" | "$bin" tokenizer encode --tokenizer "$T/tok" | tr '\n' ' '; }
  { [ -n "$s" ] && { sp '<|system|>'; tx "$s"; sp '<|end|>'; }
    sp '<|user|>'; tx "$u"; sp '<|end|>'; sp '<|assistant|>'; } | tr -s ' ' | sed 's/ $//' > "$T/chat.want"
  echo >> "$T/chat.want"
  cmp -s "$T/chat.want" "$T/chat.$i.ids" || fail "chat $i: llama.cpp's chat-template prompt ids differ: $(cat "$T/chat.$i.ids") vs $(cat "$T/chat.want")"
  node -e '
    const [j, ids, txt] = [JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")),
      require("fs").readFileSync(process.argv[2], "utf8").trim().split(" "), require("fs").readFileSync(process.argv[3], "utf8")];
    if (j.prompt_tokens !== ids.length) { console.log(`prompt tokens ${j.prompt_tokens} vs llama.cpp ${ids.length}`); process.exit(1); }
    if (j.text !== txt) { console.log(`answer ${JSON.stringify(j.text)} vs llama.cpp ${JSON.stringify(txt)}`); process.exit(1); }' \
    "$T/chat.json" "$T/chat.$i.ids" "$T/chat.$i.txt" || fail "chat $i: llmpi sample --chat differs"
done

# bad input: one line, exit non-zero, nothing left behind
one_line() {  # WHAT OUT: the command failed with one stderr line, OUT absent, no temporary files
  [ "$(wc -l < "$T/err")" -eq 1 ] || fail "$1: $(wc -l < "$T/err") stderr lines: $(cat "$T/err")"
  [ -e "$2" ] && fail "$1: $2 was written"
  ls "$T"/*.tmp.* > /dev/null 2>&1 && fail "$1: a temporary file is left"
  return 0
}
cp "$T/m-f32.gguf" "$T/keep"
"$bin" export --checkpoint "$ck" --format gguf --out "$T/m-f32.gguf" > /dev/null 2> "$T/err" && fail "existing output overwritten"
grep -q -- "--force" "$T/err" || fail "existing output: $(cat "$T/err")"
cmp -s "$T/keep" "$T/m-f32.gguf" || fail "the refused export changed the existing file"
"$bin" export --checkpoint "$ck" --format gguf --out "$T/m-f32.gguf" --type q8_0 --force > /dev/null 2> "$T/err" || fail "--force"
cmp -s "$T/m-q8_0.gguf" "$T/m-f32.gguf" || fail "--force did not write the same bytes as a fresh export"
head -c $(( $(stat -c %s "$ck") / 2 )) "$ck" > "$T/trunc.h5"
"$bin" export --checkpoint "$T/trunc.h5" --format gguf --out "$T/x.gguf" > /dev/null 2> "$T/err" && fail "truncated checkpoint accepted"
one_line "truncated checkpoint" "$T/x.gguf"
cp "$ck" "$T/bad.h5"; size=$(stat -c %s "$T/bad.h5")
printf '\xff\xfe\xfd\xfc' | dd of="$T/bad.h5" bs=1 seek=$((size - 4096)) conv=notrunc status=none
"$bin" export --checkpoint "$T/bad.h5" --format gguf --out "$T/x.gguf" > /dev/null 2> "$T/err" && fail "corrupt checkpoint accepted"
one_line "corrupt checkpoint" "$T/x.gguf"
LLMPI_FAULT_WRITE=1 "$bin" export --checkpoint "$ck" --format gguf --out "$T/x.gguf" > /dev/null 2> "$T/err" \
  && fail "disk full not reported"
one_line "disk full" "$T/x.gguf"
"$bin" export --checkpoint "$ck" --format gguf --out "$T/x.gguf" --type q4 > /dev/null 2> "$T/err" && fail "--type q4 accepted"
one_line "bad --type" "$T/x.gguf"

[ $fails -eq 0 ] && echo "ok: GGUF f32/f16/q8_0 structure, llama.cpp ids on $((n + 2)) texts, 3 greedy continuations, ${#chats_user[@]} chats" \
  || { echo "$fails failures"; exit 1; }

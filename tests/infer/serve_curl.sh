#!/usr/bin/env bash
# serve_curl.sh: `llmpi serve` end to end with curl on the tiny test model:
# /health, /v1/models, chat and text completions in OpenAI shape (usage,
# finish_reason), the same text as `llmpi sample` / `sample --chat` for the
# same prompt, seed and settings, streaming (SSE chunks whose deltas add up
# to the plain answer, ending with data: [DONE], usage chunk on request),
# stop strings, 400 (malformed JSON, wrong types, unknown model, prompts too
# long for the context, bad message order), 404/405, 413 (Content-Length and
# chunked), 401 with --api-key, /health answered while a slot generates,
# arrival order with one slot, a client that disconnects mid-stream (or
# mid-wait) frees its slot, SIGTERM during generation: exit 0.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=serve_lib.sh
source "$here/serve_lib.sh"
serve_model

serve_start --model-name tiny --max-body 4096 --max-tokens 50
# ---- health, models ----
[ "$(curl -s -o "$T/h" -w '%{http_code}' "$URL/health")" = 200 ] || fail "/health"
python3 -c "import json; h=json.load(open('$T/h')); assert h['status']=='ok' and h['slots']==1, h" || fail "/health body"
[ "$(curl -s -o "$T/m" -w '%{http_code}' "$URL/v1/models")" = 200 ] || fail "/v1/models"
python3 -c "import json; m=json.load(open('$T/m')); assert m['object']=='list' and m['data'][0]['id']=='tiny', m" \
    || fail "/v1/models body"

# ---- chat: OpenAI shape, same text as sample --chat ----
chat='{"model":"tiny","messages":[{"role":"system","content":"be nice"},{"role":"user","content":"hello there"}],"max_tokens":20,"seed":7,"temperature":0.9}'
[ "$(post /v1/chat/completions "$chat")" = 200 ] || fail "chat: $(cat "$T/body")"
cp "$T/body" "$T/chat.json"
"$BIN" sample --checkpoint "$CK" "${TK[@]}" --chat "hello there" --system "be nice" --seed 7 --temperature 0.9 \
    --max-tokens 20 --json >"$T/sample_chat.json" 2>"$T/stderr" || fail "sample --chat"
python3 - "$T/chat.json" "$T/sample_chat.json" <<'PY' || fail "chat response"
import json, sys
r = json.load(open(sys.argv[1])); s = json.load(open(sys.argv[2]))
assert r["object"] == "chat.completion" and r["id"].startswith("chatcmpl-") and r["model"] == "tiny", r
assert isinstance(r["created"], int) and r["created"] > 1600000000, r
c = r["choices"][0]
assert c["index"] == 0 and c["message"]["role"] == "assistant" and c["finish_reason"] in ("stop", "length"), r
u = r["usage"]
assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"], u
assert c["message"]["content"] == s["text"], (c["message"]["content"], s["text"])
assert u["prompt_tokens"] == s["prompt_tokens"] and u["completion_tokens"] == s["tokens"], (u, s)
assert c["finish_reason"] == s["finish_reason"], (c, s)
PY
# the same request again: the same answer (no state carried between requests)
[ "$(post /v1/chat/completions "$chat")" = 200 ] || fail "chat again"
python3 -c "import json; a=json.load(open('$T/chat.json')); b=json.load(open('$T/body')); assert a['choices']==b['choices']" \
    || fail "the same chat request gave another answer"
# content as an array of text parts is the same message
[ "$(post /v1/chat/completions '{"messages":[{"role":"system","content":[{"type":"text","text":"be nice"}]},{"role":"user","content":[{"type":"text","text":"hello "},{"type":"text","text":"there"}]}],"max_tokens":20,"seed":7,"temperature":0.9}')" = 200 ] \
    || fail "chat with content parts: $(cat "$T/body")"
python3 -c "import json; a=json.load(open('$T/chat.json')); b=json.load(open('$T/body')); assert a['choices']==b['choices']" \
    || fail "content parts gave another answer"
# a conversation with an earlier turn
[ "$(post /v1/chat/completions '{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":"how are you"}],"max_tokens":5}')" = 200 ] \
    || fail "multi-turn chat: $(cat "$T/body")"

# ---- completions: same text as sample ----
[ "$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":30,"seed":11}')" = 200 ] || fail "completion"
cp "$T/body" "$T/cmpl.json"
"$BIN" sample --checkpoint "$CK" "${TK[@]}" --prompt "ROMEO:" --seed 11 --max-tokens 30 --json >"$T/sample.json" \
    2>"$T/stderr" || fail "sample"
python3 - "$T/cmpl.json" "$T/sample.json" <<'PY' || fail "completion response"
import json, sys
r = json.load(open(sys.argv[1])); s = json.load(open(sys.argv[2]))
assert r["object"] == "text_completion" and r["id"].startswith("cmpl-"), r
c = r["choices"][0]
assert c["text"] == s["text"], (c["text"], s["text"])
assert c["finish_reason"] == s["finish_reason"] and r["usage"]["completion_tokens"] == s["tokens"], (r, s)
PY
# the server's default max_tokens (--max-tokens 50) applies when the request names none
[ "$(post /v1/completions '{"prompt":"the king","stop":null,"temperature":0}')" = 200 ] || fail "defaults"
python3 -c "import json; r=json.load(open('$T/body')); assert r['usage']['completion_tokens']<=50, r" || fail "defaults"

# ---- stop strings ----
[ "$(post /v1/completions '{"prompt":"ROMEO:","max_tokens":60,"temperature":0}')" = 200 ] || fail "greedy"
cp "$T/body" "$T/greedy.json"
stop=$(python3 -c "import json; t=json.load(open('$T/greedy.json'))['choices'][0]['text']; print(t[6:9])")
[ -n "$stop" ] || fail "greedy text too short for a stop string"
sj=$(python3 -c "import json,sys; print(json.dumps(sys.argv[1]))" "$stop")
for form in "$sj" "[\"zzzqqq\", $sj]"; do
    [ "$(post /v1/completions "{\"prompt\":\"ROMEO:\",\"max_tokens\":60,\"temperature\":0,\"stop\":$form}")" = 200 ] \
        || fail "stop $form"
    python3 - "$T/greedy.json" "$T/body" "$stop" <<'PY' || fail "stop $form"
import json, sys
full = json.load(open(sys.argv[1]))["choices"][0]["text"]; cut = json.load(open(sys.argv[2]))["choices"][0]
assert cut["finish_reason"] == "stop" and cut["text"] == full[:full.index(sys.argv[3])], (cut, full)
PY
done

# ---- streaming ----
curl -sN -H 'Content-Type: application/json' --data-binary "${chat%\}},\"stream\":true}" "$URL/v1/chat/completions" \
    >"$T/sse" || fail "chat stream"
python3 - "$T/sse" "$T/chat.json" <<'PY' || fail "chat stream: $(head -c 600 "$T/sse")"
import json, sys
raw = open(sys.argv[1]).read(); plain = json.load(open(sys.argv[2]))["choices"][0]
events = [l[6:] for l in raw.split("\n") if l.startswith("data: ")]
assert [l for l in raw.split("\n") if l and not l.startswith("data: ")] == [], raw
assert events[-1] == "[DONE]", events[-3:]
chunks = [json.loads(e) for e in events[:-1]]
assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks), chunks
assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
assert text == plain["message"]["content"], (text, plain)
assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == plain["finish_reason"]
assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
# (text drawn while the previous chunk was being sent goes out as one chunk: a slow
# client gets fewer, larger chunks; the long stream below checks many chunks arrive)
assert len(chunks) >= 3, chunks
PY
curl -sN --data-binary '{"prompt":"ROMEO:","max_tokens":30,"seed":11,"stream":true,"stream_options":{"include_usage":true}}' \
    "$URL/v1/completions" >"$T/sse2" || fail "completion stream"
python3 - "$T/sse2" "$T/cmpl.json" <<'PY' || fail "completion stream: $(head -c 600 "$T/sse2")"
import json, sys
events = [l[6:] for l in open(sys.argv[1]).read().split("\n") if l.startswith("data: ")]
plain = json.load(open(sys.argv[2]))
assert events[-1] == "[DONE]"
chunks = [json.loads(e) for e in events[:-1]]
assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == plain["usage"], chunks[-1]
assert "".join(c["choices"][0]["text"] for c in chunks[:-1]) == plain["choices"][0]["text"]
PY

# ---- 400, 404, 405 ----
bad() {  # PATH BODY PARAM CODE
    local st
    st=$(post "$1" "$2")
    [ "$st" = 400 ] || fail "expected 400 for $2, got $st: $(cat "$T/body")"
    python3 - "$T/body" "$3" "$4" <<'PY' || fail "error object for $2: $(cat "$T/body")"
import json, sys
e = json.load(open(sys.argv[1]))["error"]
assert set(e) == {"message", "type", "param", "code"} and e["type"] == "invalid_request_error", e
assert e["message"] and e["code"] == sys.argv[3], e
assert e["param"] == (None if sys.argv[2] == "-" else sys.argv[2]), e
PY
}
bad /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}' - invalid_json
bad /v1/chat/completions '[1,2]' - invalid_type
bad /v1/chat/completions '{"messages":"hi"}' messages invalid_type
bad /v1/chat/completions '{"prompt":"hi"}' messages missing
bad /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"max_tokens":"ten"}' max_tokens invalid_value
bad /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"max_tokens":0}' max_tokens invalid_value
bad /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"temperature":-1}' temperature invalid_value
bad /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"top_p":0}' top_p invalid_value
bad /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"seed":1.5}' seed invalid_value
bad /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"stream":"yes"}' stream invalid_type
bad /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"stop":[1]}' stop invalid_type
bad /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"n":3}' n invalid_value
bad /v1/chat/completions '{"model":"gpt-4","messages":[{"role":"user","content":"hi"}]}' model model_not_found
bad /v1/chat/completions '{"messages":[{"role":"assistant","content":"hi"}]}' messages invalid_value
bad /v1/chat/completions '{"messages":[{"role":"user","content":"hi"},{"role":"user","content":"again"}]}' messages invalid_value
bad /v1/chat/completions '{"messages":[{"role":"wizard","content":"hi"}]}' messages invalid_value
bad /v1/chat/completions '{"messages":[{"role":"user","content":3}]}' messages invalid_value
bad /v1/chat/completions '{"messages":[{"role":"user","content":"   "}]}' messages invalid_value
long=$(python3 -c "print('the king and the queen ' * 40)")
bad /v1/chat/completions "{\"messages\":[{\"role\":\"user\",\"content\":\"$long\"}]}" messages context_length_exceeded
bad /v1/completions "{\"prompt\":\"$long\"}" prompt context_length_exceeded
bad /v1/completions '{"prompt":42}' prompt invalid_type
st=$(curl -s -o "$T/body" -w '%{http_code}' "$URL/v1/nothing"); [ "$st" = 404 ] || fail "unknown path: $st"
st=$(curl -s -o "$T/body" -w '%{http_code}' "$URL/v1/completions"); [ "$st" = 405 ] || fail "GET completions: $st"
# ---- 413: over --max-body, announced or chunked ----
big=$(python3 -c "import json; print(json.dumps({'prompt': 'x' * 5000}))")
st=$(post /v1/completions "$big"); [ "$st" = 413 ] || fail "big body: $st"
grep -q '"code":"request_too_large"' "$T/body" || fail "413 body: $(cat "$T/body")"
st=$(post /v1/completions "$big" -H 'Transfer-Encoding: chunked'); [ "$st" = 413 ] || fail "big chunked body: $st"
[ "$(post /v1/completions '{"prompt":"still fine","max_tokens":3}')" = 200 ] || fail "after 413"

# ---- /health while the slot generates; arrival order; disconnects ----
forever='{"prompt":"ROMEO:","max_tokens":16000000,"stream":true}'
curl -sN --max-time 3 --data-binary "$forever" "$URL/v1/completions" >"$T/long_sse" &
lp=$!
sleep 1
t0=$(date +%s.%N)
curl -s --max-time 2 -o "$T/h" "$URL/health" || fail "/health blocked while generating"
python3 -c "import json; h=json.load(open('$T/h')); assert h['slots_busy']==1, h" || fail "health: $(cat "$T/h")"
wait $lp   # curl gives up after 3 s: the client is gone mid-stream
[ "$(grep -c '^data: ' "$T/long_sse")" -gt 10 ] || fail "the long stream sent too little: $(head -c 300 "$T/long_sse")"
# the slot is free again: the next request is answered at once
st=$(post /v1/completions '{"prompt":"next","max_tokens":5}' --max-time 10) 
[ "$st" = 200 ] || fail "request after a disconnect mid-stream: $st"
# the same for a client that stops waiting for a plain answer
curl -s --max-time 2 --data-binary '{"prompt":"ROMEO:","max_tokens":16000000}' "$URL/v1/completions" >/dev/null
st=$(post /v1/completions '{"prompt":"next","max_tokens":5}' --max-time 10)
[ "$st" = 200 ] || fail "request after a disconnect while waiting: $st"
curl -s "$URL/health" >"$T/h"
python3 -c "import json; h=json.load(open('$T/h')); assert h['slots_busy']==0 and h['queued']==0, h" \
    || fail "slot still busy after disconnects: $(cat "$T/h")"
# one slot: requests are answered in arrival order. A holds the slot until
# its client gives up (6 s); B arrives while A runs, C after B: B must be answered first.
# B is short and C long (5000 tokens, about 2 s), so the order the clients write down
# is the order of the answers even when the machine is slow to run the client shells.
: >"$T/order"
# each next request only once the server holds the previous one (/health counts them), so the
# order is the arrival order even when curl is slow to connect under load
health_has() {
    local i
    for i in $(seq 1 100); do curl -s "$URL/health" | grep -q "$1" && return 0; sleep 0.1; done
    return 1
}
( curl -sN --max-time 6 --data-binary "$forever" "$URL/v1/completions" >/dev/null; echo A >>"$T/order" ) &
a=$!
health_has '"slots_busy": *1' || fail "A not running"
( curl -s --max-time 60 --data-binary '{"prompt":"ROMEO:","max_tokens":5,"seed":1}' "$URL/v1/completions" >/dev/null
  echo B >>"$T/order" ) &
b=$!
health_has '"queued": *1' || fail "B not queued"
( curl -s --max-time 60 --data-binary '{"prompt":"ROMEO:","max_tokens":5000,"seed":1}' "$URL/v1/completions" >/dev/null
  echo C >>"$T/order" ) &
c=$!
wait $a $b $c
[ "$(grep -v A "$T/order" | tr -d '\n')" = BC ] || fail "arrival order: $(tr -d '\n' <"$T/order")"
# SIGTERM while a request generates: the stream ends, exit 0 within seconds
curl -sN --max-time 20 --data-binary "$forever" "$URL/v1/completions" >"$T/term_sse" &
lp=$!
health_has '"slots_busy": *1' || fail "the stream to stop is not running"
sleep 0.5
serve_stop
wait $lp
tail -c 300 "$T/term_sse" | grep -q 'data: \[DONE\]' || fail "stream not ended on SIGTERM: $(tail -c 300 "$T/term_sse")"

# ---- --api-key ----
serve_start --api-key sekrit
st=$(post /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"max_tokens":3}')
[ "$st" = 401 ] || fail "no key: $st"
grep -q '"code":"invalid_api_key"' "$T/body" || fail "401 body: $(cat "$T/body")"
st=$(post /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"max_tokens":3}' -H 'Authorization: Bearer wrong')
[ "$st" = 401 ] || fail "wrong key: $st"
st=$(curl -s -o "$T/body" -w '%{http_code}' "$URL/v1/models"); [ "$st" = 401 ] || fail "models without key: $st"
st=$(post /v1/chat/completions '{"messages":[{"role":"user","content":"hi"}],"max_tokens":3}' -H 'Authorization: Bearer sekrit')
[ "$st" = 200 ] || fail "right key: $st"
st=$(curl -s -o "$T/body" -w '%{http_code}' "$URL/health"); [ "$st" = 200 ] || fail "health needs no key: $st"
serve_stop

# ---- bad options: one line, non-zero ----
"$BIN" serve --checkpoint "$CK" "${TK[@]}" --host not-an-address --port 0 >/dev/null 2>"$T/stderr" && fail "bad host"
[ "$(wc -l <"$T/stderr")" -eq 1 ] && grep -q '^llmpi: ' "$T/stderr" || fail "bad host: $(cat "$T/stderr")"
"$BIN" serve --checkpoint "$CK" "${TK[@]}" --temperature -1 >/dev/null 2>"$T/stderr" && fail "bad temperature"
# another tokenizer than the model's (the checkpoint carries its own; one given must match)
"$BIN" serve --checkpoint "$CK" --tokenizer bytes --port 0 >/dev/null 2>"$T/stderr" && fail "other tokenizer"
grep -q "is given: pass the tokenizer.json the model was trained with" "$T/stderr" \
    || fail "other tokenizer: $(cat "$T/stderr")"
echo "serve_curl: all checks passed"

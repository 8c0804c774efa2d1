#!/usr/bin/env bash
# serve_utf8.sh: `llmpi serve` answers every error with its JSON body, also
# when the message would hold bytes that are not valid UTF-8 (jansson
# refuses such a string, and the client then got no answer at all, the
# connection closed): a model name cut inside a character by the message's
# size (found by fuzz_http) and a URL with a %FF byte in it.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../infer/serve_lib.sh
source "$here/../infer/serve_lib.sh"
serve_model
serve_start
# a model name of 1 + 300 x 2 bytes: the 512-byte message ends inside an e-acute
long=$(python3 -c "print('x' + '\u00e9' * 300)")
st=$(post /v1/completions "{\"model\":\"$long\",\"prompt\":\"hi\"}")
[ "$st" = 400 ] || fail "long model name: status $st (000: no answer)"
python3 -c "import json; e=json.load(open('$T/body'))['error']; assert e['code']=='model_not_found', e" \
    || fail "long model name: body $(head -c 300 "$T/body")"
st=$(curl -s -o "$T/body" -w '%{http_code}' "$URL/v1/%FFx")
[ "$st" = 404 ] || fail "URL with %FF: status $st (000: no answer)"
python3 -c "import json; e=json.load(open('$T/body'))['error']; assert e['code']=='unknown_url', e" \
    || fail "URL with %FF: body $(head -c 300 "$T/body")"
serve_stop
echo "serve_utf8: all passed"

#!/usr/bin/env bash
# serve_openai.sh NPM_DIR: `llmpi serve` with the official `openai` npm client
# (tests/infer/serve_openai.js: chat, streaming, completion, models, errors;
# the chat text must equal `llmpi sample --chat`'s). Installs openai into
# NPM_DIR (the build tree) once; skips (77) only when node/npm is missing or
# the npm registry cannot be reached.
set -u
npm_dir=${1:?usage: serve_openai.sh NPM_DIR}
openai_version=4.104.0
here=$(cd "$(dirname "$0")" && pwd)
command -v node >/dev/null && command -v npm >/dev/null || { echo "node/npm missing: skipped"; exit 77; }
if [ "$(node -p "require('$npm_dir/node_modules/openai/package.json').version" 2>/dev/null)" != "$openai_version" ]; then
    mkdir -p "$npm_dir"
    if ! npm install --prefix "$npm_dir" --no-audit --no-fund "openai@$openai_version" >"$npm_dir.log" 2>&1; then
        if ! npm ping >/dev/null 2>&1; then echo "npm registry unreachable: skipped"; exit 77; fi
        echo "npm install openai@$openai_version failed although the registry answers:"; tail -5 "$npm_dir.log"; exit 1
    fi
fi
# shellcheck source=serve_lib.sh
source "$here/serve_lib.sh"
serve_model
"$BIN" sample --checkpoint "$CK" "${TK[@]}" --chat "hello there" --system "be nice" --seed 7 --temperature 0.9 \
    --max-tokens 20 --json >"$T/expected.json" 2>"$T/stderr" || fail "sample --chat"
serve_start --model-name tiny --api-key k3y
NODE_PATH="$npm_dir/node_modules" node "$here/serve_openai.js" "$URL" k3y "$T/expected.json" || fail "openai client"
serve_stop
echo "serve_openai: all checks passed"

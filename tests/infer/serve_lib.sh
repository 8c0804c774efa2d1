# serve_lib.sh: shared by the tests/infer/serve_*.sh tests (sourced).
# serve_model trains the tiny test model (BPE with the chat specials, vocab
# 600, context 64, 12 steps: about a second) into $T; serve_start ARGS...
# starts `llmpi serve` on a free port (--port 0) and waits for its
# "listening" line (sets SPID, PORT, URL); serve_stop sends SIGTERM and
# fails unless the server exits 0 within 10 s.
BIN=${LLMPI_BIN:?LLMPI_BIN must point at the llmpi binary}
SRC=${LLMPI_SOURCE_DIR:?}
export OMPI_MCA_ess_singleton_isolated=${OMPI_MCA_ess_singleton_isolated:-1}
T=$(mktemp -d /tmp/llmpi-serve-XXXXXX)
SPIDS=()
serve_cleanup() {
    local p
    for p in "${SPIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap serve_cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    [ -f "$T/stderr" ] && sed 's/^/  stderr: /' "$T/stderr" >&2
    [ -f "$T/serve.err" ] && sed 's/^/  serve: /' "$T/serve.err" >&2
    exit 1
}
command -v curl >/dev/null || { echo "curl missing: skipped"; exit 77; }

serve_model() {
    "$BIN" tokenizer train --input "$SRC/data" --vocab-size 600 --out "$T/tok" >/dev/null 2>"$T/stderr" || fail "tokenizer"
    "$BIN" prepare --tokenizer "$T/tok/tokenizer.json" --input "$SRC/data" --out "$T/s.h5" >/dev/null 2>"$T/stderr" \
        || fail "prepare"
    "$BIN" pretrain --config "$SRC/configs/tiny.ini" --set train.threads=1 --set train.max_steps=12 \
        --set model.block_size=64 --set train.seq_len=64 --data "$T/s.h5" --out "$T/r" >/dev/null 2>"$T/stderr" \
        || fail "pretrain"
    CK="$T/r/checkpoints/step-00000012.h5"
    TK=(--tokenizer "$T/tok/tokenizer.json")
    rm -f "$T/stderr"
}

serve_start() {
    : >"$T/serve.out"
    "$BIN" serve --checkpoint "$CK" "${TK[@]}" --port 0 "$@" >"$T/serve.out" 2>"$T/serve.err" &
    SPID=$!
    SPIDS+=("$SPID")
    local i
    for i in $(seq 1 200); do
        PORT=$(sed -n 's/^llmpi serve: listening on http:.*:\([0-9]*\) (model .*/\1/p' "$T/serve.out")
        [ -n "$PORT" ] && break
        kill -0 "$SPID" 2>/dev/null || fail "serve did not start"
        sleep 0.1
    done
    [ -n "$PORT" ] || fail "serve did not listen within 20 s"
    URL="http://127.0.0.1:$PORT"
}

serve_stop() {
    kill -TERM "$SPID" || fail "serve is gone before SIGTERM"
    local i
    for i in $(seq 1 100); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$SPID" 2>/dev/null && fail "serve still runs 10 s after SIGTERM"
    wait "$SPID"
    local rc=$?
    [ "$rc" -eq 0 ] || fail "serve exited $rc after SIGTERM"
}

# post PATH JSON [curl options...]: the body in $T/body, the status printed
post() {
    local path=$1 body=$2
    shift 2
    curl -s -o "$T/body" -w '%{http_code}' -H 'Content-Type: application/json' "$@" --data-binary "$body" "$URL$path"
}

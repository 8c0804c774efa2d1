#!/usr/bin/env bash
# chat_tmux.sh: the `llmpi chat` REPL on a real terminal, driven through tmux
# (send-keys / capture-pane): the banner, an answer that streams (the pane
# grows while the answer is still running), Ctrl-C stops the answer and not
# the program, /stats reports it as cancelled, /reset, a second message,
# history written to ~/.llmpi_history, Ctrl-D quits with status 0.
# The model: 6 layers x 384, context 4096, one training step, greedy: its
# answers run to the end of the context (tens of seconds), long enough to
# interrupt. Skips (77) without tmux.
set -u
BIN=${LLMPI_BIN:?LLMPI_BIN must point at the llmpi binary}
SRC=${LLMPI_SOURCE_DIR:?}
command -v tmux >/dev/null || { echo "tmux not installed: skipped"; exit 77; }
export OMPI_MCA_ess_singleton_isolated=${OMPI_MCA_ess_singleton_isolated:-1}
T=$(mktemp -d /tmp/llmpi-chat-tmux-XXXXXX)
SOCK="llmpi-test-$$"
trap 'tmux -L "$SOCK" kill-server 2>/dev/null; rm -rf "$T"' EXIT
fail() {
    echo "FAIL: $*" >&2
    tmux -L "$SOCK" capture-pane -p -t chat 2>/dev/null | sed 's/^/  pane: /' >&2
    [ -f "$T/stderr" ] && sed 's/^/  stderr: /' "$T/stderr" >&2
    exit 1
}
pane() { tmux -L "$SOCK" capture-pane -p -J -S - -t chat; }
# waits up to $2 seconds for the pane to match the grep pattern $1
wait_for() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        pane | grep -q -- "$1" && return 0
        sleep 0.1
    done
    return 1
}

"$BIN" tokenizer train --input "$SRC/data" --vocab-size 600 --out "$T/tok" >/dev/null 2>"$T/stderr" || fail "tokenizer"
"$BIN" prepare --tokenizer "$T/tok/tokenizer.json" --input "$SRC/data" --out "$T/s.h5" >/dev/null 2>"$T/stderr" \
    || fail "prepare"
"$BIN" pretrain --config "$SRC/configs/tiny.ini" --set train.threads=1 --set train.max_steps=1 \
    --set model.n_layer=6 --set model.n_embd=384 --set model.n_head=6 --set model.block_size=4096 \
    --data "$T/s.h5" --out "$T/r" >/dev/null 2>"$T/stderr" || fail "pretrain"
ck="$T/r/checkpoints/step-00000001.h5"

mkdir -p "$T/home"
# the history limit from a config file: a separate `start-server` exits at once (no session,
# exit-empty) and a new-session racing it gets "server exited unexpectedly" under load
echo "set-option -g history-limit 100000" >"$T/tmux.conf"
tmux -L "$SOCK" -f "$T/tmux.conf" new-session -d -s chat -x 160 -y 50 \
    "HOME='$T/home' '$BIN' chat --checkpoint '$ck' --tokenizer '$T/tok/tokenizer.json' --temperature 0 \
     --max-tokens 100000 2>'$T/stderr'; echo \"EXITED \$?\"; sleep 60"
wait_for "llmpi chat:" 30 || fail "no banner"

# an answer streams: the pane grows while it is still running
tmux -L "$SOCK" send-keys -t chat "hello there" Enter
nonblank() { pane | grep -c .; }
for ((i = 0; i < 600; i++)); do [ "$(nonblank)" -gt 3 ] && break; sleep 0.1; done
a=$(nonblank)
sleep 2
b=$(nonblank)
[ "$b" -gt "$a" ] || fail "the answer does not stream ($a -> $b lines)"
pane | tail -1 | grep -q '^> $' && fail "the answer ended before Ctrl-C"
# Ctrl-C stops it, not the program
tmux -L "$SOCK" send-keys -t chat C-c
wait_for "(answer stopped)" 20 || fail "Ctrl-C did not stop the answer"
wait_for "^> $" 10 || fail "no prompt after Ctrl-C"
pane | grep -q "EXITED" && fail "Ctrl-C ended the program"
tmux -L "$SOCK" send-keys -t chat "/stats" Enter
wait_for "last answer: .*cancelled" 10 || fail "/stats does not report the cancelled answer"
wait_for "turns 1 " 5 || fail "/stats: the stopped answer is not a turn"
# Ctrl-C on a line being typed clears it
tmux -L "$SOCK" send-keys -t chat "half a line"
sleep 0.5
tmux -L "$SOCK" send-keys -t chat C-c
wait_for "> half a line\\^C$" 10 || fail "Ctrl-C at the prompt"
tmux -L "$SOCK" send-keys -t chat "/reset" Enter
wait_for "(conversation reset)" 10 || fail "/reset"
tmux -L "$SOCK" send-keys -t chat "/stats" Enter
wait_for "turns 0 " 10 || fail "/stats after /reset"
tmux -L "$SOCK" send-keys -t chat "/set max_tokens 5" Enter
wait_for "(max_tokens = 5)" 10 || fail "/set"
tmux -L "$SOCK" send-keys -t chat "second message" Enter
wait_for "last answer: 5 tokens, length" 1 && fail "stale /stats"
sleep 1
tmux -L "$SOCK" send-keys -t chat "/stats" Enter
wait_for "last answer: 5 tokens, length" 20 || fail "second answer"
# Ctrl-D quits cleanly; the history holds the lines typed
tmux -L "$SOCK" send-keys -t chat C-d
wait_for "EXITED 0" 20 || fail "Ctrl-D did not quit with status 0"
grep -qx "hello there" "$T/home/.llmpi_history" && grep -qx "/reset" "$T/home/.llmpi_history" \
    && grep -qx "second message" "$T/home/.llmpi_history" || fail "history: $(cat "$T/home/.llmpi_history" 2>&1)"
grep -q "half a line" "$T/home/.llmpi_history" && fail "a cleared line went into the history"
[ -s "$T/stderr" ] && fail "stderr not empty"
echo "chat_tmux: all checks passed"

#!/usr/bin/env bash
# store_cli.sh: `llmpi prepare --tokenizer bytes` and `llmpi info` end to end
# (one rank): exact document/token counts, plain text kept byte for byte,
# determinism (byte-identical reruns), the single-document split, an empty
# book warned about by name, and every error path: non-zero exit, exactly one
# line on stderr, nothing at --out (an earlier file there kept as it was).
set -u
BIN=${LLMPI_BIN:?LLMPI_BIN must point at the llmpi binary}
# Every llmpi run is an MPI singleton; not starting an orted for it saves
# about a third of each run's start-up (Open MPI 4).
export OMPI_MCA_ess_singleton_isolated=${OMPI_MCA_ess_singleton_isolated:-1}
T=$(mktemp -d /tmp/llmpi-store-cli-XXXXXX)
trap 'chmod -R u+rwx "$T" 2>/dev/null; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$T/stderr" ] && sed 's/^/  stderr: /' "$T/stderr" >&2; exit 1; }

# expect_error OUT CMD...: CMD fails with one stderr line and leaves no OUT
# and no temporary file beside it.
expect_error() {
    local out=$1; shift
    "$@" >"$T/stdout" 2>"$T/stderr"
    local rc=$?
    [ "$rc" -ne 0 ] || fail "expected failure: $*"
    [ "$(wc -l <"$T/stderr")" -eq 1 ] || fail "expected exactly one stderr line: $*"
    grep -q '^llmpi: ' "$T/stderr" || fail "stderr line lacks the llmpi: prefix: $*"
    [ ! -e "$out" ] || fail "$out exists after a failed run: $*"
    ! ls "$(dirname "$out")" | grep -q '\.tmp\.' || fail "temporary file left: $*"
}

# field FILE KEY: the value column of an `llmpi info` line
field() { grep "^$2 " "$1" | head -1 | sed "s/^$2 *//"; }

mkdir -p "$T/in/sub" "$T/in/deeper/x"
printf 'hello world\n' >"$T/in/a.txt"               # 12 bytes
printf 'second doc' >"$T/in/sub/b.txt"              # 10 bytes
printf 'third' >"$T/in/c.txt"                       # 5 bytes
printf 'four\n' >"$T/in/deeper/x/d.txt"             # 5 bytes
: >"$T/in/empty.txt"                                # skipped with a warning
printf 'not text' >"$T/in/notes.md"                 # not *.txt: ignored

# ---- a folder of four documents, val fraction 0.25 -> 1 val document ----
"$BIN" prepare --tokenizer bytes --input "$T/in" --out "$T/s.h5" --val-fraction 0.25 --seed 3 \
    >"$T/prep.out" 2>"$T/stderr" || fail "prepare failed"
[ "$(wc -l <"$T/stderr")" -eq 1 ] && grep -q "warning: .*/in/empty.txt: dropped: empty file" "$T/stderr" \
    || fail "expected one warning naming the empty book, got: $(cat "$T/stderr")"
grep -q "5 books, 0.0 MB, 1 rank: 0 cleaned, 4 kept as is, 1 dropped (1 empty," "$T/prep.out" \
    || fail "summary: $(cat "$T/prep.out")"
"$BIN" info "$T/s.h5" >"$T/info.out" 2>"$T/stderr" || fail "info failed"
[ "$(field "$T/info.out" format)" = "llmpi-tokens version 1" ] || fail "format line"
[ "$(field "$T/info.out" tokenizer)" = "bytes-v1" ] || fail "tokenizer line"
[ "$(field "$T/info.out" vocab_size)" = "257" ] || fail "vocab_size line"
[ "$(field "$T/info.out" eot_id)" = "256" ] || fail "eot_id line"
[ "$(field "$T/info.out" 'token type')" = "uint16" ] || fail "token type line"
train=$(field "$T/info.out" train)
val=$(field "$T/info.out" val)
train_docs=${train%% documents*}; val_docs=${val%% documents*}
train_tok=$(echo "$train" | sed 's/.*, \([0-9]*\) tokens/\1/')
val_tok=$(echo "$val" | sed 's/.*, \([0-9]*\) tokens/\1/')
[ "$train_docs" -eq 3 ] && [ "$val_docs" -eq 1 ] || fail "documents: train '$train' val '$val'"
# 12+10+5+5 bytes plus one eot per document
[ $((train_tok + val_tok)) -eq 36 ] || fail "total tokens $train_tok + $val_tok != 36"
case "$val_tok" in 6|11|13) ;; *) fail "val tokens $val_tok is not one document + eot" ;; esac
grep -q "train $train_docs documents $train_tok tokens" "$T/prep.out" || fail "prepare summary disagrees with info"

# same inputs and seed: byte-identical file; another seed may pick another doc but keeps totals
"$BIN" prepare --tokenizer bytes --input "$T/in" --out "$T/s2.h5" --val-fraction 0.25 --seed 3 >/dev/null 2>&1 \
    || fail "second prepare failed"
cmp -s "$T/s.h5" "$T/s2.h5" || fail "prepare is not deterministic"

# ---- explicit files keep the argument order; one document splits its tail ----
head -c 100 /dev/zero | tr '\0' 'x' >"$T/one.txt"
"$BIN" prepare --tokenizer bytes --input "$T/one.txt" --out "$T/one.h5" --val-fraction 0.1 >/dev/null 2>"$T/stderr" \
    || fail "single-document prepare failed"
"$BIN" info "$T/one.h5" >"$T/info1.out" || fail "info on single-document store"
[ "$(field "$T/info1.out" train)" = "1 documents, 91 tokens" ] || fail "single doc train: $(cat "$T/info1.out")"
[ "$(field "$T/info1.out" val)" = "1 documents, 11 tokens" ] || fail "single doc val: $(cat "$T/info1.out")"

# ---- --help ----
"$BIN" prepare --help | grep -q -- "--val-fraction" || fail "prepare --help"
"$BIN" info --help | grep -q "usage: llmpi info" || fail "info --help"

# ---- error paths: one line, non-zero, nothing at --out ----
P=(prepare --tokenizer bytes)
expect_error "$T/e1.h5" "$BIN" "${P[@]}" --input "$T/nope.txt" --out "$T/e1.h5"
mkdir -p "$T/empty_dir/sub"; : >"$T/empty_dir/sub/blank.txt"
# only an empty book: its warning, then the error; nothing written
"$BIN" "${P[@]}" --input "$T/empty_dir" --out "$T/e2.h5" >/dev/null 2>"$T/stderr" && fail "prepare of an empty book succeeded"
[ "$(wc -l <"$T/stderr")" -eq 2 ] && grep -q "warning: .*blank.txt: dropped: empty file" "$T/stderr" \
    && grep -q "^llmpi: prepare: no text left" "$T/stderr" || fail "empty input messages"
[ ! -e "$T/e2.h5" ] && ! ls "$T" | grep -q '\.tmp\.' || fail "output or temporary file left after an empty input"
mkdir -p "$T/no_txt"; printf 'x' >"$T/no_txt/a.md"
expect_error "$T/e2b.h5" "$BIN" "${P[@]}" --input "$T/no_txt" --out "$T/e2b.h5"
grep -q "no \*.txt files found" "$T/stderr" || fail "no-txt message: $(cat "$T/stderr")"
expect_error "$T/e3.h5" "$BIN" "${P[@]}" --input "$T/in" --out "$T/e3.h5" --val-fraction 1.5
expect_error "$T/e4.h5" "$BIN" "${P[@]}" --input "$T/in" --out "$T/e4.h5" --val-fraction abc
expect_error "$T/e5.h5" "$BIN" prepare --tokenizer nosuch.json --input "$T/in" --out "$T/e5.h5"
expect_error "$T/e6.h5" "$BIN" "${P[@]}" --input "$T/in"
expect_error "$T/e7.h5" "$BIN" "${P[@]}" --input "$T/in" --out "$T/e7.h5" --bogus
expect_error "$T/nodir/e8.h5" "$BIN" "${P[@]}" --input "$T/in" --out "$T/nodir/e8.h5"
printf 'y' >"$T/tiny.txt"
expect_error "$T/e9.h5" "$BIN" "${P[@]}" --input "$T/tiny.txt" --out "$T/e9.h5"
if [ "$(id -u)" -ne 0 ]; then   # root reads any folder
    mkdir -p "$T/locked"; printf 'x' >"$T/locked/a.txt"; chmod 000 "$T/locked"
    expect_error "$T/e10.h5" "$BIN" "${P[@]}" --input "$T/locked" --out "$T/e10.h5"
    chmod 700 "$T/locked"
fi

# a failed run keeps the earlier store at --out byte for byte
cp "$T/s.h5" "$T/keep.h5"
"$BIN" "${P[@]}" --input "$T/nope.txt" --out "$T/s.h5" >/dev/null 2>&1 && fail "prepare on missing input succeeded"
cmp -s "$T/s.h5" "$T/keep.h5" || fail "failed prepare changed the earlier file"

# info: not HDF5, missing, foreign HDF5, damaged store, usage
printf 'plain text\n' >"$T/plain.h5"
expect_error "$T/none" "$BIN" info "$T/plain.h5"
grep -q "not an HDF5 file" "$T/stderr" || fail "info on text: $(cat "$T/stderr")"
expect_error "$T/none" "$BIN" info "$T/missing.h5"
expect_error "$T/none" "$BIN" info
if command -v h5mkgrp >/dev/null; then
    h5mkgrp "$T/foreign.h5" /g || fail "h5mkgrp"
    expect_error "$T/none" "$BIN" info "$T/foreign.h5"
    grep -q "not an llmpi file" "$T/stderr" || fail "info on foreign HDF5: $(cat "$T/stderr")"
fi
cp "$T/s.h5" "$T/cut.h5"
truncate -s $(( $(stat -c %s "$T/s.h5") / 2 )) "$T/cut.h5"
expect_error "$T/none" "$BIN" info "$T/cut.h5"
grep -q "truncated" "$T/stderr" || fail "info on a truncated store: $(cat "$T/stderr")"
echo "store_cli: all checks passed"

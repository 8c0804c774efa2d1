#!/usr/bin/env bash
# prepare_mpi.sh: the parallel `llmpi prepare` with a BPE tokenizer.
#   - 1, 2 and 3 ranks (3 oversubscribed on 2 cores) give identical stores:
#     h5diff finds no difference in datasets or attributes;
#   - a binary file and an empty book among the books are dropped with a
#     warning naming them; a duplicate book is dropped and counted;
#   - every document ends with the tokenizer's eot, and a document decodes
#     to exactly the text `llmpi clean` makes of its book;
#   - info reports the tokenizer identity and vocabulary;
#   - errors under mpirun (unreadable input, bad tokenizer, bad --out) name
#     the file and leave nothing at --out, no temporary file beside it.
set -u
BIN=${LLMPI_BIN:?LLMPI_BIN must point at the llmpi binary}
SRC=${LLMPI_SOURCE_DIR:?}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
command -v mpirun >/dev/null || { echo "no mpirun: skipped"; exit 77; }
command -v h5diff >/dev/null && command -v h5dump >/dev/null || { echo "no h5diff/h5dump: skipped"; exit 77; }
[ -d "$SRC/data/gutenberg" ] || { echo "no $SRC/data/gutenberg: skipped"; exit 77; }
T=$(mktemp -d /tmp/llmpi-prepare-mpi-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$T/stderr" ] && sed 's/^/  stderr: /' "$T/stderr" >&2; exit 1; }
run() { local np=$1; shift; mpirun -np "$np" --oversubscribe --bind-to none "$BIN" "$@"; }

# ---- the corpus: 4 Gutenberg books, plain text, a duplicate, junk ----
mkdir -p "$T/books/pg" "$T/books/plain" "$T/tok"
cp "$SRC"/data/gutenberg/*.txt "$T/books/pg/"
cp "$SRC/data/gutenberg/franklin-way-to-wealth.txt" "$T/books/pg/zz-copy-of-franklin.txt"
head -c 20000 "$SRC/data/tinyshakespeare.txt" >"$T/books/plain/shakespeare.txt"
printf 'A short plain note without any Gutenberg header.\n' >"$T/books/plain/note.txt"
for i in 1 2 3 4 5; do printf 'Plain document number %d, small.\n' "$i" >"$T/books/plain/p$i.txt"; done
printf 'BIN\000\001\002data\000' >"$T/books/plain/blob.txt"
: >"$T/books/plain/empty.txt"
"$BIN" tokenizer train --input "$SRC/data" --vocab-size 600 --out "$T/tok" --threads 1 --quiet >/dev/null 2>"$T/stderr" \
    || fail "tokenizer train"

for np in 1 2 3; do
    run $np prepare --tokenizer "$T/tok/tokenizer.json" --input "$T/books" --out "$T/s$np.h5" \
        --val-fraction 0.2 --seed 5 >"$T/out$np" 2>"$T/stderr" || fail "prepare with $np ranks"
    grep -q "blob.txt: dropped: binary" "$T/stderr" || fail "$np ranks: no warning naming the binary file"
    grep -q "empty.txt: dropped: empty file" "$T/stderr" || fail "$np ranks: no warning naming the empty book"
    grep -q "14 books, .*: 4 cleaned, 7 kept as is, 3 dropped (1 empty, 1 binary, 0 no_body, 0 license_in_body, 0 language, 1 duplicate)" \
        "$T/out$np" || fail "$np ranks summary: $(head -1 "$T/out$np")"
    grep -q "$np rank" "$T/out$np" || fail "$np ranks: rank count not in the summary"
done
h5diff "$T/s1.h5" "$T/s2.h5" >/dev/null || fail "1 and 2 ranks give different stores: $(h5diff "$T/s1.h5" "$T/s2.h5" | head -5)"
h5diff "$T/s1.h5" "$T/s3.h5" >/dev/null || fail "1 and 3 ranks give different stores"
# a different seed changes the order (the test would be blind otherwise)
run 2 prepare --tokenizer "$T/tok" --input "$T/books" --out "$T/seed6.h5" --val-fraction 0.2 --seed 6 --quiet \
    >/dev/null 2>&1 || fail "prepare --seed 6"
h5diff -q "$T/s1.h5" "$T/seed6.h5" >/dev/null && fail "seed 5 and 6 gave the same store"

# ---- info: identity and vocabulary ----
"$BIN" info "$T/s2.h5" >"$T/info" || fail "info"
identity=$("$BIN" tokenizer info --tokenizer "$T/tok" | sed -n 's/^identity: //p')
[ -n "$identity" ] || fail "tokenizer info prints no identity"
grep -q "^tokenizer   $identity (tokenizer.json inside, [0-9]* bytes)\$" "$T/info" || fail "info tokenizer: $(cat "$T/info")"
grep -q "^vocab_size  600\$" "$T/info" || fail "info vocab"
grep -q "^train       9 documents" "$T/info" && grep -q "^val         2 documents" "$T/info" \
    || fail "11 documents, round(11*0.2) = 2 in val: $(cat "$T/info")"
eot=$(grep '^eot_id' "$T/info" | awk '{print $2}')

# ---- every document ends with eot; a document decodes to its cleaned book ----
h5dump -d /train/tokens -b LE -o "$T/tok.bin" "$T/s2.h5" >/dev/null || fail "h5dump tokens"
h5dump -d /train/doc_offsets -b LE -o "$T/off.bin" "$T/s2.h5" >/dev/null || fail "h5dump offsets"
od -An -v -tu2 -w2 "$T/tok.bin" | tr -d ' ' >"$T/tok.txt"
od -An -v -tu8 -w8 "$T/off.bin" | tr -d ' ' >"$T/off.txt"
n_tok=$(wc -l <"$T/tok.txt")
n_eot=$(grep -cx "$eot" "$T/tok.txt")
[ "$n_eot" -eq 9 ] || fail "$n_eot eot tokens in train, expected one per document (9)"
[ "$(tail -1 "$T/tok.txt")" = "$eot" ] || fail "train does not end with eot"
while read -r off; do
    [ "$off" -eq 0 ] && continue
    [ "$(sed -n "${off}p" "$T/tok.txt")" = "$eot" ] || fail "token before the document at $off is not eot"
done <"$T/off.txt"
"$BIN" clean --input "$T/books/pg" --out "$T/clean" --quiet >/dev/null 2>&1   # exit 1 is fine: it reports duplicates
matched=0
for k in $(seq 1 9); do
    start=$(sed -n "${k}p" "$T/off.txt")
    end=$(sed -n "$((k + 1))p" "$T/off.txt"); end=${end:-$n_tok}
    sed -n "$((start + 1)),$((end - 1))p" "$T/tok.txt" | tr '\n' ' ' >"$T/doc.ids"
    "$BIN" tokenizer decode --tokenizer "$T/tok" <"$T/doc.ids" >"$T/doc.txt" || fail "decode document $k"
    for f in "$T"/clean/*.txt "$T"/books/plain/*.txt; do
        cmp -s "$T/doc.txt" "$f" && matched=$((matched + 1)) && break
    done
done
[ "$matched" -eq 9 ] || fail "only $matched of 9 train documents decode to a cleaned book or plain file"

# ---- errors under mpirun: named, nothing left at --out ----
no_leftovers() { [ ! -e "$1" ] && ! ls "$(dirname "$1")" | grep -q '\.tmp\.' || fail "$1 or a temporary file left"; }
cp -r "$T/books" "$T/bad"
ln -s "$T/nowhere.txt" "$T/bad/plain/dangling.txt"
run 2 prepare --tokenizer "$T/tok" --input "$T/bad" --out "$T/e1.h5" >/dev/null 2>"$T/stderr" && fail "dangling link accepted"
grep -q "dangling.txt" "$T/stderr" || fail "unreadable input not named"
no_leftovers "$T/e1.h5"
run 3 prepare --tokenizer "$T/nope/tokenizer.json" --input "$T/books" --out "$T/e2.h5" >/dev/null 2>"$T/stderr" \
    && fail "missing tokenizer accepted"
grep -q "nope/tokenizer.json" "$T/stderr" || fail "missing tokenizer not named"
no_leftovers "$T/e2.h5"
run 2 prepare --tokenizer "$T/tok" --input "$T/books" --out "$T/nodir/e3.h5" >/dev/null 2>"$T/stderr" \
    && fail "missing output folder accepted"
grep -q "nodir/e3.h5" "$T/stderr" || fail "bad --out not named"
# a failed run keeps the earlier store byte for byte
cp "$T/s1.h5" "$T/keep.h5"
run 2 prepare --tokenizer "$T/tok" --input "$T/bad" --out "$T/s1.h5" >/dev/null 2>&1 && fail "second dangling run accepted"
cmp -s "$T/s1.h5" "$T/keep.h5" || fail "failed run changed the earlier store"
no_leftovers "$T/e1.h5"
echo "prepare_mpi: all checks passed"

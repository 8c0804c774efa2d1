#!/usr/bin/env bash
# clean_cli.sh: `llmpi clean` end to end on the fixtures in tests/clean plus
# bad input (a binary file, an empty book, a duplicate, a missing input, an
# unreadable folder). Checks the report, the warnings naming each file, that
# no temporary file is left, that a second run is byte-identical and that a
# failed run leaves the earlier outputs intact.
set -u
BIN=${LLMPI_BIN:?LLMPI_BIN not set}
SRC=${LLMPI_SOURCE_DIR:?LLMPI_SOURCE_DIR not set}
work=$(mktemp -d)
trap 'chmod -R u+rwx "$work" 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

mkdir -p "$work/in/sub"
cp "$SRC"/tests/clean/*.txt "$work/in/"
cp "$SRC/tests/clean/modern_this.txt" "$work/in/sub/dup.txt"
printf '\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00binary\x00\x00' > "$work/in/sub/binary.bin"
: > "$work/in/empty.txt"

"$BIN" clean --input "$work/in" --out "$work/out" > "$work/stdout" 2> "$work/stderr" || fail "clean exited $?: $(cat "$work/stderr")"
grep -q "in/sub/binary.bin: dropped: binary" "$work/stderr" || fail "no warning naming the binary file"
grep -q "in/empty.txt: dropped: empty" "$work/stderr" || fail "no warning naming the empty book"
grep -q "in/no_body.txt: dropped: no '\*\*\* START OF' marker" "$work/stderr" || fail "no warning naming the book without a body"
grep -q "MB/s" "$work/stdout" || fail "no MB/s figure"
r="$work/out/report.json"
for kv in '"books": 9' '"kept": 4' '"no_body": 1' '"binary": 1' '"empty": 1' '"language": 1' '"duplicate": 1' '"format": "llmpi-clean-report"'; do
  grep -q "$kv" "$r" || fail "report lacks $kv"
done
grep -q '"duplicate_of": ".*in/modern_this.txt"' "$r" || fail "duplicate not traced to its first copy"
[ -f "$work/out/modern_this.txt" ] || fail "kept book not written"
[ ! -e "$work/out/sub/dup.txt" ] || fail "duplicate written"
[ ! -e "$work/out/no_body.txt" ] || fail "dropped book written"
[ "$(head -n1 "$work/out/modern_this.txt")" = "THE QUIET HARBOUR" ] || fail "wrong first line"
! grep -rqi "gutenberg" "$work/out" --include='*.txt' || fail "Gutenberg text left in an output"
[ -z "$(find "$work/out" -name '*.tmp.*')" ] || fail "temporary file left"

# same inputs, same bytes
cp "$r" "$work/report.first"
"$BIN" clean --input "$work/in" --out "$work/out" > /dev/null 2>&1 || fail "second run failed"
cmp -s "$r" "$work/report.first" || fail "report differs between two runs"

# a missing input fails before writing anything and names the path
if "$BIN" clean --input "$work/in" "$work/missing" --out "$work/out" > /dev/null 2> "$work/stderr2"; then
  fail "missing input accepted"
fi
grep -q "$work/missing: cannot read input" "$work/stderr2" || fail "missing input not named"
cmp -s "$r" "$work/report.first" || fail "failed run changed the earlier report"

# an unreadable folder is named, reported, and fails the run (root reads everything: skip)
if [ "$(id -u)" != 0 ]; then
  mkdir -p "$work/in/locked" && cp "$SRC/tests/clean/modern_the.txt" "$work/in/locked/" && chmod 000 "$work/in/locked"
  if "$BIN" clean --input "$work/in" --out "$work/out3" > /dev/null 2> "$work/stderr3"; then fail "unreadable folder accepted"; fi
  grep -q "in/locked: cannot read folder" "$work/stderr3" || fail "unreadable folder not named"
  grep -q '"unreadable": 1' "$work/out3/report.json" || fail "unreadable folder not in the report"
fi
# the first of two duplicates is the first in walk.h order (sorted full paths:
# "d/a.b/x.txt" before "d/a/x.txt"), the one prepare keeps too
mkdir -p "$work/order/a" "$work/order/a.b"
cp "$SRC/tests/clean/modern_this.txt" "$work/order/a/x.txt"
cp "$SRC/tests/clean/modern_this.txt" "$work/order/a.b/x.txt"
"$BIN" clean --input "$work/order" --out "$work/out4" > /dev/null 2>&1 || fail "duplicate order run failed"
[ -f "$work/out4/a.b/x.txt" ] && [ ! -e "$work/out4/a/x.txt" ] || fail "kept the wrong one of two duplicates"
grep -q "\"duplicate_of\": \"$work/order/a.b/x.txt\"" "$work/out4/report.json" || fail "duplicate_of does not name a.b/x.txt"
echo "clean_cli: ok"

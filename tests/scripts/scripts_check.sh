#!/usr/bin/env bash
# scripts_check.sh: the scripts' own contracts, without building or
# installing anything: usage and bad options, the quickstart's refusal to
# delete a directory that is not its run, shellcheck, and the bundled data's
# checksums against data/SOURCES.md.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../err_trap.sh
source "$(dirname "$0")/../err_trap.sh"
: "${LLMPI_SOURCE_DIR:?}"
src="$LLMPI_SOURCE_DIR"
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# --help: exit 0 and a usage text naming the script
for s in setup build quickstart test ask answer_run; do
  out="$(bash "$src/scripts/$s" --help)" || fail "$s --help exited non-zero"
  [[ "$out" == "$s:"* ]] || fail "$s --help does not start with '$s:'"
done

# bad options: non-zero exit, the last stderr line is one 'llmpi: ...' line
expect_refusal() {
  local rc=0
  "$@" >/dev/null 2>"$tmp/err" || rc=$?
  [[ $rc -ne 0 ]] || fail "'$*' succeeded"
  [[ "$(tail -1 "$tmp/err")" == 'llmpi: '* ]] || fail "'$*': no 'llmpi:' error line: $(cat "$tmp/err")"
}
expect_refusal bash "$src/scripts/setup" --bogus
expect_refusal bash "$src/scripts/build" Bogus
expect_refusal bash "$src/scripts/build" Release Sanitize
expect_refusal bash "$src/scripts/ask"
expect_refusal bash "$src/scripts/ask" "$tmp/missing.h5"
expect_refusal bash "$src/scripts/answer_run" --bogus
expect_refusal bash "$src/scripts/answer_run" --budget soon
expect_refusal bash "$src/scripts/answer_run" --shared "$tmp/none" --run "$tmp/run"
expect_refusal bash "$src/scripts/test" --bogus
expect_refusal bash "$src/scripts/quickstart" --config "$tmp/missing.ini"
expect_refusal bash "$src/scripts/quickstart" --bin "$tmp/not-a-binary" --run "$tmp/run"

# the quickstart must not delete a directory that is not a quickstart run
mkdir -p "$tmp/precious"
echo keep >"$tmp/precious/thesis.tex"
expect_refusal bash "$src/scripts/quickstart" --bin /bin/true --run "$tmp/precious"
[[ -f "$tmp/precious/thesis.tex" ]] || fail "quickstart removed a foreign directory"

# bundled data: every file in data/SOURCES.md exists with its listed md5
n=0
while IFS='|' read -r _ file _ md5 _; do
  file="$(echo "$file" | tr -d ' `')"
  md5="$(echo "$md5" | tr -d ' ')"
  [[ "$md5" =~ ^[0-9a-f]{32}$ ]] || continue
  actual="$(md5sum "$src/data/$file" | cut -d' ' -f1)" || fail "data/$file missing"
  [[ "$actual" == "$md5" ]] || fail "data/$file: md5 $actual, SOURCES.md says $md5"
  n=$((n + 1))
done <"$src/data/SOURCES.md"
[[ $n -ge 5 ]] || fail "only $n data files listed with checksums"
total=$(du -cb "$src"/data/*.txt "$src"/data/gutenberg/*.txt | tail -1 | cut -f1)
[[ $total -le 2000000 ]] || fail "bundled data is $total bytes (limit 2 MB)"

if command -v shellcheck >/dev/null 2>&1; then
  (cd "$src" && shellcheck -x scripts/setup scripts/build scripts/quickstart scripts/test scripts/ask scripts/answer_run scripts/lib.sh \
    .ci/run tests/scripts/*.sh) || fail "shellcheck"
else
  echo "shellcheck not installed: lint skipped"
fi
echo "scripts check: ok ($n data files)"

#!/usr/bin/env bash
# plot_cli.sh: `llmpi plot` end to end. Builds metrics.jsonl files by hand
# (no training needed), renders them, and checks the PNG (signature, size,
# dimensions) and every error path: missing file, nothing plottable,
# malformed lines (warned as file:line, skipped), gnuplot missing or failing,
# and that a failed plot leaves an earlier loss.png untouched.
# Skips (77) when gnuplot is not installed.
set -u
BIN=${LLMPI_BIN:?LLMPI_BIN not set}
command -v gnuplot >/dev/null || { echo "SKIP: gnuplot not installed"; exit 77; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/llmpi-plot-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then echo "ok: $what"; else fail "$what"; fi; }

# png_dims FILE -> "W H" from the IHDR chunk (bytes 16..23, big endian)
png_dims() { od -An -t u1 -j 16 -N 8 "$1" | awk '{print $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8}'; }
is_png() { [ "$(od -An -t x1 -N 8 "$1" | tr -d ' \n')" = "89504e470d0a1a0a" ]; }

# ---- a healthy run: 60 train steps, val every 10, a resumed tail that re-logs steps 41..60
RUN="$WORK/run one"        # a space in the path on purpose
mkdir -p "$RUN"
awk 'BEGIN {
  for (s = 0; s <= 60; s += 10) printf "{\"kind\":\"val\",\"step\":%d,\"tokens\":%d,\"val_loss\":%.4f,\"val_tokens\":256}\n", s, s*128, 5.5 - s*0.03;
  for (s = 1; s <= 60; s++) printf "{\"kind\":\"train\",\"step\":%d,\"tokens\":%d,\"loss\":%.4f,\"grad_norm\":1.0,\"lr\":0.003,\"ms\":1.0,\"tokens_per_s\":1000,\"mfu\":0.1}\n", s, s*128, 5.5 - s*0.035;
  for (s = 41; s <= 60; s++) printf "{\"kind\":\"train\",\"step\":%d,\"tokens\":%d,\"loss\":%.4f,\"grad_norm\":1.0,\"lr\":0.003,\"ms\":1.0,\"tokens_per_s\":1000,\"mfu\":0.1}\n", s, s*128, 5.5 - s*0.034;
}' > "$RUN/metrics.jsonl"
out=$("$BIN" plot "$RUN" 2>&1); rc=$?
check "plot exits 0" [ $rc -eq 0 ]
check "plot reports deduplicated counts (60 train, 7 val)" grep -q "60 train, 7 val points" <<<"$out"
check "loss.png written" [ -f "$RUN/loss.png" ]
check "loss.png has the PNG signature" is_png "$RUN/loss.png"
size=$(stat -c %s "$RUN/loss.png")
check "loss.png is a real image (${size} bytes > 10000)" [ "$size" -gt 10000 ]
check "loss.png is 1400x560" [ "$(png_dims "$RUN/loss.png")" = "1400 560" ]
check "no temporary file left in RUNDIR" [ -z "$(ls "$RUN" | grep '\.tmp\.')" ]
cp "$RUN/loss.png" "$WORK/good.png"

# --out elsewhere
"$BIN" plot "$RUN" --out "$WORK/other.png" >/dev/null 2>&1
check "--out writes the named file" is_png "$WORK/other.png"

# ---- malformed lines are skipped with file:line warnings; the rest still plots
BAD="$WORK/bad"; mkdir -p "$BAD"
{
  echo '{"kind":"train","step":1,"tokens":128,"loss":5.5}'
  echo 'this is not json'
  echo '{"kind":"train","step":2,"tokens":256}'
  echo ''
  echo '{"kind":"train","step":-3,"tokens":384,"loss":5.0}'
  echo '[1,2,3]'
  echo '{"kind":"val","step":2,"tokens":256,"val_loss":"high"}'
  echo '{"kind":"train","step":4,"tokens":512,"loss":4.9}'
  echo '{"kind":"train","step":5,"tokens":640,"loss":4.8'
} > "$BAD/metrics.jsonl"
err=$("$BIN" plot "$BAD" 2>&1 >/dev/null); rc=$?
check "malformed lines: exit 0" [ $rc -eq 0 ]
for ln in 2 3 5 6 7 9; do
  check "warning names metrics.jsonl:$ln" grep -q "metrics.jsonl:$ln: .*skipped" <<<"$err"
done
check "exactly 6 warnings (blank line silent)" [ "$(grep -c 'warning' <<<"$err")" -eq 6 ]
check "malformed: PNG written" is_png "$BAD/loss.png"

# ---- errors: exit 1 with one line, earlier output intact
EMPTY="$WORK/empty"; mkdir -p "$EMPTY"
"$BIN" plot "$EMPTY" >/dev/null 2>"$WORK/err"; rc=$?
check "missing metrics.jsonl: exit 1" [ $rc -eq 1 ]
check "missing metrics.jsonl: one line naming the file" \
  bash -c '[ $(wc -l < "$1") -eq 1 ] && grep -q "metrics.jsonl: cannot open" "$1"' _ "$WORK/err"
: > "$EMPTY/metrics.jsonl"
"$BIN" plot "$EMPTY" >/dev/null 2>"$WORK/err"; rc=$?
check "empty metrics.jsonl: exit 1" [ $rc -eq 1 ]
check "empty metrics.jsonl: says nothing to plot" grep -q "no train or val loss" "$WORK/err"
check "empty: no loss.png" [ ! -e "$EMPTY/loss.png" ]
echo 'garbage' > "$EMPTY/metrics.jsonl"
"$BIN" plot "$EMPTY" >/dev/null 2>"$WORK/err"; rc=$?
check "all lines malformed: exit 1" [ $rc -eq 1 ]

LLMPI_GNUPLOT=/nonexistent/gnuplot "$BIN" plot "$RUN" >/dev/null 2>"$WORK/err"; rc=$?
check "LLMPI_GNUPLOT missing: exit 1" [ $rc -eq 1 ]
check "LLMPI_GNUPLOT missing: clear error" grep -q "LLMPI_GNUPLOT=/nonexistent/gnuplot: not an executable" "$WORK/err"
# MPI's singleton start needs orted from PATH and an existing rsh agent: a
# PATH holding only orted, and an agent that is never called
mkdir -p "$WORK/bin" && ln -s "$(command -v orted)" "$WORK/bin/orted"
OMPI_MCA_plm_rsh_agent=/bin/false PATH="$WORK/bin" "$BIN" plot "$RUN" >/dev/null 2>"$WORK/err"; rc=$?
check "gnuplot not in PATH: exit 1" [ $rc -eq 1 ]
check "gnuplot not in PATH: clear error" grep -q "gnuplot not found in PATH" "$WORK/err"
LLMPI_GNUPLOT=/bin/false "$BIN" plot "$RUN" >/dev/null 2>"$WORK/err"; rc=$?
check "gnuplot failing: exit 1" [ $rc -eq 1 ]
check "gnuplot failing: reports its status" grep -q "gnuplot failed (exit status 1)" "$WORK/err"
check "failed plots left loss.png byte-identical" cmp -s "$RUN/loss.png" "$WORK/good.png"
check "failed plots left no temporary file" [ -z "$(ls "$RUN" | grep '\.tmp\.')" ]
"$BIN" plot "$RUN" --out "$WORK/no/such/dir/x.png" >/dev/null 2>"$WORK/err"; rc=$?
check "unwritable --out: exit 1" [ $rc -eq 1 ]
check "unwritable --out: says it cannot create the file" grep -q "x.png.tmp.[0-9]*: cannot create: No such file" "$WORK/err"
check "unwritable --out: one line" [ "$(wc -l < "$WORK/err")" -eq 1 ]
"$BIN" plot >/dev/null 2>&1; rc=$?
check "no RUNDIR: usage error 2" [ $rc -eq 2 ]

# ---- issue 9: no byte of a path becomes a gnuplot command ----
pwned="$WORK/pwned"
evil="$WORK/run'
!touch $pwned
#"
mkdir -p "$evil" && cp "$RUN/metrics.jsonl" "$evil/"
"$BIN" plot "$evil" > /dev/null 2> "$WORK/err"; rc=$?
check "RUNDIR with a newline: refused (exit 1)" [ $rc -eq 1 ]
check "RUNDIR with a newline: one line naming the control character" \
  bash -c '[ "$(wc -l < "$1")" -eq 1 ] && grep -q "control character" "$1"' _ "$WORK/err"
check "RUNDIR with a newline: no shell command ran" [ ! -e "$pwned" ]
"$BIN" plot "$RUN" --out "$WORK/x'
!touch $pwned
#.png" > /dev/null 2> "$WORK/err"; rc=$?
check "--out with a newline: refused" [ $rc -eq 1 ]
check "--out with a newline: no shell command ran" [ ! -e "$pwned" ]
TMPDIR="$WORK/t
!touch $pwned" "$BIN" plot "$RUN" --out "$WORK/t.png" > /dev/null 2> "$WORK/err"; rc=$?
check "TMPDIR with a newline: refused" [ $rc -eq 1 ]
check "TMPDIR with a newline: no shell command ran" [ ! -e "$pwned" ]
quoted="$WORK/it's \"run\" \\ \$(touch $pwned)"
mkdir -p "$quoted" && cp "$RUN/metrics.jsonl" "$quoted/"
"$BIN" plot "$quoted" > /dev/null 2> "$WORK/err"; rc=$?
check "quotes, backslash, \$() in RUNDIR: plotted" [ $rc -eq 0 ] && [ -f "$quoted/loss.png" ]
check "quotes in RUNDIR: no shell command ran" [ ! -e "$pwned" ]
"$BIN" plot "$RUN" --bogus > /dev/null 2> "$WORK/err"; rc=$?
check "unknown option: exit 2, one line" [ $rc -eq 2 ] && [ "$(cat "$WORK/err")" = "llmpi: plot: unknown option '--bogus' (see llmpi plot --help)" ]

[ $fails -eq 0 ] && echo "plot_cli: all passed" || { echo "plot_cli: $fails failed"; exit 1; }

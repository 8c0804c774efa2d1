#!/usr/bin/env bash
# fault_sweep.sh: failure injection, SQLite style (issue 9). For each command
# below and each kind of fault (LLMPI_FAULT_ALLOC / _WRITE / _FSYNC, see
# include/llmpi/util.h) it runs the command with the Nth call failing, N = 1,
# 2, ... until a run no longer reaches N, and checks every run:
#   - a failed run exits non-zero without a signal, and stderr holds exactly
#     one `llmpi:` error line (warnings aside), its last line;
#   - no sanitizer report (from build-asan: leaks too, detect_leaks=1, with
#     third-party suppressions in tests/fault_lsan.supp);
#   - no earlier output damaged: every file present before the run is either
#     byte-identical afterwards or replaced by exactly what a clean run writes;
#     every new file is exactly what a clean run writes (metrics.jsonl: a
#     prefix of it, timing fields aside); no temporary file is left;
#   - a run that succeeds (the fault not reached, or tolerated by a fallback)
#     printed no error line and wrote exactly what a clean run writes (the
#     same stdout for sample and eval).
# Commands: tokenizer train over an existing tokenizer.json, prepare over an
# existing store, a fresh 4-step pretrain with checkpoints, a resumed pretrain
# (checkpoint load and save), sample and eval loading a checkpoint, plot over
# an existing loss.png (its data files go to a TMPDIR inside the checked tree,
# so a scratch file left behind is caught; skipped without gnuplot), and
# clean over an existing output folder (books and report.json).
#
# usage: fault_sweep.sh [--thin K] [--budget SECONDS] [--cases a,b] [--kinds alloc,write,fsync]
#   --thin K     after N, try N + max(1, N/K) (default: every N)
#   --budget S   about S seconds in all: each (command, kind) gets an equal
#                share of what is left, and stops there (not a failure)
set -u
BIN=${LLMPI_BIN:?LLMPI_BIN must point at the llmpi binary}
SRC=${LLMPI_SOURCE_DIR:?}
export OMPI_MCA_ess_singleton_isolated=${OMPI_MCA_ess_singleton_isolated:-1}
thin=0 budget=0 cases="tok prepare pretrain resume sample eval plot clean" kinds="fsync write alloc"
while [ $# -gt 0 ]; do
    case "$1" in
        --thin) thin=$2; shift 2 ;;
        --budget) budget=$2; shift 2 ;;
        --cases) cases=${2//,/ }; shift 2 ;;
        --kinds) kinds=${2//,/ }; shift 2 ;;
        *) echo "fault_sweep: unknown option $1" >&2; exit 2 ;;
    esac
done
if ldd "$BIN" 2>/dev/null | grep -q libasan; then
    export ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0:abort_on_error=0
    export LSAN_OPTIONS=suppressions=$SRC/tests/fault_lsan.supp:print_suppressions=0
    export UBSAN_OPTIONS=print_stacktrace=1
fi
T=$(mktemp -d /tmp/llmpi-fault-XXXXXX)
trap 'rm -rf "$T"' EXIT
W=$T/w
fail() { echo "FAIL: $*" >&2; exit 1; }

# ---- inputs, made without faults ----
mkdir -p "$T/c" "$T/pre"
head -c 20000 "$SRC/data/tinyshakespeare.txt" >"$T/c/a.txt"
tail -c 12000 "$SRC/data/tinyshakespeare.txt" >"$T/c/b.txt"
setup() { "$@" >"$T/setup.log" 2>&1 || { cat "$T/setup.log" >&2; fail "setup: $*"; }; }
train_args=(pretrain --config "$SRC/configs/tiny.ini" --set train.threads=1 --set train.max_steps=4
            --set train.ckpt_every=2 --set train.eval_every=2 --set train.eval_windows=2 --data "$T/s.h5")
setup "$BIN" tokenizer train --input "$T/c" --vocab-size 300 --out "$T/tok"
setup "$BIN" prepare --tokenizer "$T/tok/tokenizer.json" --input "$T/c" --out "$T/s.h5"
setup "$BIN" "${train_args[@]}" --out "$T/run0"
cp "$T/run0/checkpoints/step-00000004.h5" "$T/ck.h5"
# what each command finds in place before it runs (copied into $W each time)
mkdir -p "$T/pre/tok/tok" "$T/pre/prepare" "$T/pre/pretrain" "$T/pre/resume" "$T/pre/sample" "$T/pre/eval"
setup "$BIN" tokenizer train --input "$T/c" --vocab-size 280 --out "$T/pre/tok/tok"
setup "$BIN" prepare --tokenizer bytes --input "$T/c" --out "$T/pre/prepare/s.h5"
setup "$BIN" "${train_args[@]}" --stop-after 2 --out "$T/pre/resume/run"
gnuplot=${LLMPI_GNUPLOT:-gnuplot}
if command -v "$gnuplot" >/dev/null 2>&1; then
    mkdir -p "$T/pre/plot/tmp"
    setup "$BIN" plot "$T/pre/resume/run" --out "$T/pre/plot/loss.png"   # a 2-step plot, replaced by a 4-step one
else
    echo "fault_sweep: no gnuplot, plot skipped"
    cases=$(echo " $cases " | sed 's/ plot / /')
fi
mkdir -p "$T/books"
cp "$SRC"/tests/clean/*.txt "$T/books/"
setup "$BIN" clean --quiet --input "$T/books/modern_the.txt" --out "$T/pre/clean/out"

command_of() {
    case "$1" in
        tok) cmd=("$BIN" tokenizer train --input "$T/c" --vocab-size 300 --out "$W/tok") ;;
        prepare) cmd=("$BIN" prepare --tokenizer "$T/tok/tokenizer.json" --input "$T/c" --out "$W/s.h5") ;;
        pretrain) cmd=("$BIN" "${train_args[@]}" --out "$W/run") ;;
        resume) cmd=("$BIN" "${train_args[@]}" --resume auto --out "$W/run") ;;
        sample) cmd=("$BIN" sample --checkpoint "$T/ck.h5" --tokenizer "$T/tok/tokenizer.json" --prompt "ROMEO:"
                     --max-tokens 40 --seed 7) ;;
        eval) cmd=("$BIN" eval --checkpoint "$T/ck.h5" --data "$T/s.h5" --split val --windows 2 --seq 16 --json) ;;
        plot) cmd=(env TMPDIR="$W/tmp" "$BIN" plot "$T/run0" --out "$W/loss.png") ;;
        clean) cmd=("$BIN" clean --quiet --input "$T/books" --out "$W/out") ;;
        *) fail "unknown case $1" ;;
    esac
}

# The checks on one run, in Python: prints nothing when all hold.
cat >"$T/check.py" <<'PY'
import json, os, re, sys
pre, ref, post, rc, err, out, ref_out, reached = sys.argv[1:9]
rc, reached = int(rc), reached == "1"
TIMING = {"ms", "tokens_per_s", "mfu", "comm_wait_ms", "seconds"}
def tree(d):
    files = {}
    for root, _, names in os.walk(d):
        for n in names:
            p = os.path.join(root, n)
            files[os.path.relpath(p, d)] = open(p, "rb").read()
    return files
def norm_lines(b):
    lines = []
    for l in b.decode("utf-8", "replace").splitlines():
        try:
            o = json.loads(l)
            if isinstance(o, dict):
                l = json.dumps({k: v for k, v in o.items() if k not in TIMING}, sort_keys=True)
        except ValueError:
            pass
        lines.append(l)
    return lines
def subsequence(a, b):
    it = iter(b)
    return all(any(x == y for y in it) for x in a)
def same(rel, a, b, prefix=False, gaps=False):
    if a == b: return True
    if rel.endswith(".jsonl") or rel == "<stdout>":
        na, nb = norm_lines(a), norm_lines(b)
        return na == nb or (prefix and na == nb[:len(na)]) or (gaps and subsequence(na, nb))
    return False
problems = []
lines = open(err, "rb").read().decode("utf-8", "replace").splitlines()
text = "\n".join(lines)
for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehaviorSanitizer"):
    if marker in text: problems.append("sanitizer report (%s)" % marker)
errors = [l for l in lines if l.startswith("llmpi: ") and not l.startswith("llmpi: warning:")]
warned = any(l.startswith("llmpi: warning:") for l in lines)
P, R, Q = tree(pre), tree(ref), tree(post)
if rc == 0:
    if errors: problems.append("exit 0 after an error line: %r" % errors[0])
    if Q.keys() != R.keys(): problems.append("files differ from a clean run's: %s" % sorted(set(Q) ^ set(R)))
    for rel in Q.keys() & R.keys():
        # a metrics line lost to a write error is allowed after its warning (the run goes on)
        if not same(rel, Q[rel], R[rel], gaps=warned): problems.append("%s differs from a clean run's" % rel)
    if ref_out != "-" and not same("<stdout>", open(out, "rb").read(), open(ref_out, "rb").read()):
        problems.append("stdout differs from a clean run's")
else:
    if not reached: problems.append("failed (exit %d) without the fault being injected" % rc)
    if rc >= 128 or rc < 0: problems.append("killed by a signal (exit %d)" % rc)
    if len(errors) != 1: problems.append("%d error lines, not 1: %r" % (len(errors), errors[:3]))
    if not lines or not lines[-1].startswith("llmpi: ") or lines[-1].startswith("llmpi: warning:"):
        problems.append("last stderr line is not an llmpi: error: %r" % (lines[-1] if lines else ""))
    for rel, data in Q.items():
        if re.search(r"\.tmp\.\d+", os.path.basename(rel)): problems.append("temporary file left: %s" % rel)
        elif rel in P and data == P[rel]: pass
        elif rel in R and same(rel, data, R[rel], prefix=True): pass
        elif rel in P: problems.append("pre-existing %s damaged" % rel)
        else: problems.append("unexpected or incomplete new file %s" % rel)
    for rel in P:
        if rel not in Q and rel in R: problems.append("pre-existing %s removed" % rel)
for p in problems: print(p)
PY

runs=0 t0=$SECONDS failures=0 slot=0
slots=$(( $(echo $cases | wc -w) * $(echo $kinds | wc -w) ))
for c in $cases; do
    command_of "$c"
    # reference: a clean run from the same starting point
    rm -rf "$W"; mkdir -p "$W"; cp -a "$T/pre/$c/." "$W/"
    "${cmd[@]}" >"$T/ref.out" 2>"$T/ref.err" || { cat "$T/ref.err" >&2; fail "$c: clean run failed"; }
    rm -rf "$T/ref"; cp -a "$W" "$T/ref"
    ref_out=-   # stdout compared where it is the output (no timings in it)
    case "$c" in sample|eval) ref_out=$T/ref_$c.out; cp "$T/ref.out" "$ref_out" ;; esac
    for kind in $kinds; do
        var=LLMPI_FAULT_$(echo "$kind" | tr a-z A-Z)
        n=1 done=0
        deadline=$(( SECONDS + (budget - (SECONDS - t0)) / (slots - slot) )); slot=$((slot + 1))
        while [ $done -eq 0 ]; do
            if [ "$budget" -gt 0 ] && [ "$SECONDS" -ge "$deadline" ]; then
                echo "fault_sweep: budget of ${budget} s spent: $c $kind stopped at N=$n"; break
            fi
            for try in 1 2 3; do
                rm -rf "$W" "$T/flog"; mkdir -p "$W"; cp -a "$T/pre/$c/." "$W/"
                env "$var=$n" LLMPI_FAULT_LOG="$T/flog" "${cmd[@]}" >"$T/out" 2>"$T/err"
                rc=$?
                # Open MPI's singleton start-up fails now and then on a loaded
                # machine, before any fault could be injected: run that N again
                [ $rc -ne 0 ] && [ ! -s "$T/flog" ] && grep -q "before MPI_INIT completed" "$T/err" || break
                echo "fault_sweep: $c $var=$n: MPI_Init failed (not ours), again"
            done
            runs=$((runs + 1))
            reached=0; [ -s "$T/flog" ] && reached=1
            problems=$(python3 "$T/check.py" "$T/pre/$c" "$T/ref" "$W" $rc "$T/err" "$T/out" "$ref_out" $reached)
            if [ -n "$problems" ]; then
                failures=$((failures + 1))
                echo "FAIL: $c $var=$n (exit $rc): $(echo "$problems" | head -3 | tr '\n' ';')" >&2
                tail -3 "$T/err" | sed 's/^/    stderr: /' >&2
                [ $failures -ge 20 ] && fail "20 failures, stopping"
            fi
            [ $reached -eq 0 ] && { [ $rc -eq 0 ] || fail "$c $var=$n: not reached yet failed"; done=1; echo "fault_sweep: $c $kind: N=$n not reached, clean"; }
            if [ "$thin" -gt 0 ] && [ $((n / thin)) -gt 1 ]; then n=$((n + n / thin)); else n=$((n + 1)); fi
        done
    done
done
[ $failures -eq 0 ] || fail "$failures failing runs of $runs"
echo "fault_sweep: all checks passed ($runs runs, $((SECONDS - t0)) s)"

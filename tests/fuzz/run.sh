#!/usr/bin/env bash
# run.sh: builds the libFuzzer targets with clang (-fsanitize=fuzzer,address,
# undefined) into build-fuzz/ and runs each for a bounded time.
#
#   tests/fuzz/run.sh [TARGET...]     default: tok config store ckpt sft st http
#
# Environment: LLMPI_FUZZ_SECONDS (per target, default 60), LLMPI_FUZZ_JOBS
# (build jobs, default 2), LLMPI_FUZZ_BUILD (default <root>/build-fuzz).
# Each target starts from tests/fuzz/corpus/<t> and tests/fuzz/regress/<t>;
# new coverage goes to build-fuzz/corpus/<t> (not into the source tree).
# Every crash, leak, sanitizer report or broken contract found leaves its
# reproducer under build-fuzz/crashes/<t>/ and fails the run (after the full
# time): fix it, then copy the file to tests/fuzz/regress/<t>/ so the
# default suite (fuzz_regress_<t>) keeps it fixed. Exits 77 (skipped) when clang or
# its libFuzzer runtime is missing (scripts/setup --fuzz installs them).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
seconds=${LLMPI_FUZZ_SECONDS:-60}
build=${LLMPI_FUZZ_BUILD:-$root/build-fuzz}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(tok config store ckpt sft st http)

command -v clang > /dev/null || { echo "run.sh: clang not found (scripts/setup --fuzz)"; exit 77; }
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' > "${TMPDIR:-/tmp}/llmpi-fuzz-probe.$$.c"
if ! clang -fsanitize=fuzzer "${TMPDIR:-/tmp}/llmpi-fuzz-probe.$$.c" -o "${TMPDIR:-/tmp}/llmpi-fuzz-probe.$$" 2> /dev/null; then
  rm -f "${TMPDIR:-/tmp}/llmpi-fuzz-probe.$$"*
  echo "run.sh: clang cannot link -fsanitize=fuzzer (scripts/setup --fuzz installs libclang-rt-14-dev)"; exit 77
fi
rm -f "${TMPDIR:-/tmp}/llmpi-fuzz-probe.$$"*

# -Wno-pass-failed: clang cannot vectorise some "omp simd" loops under ASan
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -Wno-pass-failed"
CC=clang cmake -S "$root" -B "$build" --log-level=WARNING -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DLLMPI_FUZZ=ON -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined"
build_targets=()
for t in "${targets[@]}"; do build_targets+=("fuzz_$t"); done
cmake --build "$build" -j "${LLMPI_FUZZ_JOBS:-2}" --target "${build_targets[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}:abort_on_error=1
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
fails=0
for t in "${targets[@]}"; do
  mkdir -p "$build/corpus/$t" "$build/crashes/$t"
  seeds=("$root/tests/fuzz/corpus/$t")
  [ -d "$root/tests/fuzz/regress/$t" ] && seeds+=("$root/tests/fuzz/regress/$t")
  # HDF5 1.10 (not ours, not instrumented) asks malloc for absurd sizes from
  # corrupt size fields (and fails cleanly without ASan) and leaks on some
  # H5Fopen error paths: let such mallocs return NULL and suppress leaks
  # allocated inside libhdf5, so the run goes on to find our own bugs (the
  # header checks of h5u_check_file keep the known ones away from libhdf5;
  # their reproducers are in tests/fuzz/regress/).
  hdf5=(); asan=$ASAN_OPTIONS
  if [ "$t" = store ] || [ "$t" = ckpt ]; then
    hdf5=(-malloc_limit_mb=1048576); asan=$asan:allocator_may_return_null=1
  fi
  echo "run.sh: fuzz_$t for ${seconds} s"
  # fork mode, going on after a crash: the whole time is used, and every
  # distinct problem found in it is left in crashes/ (one file each)
  before=$(find "$build/crashes/$t" -type f | wc -l)
  ASAN_OPTIONS=$asan LSAN_OPTIONS=suppressions=$root/tests/fuzz/lsan.supp \
    "$build/tests/fuzz_$t" -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
    -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 "${hdf5[@]}" \
    -artifact_prefix="$build/crashes/$t/" "$build/corpus/$t" "${seeds[@]}" > "$build/fuzz_$t.log" 2>&1 || true
  found=$(( $(find "$build/crashes/$t" -type f | wc -l) - before ))
  grep -E "^#[0-9]+: cov:" "$build/fuzz_$t.log" | tail -1
  if [ "$found" -gt 0 ]; then
    echo "run.sh: fuzz_$t FOUND $found PROBLEM(S); reproducers in $build/crashes/$t/, log $build/fuzz_$t.log:"
    grep -E "^==[0-9]+==ERROR|^SUMMARY|^fuzz:" "$build/fuzz_$t.log" | sort | uniq -c | head -20
    fails=$((fails + 1))
  fi
done
exit $((fails > 0))

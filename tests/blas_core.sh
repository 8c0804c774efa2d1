#!/usr/bin/env bash
# blas_core.sh: llmpi runs OpenBLAS kernels that fit the CPU (ll_blas_select_core).
# - on a CPU with AVX2 + FMA the kernel set in use is one with AVX2 kernels,
#   and on one with AVX-512 (F, BW, VL, DQ) one with AVX-512 kernels, whatever
#   OpenBLAS's own table made of the CPU (Debian's 0.3.21 loads "Prescott",
#   SSE3, on Emerald Rapids: sgemm at a quarter of its speed);
# - a user's OPENBLAS_CORETYPE is kept;
# - the re-executed process keeps its arguments (one with spaces and quotes
#   reaches the command intact) and runs under mpirun on every rank.
set -u
BIN=${LLMPI_BIN:?}
export OMPI_MCA_ess_singleton_isolated=${OMPI_MCA_ess_singleton_isolated:-1}
unset OPENBLAS_CORETYPE
fail() { echo "FAIL: $*" >&2; exit 1; }
kernels() { sed -n 's/.*(kernels: \([A-Za-z0-9]*\))$/\1/p'; }
flags=" $(sed -n 's/^flags[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -1) "
has() { for f in "$@"; do [[ $flags == *" $f "* ]] || return 1; done; }

k=$("$BIN" --version | kernels)
[ -n "$k" ] || fail "llmpi --version names no BLAS kernel set: $("$BIN" --version)"
echo "kernels: $k (cpu: $(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -1))"
if has avx512f avx512bw avx512vl avx512dq; then
  [[ $k =~ ^(SkylakeX|Cooperlake|SapphireRapids)$ ]] || fail "AVX-512 CPU but OpenBLAS kernels $k"
elif has avx2 fma; then
  [[ $k =~ ^(Haswell|Zen|SkylakeX|Cooperlake|SapphireRapids)$ ]] || fail "AVX2 CPU but OpenBLAS kernels $k"
else
  echo "no AVX2 on this CPU: only the user's choice is checked"
fi

k=$(OPENBLAS_CORETYPE=Prescott "$BIN" --version | kernels)
[ "$k" = Prescott ] || fail "OPENBLAS_CORETYPE=Prescott gave kernels $k"

T=$(mktemp -d /tmp/llmpi-blas-XXXXXX)
trap 'rm -rf "$T"' EXIT
odd="$T/a b 'c\" d.h5"
"$BIN" info "$odd" > /dev/null 2> "$T/err" && fail "info on a missing file succeeded"
grep -qF "$odd: " "$T/err" || fail "the argument did not survive the re-exec: $(cat "$T/err")"

command -v mpirun > /dev/null || { echo "ok (no mpirun)"; exit 0; }
mpirun --oversubscribe -np 2 "$BIN" --version > "$T/mpi" 2>&1 || { cat "$T/mpi"; fail "mpirun -np 2 llmpi --version"; }
[ "$(grep -c "(kernels: $("$BIN" --version | kernels))" "$T/mpi")" = 2 ] || { cat "$T/mpi"; fail "the ranks differ from a plain run"; }
echo "ok"

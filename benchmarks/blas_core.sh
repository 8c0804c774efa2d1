# blas_core.sh (sourced by the benchmark scripts with a PyTorch peer).
# same_blas_kernels LLMPI: exports OPENBLAS_CORETYPE as the OpenBLAS kernel
# set `LLMPI --version` reports. llmpi re-executes itself with kernels that
# fit the CPU when OpenBLAS's own table does not know it (Debian's 0.3.21
# loads the SSE3 "Prescott" kernels on Emerald Rapids: sgemm at a quarter of
# its speed); Debian's PyTorch loads the same OpenBLAS through libblas.so.3
# and, left alone, would keep the slow kernels. With this both sides run the
# same sgemm. A user's own OPENBLAS_CORETYPE is kept for both.
same_blas_kernels() {
  [ -n "${OPENBLAS_CORETYPE:-}" ] && return 0
  local core
  core=$("$1" --version 2>/dev/null | sed -n 's/.*(kernels: \([A-Za-z0-9]*\))$/\1/p')
  if [ -n "$core" ]; then export OPENBLAS_CORETYPE=$core
  else echo "same_blas_kernels: no kernel set from '$1 --version': the peers keep OpenBLAS's own choice" >&2; fi
  return 0
}

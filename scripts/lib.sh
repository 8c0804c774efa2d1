# shellcheck shell=bash
# lib.sh: helpers shared by scripts/*; sourced, never run.
#
# Sets LLMPI_ROOT to the repository root whatever the caller's cwd, so every
# script works from anywhere. The Open MPI variables that allow running as
# root and oversubscribing cores belong here (test and script wrappers), never
# in library code: they relax safety checks that a user's own mpirun should keep.

LLMPI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export LLMPI_ROOT

# Announces one step of a script.
step() { printf '\n==> %s\n' "$*"; }

# Prints one error line and exits.
die() { printf 'llmpi: %s\n' "$*" >&2; exit 1; }

# Lets mpirun (and MPI singletons) run as root, as CI does, and start more
# ranks than cores (tests start 2-4 ranks on 2-core machines).
mpi_wrapper_env() {
  export OMPI_ALLOW_RUN_AS_ROOT=1
  export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  export OMPI_MCA_rmaps_base_oversubscribe=1
}

# Parallel build/test jobs: LLMPI_JOBS, else the cores available.
build_jobs() {
  if [[ -n "${LLMPI_JOBS:-}" ]]; then echo "$LLMPI_JOBS"; else nproc 2>/dev/null || echo 2; fi
}

# Prints the comment block at the top of script $1 (its usage), without the
# '#' and without shellcheck directives.
print_usage() {
  sed -n '2,/^[^#]/p' "$1" | grep '^#' | grep -v '^# shellcheck' | sed 's/^# \{0,1\}//'
}

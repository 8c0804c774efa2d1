# shellcheck shell=bash
# err_trap.sh: sourced by the test scripts that run under `set -e`.
# An unexpected exit is never silent: the command that failed, its status and
# its place are printed before the script ends (CTest shows them with
# --output-on-failure). Commands tested in if/while/&&/|| do not trigger it,
# as with set -e. set -E carries the trap into functions and subshells.
set -E
trap 'printf "FAIL: %s:%s: exit status %s from: %s\n" "${BASH_SOURCE[0]##*/}" "$LINENO" "$?" "$BASH_COMMAND" >&2' ERR

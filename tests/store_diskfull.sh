#!/usr/bin/env bash
# store_diskfull.sh: `llmpi prepare` on a full disk (a 2 MB tmpfs; issue 9,
# point 4): the scratch file, the store's tokens and a second prepare over an
# existing store each fail with exactly one "llmpi:" line, exit 1 and no
# crash (a failed HDF5 close used to SIGSEGV in MPI_Finalize), nothing left
# but the earlier store, which still verifies. Needs root for the mount:
# skipped (77) when the mount fails.
set -u
BIN=${LLMPI_BIN:?LLMPI_BIN not set}
export OMPI_MCA_ess_singleton_isolated=${OMPI_MCA_ess_singleton_isolated:-1}
T=$(mktemp -d /tmp/llmpi-diskfull-XXXXXX)
mkdir "$T/full"
if ! mount -t tmpfs -o size=2m tmpfs "$T/full" 2>/dev/null; then
    rm -rf "$T"; echo "SKIP: cannot mount a tmpfs (needs root)"; exit 77
fi
trap 'umount "$T/full"; rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; sed 's/^/  stderr: /' "$T/err"; fails=$((fails + 1)); }

# text of n bytes, no Gutenberg header: kept as it is, one token per byte
text() { python3 -c "import random,sys; random.seed(1); sys.stdout.write(''.join(random.choice('abcdefgh \n') for _ in range($1)))"; }
text 1500000 > "$T/spill.txt"    # 3 MB of uint16 ids: the scratch file fills the disk
text 600000 > "$T/store.txt"     # 1.2 MB scratch + 1.2 MB store: the store's write fails
text 450000 > "$T/fits.txt"
text 300000 > "$T/again.txt"     # fits alone, not beside the earlier store

# fails WHAT FRAGMENT ARGS...: exit 1 (not a signal), one llmpi: line with FRAGMENT
fails_cleanly() {
    local what=$1 frag=$2; shift 2
    timeout 120 "$BIN" prepare --tokenizer bytes --quiet "$@" > /dev/null 2> "$T/err"
    local rc=$?
    [ $rc -eq 1 ] || fail "$what: exit status $rc (expected 1)"
    [ "$(wc -l < "$T/err")" -eq 1 ] && grep -q '^llmpi: ' "$T/err" || fail "$what: not one llmpi: line"
    grep -qF -- "$frag" "$T/err" || fail "$what: expected '$frag'"
}

fails_cleanly "scratch file on a full disk" "write failed (disk full?)" --input "$T/spill.txt" --out "$T/full/s.h5"
fails_cleanly "store write on a full disk" "failed (disk full?)" --input "$T/store.txt" --out "$T/full/s.h5"
[ -z "$(ls -A "$T/full")" ] || fail "files left on the full disk: $(ls -A "$T/full")"

"$BIN" prepare --tokenizer bytes --quiet --input "$T/fits.txt" --out "$T/full/s.h5" > /dev/null 2> "$T/err" \
    || fail "prepare that fits"
sum=$(md5sum < "$T/full/s.h5")
fails_cleanly "prepare over an existing store" "failed (disk full?)" --input "$T/again.txt" --out "$T/full/s.h5"
[ "$(md5sum < "$T/full/s.h5")" = "$sum" ] || fail "the earlier store changed"
[ "$(ls -A "$T/full")" = "s.h5" ] || fail "files left beside the store: $(ls -A "$T/full")"
"$BIN" info --verify "$T/full/s.h5" > "$T/out" 2> "$T/err" || fail "the earlier store no longer verifies"

[ $fails -eq 0 ] && echo "store_diskfull: all passed"
exit $((fails > 0))

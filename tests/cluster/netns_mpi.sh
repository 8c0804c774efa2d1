#!/usr/bin/env bash
# netns_mpi.sh: `llmpi pretrain` as a 2-host MPI job across the network
# namespaces of cluster/netns-up (hosts h1, h2; real TCP between them), then
# the fail-fast settings at work: pulling h2's cable or killing its rank ends
# the job in seconds, not minutes.
# Checks: ranks run on h1 and h2; the job completes with its checkpoint; its
# parameters are byte-identical to a plain `mpirun -np 2` on one host (2-rank
# sums do not depend on the transport); the traffic really crossed h2's link;
# a cut link ends the job within 30 s and a killed rank within 15 s.
# Skips (77) when not root or ip/unshare/mpirun/h5dump are missing.
# Labels: cluster, long.
set -u
BIN=${LLMPI_BIN:?}; SRC=${LLMPI_SOURCE_DIR:?}
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
# one run at a time machine-wide (two build trees may run the suite at once)
exec 9>/run/llmpi-cluster-netns.lock
flock -w 900 9 || { echo "FAIL: /run/llmpi-cluster-netns.lock still held after 900 s"; exit 1; }
for t in ip unshare mpirun bc; do command -v $t >/dev/null || { echo "SKIP: $t not installed"; exit 77; }; done
WORK=$(mktemp -d /tmp/llmpi-netns-test.XXXXXX)
cleanup() {
  # daemons of the last (failed) job may take a moment to exit: let them, then tear down
  for _ in $(seq 50); do [ -z "$(ip netns pids h1 2>/dev/null)$(ip netns pids h2 2>/dev/null)" ] && break; sleep 0.2; done
  "$SRC/cluster/netns-down" >/dev/null 2>&1; rm -rf "$WORK"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then echo "ok: $what"; else fail "$what"; fi; }
below() { [ -n "$1" ] && [ "$(echo "$1 < $2" | bc)" = 1 ]; }   # below SECONDS LIMIT

"$SRC/cluster/netns-up" 2 || { echo "FAIL: netns-up"; exit 1; }
"$BIN" prepare --tokenizer bytes --input "$SRC/data/tinyshakespeare.txt" --out "$WORK/s.h5" >/dev/null || exit 1

hosts=$("$SRC/cluster/netns-mpirun" --host h1,h2 -np 2 hostname 2>&1 | sort | tr '\n' ' ')
check "ranks run on h1 and h2 (got: $hosts)" [ "$hosts" = "h1 h2 " ]

rx0=$(ip netns exec h2 cat /sys/class/net/eth0/statistics/rx_bytes)
common=(pretrain --config "$SRC/configs/tiny.ini" --set train.threads=1 --data "$WORK/s.h5")
"$SRC/cluster/netns-mpirun" --host h1,h2 -np 2 "$BIN" "${common[@]}" --out "$WORK/two-hosts" > "$WORK/two.log" 2>&1
check "2-host pretrain exits 0" [ $? -eq 0 ]
rx=$(( $(ip netns exec h2 cat /sys/class/net/eth0/statistics/rx_bytes) - rx0 ))
# 20 all-reduces of 34,720 floats: at least 20 x 139 kB / 2 must reach h2
check "gradients crossed h2's link ($rx bytes received > 1.3 MB)" [ "$rx" -gt 1300000 ]
ck=$WORK/two-hosts/checkpoints/step-00000020.h5
check "final checkpoint written" [ -f "$ck" ]
check "2 ranks trained: 5120 tokens at step 20" grep -q '"step":20,"tokens":5120' "$WORK/two-hosts/metrics.jsonl"
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe --bind-to none -np 2 \
  "$BIN" "${common[@]}" --out "$WORK/one-host" > "$WORK/one.log" 2>&1
check "1-host mpirun -np 2 exits 0" [ $? -eq 0 ]
if command -v h5dump >/dev/null; then
  check "same parameters over TCP between hosts as on one host" \
    cmp -s <(h5dump -g /model "$ck" 2>&1 | tail -n +2) \
           <(h5dump -g /model "$WORK/one-host/checkpoints/step-00000020.h5" 2>&1 | tail -n +2)
fi
check "same final losses" cmp -s <(grep -o '"loss":[^,]*' "$WORK/two-hosts/metrics.jsonl") \
                                  <(grep -o '"loss":[^,]*' "$WORK/one-host/metrics.jsonl")

out=$(LLMPI_MEASURE_CAP=60 "$SRC/cluster/failfast-measure" cut "$BIN" "$WORK/s.h5" "$WORK" 2>&1)
echo "$out"
t=$(sed -n 's/.*job ended after \([0-9.]*\) s.*/\1/p' <<<"$out" | head -1)
check "cut link: job ended (${t:-never} s) within 30 s" below "$t" 30
out=$(LLMPI_MEASURE_CAP=60 "$SRC/cluster/failfast-measure" kill "$BIN" "$WORK/s.h5" "$WORK" 2>&1)
echo "$out"
t=$(sed -n 's/.*job ended after \([0-9.]*\) s.*/\1/p' <<<"$out" | head -1)
check "killed rank: job ended (${t:-never} s) within 15 s" below "$t" 15

[ $fails -eq 0 ] && echo "netns_mpi: all passed" || { echo "netns_mpi: $fails failed"; tail -n 5 "$WORK"/*.log; exit 1; }

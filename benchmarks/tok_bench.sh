#!/usr/bin/env bash
# tok_bench.sh [BUILD_DIR] [THREADS]: the tokenizer benchmark.
#
# Builds the same 40 MB of Gutenberg text (the books of ../shared/data in
# sorted order, cut at 40,000,000 bytes), trains a 16384-token BPE with
# llmpi and with sentencepiece's `spm_train --model_type=bpe` (byte
# fallback on, the same --num_threads), once with 1 thread and once with
# THREADS (default: all cores), and prints MB/s, the ratio, peak RSS, and
# llmpi's encode speed (MB/s per core, from tok_bench) and bytes per token.
# Times are wall clock and CPU (user+sys): on a shared machine the CPU time
# is the steadier number.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
threads=${2:-$(nproc)}
bin=$build/llmpi
bench=$build/tok_bench
data=$src/../shared/data/gutenberg/books
for f in "$bin" "$bench"; do [ -x "$f" ] || { echo "missing $f (build first)"; exit 1; }; done
command -v spm_train > /dev/null || { echo "spm_train not found (apt install sentencepiece)"; exit 1; }
[ -d "$data" ] || { echo "no $data"; exit 1; }
work=${TOK_BENCH_DIR:-$(mktemp -d)}
mkdir -p "$work"
corpus=$work/gutenberg40.txt
if [ ! -f "$corpus" ] || [ "$(stat -c %s "$corpus")" != 40000000 ]; then
  # head stops reading early on purpose: cat's SIGPIPE is expected, so the
  # pipeline's status is not used; the size check below is what counts
  find "$data" -name '*.txt' -print0 | LC_ALL=C sort -z | xargs -0 cat | head -c 40000000 > "$corpus" || true
  [ "$(stat -c %s "$corpus")" = 40000000 ] || { echo "could not cut a 40 MB corpus from $data"; exit 1; }
fi
mb=40.0
echo "corpus: $corpus ($(stat -c %s "$corpus") bytes), vocab 16384, machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# run NAME CMD...: prints "NAME wall cpu rss" from GNU time
run() {
  local name=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$work/time.$name" "$@" > "$work/log.$name" 2>&1 \
    || { echo "$name failed:"; tail -5 "$work/log.$name"; exit 1; }
  read -r wall user sys rss < "$work/time.$name"
  cpu=$(echo "$user + $sys" | bc)
  printf '%-22s wall %6.2f s  %6.1f MB/s   cpu %6.2f s  %6.1f MB/s-cpu   peak RSS %5d MB\n' \
    "$name" "$wall" "$(echo "$mb / $wall" | bc -l)" "$cpu" "$(echo "$mb / $cpu" | bc -l)" $((rss / 1024))
  eval "wall_$name=$wall; cpu_$name=$cpu"
}

for th in 1 $threads; do
  run llmpi_t$th "$bin" tokenizer train --input "$corpus" --vocab-size 16384 --out "$work/llmpi_t$th" --threads "$th" --quiet
  run spm_t$th spm_train --input="$corpus" --model_prefix="$work/spm_t$th" --vocab_size=16384 --model_type=bpe \
    --byte_fallback=true --num_threads="$th" --minloglevel=1
  [ "$th" = "$threads" ] && break
done
cmp -s "$work/llmpi_t1/tokenizer.json" "$work/llmpi_t$threads/tokenizer.json" \
  && echo "llmpi: 1 and $threads threads wrote byte-identical files" || echo "llmpi: WARNING: files differ across thread counts"
printf 'speed-up over spm_train, 1 thread: %.1fx wall, %.1fx cpu\n' \
  "$(echo "$wall_spm_t1 / $wall_llmpi_t1" | bc -l)" "$(echo "$cpu_spm_t1 / $cpu_llmpi_t1" | bc -l)"
eval "ws=\$wall_spm_t$threads; wl=\$wall_llmpi_t$threads"
printf 'speed-up over spm_train, %d threads: %.1fx wall\n' "$threads" "$(echo "$ws / $wl" | bc -l)"
"$bench" "$work/llmpi_t1/tokenizer.json" "$corpus" "$threads"

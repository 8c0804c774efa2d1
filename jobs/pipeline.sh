#!/usr/bin/env bash
# pipeline.sh: submits the whole llmpi pipeline as a chain of dependent Slurm
# jobs (each starts only when the one before it succeeded: --dependency=afterok):
#
#   tokenizer (llmpi tokenizer train) -> prepare (llmpi prepare) ->
#   pretrain (jobs/pretrain.sbatch) -> sft (jobs/sft.sbatch, from the newest
#   pretraining checkpoint)
#
#   jobs/pipeline.sh RUN_DIR [INPUT]       # INPUT: text file or folder (default data/)
#
# Prints the four job ids, one per line ("tokenizer JOBID", ...). Everything
# goes under RUN_DIR: tok/, store.h5, pretrain/, sft/, and each job's log
# RUN_DIR/<stage>.out. Environment (besides the sbatch scripts' own):
#   LLMPI_ROOT     repository root (default: this script's parent folder)
#   LLMPI_VOCAB    tokenizer vocabulary size (default 2048)
#   LLMPI_CONFIG   pretraining config (default configs/small.ini)
#   LLMPI_SFT_CONFIG, LLMPI_MIX   fine-tuning config and mix (sft.sbatch defaults)
#   LLMPI_PRETRAIN_SET, LLMPI_SFT_SET   LLMPI_SET of each training job
#   LLMPI_SBATCH   extra sbatch options for every job (e.g. "--partition=cpu --time=2:00:00")
set -euo pipefail
root=${LLMPI_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
bin=${LLMPI_BIN:-$root/build/llmpi}
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: jobs/pipeline.sh RUN_DIR [INPUT]" >&2; exit 2; }
mkdir -p "$1"
run=$(cd "$1" && pwd)
input=${2:-$root/data}
[ -e "$input" ] || { echo "pipeline.sh: $input: no such file or folder" >&2; exit 2; }
input=$(cd "$(dirname "$input")" && pwd)/$(basename "$input")
[ -x "$bin" ] || { echo "pipeline.sh: $bin: not an executable (build: scripts/build)" >&2; exit 2; }
# shellcheck disable=SC2206
opts=(${LLMPI_SBATCH:-})
q() { printf '%q ' "$@"; }

tok=$(sbatch --parsable "${opts[@]}" --job-name=llmpi-tokenizer --ntasks=1 --output="$run/tokenizer.out" \
  --wrap "$(q "$bin" tokenizer train --input "$input" --vocab-size "${LLMPI_VOCAB:-2048}" --out "$run/tok")")
prep=$(sbatch --parsable "${opts[@]}" --job-name=llmpi-prepare --ntasks=1 --output="$run/prepare.out" \
  --dependency=afterok:"$tok" \
  --wrap "$(q "$bin" prepare --tokenizer "$run/tok/tokenizer.json" --input "$input" --out "$run/store.h5")")
pre=$(LLMPI_ROOT=$root LLMPI_BIN=$bin LLMPI_DATA=$run/store.h5 LLMPI_RUN=$run/pretrain \
  LLMPI_SET=${LLMPI_PRETRAIN_SET:-} \
  sbatch --parsable "${opts[@]}" --output="$run/pretrain.out" --dependency=afterok:"$prep" \
  "$root/jobs/pretrain.sbatch")
sft=$(LLMPI_ROOT=$root LLMPI_BIN=$bin LLMPI_INIT=$run/pretrain LLMPI_RUN=$run/sft \
  LLMPI_CONFIG=${LLMPI_SFT_CONFIG:-$root/configs/sft.ini} LLMPI_SET=${LLMPI_SFT_SET:-} \
  sbatch --parsable "${opts[@]}" --output="$run/sft.out" --dependency=afterok:"$pre" \
  "$root/jobs/sft.sbatch")
printf 'tokenizer %s\nprepare %s\npretrain %s\nsft %s\n' "$tok" "$prep" "$pre" "$sft"

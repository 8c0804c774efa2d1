# job_lib.sh: the part of jobs/*.sbatch that launches an llmpi training
# command under Slurm (sourced by pretrain.sbatch and sft.sbatch from
# $LLMPI_ROOT/jobs: sbatch runs a copy of the script, so its own folder is
# the spool, not the repository).
#
#   job_launch TAG ARGS...   runs `llmpi ARGS... --max-time B` with one rank per
#                            Slurm task and returns the launcher's exit status
#
# Contract (docs: jobs/README.md):
# - launcher: LLMPI_LAUNCHER srun | mpirun | auto (srun when Slurm has PMIx);
#   one rank per task, threads per rank = --cpus-per-task, bound to its cores;
#   LLMPI_SET (section.key=value ...) and LLMPI_ARGS are appended;
# - the job's time left (squeue %L) minus LLMPI_TIME_MARGIN (default 120)
#   becomes --max-time, so the trainer stops on its own before the limit;
# - USR1 (Slurm's --signal=B:USR1@120, or scancel --batch --signal=USR1) and
#   TERM to the script are forwarded to the launcher, which passes them to
#   every rank: a checkpoint at the next step boundary, exit 0.
# Needs: bin, failfast (already sourced by the caller).

job_launch() {
  local tag=$1; shift
  local cpus=${SLURM_CPUS_PER_TASK:-1} ntasks=${SLURM_NTASKS:-1}
  local launcher=${LLMPI_LAUNCHER:-auto}
  if [ "$launcher" = auto ]; then
    # grep without -q reads to the end: an early exit would kill srun with SIGPIPE
    # and, under pipefail, pick mpirun even where pmix is there
    if srun --mpi=list 2>&1 | grep -w pmix >/dev/null; then launcher=srun; else launcher=mpirun; fi
  fi
  # one OpenMP thread per core given to the rank, kept on those cores
  export OMP_NUM_THREADS=$cpus OMP_PLACES=cores OMP_PROC_BIND=close
  local sets=(--set "train.threads=$cpus") kv
  for kv in ${LLMPI_SET:-}; do sets+=(--set "$kv"); done
  # shellcheck disable=SC2206
  local extra=(${LLMPI_ARGS:-})
  # The job's own time limit becomes the trainer's --max-time budget. Slurm checks
  # limits and --signal warnings on a coarse timer (seen here: a B:USR1@50 warning
  # with --time=1 arrived only at the kill), so the signal is the backstop.
  local margin=${LLMPI_TIME_MARGIN:-120} left secs budget
  left=$(squeue -h -j "${SLURM_JOB_ID:-0}" -o %L 2>/dev/null || true)   # [D-]HH:MM:SS, MM:SS or UNLIMITED
  if [[ "$left" =~ ^(([0-9]+)-)?(([0-9]+):)?([0-9]+):([0-9]+)$ ]]; then
    secs=$(( ${BASH_REMATCH[2]:-0} * 86400 + 10#${BASH_REMATCH[4]:-0} * 3600 + 10#${BASH_REMATCH[5]} * 60 + 10#${BASH_REMATCH[6]} ))
    budget=$(( secs - margin ))
    [ "$budget" -ge 1 ] || budget=1
    extra=(--max-time "$budget" "${extra[@]}")
  fi
  local args=("$@" "${sets[@]}" "${extra[@]}") cmd
  case "$launcher" in
    srun)
      # Slurm >= 22.05 no longer passes --cpus-per-task from sbatch to srun: say it again
      cmd=(srun --mpi="${LLMPI_SRUN_MPI:-pmix}" --ntasks="$ntasks" --cpus-per-task="$cpus" --cpu-bind=cores
           --kill-on-bad-exit=1 "$bin" "${args[@]}") ;;
    mpirun)
      cmd=(mpirun -np "$ntasks" --map-by "slot:PE=$cpus" --bind-to core "$bin" "${args[@]}") ;;
    *) echo "$tag: LLMPI_LAUNCHER=$launcher: expected srun, mpirun or auto" >&2; return 2 ;;
  esac

  echo "$tag: job ${SLURM_JOB_ID:-?} on ${SLURM_JOB_NODELIST:-$(hostname)}: $ntasks ranks x $cpus threads, launcher $launcher"
  echo "$tag: $(date +%T) ${cmd[*]}"

  # The launcher runs in the background so this shell can take Slurm's signal
  # and pass it on; `wait` returns early when a trap runs, so wait again until
  # the launcher has really exited.
  job_launcher_pid=
  job_tag=$tag
  trap 'job_forward USR1' USR1
  trap 'job_forward TERM' TERM
  "${cmd[@]}" &
  job_launcher_pid=$!
  while kill -0 "$job_launcher_pid" 2>/dev/null; do wait "$job_launcher_pid"; done
  wait "$job_launcher_pid"; local status=$?   # bash keeps a finished child's status
  echo "$tag: $(date +%T) launcher exited with status $status"
  return "$status"
}

job_forward() {
  echo "$job_tag: $(date +%T) $1 received: asking the ranks to checkpoint and stop"
  [ -n "$job_launcher_pid" ] && kill -USR1 "$job_launcher_pid" 2>/dev/null
}

#!/usr/bin/env bash
# start_ckpt_bench.sh: issue 13's two start-up/checkpoint figures at the GPT-2
# small shape (12/12/768, block 1024) with an 8k vocabulary, batch 1 x 64,
# grad_accum 1, one thread, on a synthetic store (data on disk beforehand):
#   - "first_step": process start -> end of step 1 (the time the step-1 log
#     line appears), the median of the next steps, minor page faults and CPU
#     time of the process; with huge pages (default) and LLMPI_HUGEPAGES=0;
#   - "ckpt": the training stall per checkpoint (the main thread's time in
#     save_checkpoint plus its wait for the snapshot, from the log) and the
#     background write speed (file bytes / (write + fsync + rename) time);
#   - "dd": `dd conv=fdatasync` of the same size into the same directory.
# One JSON line each. Usage:
#   benchmarks/start_ckpt_bench.sh [--build-dir DIR] [--work DIR] [--runs N] [--ckpts N] [--every K]
# (--every: steps between checkpoints, default 3; --runs 0 skips the first-step part)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${LLMPI_BUILD_DIR:-$repo/build}
work=""
runs=2
ckpts=3
every=3
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) build=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --ckpts) ckpts=$2; shift 2 ;;
    --every) every=$2; shift 2 ;;
    -h|--help) sed -n 2,16p "$0"; exit 0 ;;
    *) echo "start_ckpt_bench: unknown option $1" >&2; exit 2 ;;
  esac
done
bin=$build/llmpi
[ -x "$bin" ] && [ -x "$build/synth_store" ] || { echo "start_ckpt_bench: build $build first" >&2; exit 1; }
if [ -z "$work" ]; then work=$(mktemp -d "${TMPDIR:-/tmp}/start_ckpt_bench.XXXXXX"); trap 'rm -rf "$work"' EXIT; fi
mkdir -p "$work"
store=$work/s8k.h5
[ -f "$store" ] || "$build/synth_store" --vocab 8192 --tokens 2000000 --out "$store" >/dev/null

# train OUT MAX_STEPS CKPT_EVERY: the 124M-shape run, stdout to the caller
train() {
  exec env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$bin" pretrain --config "$repo/configs/gpt2-124m.ini" \
    --data "$store" --out "$1" --force --no-verify --set train.batch_size=1 --set train.seq_len=64 \
    --set train.grad_accum=1 --set train.threads=1 --set train.max_steps="$2" --set train.eval_every=0 \
    --set train.ckpt_every="$3" --set train.keep_checkpoints=2 --set train.log_every=1
}
export -f train
export bin repo store

python3 - "$work" "$runs" "$ckpts" "$every" <<'PY'
import json, os, re, resource, statistics, subprocess, sys, time
work, runs, ckpts, every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
STEP = re.compile(r"^step +(\d+)/\d+ \|.*\| +([0-9.]+) ms \|")

def run(out, max_steps, ckpt_every, stop_after_steps, env_extra):
    """Runs the trainer; kills it after stop_after_steps step lines (None: to the end)."""
    env = dict(os.environ, **env_extra)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    p = subprocess.Popen(["bash", "-c", 'train "$@"', "train", out, str(max_steps), str(ckpt_every)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines, steps, first = [], [], None
    for line in p.stdout:
        lines.append(line)
        m = STEP.match(line)
        if m:
            steps.append(float(m.group(2)))
            if first is None: first = time.time() - t0
            if stop_after_steps and len(steps) >= stop_after_steps:
                p.kill()
                break
    p.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    usage = {"minor_faults": after.ru_minflt - before.ru_minflt,
             "cpu_user_s": round(after.ru_utime - before.ru_utime, 2),
             "cpu_sys_s": round(after.ru_stime - before.ru_stime, 2)}
    return lines, steps, first, usage, p.returncode

for hp in ("1", "0"):
    for i in range(runs):
        lines, steps, first, usage, _ = run(os.path.join(work, "fs"), 100, 0, 5, {"LLMPI_HUGEPAGES": hp})
        later = steps[1:]
        print(json.dumps(dict({"bench": "first_step", "hugepages": hp == "1", "run": i,
                               "start_to_step1_s": round(first, 2), "step1_ms": steps[0],
                               "steady_step_ms": statistics.median(later) if later else None},
                              **usage, load1=round(os.getloadavg()[0], 1))), flush=True)

# checkpoints every `every` steps, ckpts of them; the run ends with the last (waited for)
n = every * ckpts
out = os.path.join(work, "ck")
lines, steps, first, usage, rc = run(out, n, every, None, {})
stalls, waits, writes = {}, {}, []
for l in lines:
    m = re.match(r"^step +(\d+) \| checkpoint begun \(training stalled ([0-9.]+) s", l)
    if m: stalls[int(m.group(1))] = float(m.group(2))
    m = re.match(r"^step +(\d+) \| waited ([0-9.]+) s for the checkpoint's snapshot", l)
    if m: waits[int(m.group(1)) - 1] = float(m.group(2))
    m = re.match(r"^checkpoint (\S+) \(written in the background: build ([0-9.]+) s, write ([0-9.]+) s, ([0-9.]+) MB/s", l)
    if m: writes.append((m.group(1), float(m.group(2)), float(m.group(3)), float(m.group(4))))
size = os.path.getsize(writes[-1][0]) if writes else 0
for k, (path, build, write, mbs) in enumerate(writes):
    step = int(re.search(r"step-(\d+)", path).group(1))
    print(json.dumps({"bench": "ckpt", "step": step, "stall_s": round(stalls.get(step, 0) + waits.get(step, 0), 3),
                      "build_s": build, "write_s": write, "write_MB_s": mbs, "bytes": size,
                      "median_step_ms": statistics.median(steps), "rc": rc,
                      "load1": round(os.getloadavg()[0], 1)}), flush=True)
# dd of the same size into the same directory
target = os.path.join(out, "checkpoints", "dd.tmp")
t = time.time()
subprocess.run(["dd", "if=/dev/zero", "of=" + target, "bs=4M", "count=%d" % ((size + (4 << 20) - 1) >> 22),
                "conv=fdatasync"], check=True, stderr=subprocess.DEVNULL)
dt = time.time() - t
os.unlink(target)
print(json.dumps({"bench": "dd", "bytes": size, "seconds": round(dt, 2), "MB_s": round(size / dt / 1e6, 1),
                  "load1": round(os.getloadavg()[0], 1)}), flush=True)
PY

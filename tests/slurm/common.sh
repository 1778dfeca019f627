# shellcheck shell=bash disable=SC2034 # variables used by the tests that source this file
# Shared by the SLURM tests (sourced). Arguments of every test: EPBENCH CLUSTER_DIR WORK_DIR:
# the epbench executable, the directory of the local cluster the fixture started
# (jobs/local-cluster.sh), and a scratch directory the test empties first.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[[ $# -eq 3 ]] || { echo "usage: $0 EPBENCH CLUSTER_DIR WORK_DIR" >&2; exit 2; }
export EPBENCH=$1
cluster_dir=$2
work=$3
job_timeout=${EPBENCH_SLURM_TEST_TIMEOUT:-240}
# A small run: 4 ranks in 2 virtual nodes, experts shrunk 16x, 3 measured steps.
# shellcheck disable=SC2054 # 1,16 is one value
run_opts=(--scale 0.0625 --steps 3 --warmup 1 --batch-sizes 1,16 --ranks-per-node 2)

skip() { echo "SKIP: $*"; exit 77; }
fail() {
  echo "FAIL: $*" >&2
  local f
  for f in "$work"/*.out "$work"/*/logs/*.out "$cluster_dir"/log/slurmctld.log; do
    [[ -s $f ]] && { echo "--- tail of $f" >&2; tail -n 15 "$f" >&2; }
  done
  exit 1
}
ok() { echo "ok: $*"; }

setup() {
  local cmd
  for cmd in sbatch squeue scontrol scancel; do
    command -v "$cmd" >/dev/null || skip "$cmd not found (install slurm-wlm: third_party/install-deps.sh)"
  done
  [[ -x $EPBENCH ]] || fail "EPBENCH '$EPBENCH' is not executable"
  export SLURM_CONF=$cluster_dir/slurm.conf
  [[ -r $SLURM_CONF ]] || fail "$SLURM_CONF missing: the fixture slurm.cluster_start did not run"
  squeue -h >/dev/null || fail "the local cluster in $cluster_dir does not answer"
  rm -rf "$work"
  mkdir -p "$work"
  cd "$work"
}

# make_trace: a small synthetic Mixtral trace, $work/trace.h5.
make_trace() {
  "$EPBENCH" trace synth --model mixtral-8x7b --requests 8 --prompt-len 16 --decode-len 16 \
    --calib-iters 2 --seed 3 -o "$work/trace.h5" >/dev/null || fail "trace synth failed"
}

# wait_jobs ID...: until SLURM has none of the jobs pending or running (bounded).
wait_jobs() {
  local t
  for ((t = 0; t < job_timeout * 2; t++)); do
    [[ -z $(squeue -h -j "$(IFS=,; echo "$*")" 2>/dev/null) ]] && return 0
    sleep 0.5
  done
  scancel "$@" 2>/dev/null || true
  fail "jobs $* still queued or running after ${job_timeout}s"
}

# job_state ID: the JobState SLURM reports (one per task for an array).
job_state() { scontrol show job "$1" | grep -o 'JobState=[A-Z_]*' | cut -d= -f2 | sort -u | xargs; }

# check_results FILE RANKS: an `epbench run` results file whose every configuration ran on RANKS.
check_results() {
  [[ -s $1 ]] || fail "results file $1 missing"
  /usr/bin/python3 - "$1" "$2" <<'PY' || fail "$1: not a results file of $2 ranks"
import sys
import h5py
path, ranks = sys.argv[1], int(sys.argv[2])
with h5py.File(path, "r") as f:
    assert f.attrs["tool"] == "run", f"tool {f.attrs['tool']}"
    runs = f["runs"]
    assert len(runs) > 0, "no /runs"
    for name, g in runs.items():
        ws, hosts = int(g.attrs["world_size"]), len(g.attrs["rank_hosts"])
        g_dim = g["time/dispatch"].shape[-1]
        assert ws == hosts == g_dim == ranks, f"{name}: world_size {ws}, rank_hosts {hosts}, G {g_dim}"
PY
}

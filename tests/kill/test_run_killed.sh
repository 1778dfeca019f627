#!/usr/bin/env bash
# Kills `epbench run` under the real mpiexec and checks that nothing partial or temporary is
# left in its output directory.
#   test_run_killed.sh CASE EPBENCH TRACE WORK_DIR MPIEXEC [MPIEXEC_FLAGS...]
# CASE:
#   sigterm-mid-run        SIGTERM to mpiexec while the ranks run: the job ends within a few
#                          seconds and the output directory stays empty
#   sigkill-writing        SIGKILL to every rank while rank 0 holds a complete, unlinked results
#                          file (O_TMPFILE): the directory stays empty
#   sigterm-writing-named  the same with the named-temporary fallback (EPBENCH_NO_TMPFILE) and
#                          SIGTERM, as scancel sends: the handler removes the temporary
#   sigkill-named-recovers the fallback killed by SIGKILL leaves its temporary; the next run to
#                          the same file removes it and writes a complete file
set -euo pipefail
[[ $# -ge 5 ]] || { echo "usage: $0 CASE EPBENCH TRACE WORK_DIR MPIEXEC [FLAGS...]" >&2; exit 2; }
case_name=$1 epbench=$2 trace=$3 work=$4 mpiexec=$5
shift 5
launch=("$mpiexec" -n 2 "$@")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1

fail() {
  echo "FAIL: $*" >&2
  [[ -s $work/log ]] && { echo "--- log" >&2; tail -n 20 "$work/log" >&2; }
  exit 1
}

rm -rf "$work" && mkdir -p "$work/out"
"$epbench" place --trace "$trace" --fit 0%:50% --algo round-robin --nodes 1 --gpus-per-node 2 \
  -o "$work/rr.json" >/dev/null || fail "place failed"
results=$work/out/results.h5

# start_run ARGS...: epbench run in the background, its mpiexec's pid in $job.
start_run() {
  "${launch[@]}" "$epbench" run --trace "$trace" --layouts "${layouts:-$work/rr.json}" --scale 0.0625 \
    --warmup 0 --batch-sizes 1 --ranks-per-node 2 "$@" -o "$results" >"$work/log" 2>&1 &
  job=$!
}

# The epbench processes below the launcher (OpenMPI forks them, MPICH's hydra has a proxy).
ranks_of() {
  local pid children=() found=()
  mapfile -t children < <(ps -o pid= --ppid "$1" | tr -d ' ')
  for pid in "${children[@]}"; do
    [[ $(ps -o comm= -p "$pid" 2>/dev/null) == epbench ]] && found+=("$pid")
    found+=($(ranks_of "$pid"))
  done
  echo "${found[@]}"
}

wait_for() {  # wait_for SECONDS COMMAND...: until the command succeeds
  local limit=$1 t
  shift
  for ((t = 0; t < limit * 10; t++)); do "$@" && return 0; sleep 0.1; done
  return 1
}
two_ranks() { local r; r=($(ranks_of "$job")); [[ ${#r[@]} -eq 2 ]]; }
holding() { grep -q "test hook: holding" "$work/log"; }

# end_job SECONDS: mpiexec must be gone within SECONDS; its status is not the test's business.
end_job() {
  wait_for "$1" bash -c "! kill -0 $job 2>/dev/null" || { kill -KILL "$job"; fail "job still running ${1}s after the signal"; }
  wait "$job" 2>/dev/null || true
}

expect_empty_output() {
  local left
  left=$(ls -A "$work/out")
  [[ -z $left ]] || fail "left in the output directory: $left"
}

case $case_name in
  sigterm-mid-run)
    # Every step of the trace, 8 layouts x 5 routings: minutes even where one pass takes 2 s
    # (MPICH busy-polls; OpenMPI here yields when idle and is far slower).
    many=$(printf "$work/rr.json,%.0s" 1 2 3 4 5 6 7 8)
    layouts=${many%,} start_run --steps 0 --range 0%:100% \
      --routing first,round-robin,least-loaded,local-first,optimal
    wait_for 60 two_ranks || fail "the ranks did not start"
    sleep 2
    kill -0 "$job" 2>/dev/null || fail "the run ended before the signal"
    ! grep -q "error" "$work/log" || fail "the run failed before the signal"
    start=$(date +%s.%N)
    kill -TERM "$job"
    end_job 10
    awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "ok: mpiexec ended %.2f s after SIGTERM\n", b - a }'
    expect_empty_output ;;
  sigkill-writing)
    EPBENCH_TEST_HOLD_BEFORE_COMMIT=60 start_run --steps 2
    wait_for 120 holding || fail "rank 0 never reached the results commit"
    ranks=($(ranks_of "$job"))
    [[ ${#ranks[@]} -ge 1 ]] || fail "no ranks found below mpiexec $job"
    kill -KILL "${ranks[@]}"
    end_job 20
    expect_empty_output ;;
  sigterm-writing-named)
    EPBENCH_NO_TMPFILE=1 EPBENCH_TEST_HOLD_BEFORE_COMMIT=60 start_run --steps 2
    wait_for 120 holding || fail "rank 0 never reached the results commit"
    [[ -n $(ls -A "$work/out") ]] || fail "the fallback wrote no named temporary"
    ranks=($(ranks_of "$job"))
    kill -TERM "${ranks[@]}"
    end_job 20
    expect_empty_output ;;
  sigkill-named-recovers)
    EPBENCH_NO_TMPFILE=1 EPBENCH_TEST_HOLD_BEFORE_COMMIT=60 start_run --steps 2
    wait_for 120 holding || fail "rank 0 never reached the results commit"
    ranks=($(ranks_of "$job"))
    kill -KILL "${ranks[@]}"
    end_job 20
    [[ -n $(ls -A "$work/out") ]] || fail "SIGKILL left no temporary: the case tests nothing"
    EPBENCH_NO_TMPFILE=1 start_run --steps 2
    wait "$job" || fail "the second run failed"
    left=$(ls -A "$work/out")
    [[ $left == results.h5 ]] || fail "expected only results.h5 after the second run, found: $left"
    h5ls -r "$results" | grep -q "time/dispatch" || fail "$results is incomplete" ;;
  *) echo "unknown case $case_name" >&2; exit 2 ;;
esac
echo "ok: $case_name"

#!/usr/bin/env bash
# jobs/epbench.sbatch: a 4-rank `epbench run` submitted to the local cluster, with the launcher
# it chooses (srun --mpi=pmix when offered) and with the mpirun fallback and an explicit -o.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh"
setup
make_trace
"$EPBENCH" place --trace trace.h5 --algo eplb --fit 0:50% --nodes 2 --gpus-per-node 2 \
  -o layout.json >/dev/null || fail "place failed"

export EPBENCH_OUT=$work/results
auto=$(sbatch --parsable -N1 --ntasks-per-node=4 "$repo/jobs/epbench.sbatch" \
  --trace trace.h5 --layouts layout.json "${run_opts[@]}") || fail "sbatch failed"
fallback=$(EPBENCH_LAUNCHER=mpirun sbatch --parsable -N1 --ntasks-per-node=4 \
  "$repo/jobs/epbench.sbatch" --trace trace.h5 --layouts layout.json "${run_opts[@]}" \
  -o "$work/explicit.h5") || fail "sbatch failed"
echo "submitted jobs $auto (launcher chosen by the script) and $fallback (mpirun)"
wait_jobs "$auto" "$fallback"

for job in "$auto" "$fallback"; do
  state=$(job_state "$job")
  [[ $state == COMPLETED ]] || fail "job $job ended $state (log: $work/epbench-$job.out)"
  [[ -s epbench-$job.out ]] || fail "job $job wrote no log epbench-$job.out"
done
check_results "results/run-$auto.h5" 4
ok "job $auto: results/run-$auto.h5 holds 4 ranks"
launcher=$(grep -m1 '^epbench.sbatch: launcher: ' "epbench-$auto.out") ||
  fail "job $auto's log does not say which launcher it used"
if srun --mpi=list 2>&1 | grep -qw pmix; then
  [[ $launcher == *"srun --mpi=pmix"* ]] || fail "srun offers pmix but the job used: $launcher"
else
  [[ $launcher == *"mpirun -np 4"* ]] || fail "srun offers no pmix but the job used: $launcher"
fi
ok "job $auto: ${launcher#epbench.sbatch: }"

check_results explicit.h5 4
[[ ! -e results/run-$fallback.h5 ]] || fail "job $fallback was given -o but also wrote results/run-$fallback.h5"
grep -q '^epbench.sbatch: launcher: mpirun -np 4 (EPBENCH_LAUNCHER=mpirun)' "epbench-$fallback.out" ||
  fail "job $fallback's log does not say it used mpirun"
ok "job $fallback: mpirun fallback, -o explicit.h5 holds 4 ranks"

#!/usr/bin/env bash
# Bad invocations end non-zero with a message that says what is wrong: jobs without --trace,
# without arguments or with an EPBENCH that is not executable; scaling.sh without --trace.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/common.sh"
setup
make_trace
sbatch_job() { sbatch --parsable -N1 --ntasks-per-node=1 "$@"; }
no_trace=$(sbatch_job "$repo/jobs/epbench.sbatch" --layouts x.json --steps 1) || fail "sbatch failed"
no_args=$(sbatch_job "$repo/jobs/epbench.sbatch") || fail "sbatch failed"
bad_exe=$(EPBENCH=$work/no-such-epbench sbatch_job "$repo/jobs/epbench.sbatch" \
  --trace trace.h5 --layouts x.json) || fail "sbatch failed"
wait_jobs "$no_trace" "$no_args" "$bad_exe"

# expect_failed JOB MESSAGE: the job failed with exit code 2 and MESSAGE in its log.
expect_failed() {
  local state code
  state=$(job_state "$1")
  code=$(scontrol show job "$1" | grep -o ' ExitCode=[0-9:]*' | cut -d= -f2)
  [[ $state == FAILED && $code == 2:0 ]] || fail "job $1 ended $state, exit $code; expected FAILED, exit 2"
  grep -qF "$2" "epbench-$1.out" || fail "job $1's log lacks '$2': $(cat "epbench-$1.out")"
  ok "job $1 failed (exit 2): $(grep -F "$2" "epbench-$1.out")"
}
expect_failed "$no_trace" "error: missing --trace"
expect_failed "$no_args" "error: no arguments"
expect_failed "$bad_exe" "is not an executable file"

if out=$(env -u SLURM_JOB_ID bash "$repo/jobs/epbench.sbatch" --trace trace.h5 --layouts x.json 2>&1); then
  fail "epbench.sbatch outside a job exited 0: $out"
fi
[[ $out == *"not inside a SLURM job"* ]] || fail "epbench.sbatch outside a job: $out"
ok "outside a job: $out"

if out=$("$repo/jobs/scaling.sh" --study study --gpus 2 --algos eplb 2>&1); then
  fail "scaling.sh without --trace exited 0: $out"
fi
[[ $out == *"missing --trace"* ]] || fail "scaling.sh without --trace: $out"
[[ ! -e study/manifest.tsv ]] || fail "scaling.sh without --trace wrote a manifest"
ok "scaling.sh without --trace: $out"

if out=$("$repo/jobs/scaling.sh" --study study --trace trace.h5 --gpus 4 --gpus-per-node 2 \
  -- --ranks-per-node 4 2>&1); then
  fail "scaling.sh with --ranks-per-node 4 for nodes of 2 exited 0: $out"
fi
ok "scaling.sh with mismatched virtual nodes: $out"

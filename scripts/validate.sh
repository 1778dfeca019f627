#!/usr/bin/env bash
# The cost model against real runs on this machine (docs/validate.md): a profile measured by
# `epbench profile`, layouts of every placement algorithm fitted on the first half of the trace,
# then `epbench validate` on the held-out second half, with 2 ranks bound to cores and with 4
# ranks in 2 virtual nodes on the same cores; for each, a served schedule (`serve
# --schedule-out`) run for real with its TTFT and TPOT, priced from a second profile taken just
# before it; last, the predicted-versus-measured figure.
# Usage: scripts/validate.sh [OUT] (default out/validate); needs the default build.
# EPBENCH_TRACE, EPBENCH_BATCH_SIZES (1,16,64), EPBENCH_STEPS (20), EPBENCH_MIN_STEP_TOKENS
# (640: B = 1 runs 640 steps and B = 16 40, short steps being noisy ones) and EPBENCH_ROUTING
# (first,optimal) change what is validated; EPBENCH_ROUNDS (15) how many times each runs (each
# step's median round is kept: many short rounds spread every layout over the whole run, so
# the machine's drift falls on all of them alike); EPBENCH_VALIDATE_JOBS (bound2 oversub4)
# which jobs; bound4, 4 ranks bound two to a core, is also there.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/validate}
epbench=build/default/src/epbench
trace=${EPBENCH_TRACE:-traces/brown-moe-8e-top2.h5}
batch_sizes=${EPBENCH_BATCH_SIZES:-1,16,64}
steps=${EPBENCH_STEPS:-20}
min_step_tokens=${EPBENCH_MIN_STEP_TOKENS:-640}
routing=${EPBENCH_ROUTING:-first,optimal}
rounds=${EPBENCH_ROUNDS:-15}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$out"

# place_all NAME NODES GPUS SLOTS: every algorithm fitted on the first half; sets `layouts`.
place_all() {
  local name=$1 nodes=$2 gpus=$3 slots=$4 list=()
  for algo in round-robin balanced eplb spread colocate topo exact steptime; do
    local extra=()
    [[ $algo == exact ]] && extra=(--param sample_tokens=512)
    "$epbench" place --algo "$algo" --trace "$trace" --fit 0:50% --cluster h800 \
      --nodes "$nodes" --gpus-per-node "$gpus" --slots "$slots" "${extra[@]}" \
      -o "$out/$name.$algo.json" >/dev/null
    list+=("$out/$name.$algo.json")
  done
  layouts=$(IFS=,; echo "${list[*]}")
}

# profile_as NAME FILE: a profile FILE.profile.h5 and its cluster FILE.cluster.json, with the
# calling validate_job's ranks (np, rpn, slots, mpirun).
profile_as() {
  local name=$1 file=$2
  echo "== $name: profile ($np ranks) -> $file.profile.h5"
  "${mpirun[@]}" "$epbench" profile --trace "$trace" --ranks-per-node "$rpn" \
    --max-active "$slots" -o "$out/$file.profile.h5" | tail -n 2
  cat >"$out/$file.cluster.json" <<JSON
{"format": "epbench-cluster", "version": 1, "base": "h800", "name": "this-machine-$name",
 "nodes": $((np / rpn)), "gpus_per_node": $rpn, "profile": "$file.profile.h5"}
JSON
}

# validate_job NAME SLOTS RANKS_PER_NODE MPIRUN_ARGS...: profile, cluster JSON, validate.
validate_job() {
  local name=$1 slots=$2 rpn=$3
  shift 3
  local np=$2 mpirun=(mpirun "$@")
  place_all "$name" $((np / rpn)) "$rpn" "$slots"
  profile_as "$name" "$name"
  echo "== $name: validate on the held-out half"
  "${mpirun[@]}" "$epbench" validate --trace "$trace" --range 50%:100% --layouts "$layouts" \
    --ranks-per-node "$rpn" --cluster "$out/$name.cluster.json" --routing "$routing" \
    --batch-sizes "$batch_sizes" --steps "$steps" --min-step-tokens "$min_step_tokens" \
    --warmup 2 --no-baseline --rounds "$rounds" \
    --report "$out/$name.json"
  # The machine drifts over minutes (the probes): the served run is priced from a profile
  # taken right before it, as a user would profile before serving.
  profile_as "$name" "$name.serve"
  echo "== $name: a served schedule (serve --schedule-out, round-robin) run for real"
  "$epbench" serve --trace "$trace" --range 50%:100% --layouts "$out/$name.round-robin.json" \
    --cluster "$out/$name.serve.cluster.json" --step-cost moe --requests 30 --rate 4 \
    --policy chunked --token-budget 256 --schedule-out "$out/$name.schedule.h5" \
    -o "$out/$name.serve.h5" >/dev/null
  "${mpirun[@]}" "$epbench" validate --trace "$trace" --layouts "$out/$name.round-robin.json" \
    --schedule "$out/$name.schedule.h5" --ranks-per-node "$rpn" \
    --cluster "$out/$name.serve.cluster.json" --rounds "$rounds" --report "$out/$name.schedule.json" |
    grep -E "^(TTFT|TPOT)|TTFT own"
}

jobs=${EPBENCH_VALIDATE_JOBS:-bound2 oversub4}
reports=()
for job in $jobs; do
  case $job in
    bound2) validate_job bound2 5 2 -np 2 --bind-to core ;;
    # More ranks than cores: waiting ranks yield the core instead of spinning.
    oversub4) validate_job oversub4 3 2 -np 4 --oversubscribe --bind-to none \
                --mca mpi_yield_when_idle 1 ;;
    # The same 4 ranks bound two to a core (0 and 2 on one, 1 and 3 on the other).
    bound4) validate_job bound4 3 2 -np 4 --oversubscribe --map-by core \
              --bind-to core:overload-allowed --mca mpi_yield_when_idle 1 ;;
    *) echo "scripts/validate.sh: unknown job '$job' (bound2, oversub4, bound4)" >&2; exit 2 ;;
  esac
  reports+=("$out/$job.json" "$out/$job.schedule.json")
done
PYTHONPATH=analysis /usr/bin/python3 -m epbench_analysis.validation "${reports[@]}" -o "$out"

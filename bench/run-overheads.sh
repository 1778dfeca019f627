#!/usr/bin/env bash
# The MPI benchmark's overheads over raw baselines measured in the same job (docs/benchmarks.md,
# docs/run.md "Raw baselines"): our dispatch + combine over bare MPI_Alltoallv calls of the same
# byte matrices, both repeated --baseline-reps times on hot buffers (medians, OSU-style), with
# and without the count exchange; expert compute over bare GEMMs of the same shapes.
# The configuration of issue 13's target: 2 ranks bound to cores, round-robin on 1 x 2,
# d_model 256 (brown-moe-8e-top2's true size), fp32, B = 16, 32, 64, the job run RUNS times.
#   bench/run-overheads.sh [TRACE] [OUT_DIR] [RUNS]  (traces/brown-moe-8e-top2.h5, out/bench, 3)
# Run it on a quiet machine: the ratios are of microsecond exchanges.
set -euo pipefail
cd "$(dirname "$0")/.."
trace=${1:-traces/brown-moe-8e-top2.h5}
out=${2:-out/bench}
runs=${3:-3}
epbench=build/default/src/epbench
mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$epbench" place --algo round-robin --trace "$trace" --fit 0:50% --nodes 1 --gpus-per-node 2 \
  -o "$out/rr-1x2.json" >/dev/null
echo "run  B   tok/step  a2a x  a2a-c x  gemm x   (target: a2a-c x <= 1.25)"
for run in $(seq "$runs"); do
  mpirun -np 2 --bind-to core "$epbench" run --trace "$trace" --layouts "$out/rr-1x2.json" \
    --batch-sizes 16,32,64 --steps 30 --routing first -o "$out/overheads.$run.h5" |
    awk -v run="$run" '$1 ~ /^rr-1x2/ {printf "%-4s %-3s %8s %6s %8s %7s\n", run, $3, $4, $(NF-2), $(NF-1), $NF}'
done
echo "a2a x = dispatch+combine / raw MPI_Alltoallv (a2a-c x: without the count exchange);"
echo "gemm x = compute / raw GEMMs; medians over (step, layer) of the slowest rank's times"

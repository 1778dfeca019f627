#!/usr/bin/env bash
# The MPI benchmark's overhead over raw baselines measured in the same job (docs/benchmarks.md):
# dispatch + combine over bare MPI_Alltoallv of the same byte matrices, expert compute over
# bare GEMMs of the same shapes, at 4 ranks in 2 virtual nodes. Usage:
#   bench/run-overheads.sh [TRACE] [OUT_DIR]     (defaults: out/mixtral-synth.h5, out/bench)
# Run it on a quiet machine: 4 ranks share the cores, so other work skews both sides.
set -euo pipefail
cd "$(dirname "$0")/.."
trace=${1:-out/mixtral-synth.h5}
out=${2:-out/bench}
epbench=build/default/src/epbench
mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
"$epbench" place --algo round-robin --trace "$trace" --fit 0:50% --nodes 2 --gpus-per-node 2 \
  -o "$out/rr-2x2.json" >/dev/null
mpirun -np 4 --oversubscribe "$epbench" run --trace "$trace" --layouts "$out/rr-2x2.json" \
  --ranks-per-node 2 --d-model 1024 --d-ff 3584 --batch-sizes 16,64,256 --steps 10 \
  --routing first -o "$out/overheads.h5"
echo
echo "ratios (target <= 1.10): a2a x = dispatch+combine / raw MPI_Alltoallv; gemm x = compute / raw GEMMs"

#!/usr/bin/env bash
# Builds epbench against MPICH (the lineage of Cray MPICH, Intel MPI and MVAPICH) in
# build/mpich and runs the MPI tests there, then a 3-rank `run --check` (an odd rank count).
# Usage: scripts/test-mpich.sh   (EPBENCH_WERROR=ON turns warnings into errors)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${EPBENCH_JOBS:-$(nproc)}
build=build/mpich
mpiexec=$(command -v mpiexec.mpich) || { echo "mpiexec.mpich not found: apt-get install mpich libmpich-dev" >&2; exit 1; }

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DMPI_C_COMPILER=mpicc.mpich -DMPI_CXX_COMPILER=mpicxx.mpich -DMPIEXEC_EXECUTABLE="$mpiexec" \
  -DEPBENCH_WITH_CUDA=OFF -DEPBENCH_WITH_NCCL=OFF -DEPBENCH_BUILD_BENCHMARKS=OFF \
  ${EPBENCH_WERROR:+-DEPBENCH_WERROR=$EPBENCH_WERROR} | grep -E "epbench:|MPI" || true
cmake --build "$build" -j "$jobs" --target epbench test_run_mpi test_run_faults test_topology \
  test_topology_cli test_sim_core_only test_validate_mpi test_device_allocations
ldd "$build/src/epbench" | grep -E "libmpi|mpich"
if ldd "$build/src/epbench" | grep -q "openmpi\|libmpi_cxx\|open-pal"; then
  echo "FAIL: the MPICH build links OpenMPI" >&2
  exit 1
fi
# MPICH busy-polls: more ranks than cores (4, 8 on CI's 2) make the full-size RunMpi cases
# crawl, so those two run under OpenMPI only; topology runs at 2, 3, 4 and 8 ranks here too.
ctest --test-dir "$build" -j "$jobs" --output-on-failure --timeout 600 \
  -R '^(topology|RunMpi|Ranks/RunMpi\.|RunFaults\.|run_killed\.|core_only\.|ValidateMpi\.|device_allocations)' \
  -E 'RunMpi\..*/np[48] '

echo "== mpiexec.mpich -n 3 epbench run --check"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trace=traces/brown-moe-8e-top2.h5
"$build/src/epbench" place --trace "$trace" --fit 0%:50% --algo eplb --nodes 1 --gpus-per-node 3 \
  --slots 4 -o "$work/eplb.json"
"$mpiexec" -n 3 "$build/src/epbench" run --trace "$trace" --layouts "$work/eplb.json" --check \
  --scale 0.0625 --steps 4 --warmup 1 --batch-sizes 1,16 -o "$work/run.h5"
configs=$(h5ls "$work/run.h5/runs" | wc -l)
[[ $configs -eq 2 ]] || { echo "FAIL: expected 2 configurations in $work/run.h5, found $configs" >&2; exit 1; }
echo "ok: MPICH build, MPI tests and a 3-rank checked run"

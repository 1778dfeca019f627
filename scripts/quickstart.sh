#!/usr/bin/env bash
# Installs what is missing, builds epbench, and runs the main job on the shipped default data:
# a synthetic Mixtral-8x7B trace calibrated to the real Mixtral routing counts
# (third_party/olmoe-routing-analysis), its routing statistics, a placement with every
# algorithm fitted on the first half, their predicted cost on the second half, and then
# `epbench run` for real: 4 MPI ranks in 2 virtual nodes, real SwiGLU experts (OpenBLAS) and
# real all-to-alls, measured next to the cost model calibrated on this machine.
# Outputs go to out/ (override with EPBENCH_OUT).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${EPBENCH_OUT:-out}
jobs=${EPBENCH_JOBS:-$(nproc)}

bash third_party/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default -j "$jobs" --target epbench
epbench=build/default/src/epbench
mkdir -p "$out/layouts"
trace=$out/mixtral-synth.h5
shape=(--cluster h800 --nodes 2 --gpus-per-node 4)

echo "== trace synth: 1000 requests of Mixtral-8x7B, calibrated to real Mixtral counts"
"$epbench" trace synth --model mixtral-8x7b --calibrate mixtral --requests 1000 --seed 1 -o "$trace"
echo
echo "== trace stats (calibrated layers; every layer in $out/mixtral-synth.stats.h5)"
"$epbench" trace stats "$trace" --layers 0,7,15,31 --top-pairs 3 \
  --output "$out/mixtral-synth.stats.h5"
echo
# place_all PREFIX SLOTS SHAPE...: every algorithm fitted on the first half; the layouts' paths
# go to the array `placed`.
place_all() {
  local prefix=$1 slots=$2
  shift 2
  placed=()
  for algo in round-robin balanced eplb spread colocate topo exact; do
    local extra=()
    [[ $algo == exact ]] && extra=(--param sample_tokens=512)
    "$epbench" place --algo "$algo" --trace "$trace" --fit 0:50% "$@" --slots "$slots" \
      "${extra[@]}" -o "$out/layouts/$prefix$algo.json"
    placed+=("$out/layouts/$prefix$algo.json")
  done
}

echo "== place: every algorithm, fitted on the first half, 2 nodes x 4 GPUs x 2 slots"
place_all "" 2 "${shape[@]}"
layouts=("${placed[@]}")
echo
echo "== evaluate on the held-out half"
"$epbench" evaluate --trace "$trace" --test 50%:100% "${shape[@]}" \
  --layouts "$(IFS=,; echo "${layouts[*]}")" --routing first,optimal \
  --batch-sizes 1,64,256 --steps 300 -o "$out/evaluate.h5"
echo
# mpirun refuses root unless told; 4 ranks on fewer cores need --oversubscribe.
# Waiting ranks yield the core: with more ranks than cores, spinning starves the rank awaited.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
mpirun=(mpirun -np 4 --oversubscribe)
small=(--ranks-per-node 2 --scale 0.0625)  # d_model 256, d_ff 896: fits any laptop
run_shape=(--cluster h800 --nodes 2 --gpus-per-node 2)
echo "== place for the real run: every algorithm on 2 nodes x 2 GPUs x 3 slots"
place_all run- 3 "${run_shape[@]}" >/dev/null
run_layouts=("${placed[@]}")
echo "== calibrate the cost model on this machine (a short run of round-robin)"
"${mpirun[@]}" "$epbench" run --trace "$trace" --layouts "${run_layouts[0]}" "${small[@]}" \
  --batch-sizes 1,64 --prefill-chunk 256 --steps 4 --warmup 1 --routing first,least-loaded \
  -o "$out/calibration-run.h5" >/dev/null
"$epbench" calibrate "$out/calibration-run.h5" -o "$out/cluster-this-machine.json" | tail -n 12
echo
echo "== run: 4 MPI ranks (2 virtual nodes x 2), every layout, measured and predicted"
"${mpirun[@]}" "$epbench" run --trace "$trace" --layouts "$(IFS=,; echo "${run_layouts[*]}")" \
  "${small[@]}" --cluster "$out/cluster-this-machine.json" --batch-sizes 1,16,64 --steps 5 \
  --warmup 1 --routing least-loaded --check -o "$out/run.h5"
echo
echo "outputs in $out/: mixtral-synth.h5 (trace), mixtral-synth.stats.h5 (statistics),"
echo "layouts/*.json (placements), evaluate.h5 (predicted step costs, docs/evaluate.md),"
echo "cluster-this-machine.json (calibrated), run.h5 (measured, docs/run.md)"

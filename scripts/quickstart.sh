#!/usr/bin/env bash
# Installs what is missing, builds epbench, and runs the main job on the shipped default data:
# a synthetic Mixtral-8x7B trace calibrated to the real Mixtral routing counts
# (third_party/olmoe-routing-analysis), its routing statistics, a placement with every
# algorithm fitted on the first half, and their predicted cost on the second half.
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
echo "== place: every algorithm, fitted on the first half, 2 nodes x 4 GPUs x 2 slots"
layouts=()
for algo in round-robin balanced eplb spread colocate topo exact; do
  extra=()
  [[ $algo == exact ]] && extra=(--param sample_tokens=512)
  "$epbench" place --algo "$algo" --trace "$trace" --fit 0:50% "${shape[@]}" --slots 2 \
    "${extra[@]}" -o "$out/layouts/$algo.json"
  layouts+=("$out/layouts/$algo.json")
done
echo
echo "== evaluate on the held-out half"
"$epbench" evaluate --trace "$trace" --test 50%:100% "${shape[@]}" \
  --layouts "$(IFS=,; echo "${layouts[*]}")" --routing first,optimal \
  --batch-sizes 1,64,256 --steps 300 -o "$out/evaluate.h5"
echo
echo "outputs in $out/: mixtral-synth.h5 (trace), mixtral-synth.stats.h5 (statistics),"
echo "layouts/*.json (placements), evaluate.h5 (predicted step costs, docs/evaluate.md)"

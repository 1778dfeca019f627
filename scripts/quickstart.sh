#!/usr/bin/env bash
# Installs what is missing, builds epbench, and runs the main job on the shipped default data:
# a synthetic Mixtral-8x7B trace calibrated to the real Mixtral routing counts
# (third_party/olmoe-routing-analysis), then its routing statistics.
# Outputs go to out/ (override with EPBENCH_OUT).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${EPBENCH_OUT:-out}
jobs=${EPBENCH_JOBS:-$(nproc)}

bash third_party/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default -j "$jobs" --target epbench
epbench=build/default/src/epbench
mkdir -p "$out"

echo "== epbench trace synth: 2000 requests of Mixtral-8x7B, calibrated to real Mixtral counts"
"$epbench" trace synth --model mixtral-8x7b --calibrate mixtral --requests 2000 --seed 1 \
  -o "$out/mixtral-synth.h5"
echo
echo "== epbench trace stats"
"$epbench" trace stats "$out/mixtral-synth.h5" --layers 0,7,15,31 --top-pairs 3 \
  --output "$out/mixtral-synth.stats.h5"
echo
echo "outputs: $out/mixtral-synth.h5 (trace), $out/mixtral-synth.stats.h5 (statistics)"

#!/usr/bin/env bash
# Regenerates the reference layouts in this folder (bit for bit: every step is seeded).
# Usage: layouts/make-layouts.sh [path/to/epbench]   (default: build/default/src/epbench)
set -euo pipefail
cd "$(dirname "$0")/.."
epbench=${1:-build/default/src/epbench}
# The traces the layouts are fitted on; a fixed, repository-relative path, since each
# layout records it (fitted_on.trace).
work=out/layout-traces
mkdir -p "$work"

# model  cluster  nodes  gpus/node  slots  requests  algorithms
pairs=(
  "mixtral-8x7b h800 2 4 2 400 round-robin balanced eplb spread colocate topo exact steptime"
  "olmoe-1b-7b h100 2 4 10 200 round-robin balanced eplb spread colocate topo steptime"
  "deepseek-v3 h800 4 8 9 60 round-robin balanced eplb spread colocate topo steptime"
)
for line in "${pairs[@]}"; do
  read -r model cluster nodes gpn slots requests algos <<<"$line"
  trace="$work/$model.h5"
  "$epbench" trace synth --model "$model" --requests "$requests" --seed 1 -o "$trace" >/dev/null
  for algo in $algos; do
    out="layouts/$model.${nodes}x${gpn}.$algo.json"
    extra=()
    [[ $algo == exact ]] && extra=(--param sample_tokens=512)  # keeps the search short
    "$epbench" place --algo "$algo" --trace "$trace" --fit 0:50% --cluster "$cluster" \
      --nodes "$nodes" --gpus-per-node "$gpn" --slots "$slots" --seed 1 "${extra[@]}" \
      -o "$out" >/dev/null
    echo "$out"
  done
done

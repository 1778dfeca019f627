#!/usr/bin/env bash
# The placement study (docs/study-placement.md): every placement algorithm x routing on held-out
# tokens, priced by the cost model at realistic expert sizes, for 0, 1 and 2 spare slots per GPU
# and batch sizes 1 to 256 (decode steps: B concurrent requests, one token each). `steptime` is
# placed for each batch size (its target workload); the others do not take one.
# Usage: scripts/study-placement.sh [OUT_DIR]   (default out/study-placement; ~25 min on 2 cores)
# Then: /usr/bin/python3 -m epbench_analysis.study_placement OUT_DIR  (run from analysis/)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/study-placement}
epbench=${EPBENCH:-build/default/src/epbench}
steps=${EPBENCH_STUDY_STEPS:-100}
algos=(round-robin balanced eplb spread colocate topo)
mkdir -p "$out/traces"

# Synthetic traces of the large models (calibrated to OLMoE's real router counts).
# Enough requests that the held-out half fills batches of 256, all of one decode length so that
# a static batch keeps its size to the end (evaluate runs each batch until its last request ends).
synth=(--requests 1200 --prompt-len 8 --decode-len 64)
[[ -f $out/traces/olmoe.h5 ]] ||
  "$epbench" trace synth --model olmoe-1b-7b "${synth[@]}" --seed 11 -o "$out/traces/olmoe.h5"
[[ -f $out/traces/deepseek-v3.h5 ]] ||
  "$epbench" trace synth --model deepseek-v3 "${synth[@]}" --seed 12 \
    -o "$out/traces/deepseek-v3.h5"

# cell NAME TRACE PRICE_AS NODES GPUS_PER_NODE BASE_SLOTS BATCHES
cell() {
  local name=$1 trace=$2 price=$3 nodes=$4 gpn=$5 base=$6
  local batches
  read -r -a batches <<<"$7"
  for spare in 0 1 2; do
    local slots=$((base + spare)) dir="$out/$name/spare$spare"
    mkdir -p "$dir"
    local shape=(--trace "$trace" --nodes "$nodes" --gpus-per-node "$gpn" --price-as "$price")
    local layouts=()
    for algo in "${algos[@]}"; do
      "$epbench" place --algo "$algo" "${shape[@]}" --fit 0:50% --slots "$slots" \
        -o "$dir/$algo.json" >/dev/null
      layouts+=("$dir/$algo.json")
    done
    for b in "${batches[@]}"; do
      "$epbench" place --algo steptime "${shape[@]}" --fit 0:50% --slots "$slots" \
        --param batch_sizes="$b" -o "$dir/steptime.b$b.json" >/dev/null
      "$epbench" evaluate "${shape[@]}" --test 50%:100% --prefill-chunk 0 --steps "$steps" \
        --layouts "$(IFS=,; echo "${layouts[*]}"),$dir/steptime.b$b.json" \
        --routing first,optimal,min-time --batch-sizes "$b" -o "$dir/b$b.h5" >/dev/null
      echo "study: $name spare $spare B=$b done"
    done
  done
}

# The Brown traces' held-out halves have 50 requests: batches up to 32.
cell brown-8e traces/brown-moe-8e-top2.h5 mixtral-8x7b 2 4 1 "1 8 32"
cell brown-32e traces/brown-moe-32e-top4.h5 mixtral-8x7b 2 4 4 "1 8 32"
cell olmoe "$out/traces/olmoe.h5" olmoe-1b-7b 4 8 2 "1 16 64 256"
cell deepseek-v3 "$out/traces/deepseek-v3.h5" deepseek-v3 4 8 8 "1 16 64 256"
# The other cluster of each: 4 x 8 for the 32-expert Brown trace (one expert per GPU), 2 x 4 for
# the synthetic ones.
cell brown-32e-4x8 traces/brown-moe-32e-top4.h5 mixtral-8x7b 4 8 1 "1 8 32"
cell olmoe-2x4 "$out/traces/olmoe.h5" olmoe-1b-7b 2 4 8 "1 16 64 256"
cell deepseek-v3-2x4 "$out/traces/deepseek-v3.h5" deepseek-v3 2 4 32 "1 16 64 256"

# Serving: goodput under an SLO across arrival rates (docs/serve.md), brown-8e at Mixtral-8x7B's
# sizes with one spare slot per GPU; steptime placed for its default batch-size mix.
dir="$out/brown-8e/spare1"
shape=(--trace traces/brown-moe-8e-top2.h5 --nodes 2 --gpus-per-node 4)
"$epbench" place --algo steptime "${shape[@]}" --fit 0:50% --slots 3 --price-as mixtral-8x7b \
  -o "$dir/steptime.mix.json" >/dev/null
"$epbench" serve "${shape[@]}" --range 50%:100% --model mixtral-8x7b --routing min-time \
  --layouts "$dir/round-robin.json,$dir/eplb.json,$dir/spread.json,$dir/topo.json,$dir/steptime.mix.json" \
  --policy chunked --rate 400,800,1600,3200 --requests 400 --slo-ttft 500ms --slo-tpot 1.5ms \
  -o "$out/serve-brown-8e.h5" | tee "$out/serve-brown-8e.txt"

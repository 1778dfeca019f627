#!/usr/bin/env bash
# The scale benchmark of docs/benchmarks.md: DeepSeek-V3 (58 MoE layers, 256 experts, top-8)
# on 1,024 GPUs (128 nodes x 8), `evaluate` and `serve` over 1M trace tokens.
#
#   bench/deepseek-1024.sh DIR [EPBENCH]
#
# Builds its inputs in DIR (skipping those that exist): a synthetic trace of FIT + TOKENS
# tokens, an EPLB layout fitted on its first FIT tokens; then runs `evaluate` on the other
# TOKENS, then `serve` on their requests, under /usr/bin/time -v, and prints wall time, peak
# RSS and the results file's size.
# Knobs (environment): TOKENS (1000000), FIT (250000), SLOTS per GPU (2), BATCH_SIZES
# (64,256,1024), ROUTING (first), THREADS (unset: one per core), EXTRA (more evaluate
# options, e.g. --cubes), RATES (serve: 20,200 requests/s).
set -euo pipefail

dir=${1:?usage: bench/deepseek-1024.sh DIR [EPBENCH]}
epbench=${2:-build/default/src/epbench}
tokens=${TOKENS:-1000000}
fit=${FIT:-250000}
slots=${SLOTS:-2}
batch_sizes=${BATCH_SIZES:-64,256,1024}
routing=${ROUTING:-first}
shape=(--cluster h800 --nodes 128 --gpus-per-node 8)
mkdir -p "$dir"

trace=$dir/deepseek-v3.$((fit + tokens)).h5
if [[ ! -f $trace ]]; then
  echo "== trace synth: $((fit + tokens)) tokens"
  "$epbench" trace synth --model deepseek-v3 --tokens $((fit + tokens)) --seed 1 -o "$trace"
fi

layout=$dir/deepseek-v3.128x8.s$slots.eplb.json
if [[ ! -f $layout ]]; then
  echo "== place: eplb on the first $fit tokens, 128 x 8 GPUs, $slots slots each"
  "$epbench" place --algo eplb --trace "$trace" --fit 0:$fit "${shape[@]}" --slots "$slots" \
    -o "$layout"
fi

# measure NAME COMMAND...: runs it under /usr/bin/time -v and prints wall time and peak RSS.
measure() {
  local name=$1 log=$dir/$1.time.txt
  shift
  /usr/bin/time -v -o "$log" "$@"
  local wall rss
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log")
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log")
  echo "$name: wall $wall, peak RSS $((rss / 1024)) MB"
}

results=$dir/evaluate.h5
echo "== evaluate: tokens $fit:$((fit + tokens)), batch sizes $batch_sizes, routing $routing"
measure evaluate "$epbench" evaluate --trace "$trace" --layouts "$layout" "${shape[@]}" \
  --range $fit:$((fit + tokens)) --batch-sizes "$batch_sizes" --routing "$routing" \
  ${THREADS:+--threads "$THREADS"} ${EXTRA:-} -o "$results"
echo "evaluate: results $(du -m "$results" | cut -f1) MB ($(stat -c %s "$results") bytes)"

# serve: the same 1M tokens' requests served at two Poisson rates with chunked prefill,
# the two runs in parallel (one per core).
results=$dir/serve.h5
echo "== serve: tokens $fit:$((fit + tokens)), rates ${RATES:-20,200}, chunked, routing $routing"
measure serve "$epbench" serve --trace "$trace" --layouts "$layout" "${shape[@]}" \
  --range $fit:$((fit + tokens)) --rate "${RATES:-20,200}" --policy chunked \
  --token-budget 65536 --slo-ttft 2s --slo-tpot 100ms --routing "$routing" -o "$results"
echo "serve: results $(du -m "$results" | cut -f1) MB ($(stat -c %s "$results") bytes)"

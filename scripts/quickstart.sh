#!/usr/bin/env bash
# Installs what is missing, builds epbench, and runs the main job on the shipped default data:
# the routing trace of the Mixtral-like MoE model trained on the Brown corpus
# (traces/brown-moe-8e-top2.h5, traces/README.md), its routing statistics, a placement with
# every algorithm fitted on the first half, their predicted cost on the second half, and then
# `epbench run` for real: 4 MPI ranks in 2 virtual nodes, real SwiGLU experts (OpenBLAS) of the
# model's true sizes and real all-to-alls, measured next to the cost model calibrated on this
# machine; last, the report of that run (figures and tables, docs/analysis.md).
# Outputs go to out/ (override with EPBENCH_OUT; EPBENCH_TRACE picks another trace).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${EPBENCH_OUT:-out}
jobs=${EPBENCH_JOBS:-$(nproc)}

bash third_party/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default -j "$jobs" --target epbench
epbench=build/default/src/epbench
mkdir -p "$out/layouts"
trace=${EPBENCH_TRACE:-traces/brown-moe-8e-top2.h5}
shape=(--cluster h800 --nodes 2 --gpus-per-node 4)

echo "== trace: $trace"
"$epbench" trace info "$trace" | grep -E '^(model|dataset|tokens|requests|valid)'
echo
echo "== trace stats (every figure also in $out/trace.stats.h5)"
"$epbench" trace stats "$trace" --top-pairs 3 --output "$out/trace.stats.h5"
echo
# place_all PREFIX SLOTS SHAPE...: every algorithm fitted on the first half; the layouts' paths
# go to the array `placed`.
place_all() {
  local prefix=$1 slots=$2
  shift 2
  placed=()
  for algo in round-robin balanced eplb spread colocate topo exact steptime; do
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
echo "== the EPLB placement as inference engines load it (docs/engines.md)"
mkdir -p "$out/engines"
for target in sglang.json trtllm.yaml vllm-ascend.json eplb.json; do
  "$epbench" layout export "$out/layouts/eplb.json" --format "${target%.*}" \
    -o "$out/engines/eplb.$target"
done
echo
echo "== evaluate on the held-out half"
"$epbench" evaluate --trace "$trace" --test 50%:100% "${shape[@]}" \
  --layouts "$(IFS=,; echo "${layouts[*]}")" --routing first,optimal,min-time \
  --batch-sizes 1,16,64 --steps 300 -o "$out/evaluate.h5"
echo
echo "== serve: many requests at once, an arrival-rate sweep on the held-out half (docs/serve.md)"
echo "   priced at Mixtral-8x7B sizes (same 8 experts, top-2); the MoE layers are the trace's 4"
"$epbench" serve --trace "$trace" --range 50%:100% --model mixtral-8x7b "${shape[@]}" \
  --layouts "$out/layouts/round-robin.json,$out/layouts/eplb.json,$out/layouts/topo.json,$out/layouts/steptime.json" \
  --policy fcfs,chunked,decode-first,slo-aware --rate 100,200,400 --requests 400 \
  --slo-ttft 500ms --slo-tpot 2ms -o "$out/serve.h5"
echo
# mpirun refuses root unless told; 4 ranks on fewer cores need --oversubscribe.
# Waiting ranks yield the core: with more ranks than cores, spinning starves the rank awaited.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
mpirun=(mpirun -np 4 --oversubscribe)
small=(--ranks-per-node 2)
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
echo
echo "== report of the run (docs/analysis.md)"
PYTHONPATH=analysis /usr/bin/python3 -m epbench_analysis report "$out/run.h5" "$out/serve.h5" -o "$out/report"
echo
echo "outputs in $out/: trace.stats.h5 (statistics), layouts/*.json (placements),"
echo "engines/ (the EPLB placement for SGLang, TensorRT-LLM, vLLM-Ascend, EPLB),"
echo "evaluate.h5 (predicted step costs, docs/evaluate.md), serve.h5 (predicted serving, docs/serve.md),"
echo "cluster-this-machine.json (calibrated),"
echo "run.h5 (measured, docs/run.md), report/report.md and report/report.html with figures"

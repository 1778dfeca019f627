#!/usr/bin/env bash
# The prepared device check (issue 16): on a machine with one NVIDIA GPU (H100/H200, CUDA 13,
# -arch=sm_90), in under 8 minutes: build with CUDA and NCCL, run the GPU tests, check the GPU
# expert FFN against the CPU reference in fp32 and bf16 (`run --check`), and benchmark the
# cuBLAS FFN: TFLOP/s at 4,096 tokens per expert (target >= 70 % of 788 bf16 TFLOP/s) and the
# weight stream at one token (target >= 80 % of 4.3 TB/s), Mixtral-8x7B expert sizes, one expert
# per call and E experts in one grouped call (BM_FfnGroup, with its phase times). With one
# GPU, NCCL cannot put several ranks on it: the NCCL-vs-MPI byte comparison needs 2 GPUs and is
# skipped (said so). Usage: scripts/gpu-check.sh [OUT] (default out/gpu-check).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/gpu-check}
jobs=${EPBENCH_JOBS:-$(nproc)}
mkdir -p "$out"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || {
  echo "gpu-check: no usable NVIDIA GPU here (nvidia-smi failed): nothing to check" >&2
  exit 1
}

echo "== build (CUDA, NCCL, sm_90)"
cmake --preset default -DEPBENCH_WITH_CUDA=ON -DEPBENCH_WITH_NCCL=ON >/dev/null
cmake --build --preset default -j "$jobs" --target epbench bench_ffn test_gpu test_pack_plan \
  test_shards test_device_allocations test_ffn_group >/dev/null
epbench=build/default/src/epbench

echo "== GPU tests"
ctest --test-dir build/default --output-on-failure -R '^(Gpu\.|PackPlan\.|Shards\.|FfnGroup\.|ExpertCompute\.|device_allocations)'

echo "== GPU FFN against the CPU reference (run --check, one rank, every token)"
trace=traces/brown-moe-8e-top2.h5
"$epbench" place --algo round-robin --trace "$trace" --fit 0:50% --nodes 1 --gpus-per-node 1 \
  -o "$out/rr-1x1.json" >/dev/null
for dtype in fp32 bf16; do
  mpirun -np 1 "$epbench" run --trace "$trace" --layouts "$out/rr-1x1.json" --backend cuda \
    --dtype "$dtype" --check --batch-sizes 1,64 --steps 5 -o "$out/check-$dtype.h5" | tail -n 3
  h5dump -a /runs/rr-1x1.first.b64/check_max_error "$out/check-$dtype.h5" | grep '(0)' |
    sed "s/^/  $dtype check_max_error (the run fails above its derived tolerance): /"
done
echo "== NCCL bytes against MPI's: skipped, one GPU (NCCL takes one rank per GPU)"

echo "== cuBLAS expert FFN, Mixtral-8x7B sizes (4096 x 14336)"
EPBENCH_FFN_D_MODEL=4096 EPBENCH_FFN_D_FF=14336 build/default/bench/bench_ffn \
  --benchmark_filter='BM_Ffn(Group)?/[12]/' --benchmark_min_time=0.2 \
  --benchmark_out="$out/bench_ffn.json" --benchmark_out_format=json | tee "$out/bench_ffn.txt"
/usr/bin/python3 - "$out/bench_ffn.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))["benchmarks"]
print(f"{'case':42s} {'TFLOP/s':>8s} {'TB/s':>6s}  target")
for r in rows:
    if r.get("error_occurred"):
        print(f"{r['name']:42s} skipped: {r.get('error_message', '')}")
        continue
    # BM_Ffn/kind/tokens/gemms, BM_FfnGroup/kind/experts/tokens (tokens per expert)
    name, kind, a, b = r["name"].split("/")[:4]
    experts, tokens = (a, b) if name == "BM_FfnGroup" else ("1", a)
    tf, tb = r["TFLOP"], r["weights_TB"]
    target = ""
    if kind == "2" and tokens == "4096":
        target = f"TFLOP/s >= {0.7 * 788:.0f}: {'met' if tf >= 0.7 * 788 else 'NOT met'}"
    if kind == "2" and tokens == "1":
        target = f"TB/s >= {0.8 * 4.3:.2f}: {'met' if tb >= 0.8 * 4.3 else 'NOT met'}"
    phases = " ".join(f"{p}={r[p + '_us']:.0f}us" for p in ("h2d", "gate_up", "act", "down", "d2h")
                      if p + "_us" in r)
    print(f"{r['label']:34s} E={experts:>2s} n={tokens:>5s} {tf:8.1f} {tb:6.2f}  {target} {phases}")
PY

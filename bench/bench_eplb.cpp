// eplb at DeepSeek-V3 scale: 58 MoE layers x 256 experts, 288 slots (32 GPUs x 9) on 4 nodes,
// 8 expert groups (hierarchical policy). Target <= 50 ms (docs/benchmarks.md); DeepSeek's
// PyTorch eplb.py takes about 0.8 s for this shape on a CPU.
#include <benchmark/benchmark.h>

#include <cmath>

#include "common/rng.h"
#include "placement/common.h"
#include "placement/eplb.h"

namespace {

using namespace epbench;

// Skewed loads like a real router's: a few hot experts, a long tail.
std::vector<std::vector<double>> deepseek_loads() {
  Rng rng(42);
  std::vector<std::vector<double>> w(58, std::vector<double>(256));
  for (auto& row : w)
    for (double& x : row) x = std::floor(1e6 * std::pow(rng.uniform(), 4.0));
  return w;
}

void BM_EplbRebalance(benchmark::State& state) {
  const auto w = deepseek_loads();
  const int groups = static_cast<int>(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(eplb_rebalance(w, 288, groups, 4, 32));
  state.SetLabel(groups % 4 == 0 ? "hierarchical" : "global");
}
BENCHMARK(BM_EplbRebalance)->Arg(8)->Arg(1)->Unit(benchmark::kMillisecond);

// The whole registry entry: loads from stats, eplb, layout building.
void BM_EplbPlace(benchmark::State& state) {
  const auto w = deepseek_loads();
  TraceStats s;
  s.num_layers = 58;
  s.num_experts = 256;
  s.top_k = 8;
  for (const auto& row : w)
    for (double x : row) s.load.push_back(static_cast<uint64_t>(x));
  ClusterSpec c;
  c.nodes = 4;
  c.gpus_per_node = 8;
  c.slots_per_gpu = 9;
  const PlacementAlgorithm& eplb = find_placement("eplb");
  for (auto _ : state)
    benchmark::DoNotOptimize(eplb.place({"deepseek-v3", s, c, 1, nlohmann::json::object()}));
}
BENCHMARK(BM_EplbPlace)->Unit(benchmark::kMillisecond);

}  // namespace

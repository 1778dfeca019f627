// Evaluator throughput (docs/benchmarks.md): token-layer routings priced per second, for a
// DeepSeek-V3 shape (58 MoE layers, 256 experts, top-8) on 8 nodes x 8 GPUs with 5 slots per
// GPU (64 replicas of hot experts), batches of 256 decode tokens. One thread.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <random>

#include "costmodel/cost_model.h"
#include "routing/batching.h"
#include "routing/routing.h"
#include "sim/evaluate.h"

namespace epbench {
namespace {

constexpr int kLayers = 58, kExperts = 256, kTopK = 8, kNodes = 8, kGpn = 8, kSlots = 5;
constexpr size_t kTokens = 8192, kBatch = 256;

ClusterSpec bench_cluster() {
  ClusterSpec c;
  c.name = "bench-h800";
  c.nodes = kNodes;
  c.gpus_per_node = kGpn;
  c.slots_per_gpu = kSlots;
  c.same_node = {3e-6, 160e9};
  c.other_node = {6e-6, 50e9};
  c.gpu_flops = 989e12;
  c.hbm_bandwidth_Bps = 3.35e12;
  return c;
}

// Skewed choices (Zipf-like weights), so replicas and balance matter as in real traces.
TokenBlock bench_tokens(std::mt19937& rng) {
  TokenBlock b;
  b.num_layers = kLayers;
  b.top_k = kTopK;
  b.resize(kTokens, false);
  std::vector<double> w(kExperts);
  for (int e = 0; e < kExperts; ++e) w[static_cast<size_t>(e)] = 1.0 / (1 + e % 64);
  std::discrete_distribution<int> pick(w.begin(), w.end());
  for (size_t t = 0; t < kTokens; ++t)
    for (int l = 0; l < kLayers; ++l) {
      uint16_t* ids = b.experts(t, l);
      for (int j = 0; j < kTopK; ++j) {
        uint16_t e = 0;
        do e = static_cast<uint16_t>(pick(rng));
        while (std::find(ids, ids + j, e) != ids + j);
        ids[j] = e;
      }
    }
  return b;
}

// Experts round-robin over the first 4 slots of each GPU, then replicas of experts 0..63
// (the heaviest under bench_tokens) in the fifth slot, on another node.
std::vector<LayerReplicas> bench_replicas() {
  LayerPlacement p;
  const int G = kNodes * kGpn;
  p.gpu_experts.resize(static_cast<size_t>(G));
  for (int e = 0; e < kExperts; ++e)
    p.gpu_experts[static_cast<size_t>(e % G)].push_back(static_cast<uint16_t>(e));
  for (int g = 0; g < G; ++g)
    p.gpu_experts[static_cast<size_t>(g)].push_back(static_cast<uint16_t>((g + kGpn) % G));
  return std::vector<LayerReplicas>(kLayers, make_replicas(p, kExperts, kSlots, kGpn));
}

StepPlan bench_plan() {
  StepPlan plan;
  for (size_t t = 0; t < kTokens; ++t) {
    plan.token.push_back(t);
    plan.home.push_back(static_cast<int32_t>(t % (kNodes * kGpn)));
    if ((t + 1) % kBatch == 0) {
      plan.offset.push_back(t + 1);
      plan.prefill.push_back(0);
    }
  }
  return plan;
}

void BM_EvaluatePlan(benchmark::State& state) {
  std::mt19937 rng(1);
  const TokenBlock tokens = bench_tokens(rng);
  const std::vector<LayerReplicas> replicas = bench_replicas();
  const StepPlan plan = bench_plan();
  const CostModel cost(bench_cluster(), 7168, 2048, CostOptions{state.range(1) != 0});
  Router router(static_cast<RoutingPolicy>(state.range(0)));
  ConfigResult out;
  for (auto _ : state) {
    evaluate_plan(tokens, plan, replicas, cost, router, out);
    benchmark::DoNotOptimize(out.step_time.data());
  }
  state.SetLabel(std::string(routing_name(router.policy())) +
                 (state.range(1) ? " hierarchical" : " flat"));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kTokens) * kLayers);
}
BENCHMARK(BM_EvaluatePlan)
    ->ArgsProduct({{0, 1, 2, 3, 4, 5}, {0}})
    ->Args({0, 1})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace epbench

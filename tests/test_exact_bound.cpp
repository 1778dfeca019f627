// `exact` is optimal (checked by brute force) and the lower bound is never above the predicted
// cost of any placement and routing.
#include <gtest/gtest.h>

#include <functional>

#include "common/error.h"
#include "common/rng.h"
#include "costmodel/cost_model.h"
#include "placement/algorithm.h"
#include "placement/bound.h"
#include "placement/exact.h"
#include "test_util.h"
#include "trace/stats.h"

namespace epbench {
namespace {

ClusterSpec tiny_cluster(int nodes, int gpus_per_node, int slots) {
  ClusterSpec c;
  c.name = "tiny";
  c.nodes = nodes;
  c.gpus_per_node = gpus_per_node;
  c.slots_per_gpu = slots;
  c.same_node = {2e-6, 100e9};
  c.other_node = {5e-6, 20e9};
  c.gpus_per_nic = 1;
  c.gpu_flops = 400e12;
  c.hbm_bandwidth_Bps = 2e12;
  return c;
}

// Random routing with a few favourite pairs, so placements differ in cost.
Trace random_trace(int experts, int top_k, int layers, int tokens, uint64_t seed) {
  Trace t;
  t.header.model = "test";
  t.header.num_layers = layers;
  t.header.num_experts = experts;
  t.header.top_k = top_k;
  t.header.num_tokens = static_cast<uint64_t>(tokens);
  t.header.num_requests = 1;
  t.tokens.num_layers = layers;
  t.tokens.top_k = top_k;
  t.tokens.resize(static_cast<size_t>(tokens), false);
  Rng rng(seed);
  for (int tok = 0; tok < tokens; ++tok)
    for (int l = 0; l < layers; ++l) {
      uint16_t* ids = t.tokens.experts(static_cast<size_t>(tok), l);
      bool favourite = rng.uniform() < 0.5;
      for (int k = 0; k < top_k; ++k) {
        uint16_t e;
        bool dup;
        do {
          e = favourite && k == 1 ? uint16_t((ids[0] + 1) % experts)
                                  : uint16_t(rng.below(uint64_t(experts)));
          dup = std::find(ids, ids + k, e) != ids + k;
          if (dup) favourite = false;
        } while (dup);
        ids[k] = e;
      }
    }
  t.requests.token_offset = {0, uint64_t(tokens)};
  t.requests.prompt_len = {0};
  return t;
}

using test::stats_of;

// A small representative batch keeps the brute force quick.
constexpr int kSample = 200;

// Every assignment of experts to GPUs with at most `slots` each, labels included.
double brute_force_best(const CostModel& m, const TraceStats& s, int layer) {
  const int E = s.num_experts, G = m.num_gpus();
  std::vector<int> gpu_of(size_t(E), 0), used(size_t(G), 0);
  double best = 1e300;
  std::function<void(int)> rec = [&](int e) {
    if (e == E) {
      best = std::min(best, exact_objective(m, s, layer, gpu_of, kSample));
      return;
    }
    for (int g = 0; g < G; ++g) {
      if (used[size_t(g)] == m.slots_per_gpu()) continue;
      ++used[size_t(g)];
      gpu_of[size_t(e)] = g;
      rec(e + 1);
      --used[size_t(g)];
    }
  };
  rec(0);
  return best;
}

struct Shape {
  int nodes, gpus_per_node, slots, experts, top_k;
};

TEST(Exact, MatchesBruteForceOnTinyInstances) {
  for (const Shape sh : {Shape{1, 3, 2, 6, 2}, Shape{2, 2, 2, 6, 2}, Shape{2, 2, 2, 8, 2},
                         Shape{2, 2, 1, 4, 1}, Shape{2, 2, 3, 7, 2}}) {
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      const ClusterSpec c = tiny_cluster(sh.nodes, sh.gpus_per_node, sh.slots);
      const CostModel m(c, 1024, 4096);
      const TraceStats s = stats_of(random_trace(sh.experts, sh.top_k, 1, 3000, seed));
      const std::vector<int> gpu_of = exact_layer(m, s, 0, kSample);
      const double found = exact_objective(m, s, 0, gpu_of, kSample);
      EXPECT_NEAR(found, brute_force_best(m, s, 0), 1e-12)
          << sh.nodes << "x" << sh.gpus_per_node << " slots " << sh.slots << " E " << sh.experts
          << " seed " << seed;
    }
  }
}

TEST(Exact, RefusesLargeInstances) {
  const ClusterSpec c = tiny_cluster(2, 4, 8);
  const TraceStats s = stats_of(random_trace(64, 2, 1, 200, 1));
  PlacementInput in{"test", s, c, 1, {{"d_model", 64}, {"d_ff", 64}}};
  EXPECT_THROW(find_placement("exact").place(in), InputError);
}

// A model that is no preset: the trace's sizes (PlacementInput::d_model, d_ff) price the
// layouts as the same sizes given as params do.
TEST(Exact, PricesWithTheTracesSizesWhenTheModelIsNoPreset) {
  const ClusterSpec c = tiny_cluster(2, 2, 2);
  const TraceStats s = stats_of(random_trace(8, 2, 1, 500, 3));
  const Layout by_params =
      find_placement("exact").place({"no-preset", s, c, 1, {{"d_model", 512}, {"d_ff", 2048}}});
  const Layout by_trace = find_placement("exact").place({"no-preset", s, c, 1, {}, 512, 2048});
  EXPECT_EQ(by_trace.layers[0].gpu_experts, by_params.layers[0].gpu_experts);
}

// Prices `layer` of every token under `layout`, each expert served by its first replica.
LayerCost price_first_replica(const CostModel& m, const Trace& t, const Layout& layout, int l) {
  const auto& gpus = layout.layers[size_t(l)].gpu_experts;
  std::vector<int32_t> slot_of(size_t(layout.num_experts), -1);
  for (size_t g = gpus.size(); g-- > 0;)
    for (size_t i = 0; i < gpus[g].size(); ++i)
      slot_of[gpus[g][i]] = int32_t(g * size_t(layout.slots_per_gpu) + i);
  const size_t n = t.tokens.size(), k = size_t(t.header.top_k);
  std::vector<int32_t> home(n), slots(n * k);
  for (size_t i = 0; i < n; ++i) {
    home[i] = int32_t(i % size_t(m.num_gpus()));
    for (size_t j = 0; j < k; ++j) slots[i * k + j] = slot_of[t.tokens.experts(i, l)[j]];
  }
  LayerCost cost;
  m.price_layer(home.data(), slots.data(), n, int(k), cost);
  return cost;
}

std::vector<uint16_t> layer_ids(const Trace& t, int l) {
  std::vector<uint16_t> ids;
  for (size_t i = 0; i < t.tokens.size(); ++i)
    ids.insert(ids.end(), t.tokens.experts(i, l), t.tokens.experts(i, l) + t.header.top_k);
  return ids;
}

TEST(LowerBound, NeverAboveAnyAlgorithmsCost) {
  for (const Shape sh : {Shape{2, 4, 2, 16, 2}, Shape{2, 4, 3, 16, 4}, Shape{1, 4, 2, 8, 2},
                         Shape{4, 2, 4, 24, 8}}) {
    const ClusterSpec c = tiny_cluster(sh.nodes, sh.gpus_per_node, sh.slots);
    const CostModel m(c, 2048, 1024);
    const Trace t = random_trace(sh.experts, sh.top_k, 2, 2000, 7);
    const TraceStats s = stats_of(t);
    for (const auto& algo : placement_algorithms()) {
      if (std::string(algo.name) == "exact") continue;  // too large here; tested above
      // Sizes and tokens for the algorithms that price layouts (steptime).
      const Layout layout = algo.place(PlacementInput{"test", s, c, 1, {}, 2048, 1024, &t.tokens});
      for (int l = 0; l < 2; ++l) {
        const auto ids = layer_ids(t, l);
        const LayerBound b =
            layer_lower_bound(m, ids.data(), t.tokens.size(), sh.top_k, sh.experts);
        const LayerCost cost = price_first_replica(m, t, layout, l);
        EXPECT_LE(b.compute_s, cost.compute_max * (1 + 1e-12)) << algo.name;
        EXPECT_LE(b.dispatch_s, cost.dispatch_max * (1 + 1e-12)) << algo.name;
        EXPECT_LE(b.total(), cost.total() * (1 + 1e-12)) << algo.name;
        EXPECT_GT(b.compute_s, 0);
      }
    }
  }
}

TEST(LowerBound, TightOnOneGpu) {
  const ClusterSpec c = tiny_cluster(1, 1, 8);
  const CostModel m(c, 2048, 1024);
  const Trace t = random_trace(8, 2, 1, 500, 3);
  Layout layout;
  layout.num_experts = 8;
  layout.slots_per_gpu = 8;
  layout.layers = {LayerPlacement{{{0, 1, 2, 3, 4, 5, 6, 7}}}};
  const auto ids = layer_ids(t, 0);
  const LayerBound b = layer_lower_bound(m, ids.data(), t.tokens.size(), 2, 8);
  EXPECT_NEAR(b.total(), price_first_replica(m, t, layout, 0).total(), 1e-15);
  EXPECT_EQ(b.dispatch_s, 0);
}

}  // namespace
}  // namespace epbench

// `steptime` placement: replicates where the step time drops (a hot expert in the
// compute-bound regime) and leaves spare slots empty where it does not (memory-bound), judged
// on held-out tokens by the cost model with min-time routing.
#include <gtest/gtest.h>

#include <algorithm>

#include "common/error.h"
#include "common/rng.h"
#include "costmodel/cost_model.h"
#include "placement/algorithm.h"
#include "routing/routing.h"
#include "test_util.h"
#include "trace/stats.h"

namespace epbench {
namespace {

// Two GPUs on one node, three slots each: one spare slot per GPU for four experts.
ClusterSpec two_gpus(double flops, double hbm_bandwidth) {
  ClusterSpec c;
  c.name = "two";
  c.nodes = 1;
  c.gpus_per_node = 2;
  c.slots_per_gpu = 3;
  c.same_node = {2e-6, 100e9};
  c.other_node = {5e-6, 20e9};
  c.gpus_per_nic = 1;
  c.gpu_flops = flops;
  c.hbm_bandwidth_Bps = hbm_bandwidth;
  return c;
}

// Decode tokens choosing top-k distinct experts with the given weights.
Trace weighted_trace(const std::vector<double>& weight, int top_k, int tokens, uint64_t seed) {
  Trace t;
  t.header.model = "test";
  t.header.num_layers = 1;
  t.header.num_experts = static_cast<int>(weight.size());
  t.header.top_k = top_k;
  t.header.num_tokens = static_cast<uint64_t>(tokens);
  t.header.num_requests = 1;
  t.tokens.num_layers = 1;
  t.tokens.top_k = top_k;
  t.tokens.resize(static_cast<size_t>(tokens), false);
  std::fill(t.tokens.phase.begin(), t.tokens.phase.end(), static_cast<uint8_t>(Phase::kDecode));
  Rng rng(seed);
  for (size_t tok = 0; tok < t.tokens.size(); ++tok) {
    std::vector<double> w = weight;
    for (int j = 0; j < top_k; ++j) {
      double total = 0, x;
      for (double v : w) total += v;
      x = rng.uniform() * total;
      size_t e = 0;
      while (e + 1 < w.size() && (w[e] <= 0 || x >= w[e])) x -= w[e++];
      t.tokens.experts(tok, 0)[j] = static_cast<uint16_t>(e);
      w[e] = 0;
    }
  }
  t.requests.token_offset = {0, uint64_t(tokens)};
  t.requests.prompt_len = {0};
  return t;
}

using test::stats_of;

// Mean predicted layer time of consecutive batches of `batch` held-out tokens, homes
// round-robin, routed with min-time.
double mean_time(const Layout& lay, const Trace& held_out, const CostModel& cost, int batch) {
  const LayerReplicas r =
      make_replicas(lay.layers[0], lay.num_experts, lay.slots_per_gpu, lay.gpus_per_node);
  Router router(RoutingPolicy::kMinTime);
  const int k = held_out.tokens.top_k;
  double total = 0;
  int steps = 0;
  for (size_t first = 0; first + size_t(batch) <= held_out.tokens.size(); first += size_t(batch)) {
    std::vector<int32_t> home, slot(size_t(batch * k));
    for (int i = 0; i < batch; ++i) home.push_back(i % cost.num_gpus());
    router.route(r, held_out.tokens.experts(first, 0), home.data(), size_t(batch), k, slot.data(),
                 &cost);
    SparseLayerCost priced;
    cost.price_layer_sparse(home.data(), slot.data(), size_t(batch), k, priced);
    total += priced.total(), ++steps;
  }
  return total / steps;
}

Layout place(const char* algo, const Trace& fit, const TraceStats& s, const ClusterSpec& c,
             nlohmann::json params) {
  const PlacementInput in{"test", s, c, 7, std::move(params), 1024, 4096, &fit.tokens};
  return find_placement(algo).place(in);
}

int replicas_of(const Layout& lay, uint16_t expert) {
  int n = 0;
  for (const auto& g : lay.layers[0].gpu_experts) n += int(std::count(g.begin(), g.end(), expert));
  return n;
}

// Compute-bound (weights read for free, slow FLOPs) with one expert chosen by 70% of tokens:
// only a second replica of it splits its work, so steptime must replicate it and beat
// round-robin, which leaves the spare slots empty.
TEST(SteptimePlacement, ReplicatesWhenItPays) {
  const std::vector<double> skew{0.7, 0.1, 0.1, 0.1};
  const Trace fit = weighted_trace(skew, 1, 4000, 1), held_out = weighted_trace(skew, 1, 4000, 2);
  const ClusterSpec c = two_gpus(1e12, 1e18);
  const TraceStats s = stats_of(fit);
  const Layout ours = place("steptime", fit, s, c, {{"batch_sizes", "64"}});
  const Layout rr = place("round-robin", fit, s, c, {});
  const CostModel cost(c, 1024, 4096);
  EXPECT_EQ(replicas_of(ours, 0), 2);
  EXPECT_LT(mean_time(ours, held_out, cost, 64), 0.85 * mean_time(rr, held_out, cost, 64));
}

// Memory-bound (every active replica reads its weights, FLOPs free), transfers free, top-1 at
// batch 1 and at a batch that activates every expert: one token reads one expert's weights
// wherever it runs, and E experts active need E weight reads spread over the GPUs, which one
// copy each already spreads evenly. No replica can lower the step time, so steptime keeps one
// copy of each expert and leaves the spare slots empty (EPLB fills them).
TEST(SteptimePlacement, LeavesSlotsEmptyWhenReplicationDoesNotPay) {
  const std::vector<double> even{1, 1, 1, 1};
  const Trace fit = weighted_trace(even, 1, 4000, 3), held_out = weighted_trace(even, 1, 4000, 4);
  ClusterSpec c = two_gpus(1e18, 1e11);
  c.same_node = {0, 1e18};
  const TraceStats s = stats_of(fit);
  const Layout ours = place("steptime", fit, s, c, {{"batch_sizes", "1,64"}});
  for (uint16_t e = 0; e < 4; ++e) EXPECT_EQ(replicas_of(ours, e), 1) << "expert " << e;
  const Layout eplb = place("eplb", fit, s, c, {});
  const CostModel cost(c, 1024, 4096);
  EXPECT_EQ(
      replicas_of(eplb, 0) + replicas_of(eplb, 1) + replicas_of(eplb, 2) + replicas_of(eplb, 3), 6);
  for (int b : {1, 64})
    EXPECT_LE(mean_time(ours, held_out, cost, b), mean_time(eplb, held_out, cost, b) * (1 + 1e-9))
        << "B=" << b;
}

TEST(SteptimePlacement, SameSeedSameLayoutAndLoadsWithoutTokens) {
  const Trace fit = weighted_trace({0.4, 0.3, 0.2, 0.1}, 2, 1000, 5);
  const ClusterSpec c = two_gpus(1e14, 1e12);
  const TraceStats s = stats_of(fit);
  const Layout a = place("steptime", fit, s, c, {}), b = place("steptime", fit, s, c, {});
  EXPECT_EQ(a.layers[0].gpu_experts, b.layers[0].gpu_experts);
  // A load file has no tokens: steps are drawn from the loads.
  const PlacementInput counts_only{"test", s, c, 7, {}, 1024, 4096, nullptr};
  const Layout from_loads = find_placement("steptime").place(counts_only);
  for (uint16_t e = 0; e < 4; ++e) EXPECT_GE(replicas_of(from_loads, e), 1);
}

TEST(SteptimePlacement, RefusesBadParams) {
  const Trace fit = weighted_trace({1, 1, 1, 1}, 1, 100, 6);
  const ClusterSpec c = two_gpus(1e14, 1e12);
  const TraceStats s = stats_of(fit);
  for (const char* sizes : {"0", "1,,8", "a", "-4"})
    EXPECT_THROW(place("steptime", fit, s, c, {{"batch_sizes", sizes}}), InputError) << sizes;
  EXPECT_THROW(place("steptime", fit, s, c, {{"routing", "fastest"}}), InputError);
  EXPECT_THROW(place("steptime", fit, s, c, {{"samples", 0}}), InputError);
}

}  // namespace
}  // namespace epbench

// The exact ILP equals brute force (every placement, each step routed by min-time, exact by
// enumeration at these sizes), and the LP and closed-form lower bounds never exceed it, on
// random tiny instances in several regimes (docs/placement.md, "Lower bounds").
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <set>
#include <vector>

#include "common/error.h"
#include "common/numeric.h"
#include "common/rng.h"
#include "costmodel/cost_model.h"
#include "placement/bound.h"
#include "placement/ilp_exact.h"
#include "placement/lp_bound.h"
#include "routing/routing.h"

namespace epbench {
namespace {

struct Regime {
  const char* name;
  double a1, b1, a2, b2, flops, hbm;
  int d_model, d_ff;
};

// Balanced, memory-bound (weight reads dominate), latency-bound (small experts, slow links'
// latencies), compute- and bandwidth-bound (large tokens, slow FLOPs and links).
const Regime kRegimes[] = {
    {"balanced", 2e-6, 100e9, 5e-6, 20e9, 400e12, 2e12, 1024, 4096},
    {"memory", 2e-6, 100e9, 5e-6, 20e9, 400e12, 0.2e12, 1024, 4096},
    {"latency", 5e-6, 100e9, 20e-6, 20e9, 400e12, 2e12, 256, 512},
    {"compute", 1e-6, 2e9, 2e-6, 0.5e9, 1e12, 2e12, 4096, 4096},
};

ClusterSpec cluster_of(const Regime& r, int nodes, int gpn, int slots, int per_nic = 1) {
  ClusterSpec c;
  c.name = r.name;
  c.nodes = nodes, c.gpus_per_node = gpn, c.slots_per_gpu = slots;
  c.same_node = {r.a1, r.b1};
  c.other_node = {r.a2, r.b2};
  c.gpus_per_nic = per_nic;
  c.gpu_flops = r.flops;
  c.hbm_bandwidth_Bps = r.hbm;
  return c;
}

// 1-3 steps of 1-4 tokens, top-k 1 or 2, skewed experts, random homes. Few enough pairs per
// step that min-time routing enumerates every assignment (G^pairs <= 4,096).
LayerSteps random_steps(int E, int G, Rng& rng) {
  LayerSteps st;
  st.num_experts = E;
  st.top_k = 1 + static_cast<int>(rng.below(2));
  const int max_pairs = G <= 2 ? 12 : G == 3 ? 7 : 6;
  const int max_tokens = std::min(4, max_pairs / st.top_k);
  const int steps = 1 + static_cast<int>(rng.below(3));
  for (int s = 0; s < steps; ++s) {
    const int n = 1 + static_cast<int>(rng.below(static_cast<uint64_t>(max_tokens)));
    std::vector<int32_t> home;
    std::vector<uint16_t> ids;
    for (int t = 0; t < n; ++t) {
      home.push_back(static_cast<int32_t>(rng.below(static_cast<uint64_t>(G))));
      for (int j = 0; j < st.top_k; ++j) {
        uint16_t e;
        do {  // expert 0 and 1 are hot
          e = rng.uniform() < 0.4 ? uint16_t(rng.below(2)) : uint16_t(rng.below(uint64_t(E)));
        } while (std::find(ids.end() - j, ids.end(), e) != ids.end());
        ids.push_back(e);
      }
    }
    st.add_step(home.data(), ids.data(), static_cast<size_t>(n));
  }
  return st;
}

// The cost of the steps under one placement, each routed by min-time.
double price_placement(const CostModel& m, const LayerSteps& st, const LayerPlacement& layer) {
  const LayerReplicas r =
      make_replicas(layer, st.num_experts, m.slots_per_gpu(), m.cluster().gpus_per_node);
  Router router(RoutingPolicy::kMinTime);
  SparseLayerCost priced;
  const size_t k = static_cast<size_t>(st.top_k);
  double total = 0;
  for (size_t s = 0; s < st.num_steps(); ++s) {
    const size_t first = st.offset[s], n = st.offset[s + 1] - first;
    uint64_t combos = 1;
    for (size_t i = first * k; i < (first + n) * k; ++i) combos *= r.count(st.ids[i]);
    EXPECT_LE(combos, 4096u) << "min-time would not be exact";
    std::vector<int32_t> slot(n * k);
    router.route(r, st.ids.data() + first * k, st.home.data() + first, n, st.top_k, slot.data(),
                 &m);
    m.price_layer_sparse(st.home.data() + first, slot.data(), n, st.top_k, priced);
    total += priced.total();
  }
  return total;
}

// Every placement: each expert on a non-empty set of GPUs, at most S experts per GPU.
double brute_force(const CostModel& m, const LayerSteps& st) {
  const int E = st.num_experts, G = m.num_gpus(), S = m.slots_per_gpu();
  LayerPlacement layer;
  layer.gpu_experts.assign(static_cast<size_t>(G), {});
  double best = 1e300;
  std::function<void(int)> rec = [&](int e) {
    if (e == E) {
      best = std::min(best, price_placement(m, st, layer));
      return;
    }
    for (int mask = 1; mask < (1 << G); ++mask) {
      bool fits = true;
      for (int g = 0; g < G; ++g)
        if ((mask >> g & 1) && layer.gpu_experts[size_t(g)].size() == size_t(S)) fits = false;
      // Experts left need a slot each.
      int free = 0;
      for (int g = 0; g < G; ++g)
        free += S - int(layer.gpu_experts[size_t(g)].size()) - (mask >> g & 1);
      if (!fits || free < E - e - 1) continue;
      for (int g = 0; g < G; ++g)
        if (mask >> g & 1) layer.gpu_experts[size_t(g)].push_back(uint16_t(e));
      rec(e + 1);
      for (int g = 0; g < G; ++g)
        if (mask >> g & 1) layer.gpu_experts[size_t(g)].pop_back();
    }
  };
  rec(0);
  return best;
}

double closed_form(const CostModel& m, const LayerSteps& st) {
  const size_t k = static_cast<size_t>(st.top_k);
  double sum = 0;
  for (size_t s = 0; s < st.num_steps(); ++s) {
    const size_t first = st.offset[s], n = st.offset[s + 1] - first;
    sum += layer_lower_bound(m, st.ids.data() + first * k, st.home.data() + first, n, st.top_k,
                             st.num_experts)
               .total();
  }
  return sum;
}

struct Shape {
  int nodes, gpn, slots, experts;
};

const Shape kShapes[] = {{1, 2, 2, 4}, {1, 2, 3, 4}, {2, 1, 2, 3}, {2, 2, 1, 4},
                         {1, 3, 2, 5}, {2, 2, 2, 6}, {2, 2, 2, 5}};

TEST(LpBound, IlpEqualsBruteForceAndBoundsBelow) {
  int stronger = 0, cases = 0;
  for (const Regime& reg : kRegimes)
    for (const Shape& sh : kShapes)
      for (uint64_t seed = 1; seed <= 2; ++seed) {
        const CostModel m(cluster_of(reg, sh.nodes, sh.gpn, sh.slots), reg.d_model, reg.d_ff);
        Rng rng(seed * 1000 + uint64_t(sh.experts * 10 + sh.slots));
        const LayerSteps st = random_steps(sh.experts, m.num_gpus(), rng);
        const double best = brute_force(m, st);
        const ExactIlp ilp = exact_ilp(m, st);
        const LpBound lp = lp_lower_bound(m, st);
        const double cf = closed_form(m, st);
        SCOPED_TRACE(std::string(reg.name) + " " + std::to_string(sh.nodes) + "x" +
                     std::to_string(sh.gpn) + " S " + std::to_string(sh.slots) + " E " +
                     std::to_string(sh.experts) + " seed " + std::to_string(seed));
        EXPECT_NEAR(ilp.total_s, best, 1e-9 * best);
        EXPECT_NEAR(ilp.objective_s, best, 1e-6 * best);
        EXPECT_LE(lp.total_s, best * (1 + 1e-9));
        EXPECT_LE(cf, best * (1 + 1e-12));
        EXPECT_GE(lp.lp_s, cf * (1 - 1e-7));  // the closed form is among the LP's rows
        EXPECT_NEAR(lp.closed_form_s, cf, 1e-15);
        ++cases;
        stronger += lp.lp_s > cf * (1 + 1e-6);
      }
  EXPECT_GT(stronger, cases / 4) << "the LP should improve on the closed form often";
}

// NICs shared by two GPUs: the LP relaxes the NIC's load and stays below the optimum.
TEST(LpBound, BelowBruteForceWithSharedNics) {
  for (const Regime& reg : kRegimes)
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      const CostModel m(cluster_of(reg, 2, 2, 2, 2), reg.d_model, reg.d_ff);
      Rng rng(seed);
      const LayerSteps st = random_steps(5, 4, rng);
      const double best = brute_force(m, st);
      EXPECT_LE(lp_lower_bound(m, st).total_s, best * (1 + 1e-9)) << reg.name << seed;
      EXPECT_LE(closed_form(m, st), best * (1 + 1e-12)) << reg.name << seed;
      EXPECT_THROW(exact_ilp(m, st), InputError);
    }
}

TEST(LpBound, RefusesBadInput) {
  const CostModel m(cluster_of(kRegimes[0], 1, 2, 2), 64, 64);
  LayerSteps st;
  st.num_experts = 4, st.top_k = 1;
  const int32_t home[1] = {2};  // no GPU 2
  const uint16_t ids[1] = {0};
  st.add_step(home, ids, 1);
  EXPECT_THROW(lp_lower_bound(m, st), InputError);
  LayerSteps big;
  big.num_experts = 4, big.top_k = 1;
  std::vector<int32_t> homes(100, 0);
  std::vector<uint16_t> many(100, 1);
  big.add_step(homes.data(), many.data(), 100);
  EXPECT_THROW(exact_ilp(m, big), InputError);  // 100 pairs
  LayerSteps crowded;                           // 5 experts in 4 slots
  crowded.num_experts = 5, crowded.top_k = 1;
  crowded.add_step(homes.data(), many.data(), 1);
  EXPECT_THROW(lp_lower_bound(m, crowded), InputError);
}

// The closed form's new terms: three active experts on two GPUs read at least two weights on
// one GPU; home 0's tokens choose three experts with two slots, so it sends one hidden state.
TEST(LpBound, ClosedFormWeightReadsAndHomeOverflow) {
  const Regime& reg = kRegimes[1];  // memory-bound
  const CostModel m(cluster_of(reg, 1, 2, 2), reg.d_model, reg.d_ff);
  const int32_t home[3] = {0, 0, 0};
  const uint16_t ids[3] = {0, 1, 2};
  const LayerBound b = layer_lower_bound(m, ids, home, 3, 1, 4);
  EXPECT_DOUBLE_EQ(b.compute_s, 2 * m.weight_time());
  const double one = reg.a1 + double(m.token_bytes()) / reg.b1;
  EXPECT_DOUBLE_EQ(b.dispatch_s, one);
  EXPECT_DOUBLE_EQ(b.combine_s, one);
  const int32_t spread[3] = {0, 1, 1};  // two experts per home: no message forced
  EXPECT_EQ(layer_lower_bound(m, ids, spread, 3, 1, 4).dispatch_s, 0);
  EXPECT_EQ(layer_lower_bound(m, ids, 3, 1, 4).dispatch_s, 0);  // homes unknown
}

// The home term against a set per home, over random layers of varied sizes one after another
// (the counting keeps state between calls): a message is forced exactly where some home's
// tokens choose more distinct experts than the 2 slots.
TEST(LpBound, HomeOverflowMatchesDistinctExpertsPerHome) {
  const Regime& reg = kRegimes[0];
  const CostModel m(cluster_of(reg, 1, 2, 2), reg.d_model, reg.d_ff);
  const double one = reg.a1 + double(m.token_bytes()) / reg.b1;
  Rng rng(13);
  int forced = 0;
  for (int trial = 0; trial < 500; ++trial) {
    const auto n = static_cast<size_t>(1 + rng.below(6)), E = static_cast<size_t>(2 + rng.below(7));
    const size_t homes = 1 + rng.below(3), k = 2;
    std::vector<int32_t> home(n);
    std::vector<uint16_t> ids(n * k);
    std::vector<std::set<uint16_t>> chosen(homes);
    for (size_t t = 0; t < n; ++t) {
      home[t] = static_cast<int32_t>(rng.below(homes));
      ids[t * k] = static_cast<uint16_t>(rng.below(E));
      ids[t * k + 1] = static_cast<uint16_t>((ids[t * k] + 1 + rng.below(E - 1)) % E);
      chosen[sz(home[t])].insert(ids.begin() + long(t * k), ids.begin() + long(t * k + k));
    }
    const bool overflows =
        std::any_of(chosen.begin(), chosen.end(), [](const auto& c) { return c.size() > 2; });
    const LayerBound b = layer_lower_bound(m, ids.data(), home.data(), n, int(k), int(E));
    ASSERT_EQ(b.dispatch_s, overflows ? one : 0) << "trial " << trial;
    forced += overflows;
  }
  EXPECT_GT(forced, 100);  // both outcomes were tried often
  EXPECT_LT(forced, 400);
}

}  // namespace
}  // namespace epbench

// The co-activation placements (spread, colocate, topo): slot and coverage invariants on random
// instances and cluster shapes, the exact matching against brute force, and on a synthetic trace
// with planted co-activation groups, fewer same-GPU collisions for spread and fewer distinct
// GPUs/nodes per token for colocate than round-robin, scored on held-out tokens.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <set>

#include "common/error.h"
#include "common/rng.h"
#include "placement/algorithm.h"
#include "placement/coact_graph.h"
#include "placement/common.h"
#include "placement/spread_matching.h"
#include "trace/stats.h"
#include "trace/synth.h"

namespace epbench {
namespace {

const char* const kCoactAlgos[] = {"spread", "colocate", "topo"};

ClusterSpec shape(int nodes, int gpus_per_node, int slots) {
  ClusterSpec c;
  c.name = "test";
  c.nodes = nodes, c.gpus_per_node = gpus_per_node, c.slots_per_gpu = slots;
  return c;
}

// Random statistics: skewed loads and sparse, skewed pair counts (some experts never seen).
TraceStats random_stats(int layers, int experts, int top_k, uint64_t seed) {
  Rng rng(seed);
  TraceStats s;
  s.num_layers = layers, s.num_experts = experts, s.top_k = top_k, s.tokens = 1000;
  const auto E = size_t(experts);
  s.load.resize(size_t(layers) * E);
  s.pairs.assign(size_t(layers) * E * E, 0);
  for (auto& v : s.load) v = rng.below(8) == 0 ? 0 : rng.below(1000) * rng.below(4);
  for (size_t l = 0; l < size_t(layers); ++l)
    for (size_t a = 0; a < E; ++a)
      for (size_t b = a + 1; b < E; ++b) {
        const uint64_t v = rng.below(3) == 0 ? rng.below(200) : 0;
        s.pairs[(l * E + a) * E + b] = s.pairs[(l * E + b) * E + a] = v;
      }
  return s;
}

Layout place(const std::string& algo, const TraceStats& s, const ClusterSpec& c, uint64_t seed,
             nlohmann::json params = nlohmann::json::object()) {
  PlacementInput in{"test-model", s, c, seed, std::move(params)};
  return find_placement(algo).place(in);
}

// The invariants checked by hand as well as by validate_layout.
void expect_valid(const Layout& lay, const ClusterSpec& c, int experts, const std::string& what) {
  EXPECT_NO_THROW(validate_layout(lay, what)) << what;
  ASSERT_EQ(int(lay.layers.size()), lay.num_layers) << what;
  for (const auto& layer : lay.layers) {
    ASSERT_EQ(int(layer.gpu_experts.size()), c.num_gpus()) << what;
    std::set<int> seen;
    for (const auto& list : layer.gpu_experts) {
      EXPECT_LE(int(list.size()), c.slots_per_gpu) << what;
      EXPECT_EQ(std::set<int>(list.begin(), list.end()).size(), list.size()) << what;
      for (int e : list) EXPECT_LT(e, experts) << what;
      seen.insert(list.begin(), list.end());
    }
    EXPECT_EQ(int(seen.size()), experts) << what;
  }
}

struct Shape {
  int nodes, gpus_per_node, slots, experts, top_k;
};

TEST(PlaceCoact, CoverageAndCapacityOnRandomInstances) {
  const Shape shapes[] = {{1, 4, 2, 8, 2},  {2, 4, 2, 16, 2},  {2, 4, 3, 16, 4}, {2, 2, 5, 16, 2},
                          {3, 2, 3, 16, 3}, {1, 1, 16, 16, 2}, {2, 3, 4, 20, 6}, {4, 2, 2, 13, 2},
                          {2, 4, 9, 64, 8}, {4, 8, 1, 32, 8}};
  for (const Shape& sh : shapes)
    for (uint64_t seed : {1u, 7u})
      for (const char* algo : kCoactAlgos)
        for (bool replicate : {true, false}) {
          const TraceStats s = random_stats(3, sh.experts, sh.top_k, seed * 31 + sh.experts);
          const ClusterSpec c = shape(sh.nodes, sh.gpus_per_node, sh.slots);
          const std::string what = std::string(algo) + " " + std::to_string(sh.nodes) + "x" +
                                   std::to_string(sh.gpus_per_node) + "x" +
                                   std::to_string(sh.slots) + " E=" + std::to_string(sh.experts) +
                                   (replicate ? " replicated" : "");
          const Layout lay = place(algo, s, c, seed, {{"replicate", replicate}});
          expect_valid(lay, c, sh.experts, what);
          EXPECT_EQ(lay.algorithm, algo);
        }
}

// One expert with nearly all the load, or no load and no pairs at all (an empty fit range):
// still valid, and METIS stays quiet (it prints to stdout when asked for impossible balance).
TEST(PlaceCoact, ExtremeSkewAndEmptyStatistics) {
  TraceStats skew = random_stats(2, 24, 4, 9), empty = skew;
  for (int l = 0; l < 2; ++l) skew.load[size_t(l) * 24] = 100000000;
  std::fill(empty.load.begin(), empty.load.end(), 0);
  std::fill(empty.pairs.begin(), empty.pairs.end(), 0);
  for (const TraceStats* s : {&skew, &empty})
    for (const char* algo : kCoactAlgos)
      for (bool replicate : {true, false}) {
        const ClusterSpec c = shape(2, 4, 4);
        testing::internal::CaptureStdout();
        const Layout lay = place(algo, *s, c, 1, {{"replicate", replicate}});
        EXPECT_EQ(testing::internal::GetCapturedStdout(), "") << algo;
        expect_valid(lay, c, 24, algo);
      }
}

TEST(PlaceCoact, ReplicationFillsSpareSlots) {
  const TraceStats s = random_stats(2, 16, 2, 3);
  const ClusterSpec c = shape(2, 2, 6);  // 24 slots for 16 experts
  for (const char* algo : kCoactAlgos) {
    const Layout lay = place(algo, s, c, 1);
    size_t used = 0;
    for (const auto& list : lay.layers[0].gpu_experts) used += list.size();
    EXPECT_EQ(used, 24u) << algo;
  }
}

TEST(PlaceCoact, SameSeedSameLayout) {
  const TraceStats s = random_stats(2, 32, 4, 5);
  const ClusterSpec c = shape(2, 4, 5);
  for (const char* algo : kCoactAlgos) {
    const Layout a = place(algo, s, c, 3), b = place(algo, s, c, 3);
    EXPECT_EQ(layout_to_json(a), layout_to_json(b)) << algo;
  }
}

TEST(PlaceCoact, BadParameterIsAnInputError) {
  const TraceStats s = random_stats(1, 8, 2, 5);
  for (const char* algo : kCoactAlgos) {
    EXPECT_THROW(place(algo, s, shape(1, 4, 2), 1, {{"balance_tolerance", -1}}), InputError);
    EXPECT_THROW(place(algo, s, shape(1, 4, 2), 1, {{"replicate", "maybe"}}), InputError);
  }
}

// ---- the exact matching ----

double brute_force_matching(int n, const std::vector<double>& w, std::vector<bool>& used) {
  int i = 0;
  while (i < n && used[size_t(i)]) ++i;
  if (i == n) return 0;
  used[size_t(i)] = true;
  double best = std::numeric_limits<double>::infinity();
  for (int j = i + 1; j < n; ++j) {
    if (used[size_t(j)]) continue;
    used[size_t(j)] = true;
    best = std::min(best, w[size_t(i * n + j)] + brute_force_matching(n, w, used));
    used[size_t(j)] = false;
  }
  used[size_t(i)] = false;
  return best;
}

TEST(SpreadMatching, OptimalAgainstBruteForce) {
  Rng rng(11);
  for (int n = 2; n <= 12; n += 2)
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<double> w(size_t(n * n), 0);
      for (int a = 0; a < n; ++a)
        for (int b = a + 1; b < n; ++b)
          w[size_t(a * n + b)] = w[size_t(b * n + a)] = double(rng.below(trial % 2 ? 5 : 1000));
      const auto pairs = min_weight_perfect_matching(n, w);
      ASSERT_EQ(int(pairs.size()), n / 2);
      std::set<int> covered;
      double cost = 0;
      for (auto [a, b] : pairs) covered.insert({a, b}), cost += w[size_t(a * n + b)];
      EXPECT_EQ(int(covered.size()), n);
      std::vector<bool> used(size_t(n), false);
      EXPECT_DOUBLE_EQ(cost, brute_force_matching(n, w, used)) << "n=" << n;
    }
}

// Beyond the 20 vertices the former subset DP could hold: a DeepSeek-V3 layer's 256 experts.
TEST(SpreadMatching, LargeGraphsArePerfectlyMatched) {
  Rng rng(2);
  const int n = 256;
  std::vector<double> w(size_t(n * n), 0);
  for (int a = 0; a < n; ++a)
    for (int b = a + 1; b < n; ++b)
      w[size_t(a * n + b)] = w[size_t(b * n + a)] = double(rng.below(1000));
  const auto pairs = min_weight_perfect_matching(n, w);
  ASSERT_EQ(pairs.size(), size_t(n / 2));
  std::set<int> covered;
  for (auto [a, b] : pairs) covered.insert({a, b});
  EXPECT_EQ(int(covered.size()), n);
  // Optimal implies that no two pairs (a, b), (c, d) pay more than re-pairing them would.
  auto cost = [&](int a, int b) { return w[size_t(a * n + b)]; };
  for (size_t p = 0; p < pairs.size(); ++p)
    for (size_t q = p + 1; q < pairs.size(); ++q) {
      const auto [a, b] = pairs[p];
      const auto [c, d] = pairs[q];
      ASSERT_LE(cost(a, b) + cost(c, d), std::min(cost(a, c) + cost(b, d), cost(a, d) + cost(b, c)))
          << a << "-" << b << " and " << c << "-" << d;
    }
}

// spread in the matching case (two experts per GPU, no spare slot) reaches the brute-force optimum
// of the same-GPU pair weight, layer by layer.
TEST(PlaceCoact, SpreadIsExactInTheMatchingCase) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    const TraceStats s = random_stats(3, 10, 2, seed);
    const Layout lay = place("spread", s, shape(1, 5, 2), seed);
    for (int l = 0; l < 3; ++l) {
      const UnitGraph g = build_unit_graph(s, l, std::vector<int>(10, 1));
      double cost = 0;
      for (const auto& list : lay.layers[size_t(l)].gpu_experts) cost += g.weight(list[0], list[1]);
      std::vector<bool> used(10, false);
      EXPECT_DOUBLE_EQ(cost, brute_force_matching(10, g.w, used)) << "seed " << seed;
    }
  }
}

// ---- planted co-activation on a synthetic trace ----

struct HeldOut {
  TraceStats fit;   // statistics of the first half
  TokenBlock test;  // the second half
};

HeldOut synth_split(const std::string& model, uint64_t tokens) {
  SynthOptions o;
  o.model = model, o.tokens = tokens, o.seed = 5;
  o.prompt_min = 8, o.prompt_max = 48, o.decode_min = 4, o.decode_max = 32;
  o.coact_strength = 8.0;  // strong planted groups
  o.calib_iters = 4;
  SynthGenerator gen(o);
  StatsAccumulator acc(gen.header(), gen.requests());
  HeldOut h;
  TokenBlock b;
  while (gen.next_block(b, tokens / 2)) {
    if (b.first_token < tokens / 2)
      acc.add(b);
    else
      h.test = b;
  }
  h.fit = acc.take();
  return h;
}

// Per held-out token and layer, with each expert served by its first replica: same-GPU expert
// pairs, tokens with any such pair, distinct GPUs and distinct nodes reached.
struct TokenCounts {
  double pairs = 0, collided = 0, gpus = 0, nodes = 0;
};

TokenCounts count_tokens(const Layout& lay, const TokenBlock& t) {
  TokenCounts c;
  const int G = lay.num_gpus();
  for (int l = 0; l < lay.num_layers; ++l) {
    const ReplicaMap rm = replica_map(lay.layers[size_t(l)], lay.num_experts);
    for (size_t tok = 0; tok < t.size(); ++tok) {
      std::vector<int> per_gpu(size_t(G), 0);
      std::set<int> nodes;
      for (int j = 0; j < t.top_k; ++j) {
        const int g = rm.replicas[t.experts(tok, l)[j]][0];
        ++per_gpu[size_t(g)];
        nodes.insert(g / lay.gpus_per_node);
      }
      bool collided = false;
      for (int n : per_gpu) {
        c.pairs += n * (n - 1) / 2.0, collided |= n > 1;
        c.gpus += n > 0;
      }
      c.collided += collided;
      c.nodes += double(nodes.size());
    }
  }
  const double n = double(t.size()) * lay.num_layers;
  c.pairs /= n, c.collided /= n, c.gpus /= n, c.nodes /= n;
  return c;
}

// Predicted max/mean GPU load on the fit statistics, worst layer.
double worst_imbalance(const Layout& lay, const TraceStats& s) {
  double worst = 0;
  for (int l = 0; l < lay.num_layers; ++l) {
    const std::vector<double> load = gpu_loads(lay.layers[size_t(l)], layer_load(s, l));
    double total = 0, max = 0;
    for (double v : load) total += v, max = std::max(max, v);
    worst = std::max(worst, max * double(load.size()) / total);
  }
  return worst;
}

// Spare slots (9 per GPU for 64 experts on 8 GPUs): replicas of hot experts keep every
// algorithm balanced, colocate included (its METIS slot constraint).
TEST(PlaceCoactSynth, BalancedWithReplicas) {
  const HeldOut h = synth_split("deepseek-moe-16b", 3000);
  const ClusterSpec c = shape(2, 4, 9);
  const double rr = worst_imbalance(place("round-robin", h.fit, c, 1), h.fit);
  for (auto [algo, bound] : {std::pair{"spread", 1.15}, {"topo", 1.2}, {"colocate", 1.4}}) {
    const double v = worst_imbalance(place(algo, h.fit, c, 1), h.fit);
    EXPECT_LT(v, bound) << algo;
    EXPECT_LT(v, rr) << algo;
    std::printf("worst-layer max/mean GPU load: %s %.3f (round-robin %.3f)\n", algo, v, rr);
  }
}

// Mixtral shape on 4 GPUs x 2 slots: spread solves the matching exactly.
TEST(PlaceCoactSynth, SpreadFewerCollisionsThanRoundRobinTop2) {
  const HeldOut h = synth_split("mixtral-8x7b", 8000);
  const ClusterSpec c = shape(2, 2, 2);
  const TokenCounts rr = count_tokens(place("round-robin", h.fit, c, 1), h.test);
  const TokenCounts sp = count_tokens(place("spread", h.fit, c, 1), h.test);
  EXPECT_LT(sp.collided, 0.8 * rr.collided) << "spread " << sp.collided << " rr " << rr.collided;
  std::printf("tokens with two experts on one GPU: round-robin %.3f, spread %.3f\n", rr.collided,
              sp.collided);
}

// 64 experts, top-6, 2 nodes x 4 GPUs x 8 slots (no spare slot, so routing does not matter).
TEST(PlaceCoactSynth, SpreadAndColocateBeatRoundRobinTop6) {
  const HeldOut h = synth_split("deepseek-moe-16b", 6000);
  const ClusterSpec c = shape(2, 4, 8);
  const TokenCounts rr = count_tokens(place("round-robin", h.fit, c, 1), h.test);
  const TokenCounts sp = count_tokens(place("spread", h.fit, c, 1), h.test);
  const TokenCounts co = count_tokens(place("colocate", h.fit, c, 1), h.test);
  const TokenCounts tp = count_tokens(place("topo", h.fit, c, 1), h.test);
  EXPECT_LT(sp.pairs, 0.9 * rr.pairs) << "spread " << sp.pairs << " rr " << rr.pairs;
  EXPECT_LT(sp.collided, rr.collided);
  EXPECT_LT(co.gpus, 0.9 * rr.gpus) << "colocate " << co.gpus << " rr " << rr.gpus;
  EXPECT_LT(co.nodes, rr.nodes) << "colocate " << co.nodes << " rr " << rr.nodes;
  // topo: colocate's node count, spread's parallelism within the node.
  EXPECT_LT(tp.nodes, rr.nodes) << "topo " << tp.nodes << " rr " << rr.nodes;
  EXPECT_LT(tp.pairs, co.pairs) << "topo " << tp.pairs << " colocate " << co.pairs;
  std::printf("per token-layer: pairs on one GPU, GPUs, nodes\n");
  for (auto [name, v] :
       {std::pair{"round-robin", rr}, {"spread", sp}, {"colocate", co}, {"topo", tp}})
    std::printf("  %-12s %.3f %.3f %.3f\n", name, v.pairs, v.gpus, v.nodes);
}

}  // namespace
}  // namespace epbench

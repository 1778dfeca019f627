// round-robin, balanced and eplb: capacity and coverage on random instances, balanced against
// the brute-force optimum, replication, and `epbench place` end to end with its refusals.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "common/rng.h"
#include "placement/common.h"
#include "test_util.h"
#include "trace/trace_io.h"

namespace epbench {
namespace {

using test::ScratchDir;

TraceStats random_stats(Rng& rng, int layers, int experts) {
  TraceStats s;
  s.num_layers = layers;
  s.num_experts = experts;
  s.top_k = 2;
  for (int i = 0; i < layers * experts; ++i) {
    const double u = rng.uniform();
    s.load.push_back(static_cast<uint64_t>(std::floor(u * u * u * 1000)));  // skewed, ties
  }
  s.tokens = 1000;
  return s;
}

ClusterSpec shape(int nodes, int gpus_per_node, int slots) {
  ClusterSpec c;
  c.nodes = nodes;
  c.gpus_per_node = gpus_per_node;
  c.slots_per_gpu = slots;
  return c;
}

// Every algorithm of this file on several shapes, with and without spare slots.
TEST(PlaceBasic, CapacityAndCoverageOnRandomInstances) {
  struct Case {
    int experts, nodes, gpus_per_node, slots;
  };
  const Case cases[] = {{8, 1, 4, 2},  {8, 2, 2, 3},   {16, 2, 4, 2},  {16, 2, 4, 3},
                        {64, 4, 4, 5}, {60, 2, 4, 8},  {12, 1, 3, 4},  {10, 1, 3, 4},
                        {7, 1, 2, 7},  {32, 2, 2, 16}, {256, 4, 8, 9}, {128, 2, 8, 8}};
  Rng rng(11);
  for (const Case& c : cases) {
    const TraceStats s = random_stats(rng, 3, c.experts);
    const ClusterSpec cl = shape(c.nodes, c.gpus_per_node, c.slots);
    for (const char* algo : {"round-robin", "balanced", "eplb"}) {
      for (const bool replicate : {false, true}) {
        SCOPED_TRACE(std::string(algo) + " E=" + std::to_string(c.experts) + " " +
                     std::to_string(c.nodes) + "x" + std::to_string(c.gpus_per_node) + "x" +
                     std::to_string(c.slots) + (replicate ? " replicate" : ""));
        nlohmann::json params = {{"replicate", replicate}};
        if (std::string(algo) == "eplb") {
          if (!replicate) continue;  // eplb always fills every slot
          params = {{"groups", c.experts % 4 == 0 ? 4 : 1}};
        }
        const Layout lay = find_placement(algo).place({"m", s, cl, 1, params});
        ASSERT_NO_THROW(validate_layout(lay, algo));
        EXPECT_EQ(lay.algorithm, algo);
        // Spare slots used when replicating (up to one replica per GPU and expert).
        size_t used = 0;
        for (const auto& gpu : lay.layers[0].gpu_experts) used += gpu.size();
        const size_t want =
            replicate ? static_cast<size_t>(std::min(cl.total_slots(), c.experts * cl.num_gpus()))
                      : static_cast<size_t>(c.experts);
        if (std::string(algo) != "eplb") {
          EXPECT_EQ(used, want);
        }
      }
    }
  }
}

TEST(PlaceBasic, RoundRobinIsContiguousBlocks) {
  Rng rng(1);
  const TraceStats s = random_stats(rng, 2, 10);
  const Layout lay = find_placement("round-robin").place({"m", s, shape(1, 4, 3), 1, {}});
  EXPECT_EQ(lay.layers[1].gpu_experts,
            (std::vector<std::vector<uint16_t>>{{0, 1, 2}, {3, 4, 5}, {6, 7}, {8, 9}}));
}

// Optimal max GPU load over every assignment of experts to GPUs with <= slots each.
double brute_force_opt(const std::vector<double>& w, int gpus, int slots) {
  const size_t n = w.size();
  double best = 1e300;
  std::vector<int> a(n, 0);
  while (true) {
    std::vector<double> load(static_cast<size_t>(gpus), 0);
    std::vector<int> cnt(static_cast<size_t>(gpus), 0);
    bool ok = true;
    for (size_t i = 0; i < n; ++i) {
      load[static_cast<size_t>(a[i])] += w[i];
      ok = ok && ++cnt[static_cast<size_t>(a[i])] <= slots;
    }
    if (ok) best = std::min(best, *std::max_element(load.begin(), load.end()));
    size_t i = 0;
    while (i < n && ++a[i] == gpus) a[i++] = 0;
    if (i == n) return best;
  }
}

double max_gpu_load(const Layout& lay, const TraceStats& s) {
  const auto w = gpu_loads(lay.layers[0], layer_load(s, 0));
  return *std::max_element(w.begin(), w.end());
}

// LPT's bound without slot limits, and within 2x of the optimum with them (docs/placement.md).
TEST(PlaceBasic, BalancedWithinBoundOfBruteForceOptimum) {
  Rng rng(5);
  double worst_free = 1, worst_limited = 1;
  for (int trial = 0; trial < 300; ++trial) {
    const int gpus = 2 + trial % 3, experts = gpus + 1 + trial % 4;
    const TraceStats s = random_stats(rng, 1, experts);
    const std::vector<double> w = layer_load(s, 0);
    if (*std::max_element(w.begin(), w.end()) == 0) continue;
    const nlohmann::json no_rep = {{"replicate", false}};
    // No slot limit: slots = E.
    const double free_ratio =
        max_gpu_load(find_placement("balanced").place({"m", s, shape(1, gpus, experts), 1, no_rep}),
                     s) /
        brute_force_opt(w, gpus, experts);
    EXPECT_LE(free_ratio, 4.0 / 3 - 1.0 / (3 * gpus) + 1e-9) << "trial " << trial;
    // Tight slots: ceil(E / G).
    const int slots = (experts + gpus - 1) / gpus;
    const double lim_ratio =
        max_gpu_load(find_placement("balanced").place({"m", s, shape(1, gpus, slots), 1, no_rep}),
                     s) /
        brute_force_opt(w, gpus, slots);
    EXPECT_LE(lim_ratio, 2.0) << "trial " << trial;
    worst_free = std::max(worst_free, free_ratio);
    worst_limited = std::max(worst_limited, lim_ratio);
  }
  std::printf("worst balanced/optimum: %.4f without slot limit, %.4f with\n", worst_free,
              worst_limited);
}

// Graham's tight instance: LPT puts 3, 3 apart, then 2, 2, 2 -> 7 against the optimum 6
// ({3, 3} and {2, 2, 2}), exactly 4/3 - 1/(3 * 2).
TEST(PlaceBasic, BalancedIsLptOnGrahamsInstance) {
  TraceStats s;
  s.num_layers = 1;
  s.num_experts = 5;
  s.load = {2, 3, 2, 3, 2};
  const Layout lay =
      find_placement("balanced").place({"m", s, shape(1, 2, 5), 1, {{"replicate", false}}});
  EXPECT_DOUBLE_EQ(max_gpu_load(lay, s), 7.0);
  EXPECT_DOUBLE_EQ(brute_force_opt(layer_load(s, 0), 2, 5), 6.0);
}

// A hot expert gets more replicas than cold ones, and at most one per GPU.
TEST(PlaceBasic, ReplicationFavoursHotExperts) {
  TraceStats s;
  s.num_layers = 1;
  s.num_experts = 8;
  s.load = {10, 10, 500, 10, 10, 200, 10, 10};
  for (const char* algo : {"balanced", "round-robin"}) {
    const Layout lay =
        find_placement(algo).place({"m", s, shape(1, 4, 3), 1, {{"replicate", true}}});
    const ReplicaMap m = replica_map(lay.layers[0], 8);
    EXPECT_EQ(m.replicas[2].size(), 4u) << algo;  // capped at one per GPU
    EXPECT_GE(m.replicas[5].size(), 2u) << algo;
    EXPECT_EQ(m.replicas[0].size(), 1u) << algo;
  }
  // Four spare slots: 500 -> 2 (250 each), 250 > 200 -> 3, 200 > 167 -> expert 5, then 2 again;
  // capped at 2: 2, 5, then the first of the tied 10s (0, then 1).
  EXPECT_EQ(replica_counts(layer_load(s, 0), 12, 0), (std::vector<int>{1, 1, 4, 1, 1, 2, 1, 1}));
  EXPECT_EQ(replica_counts(layer_load(s, 0), 12, 2), (std::vector<int>{2, 2, 2, 1, 1, 2, 1, 1}));
}

// ---- the CLI ----

struct CliFixture {
  ScratchDir dir;
  std::string trace = dir.path("t.h5");
  CliFixture() { write_trace(trace, test::make_trace(6, 20, 2, 8, 2)); }
};

TEST(PlaceCli, WritesValidLayoutForEachAlgorithm) {
  CliFixture f;
  for (const char* algo : {"round-robin", "balanced", "eplb"}) {
    const std::string out = f.dir.path(std::string(algo) + ".json");
    const auto r = test::run_epbench({"place", "--algo", algo, "--trace", f.trace, "--fit", "0:50%",
                                      "--cluster", "h800", "--nodes", "2", "--gpus-per-node", "2",
                                      "--slots", "3", "--param", "replicate=1", "-o", out});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("predicted max/mean GPU load"), std::string::npos) << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
    const Layout lay = read_layout(out);
    EXPECT_EQ(lay.algorithm, algo);
    EXPECT_EQ(lay.fit_begin, 0u);
    EXPECT_EQ(lay.fit_end, 60u);
    EXPECT_EQ(lay.num_gpus(), 4);
    EXPECT_EQ(lay.slots_per_gpu, 3);
  }
}

void expect_refused(const CliFixture& f, std::vector<std::string> extra,
                    const std::string& needle) {
  const std::string out = f.dir.path("refused.json");
  std::vector<std::string> args = {"place", "--trace", f.trace, "-o", out};
  args.insert(args.end(), extra.begin(), extra.end());
  const auto r = test::run_epbench(args);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  EXPECT_FALSE(test::file_exists(out));
  EXPECT_TRUE(test::files_matching(f.dir.path(""), "refused").empty());
}

TEST(PlaceCli, RefusesBadRequests) {
  CliFixture f;
  expect_refused(f, {"--algo", "balanced", "--nodes", "1", "--gpus-per-node", "2", "--slots", "3"},
                 "cannot hold the model's 8 experts");
  expect_refused(f, {"--algo", "balanced", "--fit", "10:10"}, "--fit");
  expect_refused(f, {"--algo", "balanced", "--fit", "0:1000"}, "--fit");
  expect_refused(f, {"--algo", "nope"}, "unknown placement algorithm 'nope'");
  expect_refused(f, {"--algo", "balanced", "--cluster", "tpu"}, "unknown cluster preset 'tpu'");
  expect_refused(f, {"--algo", "balanced", "--param", "replicate=maybe"}, "--param replicate");
  expect_refused(f, {"--algo", "balanced", "--param", "oops"}, "--param: expected KEY=VALUE");
  expect_refused(f, {"--algo", "eplb", "--param", "groups=3"}, "eplb: expected");
}

}  // namespace
}  // namespace epbench

// EPLB: DeepSeek's published example reproduced exactly, its invariants on random instances,
// and the layout wrapper (groups from the model preset, EPLB's slots kept as they are).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "common/error.h"
#include "common/rng.h"
#include "placement/common.h"
#include "placement/eplb.h"

namespace epbench {
namespace {

// github.com/deepseek-ai/EPLB README: 2 layers, 12 experts, 16 replicas, 4 groups, 2 nodes,
// 8 GPUs.
TEST(Eplb, PublishedExampleExact) {
  const std::vector<std::vector<double>> weights = {
      {90, 132, 40, 61, 104, 165, 39, 4, 73, 56, 183, 86},
      {20, 107, 104, 64, 19, 197, 187, 157, 172, 86, 16, 27}};
  const std::vector<std::vector<int>> expected = {
      {5, 6, 5, 7, 8, 4, 3, 4, 10, 9, 10, 2, 0, 1, 11, 1},
      {7, 10, 6, 8, 6, 11, 8, 9, 2, 4, 5, 1, 5, 0, 3, 1}};
  EXPECT_EQ(eplb_rebalance(weights, 16, 4, 2, 8), expected);
}

// The helpers on their own, with ties: EPLB's rules, checked by hand.
TEST(Eplb, ReplicateGivesSlotToLargestLoadPerReplica) {
  const std::vector<double> w = {10, 30, 30, 5};
  const Replication r = replicate_experts(w, 7);
  // 30 (first of the tie: expert 1), 30 (expert 2), then 15 vs 15 -> expert 1 again.
  EXPECT_EQ(r.phy2log, (std::vector<int>{0, 1, 2, 3, 1, 2, 1}));
  EXPECT_EQ(r.rank, (std::vector<int>{0, 0, 0, 0, 1, 1, 2}));
  EXPECT_EQ(r.count, (std::vector<int>{1, 3, 2, 1}));
}

TEST(Eplb, BalancedPackingStableAndLightestFirst) {
  const std::vector<double> w = {4, 7, 7, 1, 3, 2};
  const Packing p = balanced_packing(w, 2);
  // Items by weight, stable: 1, 2 (both 7), 0, 4, 5, 3. Item 1 -> A; 2 -> B; 0 -> A (7 = 7,
  // first pack); 4 -> B (7 < 11); 5 -> B (10 < 11), now full; 3 -> A, the only one with room.
  EXPECT_EQ(p.pack, (std::vector<int>{0, 0, 1, 0, 1, 1}));
  EXPECT_EQ(p.rank, (std::vector<int>{1, 0, 0, 2, 1, 2}));
}

std::vector<std::vector<double>> random_weights(Rng& rng, int layers, int experts) {
  std::vector<std::vector<double>> w(static_cast<size_t>(layers));
  for (auto& row : w)
    for (int e = 0; e < experts; ++e)
      row.push_back(std::floor(rng.uniform() * rng.uniform() * 1000));  // skewed
  return w;
}

// Every expert at least once, every GPU exactly its slots, per node whole groups in the
// hierarchical case; hot experts get at least as many replicas as cooler ones.
TEST(Eplb, InvariantsOnRandomInstances) {
  Rng rng(7);
  struct Case {
    int experts, replicas, groups, nodes, gpus;
  };
  const Case cases[] = {{12, 16, 4, 2, 8}, {64, 96, 8, 4, 16}, {64, 64, 8, 2, 8},
                        {60, 72, 6, 4, 8}, {32, 40, 4, 1, 4},  {16, 32, 4, 2, 4}};
  for (const Case& c : cases) {
    const auto w = random_weights(rng, 5, c.experts);
    const auto phy = eplb_rebalance(w, c.replicas, c.groups, c.nodes, c.gpus);
    ASSERT_EQ(phy.size(), w.size());
    for (size_t l = 0; l < w.size(); ++l) {
      ASSERT_EQ(static_cast<int>(phy[l].size()), c.replicas);
      std::vector<int> count(static_cast<size_t>(c.experts), 0);
      for (int e : phy[l]) ++count[static_cast<size_t>(e)];
      for (int e = 0; e < c.experts; ++e) EXPECT_GE(count[static_cast<size_t>(e)], 1);
      // Hierarchical: every replica on a node belongs to a group placed on that node.
      if (c.groups % c.nodes == 0) {
        const int per_node = c.replicas / c.nodes, group_size = c.experts / c.groups;
        std::map<int, int> node_of_group;
        for (int p = 0; p < c.replicas; ++p) {
          const int g = phy[l][static_cast<size_t>(p)] / group_size;
          auto [it, fresh] = node_of_group.emplace(g, p / per_node);
          EXPECT_EQ(it->second, p / per_node) << "group " << g << " split across nodes";
        }
      }
    }
  }
}

TEST(Eplb, HotExpertGetsMoreReplicas) {
  std::vector<double> w(16, 10.0);
  w[3] = 400;  // one hot expert
  const auto phy = eplb_rebalance({w}, 24, 1, 1, 4);
  const auto n3 = std::count(phy[0].begin(), phy[0].end(), 3);
  EXPECT_EQ(n3, 9);  // all 8 spare slots: 400 / 9 = 44 is still above every other load
  for (int e = 0; e < 16; ++e)
    if (e != 3) {
      EXPECT_EQ(std::count(phy[0].begin(), phy[0].end(), e), 1);
    }
}

TEST(Eplb, GlobalPolicyWhenGroupsNotMultipleOfNodes) {
  Rng rng(3);
  const auto w = random_weights(rng, 3, 24);
  // 3 groups on 2 nodes: global, identical to groups = nodes = 1.
  EXPECT_EQ(eplb_rebalance(w, 32, 3, 2, 8), eplb_rebalance(w, 32, 1, 1, 8));
}

TEST(Eplb, RejectsImpossibleShapes) {
  const std::vector<std::vector<double>> w = {std::vector<double>(12, 1.0)};
  EXPECT_THROW(eplb_rebalance(w, 10, 4, 2, 8), InputError);  // fewer replicas than experts
  EXPECT_THROW(eplb_rebalance(w, 18, 4, 2, 8), InputError);  // not a multiple of GPUs
  EXPECT_THROW(eplb_rebalance(w, 16, 8, 2, 8), InputError);  // 12 experts in 8 groups
}

// The wrapper: a layout with the preset's groups, valid, hottest experts replicated.
TEST(Eplb, PlaceWrapperMakesValidLayout) {
  TraceStats s;
  s.num_layers = 2;
  s.num_experts = 16;
  s.top_k = 2;
  s.load.assign(32, 5);
  s.load[3] = 500;  // layer 0: one very hot expert -> many replicas, several per GPU
  s.load[16 + 9] = 90;
  ClusterSpec c;
  c.nodes = 1;
  c.gpus_per_node = 2;
  c.slots_per_gpu = 12;
  PlacementInput in{"unknown-model", s, c, 1, nlohmann::json::object()};
  const Layout lay = find_placement("eplb").place(in);
  EXPECT_NO_THROW(validate_layout(lay, "eplb"));
  EXPECT_EQ(lay.params.at("groups"), 1);
  // EPLB's 24 slots: the 8 spare all go to expert 3, kept slot for slot (as phy2log has them),
  // so it has 9 replicas over both GPUs, and every slot is used.
  const ReplicaMap m = replica_map(lay.layers[0], 16);
  EXPECT_EQ(m.replicas[3].size(), 9u);
  EXPECT_EQ(std::set<int>(m.replicas[3].begin(), m.replicas[3].end()), (std::set<int>{0, 1}));
  EXPECT_EQ(occupied_slots(lay.layers[0]), 24u);
  in.params["groups"] = 5;  // 16 experts are not 5 groups
  EXPECT_THROW(find_placement("eplb").place(in), InputError);
}

}  // namespace
}  // namespace epbench

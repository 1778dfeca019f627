// The cost model against values computed by hand (docs/costmodel.md has the same example).
#include <gtest/gtest.h>

#include "common/error.h"
#include "costmodel/cost_model.h"

namespace epbench {
namespace {

// 2 nodes x 2 GPUs, 2 slots each; expert e sits in slot e (GPU e / 2). Numbers chosen so the
// hand arithmetic is exact: a token is 4 x 2 = 8 bytes; 8 bytes take 1 us over NVLink
// (8 MB/s) and 2 us over the network (4 MB/s); one token through one expert takes 1 us of
// FLOPs (6 x 4 x 8 = 192 FLOP at 192 MFLOP/s); reading an expert's weights takes 2 us
// (3 x 4 x 8 x 2 = 192 bytes at 96 MB/s). Latencies: 1 us NVLink, 2 us network.
ClusterSpec tiny_cluster(int gpus_per_nic = 1) {
  ClusterSpec c;
  c.name = "tiny";
  c.nodes = 2;
  c.gpus_per_node = 2;
  c.slots_per_gpu = 2;
  c.same_node = {1e-6, 8e6};
  c.other_node = {2e-6, 4e6};
  c.gpus_per_nic = gpus_per_nic;
  c.gpu_flops = 192e6;
  c.hbm_bandwidth_Bps = 96e6;
  c.bytes_per_activation = 2;
  c.bytes_per_weight = 2;
  return c;
}

// Five tokens, top-2: t0 at home on GPU 0 with both experts local; t1 from GPU 0 to GPU 1
// (same node) and GPU 2 (other node); t2 from GPU 1 to experts 4 and 5, both on GPU 2 (sent
// once); t3 from GPU 3 to itself and GPU 1; t4 from GPU 0 to GPUs 2 and 3.
const int32_t kHome[] = {0, 0, 1, 3, 0};
const int32_t kSlot[] = {0, 1, 2, 4, 5, 4, 6, 2, 4, 6};
constexpr double us = 1e-6;

LayerCost price(const ClusterSpec& c, bool hierarchical) {
  CostModel m(c, 4, 8, CostOptions{hierarchical});
  LayerCost out;
  m.price_layer(kHome, kSlot, 5, 2, out);
  return out;
}

TEST(CostModel, ExpertTimeIsRoofline) {
  CostModel m(tiny_cluster(), 4, 8);
  EXPECT_DOUBLE_EQ(m.expert_time(0), 0);
  EXPECT_DOUBLE_EQ(m.expert_time(1), 2 * us);  // weights dominate
  EXPECT_DOUBLE_EQ(m.expert_time(2), 2 * us);
  EXPECT_DOUBLE_EQ(m.expert_time(5), 5 * us);  // FLOPs dominate
}

TEST(CostModel, FlatBytesDedupPerDestinationGpu) {
  const LayerCost c = price(tiny_cluster(), false);
  // Sent = dispatch sends + combine sends (= dispatch receives).
  EXPECT_EQ(c.bytes_same_node, (std::vector<uint64_t>{8, 8, 0, 0}));
  EXPECT_EQ(c.bytes_other_node, (std::vector<uint64_t>{24, 16, 24, 16}));
  EXPECT_EQ(c.pairs, (std::vector<uint32_t>{2, 2, 4, 2}));
}

TEST(CostModel, FlatTimes) {
  const LayerCost c = price(tiny_cluster(), false);
  // GPU 0 sends 1 token on NVLink (1 + 1 us) and 3 over the network (2 + 6 us).
  // GPU 1 receives 1 on NVLink (2 us) and 1 from the network (4 us); sends 1 (4 us).
  // GPU 2 receives 3 from the network (2 + 6 us). GPU 3 sends 1 and receives 1 (4 us each).
  const std::vector<double> dispatch{10 * us, 6 * us, 8 * us, 4 * us};
  for (size_t g = 0; g < 4; ++g) {
    EXPECT_NEAR(c.dispatch_s[g], dispatch[g], 1e-15) << g;
    EXPECT_NEAR(c.combine_s[g], dispatch[g], 1e-15) << g;
  }
  // GPU 0: two experts with one token (2 us each); GPU 1: expert 2 with 2 tokens, expert 3
  // idle; GPU 2: expert 4 with 3 tokens (3 us) and expert 5 with 1 (2 us); GPU 3: 2 us.
  const std::vector<double> compute{4 * us, 2 * us, 5 * us, 2 * us};
  for (size_t g = 0; g < 4; ++g) EXPECT_NEAR(c.compute_s[g], compute[g], 1e-15) << g;
  EXPECT_NEAR(c.dispatch_max, 10 * us, 1e-15);
  EXPECT_NEAR(c.compute_max, 5 * us, 1e-15);
  EXPECT_NEAR(c.total(), 25 * us, 1e-15);
}

TEST(CostModel, HierarchicalCrossesTheNetworkOncePerNode) {
  const LayerCost c = price(tiny_cluster(), true);
  // t4 reaches node 1 once (relay GPU 2, which forwards to GPU 3 over NVLink); t2 goes to
  // relay GPU 3 (GPU 1's local index), which forwards to GPU 2. 4 network transfers, not 5.
  EXPECT_EQ(c.bytes_same_node, (std::vector<uint64_t>{8, 8, 16, 16}));
  EXPECT_EQ(c.bytes_other_node, (std::vector<uint64_t>{16, 16, 16, 16}));
  const std::vector<double> dispatch{8 * us, 6 * us, 8 * us, 6 * us};
  for (size_t g = 0; g < 4; ++g) EXPECT_NEAR(c.dispatch_s[g], dispatch[g], 1e-15) << g;
  EXPECT_NEAR(c.compute_max, 5 * us, 1e-15);  // compute does not depend on the path
}

TEST(CostModel, SharedNicPoolsItsGpusBytes) {
  const LayerCost c = price(tiny_cluster(2), false);
  // One NIC per node at 2 x 4 MB/s: node 0 sends 4 tokens (32 bytes: 2 + 4 us), node 1
  // receives 4 (2 + 4 us) and sends 1 (2 + 1 us), node 0 receives 1 (2 + 1 us).
  const std::vector<double> dispatch{8 * us, 6 * us, 6 * us, 6 * us};
  for (size_t g = 0; g < 4; ++g) EXPECT_NEAR(c.dispatch_s[g], dispatch[g], 1e-15) << g;
}

TEST(CostModel, ReusableAcrossCalls) {
  CostModel m(tiny_cluster(), 4, 8);
  LayerCost a, b;
  m.price_layer(kHome, kSlot, 5, 2, a);
  const int32_t home[] = {2};
  const int32_t slot[] = {4, 5};
  m.price_layer(home, slot, 1, 2, b);  // one local token: nothing moves
  EXPECT_EQ(b.bytes_other_node, (std::vector<uint64_t>{0, 0, 0, 0}));
  EXPECT_DOUBLE_EQ(b.dispatch_max, 0);
  EXPECT_NEAR(b.compute_max, 4 * us, 1e-15);
  m.price_layer(kHome, kSlot, 5, 2, b);
  EXPECT_EQ(a.bytes_other_node, b.bytes_other_node);
  EXPECT_EQ(a.dispatch_s, b.dispatch_s);
}

TEST(CostModel, RejectsAnEmptyCluster) {
  ClusterSpec c = tiny_cluster();
  c.slots_per_gpu = 0;
  EXPECT_THROW(CostModel(c, 4, 8), InputError);
  EXPECT_THROW(CostModel(tiny_cluster(), 0, 8), InputError);
}

}  // namespace
}  // namespace epbench

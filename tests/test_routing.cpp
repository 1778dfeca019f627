// Routing policies, request allocation and static batching.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "common/error.h"
#include "routing/allocation.h"
#include "routing/batching.h"
#include "routing/max_flow.h"
#include "routing/routing.h"

namespace epbench {
namespace {

constexpr RoutingPolicy kAll[] = {RoutingPolicy::kFirst, RoutingPolicy::kRoundRobin,
                                  RoutingPolicy::kLeastLoaded, RoutingPolicy::kLocalFirst,
                                  RoutingPolicy::kOptimal};

// A random layer: every expert once, then `extra` replicas of random experts in spare slots.
LayerPlacement random_layer(std::mt19937& rng, int G, int S, int E) {
  LayerPlacement p;
  p.gpu_experts.resize(static_cast<size_t>(G));
  std::vector<int> order(static_cast<size_t>(E));
  for (int e = 0; e < E; ++e) order[static_cast<size_t>(e)] = e;
  std::shuffle(order.begin(), order.end(), rng);
  for (int i = 0; i < E; ++i)
    p.gpu_experts[static_cast<size_t>(i % G)].push_back(
        static_cast<uint16_t>(order[static_cast<size_t>(i)]));
  for (auto& list : p.gpu_experts)
    while (static_cast<int>(list.size()) < S) {
      const auto e = static_cast<uint16_t>(rng() % static_cast<unsigned>(E));
      if (std::find(list.begin(), list.end(), e) == list.end()) list.push_back(e);
    }
  return p;
}

struct Batch {
  std::vector<uint16_t> ids;
  std::vector<int32_t> home;
};

Batch random_batch(std::mt19937& rng, size_t n, int k, int E, int G) {
  Batch b;
  for (size_t t = 0; t < n; ++t) {
    b.home.push_back(static_cast<int32_t>(rng() % static_cast<unsigned>(G)));
    std::vector<uint16_t> chosen;
    while (static_cast<int>(chosen.size()) < k) {
      const auto e = static_cast<uint16_t>(rng() % static_cast<unsigned>(E));
      if (std::find(chosen.begin(), chosen.end(), e) == chosen.end()) chosen.push_back(e);
    }
    b.ids.insert(b.ids.end(), chosen.begin(), chosen.end());
  }
  return b;
}

std::vector<int32_t> route(RoutingPolicy p, const LayerReplicas& r, const Batch& b, int k) {
  Router router(p);
  std::vector<int32_t> slot(b.ids.size(), -1);
  router.route(r, b.ids.data(), b.home.data(), b.home.size(), k, slot.data());
  return slot;
}

// Smallest maximum load over every assignment (tiny instances only).
uint32_t brute_force(const LayerReplicas& r, const Batch& b, std::vector<int32_t>& slot, size_t i) {
  if (i == b.ids.size()) return max_gpu_load(r, slot.data(), slot.size());
  uint32_t best = UINT32_MAX;
  for (uint32_t q = r.offset[b.ids[i]]; q < r.offset[b.ids[i] + 1u]; ++q) {
    slot[i] = r.slot[q];
    best = std::min(best, brute_force(r, b, slot, i + 1));
  }
  return best;
}

TEST(Routing, EveryPolicyPicksAReplicaOfTheExpert) {
  std::mt19937 rng(7);
  const int G = 8, S = 3, E = 16, k = 4;
  const LayerPlacement layer = random_layer(rng, G, S, E);
  const LayerReplicas r = make_replicas(layer, E, S, 4);
  const Batch b = random_batch(rng, 50, k, E, G);
  for (RoutingPolicy p : kAll) {
    const std::vector<int32_t> slot = route(p, r, b, k);
    for (size_t i = 0; i < slot.size(); ++i) {
      const int g = slot[i] / S, idx = slot[i] % S;
      ASSERT_GE(slot[i], 0) << routing_name(p);
      ASSERT_LT(static_cast<size_t>(idx), layer.gpu_experts[static_cast<size_t>(g)].size());
      EXPECT_EQ(layer.gpu_experts[static_cast<size_t>(g)][static_cast<size_t>(idx)], b.ids[i])
          << routing_name(p);
    }
  }
}

TEST(Routing, RoundRobinFollowsTheFlattenedIndex) {
  LayerPlacement layer;
  layer.gpu_experts = {{0, 1}, {0, 2}, {0, 3}};  // expert 0 on every GPU
  const LayerReplicas r = make_replicas(layer, 4, 2, 3);
  Batch b{{0, 1, 0, 2, 0, 3}, {0, 0, 0}};
  const std::vector<int32_t> slot = route(RoutingPolicy::kRoundRobin, r, b, 2);
  // Pairs 0, 2, 4 choose expert 0: replicas (index mod 3) 0, 2, 1 -> GPUs 0, 2, 1.
  EXPECT_EQ(slot[0] / 2, 0);
  EXPECT_EQ(slot[2] / 2, 2);
  EXPECT_EQ(slot[4] / 2, 1);
}

TEST(Routing, LocalFirstPrefersHomeThenNode) {
  LayerPlacement layer;
  layer.gpu_experts = {{0}, {1}, {0}, {1}};  // 2 nodes x 2 GPUs
  const LayerReplicas r = make_replicas(layer, 2, 1, 2);
  Batch b{{0, 0, 1}, {2, 3, 0}};
  const std::vector<int32_t> slot = route(RoutingPolicy::kLocalFirst, r, b, 1);
  EXPECT_EQ(slot[0], 2);  // expert 0 on its home GPU 2
  EXPECT_EQ(slot[1], 2);  // GPU 3's node holds expert 0 on GPU 2
  EXPECT_EQ(slot[2], 1);  // GPU 0's node holds expert 1 on GPU 1
}

TEST(Routing, OptimalNeverWorseThanTheOthers) {
  std::mt19937 rng(11);
  int improved = 0;  // trials where the greedy policies miss the optimum
  for (int trial = 0; trial < 200; ++trial) {
    const int G = 2 + static_cast<int>(rng() % 7), S = 2 + static_cast<int>(rng() % 3);
    const int E = std::max(S, G + static_cast<int>(rng() % static_cast<unsigned>(G * (S - 1))));
    const int k = 1 + static_cast<int>(rng() % std::min(4u, static_cast<unsigned>(E)));
    const LayerReplicas r = make_replicas(random_layer(rng, G, S, E), E, S, 2);
    const Batch b = random_batch(rng, 1 + rng() % 60, k, E, G);
    const auto opt = route(RoutingPolicy::kOptimal, r, b, k);
    const uint32_t best = max_gpu_load(r, opt.data(), opt.size());
    for (RoutingPolicy p : kAll) {
      const auto s = route(p, r, b, k);
      EXPECT_LE(best, max_gpu_load(r, s.data(), s.size())) << routing_name(p) << " " << trial;
      if (p == RoutingPolicy::kLeastLoaded) improved += best < max_gpu_load(r, s.data(), s.size());
    }
  }
  EXPECT_GT(improved, 0);  // the flow search did real work
}

TEST(Routing, OptimalEqualsBruteForceOnTinyInstances) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 150; ++trial) {
    const int G = 2 + static_cast<int>(rng() % 3), S = 2, E = G + 1;
    const int k = 1 + static_cast<int>(rng() % 2);
    const LayerReplicas r = make_replicas(random_layer(rng, G, S, E), E, S, 1);
    const Batch b = random_batch(rng, 1 + rng() % 5, k, E, G);
    const auto opt = route(RoutingPolicy::kOptimal, r, b, k);
    std::vector<int32_t> scratch(b.ids.size());
    EXPECT_EQ(max_gpu_load(r, opt.data(), opt.size()), brute_force(r, b, scratch, 0)) << trial;
  }
}

// The network is solved again after capacities change, as optimal()'s binary search does; each
// answer is the min cut of that setting, and the arc flows respect capacity and conservation.
TEST(MaxFlowNetwork, ResolvesAfterCapacityChanges) {
  MaxFlowNetwork net;
  net.reset(4);  // 0 source, 1 sink, 2 and 3 inner
  const int s2 = net.add_arc(0, 2, 5), s3 = net.add_arc(0, 3, 4), x = net.add_arc(2, 3, 3);
  const int t2 = net.add_arc(2, 1, 2), t3 = net.add_arc(3, 1, 6);
  EXPECT_EQ(net.run(0, 1), 8);  // cut {t2, t3}
  EXPECT_EQ(net.flow(t2) + net.flow(t3), 8);
  EXPECT_EQ(net.flow(s2), net.flow(t2) + net.flow(x));
  EXPECT_EQ(net.flow(s3) + net.flow(x), net.flow(t3));
  net.set_capacity(t3, 1);
  EXPECT_EQ(net.run(0, 1), 3);
  net.set_capacity(t2, 10);
  net.set_capacity(t3, 10);
  EXPECT_EQ(net.run(0, 1), 9);  // cut {s2, s3}
  EXPECT_LE(net.flow(x), 3);
  MaxFlowNetwork copy(net);  // scratch: a copy starts empty
  copy.reset(2);
  EXPECT_EQ(copy.run(0, 1), 0);
}

TEST(Routing, RejectsUnknownNamesAndMissingExperts) {
  EXPECT_THROW(parse_routing("fastest"), InputError);
  EXPECT_EQ(parse_routing("optimal"), RoutingPolicy::kOptimal);
  LayerPlacement layer;
  layer.gpu_experts = {{0}, {1}};
  EXPECT_THROW(make_replicas(layer, 3, 1, 2), InputError);  // expert 2 nowhere
}

ClusterSpec kv_cluster(double capacity) {
  ClusterSpec c;
  c.nodes = 2;
  c.gpus_per_node = 2;
  c.slots_per_gpu = 2;
  c.kv_capacity_tokens = capacity;
  return c;
}

// The library names its field, never a flag it did not see; the CLI translates (test_cli).
TEST(Routing, ErrorsNameTheFieldNotAFlag) {
  try {
    parse_routing("fastest");
    FAIL() << "no error";
  } catch (const OptionError& e) {
    EXPECT_EQ(e.field(), "routing");
    EXPECT_EQ(std::string(e.what()).find("--"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("fastest"), std::string::npos) << e.what();
  }
  set_field_namer([](const std::string& field) { return "--" + field; });
  try {
    parse_routing("fastest");
  } catch (const OptionError& e) {
    EXPECT_EQ(user_message(e).rfind("--routing: expected one of", 0), 0u) << user_message(e);
  }
  set_field_namer(nullptr);
}

TEST(Allocation, RespectsKvCapacity) {
  std::mt19937 rng(5);
  for (const char* name : {"round-robin", "least-loaded", "affinity"}) {
    Allocator a(parse_allocation(name), kv_cluster(100));
    std::vector<double> used(4, 0);
    for (int i = 0; i < 200; ++i) {
      const double need = static_cast<double>(1 + rng() % 40);
      std::vector<double> aff(4);
      for (double& v : aff) v = static_cast<double>(rng() % 10);
      const int g = a.place(need, aff);
      if (g < 0) {
        for (int q = 0; q < 4; ++q) EXPECT_GT(used[static_cast<size_t>(q)] + need, 100) << name;
        continue;
      }
      used[static_cast<size_t>(g)] += need;
      EXPECT_LE(used[static_cast<size_t>(g)], 100) << name;
      EXPECT_DOUBLE_EQ(a.used(g), used[static_cast<size_t>(g)]);
      if (rng() % 3 == 0) a.release(g, need), used[static_cast<size_t>(g)] -= need;
    }
  }
}

TEST(Allocation, AffinityPicksTheNodeThenTheGpu) {
  Allocator a(AllocationPolicy::kAffinity, kv_cluster(0));
  // Node 1 (GPUs 2, 3) holds most of the request's experts, GPU 3 the most of them.
  EXPECT_EQ(a.place(10, std::vector<double>{5, 0, 3, 4}), 3);
  // Node 0 as a whole wins (5 + 4 > 3 + 2) though GPU 2 alone does not.
  EXPECT_EQ(a.place(10, std::vector<double>{5, 4, 6, 2}), 0);
  // Round-robin cycles; least-loaded fills the emptiest.
  Allocator rr(AllocationPolicy::kRoundRobin, kv_cluster(0));
  EXPECT_EQ(rr.place(1), 0);
  EXPECT_EQ(rr.place(1), 1);
  Allocator ll(AllocationPolicy::kLeastLoaded, kv_cluster(0));
  EXPECT_EQ(ll.place(5), 0);
  EXPECT_EQ(ll.place(1), 1);
}

std::vector<RequestSpan> random_requests(std::mt19937& rng, size_t count) {
  std::vector<RequestSpan> out;
  uint64_t at = 0;
  for (size_t r = 0; r < count; ++r) {
    const uint64_t prompt = rng() % 6, decode = 1 + rng() % 9;
    out.push_back({at, at + prompt, at + prompt + decode, static_cast<double>(prompt + decode)});
    at += prompt + decode;
  }
  return out;
}

TEST(Batching, EveryTokenOfEveryRequestRunsOnce) {
  std::mt19937 rng(9);
  for (const char* policy : {"fifo", "affinity"})
    for (int B : {1, 3, 8}) {
      const auto req = random_requests(rng, 40);
      std::vector<std::vector<double>> profile(req.size(), std::vector<double>(4));
      for (auto& p : profile)
        for (double& v : p) v = static_cast<double>(rng() % 5);
      Allocator alloc(AllocationPolicy::kLeastLoaded, kv_cluster(20));  // bounds batches
      const BatchingOptions opt{parse_batching(policy), B, 4, 0, 0};
      const StepPlan plan = plan_steps(req, profile, opt, alloc);
      std::vector<int> seen(req.back().end, 0);
      for (uint64_t t : plan.token) ++seen[t];
      for (int s : seen) EXPECT_EQ(s, 1) << policy << " B=" << B;
      for (uint32_t n : plan.batch_requests) EXPECT_LE(n, static_cast<uint32_t>(B));
      for (size_t s = 0; s < plan.num_steps(); ++s) {
        const uint64_t n = plan.offset[s + 1] - plan.offset[s];
        EXPECT_GT(n, 0u);
        EXPECT_LE(n, plan.prefill[s] ? 4u : static_cast<uint64_t>(B));
      }
      for (double u : {alloc.used(0), alloc.used(1), alloc.used(2), alloc.used(3)})
        EXPECT_DOUBLE_EQ(u, 0);  // every batch released its KV
    }
}

TEST(Batching, DecodeStepsTakeOneTokenPerRequest) {
  // Two requests: prompts of 2 and 1 tokens, 3 and 1 decode tokens; B = 2, chunk 8.
  const std::vector<RequestSpan> req{{0, 2, 5, 5}, {5, 6, 7, 2}};
  Allocator alloc(AllocationPolicy::kRoundRobin, kv_cluster(0));
  const StepPlan plan = plan_steps(req, {}, {BatchingPolicy::kFifo, 2, 8, 0, 0}, alloc);
  ASSERT_EQ(plan.num_steps(), 4u);  // 1 prefill chunk, then 3 decode steps
  EXPECT_EQ(plan.prefill, (std::vector<uint8_t>{1, 0, 0, 0}));
  EXPECT_EQ(plan.offset, (std::vector<uint64_t>{0, 3, 5, 6, 7}));
  EXPECT_EQ(plan.token, (std::vector<uint64_t>{0, 1, 5, 2, 6, 3, 4}));
  EXPECT_EQ(plan.home, (std::vector<int32_t>{0, 0, 1, 0, 1, 0, 0}));
}

TEST(Batching, RefusesARequestLargerThanAGpu) {
  Allocator alloc(AllocationPolicy::kRoundRobin, kv_cluster(4));
  const std::vector<RequestSpan> req{{0, 2, 5, 5}};
  EXPECT_THROW(plan_steps(req, {}, {BatchingPolicy::kFifo, 1, 8, 0, 0}, alloc), InputError);
}

}  // namespace
}  // namespace epbench

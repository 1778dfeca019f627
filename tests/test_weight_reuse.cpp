// Weight reuse across steps (docs/profile.md): the version-2 profile fields, the warm table,
// which slots a step finds warm, and the cost model pricing them.
#include <gtest/gtest.h>
#include <hdf5.h>

#include "common/error.h"
#include "costmodel/cost_model.h"
#include "costmodel/profile.h"
#include "costmodel/profile_tables.h"
#include "io/h5.h"
#include "sim/price_step.h"
#include "sim/weight_reuse.h"
#include "test_profile_util.h"
#include "test_util.h"

namespace epbench {
namespace {

using test::ffn_truth;
using test::warm_truth;
constexpr uint8_t W = ProfileTables::kWarm;  // warm through and through

// Two hosts of one rank: each GPU has a cache to itself (the walks below count per GPU).
Profile warm_profile(int experts_in_cache) {
  Profile p = test::synthetic_profile();
  p.hosts = {"host0", "host1"};
  test::add_warm_table(p, experts_in_cache);
  return p;
}

TEST(WeightReuse, FileRoundTripKeepsTheWarmTableAndCacheShare) {
  test::ScratchDir dir;
  write_profile(dir.path("p.h5"), warm_profile(3));
  const Profile q = read_profile(dir.path("p.h5"));
  EXPECT_EQ(q.ffn_warm_time_s, warm_profile(3).ffn_warm_time_s);
  EXPECT_EQ(q.cache_bytes_per_rank, 3 * 3 * 256 * 512 * 4);  // three fp32 experts
}

// Reuse curves over `others` experts read since, one token: with the others from memory, warm
// at 1, half the saving kept at 2, cold at 4; with them from the cache, warm out to 2, then
// cold at 4 (the cold reads are the curves' last points).
Profile curve_profile() {
  Profile p = warm_profile(3);
  const double warm = warm_truth(1), cold = ffn_truth(1);
  for (int64_t others : {1, 2, 4}) p.ffn_reuse_bytes.push_back(others * 3 * 256 * 512 * 4);
  p.ffn_reuse_time_s = {warm, (warm + cold) / 2, cold};
  p.ffn_reuse_loop_time_s = {warm, warm, cold};
  return p;
}

TEST(WeightReuse, FileRoundTripKeepsTheReuseCurve) {
  test::ScratchDir dir;
  write_profile(dir.path("p.h5"), curve_profile());
  const Profile q = read_profile(dir.path("p.h5"));
  EXPECT_EQ(q.ffn_reuse_bytes, curve_profile().ffn_reuse_bytes);
  EXPECT_EQ(q.ffn_reuse_time_s, curve_profile().ffn_reuse_time_s);
  EXPECT_EQ(q.ffn_reuse_loop_time_s, curve_profile().ffn_reuse_loop_time_s);
  {  // a curve's times missing
    h5::File h = h5::open_file(dir.path("p.h5"), true);
    H5Ldelete(h.id(), "ffn/reuse_loop_time_s", H5P_DEFAULT);
  }
  EXPECT_THROW(
      {
        try {
          read_profile(dir.path("p.h5"));
        } catch (const InputError& e) {
          EXPECT_NE(std::string(e.what()).find("ffn/reuse_loop_time_s"), std::string::npos)
              << e.what();
          throw;
        }
      },
      InputError);
}

TEST(WeightReuse, TheCurvesSetHowWarmAnExpertIsAfterOthersWereRead) {
  const ProfileTables t(curve_profile());
  for (double hit : {0.0, 1.0}) {
    EXPECT_EQ(t.warmth(0, hit), W);  // before the curves' first point: their value
    EXPECT_EQ(t.warmth(1, hit), W);
  }
  EXPECT_NEAR(t.warmth(2, 0), 127.5, 0.5);  // half the saving kept
  EXPECT_NEAR(t.warmth(3, 0), 63.75, 0.5);  // a quarter, between points
  EXPECT_EQ(t.warmth(2, 1), W);             // the others from the cache
  EXPECT_NEAR(t.warmth(3, 1), 127.5, 0.5);
  EXPECT_NEAR(t.warmth(2, 0.5), 191.25, 0.5);  // half of them from the cache
  EXPECT_EQ(t.reuse_horizon(), 4u);
  EXPECT_EQ(t.warmth(4, 0), 0);  // the cold read
  EXPECT_EQ(t.warmth(4, 1), 0);
  EXPECT_DOUBLE_EQ(t.reused_expert_time(1, W), warm_truth(1));
  EXPECT_DOUBLE_EQ(t.reused_expert_time(1, 0), ffn_truth(1));
  EXPECT_NEAR(t.reused_expert_time(1, 128), (warm_truth(1) + ffn_truth(1)) / 2,
              0.01 * ffn_truth(1));
  // A slow read at 2 others and a faster one at 3: the curve is fitted non-decreasing, the two
  // pooled with the one before them (0.75), not the slow one carried on to 3 others.
  Profile noisy = curve_profile();
  noisy.ffn_reuse_bytes = {1 * 3 * 256 * 512 * 4, 2 * 3 * 256 * 512 * 4, 3 * 3 * 256 * 512 * 4,
                           4 * 3 * 256 * 512 * 4};
  noisy.ffn_reuse_time_s = {ffn_truth(1) * 0.75, ffn_truth(1) * 0.9, ffn_truth(1) * 0.6,
                            ffn_truth(1)};
  noisy.ffn_reuse_loop_time_s = noisy.ffn_reuse_time_s;
  const ProfileTables n(noisy);
  EXPECT_NEAR(n.warmth(1, 0), 127.5, 0.5);  // 0.75 of cold keeps half (warm is half the cold)
  EXPECT_NEAR(n.warmth(2, 0), 127.5, 0.5);  // 0.9 alone would keep a fifth
  EXPECT_NEAR(n.warmth(3, 0), 127.5, 0.5);  // 0.6 alone four fifths
  EXPECT_EQ(n.reuse_horizon(), 4u);
  // Without curves: warm while it fits the cache share, three experts here.
  const ProfileTables step(warm_profile(3));
  EXPECT_EQ(step.reuse_horizon(), 3u);
  EXPECT_EQ(step.warmth(2, 0), W);
  EXPECT_EQ(step.warmth(3, 1), 0);
}

TEST(WeightReuse, VersionOneFileReadsWithoutReuse) {
  test::ScratchDir dir;
  write_profile(dir.path("p.h5"), test::synthetic_profile());
  {  // what epbench wrote before version 2: no cache share, version 1
    h5::File h = h5::open_file(dir.path("p.h5"), true);
    H5Adelete(h.id(), "cache_bytes_per_rank");
    H5Adelete(h.id(), "version");
    h5::write_attr(h.id(), "version", int64_t{1});
  }
  const Profile q = read_profile(dir.path("p.h5"));
  EXPECT_TRUE(q.ffn_warm_time_s.empty());
  EXPECT_FALSE(ProfileTables(q).models_weight_reuse());
}

TEST(WeightReuse, WarmTableIsExactAtGridPointsAndNeverAboveCold) {
  Profile p = warm_profile(3);
  p.ffn_warm_time_s.back() = 10 * ffn_truth(double(p.ffn_tokens.back()));  // a noisy point
  const ProfileTables t(p);
  ASSERT_TRUE(t.models_weight_reuse());
  EXPECT_EQ(t.warm_expert_time(0), 0);
  for (size_t i = 0; i + 1 < p.ffn_tokens.size(); ++i) {
    const auto n = uint32_t(p.ffn_tokens[i]);
    EXPECT_DOUBLE_EQ(t.warm_expert_time(n), warm_truth(n)) << n;
  }
  const auto last = uint32_t(p.ffn_tokens.back());
  EXPECT_DOUBLE_EQ(t.warm_expert_time(last), t.expert_time(last));  // capped at the cold time
  EXPECT_EQ(t.expert_bytes(), uint64_t(3 * 256 * 512 * 4));
}

// Top-1 tokens on 2 GPUs of 2 slots. By default 4 experts, one replica each: GPU 0 holds
// experts 0 and 1, GPU 1 holds 2 and 3 (slots 0..3 in that order).
struct OneLayer {
  TokenBlock tokens;
  std::vector<LayerReplicas> replicas;
  // experts: [tokens, layers] top-1 choices
  explicit OneLayer(std::vector<uint16_t> experts, int layers = 1,
                    std::vector<std::vector<uint16_t>> gpu_experts = {{0, 1}, {2, 3}}, int E = 4) {
    tokens.num_layers = layers, tokens.top_k = 1;
    tokens.resize(experts.size() / size_t(layers), false);
    tokens.expert_ids = experts;
    LayerPlacement layer;
    layer.gpu_experts = std::move(gpu_experts);
    for (int l = 0; l < layers; ++l) replicas.push_back(make_replicas(layer, E, 2, 2));
  }
};

// mark_warm_slots with the routing most tests need: every replica first.
void mark_warm(const OneLayer& l, StepTokens steps, const CostModel& cost,
               std::vector<uint8_t>& warm) {
  Router first(RoutingPolicy::kFirst);
  mark_warm_slots(l.tokens, steps, l.replicas, cost, first, warm);
}

TEST(WeightReuse, SlotsOfRecentExpertsAreWarm) {
  const OneLayer l({0, 2, 1});  // tokens 0 and 1 came before
  const CostModel cost(test::profiled_cluster(warm_profile(3)), 256, 512);
  const uint64_t previous[] = {0, 1}, one_step[] = {0, 2};
  std::vector<uint8_t> warm;
  mark_warm(l, {previous + 2, nullptr, 0, previous, one_step, 1}, cost, warm);
  EXPECT_EQ(warm, (std::vector<uint8_t>{W, 0, W, 0}));
  mark_warm(l, {previous, nullptr, 0, previous, one_step, 0}, cost, warm);
  EXPECT_TRUE(warm.empty());
}

TEST(WeightReuse, OnlyTheMostRecentExpertsThatFitTheCacheAreWarm) {
  const OneLayer l({0, 1, 1, 2});
  const CostModel cost(test::profiled_cluster(warm_profile(1)), 256, 512);  // one expert fits
  // Four steps of one token: GPU 0 read expert 0, then 1 (twice); GPU 1 read 2.
  const uint64_t history[] = {0, 1, 2, 3}, offsets[] = {0, 1, 2, 3, 4};
  std::vector<uint8_t> warm;
  mark_warm(l, {history + 4, nullptr, 0, history, offsets, 4}, cost, warm);
  EXPECT_EQ(warm, (std::vector<uint8_t>{0, W, W, 0}));  // expert 0 was evicted by expert 1
  mark_warm(l, {history + 1, nullptr, 0, history, offsets, 1}, cost, warm);
  EXPECT_EQ(warm, (std::vector<uint8_t>{W, 0, 0, 0}));  // only expert 0 before
  // The same four tokens as one step: its experts were read at once, all of GPU 0's overflow.
  const uint64_t together[] = {0, 4};
  mark_warm(l, {history + 4, nullptr, 0, history, together, 1}, cost, warm);
  EXPECT_EQ(warm[2], W);
  EXPECT_EQ(warm[0] + warm[1], W);
}

TEST(WeightReuse, TheCurveWarmsAnExpertByTheExpertsReadSinceIt) {
  const OneLayer l({0, 1, 0});
  const CostModel cost(test::profiled_cluster(curve_profile()), 256, 512);
  // Two steps of one token on GPU 0: expert 0, then 1; now expert 0 again.
  const uint64_t history[] = {0, 1, 2}, offsets[] = {0, 1, 2};
  std::vector<uint8_t> warm;
  mark_warm(l, {history + 2, nullptr, 0, history, offsets, 2}, cost, warm);
  EXPECT_EQ(warm, (std::vector<uint8_t>{W, W, 0, 0}));  // 0 after one other: still warm
  // Two layers, GPU 0 holding experts 0 and 1 in each. Steps of one token: (0, 1), then
  // (1, 0), now (0, 0). Before layer 0, GPU 0 read back in time: layer 1's 0, layer 0's 1,
  // layer 1's 1, layer 0's 0 (three others since it); before layer 1, this step's layer 0 first.
  // None was read twice: the others came from memory.
  const OneLayer two({0, 1, 1, 0, 0, 0}, 2);
  const uint64_t steps[] = {0, 1, 2}, step_offsets[] = {0, 1, 2};
  mark_warm(two, {steps + 2, nullptr, 1, steps, step_offsets, 2}, cost, warm);
  EXPECT_EQ(warm, (std::vector<uint8_t>{64, W, 0, 0, W, 64, 0, 0}));
}

// Steps (0, 1), (1, 0), (0, 1), now (0, 0): before layer 1, GPU 0 read this step's layer-0
// expert 0, then layer 1's 1 and layer 0's 0 again (read twice: from the cache), then layer
// 1's 0 (two others since) and layer 0's 1, where the curves end. A quarter of the others
// came from the cache.
TEST(WeightReuse, OthersReadTwiceWithinTheCurvesCameFromTheCache) {
  const OneLayer l({0, 1, 1, 0, 0, 1, 0, 0}, 2);
  const CostModel cost(test::profiled_cluster(curve_profile()), 256, 512);
  const uint64_t steps[] = {0, 1, 2, 3}, offsets[] = {0, 1, 2, 3};
  std::vector<uint8_t> warm;
  mark_warm(l, {steps + 3, nullptr, 1, steps, offsets, 3}, cost, warm);
  ASSERT_EQ(warm.size(), 8u);
  EXPECT_EQ(warm[4], cost.profile()->warmth(2, 0.25));  // layer 1's expert 0
  EXPECT_NEAR(warm[4], (0.25 * 1 + 0.75 * 0.5) * W, 1);
  EXPECT_EQ(warm[5], W);  // layer 1's expert 1, one other since
  // Before layer 0: layer 1's 1, layer 0's 0, layer 1's 0, layer 0's 1: none read twice.
  EXPECT_EQ(warm[0], W);
  EXPECT_NEAR(warm[1], 63.75, 0.5);
}

// One host of two CPU ranks: they share its cache, and the curves were measured with both
// reading, so an expert's reads since count per rank of the host. Steps of one token on GPU 0,
// experts (0, 0), (1, 1), now (0, 0): before layer 0, GPU 0 read three others since expert 0.
// With GPU 1 idle, that is one and a half per rank: warmer than on a cache of its own. With
// GPU 1 reading as much (a second token, on its experts 2 and 3), GPU 0's expert is as warm as
// on its own cache; GPU 1's expert 2 also had GPU 0's read of the same layer since: half a read
// more per rank.
TEST(WeightReuse, RanksOfAHostShareItsCache) {
  Profile shared = curve_profile();
  shared.hosts = {"host0"};
  const CostModel host(test::profiled_cluster(shared), 256, 512);
  const CostModel apart(test::profiled_cluster(curve_profile()), 256, 512);
  ASSERT_EQ(host.profile()->cache_sharers(), 2u);
  ASSERT_EQ(apart.profile()->cache_sharers(), 1u);
  std::vector<uint8_t> warm;
  const OneLayer idle({0, 0, 1, 1, 0, 0}, 2);
  const uint64_t one[] = {0, 1, 2}, one_offsets[] = {0, 1, 2};
  mark_warm(idle, {one + 2, nullptr, 1, one, one_offsets, 2}, host, warm);
  EXPECT_NEAR(warm[0], 0.75 * W, 0.5);  // between 1 (kept all) and 2 (half) others
  mark_warm(idle, {one + 2, nullptr, 1, one, one_offsets, 2}, apart, warm);
  EXPECT_NEAR(warm[0], 0.25 * W, 0.5);  // 3 others: a quarter
  const OneLayer busy({0, 0, 2, 2, 1, 1, 3, 3, 0, 0, 2, 2}, 2);
  const uint64_t two[] = {0, 1, 2, 3, 4, 5}, two_offsets[] = {0, 2, 4};
  mark_warm(busy, {two + 4, nullptr, 2, two, two_offsets, 2}, apart, warm);
  EXPECT_NEAR(warm[0], 0.25 * W, 0.5);
  EXPECT_NEAR(warm[2], 0.25 * W, 0.5);
  mark_warm(busy, {two + 4, nullptr, 2, two, two_offsets, 2}, host, warm);
  EXPECT_NEAR(warm[0], 0.25 * W, 0.5);   // 6 others on the host, 3 per rank
  EXPECT_NEAR(warm[2], 0.125 * W, 0.5);  // 7, 3.5 per rank: half way to the curves' end
}

TEST(WeightReuse, TheStepsOwnLowerLayersCountAgainstTheCache) {
  const OneLayer l({0, 0, 0, 0}, 2);  // two tokens, each using expert 0 in both layers
  const uint64_t token[] = {0, 1}, offsets[] = {0, 1};
  std::vector<uint8_t> warm;
  // Two experts fit: both layers find expert 0 cached.
  mark_warm(l, {token + 1, nullptr, 1, token, offsets, 1},
            CostModel(test::profiled_cluster(warm_profile(2)), 256, 512), warm);
  EXPECT_EQ(warm, (std::vector<uint8_t>{W, 0, 0, 0, W, 0, 0, 0}));
  // One fits: layer 0's expert was evicted by the earlier token's layer 1, and layer 1's by
  // this step's layer 0.
  mark_warm(l, {token + 1, nullptr, 1, token, offsets, 1},
            CostModel(test::profiled_cluster(warm_profile(1)), 256, 512), warm);
  EXPECT_EQ(warm, std::vector<uint8_t>(8, 0));
}

// Expert 0 has a replica on each GPU (slots 0 and 2); expert 2 is slot 3 on GPU 1.
TEST(WeightReuse, OnlyTheReplicasTheRouterChoseAreRead) {
  const OneLayer l({2, 0, 0, 0, 1}, 1, {{0, 1}, {0, 2}}, 3);
  const CostModel cost(test::profiled_cluster(warm_profile(1)), 256, 512);  // one expert fits
  // Expert 2, then a step of expert 0 (one token), now expert 1.
  const uint64_t one[] = {0, 1, 4}, one_offsets[] = {0, 1, 2};
  std::vector<uint8_t> warm;
  mark_warm(l, {one + 2, nullptr, 1, one, one_offsets, 2}, cost, warm);
  // `first` read expert 0 on GPU 0 only: GPU 1 still holds expert 2.
  EXPECT_EQ(warm, (std::vector<uint8_t>{W, 0, 0, W}));
  // Two tokens of expert 0 in one step: round-robin reads both replicas, first one.
  const uint64_t two[] = {1, 2, 4}, two_offsets[] = {0, 2};
  Router round_robin(RoutingPolicy::kRoundRobin);
  mark_warm_slots(l.tokens, {two + 2, nullptr, 1, two, two_offsets, 1}, l.replicas, cost,
                  round_robin, warm);
  EXPECT_EQ(warm, (std::vector<uint8_t>{W, 0, W, 0}));
  mark_warm(l, {two + 2, nullptr, 1, two, two_offsets, 1}, cost, warm);
  EXPECT_EQ(warm, (std::vector<uint8_t>{W, 0, 0, 0}));
}

TEST(WeightReuse, NoReuseWithoutAWarmTable) {
  const OneLayer l({0, 0});
  const CostModel cost(test::profiled_cluster(test::synthetic_profile()), 256, 512);
  const uint64_t previous[] = {0}, offsets[] = {0, 1};
  std::vector<uint8_t> warm;
  mark_warm(l, {previous + 1, nullptr, 0, previous, offsets, 1}, cost, warm);
  EXPECT_TRUE(warm.empty());
}

TEST(WeightReuse, StepPricesAWarmExpertWithTheWarmTable) {
  const OneLayer l({0, 0});  // the same expert in two consecutive steps, token on GPU 0
  const CostModel cost(test::profiled_cluster(warm_profile(3)), 256, 512);
  Router router(RoutingPolicy::kFirst);
  ConfigResult out;
  out.tokens_per_expert.assign(4, 0);
  PriceScratch scratch;
  scratch.store_cells = false;
  const uint64_t token[] = {0, 1};
  const int32_t home[] = {0};
  const StepPrice first =
      price_step(l.tokens, {token, home, 1}, l.replicas, cost, router, out, 0, scratch);
  const uint64_t offsets[] = {0, 1};
  const StepPrice second = price_step(l.tokens, {token + 1, home, 1, token, offsets, 1}, l.replicas,
                                      cost, router, out, 0, scratch);
  EXPECT_DOUBLE_EQ(first.compute, ffn_truth(1));
  EXPECT_DOUBLE_EQ(second.compute, warm_truth(1));
  EXPECT_DOUBLE_EQ(second.dispatch, first.dispatch);  // reuse changes the experts only
}

}  // namespace
}  // namespace epbench

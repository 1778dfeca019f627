// Profiles (docs/profile.md): the file round trip, the interpolation recovering known timing
// functions, the cost model pricing with a profile, and the refusals of bad profiles.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cstdio>
#include <filesystem>

#include "common/error.h"
#include "costmodel/core_sharing.h"
#include "costmodel/cost_model.h"
#include "costmodel/profile.h"
#include "costmodel/profile_tables.h"
#include "io/h5.h"
#include "model/cluster.h"
#include "test_profile_util.h"
#include "test_run_util.h"
#include "test_util.h"

namespace epbench {
namespace {

using test::a2a_truth;
using test::ffn_truth;
using test::profiled_cluster;

TEST(Profile, FileRoundTripKeepsEveryField) {
  test::ScratchDir dir;
  const Profile p = test::synthetic_profile();
  write_profile(dir.path("p.h5"), p);
  const Profile q = read_profile(dir.path("p.h5"));
  EXPECT_EQ(q.backend, "cpu");
  EXPECT_EQ(q.dtype, "fp32");
  EXPECT_EQ(q.d_model, 256);
  EXPECT_EQ(q.world_size, 2);
  EXPECT_EQ(q.hosts, p.hosts);
  EXPECT_EQ(q.ffn_tokens, p.ffn_tokens);
  EXPECT_EQ(q.ffn_time_s, p.ffn_time_s);
  EXPECT_EQ(q.a2a_patterns, p.a2a_patterns);
  EXPECT_EQ(q.a2a_time_s, p.a2a_time_s);
  EXPECT_EQ(q.count_exchange_s, test::kCountExchangeS);
}

TEST(Profile, PiecewiseLinearClampsBelowAndExtrapolatesBeyond) {
  const PiecewiseLinear f({1, 2, 4}, {10, 20, 30});
  EXPECT_DOUBLE_EQ(f(0.5), 10);  // below the grid: the first value
  EXPECT_DOUBLE_EQ(f(1.5), 15);
  EXPECT_DOUBLE_EQ(f(3), 25);
  EXPECT_DOUBLE_EQ(f(8), 50);  // beyond: the last segment's slope, 5 per unit
}

TEST(Profile, ExpertTimeRecoversTheTimingFunction) {
  const Profile p = test::synthetic_profile();
  const ProfileTables t(p);
  EXPECT_EQ(t.expert_time(0), 0);
  for (int64_t n : p.ffn_tokens)  // exact at grid points
    EXPECT_DOUBLE_EQ(t.expert_time(uint32_t(n)), ffn_truth(double(n))) << n;
  for (uint32_t n : {3u, 5u, 7u, 12u, 20u, 27u, 45u, 63u, 100u, 1000u})  // off grid, beyond
    EXPECT_NEAR(t.expert_time(n), ffn_truth(n), 0.02 * ffn_truth(n)) << n;
}

TEST(Profile, LinkTimeRecoversAlphaBeta) {
  const Profile p = test::synthetic_profile(256, 512, 3);  // 2 same-node destinations
  const ProfileTables t(p);
  ASSERT_TRUE(t.has(ProfileTables::kSameNode));
  EXPECT_FALSE(t.has(ProfileTables::kOtherNode));
  EXPECT_EQ(t.link_time(ProfileTables::kSameNode, 0), 0);
  for (int64_t b : p.a2a_bytes)  // total bytes over 2 destinations: b per destination
    EXPECT_DOUBLE_EQ(t.link_time(ProfileTables::kSameNode, 2.0 * double(b)), a2a_truth(double(b)));
  for (double b : {100.0, 3000.0, 777777.0, 5e6})
    EXPECT_NEAR(t.link_time(ProfileTables::kSameNode, 2 * b), a2a_truth(b), 0.02 * a2a_truth(b));
}

TEST(Profile, CostModelPricesExpertTimeFromTheTable) {
  const Profile p = test::synthetic_profile();
  const CostModel m(profiled_cluster(p), 256, 512);
  const size_t T = p.ffn_tokens.size();
  for (size_t i = 0; i < T; ++i)  // the 2-active row, per expert
    EXPECT_DOUBLE_EQ(m.expert_time(uint32_t(p.ffn_tokens[i])), p.ffn_time_s[T + i] / 2);
}

TEST(Profile, CostModelPricesLinksAndCountsFromTheTable) {
  const CostModel m(profiled_cluster(test::synthetic_profile()), 256, 512);
  // Token 0 lives on GPU 0 and uses slot 2 (GPU 1) and slot 0 (GPU 0): one hidden state sent.
  const int32_t home[] = {0}, slot[] = {2, 0};
  LayerCost c;
  m.price_layer(home, slot, 1, 2, c);
  const double link = a2a_truth(256.0 * 2);  // bf16 hidden states in the preset
  EXPECT_DOUBLE_EQ(c.combine_max, link);
  EXPECT_DOUBLE_EQ(c.dispatch_max, link + test::kCountExchangeS);
  EXPECT_DOUBLE_EQ(c.compute_max, ffn_truth(1));
}

// Row moves (version 4): a GPU's dispatch and combine each pay half the move of its sent and
// local rows; its received rows move too only where the wire converts them (not fp32).
TEST(Profile, CostModelPricesRowMovesFromTheTable) {
  Profile p = test::synthetic_profile();
  p.row_moves = {1, 2, 4, 8};
  p.row_move_time_s = {1e-6, 2e-6, 4e-6, 8e-6};        // 1 us a row
  p.row_move_hot_time_s = {0.5e-6, 1e-6, 2e-6, 4e-6};  // GPU 0 runs both its experts: unused
  // Token 0 on GPU 0: slots 2 (GPU 1) and 0 (GPU 0), one row sent, one local. Token 1 on GPU 0:
  // slots 0 and 1, both on GPU 0, one local row. Token 2 on GPU 1: slots 3 and 0, one row
  // received by GPU 0.
  const int32_t home[] = {0, 0, 1}, slot[] = {2, 0, 0, 1, 3, 0};
  const auto dispatch_of_gpu0 = [&](const Profile& q) {
    const CostModel m(profiled_cluster(q), 256, 512);
    LayerCost c;
    m.price_layer(home, slot, 3, 2, c);
    EXPECT_DOUBLE_EQ(c.combine_max, c.dispatch_max - test::kCountExchangeS);
    return c.dispatch_s[0];
  };
  const double link = a2a_truth(256.0 * 2);                  // one bf16 hidden state each way
  EXPECT_DOUBLE_EQ(dispatch_of_gpu0(p), link + 0.5 * 3e-6);  // 1 sent + 2 local rows
  p.dtype = "bf16";
  EXPECT_DOUBLE_EQ(dispatch_of_gpu0(p), link + 0.5 * 4e-6);  // and the one received
  p.row_moves.clear(), p.row_move_time_s.clear(), p.row_move_hot_time_s.clear();
  EXPECT_DOUBLE_EQ(dispatch_of_gpu0(p), link);  // not measured: not modelled
}

// Version 4's two all-to-all tables: a layer whose GPU ran a of the profile's A = 2 experts
// finds its buffers a / A of the way from back to back (hot) to after the profile's expert
// phase; the count exchange likewise, by the busiest GPU.
TEST(Profile, AllToAllsAreEvictedInProportionToTheExpertsRun) {
  Profile p = test::synthetic_profile();
  for (double t : p.a2a_time_s) p.a2a_hot_time_s.push_back(t / 4);
  p.count_exchange_hot_s = test::kCountExchangeS / 4;
  p.row_moves = {1, 2};
  p.row_move_time_s = {2e-6, 4e-6};
  p.row_move_hot_time_s = {1e-6, 2e-6};
  const ProfileTables t(p);
  EXPECT_DOUBLE_EQ(t.row_move_time(2, 0.5), 3e-6);
  EXPECT_DOUBLE_EQ(t.evicted_by(1), 0.5);
  EXPECT_DOUBLE_EQ(t.evicted_by(3), 1.0);
  const double after = a2a_truth(512);
  EXPECT_DOUBLE_EQ(t.link_time(ProfileTables::kSameNode, 512, 0), after / 4);
  EXPECT_DOUBLE_EQ(t.link_time(ProfileTables::kSameNode, 512, 1), after);
  EXPECT_DOUBLE_EQ(t.link_time(ProfileTables::kSameNode, 512, 0.5), after * 0.625);
  p.row_moves.clear(), p.row_move_time_s.clear(), p.row_move_hot_time_s.clear();
  const CostModel m(profiled_cluster(p), 256, 512);
  LayerCost c;
  const int32_t home[] = {0, 1};
  const int32_t one_each[] = {2, 0};  // token 0: one expert on each GPU
  m.price_layer(home, one_each, 1, 2, c);
  const double link = a2a_truth(256.0 * 2);  // one bf16 hidden state each way
  EXPECT_DOUBLE_EQ(c.combine_max, link * 0.625);
  EXPECT_DOUBLE_EQ(c.dispatch_max, link * 0.625 + test::kCountExchangeS * 0.625);
  const int32_t both_on_gpu1[] = {2, 3};  // GPU 1 runs both of its experts: evicted fully
  m.price_layer(home, both_on_gpu1, 1, 2, c);
  EXPECT_DOUBLE_EQ(c.combine_max, link);
  EXPECT_DOUBLE_EQ(c.dispatch_max, link + test::kCountExchangeS);
}

TEST(Profile, RowMovesAndCacheStateRoundTripThroughTheFile) {
  test::ScratchDir dir;
  Profile p = test::synthetic_profile();
  p.a2a_cache_state = kCacheAfterExperts;
  p.row_moves = {1, 2, 4};
  p.row_move_time_s = {1e-6, 1.5e-6, 3e-6};
  p.row_move_hot_time_s = {0.5e-6, 1e-6, 2e-6};
  for (double t : p.a2a_time_s) p.a2a_hot_time_s.push_back(t / 2);
  p.count_exchange_hot_s = 1e-7;
  write_profile(dir.path("p.h5"), p);
  const Profile q = read_profile(dir.path("p.h5"));
  EXPECT_EQ(q.a2a_cache_state, kCacheAfterExperts);
  EXPECT_EQ(q.a2a_hot_time_s, p.a2a_hot_time_s);
  EXPECT_EQ(q.count_exchange_hot_s, 1e-7);
  EXPECT_EQ(q.row_moves, p.row_moves);
  EXPECT_EQ(q.row_move_time_s, p.row_move_time_s);
  EXPECT_EQ(q.row_move_hot_time_s, p.row_move_hot_time_s);
  // A version 3 file has none: its all-to-all was timed back to back, its rows not moved.
  {
    h5::File h = h5::open_file(dir.path("p.h5"), true);
    H5Adelete(h.id(), "version");
    h5::write_attr(h.id(), "version", int64_t{3});
    H5Adelete(h.id(), "a2a_cache_state");
    H5Ldelete(h.id(), "rows", H5P_DEFAULT);
    H5Ldelete(h.id(), "a2a/hot_time_s", H5P_DEFAULT);
    H5Ldelete(h.id(), "count_exchange/hot_time_s", H5P_DEFAULT);
  }
  const Profile old = read_profile(dir.path("p.h5"));
  EXPECT_EQ(old.a2a_cache_state, kCacheHot);
  EXPECT_TRUE(old.row_moves.empty());
  EXPECT_TRUE(old.a2a_hot_time_s.empty());
  const ProfileTables t(old);  // priced as timed, whatever ran before
  EXPECT_DOUBLE_EQ(t.link_time(ProfileTables::kSameNode, 512, 0),
                   t.link_time(ProfileTables::kSameNode, 512, 1));
}

// Ranks taking turns at one host's cores (ffn/turns_ratio): with one of the two ranks busy the
// phase goes at half the all-busy pace the tables price.
TEST(Profile, TurnsPriceAHostsPhaseAsRanksSharingItsCores) {
  Profile p = test::synthetic_profile();
  p.ffn_turns_ratio = {0.5, 1.0};
  const CostModel m(profiled_cluster(p), 256, 512);
  const double f = ffn_truth(1);
  LayerCost c;
  const int32_t home[] = {0, 0, 0};
  const int32_t alone[] = {0, 1};  // GPU 0 alone computes two experts of one token
  m.price_layer(home, alone, 1, 2, c);
  EXPECT_DOUBLE_EQ(c.compute_max, 0.5 * 2 * f);
  const int32_t even[] = {0, 2};  // one expert of one token on each GPU: both busy throughout
  m.price_layer(home, even, 2, 1, c);
  EXPECT_DOUBLE_EQ(c.compute_max, f);
  const int32_t uneven[] = {0, 1, 2};  // GPU 0: 2f, GPU 1: f; f with both busy, f alone
  m.price_layer(home, uneven, 3, 1, c);
  EXPECT_DOUBLE_EQ(c.compute_max, f * 1.0 + f * 0.5);
  EXPECT_DOUBLE_EQ(c.compute_s[0], 2 * f);  // each GPU's own time stays the tables'
  // Lower bounds stay below: an expert can cost as little as a lone busy rank's share.
  EXPECT_DOUBLE_EQ(m.fastest_expert_time(1), 0.5 * f);
}

// 4 ranks on 2 cores: the measured turns came from one arrangement (here the 2 busy ranks of
// every window on two cores, 0.5); the model prices the expectation over the arrangements
// where some ranks have no work (2 busy share a core in 1 of 3: 4/3 of the lone pace, 2/3 of
// the all-busy), and the ranks still computing packed two to a core where all have work.
TEST(Profile, TurnsPriceTheExpectedArrangementAndPackWhereEveryRankWorks) {
  Profile p = test::synthetic_profile(256, 512, 4);
  p.ffn_turns_ratio = {0.5, 0.5, 1.0, 1.0};
  ClusterSpec cluster = profiled_cluster(p);
  cluster.gpus_per_node = 4, cluster.slots_per_gpu = 1;
  const CostModel m(cluster, 256, 512);
  const double f = ffn_truth(1);
  LayerCost c;
  const int32_t home[] = {0, 0, 0, 0};
  const int32_t two_busy[] = {0, 1};  // GPUs 0 and 1 one expert each, GPUs 2 and 3 idle
  m.price_layer(home, two_busy, 1, 2, c);
  EXPECT_DOUBLE_EQ(c.compute_max, f * (0.5 + 0.5 / 3));
  // Every GPU works, their experts on 4, 3, 2 and 1 tokens: packed two to a core, the two
  // slowest set the pace (the measured turns would have let GPUs 0 and 1 go at the lone pace).
  const int32_t home5[] = {0, 0, 0, 0, 0};
  const int32_t all_work[] = {0, 1, 0, 1, 0, 1, 0, 2, 2, 3};
  m.price_layer(home5, all_work, 5, 2, c);
  const double e4 = m.expert_time(4), e3 = m.expert_time(3);
  ASSERT_GT(e3, m.expert_time(2));
  EXPECT_DOUBLE_EQ(c.compute_max, (e4 - e3) * 0.5 + e3 * 1.0);
}

TEST(CoreSharing, ExpectsTheBusiestCoreOverEveryArrangement) {
  // 4 ranks, 2 cores of 2: 2 busy ranks share a core in 1 of the 3 pairings.
  const std::vector<double> b = expected_busiest_core(4, 2);
  ASSERT_EQ(b.size(), 4u);
  EXPECT_DOUBLE_EQ(b[0], 1);
  EXPECT_NEAR(b[1], 4.0 / 3, 1e-12);
  EXPECT_DOUBLE_EQ(b[2], 2);
  EXPECT_DOUBLE_EQ(b[3], 2);
  // 3 ranks on 2 cores (2 and 1): 2 busy share the core of 2 in 1 of 3 choices.
  const std::vector<double> odd = expected_busiest_core(3, 2);
  EXPECT_NEAR(odd[1], 4.0 / 3, 1e-12);
  EXPECT_DOUBLE_EQ(odd[2], 2);
  // 6 ranks on 3 cores of 2, 2 busy: on one core in 3 of the 15 choices.
  EXPECT_NEAR(expected_busiest_core(6, 3)[1], 1 + 3.0 / 15, 1e-12);
  // The paces: a core holds round(1 / 0.48) = 2 ranks; the all-busy pace is 1.
  const CoreSharing s = core_sharing(4, 0.48);
  EXPECT_DOUBLE_EQ(s.some_idle[0], 0.48);
  EXPECT_NEAR(s.some_idle[1], 0.48 + 0.52 / 3, 1e-12);
  EXPECT_DOUBLE_EQ(s.some_idle[3], 1);
  EXPECT_EQ(s.all_working, (std::vector<double>{0.48, 1, 1, 1}));
  // One rank to a core (the lone pace near the all-busy one): no sharing to price.
  EXPECT_EQ(core_sharing(2, 0.9).some_idle, (std::vector<double>{1, 1}));
}

TEST(Profile, TurnsRoundTripThroughTheFile) {
  test::ScratchDir dir;
  Profile p = test::synthetic_profile();
  p.ffn_turns_ratio = {0.45, 1.0};
  write_profile(dir.path("p.h5"), p);
  EXPECT_EQ(read_profile(dir.path("p.h5")).ffn_turns_ratio, p.ffn_turns_ratio);
  write_profile(dir.path("q.h5"), test::synthetic_profile());
  EXPECT_TRUE(read_profile(dir.path("q.h5")).ffn_turns_ratio.empty());  // none measured
}

TEST(Profile, CostModelRefusesAnotherShape) {
  const ClusterSpec c = profiled_cluster(test::synthetic_profile());
  EXPECT_THROW(
      {
        try {
          CostModel(c, 128, 512);
        } catch (const InputError& e) {
          EXPECT_NE(std::string(e.what()).find("d_model"), std::string::npos) << e.what();
          throw;
        }
      },
      InputError);
}

TEST(Profile, ClusterJsonNamesAProfileRelativeToItsDirectory) {
  test::ScratchDir dir;
  write_profile(dir.path("p.h5"), test::synthetic_profile());
  test::write_profile_cluster(dir.path("c.json"), "p.h5");
  const ClusterSpec c = load_cluster(dir.path("c.json"));
  ASSERT_TRUE(c.profile);
  EXPECT_EQ(c.profile_path, dir.path("p.h5"));
  EXPECT_EQ(c.profile->d_ff, 512);
}

// `epbench evaluate --cluster` with a bad profile: exit 2, one line naming the file and the
// field, no results file.
class BadProfile : public RunFixture {
 protected:
  void expect_refused(const Profile& p, const std::string& field,
                      void (*spoil)(const std::string&) = nullptr) {
    write_profile(path("p.h5"), p);
    if (spoil) spoil(path("p.h5"));
    test::write_profile_cluster(path("c.json"), "p.h5");
    const std::string layout = place("round-robin", 1, 2);
    const auto r =
        test::run_epbench({"evaluate", "--trace", trace, "--layouts", layout, "--cluster",
                           path("c.json"), "--batch-sizes", "4", "-o", path("out.h5")});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    // The error is the last line, one line (warnings about the trace range may precede it).
    const size_t at = r.err.find("epbench: error: ");
    ASSERT_NE(at, std::string::npos) << r.err;
    const std::string line = r.err.substr(at);
    EXPECT_EQ(line.find('\n'), line.size() - 1) << r.err;
    EXPECT_NE(line.find(path("p.h5") + ": " + field), std::string::npos) << r.err;
    EXPECT_FALSE(test::file_exists(path("out.h5")));
  }
};

TEST_F(BadProfile, GoodOneIsAccepted) {
  write_profile(path("p.h5"), test::synthetic_profile());
  test::write_profile_cluster(path("c.json"), "p.h5");
  const auto r =
      test::run_epbench({"evaluate", "--trace", trace, "--layouts", place("round-robin", 1, 2),
                         "--cluster", path("c.json"), "--batch-sizes", "4", "-o", path("out.h5")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(test::file_exists(path("out.h5")));
}

TEST_F(BadProfile, OtherDModel) {
  expect_refused(test::synthetic_profile(128), "d_model");
}
TEST_F(BadProfile, OtherDFf) {
  expect_refused(test::synthetic_profile(256, 1024), "d_ff");
}
TEST_F(BadProfile, OtherWorldSize) {
  expect_refused(test::synthetic_profile(256, 512, 4), "world_size");
}

TEST_F(BadProfile, Truncated) {
  expect_refused(test::synthetic_profile(), "(file)", [](const std::string& f) {
    std::filesystem::resize_file(f, std::filesystem::file_size(f) / 2);
  });
}

TEST_F(BadProfile, WrongFormat) {
  expect_refused(test::synthetic_profile(), "format", [](const std::string& f) {
    h5::File h = h5::open_file(f, true);
    H5Adelete(h.id(), "format");
    h5::write_attr(h.id(), "format", std::string("epbench-trace"));
  });
}

TEST_F(BadProfile, MissingDataset) {
  expect_refused(test::synthetic_profile(), "a2a/time_s", [](const std::string& f) {
    h5::File h = h5::open_file(f, true);
    H5Ldelete(h.id(), "a2a/time_s", H5P_DEFAULT);
  });
}

TEST_F(BadProfile, WarmTableOfAnotherLength) {
  Profile p = test::synthetic_profile();
  test::add_warm_table(p, 3);
  p.ffn_warm_time_s.pop_back();
  expect_refused(p, "ffn/warm_time_s");
}

TEST_F(BadProfile, TurnsForAnotherNumberOfRanksPerHost) {
  Profile p = test::synthetic_profile();
  p.ffn_turns_ratio = {0.3, 0.6, 1.0};  // 2 ranks on one host
  expect_refused(p, "ffn/turns_ratio");
}

TEST_F(BadProfile, RowMovesOfAnotherLength) {
  Profile p = test::synthetic_profile();
  p.row_moves = {1, 2, 4};
  p.row_move_time_s = {1e-6, 2e-6, 3e-6};
  p.row_move_hot_time_s = {1e-6, 2e-6, 3e-6};
  expect_refused(p, "rows/move_time_s", [](const std::string& f) {
    h5::File h = h5::open_file(f, true);
    H5Ldelete(h.id(), "rows/move_time_s", H5P_DEFAULT);
    const double two[] = {1e-6, 2e-6};
    h5::write_all<double>(h.id(), "rows/move_time_s", {2}, two, h5::DatasetOptions{{}, false, 0});
  });
}

TEST_F(BadProfile, HotTableOfAnotherShape) {
  Profile p = test::synthetic_profile();
  p.a2a_hot_time_s.assign(p.a2a_time_s.size(), 1e-6);
  p.count_exchange_hot_s = 1e-7;
  expect_refused(p, "a2a/hot_time_s", [](const std::string& f) {
    h5::File h = h5::open_file(f, true);
    H5Ldelete(h.id(), "a2a/hot_time_s", H5P_DEFAULT);
    const double three[] = {1e-6, 2e-6, 3e-6};
    h5::write_all<double>(h.id(), "a2a/hot_time_s", {3}, three, h5::DatasetOptions{{}, false, 0});
  });
}

TEST_F(BadProfile, UnknownCacheState) {
  Profile p = test::synthetic_profile();
  p.a2a_cache_state = "lukewarm";
  expect_refused(p, "a2a_cache_state");
}

TEST_F(BadProfile, NegativeTime) {
  Profile p = test::synthetic_profile();
  p.ffn_time_s[3] = -1;
  expect_refused(p, "ffn/time_s");
}

}  // namespace
}  // namespace epbench

// `epbench profile` under the real mpirun (docs/profile.md): a valid file whose times grow
// with size, on one node and on two virtual nodes; `epbench run` refusing a profile measured
// on another backend or dtype.
#include <gtest/gtest.h>

#include <algorithm>

#include "costmodel/profile.h"
#include "runtime/topology.h"
#include "test_profile_util.h"
#include "test_run_util.h"
#include "test_util.h"

namespace epbench {
namespace {

class ProfileMpi : public RunFixture {
 protected:
  test::CommandResult profile(int ranks, const std::vector<std::string>& extra) {
    std::vector<std::string> argv = test::mpirun_args(ranks);
    // Ranks may outnumber the cores: waiting ranks yield instead of spinning.
    if (EPBENCH_MPI_IS_OPENMPI) argv.insert(argv.end(), {"--mca", "mpi_yield_when_idle", "1"});
    argv.insert(argv.end(),
                {EPBENCH_EXE, "profile", "--d-model", "128", "--d-ff", "256", "--max-tokens", "256",
                 "--max-active", "2", "--max-bytes", std::to_string(1 << 22), "--repetitions", "15",
                 "--warmup", "1", "-o", path("p.h5")});
    argv.insert(argv.end(), extra.begin(), extra.end());
    return test::run_command(argv);
  }
  // The FFN's largest size takes longer than the fastest of its smallest few (one slowed point
  // on a loaded machine does not fail it): 256 tokens are 256x the FLOPs of one.
  static double fastest(const std::vector<double>& t, size_t first, size_t n) {
    return *std::min_element(t.begin() + long(first), t.begin() + long(first + n));
  }
  static void expect_grows(const Profile& p) {
    const size_t T = p.ffn_tokens.size(), M = p.a2a_bytes.size();
    for (double t : p.ffn_time_s) EXPECT_GT(t, 0);
    for (size_t a = 0; a < p.ffn_active.size(); ++a)
      EXPECT_GT(p.ffn_time_s[a * T + T - 1], fastest(p.ffn_time_s, a * T, 3)) << a + 1;
    // The all-to-all's sizes differ too little in time for an order test on a loaded machine
    // (4 ranks on 2 cores: a scheduler slice outweighs 4 MiB), so a floor no machine beats:
    // the largest message moved at 1 TB/s. Times in the wrong unit or not timed fall below it.
    for (size_t i = 0; i < p.a2a_patterns.size(); ++i) {
      const double bytes = double(p.a2a_bytes.back()) * double(p.a2a_destinations[i]);
      EXPECT_GT(p.a2a_time_s[i * M + M - 1], bytes / 1e12) << p.a2a_patterns[i];
      for (size_t m = 0; m < M; ++m) EXPECT_GT(p.a2a_time_s[i * M + m], 0);
    }
    EXPECT_GT(p.count_exchange_s, 0);
  }
};

TEST_F(ProfileMpi, TwoRanksWriteAValidProfile) {
  const auto r = profile(2, {});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Profile p = read_profile(path("p.h5"));  // validates every field
  EXPECT_EQ(p.world_size, 2);
  EXPECT_EQ(p.d_model, 128);
  EXPECT_EQ(p.backend, "cpu");
  EXPECT_EQ(p.ffn_tokens, (std::vector<int64_t>{1, 2, 4, 8, 16, 32, 64, 128, 256}));
  EXPECT_EQ(p.ffn_active, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(p.sweeps, 3);  // the default: each point its median of 3 sweeps of the grid
  EXPECT_EQ(p.a2a_patterns, std::vector<std::string>{kPatternSameNode});
  EXPECT_EQ(p.a2a_bytes.front(), 8);
  EXPECT_EQ(p.a2a_bytes.back(), 1 << 22);
  expect_grows(p);
  // A CPU rank moves its rows itself: 1 .. 256 tokens x 2 active experts of them, each move
  // slower than a copy at 1 TB/s (packed and added back: two passes over d_model floats).
  EXPECT_EQ(p.row_moves.front(), 1);
  EXPECT_EQ(p.row_moves.back(), 512);
  ASSERT_EQ(p.row_move_time_s.size(), p.row_moves.size());
  for (size_t i = 0; i < p.row_moves.size(); ++i)
    EXPECT_GT(p.row_move_time_s[i], 2.0 * double(p.row_moves[i]) * 128 * 4 / 1e12) << i;
  // Each all-to-all timed after an expert phase, as in a step, and back to back.
  EXPECT_EQ(p.a2a_cache_state, kCacheAfterExperts);
  ASSERT_EQ(p.a2a_hot_time_s.size(), p.a2a_time_s.size());
  for (double t : p.a2a_hot_time_s) EXPECT_GT(t, 0);
  EXPECT_GT(p.count_exchange_hot_s, 0);
}

TEST_F(ProfileMpi, FourRanksInTwoVirtualNodesMeasureBothPatterns) {
  const auto r = profile(4, {"--ranks-per-node", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Profile p = read_profile(path("p.h5"));
  EXPECT_EQ(p.world_size, 4);
  EXPECT_EQ(p.ranks_per_node, 2);
  EXPECT_EQ(p.a2a_patterns, (std::vector<std::string>{kPatternSameNode, kPatternOtherNode}));
  EXPECT_EQ(p.a2a_destinations, (std::vector<int64_t>{1, 2}));
  expect_grows(p);
  // Four ranks take turns where the host has fewer hardware threads (2 here, in CI maybe more).
  if (host_hardware_threads() >= 4) {
    EXPECT_TRUE(p.ffn_turns_ratio.empty());
  } else {
    ASSERT_EQ(p.ffn_turns_ratio.size(), 4u);
    EXPECT_EQ(p.ffn_turns_ratio.back(), 1.0);  // all busy, over itself
    for (double ratio : p.ffn_turns_ratio) EXPECT_GT(ratio, 0);
  }
}

TEST_F(ProfileMpi, RanksWithCoresOfTheirOwnTakeNoTurns) {
  if (host_hardware_threads() < 2) GTEST_SKIP() << "one hardware thread: 2 ranks take turns";
  const auto r = profile(2, {});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(read_profile(path("p.h5")).ffn_turns_ratio.empty());
}

TEST_F(ProfileMpi, NoSweepIsRefused) {
  const auto r = profile(2, {"--sweeps", "0"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("sweeps"), std::string::npos) << r.err;
  EXPECT_FALSE(test::file_exists(path("p.h5")));
}

TEST_F(ProfileMpi, OneRankIsRefused) {
  const auto r = profile(1, {});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_FALSE(test::file_exists(path("p.h5")));
}

// `run` checks backend and dtype too: exit 2 naming the field, no results file.
class RunWithProfile : public RunFixture {
 protected:
  // One step on 2 ranks, priced by a cluster JSON that names the profile p.
  test::CommandResult run_with(const Profile& p) {
    write_profile(path("p.h5"), p);
    test::write_profile_cluster(path("c.json"), "p.h5");
    return run_mpi(2,
                   {"--layouts", place("round-robin", 1, 2), "--cluster", path("c.json"),
                    "--batch-sizes", "2", "--steps", "1"},
                   path("out.h5"));
  }

  void expect_refused(const Profile& p, const std::string& field) {
    const auto r = run_with(p);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(path("p.h5") + ": " + field), std::string::npos) << r.err;
    EXPECT_FALSE(test::file_exists(path("out.h5")));
  }
};

TEST_F(RunWithProfile, OtherBackendIsRefused) {
  Profile p = test::synthetic_profile(kDModel, kDFf, 2);
  p.backend = "cuda";
  expect_refused(p, "backend");
}

TEST_F(RunWithProfile, OtherDtypeIsRefused) {
  Profile p = test::synthetic_profile(kDModel, kDFf, 2);
  p.dtype = "bf16";
  expect_refused(p, "dtype");
}

TEST_F(RunWithProfile, MatchingProfileRuns) {
  const auto r = run_with(test::synthetic_profile(kDModel, kDFf, 2));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(test::file_exists(path("out.h5")));
}

}  // namespace
}  // namespace epbench

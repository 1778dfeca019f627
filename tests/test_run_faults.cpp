// `epbench run` refusing bad input and surviving a dead rank: one clear message from rank 0,
// a non-zero exit, no results file left behind, and never a hang.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>

#include "results/results_reader.h"
#include "test_run_util.h"
#include "trace/trace_io.h"

namespace epbench {
namespace {

class RunFaults : public RunFixture {
 protected:
  void SetUp() override { rr4_ = place("round-robin", 2, 2); }

  // Runs 4 ranks in 2 virtual nodes with extra options; expects failure and no output.
  test::CommandResult expect_failure(const std::vector<std::string>& extra, int ranks = 4) {
    std::vector<std::string> args{"--layouts",     rr4_, "--ranks-per-node", "2", "--steps", "2",
                                  "--batch-sizes", "2",  "--check"};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = run_mpi(ranks, args, out_);
    EXPECT_NE(r.exit_code, 0) << r.out;
    EXPECT_FALSE(test::file_exists(out_));
    EXPECT_TRUE(test::files_matching(path(""), "results").empty());
    return r;
  }
  // Exactly one error line: rank 0 speaks for the job.
  static void expect_one_error(const test::CommandResult& r, const std::string& needle) {
    size_t lines = 0;
    for (size_t at = r.err.find("epbench: error:"); at != std::string::npos;
         at = r.err.find("epbench: error:", at + 1))
      ++lines;
    EXPECT_EQ(lines, 1u) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  }

  std::string rr4_, out_ = path("results.h5");
};

TEST_F(RunFaults, ARankDyingMidRunEndsTheJobPromptly) {
  const auto start = std::chrono::steady_clock::now();
  const auto r = expect_failure({"--inject-fault", "2:1"});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 60) << "the job should end when a rank dies, not hang";
  EXPECT_NE(r.err.find("rank 2: --inject-fault"), std::string::npos) << r.err;
}

TEST_F(RunFaults, LayoutForAnotherNumberOfGpus) {
  const std::string rr8 = place("round-robin", 2, 4);
  const auto r = expect_failure({"--layouts", rr8});
  expect_one_error(r, rr8 + ": places experts on 8 GPUs");
  EXPECT_NE(r.err.find("-np 8"), std::string::npos) << r.err;
}

TEST_F(RunFaults, LayoutForAnotherModel) {
  const std::string other = path("other.h5"), layout = path("other.json");
  write_trace(other, test::make_trace(4, 5, 3, 8, 2, true));  // 3 layers, not 2
  const auto p = test::run_epbench({"place", "--algo", "round-robin", "--trace", other, "--nodes",
                                    "2", "--gpus-per-node", "2", "-o", layout});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  expect_one_error(expect_failure({"--layouts", layout}), layout);
}

TEST_F(RunFaults, LayoutShapeNeedsVirtualNodes) {
  const auto r = expect_failure({"--ranks-per-node", "4"});
  expect_one_error(r, "--ranks-per-node 2");
}

// --steps means "at most", as in evaluate: a range with fewer steps measures those it has.
TEST_F(RunFaults, FewerTraceStepsThanAskedMeasuresThemAll) {
  const auto r = run_mpi(4,
                         {"--layouts", rr4_, "--ranks-per-node", "2", "--steps", "100000",
                          "--batch-sizes", "64", "--range", "90%:100%"},
                         out_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const ResultsReader results(out_);
  ASSERT_EQ(results.config_names().size(), 1u);
  const int steps = results.config(results.config_names()[0]).int_attr("steps", 1);
  EXPECT_GT(steps, 0);
  EXPECT_LT(steps, 100000);
}

TEST_F(RunFaults, NotEnoughMemoryForTheShards) {
  const auto r = expect_failure({"--memory-limit", "4096"});
  expect_one_error(r, "the expert shards need");
  EXPECT_NE(r.err.find("--memory-limit"), std::string::npos) << r.err;
  // Without a limit, experts of 64k x 64k cannot fit in any machine's memory.
  expect_one_error(expect_failure({"--d-model", "65536", "--d-ff", "65536"}), "MemAvailable");
}

TEST_F(RunFaults, LauncherStartedSeparateJobs) {
  setenv("SLURM_NTASKS", "16", 1);
  const auto r = expect_failure({});
  unsetenv("SLURM_NTASKS");
  expect_one_error(r, "SLURM_NTASKS=16");
}

TEST_F(RunFaults, NoGpuForTheCudaBackendSaysWhy) {
  const auto r = expect_failure({"--backend", "cuda"});
  if (r.exit_code == 0) GTEST_SKIP() << "a GPU is present";
  expect_one_error(r, "no GPU");
}

}  // namespace
}  // namespace epbench

// `epbench run` refusing bad input and surviving a dead rank: one clear message from rank 0,
// a non-zero exit, no results file left behind, and never a hang.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "io/h5.h"

#include "results/results_reader.h"
#include "runtime/reference_check.h"
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

// --check against planted faults (runtime/planted_fault.h, set through EPBENCH_PLANT_FAULT):
// each makes the layer output wrong in one way, and the check, on every token, must stop the
// job with one message naming the token, the layer and the error. bf16 has the loosest
// tolerance, so a fault caught there is caught in fp32 too.
class PlantedFaults : public RunFaults {
 protected:
  void TearDown() override { unsetenv("EPBENCH_PLANT_FAULT"); }

  // The run's relative error and tolerance, from the check's message.
  std::pair<double, double> expect_caught(const std::string& fault, const std::string& dtype) {
    setenv("EPBENCH_PLANT_FAULT", fault.c_str(), 1);
    const auto r = expect_failure({"--dtype", dtype, "--check-stride", "1"});
    expect_one_error(r, "--check failed: token ");
    EXPECT_NE(r.err.find("EPBENCH_PLANT_FAULT=" + fault), std::string::npos) << r.err;
    // sscanf, not std::regex: GCC 12's <regex> trips -Wmaybe-uninitialized under ASan builds.
    const size_t at = r.err.find("--check failed: token ");
    double err = 0, tol = 0;
    const bool parsed =
        at != std::string::npos &&
        std::sscanf(r.err.c_str() + at,
                    "--check failed: token %*u (trace index), layer %*u, experts %*[0-9,]: "
                    "relative error %lf exceeds the tolerance %lf (",
                    &err, &tol) == 2 &&
        r.err.find("(" + dtype + ", d_model 32, d_ff 64, k 2)", at) != std::string::npos;
    if (!parsed) {
      ADD_FAILURE() << r.err;
      return {0, 0};
    }
    EXPECT_NEAR(
        tol,
        check_tolerance(dtype == "bf16" ? DType::kBf16 : DType::kFp32, kDModel, kDFf, header.top_k),
        1e-3 * tol);
    EXPECT_GT(err, tol);
    return {err, tol};
  }
};

TEST_F(PlantedFaults, TheUnfaultedRunPassesWithinTheTolerance) {
  for (const std::string dtype : {"bf16", "fp32"}) {
    const auto r = run_mpi(4,
                           {"--layouts", rr4_, "--ranks-per-node", "2", "--steps", "2",
                            "--batch-sizes", "2", "--dtype", dtype, "--check", "--no-baseline"},
                           out_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // Every token is checked by default, in every layer; the warmup runs the 2 steps twice.
    int64_t tokens = 0;
    for (uint32_t t : ResultsReader(out_).config("round-robin.first.b2").read_all().step_tokens)
      tokens += t;
    EXPECT_GT(tokens, 0);
    h5::File f = h5::open_file(out_);
    h5::Group g = h5::open_group(f.id(), "runs/round-robin.first.b2");
    const double err = h5::read_attr_double(g.id(), "check_max_error").value_or(-1);
    const double tol =
        check_tolerance(dtype == "bf16" ? DType::kBf16 : DType::kFp32, kDModel, kDFf, header.top_k);
    EXPECT_GT(err, 0) << dtype;
    EXPECT_LE(err, tol) << dtype;
    EXPECT_EQ(h5::read_attr_int(g.id(), "check_tokens").value_or(0), 2 * tokens * header.num_layers)
        << dtype;
  }
}

TEST_F(PlantedFaults, ARankZeroingItsOutput) {
  EXPECT_GT(expect_caught("zero-rank", "bf16").first, 0.3);
}

TEST_F(PlantedFaults, TwoExpertsSwappedInTheShardGenerator) {
  EXPECT_GT(expect_caught("swap-experts", "bf16").first, 0.3);
}

TEST_F(PlantedFaults, ADroppedPartialSum) {
  EXPECT_GT(expect_caught("drop-partial", "bf16").first, 0.3);
}

// The tolerance's reason to be tight: 1 % is caught even in bf16.
TEST_F(PlantedFaults, OnePercentScaleInBf16AndFp32) {
  for (const std::string dtype : {"bf16", "fp32"}) {
    const double err = expect_caught("scale-1pct", dtype).first;
    EXPECT_NEAR(err, 0.01, 0.002) << dtype;
  }
}

TEST_F(PlantedFaults, AnUnknownFaultIsRefused) {
  setenv("EPBENCH_PLANT_FAULT", "everything", 1);
  expect_one_error(expect_failure({}), "EPBENCH_PLANT_FAULT (test-only): expected zero-rank");
}

}  // namespace
}  // namespace epbench

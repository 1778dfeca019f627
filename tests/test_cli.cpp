// The command line: help, exit status 2 with one clear line for bad options.
#include <gtest/gtest.h>

#include <sstream>

#include "test_util.h"
#include "trace/trace_io.h"

namespace epbench {
namespace {

using test::run_epbench;

void expect_usage_error(const std::vector<std::string>& args, const std::string& needle) {
  const auto r = run_epbench(args);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(Cli, HelpAndModelsSucceed) {
  EXPECT_EQ(run_epbench({"--help"}).exit_code, 0);
  const auto r = run_epbench({"models"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("deepseek-v3"), std::string::npos);
}

TEST(Cli, VersionSaysWhetherAGpuIsUsable) {
  const auto r = run_epbench({"version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("gpus:"), std::string::npos);
}

TEST(Cli, UnknownOptionAndSubcommand) {
  expect_usage_error({"trace", "info", "x.h5", "--frobnicate"}, "--frobnicate");
  expect_usage_error({"tracee"}, "tracee");
}

// The library reports its field (prompt_len, coact_strength, routing); the CLI says the flag.
TEST(Cli, LibraryErrorsNameTheFlag) {
  test::ScratchDir dir;
  expect_usage_error({"trace", "synth", "--model", "mixtral-8x7b", "--requests", "4",
                      "--prompt-len", "9:3", "-o", dir.path("t.h5")},
                     "error: --prompt-len: expected MIN:MAX");
  expect_usage_error({"trace", "synth", "--model", "mixtral-8x7b", "--requests", "4",
                      "--coact-strength", "-1", "-o", dir.path("t.h5")},
                     "error: --coact-strength: expected");
}

TEST(Cli, UnknownPreset) {
  test::ScratchDir dir;
  write_trace(dir.path("t.h5"), test::make_trace());
  expect_usage_error({"trace", "info", dir.path("t.h5"), "--model", "gpt-moe"}, "'gpt-moe'");
}

// --price-as prices the trace's experts at another model's sizes: the sizes land in the results
// file, the step times grow with them, and an unknown model is one line naming the flag.
TEST(Cli, PriceAsPricesAtTheModelsSizes) {
  test::ScratchDir dir;
  write_trace(dir.path("t.h5"), test::make_trace(8, 6, 2, 8, 2));
  ASSERT_EQ(
      run_epbench({"place", "--algo", "steptime", "--trace", dir.path("t.h5"), "--nodes", "1",
                   "--gpus-per-node", "2", "--price-as", "mixtral-8x7b", "-o", dir.path("l.json")})
          .exit_code,
      0);
  const auto mean_ms = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args{
        "evaluate", "--trace",   dir.path("t.h5"), "--layouts", dir.path("l.json"), "--batch-sizes",
        "4",        "--routing", "min-time",       "-o",        dir.path("e.h5")};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = run_epbench(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const size_t row = r.out.find("min-time");
    std::istringstream in(r.out.substr(row));
    std::string routing;
    double b, tokens_per_s, ms = 0;
    in >> routing >> b >> tokens_per_s >> ms;
    return ms;
  };
  EXPECT_GT(mean_ms({"--price-as", "mixtral-8x7b"}), 10 * mean_ms({}));
  expect_usage_error({"evaluate", "--trace", dir.path("t.h5"), "--layouts", dir.path("l.json"),
                      "--price-as", "gpt-moe", "-o", dir.path("e.h5")},
                     "--price-as");
  expect_usage_error({"place", "--algo", "steptime", "--trace", dir.path("t.h5"), "--price-as",
                      "gpt-moe", "-o", dir.path("l2.json")},
                     "--price-as");
}

// `bound --lp --ilp`: one row per batch size, the LP at least the closed form (it holds it as
// rows) and the exact optimum at least the LP.
TEST(Cli, BoundLpAndIlpAreOrdered) {
  test::ScratchDir dir;
  write_trace(dir.path("t.h5"), test::make_trace(4, 4, 1, 4, 2));
  const auto r =
      run_epbench({"bound", "--trace", dir.path("t.h5"), "--nodes", "1", "--gpus-per-node", "2",
                   "--batch-sizes", "2", "--steps", "2", "--prefill-chunk", "0", "--lp", "--ilp",
                   "--price-as", "mixtral-8x7b"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream in(r.out.substr(r.out.rfind('\n', r.out.size() - 2) + 1));
  double batch = 0, steps = 0, closed = 0, lp = 0, exact = 0;
  in >> batch >> steps >> closed >> lp >> exact;
  EXPECT_EQ(batch, 2);
  EXPECT_GT(closed, 0);
  EXPECT_GE(lp, closed * (1 - 1e-9)) << r.out;
  EXPECT_GE(exact, lp * (1 - 1e-6)) << r.out;
}

TEST(Cli, TraceForAnotherModelIsRefused) {
  test::ScratchDir dir;
  write_trace(dir.path("t.h5"), test::make_trace());
  expect_usage_error({"trace", "info", dir.path("t.h5"), "--model", "mixtral-8x7b"},
                     "expected 'mixtral-8x7b'");
}

TEST(Cli, ContradictoryOptions) {
  test::ScratchDir dir;
  write_trace(dir.path("t.h5"), test::make_trace());
  expect_usage_error({"trace", "split", dir.path("t.h5"), "--tokens", "0:3", "--requests", "0:1",
                      "-o", dir.path("s.h5")},
                     "excludes");
  expect_usage_error({"trace", "split", dir.path("t.h5"), "-o", dir.path("s.h5")},
                     "--tokens A:B or --requests A:B");
  expect_usage_error(
      {"trace", "split", dir.path("t.h5"), "--tokens", "5:2", "-o", dir.path("s.h5")}, "A < B");
  EXPECT_FALSE(test::file_exists(dir.path("s.h5")));
}

// Each batch size and routing names its own runs in the results file: one given twice is refused
// before anything runs (it used to fail at the end, writing the second). A layout given twice
// runs twice, its second name suffixed.
TEST(Cli, ListsNamingOutputsRefuseRepeats) {
  test::ScratchDir dir;
  write_trace(dir.path("t.h5"), test::make_trace(8, 6, 2, 8, 2));
  ASSERT_EQ(run_epbench({"place", "--algo", "round-robin", "--trace", dir.path("t.h5"), "--nodes",
                         "1", "--gpus-per-node", "2", "-o", dir.path("l.json")})
                .exit_code,
            0);
  const std::vector<std::string> base{"evaluate", "--trace", dir.path("t.h5"), "-o",
                                      dir.path("e.h5")};
  const auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.begin(), base.begin(), base.end());
    return extra;
  };
  const std::string l = dir.path("l.json");
  expect_usage_error(with({"--layouts", l, "--batch-sizes", "16,64,16"}),
                     "--batch-sizes: expected distinct positive integers");
  expect_usage_error(with({"--layouts", l, "--routing", "first,optimal,first"}),
                     "--routing: expected each item once, got 'first' twice");
  EXPECT_FALSE(test::file_exists(dir.path("e.h5")));
  EXPECT_EQ(run_epbench(with({"--layouts", l, "--batch-sizes", "16,64"})).exit_code, 0);
}

TEST(Cli, InfoPrintsTheHeaderAndValidates) {
  test::ScratchDir dir;
  write_trace(dir.path("t.h5"), test::make_trace(3, 5));
  const auto r = run_epbench({"trace", "info", dir.path("t.h5")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("tokens          15"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("decode_tokens   9"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("every token checked"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace epbench

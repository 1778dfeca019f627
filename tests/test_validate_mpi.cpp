// `epbench validate` under the real mpirun (docs/validate.md): a report with every
// configuration, measured and predicted, and the ranking of the layouts; bars that exit 3;
// a preset or another machine's profile refused before anything runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "costmodel/profile.h"
#include "test_profile_util.h"
#include "test_run_util.h"
#include "test_util.h"

namespace epbench {
namespace {

class ValidateMpi : public RunFixture {
 protected:
  ValidateMpi() {
    write_profile(path("p.h5"), test::synthetic_profile(kDModel, kDFf, 2));
    test::write_profile_cluster(path("cluster.json"), "p.h5");
    layouts = place("round-robin", 1, 2, 6) + "," + place("balanced", 1, 2, 6) + "," +
              place("eplb", 1, 2, 6);
  }
  test::CommandResult validate(const std::vector<std::string>& extra) {
    std::vector<std::string> args{"--layouts",     layouts, "--cluster", path("cluster.json"),
                                  "--batch-sizes", "1,4",   "--steps",   "3",
                                  "--warmup",      "1",     "--report",  path("r.json")};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_mpi(2, args, "", "validate");
  }
  nlohmann::json report() const { return nlohmann::json::parse(std::ifstream(path("r.json"))); }
  std::string layouts;
};

// The profile's cold expert table at its most active experts and 1 and 16 tokens (its grid
// has no 128) measured again before and after the runs, next to the profiled time.
TEST_F(ValidateMpi, ReportsHowFarTheMachineMovedFromItsProfile) {
  const auto r = validate({"--batch-sizes", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("machine against its profile: the expert phase at (experts x tokens) 2x1 "
                       "2x16 measured again"),
            std::string::npos)
      << r.out;
  const nlohmann::json drift = report()["machine_drift"];
  ASSERT_EQ(drift.size(), 2u);
  const double profiled[] = {2 * test::ffn_truth(1), 2 * test::ffn_truth(16)};
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(drift[i]["active_experts"], 2);
    EXPECT_EQ(drift[i]["tokens"], i == 0 ? 1 : 16);
    EXPECT_DOUBLE_EQ(drift[i]["profiled_s"].get<double>(), profiled[i]);
    for (const char* when : {"before_s", "after_s"}) {
      const double t = drift[i][when];
      EXPECT_TRUE(t > 0 && std::isfinite(t)) << when << " " << t;
    }
  }
}

// Probed between the rounds too; the drift factor is the median over every probe's points of
// measured / profiled, and the drift-adjusted errors are the errors of the predictions times it.
TEST_F(ValidateMpi, TheDriftFactorIsTheProbesMedianAndScalesThePredictions) {
  const auto r = validate({"--batch-sizes", "1", "--rounds", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("drift-adjusted (every prediction x "), std::string::npos) << r.out;
  const nlohmann::json j = report();
  std::vector<double> ratios;
  for (const auto& d : j["machine_drift"]) {
    ASSERT_EQ(d["between_s"].size(), 2u);  // after rounds 1 and 2; after 3 is after_s
    std::vector<double> at = {d["before_s"], d["between_s"][0], d["between_s"][1], d["after_s"]};
    for (double t : at) ratios.push_back(t / d["profiled_s"].get<double>());
  }
  ASSERT_EQ(ratios.size(), 8u);
  std::sort(ratios.begin(), ratios.end());
  const double factor = ratios[3];  // the nearest-rank median: the lower middle of 8
  EXPECT_DOUBLE_EQ(j["drift_factor"].get<double>(), factor);
  std::vector<double> adjusted;
  for (const auto& c : j["configurations"]) {
    const double m = c["measured_step_s"], p = c["predicted_step_s"];
    adjusted.push_back(std::fabs(p * factor - m) / m);
  }
  ASSERT_EQ(adjusted.size(), 3u);
  std::sort(adjusted.begin(), adjusted.end());
  const nlohmann::json& e = j["drift_adjusted"]["step_time_error"];
  EXPECT_EQ(e["count"], 3);
  EXPECT_NEAR(e["median"].get<double>(), adjusted[1], 1e-12);
  EXPECT_NEAR(e["max"].get<double>(), adjusted[2], 1e-12);
  EXPECT_EQ(j["drift_adjusted"]["ttft_error"]["count"], 0);  // no schedule: no requests
}

TEST_F(ValidateMpi, ReportsEveryConfigurationAndTheRankingAtEachBatchSize) {
  const auto r = validate({});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("profile-based cost model"), std::string::npos) << r.out;
  const nlohmann::json j = report();
  EXPECT_EQ(j["format"], "epbench-validation");
  EXPECT_EQ(j["cost_model"], "profile");
  EXPECT_EQ(j["world_size"], 2);
  ASSERT_EQ(j["configurations"].size(), 6u);  // 3 layouts x 2 batch sizes x 1 routing
  std::vector<double> errors;
  for (const auto& c : j["configurations"]) {
    const double m = c["measured_step_s"], p = c["predicted_step_s"];
    EXPECT_GT(m, 0);
    EXPECT_GT(p, 0);
    EXPECT_NEAR(c["relative_error"].get<double>(), std::fabs(p - m) / m, 1e-12);
    errors.push_back(c["relative_error"]);
  }
  std::sort(errors.begin(), errors.end());
  EXPECT_DOUBLE_EQ(j["step_time_error"]["max"].get<double>(), errors.back());
  EXPECT_DOUBLE_EQ(j["step_time_error"]["median"].get<double>(), errors[2]);  // nearest rank
  ASSERT_EQ(j["ranking"].size(), 2u);
  EXPECT_EQ(j["ranking"][0]["batch_size"], 1);
  EXPECT_EQ(j["ranking"][1]["batch_size"], 4);
  for (const auto& g : j["ranking"]) {
    EXPECT_EQ(g["layouts"], 3);
    if (!g["spearman"].is_null()) {
      EXPECT_GE(g["spearman"].get<double>(), -1.0);
      EXPECT_LE(g["spearman"].get<double>(), 1.0);
    }
  }
  EXPECT_EQ(j["ttft_error"]["count"], 0);  // no --schedule
  EXPECT_TRUE(j["requests"].empty());
}

// A served schedule run for real: every request's TTFT and TPOT next to the simulated ones, and
// its TTFT less the lateness its first step inherited (TTFT own), whose errors are recomputed
// here from the requests.
TEST_F(ValidateMpi, ReportsTheServedRequestsAndTheirOwnTtft) {
  const std::string layout = place("round-robin", 1, 2, 6), schedule = path("s.h5");
  const std::vector<std::string> serve = {"serve",
                                          "--trace",
                                          trace,
                                          "--layouts",
                                          layout,
                                          "--step-cost",
                                          "moe",
                                          "--model",
                                          "brown-moe-8e-top2",
                                          "--requests",
                                          "4",
                                          "--rate",
                                          "40",
                                          "--prompt-tokens",
                                          "5",
                                          "--output-tokens",
                                          "3",
                                          "--token-budget",
                                          "6",
                                          "--schedule-out",
                                          schedule,
                                          "-o",
                                          path("serve.h5")};
  const auto s = test::run_epbench(serve);
  ASSERT_EQ(s.exit_code, 0) << s.err;
  const auto r = run_mpi(2,
                         {"--layouts", layout, "--schedule", schedule, "--cluster",
                          path("cluster.json"), "--rounds", "2", "--report", path("r.json")},
                         "", "validate");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("TTFT own"), std::string::npos) << r.out;
  const nlohmann::json j = report();
  ASSERT_EQ(j["requests"].size(), 4u);
  std::vector<double> own;
  for (const auto& q : j["requests"]) {
    const double m = q["ttft_own_measured_s"], sim = q["ttft_simulated_s"];
    EXPECT_GT(m, 0);
    own.push_back(std::fabs(sim - m) / m);  // |p - m| / m, as every error here
  }
  std::sort(own.begin(), own.end());
  EXPECT_EQ(j["ttft_error"]["count"], 4);
  EXPECT_EQ(j["ttft_own_error"]["count"], 4);
  EXPECT_NEAR(j["ttft_own_error"]["median"].get<double>(), own[1], 1e-12);  // nearest rank
  EXPECT_NEAR(j["ttft_own_error"]["max"].get<double>(), own[3], 1e-12);
}

// A layout file copied under another name places as the original: the ranking counts them once
// and says so, while every configuration keeps its own line.
TEST_F(ValidateMpi, LayoutsThatPlaceAlikeAreRankedOnce) {
  const std::string rr = place("round-robin", 1, 2, 6), copy = path("copy.json");
  std::filesystem::copy_file(rr, copy);
  layouts = rr + "," + copy + "," + place("balanced", 1, 2, 6);
  const auto r = validate({"--batch-sizes", "4"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("placed alike: round-robin = copy"), std::string::npos) << r.out;
  const nlohmann::json j = report();
  EXPECT_EQ(j["configurations"].size(), 3u);
  ASSERT_EQ(j["ranking"].size(), 1u);
  EXPECT_EQ(j["ranking"][0]["layouts"], 3);
  EXPECT_LE(j["ranking"][0]["placements"].get<int>(), 2);  // balanced may place as rr, too
  EXPECT_EQ(j["ranking"][0]["placed_alike"][0].get<std::string>().rfind("round-robin = copy", 0),
            0u);
}

TEST_F(ValidateMpi, RoundsKeepTheMedianAndReportTheSpread) {
  auto r = validate({});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json once = report();  // iterated below: must outlive the loop
  EXPECT_EQ(once["rounds"], 1);
  for (const auto& c : once["configurations"]) EXPECT_EQ(c["measured_spread"], 0.0);
  for (const auto& g : once["ranking"]) {
    EXPECT_TRUE(g["rounds_spearman"].is_null());
    EXPECT_TRUE(g["halves_spearman"].is_null());
    EXPECT_TRUE(g["exact_model_spearman"].is_null());
  }
  r = validate({"--rounds", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("2 round(s)"), std::string::npos) << r.out;
  const size_t line = r.out.find("run: 2 ranks");  // the same job each round: announced once
  ASSERT_NE(line, std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("run: 2 ranks", line + 1), std::string::npos) << r.out;
  const nlohmann::json j = report();
  EXPECT_EQ(j["rounds"], 2);
  ASSERT_EQ(j["configurations"].size(), 6u);
  for (const auto& c : j["configurations"]) {
    const double spread = c["measured_spread"];
    EXPECT_TRUE(spread >= 0 && std::isfinite(spread)) << spread;
  }
  for (const auto& g : j["ranking"]) {  // null only where a round's times were all ties
    if (!g["rounds_spearman"].is_null()) {
      EXPECT_LE(std::fabs(g["rounds_spearman"].get<double>()), 1);
      // Two rounds make one pair and two halves of one round each: the same comparison.
      EXPECT_EQ(g["halves_spearman"], g["rounds_spearman"]);
      const double exact = g["exact_model_spearman"];
      EXPECT_TRUE(exact >= 0 && exact <= 1) << exact;
    }
  }
  EXPECT_EQ(validate({"--rounds", "0"}).exit_code, 2);
}

TEST_F(ValidateMpi, AnUnmetBarExitsThreeAndStillWritesTheReport) {
  // A measured time never equals a prediction to the last bit: a 0 % bar cannot be met.
  const auto r = validate({"--max-median-error", "0"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("bar: median step-time error <= 0.0 %: NOT met"), std::string::npos)
      << r.out;
  EXPECT_EQ(report()["configurations"].size(), 6u);
}

TEST_F(ValidateMpi, APresetIsRefused) {
  const auto r = validate({"--cluster", "h800"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--cluster"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("preset 'h800'"), std::string::npos) << r.err;
  EXPECT_FALSE(test::file_exists(path("r.json")));
}

TEST_F(ValidateMpi, AProfileOfAnotherJobSizeIsRefused) {
  write_profile(path("p.h5"), test::synthetic_profile(kDModel, kDFf, 4));
  const auto r = validate({});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("p.h5"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("world_size"), std::string::npos) << r.err;
  EXPECT_FALSE(test::file_exists(path("r.json")));
}

TEST_F(ValidateMpi, AReportThatCannotBeWrittenIsRefusedBeforeAnythingRuns) {
  const auto r = validate({"--report", path("no-such-dir/r.json")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("no-such-dir/r.json: cannot write output"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("configurations run for real"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace epbench

// `epbench validate`'s statistics against values computed independently (scipy.stats.spearmanr
// for the rank correlations; percentiles by hand).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "results/validation.h"

namespace epbench {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(Validation, SpearmanMatchesScipyWithAndWithoutTies) {
  EXPECT_NEAR(spearman({1, 2, 3, 4, 5}, {5, 6, 7, 8, 7}), 0.8207826816681233, 1e-12);  // ties
  EXPECT_NEAR(spearman({3.1, 1.2, 2.2, 5.0}, {0.3, 0.1, 0.4, 0.2}), 0.2, 1e-12);
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3}, {10, 200, 3000}), 1.0);  // monotone, not linear
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3}, {3, 2, 1}), -1.0);
}

TEST(Validation, SpearmanIsUndefinedWithoutVariation) {
  EXPECT_TRUE(std::isnan(spearman({1}, {1})));
  EXPECT_TRUE(std::isnan(spearman({1, 2, 3}, {4, 4, 4})));
  EXPECT_TRUE(std::isnan(spearman({1, 2}, {1, 2, 3})));
}

TEST(Validation, ErrorStatsAreRelativeNearestRankAndSkipNaN) {
  // errors 0.1, 0.2, 0.05, 0.5 (and a NaN pair skipped): sorted 0.05 0.1 0.2 0.5
  const ErrorStats s = relative_error_stats({1, 2, 4, 2, 1}, {1.1, 1.6, 4.2, 3, kNaN});
  EXPECT_EQ(s.count, 4u);
  EXPECT_NEAR(s.median, 0.1, 1e-12);  // ceil(0.5 * 4) = 2nd
  EXPECT_NEAR(s.p90, 0.5, 1e-12);     // ceil(0.9 * 4) = 4th
  EXPECT_NEAR(s.max, 0.5, 1e-12);
  EXPECT_EQ(relative_error_stats({}, {}).count, 0u);
}

TEST(Validation, MeasuredStepTimeIsTheMeanOfEachStepsMedianRound) {
  // A hiccup in a different step of two rounds: every round's mean is off, no step's median.
  const std::vector<std::vector<double>> rounds = {{10, 1}, {1, 10}, {1, 1}};
  EXPECT_DOUBLE_EQ(mean_of_step_medians(rounds), 1.0);
  EXPECT_DOUBLE_EQ(mean_of_step_medians({{1, 3}, {2, 4}, {3, 5}}), 3.0);
  EXPECT_DOUBLE_EQ(mean_of_step_medians({{2, 4}}), 3.0);  // one round: its mean
  EXPECT_EQ(mean_of_step_medians({}), 0.0);
}

TEST(Validation, RoundAgreementIsTheMedianSpearmanOverPairsOfRounds) {
  // Three layouts at one batch size; round 2 swaps the last two: pairs 1, 0.5, 0.5.
  const auto round = [](double a, double b, double c) {
    return std::vector<ValidationPoint>{
        {"a", "first", 1, a, 0, ""}, {"b", "first", 1, b, 0, ""}, {"c", "first", 1, c, 0, ""}};
  };
  const std::vector<std::vector<ValidationPoint>> rounds = {round(1, 2, 3), round(1, 2, 3),
                                                            round(1, 3, 2)};
  ValidationSummary s = summarize_validation(rounds[0]);
  ASSERT_EQ(s.ranking.size(), 1u);
  EXPECT_TRUE(std::isnan(s.ranking[0].rounds_spearman));  // not asked: undefined
  add_round_agreement(rounds, s);
  EXPECT_DOUBLE_EQ(s.ranking[0].rounds_spearman, 0.5);
  add_round_agreement({rounds[0]}, s);  // one round: nothing to compare
  EXPECT_TRUE(std::isnan(s.ranking[0].rounds_spearman));
}

TEST(Validation, SplitHalvesGiveWhatAnExactModelCanReach) {
  const auto half = [](double a, double b, double c) {
    return std::vector<ValidationPoint>{
        {"a", "first", 1, a, 0, ""}, {"b", "first", 1, b, 0, ""}, {"c", "first", 1, c, 0, ""}};
  };
  ValidationSummary s = summarize_validation(half(1, 2, 3));
  EXPECT_TRUE(std::isnan(s.ranking[0].halves_spearman));  // not asked: undefined
  add_split_half_agreement(half(1, 2, 3), half(1, 2, 3), s);
  EXPECT_DOUBLE_EQ(s.ranking[0].halves_spearman, 1);
  EXPECT_DOUBLE_EQ(s.ranking[0].exact_model_spearman, 1);
  // Halves agreeing at 0.5 make a whole of reliability 2/3: an exact model reaches sqrt(2/3).
  add_split_half_agreement(half(1, 2, 3), half(1, 3, 2), s);
  EXPECT_DOUBLE_EQ(s.ranking[0].halves_spearman, 0.5);
  EXPECT_NEAR(s.ranking[0].exact_model_spearman, std::sqrt(2.0 / 3), 1e-12);
  add_split_half_agreement(half(1, 2, 3), half(3, 2, 1), s);  // the halves disagree
  EXPECT_DOUBLE_EQ(s.ranking[0].halves_spearman, -1);
  EXPECT_EQ(s.ranking[0].exact_model_spearman, 0);
  add_split_half_agreement(half(1, 2, 3), half(2, 2, 2), s);  // one half all ties
  EXPECT_TRUE(std::isnan(s.ranking[0].exact_model_spearman));
}

TEST(Validation, RanksEachBatchSizeAndRoutingApart) {
  // B=1: the model orders the three layouts as measured; B=16: exactly backwards.
  const std::vector<ValidationPoint> points = {
      {"rr", "first", 1, 1.0, 1.1, ""},    {"eplb", "first", 1, 2.0, 2.5, ""},
      {"topo", "first", 1, 3.0, 2.6, ""},  {"rr", "first", 16, 1.0, 3.0, ""},
      {"eplb", "first", 16, 2.0, 2.0, ""}, {"topo", "first", 16, 3.0, 1.0, ""},
      {"rr", "optimal", 1, 1.0, 1.0, ""}};
  const ValidationSummary s = summarize_validation(points);
  ASSERT_EQ(s.ranking.size(), 3u);
  EXPECT_EQ(s.ranking[0].batch_size, 1);
  EXPECT_EQ(s.ranking[0].routing, "first");
  EXPECT_EQ(s.ranking[0].layouts, 3u);
  EXPECT_DOUBLE_EQ(s.ranking[0].spearman, 1.0);
  EXPECT_EQ(s.ranking[1].routing, "optimal");  // batch size first, then the points' order
  EXPECT_TRUE(std::isnan(s.ranking[1].spearman));
  EXPECT_EQ(s.ranking[2].batch_size, 16);
  EXPECT_DOUBLE_EQ(s.ranking[2].spearman, -1.0);
  EXPECT_DOUBLE_EQ(s.min_spearman, -1.0);  // the undefined group does not count
  EXPECT_EQ(s.step_time.count, 7u);
  EXPECT_NEAR(s.step_time.max, 2.0, 1e-12);  // rr at B=16: 3.0 against 1.0
}

TEST(Validation, LayoutsThatPlaceAlikeAreOneEntryOfTheRanking) {
  // eplb places as balanced does: measured 2 and 4 (noise), both predicted 3. Ranked as three
  // layouts, the tie in the prediction costs the model; as two placements (rr 1 < 3), it
  // ranks them as measured.
  const std::vector<ValidationPoint> points = {{"rr", "first", 1, 1.0, 1.0, "rr"},
                                               {"balanced", "first", 1, 4.0, 3.0, "balanced"},
                                               {"eplb", "first", 1, 2.0, 3.0, "balanced"}};
  const ValidationSummary s = summarize_validation(points);
  ASSERT_EQ(s.ranking.size(), 1u);
  EXPECT_EQ(s.ranking[0].layouts, 3u);
  EXPECT_EQ(s.ranking[0].placements, 2u);
  EXPECT_EQ(s.ranking[0].same, std::vector<std::string>{"balanced = eplb"});
  EXPECT_DOUBLE_EQ(s.ranking[0].spearman, 1.0);
  EXPECT_LT(spearman({1, 4, 2}, {1, 3, 3}), 0.9);  // what ranking the three layouts gives
  EXPECT_EQ(s.step_time.count, 3u);                // the errors still count every configuration
}

}  // namespace
}  // namespace epbench

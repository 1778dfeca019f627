#pragma once
// `epbench validate`'s statistics (docs/validate.md): how far the cost model's predictions are
// from what the same configurations measured, and whether it ranks the placements as the
// measurements do.
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

namespace epbench {

// One configuration run for real and predicted: its mean step time, both ways.
struct ValidationPoint {
  std::string layout, routing;
  int batch_size = 0;
  double measured_s = 0, predicted_s = 0;
  // The first layout that places every expert as this one does (its own name, or empty, when
  // none before it does): layouts of one placement are one entry of a ranking.
  std::string placement;
};

// |predicted - measured| / measured over a set of points (nearest-rank percentiles).
struct ErrorStats {
  size_t count = 0;
  double median = 0, p90 = 0, max = 0;
};

// Spearman's rank correlation of the layouts' step times at one batch size and routing.
struct RankAgreement {
  int batch_size = 0;
  std::string routing;
  size_t layouts = 0;
  // What is ranked: the distinct placements, each the mean of its layouts' times (two
  // algorithms that place alike differ only by the measurement's noise, which no model ranks).
  size_t placements = 0;
  std::vector<std::string> same;  // "eplb = balanced" for each placement of several layouts
  double spearman = 0;            // NaN with fewer than 2 placements or when one side is all ties
  // The measurement against itself: the median over pairs of rounds of the Spearman between
  // two rounds' measured times (NaN with one round). No model ranks better than the
  // measurement repeats.
  double rounds_spearman = std::numeric_limits<double>::quiet_NaN();
  // The measurement against itself at half its size: the Spearman between the even rounds'
  // measurement and the odd rounds' (each as the whole is measured; NaN under 2 rounds). And
  // what an exact model can expect against the whole measurement, whose noise it cannot rank:
  // sqrt(2 r / (1 + r)), the halves' agreement r stepped up to all the rounds (Spearman-Brown)
  // and its square root (a model's agreement with a noisy measurement is at most the root of
  // the measurement's reliability); 0 where r <= 0. Spearman-Brown is for Pearson
  // correlations: for ranks it is an approximation.
  double halves_spearman = std::numeric_limits<double>::quiet_NaN();
  double exact_model_spearman = std::numeric_limits<double>::quiet_NaN();
};

struct ValidationSummary {
  ErrorStats step_time;
  std::vector<RankAgreement> ranking;  // by batch size, then routing, in the points' order
  double min_spearman = 0;             // over the groups where it is defined; NaN if none
};

double relative_error(double measured, double predicted);
// The nearest-rank median (the lower middle of an even count) of the values that are not NaN;
// NaN if none.
double median_of(std::vector<double> values);
// rounds[r][s]: step s's time in round r, the same steps in every round. Each step's median over
// the rounds, averaged over the steps: a hiccup of the machine during one round's step is
// dropped rather than averaged in. 0 without steps.
double mean_of_step_medians(const std::vector<std::vector<double>>& rounds);
// Skips pairs where either value is NaN (a request with one output token has no TPOT).
ErrorStats relative_error_stats(const std::vector<double>& measured,
                                const std::vector<double>& predicted);
// Pearson correlation of the average ranks (ties share their mean rank).
double spearman(const std::vector<double>& a, const std::vector<double>& b);
ValidationSummary summarize_validation(const std::vector<ValidationPoint>& points);
// Sets s.ranking's rounds_spearman from rounds[r]: round r's points (measured_s its own),
// the same configurations in the same order in every round.
void add_round_agreement(const std::vector<std::vector<ValidationPoint>>& rounds,
                         ValidationSummary& s);
// Sets s.ranking's halves_spearman and exact_model_spearman from the even and the odd rounds'
// measurements (measured_s), the same configurations in the same order as s's.
void add_split_half_agreement(const std::vector<ValidationPoint>& even,
                              const std::vector<ValidationPoint>& odd, ValidationSummary& s);

}  // namespace epbench

#pragma once
// `epbench validate`'s findings from its rounds (docs/validate.md): the model's errors, its
// ranking of the placements, the machine's drift against its profile, and their text and JSON
// reports.
#include <limits>
#include <string>
#include <vector>

#include "model/cluster.h"
#include "results/validation.h"
#include "runtime/profile_job.h"
#include "runtime/run_options.h"
#include "runtime/run_record.h"

namespace epbench::cli {

struct Validation {
  std::vector<ValidationPoint> points;
  std::vector<double> ttft_m, ttft_s, tpot_m, tpot_s;  // per served request (--schedule)
  std::vector<double> tokens_per_step;
  std::vector<double> spread;  // per configuration: slowest round's mean / fastest's - 1
  int rounds = 1;
  // The profile's cold expert table measured again before the first round and after each
  // (empty without a profile): how far the machine itself moved.
  std::vector<std::vector<DriftPoint>> probes;
  ValidationSummary summary;
  ErrorStats ttft, tpot;  // count 0 without --schedule
  // Per served request, the median over rounds of its TTFT less its first step's lateness
  // (sim/schedule_metrics.h own_ttft), and its errors against the simulated TTFT: what of the
  // TTFT error is the request's own steps, not the steps before it. Not judged by the bars.
  std::vector<double> ttft_own_m;
  ErrorStats ttft_own;
  // The machine's speed during the rounds over its profile's: the median over every probe's
  // points of measured / profiled (NaN without probes). The errors again with every prediction
  // times it: what is left of them once the machine's own drift is taken out. Reported beside
  // the errors, never in their place, and never judged by the bars.
  double drift_factor = std::numeric_limits<double>::quiet_NaN();
  ErrorStats step_time_drift_adjusted, ttft_drift_adjusted, tpot_drift_adjusted;
};

// rounds[r][c]: configuration c measured in round r, the same configurations in the same order
// in every round; probes: before the first round and after each (empty without a profile).
Validation validate_rounds(const std::vector<std::vector<MeasuredConfig>>& rounds,
                           std::vector<std::vector<DriftPoint>> probes);

// The table, the errors, the rankings and the drift, as `validate` prints them.
std::string report_text(const Validation& v);
// The report file (docs/validate.md "Report").
std::string report_json(const Validation& v, const RunOptions& cfg, const ClusterSpec& cluster,
                        int world);
// "12.3 %", or "n/a" for NaN.
std::string percent(double x);

}  // namespace epbench::cli
